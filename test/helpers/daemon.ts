// A real barged for a test: its own data root, exec root, socket, pidfile, bridge and subnet, so
// tests never clash with each other or with a system barged. Drives it with the real barge and
// docker CLIs and with raw API calls.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../../..');
export const BARGE = path.join(REPO, 'bin/barge');
export const BARGED = path.join(REPO, 'bin/barged');

export interface RunResult { code: number; stdout: string; stderr: string }

export interface TestDaemon {
  dir: string; sock: string; host: string; dataRoot: string; execRoot: string; bridge: string; bip: string; logFile: string;
  barge(args: string[], o?: { input?: string | Buffer; timeoutMs?: number; env?: Record<string, string> }): RunResult;
  bargeAsync(args: string[], o?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  docker(args: string[], o?: { input?: string | Buffer; timeoutMs?: number }): RunResult;
  api(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; text: string; headers: http.IncomingHttpHeaders }>;
  /** Stop barged with SIGTERM (containers keep running). */
  stop(): Promise<void>;
  /** SIGKILL barged. */
  kill9(): Promise<void>;
  /** Stop barged if it runs (SIGTERM), then start it again on the same roots. */
  restart(): Promise<void>;
  /** Remove every container, stop barged, remove bridge, rules, mounts and files. */
  cleanup(): Promise<void>;
  log(): string;
}

export function pickSubnet(): string {
  // 10.1xx.yyy.0/24, avoiding subnets already routed on this host.
  const routes = spawnSync('ip', ['-4', 'route'], { encoding: 'utf8' }).stdout;
  for (;;) {
    const b = randomBytes(2);
    const net = `10.${100 + (b[0]! % 100)}.${b[1]!}`;
    if (!routes.includes(`${net}.`)) return `${net}.1/24`;
  }
}

export async function startDaemon(o: { extraArgs?: string[] } = {}): Promise<TestDaemon> {
  const dir = fs.mkdtempSync('/tmp/bt-');
  const sock = path.join(dir, 's');
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'run');
  const bridge = 'bt' + randomBytes(3).toString('hex');
  const bip = pickSubnet();
  const logFile = path.join(dir, 'barged.log');
  const host = `unix://${sock}`;
  let child: ChildProcess | null = null;
  // A child that exited or was killed by a signal has one of these set; exitCode alone misses SIGKILL.
  const running = (c: ChildProcess | null): boolean => c !== null && c.exitCode === null && c.signalCode === null;

  const launch = async () => {
    if (running(child)) throw new Error('barged is still running: stop() or kill9() it first');
    // barged refuses a --config-file that does not exist: give it an empty one unless a test wrote its own.
    if (!fs.existsSync(path.join(dir, 'daemon.json'))) fs.writeFileSync(path.join(dir, 'daemon.json'), '{}\n');
    const out = fs.openSync(logFile, 'a');
    child = spawn(BARGED, ['--data-root', dataRoot, '--exec-root', execRoot, '-H', host, '--pidfile', path.join(dir, 'barged.pid'),
      '--bridge', bridge, '--bip', bip, '--log-level', 'debug', '--config-file', path.join(dir, 'daemon.json'), ...(o.extraArgs ?? [])],
    { stdio: ['ignore', out, out], detached: false });
    fs.closeSync(out);
    const started = Date.now();
    for (;;) {
      if (!running(child)) throw new Error(`barged exited with ${child.exitCode ?? child.signalCode}:\n${fs.readFileSync(logFile, 'utf8')}`);
      try { const r = await api('GET', '/_ping'); if (r.status === 200) return; } catch { /* not yet */ }
      if (Date.now() - started > 20_000) throw new Error(`barged did not answer within 20s:\n${fs.readFileSync(logFile, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const api: TestDaemon['api'] = (method, p, body, headers) => new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({ socketPath: sock, method, path: p, headers: { ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}), ...(headers ?? {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = undefined;
        try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
        resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });

  const env = { ...process.env, BARGE_HOST: host, DOCKER_HOST: host, DOCKER_CONFIG: path.join(dir, 'docker-config'), BARGE_CONFIG: process.env.BARGE_CONFIG || path.join(dir, 'barge-config') } as Record<string, string>;
  const runCli = (bin: string[], args: string[], o2: { input?: string | Buffer; timeoutMs?: number; env?: Record<string, string> } = {}): RunResult => {
    const r = spawnSync(bin[0]!, [...bin.slice(1), ...args], { input: o2.input, env: { ...env, ...(o2.env ?? {}) }, timeout: o2.timeoutMs ?? 60_000, encoding: 'utf8', maxBuffer: 64 << 20 });
    return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };

  const d: TestDaemon = {
    dir, sock, host, dataRoot, execRoot, bridge, bip, logFile,
    barge: (args, o2) => runCli([process.execPath, BARGE], args, o2),
    bargeAsync: (args, o2 = {}) => new Promise((resolve) => {
      const c = spawn(process.execPath, [BARGE, ...args], { env });
      let stdout = ''; let stderr = '';
      c.stdout.on('data', (b) => { stdout += b; });
      c.stderr.on('data', (b) => { stderr += b; });
      const t = setTimeout(() => c.kill('SIGKILL'), o2.timeoutMs ?? 60_000);
      c.on('close', (code, sig) => { clearTimeout(t); resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr }); });
      c.stdin.end(o2.input);
    }),
    docker: (args, o2) => runCli(['docker', '-H', host], args, o2),
    api,
    stop: async () => {
      const c = child as ChildProcess | null;
      if (!c || !running(c)) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    },
    kill9: async () => {
      const c = child as ChildProcess | null;
      if (!c || !running(c)) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    // Stops a barged still running first: a second one would find the first's pid file and exit,
    // while the first answered the pings, and outlived the test (its process then never ended).
    restart: async () => { await d.stop(); await launch(); },
    cleanup: async () => {
      try {
        const c = child as ChildProcess | null;
        if (running(c)) {
          const list = await api('GET', '/containers/json?all=1');
          for (const ct of (list.body ?? []) as { Id: string }[]) await api('DELETE', `/containers/${ct.Id}?force=1&v=1`);
          const nets = await api('GET', '/networks');
          for (const n of (nets.body ?? []) as { Id: string; Name: string }[]) {
            if (!['bridge', 'host', 'none'].includes(n.Name)) await api('DELETE', `/networks/${n.Id}`);
          }
        }
      } catch { /* daemon gone */ }
      await d.stop();
      // Whatever is left (a test that failed half-way): kill monitors and containers of this root.
      spawnSync('sh', ['-c', `for p in $(pgrep -f '${execRoot}'); do kill -9 $p; done; true`]);
      const runcRoot = path.join(execRoot, 'runc');
      if (fs.existsSync(runcRoot)) {
        for (const id of fs.readdirSync(runcRoot)) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
      }
      const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/')).reverse();
      for (const m of mounts) spawnSync('umount', ['-l', m]);
      spawnSync('ip', ['link', 'del', bridge]);
      cleanupIptables(bridge);
      // User networks' bridges that a failed test left behind.
      for (const b of userBridges(dataRoot)) { spawnSync('ip', ['link', 'del', b]); cleanupIptables(b); }
      fs.rmSync(dir, { recursive: true, force: true });
    },
    log: () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } },
  };
  await launch();
  return d;
}

/** The bridges of the user networks recorded under a data root. */
export function userBridges(dataRoot: string): string[] {
  const dir = path.join(dataRoot, 'network', 'networks');
  let names: string[] = [];
  try { names = fs.readdirSync(dir); } catch { return []; }
  const out: string[] = [];
  for (const n of names) {
    try { const b = JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')).bridge; if (typeof b === 'string') out.push(b); } catch { /* partial */ }
  }
  return out;
}

/** Remove any iptables rules and chains that mention this bridge (barge names its chains after it). */
export function cleanupIptables(bridge: string): void {
  for (const table of ['filter', 'nat']) {
    const rules = spawnSync('iptables', ['-t', table, '-S'], { encoding: 'utf8' }).stdout.split('\n');
    for (const r of rules) {
      if (r.startsWith('-A ') && r.includes(bridge)) spawnSync('sh', ['-c', `iptables -t ${table} ${r.replace(/^-A/, '-D')}`]);
    }
    for (const r of rules) {
      if (r.startsWith('-N ') && r.includes(bridge)) {
        const chain = r.slice(3).trim();
        spawnSync('iptables', ['-t', table, '-F', chain]);
        spawnSync('iptables', ['-t', table, '-X', chain]);
      }
    }
  }
}

/** Things on the host that must not be left behind: links, mounts, runc state, cgroups, rules. */
export function hostLeftovers(d: TestDaemon): { links: string[]; mounts: string[]; netns: string[] } {
  const links = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`master ${d.bridge} `));
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(d.dir + '/'));
  let netns: string[] = [];
  try { netns = fs.readdirSync(path.join(d.execRoot, 'netns')); } catch { netns = []; }
  return { links, mounts, netns };
}
