// Running the system tools the network subsystem drives (ip, iptables).
// Each run costs a fork and an exec (~2 ms for ip), so callers batch: one `ip -batch -` per step, fed on stdin.
import { ChildProcess, spawn } from 'node:child_process';
import { internal } from '../lib/errors.js';
import { runProgram, type RunResult } from '../host/helper.js';

export type { RunResult };

/**
 * Run a command (through bargehelper: no fork of barged), feeding `input` on stdin, inside the
 * network namespace file `netns` if given; resolves with its exit code and output (never rejects
 * on exit code).
 */
export function runRaw(cmd: string, args: string[], input?: string, netns?: string): Promise<RunResult> {
  return runProgram([cmd, ...args], { input, netns });
}

/** Run a command; rejects with an internal error carrying its stderr unless it exits 0. */
export async function run(cmd: string, args: string[], input?: string, netns?: string): Promise<string> {
  const r = await runRaw(cmd, args, input, netns);
  if (r.code !== 0) {
    const what = [cmd, ...args].join(' ');
    const detail = (r.stderr || r.stdout).trim().replace(/\s+/g, ' ');
    throw internal(`${what}: ${detail || `exit status ${r.code}`}${input ? ` (input: ${input.trim().replace(/\n/g, '; ')})` : ''}`);
  }
  return r.stdout;
}

/** `ip -batch -` with one command per line: a single spawn for a whole configuration step. */
export function ipBatch(lines: string[], opts: { force?: boolean } = {}): Promise<string> {
  return run('ip', [...(opts.force ? ['-force'] : []), '-batch', '-'], lines.join('\n') + '\n');
}

/**
 * A long-lived `ip -force -batch -` in the host namespace: a command costs ~0.2 ms instead of a
 * ~2 ms spawn. Requests are serialized; each is followed by a line that always fails in userspace
 * (an unknown ip object), and ip's "Command failed -:<line>" on (unbuffered) stderr for that
 * line marks the end of the request. Failures of the request's own lines are reported the same
 * way, so they are attributed by line number. If ip exits (some errors make it exit), the
 * request fails and the next one starts a new ip.
 *
 * Use it for quick commands only: a slow one (deleting a veth waits ~15 ms on RCU) would hold up
 * every request queued behind it.
 */
export class IpShell {
  static timeoutMs = 30_000;
  private child: ChildProcess | undefined;
  private line = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private pending: { marker: number; resolve: () => void; reject: (e: Error) => void; err: string } | undefined;

  run(lines: string[]): Promise<void> {
    const p = this.queue.then(() => this.send(lines));
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    c?.stdin?.end();
  }

  private start(): ChildProcess {
    const c = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.line = 0;
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (d: string) => this.onStderr(d));
    c.stdin!.on('error', () => { /* exit handled below */ });
    const gone = (why: string) => {
      if (this.child === c) this.child = undefined;
      const p = this.pending;
      if (p) { this.pending = undefined; p.reject(internal(`ip -batch: ${p.err.trim() || why}`)); }
    };
    c.on('error', (e) => gone(e.message));
    c.on('exit', (code, sig) => gone(`exited (${code ?? sig})`));
    c.unref();
    (c.stdin as unknown as { unref?: () => void }).unref?.();
    (c.stderr as unknown as { unref?: () => void }).unref?.();
    this.child = c;
    return c;
  }

  private send(lines: string[]): Promise<void> {
    for (const l of lines) if (l.includes('\n')) throw internal('ip -batch: one command per line');
    const c = this.child ?? this.start();
    return new Promise<void>((resolve, reject) => {
      this.line += lines.length + 1;
      c.ref();  // keep the event loop alive while a request is out; unref()ed when idle
      // ip never takes long for the quick commands sent here: a stuck one is killed.
      const timer = setTimeout(() => c.kill('SIGKILL'), IpShell.timeoutMs);
      const done = () => { clearTimeout(timer); if (this.child) this.child.unref(); };
      this.pending = { marker: this.line, resolve: () => { done(); resolve(); }, reject: (e) => { done(); reject(e); }, err: '' };
      c.stdin!.write(lines.join('\n') + '\nbarge-sync\n');
    });
  }

  private onStderr(d: string): void {
    const p = this.pending;
    if (!p) return;
    p.err += d;
    const end = `Command failed -:${p.marker}\n`;
    const at = p.err.indexOf(end);
    if (at < 0) return;
    this.pending = undefined;
    // Everything before the marker's own message belongs to the request's lines.
    const own = p.err.slice(0, at).replace(/Object "barge-sync" is unknown, try "ip help"\.\n$/, '');
    if (/Command failed -:\d+/.test(own)) p.reject(internal(`ip: ${own.trim().replace(/\s*\n\s*/g, '; ')}`));
    else p.resolve();
  }
}
