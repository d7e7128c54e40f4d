// Issue #6's benchmark: `build` of a 10-step, 2-stage Dockerfile on busybox with a 200 MB context of
// incompressible files of several sizes (3000 small files of 512 B to 32 KiB and 40 of 256 KiB to
// 1.5 MiB under src/, four 34 MiB assets under assets/), barge against Docker Engine's classic builder
// (DOCKER_BUILDKIT=0: dockerd 20.10), each engine driven by its own CLI from the same context directory,
// as a user would:
//  - cold build: --no-cache, every step runs (and the whole context goes to the engine);
//  - cached rebuild: the same build again, every step from the cache. Target: ≤ 0.5× Docker's time;
//  - rebuild after changing one file (app.conf), which only the last COPY copies: that step alone runs.
// The step output is checked (8 steps cached, then 7), so a figure never comes from a build that did
// more, or less, than it should.
//  - context transfer: the context's bytes over the time from the CLI's start to "Step 1/10" of the
//    first cold build (the engine has the whole context then), against the disk's read speed (the
//    largest asset read with O_DIRECT, after a sync).
// --quick: a 36 MB context, one iteration. Engines alternate first/second from one iteration to the next.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import type { BenchContext } from './lib/context.js';
import type { Engine, CliCommand } from './lib/engine.js';
import { median, round, sh, summary } from './lib/util.js';

export const name = 'build';
export const description = 'build of a 10-step, 2-stage Dockerfile with a 200 MB context: cold, fully cached, after changing one file; context transfer';
export const order = 50;

const DOCKERFILE = `FROM busybox AS build
WORKDIR /src
COPY src/ ./
RUN find . -type f | wc -l > /count && du -sk . > /size
FROM busybox
WORKDIR /app
COPY --from=build /count /size ./
COPY assets/ ./assets/
ENV MODE=bench
COPY app.conf ./
`;
const STEPS = 10;
/** Steps other than FROM: what a fully cached build reports as "Using cache". */
const CACHEABLE = 8;
const TAG = 'barge-bench/build:1';
const MiB = 1 << 20;
const MB = 1e6;

interface Shape { small: number; medium: number; large: number; largeSize: number }
const FULL: Shape = { small: 3000, medium: 40, large: 4, largeSize: 34 * MiB };
const QUICK: Shape = { small: 1000, medium: 10, large: 3, largeSize: 6 * MiB };
const SMALL_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768];

/** Writes the context; returns its bytes and the path of its largest file. */
function makeContext(dir: string, s: Shape): { bytes: number; largest: string } {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const noise = (n: number) => cipher.update(Buffer.alloc(n));
  let bytes = 0;
  const write = (rel: string, data: Buffer | string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
    bytes += data.length;
  };
  write('Dockerfile', DOCKERFILE);
  write('app.conf', 'mode=bench\n');
  for (let i = 0; i < s.small; i++) write(`src/m${i % 50}/f${i}.dat`, noise(SMALL_SIZES[i % SMALL_SIZES.length]!));
  for (let i = 0; i < s.medium; i++) write(`src/lib/part${i}.bin`, noise(256 * 1024 + (i % 6) * 256 * 1024));
  let largest = '';
  for (let i = 0; i < s.large; i++) {
    largest = `assets/blob${i}.bin`;
    write(largest, noise(s.largeSize));
  }
  return { bytes, largest: path.join(dir, largest) };
}

/** The disk's read speed (MB/s): the file read with O_DIRECT after a sync, or null where dd cannot. */
function diskReadSpeed(file: string): number | null {
  sh('sync', []);
  const r = sh('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'iflag=direct'], { timeoutMs: 120_000 });
  // "35651584 bytes (36 MB, 34 MiB) copied, 0.0713 s, 500 MB/s"
  const m = /^(\d+) bytes .* copied, ([\d.]+) s/m.exec(r.stderr);
  if (r.code !== 0 || !m || Number(m[2]) <= 0) return null;
  return Number(m[1]) / MB / Number(m[2]);
}

function cliFor(e: Engine): CliCommand {
  if (e.kind === 'barge') return e.ownCli;
  return { ...e.ownCli, env: { ...e.ownCli.env, DOCKER_BUILDKIT: '0' } };
}

interface Built { s: number; stepOneS: number | null; cached: number }

/** One `build` through the engine's CLI: wall time, time to "Step 1/" on its output, steps cached. */
function build(e: Engine, dir: string, noCache: boolean): Promise<Built> {
  const cli = cliFor(e);
  const argv = [...cli.argv, 'build', '--progress', 'plain', ...(noCache ? ['--no-cache'] : []), '-t', TAG, dir];
  // The classic builder's docker CLI has no --progress.
  if (e.kind !== 'barge') argv.splice(argv.indexOf('--progress'), 2);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(argv[0]!, argv.slice(1), { env: cli.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let stepOne: number | null = null;
    c.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (stepOne === null && out.includes('Step 1/')) stepOne = performance.now();
    });
    c.stderr!.on('data', (b: Buffer) => { if (err.length < 4000) err += b.toString(); });
    const timer = setTimeout(() => c.kill('SIGKILL'), 300_000);
    c.on('error', (x) => { err += x.message; });
    c.on('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (code !== 0) { reject(new Error(`${e.kind} build failed (exit ${code}): ${(err || out).slice(-600)}`)); return; }
      if (!out.includes(`Step ${STEPS}/${STEPS} :`)) { reject(new Error(`${e.kind} build: not ${STEPS} steps:\n${out.slice(0, 800)}`)); return; }
      resolve({ s: ms / 1000, stepOneS: stepOne === null ? null : (stepOne - t0) / 1000, cached: (out.match(/Using cache/g) ?? []).length });
    });
  });
}

export async function run(ctx: BenchContext): Promise<void> {
  const engines = await ctx.engines();
  const n = ctx.n(3, 1);
  const dir = ctx.run.path('build-bench');
  fs.mkdirSync(dir, { recursive: true });
  const shape = ctx.quick ? QUICK : FULL;
  const { bytes, largest } = makeContext(dir, shape);
  const mb = `${Math.round(bytes / MB)} MB`;
  const disk = diskReadSpeed(largest);
  ctx.log(`context: ${mb} (${shape.small} files of 0.5-32 KiB, ${shape.medium} of 0.25-1.5 MiB, ${shape.large} of ${shape.largeSize / MiB} MiB); disk read (O_DIRECT): ${disk === null ? 'n/a' : `${disk.toFixed(0)} MB/s`}`);
  const cold = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  const cached = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  const oneFile = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  const transfer = new Map<Engine, number>();
  let edits = 0;
  try {
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) {
        ctx.check();
        const c = await build(e, dir, true);
        cold.get(e)!.push(c.s);
        // The first cold build: the engine has never seen this context.
        if (!transfer.has(e) && c.stepOneS) transfer.set(e, bytes / MB / c.stepOneS);
        const h = await build(e, dir, false);
        if (h.cached !== CACHEABLE) throw new Error(`${e.kind}: the rebuild took ${h.cached} of ${CACHEABLE} steps from the cache`);
        cached.get(e)!.push(h.s);
        fs.writeFileSync(path.join(dir, 'app.conf'), `mode=bench\nedit=${++edits}\n`);
        const o = await build(e, dir, false);
        if (o.cached !== CACHEABLE - 1) throw new Error(`${e.kind}: after changing app.conf, ${o.cached} steps came from the cache (want ${CACHEABLE - 1})`);
        oneFile.get(e)!.push(o.s);
        ctx.log(`${e.kind}: cold build ${c.s.toFixed(2)} s (Step 1 after ${c.stepOneS?.toFixed(2) ?? '?'} s), cached rebuild ${h.s.toFixed(3)} s, after changing one file ${o.s.toFixed(3)} s`);
      }
    }
    const barge = engines.find((e) => e.kind === 'barge')!;
    const docker = engines.find((e) => e.kind === 'docker');
    const med = (m: Map<Engine, number[]>, e?: Engine) => (e && m.get(e)?.length ? median(m.get(e)!) : null);
    ctx.record({ metric: `build, ${STEPS} steps (2 stages, 1 RUN, 4 COPY), ${mb} context, --no-cache: median (n=${n})`, unit: 's', barge: med(cold, barge), docker: med(cold, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    ctx.record({ metric: '  the same build again, every step cached: median', unit: 's', barge: med(cached, barge), docker: med(cached, docker), target: { text: '≤ 0.5× Docker', maxRatio: 0.5 } });
    ctx.record({ metric: '  rebuild after changing one file (only the last COPY runs): median', unit: 's', barge: med(oneFile, barge), docker: med(oneFile, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    ctx.record({
      metric: `  context transfer: ${mb} / time to "Step 1" of the first cold build${disk === null ? '' : ` (disk reads ${disk.toFixed(0)} MB/s)`}`,
      unit: 'MB/s', barge: transfer.get(barge) ?? null, docker: docker ? transfer.get(docker) ?? null : null,
      ...(disk === null ? {} : { target: { text: '≥ disk read speed', min: round(disk, 0) } }),
    });
    const series = (m: Map<Engine, number[]>) => Object.fromEntries([...m].map(([e, xs]) => [e.kind, { ...summary(xs), samplesS: xs.map((x) => round(x, 3)) }]));
    ctx.data('cold', series(cold));
    ctx.data('cached', series(cached));
    ctx.data('oneFile', series(oneFile));
    ctx.data('contextBytes', bytes);
    ctx.data('contextShape', shape);
    ctx.data('diskReadMBps', disk === null ? null : round(disk, 0));
    ctx.data('transferMBps', Object.fromEntries([...transfer].map(([e, v]) => [e.kind, round(v, 0)])));
    if (docker) ctx.note('build: Docker Engine measured with its classic builder (DOCKER_BUILDKIT=0), each engine through its own CLI; context transfer includes the CLI\'s start.');
  } finally {
    for (const e of engines) {
      await e.api.call('DELETE', `/images/${encodeURIComponent(TAG)}?force=1`, undefined, [404, 409]).catch(() => undefined);
      if (e.kind === 'barge') await e.api.call('POST', '/build/prune', undefined).catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
