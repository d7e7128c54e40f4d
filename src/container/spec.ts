// From a container record to what the runtime needs: the OCI spec of a start, the process of an
// exec, and the cgroup-based views (stats, top, OOM evidence).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { buildSpec, checkHostConfig, DEFAULT_SHM_SIZE, type DockerConfig, type DockerHostConfig, type OciSpec, type ExtraMount } from '../runtime/spec.js';
import { resolveUser, withHome } from '../runtime/user.js';
import { probeHost } from '../runtime/host.js';
import { cgroupsPathFor, readCgroupStats, readOomEvidence, listCgroupPids, removeCgroup as rmCgroup, readSystemCpuUsage } from '../runtime/cgroups.js';
import { invalid } from '../lib/errors.js';
import type { ContainerRecord } from './types.js';
import type { ExecConfig } from './exec.js';

export { signalNumber } from '../lib/signals.js';

export function cgroupPathFor(c: ContainerRecord): string {
  return cgroupsPathFor(c.Id, c.HostConfig.CgroupParent || '/barge');
}

export function oomKilled(cgroupsPath: string): boolean {
  try { return (readOomEvidence(cgroupsPath)?.oomKills ?? 0) > 0; } catch { return false; }
}

export function removeCgroup(cgroupsPath: string): void {
  void rmCgroup(cgroupsPath).catch(() => undefined);
}

/**
 * A new container's HostConfig, as dockerd treats it at create: checked against this host (throws Docker's
 * errors), given the defaults dockerd stores (MemorySwap twice Memory, ShmSize 64 MiB: `inspect` shows them),
 * and the warnings `docker create` prints returned.
 */
export function adaptHostConfig(hc: ContainerRecord['HostConfig']): string[] {
  const warnings = checkHostConfig(hc as DockerHostConfig, probeHost());
  if ((hc.Memory ?? 0) > 0 && !hc.MemorySwap) hc.MemorySwap = hc.Memory! * 2;
  if (!hc.ShmSize) hc.ShmSize = DEFAULT_SHM_SIZE;
  return warnings;
}

export interface MakeSpecInput { rootfs: string; netnsPath?: string; networkMode: 'host' | 'path'; mounts?: ExtraMount[] }

/** The OCI spec for starting container c (rootfs mounted at input.rootfs). */
export function makeSpec(c: ContainerRecord, input: MakeSpecInput): { spec: OciSpec; warnings: string[] } {
  const user = resolveUser(input.rootfs, c.Config.User, c.HostConfig.GroupAdd ?? []);
  let env = c.Config.Env ?? [];
  if (!env.some((e) => e.startsWith('PATH='))) env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env];
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env = [`HOSTNAME=${c.Config.Hostname}`, ...env];
  if (c.Config.Tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
  env = withHome(env, user.home);
  const network = input.networkMode === 'host' ? { mode: 'host' as const }
    : input.netnsPath ? { mode: 'path' as const, path: input.netnsPath } : { mode: 'new' as const };
  const r = buildSpec({
    config: c.Config as DockerConfig,
    hostConfig: c.HostConfig as DockerHostConfig,
    rootfs: input.rootfs,
    user,
    env,
    args: [c.Path, ...c.Args],
    cwd: c.Config.WorkingDir || '/',
    hostname: c.Config.Hostname || c.Id.slice(0, 12),
    etcFiles: { hosts: c.HostsPath, hostname: c.HostnamePath, resolvConf: c.ResolvConfPath },
    network,
    mounts: input.mounts,
    cgroupsPath: cgroupPathFor(c),
    host: probeHost(),
  });
  return { spec: r.spec, warnings: r.warnings };
}

/** The process.json of an exec: the container's own process settings, with the exec's command, env, user, cwd. */
export function execProcess(c: ContainerRecord, bundleConfig: string, rootfs: string, e: ExecConfig): Record<string, unknown> {
  const spec = JSON.parse(fs.readFileSync(bundleConfig, 'utf8')) as OciSpec;
  const base = spec.process as unknown as Record<string, unknown> & { env?: string[]; user?: unknown; capabilities?: Record<string, string[]> };
  let env = [...(base.env ?? [])];
  for (const kv of e.Env ?? []) {
    const k = kv.split('=')[0];
    env = env.filter((x) => x.split('=')[0] !== k);
    env.push(kv);
  }
  const proc: Record<string, unknown> = { ...base, args: e.Cmd, env, terminal: !!e.Tty, cwd: e.WorkingDir || base.cwd || '/' };
  delete proc.consoleSize;
  if (e.WorkingDir && !path.isAbsolute(e.WorkingDir)) throw invalid(`the working directory '${e.WorkingDir}' is invalid, it needs to be an absolute path`);
  if (e.User) {
    const u = resolveUser(rootfs, e.User, c.HostConfig.GroupAdd ?? []);
    proc.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    proc.env = withHome(env.filter((x) => !x.startsWith('HOME=')), u.home);
  }
  if (e.Privileged) {
    const all = probeHost().capabilities;
    proc.capabilities = { bounding: all, effective: all, permitted: all };
  }
  return proc;
}

/** Docker's stats JSON for a container; prev gives precpu_stats. */
export function containerStats(c: ContainerRecord, prev: Record<string, unknown> | undefined, networks?: Record<string, unknown>): Record<string, unknown> {
  const base = { name: c.Name, id: c.Id, read: new Date().toISOString(), preread: prev?.read ?? '0001-01-01T00:00:00Z', num_procs: 0 };
  if (!c.State.Running) {
    return { ...base, pids_stats: {}, blkio_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } }, precpu_stats: { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } }, memory_stats: {}, storage_stats: {} };
  }
  let s: Record<string, unknown>;
  try { s = readCgroupStats(cgroupPathFor(c)) as unknown as Record<string, unknown>; } catch { s = { cpu_stats: {}, memory_stats: {}, pids_stats: {}, blkio_stats: {} }; }
  const sys = readSystemCpuUsage();
  const cpu = { ...(s.cpu_stats as object), system_cpu_usage: sys.systemCpuUsage, online_cpus: sys.onlineCpus };
  const out: Record<string, unknown> = {
    ...base, read: (s.read as string) ?? base.read,
    pids_stats: s.pids_stats, blkio_stats: s.blkio_stats, num_procs: 0, storage_stats: {},
    cpu_stats: cpu,
    precpu_stats: prev?.cpu_stats ?? { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
    memory_stats: s.memory_stats,
  };
  if (networks) out.networks = networks;
  return out;
}

/** `top`: the host's ps output, keeping the rows of the container's processes. */
export function containerTop(c: ContainerRecord, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
  const pids = new Set(listCgroupPids(cgroupPathFor(c)));
  const args = psArgs.split(/\s+/).filter(Boolean);
  return new Promise((resolve, reject) => {
    execFile('ps', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) { reject(invalid(`Error running ps: ${String(stderr).trim() || err.message}`)); return; }
      const lines = String(stdout).split('\n').filter((l) => l.trim());
      const titles = lines[0]!.trim().split(/\s+/);
      const pidCol = titles.indexOf('PID');
      if (pidCol < 0) { reject(invalid(`Couldn't find PID field in ps output`)); return; }
      const procs: string[][] = [];
      for (const line of lines.slice(1)) {
        const f = line.trim().split(/\s+/);
        if (!pids.has(Number(f[pidCol]))) continue;
        const row = f.slice(0, titles.length - 1);
        row.push(f.slice(titles.length - 1).join(' '));
        procs.push(row);
      }
      resolve({ Titles: titles, Processes: procs });
    });
  });
}
