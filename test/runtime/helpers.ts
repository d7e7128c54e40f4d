// Shared by the runtime tests: a busybox rootfs, a runc driver with its own state root, and a spec
// builder with defaults. Everything lives under one temporary directory per test process; container ids
// are prefixed rttest- and cgroups live under /rttest.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { probeHost } from '../../src/runtime/host.js';
import { buildSpec, specToJson, type BuildSpecInput, type BuildSpecResult, type DockerHostConfig } from '../../src/runtime/spec.js';
import { removeCgroup } from '../../src/runtime/cgroups.js';

export const RUNC = '/usr/sbin/runc';
export const BUSYBOX = fs.existsSync('/usr/bin/busybox') ? '/usr/bin/busybox' : '/bin/busybox';
export const haveRunc = fs.existsSync(RUNC) && process.getuid?.() === 0;

let work: string | undefined;
export function workDir(): string {
  if (!work) work = fs.mkdtempSync(path.join(os.tmpdir(), 'rttest-'));
  return work;
}

let rootfs: string | undefined;
/** A busybox rootfs (static busybox + applet links + passwd/group), built once per process. */
export function busyboxRootfs(): string {
  if (rootfs) return rootfs;
  const r = path.join(workDir(), 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root']) fs.mkdirSync(path.join(r, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(r, 'bin/busybox'));
  fs.chmodSync(path.join(r, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(r, 'bin', a));
  fs.writeFileSync(path.join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(path.join(r, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.chmodSync(path.join(r, 'tmp'), 0o1777);
  rootfs = r;
  return r;
}

let seq = 0;
export function uniqueId(tag: string): string {
  return `rttest-${tag}-${process.pid}-${++seq}`;
}

export function makeSpec(hostConfig: DockerHostConfig, args: string[], extra: Partial<BuildSpecInput> = {}, id = 'x'): BuildSpecResult {
  return buildSpec({
    config: {}, hostConfig, rootfs: busyboxRootfs(), user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], args, cwd: '/',
    hostname: 'rttest', network: { mode: 'new' }, cgroupsPath: `/rttest/${id}`, host: probeHost(), ...extra,
  });
}

function runcArgs(...args: string[]): string[] {
  return ['--root', path.join(workDir(), 'runc-state'), ...args];
}

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Write a bundle and `runc run` it in the foreground; `keep` leaves the container (and its cgroup) for inspection. */
export async function runContainer(id: string, res: BuildSpecResult, opts: { timeoutMs?: number; keep?: boolean } = {}): Promise<RunResult> {
  const bundle = path.join(workDir(), id);
  fs.mkdirSync(bundle, { recursive: true });
  fs.writeFileSync(path.join(bundle, 'config.json'), specToJson(res.spec));
  return new Promise((resolve, reject) => {
    const child = spawn(RUNC, runcArgs('run', ...(opts.keep ? ['--keep'] : []), '--bundle', bundle, id), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { try { execFileSync(RUNC, runcArgs('kill', id, 'KILL'), { stdio: 'ignore' }); } catch { /* gone */ } }, opts.timeoutMs ?? 10000);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** `runc run -d`: the container keeps running after this returns. */
export function startDetached(id: string, res: BuildSpecResult): void {
  const bundle = path.join(workDir(), id);
  fs.mkdirSync(bundle, { recursive: true });
  fs.writeFileSync(path.join(bundle, 'config.json'), specToJson(res.spec));
  execFileSync(RUNC, runcArgs('run', '-d', '--bundle', bundle, id), { stdio: 'ignore', timeout: 10000 });
}

export function runcState(id: string): { pid: number; status: string } {
  return JSON.parse(execFileSync(RUNC, runcArgs('state', id), { encoding: 'utf8' })) as { pid: number; status: string };
}

export async function deleteContainer(id: string): Promise<void> {
  try { execFileSync(RUNC, runcArgs('delete', '-f', id), { stdio: 'ignore', timeout: 10000 }); } catch { /* not there */ }
  await removeCgroup(`/rttest/${id}`);
}

/** Remove everything this process created (the /rttest parent cgroup only if nobody else uses it). */
export async function cleanup(): Promise<void> {
  if (work) {
    const state = path.join(work, 'runc-state');
    if (fs.existsSync(state)) {
      for (const id of fs.readdirSync(state)) await deleteContainer(id);
    }
    fs.rmSync(work, { recursive: true, force: true });
    work = undefined;
    rootfs = undefined;
  }
  for (const dir of ['/sys/fs/cgroup']) {
    for (const h of fs.readdirSync(dir)) {
      try { fs.rmdirSync(path.join(dir, h, 'rttest')); } catch { /* busy (another test process) or absent */ }
    }
    try { fs.rmdirSync(path.join(dir, 'rttest')); } catch { /* v2 layout, or busy */ }
  }
}
