// Issue #2, workload 1: create+start+wait of `true` through the Engine API, with no network and
// with the default bridge. Each iteration times POST /containers/create, POST .../start and POST
// .../wait (until exit), then removes the container untimed. barge and Docker alternate run by run
// (and which goes first), so a busy neighbour on the host slows both alike.
// Then the floor under barge's figure: runc alone, `runc run` of `true` in a bundle made from the
// spec barged wrote for a container (Docker's seccomp profile, cgroups, namespaces), with and
// without its seccomp profile, spawned from this process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { BenchContext } from './lib/context.js';
import type { Engine } from './lib/engine.js';
import { percentile, sh, summary, which } from './lib/util.js';

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

/** Times `runc run` of `true` in a bundle from barged's own spec of a container; null if that cannot be done. */
async function runcAlone(ctx: BenchContext, e: Engine, n: number): Promise<{ seccomp: number[]; plain: number[] } | null> {
  const execRoot = (e as Engine & { execRoot?: string }).execRoot;
  const runc = which('runc');
  if (!execRoot || !runc) return null;
  const dir = ctx.run.path('runc-alone');
  const rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  const c = await e.api.call('POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '1000'], HostConfig: { NetworkMode: 'none' } });
  const id = String(c.Id);
  let spec: any;
  try {
    await e.api.call('POST', `/containers/${id}/start`);
    spec = JSON.parse(fs.readFileSync(path.join(execRoot, 'c', id, 'config.json'), 'utf8'));
    const tar = path.join(dir, 'rootfs.tar');
    const x = sh(e.ownCli.argv[0]!, [...e.ownCli.argv.slice(1), 'export', '-o', tar, id], { env: e.ownCli.env });
    if (x.code !== 0 || sh('tar', ['-xf', tar, '-C', rootfs]).code !== 0) return null;
  } finally {
    await e.api.call('DELETE', `/containers/${id}?force=1`, undefined, [404]);
  }
  spec.root = { path: rootfs, readonly: false };
  spec.process.args = ['true'];
  spec.process.terminal = false;
  spec.linux.namespaces = spec.linux.namespaces.map((ns: { type: string }) => (ns.type === 'network' ? { type: 'network' } : ns));
  // The container's own files (hosts, resolv.conf...) went with it.
  spec.mounts = spec.mounts.filter((m: { type?: string; source?: string }) => m.type !== 'bind' || fs.existsSync(String(m.source)));
  delete spec.hooks;
  const cgroupParent = path.posix.dirname(String(spec.linux.cgroupsPath ?? '/barge/x'));
  const seccomp = spec.linux.seccomp;
  const state = path.join(dir, 'state');
  const one = async (i: number, withSeccomp: boolean): Promise<number> => {
    spec.linux.cgroupsPath = path.posix.join(cgroupParent, `runc-alone-${i}`);
    if (withSeccomp) spec.linux.seccomp = seccomp; else delete spec.linux.seccomp;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
    const t0 = performance.now();
    const child = spawn(runc, ['--root', state, 'run', '--bundle', dir, `runc-alone-${i}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    if (code !== 0) throw new Error(`runc run of true failed (${code}): ${err.trim()}`);
    return performance.now() - t0;
  };
  const out = { seccomp: [] as number[], plain: [] as number[] };
  for (let i = 0; i < n; i++) {
    ctx.check();
    out.seccomp.push(await one(2 * i, true));
    out.plain.push(await one(2 * i + 1, false));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
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
  const barge = engines.find((e) => e.kind === 'barge');
  const alone = barge ? await runcAlone(ctx, barge, n) : null;
  if (alone) {
    const p50 = percentile(alone.seccomp, 50);
    ctx.log(`runc alone (barge's spec): p50 ${p50.toFixed(1)} ms with the seccomp profile, ${percentile(alone.plain, 50).toFixed(1)} ms without (n=${n})`);
    ctx.record({ metric: `  runc alone: \`runc run\` of \`true\`, barge's spec: p50`, unit: 'ms', barge: p50, docker: null });
    ctx.record({ metric: `  runc alone, without the seccomp profile: p50`, unit: 'ms', barge: percentile(alone.plain, 50), docker: null });
    ctx.note(`The API figures include runc's own run (${p50.toFixed(1)} ms p50 here; ${percentile(alone.plain, 50).toFixed(1)} ms without Docker's seccomp profile): a p50 of 30 ms cannot be reached with runc on this machine.`);
    ctx.data('runcAlone', { seccomp: summary(alone.seccomp), plain: summary(alone.plain) });
  }
}
