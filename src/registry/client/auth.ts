// Registry credentials and the HTTP authentication challenges of the distribution spec.
//
// Credentials reach the daemon in the X-Registry-Auth header (base64url JSON, Docker's AuthConfig);
// a registry tells how to authenticate in WWW-Authenticate challenges:
//   Basic realm="Registry Realm"
//   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"
// With Bearer, a token is fetched from the realm (with the user's basic credentials, or anonymously,
// or by a refresh token = Docker's "identity token") and sent as "Authorization: Bearer <token>".
import { invalid } from '../../lib/errors.js';

/** Docker's AuthConfig, as sent in X-Registry-Auth and POST /auth. */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** "user:password" in base64, as config.json stores it. */
  auth?: string;
  serveraddress?: string;
  /** A refresh token the registry's token server gave at login. */
  identitytoken?: string;
  /** A bearer token to use as is. */
  registrytoken?: string;
}

export interface Challenge {
  /** Lower case: "basic", "bearer". */
  scheme: string;
  params: Record<string, string>;
}

/** Decodes X-Registry-Auth (base64url or base64, padded or not). Empty or "{}" means anonymous. */
export function decodeAuthHeader(v: string | undefined | null): AuthConfig | undefined {
  if (!v) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(v.trim(), 'base64').toString('utf8'));
  } catch {
    throw invalid('invalid X-Registry-Auth header: not base64-encoded JSON');
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw invalid('invalid X-Registry-Auth header: not a JSON object');
  return normalizeAuth(obj as Record<string, unknown>);
}

/** Keeps the known string fields; splits "auth" into username and password when they are missing. */
export function normalizeAuth(o: Record<string, unknown>): AuthConfig | undefined {
  const a: AuthConfig = {};
  for (const k of ['username', 'password', 'auth', 'serveraddress', 'identitytoken', 'registrytoken'] as const) {
    const v = o[k] ?? o[k[0]!.toUpperCase() + k.slice(1)];
    if (typeof v === 'string' && v !== '') a[k] = v;
  }
  if (a.auth && !a.username) {
    const s = Buffer.from(a.auth, 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i > 0) { a.username = s.slice(0, i); a.password = s.slice(i + 1); }
  }
  return a.username || a.identitytoken || a.registrytoken ? a : undefined;
}

/** Encodes an AuthConfig for X-Registry-Auth the way the docker CLI does (base64url with padding). */
export function encodeAuthHeader(a: AuthConfig): string {
  return Buffer.from(JSON.stringify(a)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Parses a WWW-Authenticate header into its challenges (RFC 7235): a scheme followed by
 * comma-separated auth-params, quoted strings with backslash escapes.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : header ?? '';
  const out: Challenge[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = () => { while (i < n && /[\s,]/.test(text[i]!)) i++; };
  const token = () => { const s = i; while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i]!)) i++; return text.slice(s, i); };
  let cur: Challenge | undefined;
  while (i < n) {
    skipWs();
    const start = i;
    const t = token();
    if (!t) { i++; continue; }
    let j = i;
    while (j < n && text[j] === ' ') j++;
    if (text[j] === '=' && cur) {
      // an auth-param of the current challenge
      i = j + 1;
      while (i < n && text[i] === ' ') i++;
      let v = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') { if (text[i] === '\\' && i + 1 < n) i++; v += text[i++]; }
        i++;
      } else {
        const s = i;
        while (i < n && text[i] !== ',' && !/\s/.test(text[i]!)) i++;
        v = text.slice(s, i);
      }
      cur.params[t.toLowerCase()] = v;
    } else {
      if (start === i) { i++; continue; }
      cur = { scheme: t.toLowerCase(), params: {} };
      out.push(cur);
    }
  }
  return out;
}
