// Issue #2, workload 1: create+start+wait of `true` through the Engine API, with no network and
// with the default bridge. Each iteration times POST /containers/create, POST .../start and POST
// .../wait (until exit), then removes the container untimed. barge and Docker alternate run by run
// (and which goes first), so a busy neighbour on the host slows both alike.
import type { BenchContext } from './lib/context.js';
import type { Engine } from './lib/engine.js';
import { percentile, summary } from './lib/util.js';

export const name = 'api';
export const description = 'API create+start+wait of `true` (--network none, default bridge): p50/p95';
export const order = 10;

async function cycle(e: Engine, networkMode: string): Promise<number> {
  const t0 = performance.now();
  const c = await e.api.call('POST', '/containers/create', {
    Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: networkMode },
  });
  const id = String(c.Id);
  try {
    await e.api.call('POST', `/containers/${id}/start`);
    const w = await e.api.call('POST', `/containers/${id}/wait`);
    const ms = performance.now() - t0;
    if (w?.StatusCode !== 0) throw new Error(`${e.label}: container exited with ${JSON.stringify(w)}`);
    return ms;
  } finally {
    await e.api.call('DELETE', `/containers/${id}?force=1`, undefined, [404]);
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const engines = await ctx.engines();
  const n = ctx.n(60, 10);
  const warmup = ctx.n(3, 1);
  for (const [mode, label] of [['none', '--network none'], ['default', 'default bridge']] as const) {
    const samples = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    for (const e of engines) for (let i = 0; i < warmup; i++) { ctx.check(); await cycle(e, mode); }
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) { ctx.check(); samples.get(e)!.push(await cycle(e, mode)); }
    }
    const of = (kind: string, p: number) => {
      const e = engines.find((x) => x.kind === kind);
      return e ? percentile(samples.get(e)!, p) : null;
    };
    for (const e of engines) {
      ctx.log(`${label}: ${e.label}: p50 ${percentile(samples.get(e)!, 50).toFixed(1)} ms, p95 ${percentile(samples.get(e)!, 95).toFixed(1)} ms (n=${n})`);
    }
    ctx.record({ metric: `create+start+wait \`true\`, ${label}: p50 (n=${n})`, unit: 'ms', barge: of('barge', 50), docker: of('docker', 50), target: { text: 'p50 ≤ 30 ms', max: 30 } });
    ctx.record({ metric: `create+start+wait \`true\`, ${label}: p95`, unit: 'ms', barge: of('barge', 95), docker: of('docker', 95) });
    ctx.data(mode === 'none' ? 'networkNone' : 'defaultBridge', Object.fromEntries(engines.map((e) => [e.kind, { ...summary(samples.get(e)!), samplesMs: samples.get(e)!.map((x) => Math.round(x * 100) / 100) }])));
  }
}
