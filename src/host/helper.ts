// Host operations through bargehelper (bargehelper.c): mount, umount, new network namespaces, and
// running programs, without forking barged (each fork of the Node.js process blocks its event loop
// for 2-3 ms; mount(8) and friends cost as much again to start).
//
// barged calls useHelper() once at start. Without it (unit tests, or the helper binary missing)
// every operation falls back to the tools: mount(8), umount(8), unshare(1) and a spawn of the
// program, with the same results. A helper that dies is started again by the next operation.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import { internal } from '../lib/errors.js';
import { log } from '../lib/log.js';

const { EBUSY, EINVAL, ENOENT } = constants.errno;
const MNT_DETACH = 2;

export interface RunResult { code: number; stdout: string; stderr: string }

export interface RunOptions {
  /** Fed on stdin (no NUL bytes). */
  input?: string;
  /** A network namespace file the program runs in. */
  netns?: string;
  /** A session of its own (detached from barged's terminal and process group). */
  setsid?: boolean;
}

let binary: string | undefined;
let proc: ChildProcess | undefined;
let nextId = 1;
const pending = new Map<string, (fields: string[]) => void>();
let inbuf: Buffer = Buffer.alloc(0);

/** Send host operations through the helper at `path` from now on (when it is there). */
export function useHelper(path: string): void {
  if (fs.existsSync(path)) binary = path;
  else log.warn('bargehelper not found: host operations will spawn tools', { path });
}

/** Stop the helper (daemon shutdown). */
export function stopHelper(): void {
  proc?.stdin?.end();
  proc = undefined;
  binary = undefined;
}

function helper(): ChildProcess | undefined {
  if (!binary) return undefined;
  if (proc) return proc;
  const p = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  proc = p;
  inbuf = Buffer.alloc(0);
  p.stdout!.on('data', (d: Buffer) => {
    inbuf = inbuf.length ? Buffer.concat([inbuf, d]) : d;
    while (inbuf.length >= 4) {
      const len = inbuf.readUInt32LE(0);
      if (inbuf.length < 4 + len) break;
      const fields = inbuf.subarray(4, 4 + len).toString('utf8').split('\0');
      inbuf = inbuf.subarray(4 + len);
      const done = pending.get(fields[0]!);
      pending.delete(fields[0]!);
      done?.(fields);
    }
  });
  p.stdin!.on('error', () => { /* it died: 'exit' below fails what is pending */ });
  p.on('error', (e) => log.warn('bargehelper failed', { error: e.message }));
  p.on('exit', (code, signal) => {
    if (proc === p) proc = undefined;
    if (binary) log.warn('bargehelper exited', { code, signal });
    // Answers that will never come: the callers retry by spawning the tool themselves.
    for (const [id, done] of [...pending]) { pending.delete(id); done([]); }
  });
  // Not keeping barged alive by itself: referenced only while an answer is awaited (see request).
  refHelper(p, false);
  return p;
}

/** One request; resolves with [status, out, err], or undefined when no helper answered. */
function request(op: string, args: string[]): Promise<[number, string, string] | undefined> {
  const p = helper();
  if (!p) return Promise.resolve(undefined);
  const id = String(nextId++);
  const payload = Buffer.from([id, op, ...args].map((a) => a + '\0').join(''), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(payload.length, 0);
  if (pending.size === 0) refHelper(p, true);
  return new Promise((resolve) => {
    pending.set(id, (f) => {
      if (pending.size === 0 && proc === p) refHelper(p, false);
      resolve(f.length >= 4 ? [Number(f[1]), f[2]!, f[3]!] : undefined);
    });
    p.stdin!.write(Buffer.concat([head, payload]));
  });
}

function refHelper(p: ChildProcess, on: boolean): void {
  for (const h of [p, p.stdin, p.stdout] as unknown as { ref?(): void; unref?(): void }[]) {
    if (on) h?.ref?.(); else h?.unref?.();
  }
}

/** The failure of a host operation: the helper's errno text, or the tool's stderr. */
function opError(what: string, message: string): Error {
  return internal(`${what}: ${message.trim()}`);
}

/** mount(2) of an overlay (or any filesystem) on `target`, run from `cwd` (relative lowerdirs). */
export async function mountFs(o: { cwd: string; source: string; target: string; fstype: string; data: string }): Promise<void> {
  const r = await request('mount', [o.cwd, o.source, o.target, o.fstype, '0' /* flags */, o.data]);
  if (r) {
    if (r[0] !== 0) throw opError(`mount ${o.fstype} on ${o.target}`, r[2]);
    return;
  }
  const t = await spawnProgram(['mount', '-t', o.fstype, o.source, '-o', o.data, o.target], { cwd: o.cwd });
  if (t.code !== 0) throw opError(`mount ${o.fstype} on ${o.target}`, t.stderr);
}

/**
 * Unmounts `target`. Resolves false when it was not mounted (or is gone); a busy mount is
 * detached lazily (it goes once its last user does).
 */
export async function unmountFs(target: string): Promise<boolean> {
  let r = await request('umount', [target, '0']);
  if (r && r[0] === EBUSY) r = await request('umount', [target, String(MNT_DETACH)]);
  if (r) {
    if (r[0] === 0) return true;
    if (r[0] === EINVAL || r[0] === ENOENT) return false;
    throw opError(`umount ${target}`, r[2]);
  }
  let t = await spawnProgram(['umount', target]);
  if (t.code !== 0 && /busy/i.test(t.stderr)) t = await spawnProgram(['umount', '-l', target]);
  if (t.code === 0) return true;
  if (/not mounted|no mount point specified|not found|No such file/i.test(t.stderr)) return false;
  throw opError(`umount ${target}`, t.stderr);
}

/** A new network namespace (lo up) bind-mounted on `file`, which must exist. */
export async function createNetns(file: string): Promise<void> {
  const r = await request('netns', [file]);
  if (r) {
    if (r[0] !== 0) throw opError(`network namespace ${file}`, r[2]);
    return;
  }
  const t = await spawnProgram(['unshare', `--net=${file}`, 'ip', 'link', 'set', 'lo', 'up']);
  if (t.code !== 0) throw opError(`network namespace ${file}`, t.stderr);
}

/** Runs a program (PATH lookup) to its end; never rejects on its exit status. */
export async function runProgram(argv: string[], o: RunOptions = {}): Promise<RunResult> {
  const input = o.input ?? '';
  if (!input.includes('\0')) {
    const r = await request('run', [o.netns ?? '', o.setsid ? '1' : '0', input, ...argv]);
    if (r) return { code: r[0], stdout: r[1], stderr: r[2] };
  }
  return spawnProgram(argv, o);
}

/** The same by a spawn of barged's own (no helper); `cwd` for mount(8). */
function spawnProgram(argv: string[], o: RunOptions & { cwd?: string } = {}): Promise<RunResult> {
  const [cmd, args] = o.netns ? ['nsenter', [`--net=${o.netns}`, ...argv]] : [argv[0]!, argv.slice(1)];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: o.cwd, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: !!o.setsid });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `cannot run ${cmd}: ${e.message}` }));
    child.on('close', (code, signal) => resolve({
      code: code ?? (signal ? 128 : 1),
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    }));
    if (o.input !== undefined) {
      child.stdin!.on('error', () => { /* the tool exited early: its exit code tells */ });
      child.stdin!.end(o.input);
    }
  });
}
