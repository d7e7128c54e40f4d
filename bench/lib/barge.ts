// Starts a barged of the run's own: data root, exec root, socket, pidfile, bridge and subnet under
// the run directory, so it never meets a system barged or a test's.
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { ApiClient, waitForPing } from './api.js';
import { onCleanup } from './cleanup.js';
import { removeAll, type Engine, type CliCommand } from './engine.js';
import { pickBridgeName, pickSubnet, pidsMentioning, withDescendants, cleanupIptablesForBridge, linkExists, type RunDir } from './host.js';
import { BARGE_BIN, BARGED_BIN, REPO, isAlive, readPid, sh, terminate, which } from './util.js';

export interface BargeEngine extends Engine {
  dir: string; execRoot: string; dataRoot: string; bridge: string; bip: string; logFile: string;
}

export async function startBarge(run: RunDir, log: (s: string) => void, avoidSubnets: string[] = []): Promise<BargeEngine> {
  if (!fs.existsSync(`${REPO}/dist/src/daemon/main.js`) || !fs.existsSync(`${REPO}/dist/bin/bargemon`)) {
    throw new Error('barge is not built: run "bash scripts/build" (or npm run build) first');
  }
  const dir = run.path('barge');
  fs.mkdirSync(dir, { recursive: true });
  const sock = `${dir}/barged.sock`;
  const host = `unix://${sock}`;
  const dataRoot = `${dir}/data`;
  const execRoot = `${dir}/run`;
  const pidfile = `${dir}/barged.pid`;
  const logFile = `${dir}/barged.log`;
  const bridge = pickBridgeName('bgb');
  const bip = pickSubnet(avoidSubnets);
  fs.writeFileSync(`${dir}/daemon.json`, '{}\n');
  run.update((s) => { s.bridges.push(bridge); s.pidfiles.push(pidfile); s.runcRoots.push(`${execRoot}/runc`); });

  const out = fs.openSync(logFile, 'a');
  // Own process group: the terminal's Ctrl-C goes to the runner only, which then tears down in order.
  const child = spawn(BARGED_BIN, ['--data-root', dataRoot, '--exec-root', execRoot, '-H', host,
    '--pidfile', pidfile, '--bridge', bridge, '--bip', bip, '--config-file', `${dir}/daemon.json`],
  { stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  child.unref();
  const api = new ApiClient(sock);
  const tail = () => { try { return fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; } };

  const stop = async () => {
    if (isAlive(child.pid ?? 0)) {
      try { await removeAll(api); } catch (e) { log(`barge: removing containers through the API failed: ${(e as Error).message}`); }
    }
    api.close();
    await terminate(child.pid ?? readPid(pidfile), 15_000);
    // Stragglers (a run that failed half-way): monitors, runc state, mounts, bridge, rules.
    for (const p of pidsMentioning(execRoot + '/')) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    const runcRoot = `${execRoot}/runc`;
    if (fs.existsSync(runcRoot)) for (const id of fs.readdirSync(runcRoot)) sh('runc', ['--root', runcRoot, 'delete', '--force', id]);
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/')).reverse();
    for (const m of mounts) sh('umount', ['-l', m]);
    if (linkExists(bridge)) sh('ip', ['link', 'del', bridge]);
    cleanupIptablesForBridge(bridge);
  };
  onCleanup('barged', stop);

  try {
    await waitForPing(api, { timeoutMs: 30_000, alive: () => child.exitCode === null && isAlive(child.pid!), what: 'barged' });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- barged log ---\n${tail()}`);
  }
  const v = await api.call('GET', '/version');
  const images = (await api.call('GET', '/images/json')) as { RepoTags?: string[] }[];
  if (!images.some((i) => (i.RepoTags ?? []).includes('busybox:latest'))) {
    throw new Error(`barged has no busybox:latest image (is busybox-static installed?)\n--- barged log ---\n${tail()}`);
  }
  const env = { ...process.env, BARGE_HOST: host, DOCKER_HOST: host, DOCKER_CONFIG: run.path('docker-config') };
  const docker = which('docker');
  // As a user runs it: the executable itself (its #! line is part of the start-up, see bin/barge).
  const ownCli: CliCommand = { argv: [BARGE_BIN], env, label: 'barge CLI' };
  const dockerCli: CliCommand | null = docker ? { argv: [docker, '-H', host], env, label: 'docker CLI' } : null;
  const version = String(v?.Version ?? '?');
  log(`barged ${version} up: ${host}, bridge ${bridge} ${bip}`);
  return {
    kind: 'barge', label: `barge ${version}`, version, host, api, ownCli, dockerCli,
    dir, execRoot, dataRoot, bridge, bip, logFile,
    daemonPids: () => (child.exitCode === null && child.pid ? [child.pid] : []),
    containerPids: () => withDescendants(pidsMentioning(`${execRoot}/`).filter((p) => p !== child.pid)),
    removeAllContainers: () => removeAll(api),
    info: { version, apiVersion: v?.ApiVersion, bridge, bip, node: process.version },
  };
}
