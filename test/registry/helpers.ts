// Shared fixtures for the registry server tests (not a test file itself): a `barge registry serve`
// on a free port and a temp root, and a raw HTTP client.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { BARGE } from '../helpers/daemon.js';

export interface Registry {
  root: string; port: number; host: string; child: ChildProcess; scheme: 'http' | 'https';
  log(): string;
  stop(): Promise<void>;
  req(method: string, p: string, o?: { headers?: Record<string, string>; body?: Buffer | string; chunks?: Buffer[] }): Promise<Resp>;
}
export interface Resp { status: number; headers: http.IncomingHttpHeaders; body: Buffer; json: any }

export const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Starts `barge registry serve` on 127.0.0.1 (port 0: the port it reports), on `root` (a new temp dir by default). */
export async function startRegistry(args: string[] = [], root?: string): Promise<Registry> {
  root ??= fs.mkdtempSync('/tmp/bregs-');
  const logFile = path.join(path.dirname(root), `${path.basename(root)}.log`);
  const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [BARGE, 'registry', 'serve', '--addr', '127.0.0.1:0', '--root', root, ...args], { stdio: ['ignore', 'ignore', out] });
  fs.closeSync(out);
  const log = () => fs.readFileSync(logFile, 'utf8');
  const started = Date.now();
  let port = 0;
  let scheme: 'http' | 'https' = 'http';
  for (;;) {
    const m = log().slice(offset).match(/listening on (https?):\/\/127\.0\.0\.1:(\d+)/g);
    if (m) { const last = m[m.length - 1]!.match(/(https?):\/\/127\.0\.0\.1:(\d+)/)!; scheme = last[1] as 'http' | 'https'; port = Number(last[2]); break; }
    if (child.exitCode !== null) throw new Error(`registry exited with ${child.exitCode}: ${log()}`);
    if (Date.now() - started > 15_000) throw new Error(`registry did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 30));
  }
  const host = `127.0.0.1:${port}`;
  const agent = scheme === 'https' ? new https.Agent({ rejectUnauthorized: false, keepAlive: false }) : new http.Agent({ keepAlive: false });
  const req: Registry['req'] = (method, p, o = {}) => new Promise((resolve, reject) => {
    const mod = scheme === 'https' ? https : http;
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.body !== undefined && headers['Content-Length'] === undefined && !o.chunks) headers['Content-Length'] = String(Buffer.byteLength(o.body));
    const r = mod.request({ host: '127.0.0.1', port, method, path: p, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let json: unknown;
        try { json = JSON.parse(body.toString('utf8')); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    if (o.chunks) { for (const c of o.chunks) r.write(c); r.end(); } else r.end(o.body);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  };
  return { root, port, host, child, scheme, log, stop, req };
}

/** Pushes a blob monolithically (POST ?digest=); returns its digest. */
export async function pushBlob(reg: Registry, name: string, data: Buffer | string, headers: Record<string, string> = {}): Promise<string> {
  const d = sha256(data);
  const r = await reg.req('POST', `/v2/${name}/blobs/uploads/?digest=${d}`, { body: data, headers: { 'Content-Type': 'application/octet-stream', ...headers } });
  if (r.status !== 201) throw new Error(`push blob: ${r.status} ${r.body}`);
  return d;
}

/** Pushes a small OCI image (config + one layer) under `ref`; returns the manifest, its digest and its blobs. */
export async function pushImage(reg: Registry, name: string, ref: string, o: { layer?: string; headers?: Record<string, string>; mediaType?: string; extra?: Record<string, unknown> } = {}) {
  const layer = Buffer.from(o.layer ?? `layer of ${name}:${ref}`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const l = await pushBlob(reg, name, layer, o.headers);
  const c = await pushBlob(reg, name, config, o.headers);
  const docker = o.mediaType === 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: o.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: c, size: config.length },
    layers: [{ mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar', digest: l, size: layer.length }],
    ...(o.extra ?? {}),
  }));
  const r = await reg.req('PUT', `/v2/${name}/manifests/${ref}`, { body: manifest, headers: { 'Content-Type': o.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', ...(o.headers ?? {}) } });
  if (r.status !== 201) throw new Error(`push manifest: ${r.status} ${r.body}`);
  return { manifest, digest: sha256(manifest), layer: l, config: c, res: r };
}

/** Every file under dir (relative paths). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r); else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}
