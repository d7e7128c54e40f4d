// Issue #4, volumes: create+start+wait of `true` with a named volume mounted (API, p50), and
// writing 200 MiB into a volume vs into the container's overlay root (one `run --rm`, docker CLI
// against each engine so that only the engines differ), barge vs Docker.
import type { BenchContext } from './lib/context.js';
import type { Engine } from './lib/engine.js';
import { percentile, timeProcess } from './lib/util.js';

export const name = 'volume';
export const description = 'start with a named volume (API p50); write 200 MiB into a volume vs the overlay root';
export const order = 45;

const VOL = `bench-vol-${process.pid}`;

async function cycle(e: Engine): Promise<number> {
  const t0 = performance.now();
  const c = await e.api.call('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none', Binds: [`${VOL}:/d`] } });
  const id = String(c.Id);
  try {
    await e.api.call('POST', `/containers/${id}/start`);
    const w = await e.api.call('POST', `/containers/${id}/wait`);
    if (w?.StatusCode !== 0) throw new Error(`${e.label}: exit ${JSON.stringify(w)}`);
    return performance.now() - t0;
  } finally {
    await e.api.call('DELETE', `/containers/${id}?force=1`, undefined, [404]);
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const engines = await ctx.engines();
  for (const e of engines) await e.api.call('POST', '/volumes/create', { Name: VOL });
  try {
    const n = ctx.n(30, 6);
    const samples = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    for (const e of engines) await cycle(e);
    for (let i = 0; i < n; i++) for (const e of i % 2 ? [...engines].reverse() : engines) { ctx.check(); samples.get(e)!.push(await cycle(e)); }
    const p50 = (k: string) => { const e = engines.find((x) => x.kind === k); return e ? percentile(samples.get(e)!, 50) : null; };
    ctx.record({ metric: `create+start+wait \`true\` with a named volume: p50 (n=${n})`, unit: 'ms', barge: p50('barge'), docker: p50('docker') });

    for (const [where, target] of [['a volume', '/d/f'], ['the overlay root', '/f']] as const) {
      const best = new Map<string, number>();
      for (let i = 0; i < ctx.n(3, 1); i++) {
        for (const e of engines) {
          ctx.check();
          const cli = e.dockerCli ?? e.ownCli;
          const t = await timeProcess([...cli.argv, 'run', '--rm', '--network', 'none', '-v', `${VOL}:/d`, 'busybox', 'sh', '-c', `dd if=/dev/zero of=${target} bs=1M count=200 conv=fsync 2>/dev/null && rm ${target}`], cli.env, 120_000);
          if (t.code !== 0) throw new Error(`${e.label}: write failed: ${t.stderr.trim()}`);
          best.set(e.kind, Math.min(best.get(e.kind) ?? Infinity, t.ms));
        }
      }
      ctx.record({ metric: `\`run --rm\` writing 200 MiB (fsync) into ${where}: best`, unit: 'ms', barge: best.get('barge') ?? null, docker: best.get('docker') ?? null });
    }
  } finally {
    for (const e of engines) await e.api.call('DELETE', `/volumes/${VOL}?force=1`, undefined, [404, 409]).catch(() => undefined);
  }
}
