// Issue #6's benchmark: `build` of a small multi-stage Dockerfile on busybox (two RUN steps, three
// COPY steps, config steps), barge against Docker Engine's classic builder (DOCKER_BUILDKIT=0: dockerd
// 20.10), each engine driven by its own CLI from the same context directory:
//  - cold build: --no-cache, every step runs (intermediate images from earlier iterations exist, as they
//    would on a developer's machine);
//  - cached rebuild: the same build again, every step from the cache. Target: well under a second.
// Engines alternate first/second from one iteration to the next.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BenchContext } from './lib/context.js';
import type { Engine, CliCommand } from './lib/engine.js';
import { median, round, summary, timeProcess } from './lib/util.js';

export const name = 'build';
export const description = 'build of a small multi-stage Dockerfile on busybox: cold (--no-cache) and fully cached rebuild';
export const order = 50;

const DOCKERFILE = `FROM busybox AS build
WORKDIR /src
COPY a.txt b.txt ./
RUN cat a.txt b.txt > out && echo built >> out
COPY conf/ ./conf/
RUN sha256sum out conf/* > sums

FROM busybox
ENV MODE=bench
WORKDIR /app
COPY --from=build /src/out /src/sums ./
LABEL bench=build
CMD ["cat", "/app/out"]
`;
const STEPS = 12;
const TAG = 'barge-bench/build:1';

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
  const n = ctx.n(5, 2);
  const dir = ctx.run.path('build-bench');
  fs.mkdirSync(path.join(dir, 'conf'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE);
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a\n'.repeat(1000));
  fs.writeFileSync(path.join(dir, 'b.txt'), 'b\n'.repeat(1000));
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, 'conf', `c${i}.conf`), `key${i}=value${i}\n`);
  const cold = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  const cached = new Map<Engine, number[]>(engines.map((e) => [e, []]));
  try {
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) {
        ctx.check();
        const c = await build(e, dir, true);
        cold.get(e)!.push(c);
        const h = await build(e, dir, false);
        cached.get(e)!.push(h);
        ctx.log(`${e.kind}: cold build ${c.toFixed(2)} s, cached rebuild ${h.toFixed(3)} s`);
      }
    }
    const barge = engines.find((e) => e.kind === 'barge')!;
    const docker = engines.find((e) => e.kind === 'docker');
    const med = (m: Map<Engine, number[]>, e?: Engine) => (e && m.get(e)?.length ? median(m.get(e)!) : null);
    ctx.record({ metric: `build, ${STEPS} steps (2 stages, 2 RUN, 3 COPY), --no-cache: median (n=${n})`, unit: 's', barge: med(cold, barge), docker: med(cold, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    ctx.record({ metric: '  the same build again, every step cached: median', unit: 's', barge: med(cached, barge), docker: med(cached, docker), target: { text: '< 1 s', max: 1 } });
    const series = (m: Map<Engine, number[]>) => Object.fromEntries([...m].map(([e, xs]) => [e.kind, { ...summary(xs), samplesS: xs.map((x) => round(x, 3)) }]));
    ctx.data('cold', series(cold));
    ctx.data('cached', series(cached));
    if (docker) ctx.note('build: Docker Engine measured with its classic builder (DOCKER_BUILDKIT=0), each engine through its own CLI.');
  } finally {
    for (const e of engines) {
      await e.api.call('DELETE', `/images/${encodeURIComponent(TAG)}?force=1`, undefined, [404, 409]).catch(() => undefined);
      if (e.kind === 'barge') await e.api.call('POST', '/build/prune', undefined).catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
