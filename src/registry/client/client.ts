// A client of the OCI distribution API (the "registry v2" protocol) for one registry host.
//
// Model
//  - A `Registry` is one host[:port]. Its *endpoint* (https://host or, for insecure registries,
//    http://host when HTTPS fails) is found once by a *ping* (GET /v2/), whose 401 answer carries the
//    registry's authentication *challenge* (Basic or Bearer; see auth.ts).
//  - A `Repository` is a name in a registry ("team/box"); it is used for a set of *actions* (pull,
//    push), which become the *scope* of the bearer tokens asked for it.
//  - Every request goes through `Registry.request`: it adds the Authorization header (basic
//    credentials, or a bearer token fetched for the scope and cached until it expires), answers a 401
//    challenge once by fetching a fresh token, follows redirects (blob storage: the credentials are
//    only sent to the registry's own host), and retries transient failures (connection reset,
//    5xx, 429) with exponential back-off when the request body can be replayed.
//
// A pull, for instance:
//    const reg = new Registry('127.0.0.1:5000', { insecure: true, auth });
//    const repo = reg.repository('team/box', ['pull']);
//    const m = await repo.getManifest('1');            // bytes, media type, Docker-Content-Digest
//    const body = await repo.getBlob(desc.digest);      // a response stream: verify it while storing it
import * as http from 'node:http';
import * as https from 'node:https';
import { BargeError, messageOf, type ErrorKind } from '../../lib/errors.js';
import { type AuthConfig, type Challenge, parseChallenges } from './auth.js';
import { rawGet, type RawResponse } from './rawget.js';
import { writeLent, type Lent } from '../../lib/lentread.js';

/** Manifests and indexes barge asks for, best first. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

const USER_AGENT = 'barge/0.1.0 (docker-compatible)';
const MAX_ATTEMPTS = 4;
const MAX_REDIRECTS = 10;
const MAX_MANIFEST = 8 * 1024 * 1024;
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'ESOCKETTIMEDOUT']);

/** An error a registry answered with (its status, and the first code of its JSON error body). */
export class RegistryError extends BargeError {
  constructor(kind: ErrorKind, message: string, readonly httpStatus: number, readonly code?: string) {
    super(kind, message, { status: httpStatus, ...(code ? { code } : {}) });
  }
}

function kindOf(status: number): ErrorKind {
  return status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'notFound'
    : status === 400 || status === 405 || status === 413 ? 'invalid' : status === 429 || status >= 500 ? 'unavailable' : 'internal';
}

export interface RegistryOptions {
  /** Try HTTPS without certificate checks, then plain HTTP. */
  insecure: boolean;
  auth?: AuthConfig;
}

/** What request() and requestRaw() answer: node's IncomingMessage, or rawget's response. */
export interface Response extends AsyncIterable<Buffer> {
  statusCode?: number;
  headers: http.IncomingHttpHeaders;
  resume(): unknown;
  destroy(e?: Error): unknown;
}

interface RequestSpec {
  method: string;
  /** A path on the endpoint ("/v2/..."), or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  /** A Buffer, or a function that opens a streamed body afresh (so the request can be retried). */
  body?: Buffer | (() => LentBody);
  /** Token scopes the request needs ("repository:team/box:pull"). */
  scopes: string[];
  /** Do not retry (an upload location is single-use). */
  once?: boolean;
}

/** A request body of lent bytes (lentread.ts): each chunk is released once the socket has taken it. */
export class LentBody {
  constructor(readonly chunks: AsyncGenerator<Lent>) {}
  /** Not sent after all: the source stops (its reads finish, its files close). */
  close(): void {
    this.chunks.return(undefined).catch(() => undefined);
  }
}

type Payload = Buffer | LentBody;

export class Registry {
  private base?: string;
  private pinging?: Promise<string>;
  private challenge?: Challenge;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  /** The refresh token a token server gave (`docker login`'s identity token). */
  refreshToken?: string;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent: https.Agent;

  constructor(readonly host: string, private readonly opts: RegistryOptions) {
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: !opts.insecure });
  }

  repository(name: string, actions: string[]): Repository {
    return new Repository(this, name, actions);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The endpoint ("https://host"), found by pinging /v2/ once; insecure registries fall back to HTTP. */
  endpoint(): Promise<string> {
    if (this.base) return Promise.resolve(this.base);
    this.pinging ??= this.ping().finally(() => { this.pinging = undefined; });
    return this.pinging;
  }

  private async ping(): Promise<string> {
    const schemes = this.opts.insecure ? ['https', 'http'] : ['https'];
    let first: unknown;
    for (const s of schemes) {
      const url = new URL(`${s}://${this.host}/v2/`);
      try {
        const res = await this.raw('GET', url, { 'User-Agent': USER_AGENT }, undefined, 15_000);
        res.resume();
        if (res.statusCode === 401) this.challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']));
        this.base = `${s}://${this.host}`;
        return this.base;
      } catch (e) {
        first ??= netError(e, 'GET', url);
      }
    }
    throw first;
  }

  /**
   * Logs in as `docker login` does: a registry that asks for nothing accepts anyone; with Basic, GET
   * /v2/ must succeed with the credentials; with Bearer, the token server must hand out a token (and
   * maybe a refresh token, returned as the identity token).
   */
  async login(): Promise<{ identityToken?: string }> {
    const base = await this.endpoint();
    if (!this.challenge) return {};
    const failed = `login attempt to ${base}/v2/ failed with status: 401 Unauthorized`;
    if (this.challenge.scheme === 'basic') {
      const res = await this.request({ method: 'GET', path: '/v2/', scopes: [], once: true });
      res.resume();
      if (res.statusCode === 200) return {};
      throw new RegistryError('unauthorized', failed, res.statusCode ?? 401);
    }
    if (!this.opts.auth?.username && !this.opts.auth?.identitytoken) throw new RegistryError('unauthorized', failed, 401);
    await this.fetchToken([], true);
    return this.refreshToken ? { identityToken: this.refreshToken } : {};
  }

  /** Sends a request with credentials, redirects and retries (see the model above). Non-2xx answers are returned. */
  request(spec: RequestSpec): Promise<http.IncomingMessage> {
    return this.send(spec, (method, url, headers, payload) => this.raw(method, url, headers, payload));
  }

  /** A GET as `request`, its body read off the socket by rawget.ts (for blobs: no copies, no garbage). */
  requestRaw(spec: Omit<RequestSpec, 'method' | 'body'>): Promise<RawResponse> {
    return this.send({ ...spec, method: 'GET' }, (_method, url, headers) => rawGet(url, headers, { insecure: !!this.opts.insecure, timeoutMs: 120_000 }));
  }

  private async send<R extends Response>(spec: RequestSpec, transport: (method: string, url: URL, headers: Record<string, string>, payload?: Payload) => Promise<R>): Promise<R> {
    const base = await this.endpoint();
    let url = new URL(spec.path, base);
    let method = spec.method;
    let body = spec.body;
    let attempt = 0;
    let authRetried = false;
    for (let redirects = 0; ;) {
      const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...(spec.headers ?? {}) };
      const own = url.host === new URL(base).host;
      if (own) {
        const a = await this.authorization(spec.scopes);
        if (a) headers['Authorization'] = a;
      }
      const payload = typeof body === 'function' ? body() : body;
      let res: R;
      try {
        res = await transport(method, url, headers, payload);
      } catch (e) {
        if (payload instanceof LentBody) payload.close();
        if (!spec.once && attempt + 1 < MAX_ATTEMPTS && isTransient(e)) { await backoff(attempt++); continue; }
        throw netError(e, method, url);
      }
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      // An answer that is asked again (elsewhere, with credentials, later): a streamed body may still
      // be on its way to it; the connection goes, so that body stops (its reads, its files).
      const drop = () => { if (payload instanceof LentBody) res.destroy(); else res.resume(); };
      if ([301, 302, 303, 307, 308].includes(status) && location && redirects < MAX_REDIRECTS) {
        drop();
        url = new URL(location, url);
        if (status === 303) { method = 'GET'; body = undefined; }
        redirects++;
        continue;
      }
      if (status === 401 && own && !authRetried) {
        const ch = pickChallenge(parseChallenges(res.headers['www-authenticate']));
        if (ch && (ch.scheme === 'bearer' || (ch.scheme === 'basic' && this.opts.auth?.username && this.challenge?.scheme !== 'basic'))) {
          authRetried = true;
          this.challenge = ch;
          this.tokens.clear();
          drop();
          continue;
        }
      }
      if ((status >= 500 || status === 429) && !spec.once && attempt + 1 < MAX_ATTEMPTS) {
        drop();
        await backoff(attempt++);
        continue;
      }
      return res;
    }
  }

  private async authorization(scopes: string[]): Promise<string | undefined> {
    const a = this.opts.auth;
    if (a?.registrytoken) return `Bearer ${a.registrytoken}`;
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') {
      return a?.username ? `Basic ${Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64')}` : undefined;
    }
    if (this.challenge.scheme !== 'bearer') return undefined;
    const key = [...scopes].sort().join(' ');
    const t = this.tokens.get(key);
    if (t && t.expires > Date.now()) return `Bearer ${t.token}`;
    return `Bearer ${await this.fetchToken(scopes)}`;
  }

  /** Asks the challenge's realm for a token for `scopes` (docs: distribution token authentication). */
  private async fetchToken(scopes: string[], offline = false): Promise<string> {
    const ch = this.challenge!;
    const realm = ch.params['realm'];
    if (!realm) throw new RegistryError('unauthorized', `registry ${this.host} asks for a bearer token but names no realm`, 401);
    const a = this.opts.auth;
    const url = new URL(realm);
    let res: http.IncomingMessage;
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
    const refresh = a?.identitytoken ?? this.refreshToken;
    try {
      if (refresh && !a?.password) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'docker', access_type: offline ? 'offline' : 'online' });
        if (ch.params['service']) form.set('service', ch.params['service']);
        if (scopes.length) form.set('scope', scopes.join(' '));
        const buf = Buffer.from(form.toString());
        res = await this.raw('POST', url, { ...headers, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(buf.length) }, buf);
      } else {
        if (ch.params['service']) url.searchParams.set('service', ch.params['service']);
        for (const s of scopes) url.searchParams.append('scope', s);
        if (offline) { url.searchParams.set('offline_token', 'true'); url.searchParams.set('client_id', 'docker'); }
        if (a?.username) headers['Authorization'] = `Basic ${Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64')}`;
        res = await this.raw('GET', url, headers);
      }
    } catch (e) {
      throw netError(e, 'GET', url);
    }
    const text = (await readBody(res, 1 << 20)).toString('utf8');
    if (res.statusCode !== 200) {
      const err = registryErrorText(text);
      throw new RegistryError(res.statusCode === 401 || res.statusCode === 403 ? 'unauthorized' : kindOf(res.statusCode ?? 500),
        `Get "${realm}": ${err ?? `token server answered ${res.statusCode}`}`, res.statusCode ?? 500);
    }
    let v: { token?: string; access_token?: string; expires_in?: number; refresh_token?: string };
    try { v = JSON.parse(text) as typeof v; } catch { throw new RegistryError('internal', `token server ${realm} answered with invalid JSON`, 200); }
    const token = v.token || v.access_token;
    if (!token) throw new RegistryError('internal', `token server ${realm} gave no token`, 200);
    if (v.refresh_token) this.refreshToken = v.refresh_token;
    const ttl = Math.max(10, Number(v.expires_in) || 60);
    this.tokens.set([...scopes].sort().join(' '), { token, expires: Date.now() + (ttl - 5) * 1000 });
    return token;
  }

  private raw(method: string, url: URL, headers: Record<string, string>, body?: Payload, timeoutMs = 120_000): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const mod = secure ? https : http;
      const req = mod.request(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent }, resolve);
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000}s`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      if (body instanceof LentBody) writeLent(req, body.chunks).then(() => req.end(), (e: Error) => req.destroy(e));
      else req.end(body);
    });
  }
}

/** A repository of a registry, used for some actions (its token scope). */
export class Repository {
  readonly scopes: string[];

  constructor(readonly registry: Registry, readonly name: string, readonly actions: string[], extraScopes: string[] = []) {
    this.scopes = [`repository:${name}:${actions.join(',')}`, ...extraScopes];
  }

  private path(kind: string, ref = ''): string {
    return `/v2/${this.name}/${kind}${ref}`;
  }

  /** The manifest (or index) a tag or digest names: its bytes, media type and the digest the registry claims. */
  async getManifest(reference: string): Promise<{ body: Buffer; mediaType: string; digest?: string }> {
    const res = await this.registry.request({ method: 'GET', path: this.path('manifests/', reference), headers: { Accept: MANIFEST_ACCEPT.join(', ') }, scopes: this.scopes });
    await expectStatus(res, [200]);
    const body = await readBody(res, MAX_MANIFEST);
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    const digest = res.headers['docker-content-digest'];
    return { body, mediaType, ...(typeof digest === 'string' ? { digest } : {}) };
  }

  /** Every tag of the repository (following Link pagination). */
  async tags(): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = this.path('tags/list');
    for (let pages = 0; next && pages < 1000; pages++) {
      const res = await this.registry.request({ method: 'GET', path: next, scopes: this.scopes });
      await expectStatus(res, [200]);
      const v = JSON.parse((await readBody(res, MAX_MANIFEST)).toString('utf8')) as { tags?: unknown };
      if (Array.isArray(v.tags)) for (const t of v.tags) if (typeof t === 'string') out.push(t);
      const link = /<([^>]+)>;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
      next = link ? link[1] : undefined;
    }
    return out;
  }

  /** Whether the registry has the blob in this repository. */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.registry.request({ method: 'HEAD', path: this.path('blobs/', digest), scopes: this.scopes });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    await expectStatus(res, [200]);
    return false;
  }

  /** A blob's bytes as the registry sends them (redirects followed); the caller verifies them. */
  async getBlob(digest: string): Promise<{ stream: RawResponse; size?: number }> {
    const res = await this.registry.requestRaw({ path: this.path('blobs/', digest), scopes: this.scopes });
    await expectStatus(res, [200]);
    const len = Number(res.headers['content-length']);
    return { stream: res, ...(Number.isSafeInteger(len) && len >= 0 ? { size: len } : {}) };
  }

  /** Cross-repository mount of a blob from `from` (same registry); false when the registry would not. */
  async mountBlob(digest: string, from: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.registry.request({ method: 'POST', path: `${this.path('blobs/uploads/')}?${q}`, headers: { 'Content-Length': '0' }, scopes: this.scopes, once: true });
    res.resume();
    if (res.statusCode === 201) return true;
    if (res.statusCode === 202) {
      // The registry started a plain upload instead: cancel it, the caller uploads.
      const loc = res.headers.location;
      if (loc) (await this.registry.request({ method: 'DELETE', path: loc, scopes: this.scopes, once: true }).catch(() => undefined))?.resume();
      return false;
    }
    await expectStatus(res, [201, 202]);
    return false;
  }

  /** Uploads a blob: POST for an upload location, then one PUT with all the bytes and the digest. */
  async uploadBlob(digest: string, size: number, open: () => LentBody): Promise<void> {
    const start = await this.registry.request({ method: 'POST', path: this.path('blobs/uploads/'), headers: { 'Content-Length': '0' }, scopes: this.scopes });
    start.resume();
    await expectStatus(start, [202]);
    const loc = start.headers.location;
    if (!loc) throw new RegistryError('internal', 'registry started an upload without a Location', 202);
    const url = new URL(loc, await this.registry.endpoint());
    url.searchParams.set('digest', digest);
    const res = await this.registry.request({
      method: 'PUT', path: url.toString(), scopes: this.scopes, once: true, body: open,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
    });
    res.resume();
    await expectStatus(res, [201]);
  }

  /** Stores a manifest under a tag or digest; returns the digest the registry reports. */
  async putManifest(reference: string, mediaType: string, body: Buffer): Promise<string | undefined> {
    const res = await this.registry.request({
      method: 'PUT', path: this.path('manifests/', reference), body, scopes: this.scopes,
      headers: { 'Content-Type': mediaType, 'Content-Length': String(body.length) },
    });
    await expectStatus(res, [201, 200]);
    res.resume();
    const d = res.headers['docker-content-digest'];
    return typeof d === 'string' ? d : undefined;
  }
}

function pickChallenge(chs: Challenge[]): Challenge | undefined {
  return chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
}

function isTransient(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return TRANSIENT_CODES.has(code) || /socket hang up/.test(messageOf(e));
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
}

/** A connection failure in Go's words ("Get "https://h/v2/": dial tcp ...: connection refused"). */
function netError(e: unknown, method: string, url: URL): BargeError {
  if (e instanceof BargeError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const m = method[0] + method.slice(1).toLowerCase();
  const where = `${m} "${url.toString()}"`;
  // Docker answers these with a 500 too; 'unavailable' is kept for what may pass when retried.
  if (/EPROTO|ERR_SSL_WRONG_VERSION_NUMBER/.test(code) || /wrong version number/.test(messageOf(e))) {
    return new BargeError('internal', `${where}: http: server gave HTTP response to HTTPS client`);
  }
  if (code === 'ECONNREFUSED') return new BargeError('internal', `${where}: dial tcp ${url.host}: connect: connection refused`);
  if (code === 'ENOTFOUND') return new BargeError('internal', `${where}: dial tcp: lookup ${url.hostname}: no such host`);
  return new BargeError('unavailable', `${where}: ${messageOf(e)}`);
}

/** distribution's error body ({"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}) as Go's errcode prints it. */
function registryErrorText(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as { errors?: { code?: string; message?: string }[]; details?: string };
    const e = v.errors?.[0];
    if (e?.code) return `${e.code.toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`.replace(/: $/, '');
  } catch { /* not JSON */ }
  return undefined;
}

/** Throws a RegistryError unless the response has one of `ok` statuses. */
export async function expectStatus(res: Response, ok: number[]): Promise<void> {
  const status = res.statusCode ?? 0;
  if (ok.includes(status)) return;
  const text = (await readBody(res, 1 << 20).catch(() => Buffer.alloc(0))).toString('utf8');
  let code: string | undefined;
  try { code = (JSON.parse(text) as { errors?: { code?: string }[] }).errors?.[0]?.code; } catch { /* not JSON */ }
  const msg = registryErrorText(text) ?? (status === 401 ? 'unauthorized: authentication required'
    : status === 404 ? 'not found' : `unexpected status from registry: ${status} ${http.STATUS_CODES[status] ?? ''}`.trim());
  throw new RegistryError(kindOf(status), msg, status, code ?? (status === 401 ? 'UNAUTHORIZED' : undefined));
}

/** Reads a whole (small) response body, refusing more than `limit` bytes. */
export async function readBody(res: Response, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += c.length;
    if (n > limit) { res.destroy(); throw new RegistryError('invalid', `registry response larger than ${limit} bytes`, res.statusCode ?? 0); }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
