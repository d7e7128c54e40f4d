// Debian's reference registry (docker-registry, distribution 2.8) on a free loopback port, for the
// registry client's tests and benchmark: filesystem storage in a temp dir, optional htpasswd auth.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  dir: string;
  /** The storage root (docker/registry/v2/...). */
  storage: string;
  /** Path of a blob's data file in the storage. */
  blobFile(digest: string): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
    s.on('error', reject);
  });
}

/**
 * Starts a registry; with `auth`, an htpasswd (bcrypt) file holds that one user; with `token`, the
 * registry wants bearer tokens from `realm`, signed by the key of the certificate in `certFile`.
 */
export async function startRegistry(o: { auth?: { user: string; password: string }; token?: { realm: string; service: string; issuer: string; certFile: string } } = {}): Promise<TestRegistry> {
  const dir = fs.mkdtempSync('/tmp/bt-reg-');
  const storage = path.join(dir, 'storage');
  const port = await freePort();
  let auth = '';
  if (o.auth) {
    const r = spawnSync('htpasswd', ['-Bbn', o.auth.user, o.auth.password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    fs.writeFileSync(path.join(dir, 'htpasswd'), r.stdout);
    auth = `auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${path.join(dir, 'htpasswd')}\n`;
  }
  if (o.token) {
    auth = `auth:\n  token:\n    realm: ${o.token.realm}\n    service: ${o.token.service}\n    issuer: ${o.token.issuer}\n    rootcertbundle: ${o.token.certFile}\n`;
  }
  fs.writeFileSync(path.join(dir, 'config.yml'), `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(8).toString('hex')}
${auth}`);
  const log = fs.openSync(path.join(dir, 'registry.log'), 'a');
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const host = `127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`registry exited: ${fs.readFileSync(path.join(dir, 'registry.log'), 'utf8')}`);
    try { const r = await fetch(`http://${host}/v2/`); await r.arrayBuffer(); break; } catch { /* not yet */ }
    if (Date.now() - started > 15_000) throw new Error('registry did not start within 15s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host, dir, storage,
    blobFile: (digest) => path.join(storage, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Uploads a blob straight to the registry (POST + monolithic PUT). */
export async function putBlob(host: string, repo: string, data: Buffer, authHeader?: string): Promise<string> {
  const digest = sha256(data);
  const h: Record<string, string> = authHeader ? { Authorization: authHeader } : {};
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: h });
  if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
  const loc = new URL(start.headers.get('location')!, `http://${host}`);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', headers: { ...h, 'Content-Type': 'application/octet-stream' }, body: data });
  if (put.status !== 201) throw new Error(`upload: ${put.status} ${await put.text()}`);
  return digest;
}

export async function putManifest(host: string, repo: string, ref: string, mediaType: string, body: Buffer): Promise<string> {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': mediaType }, body });
  if (r.status !== 201) throw new Error(`manifest put: ${r.status} ${await r.text()}`);
  return sha256(body);
}

/** A one-file layer tar (ustar), uncompressed. */
export function tarOf(name: string, content: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  h.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257); h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([h, content, pad, Buffer.alloc(1024)]);
}

/**
 * Pushes straight to the registry an OCI image of one gzip layer holding `file`, for `arch`; returns
 * its manifest digest, layer digest and diffID. With `index`, also an index listing it (and a fake
 * arm64 entry) under `tag`.
 */
export async function pushGzipImage(host: string, repo: string, tag: string, o: { file?: string; data?: Buffer; index?: boolean } = {}): Promise<{ manifest: string; layer: string; diffId: string; index?: string; config: string }> {
  const tar = tarOf(o.file ?? 'hello.txt', o.data ?? Buffer.from('hello from a gzip layer\n'));
  const gz = gzipSync(tar);
  const layer = await putBlob(host, repo, gz);
  const diffId = sha256(tar);
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello.txt'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const config = await putBlob(host, repo, cfg);
  const man = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: cfg.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: gz.length }],
  }));
  const manifest = await putManifest(host, repo, o.index ? sha256(man) : tag, 'application/vnd.oci.image.manifest.v1+json', man);
  if (!o.index) return { manifest, layer, diffId, config };
  // An arm64 image too (same layer, its own config), so that the index has a wrong choice to avoid.
  const armCfg = Buffer.from(JSON.stringify({ architecture: 'arm64', variant: 'v8', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const armConfig = await putBlob(host, repo, armCfg);
  const armMan = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: armConfig, size: armCfg.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: gz.length }],
  }));
  const armManifest = await putManifest(host, repo, sha256(armMan), 'application/vnd.oci.image.manifest.v1+json', armMan);
  const idx = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: armManifest, size: armMan.length, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest, size: man.length, platform: { architecture: 'amd64', os: 'linux' } },
    ],
  }));
  const index = await putManifest(host, repo, tag, 'application/vnd.oci.image.index.v1+json', idx);
  return { manifest, layer, diffId, index, config };
}
