// `barge registry serve`: an OCI distribution (v1.1) registry in its own foreground process, needing
// nothing of barged. Wires storage (storage.ts), authorization (auth.ts) and the API (handlers.ts)
// into an HTTP or HTTPS server; logs one plain-text line per request on stderr; purges abandoned
// uploads at start and every few minutes. The root is claimed with a pid file (<root>/serve.pid), so
// a second server or `barge registry gc` on the same root refuses to run while this one does.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { RegistryStorage } from './storage.js';
import { Authenticator, loadTokenKey, type AuthMode } from './auth.js';
import { RegistryHandlers, sendError, traffic } from './handlers.js';
import { RegistryError, regErr } from './errors.js';
import { writeFileAtomic } from '../../lib/fsutil.js';

export interface ServeOptions {
  addr: string;
  root: string;
  auth: AuthMode;
  htpasswd?: string;
  tlsCert?: string;
  tlsKey?: string;
  tokenRealm?: string;
  tokenService: string;
  tokenKeyFile?: string;
  tokenTtlSec: number;
  anonymousPull: boolean;
  acl?: string;
  uploadMaxAgeMs: number;
  log?: (line: string) => void;
}

export interface RunningRegistry { address: string; port: number; close(): Promise<void> }

/** "host:port", ":port" or "[v6]:port" -> host and port. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = addr.match(/^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/);
  if (!m || Number(m[3]) > 65535) throw new Error(`invalid --addr ${JSON.stringify(addr)}: want HOST:PORT (e.g. 127.0.0.1:5000, or :5000 for every interface)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

function pidFile(root: string): string { return path.join(root, 'serve.pid'); }

/** The pid of a `barge registry serve` running on this root, if any. */
export function runningServer(root: string): number | undefined {
  let pid: number;
  try { pid = Number(fs.readFileSync(pidFile(root), 'utf8').trim()); } catch { return undefined; }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('registry') ? pid : undefined;
  } catch { return undefined; }
}

export async function serveRegistry(o: ServeOptions): Promise<RunningRegistry> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const { host, port } = parseAddr(o.addr);
  fs.mkdirSync(o.root, { recursive: true, mode: 0o755 });
  const other = runningServer(o.root);
  if (other) throw new Error(`another barge registry serve (pid ${other}) is using ${o.root}: stop it first, or give another --root`);
  const store = new RegistryStorage(o.root);
  const { purged } = store.init(o.uploadMaxAgeMs);
  if (purged) log(`registry: removed ${purged} abandoned upload(s)`);
  const auth = new Authenticator({
    mode: o.auth, htpasswd: o.htpasswd, realm: o.tokenRealm, service: o.tokenService, tokenTtlSec: o.tokenTtlSec,
    anonymousPull: o.anonymousPull, acl: o.acl, key: o.auth === 'token' ? loadTokenKey(o.tokenKeyFile ?? path.join(o.root, 'token.key')) : undefined,
  });
  const handlers = new RegistryHandlers(store, auth);

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const t0 = process.hrtime.bigint();
    const t = { in: 0, out: 0 };
    const peer = req.socket.remoteAddress ?? '-';
    traffic.set(res, t);
    res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const url = (req.url ?? '').replace(/[^\x21-\x7e]/g, '?').slice(0, 300);
      log(`${new Date().toISOString()} ${peer} ${req.method} ${url} ${res.statusCode} ${t.out}${t.in ? ` in=${t.in}` : ''} ${ms.toFixed(1)}ms${res.writableFinished ? '' : ' (aborted)'}`);
    });
    handlers.handle(req, res).catch((e: unknown) => {
      if (e instanceof RegistryError) return sendError(res, e);
      const code = (e as NodeJS.ErrnoException)?.code;
      if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED') { res.destroy(); return; }
      log(`registry: internal error on ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
      sendError(res, regErr('UNKNOWN', null, `internal error: ${(e as Error)?.message ?? e}`));
    });
  };
  const server = o.tlsCert || o.tlsKey
    ? (() => {
      if (!o.tlsCert || !o.tlsKey) throw new Error('TLS needs both --tls-cert and --tls-key');
      return https.createServer({ cert: fs.readFileSync(o.tlsCert), key: fs.readFileSync(o.tlsKey) }, onRequest);
    })()
    : http.createServer(onRequest);
  // Layers of gigabytes take longer than node's default 5-minute request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  // A connection that moves no byte either way for this long goes (a client that stopped reading a
  // blob would otherwise hold its file and read blocks for ever; an upload cut so resumes later).
  server.timeout = 10 * 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  writeFileAtomic(pidFile(o.root), `${process.pid}\n`, 0o644, false);
  const purge = setInterval(() => {
    const n = store.purgeUploads(o.uploadMaxAgeMs);
    if (n) log(`registry: removed ${n} abandoned upload(s)`);
  }, Math.min(10 * 60_000, Math.max(1000, o.uploadMaxAgeMs / 2)));
  purge.unref();
  const a = server.address() as AddressInfo;
  const shown = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  log(`registry: listening on ${o.tlsCert ? 'https' : 'http'}://${shown} (root ${o.root}, auth ${o.auth})`);
  return {
    address: shown,
    port: a.port,
    close: async () => {
      clearInterval(purge);
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
      try { if (fs.readFileSync(pidFile(o.root), 'utf8').trim() === String(process.pid)) fs.rmSync(pidFile(o.root)); } catch { /* gone */ }
    },
  };
}
