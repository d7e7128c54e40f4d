// Docker Engine (Debian's docker.io) for the side-by-side figures: installed if missing, started on
// the run's own socket, data root, exec root, pidfile, config file, cgroup parent and bridge (with
// a subnet of its own), so it never meets a system dockerd. What it adds to the host's iptables is
// recorded and removed at the end (its DOCKER* chains only if this run created them).
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { ApiClient, waitForPing } from './api.js';
import { onCleanup } from './cleanup.js';
import { removeAll, type Engine, type CliCommand } from './engine.js';
import {
  pickBridgeName, pickSubnet, pidsMentioning, withDescendants, cleanupIptablesForBridge, linkExists, iptablesChains,
  removeDockerChains, removeCgroupTree, type RunDir,
} from './host.js';
import { isAlive, readPid, sh, terminate, which } from './util.js';

/** dockerd's path, installing Debian's docker.io if needed; or the reason it is not available. */
export function ensureDockerd(log: (s: string) => void): { dockerd: string } | { error: string } {
  let dockerd = which('dockerd');
  if (dockerd && which('containerd')) return { dockerd };
  log('dockerd not found: installing Debian\'s docker.io (apt-get install -y docker.io)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = sh('apt-get', ['install', '-y', 'docker.io'], { env, timeoutMs: 300_000 });
  if (r.code !== 0 && /Unable to locate|has no installation candidate|404/.test(r.stderr + r.stdout)) {
    sh('apt-get', ['update'], { env, timeoutMs: 180_000 });
    r = sh('apt-get', ['install', '-y', 'docker.io'], { env, timeoutMs: 300_000 });
  }
  dockerd = which('dockerd');
  if (r.code !== 0 || !dockerd) {
    return { error: `apt-get install -y docker.io failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
  }
  return { dockerd };
}

export interface DockerEngine extends Engine { dir: string; execRoot: string; bridge: string; bip: string; logFile: string }

export async function startDocker(run: RunDir, dockerd: string, log: (s: string) => void, avoidSubnets: string[] = []): Promise<DockerEngine> {
  const dir = run.path('docker');
  fs.mkdirSync(dir, { recursive: true });
  const sock = `${dir}/docker.sock`;
  const host = `unix://${sock}`;
  const dataRoot = `${dir}/data`;
  const execRoot = `${dir}/run`;
  const pidfile = `${dir}/dockerd.pid`;
  const logFile = `${dir}/dockerd.log`;
  const bridge = pickBridgeName('bgd');
  const bip = pickSubnet(avoidSubnets);
  const cgroupParent = `/${bridge}`;
  // key.json would otherwise go to /etc/docker; the flag is gone but the config key remains.
  fs.writeFileSync(`${dir}/daemon.json`, JSON.stringify({ 'deprecated-key-path': `${dir}/key.json` }) + '\n');

  // What dockerd will add to iptables: note the chains and FORWARD policy it finds.
  const before = { filter: iptablesChains('filter'), nat: iptablesChains('nat') };
  run.update((s) => {
    s.bridges.push(bridge); s.pidfiles.push(pidfile); s.runcRoots.push(`${execRoot}/runtime-runc/moby`); s.cgroupParents.push(cgroupParent);
    s.forwardPolicy ??= before.filter.policies.FORWARD;
  });

  // Its own bridge, so it creates no docker0 (and never touches another dockerd's).
  const stopBridge = () => { if (linkExists(bridge)) sh('ip', ['link', 'del', bridge]); };
  for (const args of [['link', 'add', 'name', bridge, 'type', 'bridge'], ['addr', 'add', bip, 'dev', bridge], ['link', 'set', bridge, 'up']]) {
    const r = sh('ip', args);
    if (r.code !== 0) { stopBridge(); throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`); }
  }

  const out = fs.openSync(logFile, 'a');
  const child = spawn(dockerd, ['-H', host, '--data-root', dataRoot, '--exec-root', execRoot, '--pidfile', pidfile,
    '--config-file', `${dir}/daemon.json`, '--bridge', bridge, '--cgroup-parent', cgroupParent],
  { stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  child.unref();
  const api = new ApiClient(sock);
  const tail = () => { try { return fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; } };

  const recordChains = () => {
    const created: { table: string; chain: string }[] = [];
    for (const table of ['filter', 'nat'] as const) {
      for (const c of iptablesChains(table).chains) {
        if (c.startsWith('DOCKER') && !before[table].chains.includes(c)) created.push({ table, chain: c });
      }
    }
    run.update((s) => { for (const c of created) if (!s.dockerChains.some((d) => d.table === c.table && d.chain === c.chain)) s.dockerChains.push(c); });
  };

  const stop = async () => {
    if (isAlive(child.pid ?? 0)) {
      try { await removeAll(api); } catch (e) { log(`docker: removing containers through the API failed: ${(e as Error).message}`); }
    }
    api.close();
    recordChains();
    await terminate(child.pid ?? readPid(pidfile), 20_000);
    for (const p of pidsMentioning(dir + '/')) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    const runcRoot = `${execRoot}/runtime-runc/moby`;
    if (fs.existsSync(runcRoot)) for (const id of fs.readdirSync(runcRoot)) sh('runc', ['--root', runcRoot, 'delete', '--force', id]);
    await removeCgroupTree(cgroupParent);
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/')).reverse();
    for (const m of mounts) sh('umount', ['-l', m]);
    stopBridge();
    cleanupIptablesForBridge(bridge);
    const note = removeDockerChains(run.state.dockerChains);
    if (note) log(`docker: ${note}`);
    run.update((s) => { s.dockerChains = []; });
    const policy = iptablesChains('filter').policies.FORWARD;
    if (before.filter.policies.FORWARD && policy !== before.filter.policies.FORWARD) sh('iptables', ['-w', '-P', 'FORWARD', before.filter.policies.FORWARD]);
  };
  onCleanup('dockerd', stop);

  try {
    await waitForPing(api, { timeoutMs: 60_000, alive: () => child.exitCode === null && isAlive(child.pid!), what: 'dockerd' });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- dockerd log ---\n${tail()}`);
  } finally {
    recordChains();
  }
  const v = await api.call('GET', '/version');
  const version = String(v?.Version ?? '?');
  const dinfo = await api.call('GET', '/info');
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: run.path('docker-config') };
  const docker = which('docker');
  const dockerCli: CliCommand | null = docker ? { argv: [docker, '-H', host], env, label: 'docker CLI' } : null;
  const shims = () => pidsMentioning(`${execRoot}/containerd/containerd.sock`).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('containerd-shim'); } catch { return false; }
  });
  log(`dockerd ${version} up: ${host}, bridge ${bridge} ${bip}`);
  return {
    kind: 'docker', label: `Docker Engine ${version}`, version, host, api, dockerCli,
    ownCli: dockerCli ?? { argv: ['docker', '-H', host], env, label: 'docker CLI' },
    dir, execRoot, bridge, bip, logFile,
    daemonPids: () => {
      const shim = new Set(shims());
      return child.pid && isAlive(child.pid) ? withDescendants([child.pid]).filter((p) => !shim.has(p)) : [];
    },
    containerPids: () => withDescendants(shims()),
    removeAllContainers: () => removeAll(api),
    info: { version, apiVersion: v?.ApiVersion, containerd: which('containerd'), bridge, bip, storageDriver: dinfo?.Driver, cgroupDriver: dinfo?.CgroupDriver },
  };
}

/** Loads a docker-archive tar into the engine; returns the image ID of busybox:latest. */
export async function loadImage(api: ApiClient, tarFile: string): Promise<string> {
  const r = await api.request('POST', '/images/load?quiet=1', fs.createReadStream(tarFile), { 'Content-Type': 'application/x-tar' });
  if (r.status !== 200 || /"error(Detail)?"/.test(r.text)) throw new Error(`docker load failed: HTTP ${r.status}: ${r.text.slice(0, 400)}`);
  const img = await api.call('GET', '/images/busybox:latest/json');
  return String(img.Id);
}
