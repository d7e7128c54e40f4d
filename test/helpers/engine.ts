// Small helpers the end-to-end engine tests share: polling, a pseudo-terminal driver, and the final
// check that a daemon left nothing on the host once its containers are gone.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { hostLeftovers, REPO, type TestDaemon } from './daemon.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll fn every 50 ms until it returns something truthy (returned); throw after timeoutMs. */
export async function until<T>(what: string, fn: () => T | undefined | false | null | Promise<T | undefined | false | null>, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The environment a user of this daemon's CLIs has (barge and docker both pointed at it). */
export function cliEnv(d: TestDaemon): Record<string, string> {
  return { ...process.env, BARGE_HOST: d.host, DOCKER_HOST: d.host, DOCKER_CONFIG: path.join(d.dir, 'docker-config') } as Record<string, string>;
}

/** One step of a terminal session (see test/helpers/pty.py). */
export type PtyStep =
  | { send: string }
  | { expect: string; timeout?: number; poke?: string; every?: number }
  | { resize: [number, number] }
  | { until: string[]; timeout?: number }
  | { sleep: number }
  | { wait: number };

export interface PtyResult { ok: boolean; error: string | null; exit: number | null; output: string; step: number }

/**
 * Run argv on a real pseudo-terminal of rows×cols and play the steps, as a user at a terminal would.
 * The command is never left running: the driver hangs it up (then kills it) when the steps end.
 */
export function runPty(d: TestDaemon, argv: string[], steps: PtyStep[], o: { rows?: number; cols?: number; timeoutMs?: number } = {}): Promise<PtyResult> {
  const driver = path.join(REPO, 'test/helpers/pty.py');
  return new Promise((resolve, reject) => {
    const c = spawn('python3', [driver, String(o.rows ?? 24), String(o.cols ?? 80), '--', ...argv], { env: cliEnv(d), stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (b) => { out += b; });
    const t = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(t);
      try { resolve(JSON.parse(out) as PtyResult); } catch { reject(new Error(`pty driver exited ${code}: ${out}`)); }
    });
    c.stdin.end(JSON.stringify(steps));
  });
}

/** The absolute path of the barge CLI, for host commands inside pty steps. */
export const BARGE_CMD = [process.execPath, path.join(REPO, 'bin/barge')];

/**
 * Remove every container of the daemon (as a user would, with the CLI), then check the host: no veth left
 * on its bridge, no mounts under its directory, no network namespaces, no bundles, no container dirs.
 */
export async function assertNothingLeft(d: TestDaemon): Promise<void> {
  for (const id of d.barge(['ps', '-aq']).stdout.split('\n').filter(Boolean)) {
    const r = d.barge(['rm', '-f', id]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(d.barge(['ps', '-aq']).stdout, '');
  await until('no veths on the bridge', () => hostLeftovers(d).links.length === 0 || undefined).catch(() => undefined);
  const left = hostLeftovers(d);
  assert.deepEqual(left.links, [], 'no veth left on the bridge');
  assert.deepEqual(left.mounts.filter((m) => !m.includes('/netns')), [], 'no mounts left under the daemon dir');
  assert.deepEqual(left.netns, [], 'no network namespaces left');
  const dirs = (p: string) => { try { return fs.readdirSync(p); } catch { return []; } };
  assert.deepEqual(dirs(path.join(d.execRoot, 'c')), [], 'no bundles left');
  assert.deepEqual(dirs(path.join(d.dataRoot, 'containers')), [], 'no container records left');
}

/** The stdout (trimmed) of a CLI run that must succeed; the assertion names the step and shows stderr. */
export function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}
