// Small helpers shared by the benchmarks: processes, statistics, formatting, paths.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/bench/lib/). */
export const REPO = path.resolve(here, '../../..');
export const BARGE_BIN = path.join(REPO, 'bin/barge');
export const BARGED_BIN = path.join(REPO, 'bin/barged');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Sh { code: number; stdout: string; stderr: string }

/** Runs a command to completion (never through a shell), with a timeout. */
export function sh(cmd: string, args: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): Sh {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: o.timeoutMs ?? 60_000, env: o.env, input: o.input, maxBuffer: 64 << 20 });
  const err = r.error ? `${r.error.message}\n` : '';
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: err + (r.stderr ?? '') };
}

/** The full path of an executable on PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir, name);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

/**
 * Spawns a process and waits for it, hyperfine-style: wall time from spawn to exit, output
 * discarded (kept only for error messages). Kills it after timeoutMs.
 */
export function timeProcess(argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<{ ms: number; code: number; stderr: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (b: Buffer) => { if (stderr.length < 4000) stderr += b.toString(); });
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', (e) => { stderr += e.message; });
    c.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, code: code ?? (sig ? 128 : 1), stderr });
    });
  });
}

/** Whether a process exists and is not a zombie (this host's init does not always reap them). */
export function isAlive(pid: number): boolean {
  if (!pid) return false;
  try { process.kill(pid, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false; }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

export function readPid(file: string): number {
  try { return Number(fs.readFileSync(file, 'utf8').trim()) || 0; } catch { return 0; }
}

/** SIGTERM a process, then SIGKILL it if it has not gone after graceMs. */
export async function terminate(pid: number, graceMs = 15_000): Promise<void> {
  if (!isAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return;
    await sleep(50);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  await sleep(100);
}

// ---- statistics ----

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  // Linear interpolation between closest ranks (like numpy's default).
  const pos = (s.length - 1) * (p / 100);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
export const median = (xs: number[]) => percentile(xs, 50);
export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export function stddev(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** Summary kept in results JSON next to each series of samples. */
export function summary(xs: number[]) {
  return {
    n: xs.length,
    min: round(Math.min(...xs)), p50: round(median(xs)), p95: round(percentile(xs, 95)), max: round(Math.max(...xs)),
    mean: round(mean(xs)), sd: round(stddev(xs)),
  };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---- host facts ----

/** Fields of /proc/meminfo, in KiB. */
export function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of fs.readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\S+):\s+(\d+)/.exec(l);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

export function memAvailableKiB(): number { return meminfo().MemAvailable ?? 0; }
