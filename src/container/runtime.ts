// The OCI runtime command line (runc): the verbs barged itself calls. Starting a container is the
// monitor's job (it runs `runc run -d` as its own child so it can reap the container).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
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

  /**
   * Delete the state of a container whose processes are all gone, without a runc process: what
   * `runc delete` does then is remove the cgroup directories recorded in its state file and the
   * state directory (no hooks are configured). That spawn is on the path of every exit. Anything
   * unexpected (a cgroup still busy, no state file) falls back to `runc delete --force`.
   */
  async deleteStopped(id: string): Promise<void> {
    const dir = path.join(this.opts.root, id);
    let paths: string[];
    try {
      const st = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { cgroup_paths?: Record<string, string> };
      paths = Object.values(st.cgroup_paths ?? {});
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(dir)) return;
      return this.delete(id, true);
    }
    for (let attempt = 0; ; attempt++) {
      const busy = paths.filter((p) => {
        try { fs.rmdirSync(p); return false; } catch (e) { return (e as NodeJS.ErrnoException).code !== 'ENOENT'; }
      });
      if (busy.length === 0) break;
      // The kernel may still be reaping the last processes of the pid namespace.
      if (attempt >= 20) return this.delete(id, true);
      await new Promise((r) => setTimeout(r, 5));
      paths = busy;
    }
    fs.rmSync(dir, { recursive: true, force: true });
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
