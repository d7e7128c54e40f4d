// barged: start-up, wiring of the subsystems, recovery, shutdown.
// Containers outlive barged (their monitors own them): stopping barged leaves them running.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDaemonArgs, USAGE, type DaemonConfig } from './config.js';
import { log, setLevel } from '../lib/log.js';
import { messageOf } from '../lib/errors.js';
import { EventBus } from '../lib/events.js';
import { ApiServer, socketAlive } from '../api/server.js';
import { systemRoutes, BARGE_VERSION } from '../api/routes/system.js';
import { containerRoutes } from '../api/routes/containers.js';
import { imageRoutes } from '../api/routes/images.js';
import { archiveRoutes } from '../api/routes/archive.js';
import { networkRoutes } from '../api/routes/networks.js';
import { registryRoutes } from '../api/routes/registry.js';
import { RegistryService } from '../registry/client/service.js';
import { buildRoutes } from '../api/routes/build.js';
import { BuildService } from '../build/service.js';
import { ContainerService } from '../container/service.js';
import { ExecService } from '../container/exec.js';
import { HealthChecker } from '../container/health.js';
import { VolumeService } from '../volume/service.js';
import { volumeProvider, volumeNames } from '../volume/mounts.js';
import { volumeRoutes } from '../api/routes/volumes.js';
import { ImageService } from '../image/service.js';
import { NetworkService } from '../network/service.js';
import { detectCgroupLayout } from '../runtime/cgroups.js';
import { probeHost } from '../runtime/host.js';
import { writeFileAtomic } from '../lib/fsutil.js';
import { newId } from '../lib/ids.js';
import { findExecutable } from './paths.js';
import { parseLogSize } from '../lib/size.js';
import { stopHelper, useHelper } from '../host/helper.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function startDaemon(config: DaemonConfig): Promise<{ close: () => Promise<void> }> {
  setLevel(config.logLevel);
  fs.mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
  fs.mkdirSync(config.execRoot, { recursive: true, mode: 0o711 });
  claimPidfile(config.pidfile);
  // Refuse before touching anything if another daemon serves one of our sockets.
  for (const h of config.hosts) {
    const p = h.startsWith('unix://') ? h.slice(7) : h.startsWith('/') ? h : '';
    if (p && fs.existsSync(p) && await socketAlive(p)) throw new Error(`${p} is in use by another daemon: stop it or choose another socket with -H`);
  }

  const runtime = findExecutable(config.runtime);
  const monitor = path.resolve(here, '../../bin/bargemon');
  if (!fs.existsSync(monitor)) throw new Error(`the container monitor ${monitor} is missing: run "npm run build"`);
  useHelper(path.resolve(here, '../../bin/bargehelper'));

  const events = new EventBus();
  const images = await ImageService.open(config.dataRoot, { events });
  const network = await NetworkService.open({
    dataRoot: config.dataRoot, execRoot: config.execRoot, bridge: config.bridge, bip: config.bip || undefined, iptables: config.iptables,
  });
  const volumes = VolumeService.open(config.dataRoot, { events });
  const containers = new ContainerService({
    dataRoot: config.dataRoot, execRoot: config.execRoot, runtime, monitor,
    logOpts: { maxSize: config.logOpts['max-size'] ? parseLogSize(config.logOpts['max-size'], '--log-opt max-size') : 0, maxFiles: Number(config.logOpts['max-file'] ?? 1) || 1 },
    images: {
      resolveImage: (ref) => { const r = images.resolve(ref); return { id: r.id, config: r.config.config ?? {} }; },
      prepareRootfs: (cid, iid) => images.prepareRootfs(cid, iid),
      mountRootfs: (cid, target) => images.mountRootfs(cid, target),
      unmountRootfs: (target) => images.unmountRootfs(target),
      removeRootfs: (cid) => images.removeRootfs(cid),
      rootfsSize: (cid) => images.rootfsSize(cid),
    },
    network,
    volumes: volumeProvider(volumes),
    events,
  });
  // Containers first: the store is loaded there, and only then can the network tell which
  // sandboxes still belong to running containers (open() adopted every one that still exists).
  // Which containers refer to a volume (rm/prune refuse those); then unmount devices of volumes
  // whose last running user went away while barged was down.
  volumes.setUsers((name) => containers.store.all().filter((c) => volumeNames(c.barge.mounts).includes(name)).map((c) => c.Id));
  await containers.recover();
  await volumes.settle();
  await network.recover((cid) => containers.store.get(cid)?.State.Running ?? false);
  const execs = new ExecService(containers, events);
  const health = new HealthChecker(containers, execs, events);
  images.setInUse((imageId) => containers.store.all().filter((c) => c.Image === imageId).map((c) => ({ id: c.Id, running: c.State.Running })));

  const builds = new BuildService(config.dataRoot, images, containers);
  await builds.recover();

  const api = new ApiServer();
  const host = probeHost();
  systemRoutes(api.router, {
    dataRoot: config.dataRoot,
    counts: () => {
      const all = containers.store.all();
      const running = all.filter((c) => c.State.Running && !c.State.Paused).length;
      const paused = all.filter((c) => c.State.Paused).length;
      return { containers: all.length, running, paused, stopped: all.length - running - paused, images: images.list().length };
    },
    cgroupVersion: String(detectCgroupLayout().version ?? host.cgroupVersion),
    runtimePath: runtime,
    daemonId: daemonId(config.dataRoot),
    bridge: config.bridge,
    warnings: [],
    securityOptions: ['name=seccomp,profile=builtin'],
  }, events);
  containerRoutes(api.router, {
    containers, execs,
    imageName: (id) => images.displayName(id),
    imageMatches: (c, ref) => images.matches(c.Image, ref),
    rootfsSize: (id) => images.rootfsSize(id),
    networkStats: (id, pid) => network.stats(id, pid) as Record<string, unknown> | undefined,
  });
  const registry = new RegistryService({
    images, dataRoot: config.dataRoot, insecureRegistries: config.insecureRegistries,
    maxConcurrentDownloads: config.maxConcurrentDownloads, maxConcurrentUploads: config.maxConcurrentUploads, maxDownloadAttempts: config.maxDownloadAttempts,
  });
  imageRoutes(api.router, { images, containers, registry, buildCache: () => builds.dfEntries(), volumeUsage: () => volumes.usage() });
  registryRoutes(api.router, { registry });
  archiveRoutes(api.router, { images, containers, events });
  networkRoutes(api.router, { network, containers, events });
  buildRoutes(api.router, { builds });
  volumeRoutes(api.router, { volumes });
  for (const h of config.hosts) await api.listen(h);
  log.info('barged started', { version: BARGE_VERSION, dataRoot: config.dataRoot, execRoot: config.execRoot, containers: containers.store.all().length });

  let closed = false;
  return {
    close: async () => {
      if (closed) return;
      closed = true;
      await api.close();
      health.close();
      containers.close();
      await network.close();
      stopHelper();
      fs.rmSync(config.pidfile, { force: true });
    },
  };
}

function daemonId(dataRoot: string): string {
  const f = path.join(dataRoot, 'engine-id');
  try { return fs.readFileSync(f, 'utf8').trim(); } catch {
    const id = newId();
    writeFileAtomic(f, id + '\n');
    return id;
  }
}

/** One daemon per pidfile: refuse to start if the recorded process is alive. */
function claimPidfile(pidfile: string): void {
  fs.mkdirSync(path.dirname(pidfile), { recursive: true });
  try {
    const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
    if (pid && pid !== process.pid) {
      let alive = false;
      try { process.kill(pid, 0); alive = true; } catch { alive = false; }
      if (alive) throw new Error(`pid file found, ensure barged is not running or delete ${pidfile} (process ${pid} is alive)`);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SyntaxError)) {
      if (messageOf(e).startsWith('pid file found')) throw e;
    }
  }
  writeFileAtomic(pidfile, `${process.pid}\n`);
}

async function main(): Promise<void> {
  let parsed;
  try { parsed = parseDaemonArgs(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`barged: ${messageOf(e)}\n`);
    process.exit(125);
  }
  if (parsed.help) { process.stdout.write(USAGE); return; }
  if (parsed.version) { process.stdout.write(`barged version ${BARGE_VERSION}\n`); return; }
  if (process.getuid?.() !== 0) { process.stderr.write('barged: must run as root (it manages namespaces, mounts and cgroups)\n'); process.exit(1); }
  let d: { close: () => Promise<void> };
  try { d = await startDaemon(parsed.config); } catch (e) {
    log.error(`failed to start daemon: ${messageOf(e)}`);
    process.exit(1);
  }
  const stop = (sig: string) => {
    log.info(`received ${sig}, shutting down (containers keep running)`);
    void d.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGPIPE', () => undefined);
}

if (process.argv[1] && /barged(\.js)?$|daemon[/\\]main\.js$/.test(process.argv[1])) void main();
