// Who may do what on the registry. Three modes, as the reference registry has them:
//  - none:  everyone may do everything (a registry on loopback, a test);
//  - basic: HTTP basic auth against an htpasswd file of bcrypt hashes (`htpasswd -B`); a known user
//           may pull, push and delete everywhere; with --anonymous-pull, anyone may pull;
//  - token: Docker's token protocol. A request without a valid bearer token gets 401 and a challenge
//           `Bearer realm="<realm>",service="<service>",scope="repository:<name>:pull,push"`; the client
//           asks the realm (this server's own /token endpoint, basic credentials checked against the
//           htpasswd file) for a token granting that scope, and retries with it. Tokens are JWTs signed
//           with HMAC-SHA256 by a key kept in <root>/token.key (or --token-key); each lists the
//           repositories and actions it grants, and is checked per request: pull for reads, push for
//           writes, delete (or push) for DELETE.
// An optional ACL file (--acl) narrows what known users may do, per repository:
//     # user   repositories   actions
//     alice    *              pull,push,delete
//     bob      team/*         pull,push
//     *        public/*       pull           ("*": any known user; "anonymous": callers without credentials)
// Patterns are globs where "*" matches anything (slashes too). Without an ACL a known user may do
// everything. In basic mode a known user refused by the ACL gets 403 DENIED; in token mode the token
// endpoint grants only what the ACL allows, and a request beyond its token gets 401 with the scope it
// needs (Docker's token protocol: the client may ask again).
import * as fs from 'node:fs';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RegistryError, regErr } from './errors.js';
import { isName } from './names.js';
import { writeFileAtomic } from '../../lib/fsutil.js';

export type AuthMode = 'none' | 'basic' | 'token';
export type Action = 'pull' | 'push' | 'delete';
/** What a request needs: an action on a repository, the catalog, or just to be known (the /v2/ ping). */
export type Need = { repo: string; action: Action } | { catalog: true } | { ping: true };
export interface Access { type: string; name: string; actions: string[] }

export interface AuthOptions {
  mode: AuthMode;
  htpasswd?: string;
  /** Token realm; default: this server's own /token, at the Host the client used. */
  realm?: string;
  service: string;
  /** HMAC key for tokens. */
  key?: Buffer;
  tokenTtlSec: number;
  anonymousPull: boolean;
  acl?: string;
}

export interface AclRule { user: string; pattern: RegExp; actions: string[] }

/** Parses an ACL file (see the comment at the top). */
export function parseAcl(text: string, file = 'ACL'): AclRule[] {
  const rules: AclRule[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const f = line.split(/\s+/);
    if (f.length !== 3) throw new Error(`${file}:${i + 1}: want "USER REPOSITORY-PATTERN ACTIONS", got ${JSON.stringify(line)}`);
    const actions = f[2]!.split(',').filter(Boolean);
    for (const a of actions) if (!['pull', 'push', 'delete', '*'].includes(a)) throw new Error(`${file}:${i + 1}: unknown action ${JSON.stringify(a)} (pull, push, delete or *)`);
    const pattern = new RegExp('^' + f[1]!.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    rules.push({ user: f[0]!, pattern, actions: actions.includes('*') ? ['pull', 'push', 'delete'] : actions });
  });
  return rules;
}

interface Principal { user?: string; access?: Access[] }

const BASIC_REALM = 'barge-registry';
const CACHE_MS = 5 * 60_000;

/** Reads the HMAC key for tokens from `file`, creating it (32 random bytes, hex, mode 0600) if missing. */
export function loadTokenKey(file: string): Buffer {
  try {
    const s = fs.readFileSync(file, 'utf8').trim();
    if (s.length < 32) throw new Error(`token key ${file} is too short: want at least 32 characters (delete it to have a new one made)`);
    return Buffer.from(s);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  writeFileAtomic(file, randomBytes(32).toString('hex') + '\n', 0o600);
  return Buffer.from(fs.readFileSync(file, 'utf8').trim());
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class Authenticator {
  private users = new Map<string, string>();
  private usersStamp = '';
  /** user -> sha256(password) and when it was verified: bcrypt is slow by design, docker sends credentials on every request. */
  private verified = new Map<string, { pw: string; at: number }>();
  private dummy: string | undefined;
  private readonly acl: AclRule[] | undefined;

  constructor(readonly o: AuthOptions) {
    if (o.mode !== 'none' && o.htpasswd) this.loadUsers();
    if (o.mode === 'basic' && !o.htpasswd) throw new Error('basic auth needs --htpasswd FILE (bcrypt entries, as made by `htpasswd -B`)');
    if (o.mode === 'token' && !o.key) throw new Error('token auth needs a signing key');
    this.acl = o.acl ? parseAcl(fs.readFileSync(o.acl, 'utf8'), o.acl) : undefined;
  }

  /** The actions `user` (undefined: anonymous) may take on repository `repo`. */
  allowed(user: string | undefined, repo: string): string[] {
    const out = new Set<string>();
    if (user === undefined && this.o.anonymousPull) out.add('pull');
    if (!this.acl) {
      if (user !== undefined) for (const a of ['pull', 'push', 'delete']) out.add(a);
    } else {
      for (const r of this.acl) {
        const who = user === undefined ? r.user === 'anonymous' : r.user === '*' || r.user === user;
        if (who && r.pattern.test(repo)) for (const a of r.actions) out.add(a);
      }
    }
    return [...out];
  }

  private static permits(actions: string[], action: Action): boolean {
    return actions.includes(action) || (action === 'delete' && actions.includes('push'));
  }

  /** (Re)reads the htpasswd file when it changed: users can be added without a restart. */
  private loadUsers(): void {
    const file = this.o.htpasswd!;
    const st = fs.statSync(file);
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (stamp === this.usersStamp) return;
    const users = new Map<string, string>();
    for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const hash = line.slice(i + 1);
      if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        process.stderr.write(`registry: htpasswd entry for ${JSON.stringify(line.slice(0, i))} is not a bcrypt hash (use htpasswd -B): ignored\n`);
        continue;
      }
      users.set(line.slice(0, i), hash);
    }
    this.users = users;
    this.usersStamp = stamp;
    this.verified.clear();
  }

  /** Checks a user's password against the htpasswd file; false for unknown users and wrong passwords. */
  async checkPassword(user: string, password: string): Promise<boolean> {
    if (!this.o.htpasswd) return false;
    try { this.loadUsers(); } catch { return false; }
    const hash = this.users.get(user);
    const pw = createHash('sha256').update(user + '\0' + password).digest('hex');
    const seen = this.verified.get(user);
    if (hash && seen && seen.pw === pw && Date.now() - seen.at < CACHE_MS) return true;
    const { default: bcrypt } = await import('bcryptjs');
    // An unknown user costs a bcrypt comparison too, so timing does not tell which users exist.
    this.dummy ??= bcrypt.hashSync(randomBytes(8).toString('hex'), 5);
    const ok = await bcrypt.compare(password, hash ?? this.dummy);
    if (ok && hash) { this.verified.set(user, { pw, at: Date.now() }); return true; }
    return false;
  }

  private static basicCredentials(req: IncomingMessage): { user: string; password: string } | undefined {
    const h = req.headers.authorization;
    if (!h || !/^basic /i.test(h)) return undefined;
    const s = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i < 0) return undefined;
    return { user: s.slice(0, i), password: s.slice(i + 1) };
  }

  /** Throws 401 (with the challenge the client needs) unless the request may do what it needs. */
  async authorize(req: IncomingMessage, need: Need): Promise<void> {
    if (this.o.mode === 'none') return;
    if (this.o.mode === 'basic') {
      const c = Authenticator.basicCredentials(req);
      if (c && await this.checkPassword(c.user, c.password)) {
        if (!('repo' in need) || Authenticator.permits(this.allowed(c.user, need.repo), need.action)) return;
        throw regErr('DENIED', { repository: need.repo, action: need.action }, `requested access to the resource is denied: ${c.user} may not ${need.action} ${need.repo}`);
      }
      if (!c && 'repo' in need && Authenticator.permits(this.allowed(undefined, need.repo), need.action)) return;
      const e = regErr('UNAUTHORIZED', null, c ? 'invalid username or password' : 'authentication required');
      e.headers['WWW-Authenticate'] = `Basic realm="${BASIC_REALM}",charset="UTF-8"`;
      throw e;
    }
    const p = this.bearer(req);
    if (p && 'ping' in need) return;
    if (p && this.granted(p, need)) return;
    const scope = 'repo' in need ? `repository:${need.repo}:${need.action === 'pull' ? 'pull' : need.action === 'push' ? 'pull,push' : 'delete'}`
      : 'catalog' in need ? 'registry:catalog:*' : undefined;
    const e = regErr('UNAUTHORIZED', scope ? { access: [{ type: scope.split(':')[0], name: scope.split(':')[1], action: scope.split(':')[2] }] } : null,
      p ? 'insufficient scope: the token does not grant this access' : 'authentication required');
    e.headers['WWW-Authenticate'] = `Bearer realm="${this.realm(req)}",service="${this.o.service}"${scope ? `,scope="${scope}"` : ''}${p ? ',error="insufficient_scope"' : req.headers.authorization ? ',error="invalid_token"' : ''}`;
    throw e;
  }

  /** May the request (by its token, or its basic credentials in basic mode) pull from `repo`? For cross-repository mounts. */
  async mayPull(req: IncomingMessage, repo: string): Promise<boolean> {
    try { await this.authorize(req, { repo, action: 'pull' }); return true; } catch { return false; }
  }

  realm(req: IncomingMessage): string {
    if (this.o.realm) return this.o.realm;
    const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    const host = String(req.headers.host ?? 'localhost').replace(/[^A-Za-z0-9.:[\]-]/g, '');
    return `${proto}://${host}/token`;
  }

  private granted(p: Principal, need: Need): boolean {
    const list = p.access ?? [];
    if ('catalog' in need) return list.some((a) => a.type === 'registry' && a.name === 'catalog' && a.actions.includes('*'));
    if (!('repo' in need)) return true;
    const acts = list.filter((a) => a.type === 'repository' && a.name === need.repo).flatMap((a) => a.actions);
    if (acts.includes('*') || acts.includes(need.action)) return true;
    return need.action === 'delete' && acts.includes('push');
  }

  private bearer(req: IncomingMessage): Principal | undefined {
    const h = req.headers.authorization;
    if (!h || !/^bearer /i.test(h)) return undefined;
    const claims = this.verifyToken(h.slice(7).trim());
    if (!claims) return undefined;
    return { user: typeof claims['sub'] === 'string' ? claims['sub'] : undefined, access: Array.isArray(claims['access']) ? claims['access'] as Access[] : [] };
  }

  signToken(claims: Record<string, unknown>): string {
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(claims));
    const sig = createHmac('sha256', this.o.key!).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
  }

  verifyToken(token: string): Record<string, unknown> | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || !this.o.key) return undefined;
    const want = createHmac('sha256', this.o.key).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2]!, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    try {
      const head = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
      if (head.alg !== 'HS256') return undefined;
      const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      const now = Math.floor(Date.now() / 1000);
      if (c['aud'] !== this.o.service) return undefined;
      if (typeof c['exp'] !== 'number' || c['exp'] < now - 60) return undefined;
      if (typeof c['nbf'] === 'number' && c['nbf'] > now + 60) return undefined;
      return c;
    } catch { return undefined; }
  }

  /**
   * The /token endpoint (GET with basic credentials, or POST with an OAuth2 password grant): grants
   * each requested scope as far as the caller may — a known user everything, an anonymous caller
   * pull if --anonymous-pull, else nothing — and returns a signed token. Wrong credentials get 401.
   */
  async issue(req: IncomingMessage, query: URLSearchParams, form?: URLSearchParams): Promise<Record<string, unknown>> {
    if (this.o.mode !== 'token') throw regErr('UNSUPPORTED', null, 'this registry does not issue tokens (start it with --auth token)', 404);
    let cred = Authenticator.basicCredentials(req);
    let scopes = query.getAll('scope');
    if (form) {
      const grant = form.get('grant_type');
      if (grant !== 'password') throw regErr('UNSUPPORTED', { grant_type: grant }, 'only the password grant is supported', 400);
      cred = { user: form.get('username') ?? '', password: form.get('password') ?? '' };
      scopes = form.getAll('scope');
    }
    let user: string | undefined;
    if (cred) {
      if (!await this.checkPassword(cred.user, cred.password)) {
        const e = regErr('UNAUTHORIZED', null, 'invalid username or password');
        e.headers['WWW-Authenticate'] = `Basic realm="${BASIC_REALM}",charset="UTF-8"`;
        throw e;
      }
      user = cred.user;
    }
    const access: Access[] = [];
    for (const s of scopes.flatMap((x) => x.split(' ')).filter(Boolean)) {
      const first = s.indexOf(':');
      const last = s.lastIndexOf(':');
      if (first < 0 || last === first) continue;
      const type = s.slice(0, first);
      const name = s.slice(first + 1, last);
      const wanted = s.slice(last + 1).split(',').filter(Boolean);
      let allowed: string[] = [];
      if (type === 'repository' && isName(name)) {
        allowed = this.allowed(user, name);
        if (['pull', 'push', 'delete'].every((a) => allowed.includes(a))) allowed.push('*');
      } else if (type === 'registry' && name === 'catalog') allowed = user ? ['*'] : [];
      const actions = wanted.filter((a) => allowed.includes(a));
      if (actions.length) access.push({ type, name, actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const token = this.signToken({
      iss: this.o.service, sub: user ?? '', aud: this.o.service, iat: now, nbf: now - 5, exp: now + this.o.tokenTtlSec,
      jti: randomBytes(12).toString('hex'), access,
    });
    return { token, access_token: token, expires_in: this.o.tokenTtlSec, issued_at: new Date(now * 1000).toISOString() };
  }
}

export { RegistryError };
