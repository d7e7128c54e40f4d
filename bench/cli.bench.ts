// Issue #2, workload 2: `barge run --rm busybox true` end to end, as a user sees it (the CLI
// process from spawn to exit, hyperfine-style), against `docker run --rm busybox true`. Also the
// same docker CLI against both engines, which separates the engine from the CLI's own start-up.
// Runs alternate between the engines, after warm-up runs.
import type { BenchContext } from './lib/context.js';
import type { CliCommand, Engine } from './lib/engine.js';
import { median, summary, timeProcess } from './lib/util.js';

export const name = 'cli';
export const description = '`barge run --rm busybox true` vs `docker run --rm busybox true` (process wall time): median';
export const order = 20;

const ARGS = ['run', '--rm', 'busybox', 'true'];

async function once(cli: CliCommand): Promise<number> {
  const r = await timeProcess([...cli.argv, ...ARGS], cli.env, 60_000);
  if (r.code !== 0) throw new Error(`${cli.label}: \`${ARGS.join(' ')}\` exited with ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  return r.ms;
}

/** Times `cmds` (one per engine) alternately: n runs each after `warmup` untimed ones. */
async function measure(ctx: BenchContext, cmds: [Engine, CliCommand][], n: number, warmup: number): Promise<Map<Engine, number[]>> {
  const out = new Map<Engine, number[]>(cmds.map(([e]) => [e, []]));
  for (const [, c] of cmds) for (let i = 0; i < warmup; i++) { ctx.check(); await once(c); }
  for (let i = 0; i < n; i++) {
    const order = i % 2 === 0 ? cmds : [...cmds].reverse();
    for (const [e, c] of order) { ctx.check(); out.get(e)!.push(await once(c)); }
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<void> {
  const engines = await ctx.engines();
  const barge = engines.find((e) => e.kind === 'barge')!;
  const docker = engines.find((e) => e.kind === 'docker');
  const n = ctx.n(25, 5);
  const warmup = ctx.n(2, 1);

  // Does `barge run` exist yet? If not, the docker CLI drives barged instead (and says so).
  let bargeCli: CliCommand | null = barge.ownCli;
  const probe = await timeProcess([...barge.ownCli.argv, ...ARGS], barge.ownCli.env, 60_000);
  let fallbackNote: string | undefined;
  if (probe.code !== 0) {
    const why = probe.stderr.trim().split('\n')[0] ?? `exit ${probe.code}`;
    bargeCli = barge.dockerCli;
    fallbackNote = `\`barge run\` is not usable yet (${why}); the barge column is the docker CLI driving barged instead (Go CLI start-up, not barge's)`;
    if (!bargeCli) throw new Error(`\`barge run\` failed (${why}) and there is no docker CLI to drive barged instead`);
    ctx.note(fallbackNote);
    ctx.log(fallbackNote);
  }

  const own: [Engine, CliCommand][] = [[barge, bargeCli!]];
  if (docker) own.push([docker, docker.ownCli]);
  const s1 = await measure(ctx, own, n, warmup);
  const med = (m: Map<Engine, number[]>, e?: Engine) => (e && m.get(e) ? median(m.get(e)!) : null);
  ctx.record({
    metric: `${fallbackNote ? '(fallback: docker CLI→barged) ' : ''}\`barge run --rm busybox true\` vs \`docker run --rm ...\`: median (n=${n})`,
    unit: 'ms', barge: med(s1, barge), docker: med(s1, docker), target: { text: '≤ 0.4× Docker', maxRatio: 0.4 }, uncertain: !!fallbackNote,
  });
  ctx.data('ownCli', {
    barge: { cli: fallbackNote ? 'docker CLI (fallback)' : 'barge CLI', argv: [...bargeCli!.argv, ...ARGS].join(' '), ...summary(s1.get(barge)!), samplesMs: s1.get(barge)!.map(Math.round) },
    ...(docker ? { docker: { cli: 'docker CLI', argv: [...docker.ownCli.argv, ...ARGS].join(' '), ...summary(s1.get(docker)!), samplesMs: s1.get(docker)!.map(Math.round) } } : {}),
  });

  // The same (docker) CLI against both engines: the engines alone.
  if (!fallbackNote && barge.dockerCli && (!docker || docker.dockerCli)) {
    const same: [Engine, CliCommand][] = [[barge, barge.dockerCli]];
    if (docker) same.push([docker, docker.dockerCli!]);
    const s2 = await measure(ctx, same, n, warmup);
    ctx.record({ metric: `\`docker run --rm busybox true\` (same docker CLI → each engine): median`, unit: 'ms', barge: med(s2, barge), docker: med(s2, docker) });
    ctx.data('dockerCliBoth', Object.fromEntries([...s2].map(([e, xs]) => [e.kind, { ...summary(xs), samplesMs: xs.map(Math.round) }])));
  }
}
