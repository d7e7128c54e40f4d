// Issue #3's benchmark: the image subsystem against Docker Engine, in the same run.
//  - load of a 1 GiB image in 5 layers (a docker-archive built here: 5 layers of incompressible data,
//    the very same file loaded into both engines; POST /images/load through the same API client), and
//    from it the layer unpack throughput (uncompressed layer bytes / load time);
//  - save of that image (GET /images/{name}/get, the tar read to the end and discarded);
//  - commit of a container with 500 MB of changes (5 files of random data written by the container,
//    untimed; then POST /commit timed);
//  - the disk's own write speed, measured in the same run on the same filesystem as the engines' data
//    roots (a file of incompressible data written and fsync'd), before and after the engines' work:
//    unpack should be within 2× of it (≥ half the disk's speed) and at least as fast as Docker's.
// Dirty pages are flushed (sync) before each timed operation, so one engine does not pay for the
// other's (or its own setup's) writeback. Engines alternate first/second from one iteration to the next.
// --quick: 200 MiB image (5 × 40 MiB), 100 MB commit, one iteration each.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import type { BenchContext } from './lib/context.js';
import type { Engine } from './lib/engine.js';
import { ApiClient } from './lib/api.js';
import { onCleanup } from './lib/cleanup.js';
import { tarHeader, tarPadding, TAR_END } from '../src/lib/tarwriter.js';
import { median, round, sh, summary } from './lib/util.js';

export const name = 'image';
export const description = 'load, save (1 GiB image, 5 layers), layer unpack throughput, commit of 500 MB of changes; disk write speed';
export const order = 40;

const MiB = 1 << 20;
const MB = 1e6;
const CHUNK = 4 * MiB;
const FILE_MAX = 64 * MiB;
const REPO = 'barge-bench/image';
const TAG = 'load';

/** An endless stream of incompressible bytes (AES-128-CTR keystream: fast, and random-looking). */
class Noise {
  private readonly cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  private readonly zeros = Buffer.alloc(CHUNK);
  next(n: number): Buffer { return this.cipher.update(n === CHUNK ? this.zeros : this.zeros.subarray(0, n)); }
}

interface Archive { file: string; layerBytes: number; archiveBytes: number; ref: string }

/**
 * Writes a docker-archive (manifest.json + config + layer<i>.tar) of `layers` layers of `layerSize`
 * bytes of file data each, every layer a directory of files of at most 64 MiB. Returns its facts.
 */
function buildArchive(file: string, layers: number, layerSize: number): Archive {
  const fd = fs.openSync(file, 'w');
  let archiveBytes = 0;
  let layerBytes = 0;
  const write = (b: Buffer) => { fs.writeSync(fd, b); archiveBytes += b.length; };
  const diffIds: string[] = [];
  const mtime = 1_700_000_000;
  try {
    for (let i = 0; i < layers; i++) {
      const nFiles = Math.max(1, Math.ceil(layerSize / FILE_MAX));
      const sizes = Array.from({ length: nFiles }, (_, k) => (k < nFiles - 1 ? Math.floor(layerSize / nFiles) : layerSize - Math.floor(layerSize / nFiles) * (nFiles - 1)));
      const dirHeader = tarHeader({ name: `layer${i}/`, type: 'dir', mode: 0o755, mtime }, 0);
      const fileHeaders = sizes.map((s, k) => tarHeader({ name: `layer${i}/part${k}.bin`, type: 'file', mode: 0o644, mtime }, s));
      const tarSize = dirHeader.length + fileHeaders.reduce((a, h, k) => a + h.length + sizes[k]! + tarPadding(sizes[k]!).length, 0) + TAR_END.length;
      write(tarHeader({ name: `layer${i}.tar`, type: 'file', mode: 0o644, mtime }, tarSize));
      const h = createHash('sha256');
      const put = (b: Buffer) => { h.update(b); write(b); };
      put(dirHeader);
      const noise = new Noise();
      sizes.forEach((s, k) => {
        put(fileHeaders[k]!);
        for (let left = s; left > 0; left -= CHUNK) put(noise.next(Math.min(CHUNK, left)));
        put(tarPadding(s));
      });
      put(TAR_END);
      write(tarPadding(tarSize));
      diffIds.push(`sha256:${h.digest('hex')}`);
      layerBytes += tarSize;
    }
    const config = Buffer.from(JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `barge bench: layer ${i}` })),
    }));
    const imageHex = createHash('sha256').update(config).digest('hex');
    const manifest = Buffer.from(JSON.stringify([{ Config: `${imageHex}.json`, RepoTags: [`${REPO}:${TAG}`], Layers: diffIds.map((_, i) => `layer${i}.tar`) }]));
    for (const [n, data] of [[`${imageHex}.json`, config], ['manifest.json', manifest]] as const) {
      write(tarHeader({ name: n, type: 'file', mode: 0o644, mtime }, data.length));
      write(data);
      write(tarPadding(data.length));
    }
    write(TAR_END);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return { file, layerBytes, archiveBytes, ref: `${REPO}:${TAG}` };
}

/** The disk's write speed: `bytes` of incompressible data written in 4 MiB writes, then fsync'd. MB/s. */
function diskWriteSpeed(file: string, bytes: number): number {
  const noise = new Noise();
  const data = noise.next(CHUNK);   // generated up front: the disk is measured, not the generator
  sh('sync', []);
  const fd = fs.openSync(file, 'w');
  const t0 = performance.now();
  try {
    for (let left = bytes; left > 0; left -= CHUNK) fs.writeSync(fd, data, 0, Math.min(CHUNK, left));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const s = (performance.now() - t0) / 1000;
  fs.rmSync(file, { force: true });
  return bytes / MB / s;
}

/** POST /images/load of the archive; seconds. */
async function load(api: ApiClient, a: Archive): Promise<number> {
  const t0 = performance.now();
  const r = await api.request('POST', '/images/load?quiet=1', fs.createReadStream(a.file, { highWaterMark: CHUNK }), { 'Content-Type': 'application/x-tar' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 200 || /"error"/.test(r.text) || !r.text.includes(`Loaded image: ${a.ref}`)) throw new Error(`load: HTTP ${r.status}: ${r.text.slice(0, 400)}`);
  return s;
}

/** GET /images/{ref}/get, read to the end; seconds (and the archive must hold every layer byte). */
async function save(api: ApiClient, a: Archive): Promise<number> {
  let bytes = 0;
  const t0 = performance.now();
  const status = await api.download(`/images/${a.ref}/get`, (b) => { bytes += b.length; });
  const s = (performance.now() - t0) / 1000;
  if (status !== 200 || bytes < a.layerBytes) throw new Error(`save: HTTP ${status}, ${bytes} bytes (layers alone are ${a.layerBytes})`);
  return s;
}

/** A stopped container with `files` × `fileBytes` of new random data; its id. Untimed. */
async function containerWithChanges(api: ApiClient, files: number, fileBytes: number): Promise<string> {
  const script = `i=0; while [ $i -lt ${files} ]; do head -c ${fileBytes} /dev/urandom > /change$i || exit 1; i=$((i+1)); done`;
  const c = await api.call('POST', '/containers/create', { Image: 'busybox:latest', Cmd: ['sh', '-c', script], HostConfig: { NetworkMode: 'none' } });
  await api.call('POST', `/containers/${c.Id}/start`);
  const w = await api.call('POST', `/containers/${c.Id}/wait`);
  if (w?.StatusCode !== 0) throw new Error(`writing the changes failed (exit ${w?.StatusCode})`);
  return c.Id as string;
}

/** POST /commit of the container; seconds. */
async function commit(api: ApiClient, id: string, tag: string): Promise<number> {
  const t0 = performance.now();
  await api.call('POST', `/commit?container=${id}&repo=${encodeURIComponent(REPO)}&tag=${tag}`, null);
  return (performance.now() - t0) / 1000;
}

async function removeImage(api: ApiClient, ref: string): Promise<void> {
  await api.call('DELETE', `/images/${ref}?force=1`, undefined, [404, 409]);
}

export async function run(ctx: BenchContext): Promise<void> {
  const engines = await ctx.engines();
  const layers = 5;
  const layerSize = ctx.quick ? 40 * MiB : Math.floor(1024 * MiB / layers);
  const commitFiles = 5;
  const commitBytes = ctx.quick ? 100 * MB : 500 * MB;
  const n = ctx.n(2, 1);
  // Clients of our own: same code for both engines, and patient (a 1 GiB load may be quiet for a while).
  const clients = new Map<Engine, ApiClient>(engines.map((e) => [e, new ApiClient(e.api.socketPath, 600_000)]));
  const dir = ctx.run.path('image-bench');
  fs.mkdirSync(dir, { recursive: true });
  const commitTags: string[] = [];
  const undo = async () => {
    for (const [, api] of clients) {
      for (const t of [TAG, ...commitTags]) await removeImage(api, `${REPO}:${t}`).catch(() => undefined);
      api.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onCleanup('image bench: images and files', undo);

  try {
    const diskBytes = ctx.quick ? 256 * MiB : 1024 * MiB;
    const disk: number[] = [diskWriteSpeed(path.join(dir, 'disk-test'), diskBytes)];
    ctx.log(`disk write (fsync'd): ${disk[0]!.toFixed(0)} MB/s`);

    ctx.check();
    const t0 = performance.now();
    const archive = buildArchive(path.join(dir, 'image.tar'), layers, layerSize);
    ctx.log(`archive: ${(archive.archiveBytes / MiB).toFixed(0)} MiB, ${layers} layers of ${(layerSize / MiB).toFixed(0)} MiB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const loads = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    const saves = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    const commits = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) {
        ctx.check();
        const api = clients.get(e)!;
        await removeImage(api, archive.ref);
        sh('sync', []);
        const l = await load(api, archive);
        loads.get(e)!.push(l);
        sh('sync', []);
        const s = await save(api, archive);
        saves.get(e)!.push(s);
        ctx.log(`${e.kind}: load ${l.toFixed(2)} s (${(archive.layerBytes / MB / l).toFixed(0)} MB/s), save ${s.toFixed(2)} s`);
      }
      for (const e of order) {
        ctx.check();
        const api = clients.get(e)!;
        const id = await containerWithChanges(api, commitFiles, commitBytes / commitFiles);
        const tag = `commit${i}`;
        if (!commitTags.includes(tag)) commitTags.push(tag);
        sh('sync', []);
        const c = await commit(api, id, tag);
        commits.get(e)!.push(c);
        ctx.log(`${e.kind}: commit of ${commitBytes / MB} MB of changes ${c.toFixed(2)} s`);
        await api.call('DELETE', `/containers/${id}?force=1`, undefined, [404]);
        await removeImage(api, `${REPO}:${tag}`);
      }
    }
    for (const [, api] of clients) await removeImage(api, archive.ref);
    fs.rmSync(archive.file, { force: true });
    ctx.check();
    disk.push(diskWriteSpeed(path.join(dir, 'disk-test'), diskBytes));
    ctx.log(`disk write (fsync'd), again: ${disk[1]!.toFixed(0)} MB/s`);

    const barge = engines.find((e) => e.kind === 'barge')!;
    const docker = engines.find((e) => e.kind === 'docker');
    const med = (m: Map<Engine, number[]>, e?: Engine) => (e && m.get(e)?.length ? median(m.get(e)!) : null);
    const mbps = (sec: number | null) => (sec === null ? null : archive.layerBytes / MB / sec);
    const diskMBps = median(disk);
    const gib = ctx.quick ? `${((layers * layerSize) / MiB).toFixed(0)} MiB` : '1 GiB';
    ctx.record({ metric: `disk write speed, same filesystem (${diskBytes / MiB} MiB, fsync'd; reference for unpack)`, unit: 'MB/s', barge: diskMBps, docker: null });
    ctx.record({ metric: `load of a ${gib} image, ${layers} layers (docker-archive): median (n=${n})`, unit: 's', barge: med(loads, barge), docker: med(loads, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    ctx.record({
      metric: '  layer unpack throughput (layer bytes / load time)', unit: 'MB/s', barge: mbps(med(loads, barge)), docker: mbps(med(loads, docker)),
      target: { text: `≥ Docker, ≥ ½ disk (${(diskMBps / 2).toFixed(0)})`, minRatio: 1, min: diskMBps / 2 },
    });
    ctx.record({ metric: `save of the ${gib} image (tar read and discarded): median`, unit: 's', barge: med(saves, barge), docker: med(saves, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    ctx.record({ metric: `commit of a container with ${commitBytes / MB} MB of changes: median`, unit: 's', barge: med(commits, barge), docker: med(commits, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    const series = (m: Map<Engine, number[]>) => Object.fromEntries([...m].map(([e, xs]) => [e.kind, { ...summary(xs), samplesS: xs.map((x) => round(x, 3)) }]));
    ctx.data('image', { layers, layerBytes: archive.layerBytes, archiveBytes: archive.archiveBytes, commitBytes, iterations: n });
    ctx.data('diskWriteMBps', disk.map((x) => round(x, 1)));
    ctx.data('load', series(loads));
    ctx.data('save', series(saves));
    ctx.data('commit', series(commits));
  } finally {
    unregister();
    await undo();
  }
}
