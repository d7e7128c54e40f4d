// Issue #5's registry server benchmark: push and pull of a ~100 MB image in 4 layers through skopeo,
// to and from `barge registry serve` and to and from Debian's reference registry (`docker-registry`,
// distribution 2.8; installed with apt-get if missing), each on its own loopback port and root.
// The "Docker" column is the reference registry here. The image is an OCI layout built by the bench:
// 4 layers of incompressible data, gzip'd with stored blocks (valid gzip, no CPU spent compressing),
// so skopeo copies the blobs as they are and the registries' own work is what is measured.
// Each iteration starts both registries on fresh roots (no blob is already there, and skopeo's blob
// cache cannot turn an upload into a mount), then times `skopeo copy oci:... docker://...` (push) and
// `skopeo copy docker://... dir:...` (pull). Dirty pages are flushed before each timed copy; the
// registries alternate first/second.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { BenchContext } from './lib/context.js';
import { onCleanup } from './lib/cleanup.js';
import { tarHeader, tarPadding, TAR_END } from '../src/lib/tarwriter.js';
import { BARGE_BIN, median, round, sh, which } from './lib/util.js';

export const name = 'registry';
export const description = 'push and pull of a ~100 MB, 4-layer image with skopeo: barge registry serve vs the reference registry (docker-registry)';
export const order = 50;

const MiB = 1 << 20;
const MB = 1e6;

interface Layout { dir: string; bytes: number }

/** An OCI image layout of `layers` gzip'd tar layers of `layerSize` bytes of noise each. */
function buildLayout(dir: string, layers: number, layerSize: number): Layout {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  let bytes = 0;
  const put = (data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    fs.writeFileSync(path.join(blobs, hex), data);
    bytes += data.length;
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const diffIds: string[] = [];
  const descs = [];
  for (let i = 0; i < layers; i++) {
    const data = cipher.update(Buffer.alloc(layerSize));
    const tar = Buffer.concat([tarHeader({ name: `layer${i}.bin`, type: 'file', mode: 0o644, mtime: 1_700_000_000 }, data.length), data, tarPadding(data.length), TAR_END]);
    diffIds.push('sha256:' + createHash('sha256').update(tar).digest('hex'));
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzipSync(tar, { level: 0 })) });
  }
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: { Cmd: ['sh'] } })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: descs })));
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
  return { dir, bytes };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

async function waitHttp(port: number, child: ChildProcess, what: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - started > 15_000) throw new Error(`${what} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface RunningRegistry { port: number; stop(): Promise<void> }

async function startBarge(root: string, logFile: string): Promise<RunningRegistry> {
  const port = await freePort();
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [BARGE_BIN, 'registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', root], { stdio: ['ignore', 'ignore', out] });
  fs.closeSync(out);
  return running(child, port, 'barge registry serve');
}

async function startReference(bin: string, root: string, dir: string): Promise<RunningRegistry> {
  const port = await freePort();
  const cfg = path.join(dir, `reference-${port}.yml`);
  fs.writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const out = fs.openSync(path.join(dir, 'reference.log'), 'a');
  const child = spawn(bin, ['serve', cfg], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  return running(child, port, 'docker-registry');
}

async function running(child: ChildProcess, port: number, what: string): Promise<RunningRegistry> {
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const off = onCleanup(what, stop);
  try { await waitHttp(port, child, what); } catch (e) { await stop(); off(); throw e; }
  return { port, stop: async () => { await stop(); off(); } };
}

function ensureReference(log: (s: string) => void): string | { error: string } {
  let bin = which('docker-registry');
  if (bin) return bin;
  log('docker-registry not found: installing Debian\'s docker-registry (apt-get install -y docker-registry)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = sh('apt-get', ['install', '-y', '--no-install-recommends', 'docker-registry'], { env, timeoutMs: 300_000 });
  if (r.code !== 0) {
    sh('apt-get', ['update'], { env, timeoutMs: 180_000 });
    r = sh('apt-get', ['install', '-y', '--no-install-recommends', 'docker-registry'], { env, timeoutMs: 300_000 });
  }
  bin = which('docker-registry');
  return bin ?? { error: `apt-get install docker-registry failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}` };
}

/** Runs a skopeo copy; seconds. */
function timedCopy(args: string[]): number {
  sh('sync', []);
  const t0 = performance.now();
  const r = sh('skopeo', ['copy', '--quiet', ...args], { timeoutMs: 300_000 });
  const s = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`skopeo copy ${args.join(' ')}: ${r.stderr.trim()}`);
  return s;
}

export async function run(ctx: BenchContext): Promise<void> {
  if (!which('skopeo')) { ctx.note('registry: skopeo is not installed (apt-get install skopeo): not measured'); return; }
  const ref = ensureReference(ctx.log);
  const layers = 4;
  const layerSize = ctx.quick ? 10 * MiB : 25 * MiB;
  const n = ctx.n(3, 1);
  const dir = ctx.run.path('registry-bench');
  fs.mkdirSync(dir, { recursive: true });
  const layout = buildLayout(path.join(dir, 'layout'), layers, layerSize);
  ctx.log(`registry: image of ${(layout.bytes / MiB).toFixed(0)} MiB in ${layers} layers`);
  const kinds = typeof ref === 'string' ? ['barge', 'reference'] as const : ['barge'] as const;
  if (typeof ref !== 'string') ctx.note(`registry: reference registry not measured: ${ref.error}`);
  const push: Record<string, number[]> = { barge: [], reference: [] };
  const pull: Record<string, number[]> = { barge: [], reference: [] };
  for (let i = 0; i < n; i++) {
    const order = i % 2 === 0 ? kinds : [...kinds].reverse();
    for (const kind of order) {
      ctx.check();
      const root = path.join(dir, `${kind}-root-${i}`);
      const reg = kind === 'barge' ? await startBarge(root, path.join(dir, 'barge.log')) : await startReference(ref as string, root, dir);
      try {
        const target = `docker://127.0.0.1:${reg.port}/bench/image:${i}`;
        push[kind]!.push(timedCopy(['--dest-tls-verify=false', `oci:${layout.dir}:bench`, target]));
        const out = path.join(dir, `pulled-${kind}-${i}`);
        pull[kind]!.push(timedCopy(['--src-tls-verify=false', target, `dir:${out}`]));
        const got = fs.readdirSync(out).filter((f) => /^[a-f0-9]{64}$/.test(f)).reduce((a, f) => a + fs.statSync(path.join(out, f)).size, 0);
        if (got < layout.bytes - 4096) throw new Error(`${kind}: pulled ${got} bytes, the image has ${layout.bytes}`);
        fs.rmSync(out, { recursive: true, force: true });
        ctx.log(`registry: ${kind}: push ${push[kind]!.at(-1)!.toFixed(2)} s, pull ${pull[kind]!.at(-1)!.toFixed(2)} s`);
      } finally {
        await reg.stop();
        fs.rmSync(root, { recursive: true, force: true });
      }
    }
  }
  const med = (xs: number[]) => (xs.length ? round(median(xs), 3) : null);
  const mbps = (xs: number[]) => (xs.length ? round(layout.bytes / MB / median(xs), 1) : null);
  const size = `${(layout.bytes / MiB).toFixed(0)} MiB`;
  ctx.record({ metric: `skopeo push of a ${size}, ${layers}-layer image: median (n=${n}); Docker column = reference registry 2.8`, unit: 's', barge: med(push.barge!), docker: med(push.reference!), target: { text: '≤ 1× reference', maxRatio: 1 } });
  ctx.record({ metric: `skopeo pull of it (to dir:): median`, unit: 's', barge: med(pull.barge!), docker: med(pull.reference!), target: { text: '≤ 1× reference', maxRatio: 1 } });
  ctx.record({ metric: 'push throughput', unit: 'MB/s', barge: mbps(push.barge!), docker: mbps(push.reference!) });
  ctx.record({ metric: 'pull throughput', unit: 'MB/s', barge: mbps(pull.barge!), docker: mbps(pull.reference!) });
  ctx.data('registry', { layers, bytes: layout.bytes, iterations: n, push, pull });
  ctx.note('registry: the Docker column of the registry rows is Debian\'s reference registry (docker-registry), not Docker Engine');
}
