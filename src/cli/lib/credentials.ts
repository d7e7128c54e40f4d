// Registry credentials as the docker CLI keeps them: a config.json with
//   {"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}
// at $BARGE_CONFIG/config.json (default ~/.barge/config.json), mode 0600, replaced atomically.
// Docker Hub's key is "https://index.docker.io/v1/", as docker login writes it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export const HUB_KEY = 'https://index.docker.io/v1/';

export interface StoredAuth { username: string; password: string; identitytoken?: string }

interface ConfigFile { auths?: Record<string, { auth?: string; identitytoken?: string; [k: string]: unknown }>; [k: string]: unknown }

export function configDir(): string {
  return process.env.BARGE_CONFIG || path.join(os.homedir(), '.barge');
}

export function configPath(): string {
  return path.join(configDir(), 'config.json');
}

function readConfig(): ConfigFile {
  try {
    const v = JSON.parse(fs.readFileSync(configPath(), 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? v as ConfigFile : {};
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${configPath()}: ${(e as Error).message}`);
  }
}

function writeConfig(c: ConfigFile): void {
  const dir = configDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const target = configPath();
  const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(c, null, '\t') + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
}

/** The config.json key for a registry: "docker.io" and its aliases are Docker Hub's URL; others host[:port]. */
export function serverKey(server: string): string {
  const s = server.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '').toLowerCase();
  if (!s || ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(s)) return HUB_KEY;
  return s;
}

export function getAuth(server: string): StoredAuth | undefined {
  const e = readConfig().auths?.[serverKey(server)];
  if (!e) return undefined;
  const s = e.auth ? Buffer.from(e.auth, 'base64').toString('utf8') : '';
  const i = s.indexOf(':');
  const out: StoredAuth = { username: i > 0 ? s.slice(0, i) : '', password: i > 0 ? s.slice(i + 1) : '' };
  if (typeof e.identitytoken === 'string' && e.identitytoken) out.identitytoken = e.identitytoken;
  return out.username || out.identitytoken ? out : undefined;
}

export function setAuth(server: string, a: StoredAuth): void {
  const c = readConfig();
  c.auths = c.auths ?? {};
  const entry: { auth: string; identitytoken?: string } = { auth: Buffer.from(`${a.username}:${a.identitytoken ? '' : a.password}`).toString('base64') };
  if (a.identitytoken) entry.identitytoken = a.identitytoken;
  c.auths[serverKey(server)] = entry;
  writeConfig(c);
}

/** Removes the credentials of `server`; false if there were none. */
export function removeAuth(server: string): boolean {
  const c = readConfig();
  const key = serverKey(server);
  if (!c.auths || !(key in c.auths)) return false;
  delete c.auths[key];
  writeConfig(c);
  return true;
}

/** X-Registry-Auth for a registry domain (base64url JSON, as the docker CLI sends it); undefined if none stored. */
export function registryAuthHeader(domain: string): string | undefined {
  let a: StoredAuth | undefined;
  try { a = getAuth(domain); } catch { return undefined; }
  if (!a) return undefined;
  const key = serverKey(domain);
  const json = JSON.stringify({ username: a.username, password: a.password, serveraddress: key, ...(a.identitytoken ? { identitytoken: a.identitytoken } : {}) });
  return Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
