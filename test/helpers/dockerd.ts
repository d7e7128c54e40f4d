// Debian's dockerd (docker.io, Engine 20.10) on a private socket and roots, for interop tests; stopped
// (with its containerd and shims) and removed by stop(). Returns the reason as a string where it
// cannot run here, so the caller can skip with it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface Dockerd {
  dir: string; sock: string; child: ChildProcess;
  /** The docker CLI against this dockerd (with an optional private DOCKER_CONFIG). */
  docker(args: string[], o?: { input?: string; config?: string }): { code: number; stdout: string; stderr: string };
  stop(): Promise<void>;
}

export async function startDockerd(extraArgs: string[] = []): Promise<Dockerd | string> {
  if (spawnSync('sh', ['-c', 'command -v dockerd']).status !== 0) return 'dockerd is not installed (apt-get install docker.io)';
  const dir = fs.mkdtempSync('/tmp/bdk-');
  const sock = path.join(dir, 'docker.sock');
  fs.writeFileSync(path.join(dir, 'daemon.json'), '{}\n');
  const log = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  const child = spawn('dockerd', ['-H', `unix://${sock}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'pid'), '--bridge', 'none', '--iptables=false', '--ip6tables=false', '--config-file', path.join(dir, 'daemon.json'), ...extraArgs],
  { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const docker: Dockerd['docker'] = (args, o = {}) => {
    const r = spawnSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8', input: o.input, maxBuffer: 64 << 20, timeout: 120_000,
      env: { ...process.env, DOCKER_CONFIG: o.config ?? path.join(dir, 'cli-config') } });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    // containerd (and its shims) started by this dockerd live under its exec root.
    spawnSync('sh', ['-c', `for p in $(pgrep -f '${dir}/'); do kill -9 $p; done; true`]);
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/')).reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const started = Date.now();
  while (Date.now() - started < 30_000) {
    if (child.exitCode !== null) break;
    if (spawnSync('docker', ['-H', `unix://${sock}`, 'version'], { stdio: 'ignore' }).status === 0) return { dir, sock, child, docker, stop };
    await new Promise((r) => setTimeout(r, 200));
  }
  const why = fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
  await stop();
  return `dockerd did not start: ${why}`;
}
