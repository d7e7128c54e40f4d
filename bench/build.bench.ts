// Issue #6's benchmark: `build` of a 12-instruction, 2-stage Dockerfile on busybox with a 200 MB
// context (2000 small source files and six 32 MiB assets of incompressible data), barge against Docker
// Engine's classic builder (DOCKER_BUILDKIT=0: dockerd 20.10), each engine driven by its own CLI from
// the same context directory:
//  - cold build: --no-cache, every step runs (and the whole context goes to the engine);
//  - cached rebuild: the same build again, every step from the cache. Target: ≤ 0.5× Docker's time;
//  - rebuild after changing one file (app.conf): only its COPY and what follows run again.
// --quick: a 40 MB context. Engines alternate first/second from one iteration to the next.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCipheriv, randomBytes } from 'node:crypto';
import type { BenchContext } from './lib/context.js';
import type { Engine, CliCommand } from './lib/engine.js';
import { median, round, summary, timeProcess } from './lib/util.js';

export const name = 'build';
export const description = 'build of a 2-stage Dockerfile with a 200 MB context: cold, fully cached, and after changing one file';
export const order = 50;

const DOCKERFILE = `FROM busybox AS build
WORKDIR /src
COPY src/ ./src/
RUN find src -type f | wc -l > count
COPY assets/ ./assets/
RUN du -s assets > size

FROM busybox
WORKDIR /app
COPY --from=build /src/count /src/size ./
ENV MODE=bench
COPY app.conf ./
CMD ["cat", "/app/count"]
`;
const STEPS = 12;
const TAG = 'barge-bench/build:1';
const MiB = 1 << 20;

/** The context: `small` files of 4 KiB under src/, `big` files of `bigSize` under assets/; returns its bytes. */
function makeContext(dir: string, small: number, big: number, bigSize: number): number {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  let bytes = 0;
  fs.writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE);
  fs.writeFileSync(path.join(dir, 'app.conf'), 'mode=bench\n');
  for (let i = 0; i < small; i++) {
    const d = path.join(dir, 'src', `m${i % 40}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}.txt`), cipher.update(Buffer.alloc(4096)));
    bytes += 4096;
  }
  fs.mkdirSync(path.join(dir, 'assets'), { recursive: true });
  for (let i = 0; i < big; i++) {
    fs.writeFileSync(path.join(dir, 'assets', `blob${i}.bin`), cipher.update(Buffer.alloc(bigSize)));
    bytes += bigSize;
  }
  return bytes;
}

function cliFor(e: Engine): CliCommand {
  if (e.kind === 'barge') return e.ownCli;
  return { ...e.ownCli, env: { ...e.ownCli.env, DOCKER_BUILDKIT: '0' } };
}

async function build(e: Engine, dir: string, noCache: boolean): Promise<number> {
  const cli = cliFor(e);
  const r = await timeProcess([...cli.argv, 'build', ...(noCache ? ['--no-cache'] : []), '-t', TAG, dir], cli.env, 180_000);
  if (r.code !== 0) throw new Error(`${e.kind} build failed (exit ${r.code}): ${r.stderr.slice(0, 600)}`);
  return r.ms / 1000;
}

export async function run(ctx: BenchContext): Promise<void> {
  const engines = await ctx.engines();
  const n = ctx.n(3, 1);
  const dir = ctx.run.path('build-bench');
  fs.mkdirSync(dir, { recursive: true });
  const bytes = makeContext(dir, 2000, 6, (ctx.quick ? 5 : 32) * MiB);
  const mb = `${Math.round(bytes / 1e6)} MB`;
  ctx.log(`context: ${mb} (2000 small files, 6 large ones)`);
  const cold = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  const cached = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  const oneFile = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  let edits = 0;
  try {
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) {
        ctx.check();
        const c = await build(e, dir, true);
        cold.get(e)!.push(c);
        const h = await build(e, dir, false);
        cached.get(e)!.push(h);
        fs.writeFileSync(path.join(dir, 'app.conf'), `mode=bench\nedit=${++edits}\n`);
        const o = await build(e, dir, false);
        oneFile.get(e)!.push(o);
        ctx.log(`${e.kind}: cold build ${c.toFixed(2)} s, cached rebuild ${h.toFixed(3)} s, after changing one file ${o.toFixed(3)} s`);
      }
    }
    const barge = engines.find((e) => e.kind === 'barge')!;
    const docker = engines.find((e) => e.kind === 'docker');
    const med = (m: Map<Engine, number[]>, e?: Engine) => (e && m.get(e)?.length ? median(m.get(e)!) : null);
    ctx.record({ metric: `build, ${STEPS} steps (2 stages, 2 RUN, 4 COPY), ${mb} context, --no-cache: median (n=${n})`, unit: 's', barge: med(cold, barge), docker: med(cold, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    ctx.record({ metric: '  the same build again, every step cached: median', unit: 's', barge: med(cached, barge), docker: med(cached, docker), target: { text: '≤ 0.5× Docker', maxRatio: 0.5 } });
    ctx.record({ metric: '  rebuild after changing one copied file (its COPY and after run): median', unit: 's', barge: med(oneFile, barge), docker: med(oneFile, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    const series = (m: Map<Engine, number[]>) => Object.fromEntries([...m].map(([e, xs]) => [e.kind, { ...summary(xs), samplesS: xs.map((x) => round(x, 3)) }]));
    ctx.data('cold', series(cold));
    ctx.data('cached', series(cached));
    ctx.data('oneFile', series(oneFile));
    ctx.data('contextBytes', bytes);
    if (docker) ctx.note('build: Docker Engine measured with its classic builder (DOCKER_BUILDKIT=0), each engine through its own CLI.');
  } finally {
    for (const e of engines) {
      await e.api.call('DELETE', `/images/${encodeURIComponent(TAG)}?force=1`, undefined, [404, 409]).catch(() => undefined);
      if (e.kind === 'barge') await e.api.call('POST', '/build/prune', undefined).catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
