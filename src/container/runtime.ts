// The OCI runtime command line (runc): the verbs barged itself calls. Starting a container is the
// monitor's job (it runs `runc run -d` as its own child so it can reap the container).
import { execFile } from 'node:child_process';
import { internal } from '../lib/errors.js';

export interface RuntimeOptions { binary: string; root: string }

export class Runc {
  constructor(readonly opts: RuntimeOptions) {}

  private run(args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(this.opts.binary, ['--root', this.opts.root, ...args], { timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  }

  private async must(args: string[], what: string): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw internal(`${what} failed: ${runcMessage(r.stderr || r.stdout)}`);
    return r.stdout;
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.must(['kill', ...(all ? ['--all'] : []), id, signal], 'runc kill');
  }

  async pause(id: string): Promise<void> { await this.must(['pause', id], 'runc pause'); }
  async resume(id: string): Promise<void> { await this.must(['resume', id], 'runc resume'); }

  /** Delete the runtime's state of a stopped container (force: kill it first if still running). Missing is fine. */
  async delete(id: string, force = false): Promise<void> {
    const r = await this.run(['delete', ...(force ? ['--force'] : []), id]);
    if (r.code !== 0 && !/does not exist|not found/i.test(r.stderr)) throw internal(`runc delete failed: ${runcMessage(r.stderr)}`);
  }

  async state(id: string): Promise<{ status: string; pid: number } | null> {
    const r = await this.run(['state', id]);
    if (r.code !== 0) return null;
    try { const s = JSON.parse(r.stdout) as { status: string; pid: number }; return s; } catch { return null; }
  }
}

/** runc prints `time=... level=error msg="..."`; keep the message. */
export function runcMessage(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  if (m) { try { return JSON.parse(`"${m[1]}"`) as string; } catch { return m[1]!; } }
  return last;
}
