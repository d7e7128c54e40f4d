// The container service: the lifecycle of containers (create, start, stop, kill, pause, restart,
// remove, rename, wait) and their recovery when barged starts again.
//
// Model. A container is a record (ContainerStore) plus, while it runs, a monitor process
// (bargemon) that owns its stdio, log and exit code. barged keeps one connection per running
// container to its monitor to learn of its exit; when barged dies the monitors and containers
// go on, and at the next start `recover()` reconnects to the living ones and settles those that
// exited meanwhile (exit file), then applies restart policies.
//
// Runtime files of a running container live under the exec root (tmpfs, gone at reboot):
//   <exec-root>/c/<id>/config.json, rootfs/   the OCI bundle (rootfs is the overlay mount)
//   <exec-root>/c/<id>/pid, exit, runtime.log  written by runc and the monitor
//   <exec-root>/m/<id>                          the monitor's socket
// Persistent files under the data root: <data-root>/containers/<id>/{config.json, hostname,
// hosts, resolv.conf, <id>-json.log}.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BargeError, conflict, forbidden, internal, invalid, messageOf, notModified } from '../lib/errors.js';
import { writeFileAtomic, exists } from '../lib/fsutil.js';
import { newId, randomName } from '../lib/ids.js';
import { parseLogSize } from '../lib/size.js';
import { log } from '../lib/log.js';
import type { EventBus } from '../lib/events.js';
import { spawnMonitor, MonitorConnection, readExitFile, type ExitInfo } from '../monitor/client.js';
import { ContainerStore } from './store.js';
import { Runc, runcMessage } from './runtime.js';
import type { EndpointConfig, ImageProvider, NetworkAttachment, NetworkProvider, VolumeProvider } from './deps.js';
import { publicMounts, type MountPoint } from '../volume/mounts.js';
import type { ContainerConfig, ContainerRecord, HostConfig, ContainerState } from './types.js';
import { specToJson } from '../runtime/spec.js';
import { makeSpec, adaptHostConfig, signalNumber, oomKilled, cgroupPathFor, removeCgroup } from './spec.js';

export interface ContainerServiceOptions {
  dataRoot: string;
  execRoot: string;
  runtime: string;           // runc binary
  monitor: string;           // bargemon binary
  logOpts: { maxSize: number; maxFiles: number };
  images: ImageProvider;
  network: NetworkProvider;
  /** Volumes and mounts; without it a container gets no Binds/Mounts/Volumes. */
  volumes?: VolumeProvider;
  events: EventBus;
}

interface Live {
  conn: MonitorConnection | null;
  exitWaiters: Array<(code: number) => void>;
  /** API attach streams waiting for the next start: connect before the process runs. */
  pendingAttach: Array<(socketPath: string) => Promise<void>>;
  busy: Promise<void>;       // serialises lifecycle operations on one container
  restartTimer?: NodeJS.Timeout;
  restartDelay: number;
  stopping: boolean;
  removed: Array<() => void>;
  /** No runtime state left (runc state, mount, network, bundle): nothing to clean up. */
  clean: boolean;
  /** A removal is under way: no start may begin. */
  removing: boolean;
}

export interface CreateRequest extends ContainerConfig { HostConfig?: HostConfig; NetworkingConfig?: unknown }

const DEFAULT_STOP_TIMEOUT = 10;

export class ContainerService {
  readonly store: ContainerStore;
  readonly runc: Runc;
  private live = new Map<string, Live>();
  private readonly o: ContainerServiceOptions;

  constructor(o: ContainerServiceOptions) {
    this.o = o;
    this.store = new ContainerStore(o.dataRoot);
    fs.mkdirSync(path.join(o.execRoot, 'c'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(o.execRoot, 'm'), { recursive: true, mode: 0o700 });
    this.runc = new Runc({ binary: o.runtime, root: path.join(o.execRoot, 'runc') });
  }

  // ---- paths ----
  bundleDir(id: string): string { return path.join(this.o.execRoot, 'c', id); }
  rootfsDir(id: string): string { return path.join(this.bundleDir(id), 'rootfs'); }
  socketPath(id: string): string { return path.join(this.o.execRoot, 'm', id); }
  get execRoot(): string { return this.o.execRoot; }
  get monitorBinary(): string { return this.o.monitor; }
  get runtimeBinary(): string { return this.o.runtime; }

  private liveOf(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { conn: null, exitWaiters: [], pendingAttach: [], busy: Promise.resolve(), restartDelay: 100, stopping: false, removed: [], clean: true, removing: false };
      this.live.set(id, l);
    }
    return l;
  }

  /** Run fn with the container's lifecycle lock held. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const l = this.liveOf(id);
    const prev = l.busy;
    let release!: () => void;
    l.busy = new Promise<void>((r) => { release = r; });
    await prev;
    try { return await fn(); } finally { release(); }
  }

  private event(c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    const attrs: Record<string, string> = { image: c.Config.Image ?? '', name: c.Name.slice(1), ...(c.Config.Labels ?? {}), ...extra };
    this.o.events.publish('container', action, c.Id, attrs);
  }

  find(ref: string): ContainerRecord { return this.store.find(ref); }

  // ---- create ----

  create(body: CreateRequest, name: string | undefined): { Id: string; Warnings: string[] } {
    if (!body.Image) throw invalid('no image specified: give an image name, e.g. "busybox"');
    const image = this.o.images.resolveImage(body.Image);
    const hc: HostConfig = { ...(body.HostConfig ?? {}) };
    const warnings: string[] = [];
    validateHostConfig(hc, body);
    warnings.push(...adaptHostConfig(hc));
    const ic = image.config;

    const config: ContainerConfig = { ...body };
    delete (config as CreateRequest).HostConfig;
    delete (config as CreateRequest).NetworkingConfig;
    // Image defaults, as Docker merges them.
    config.Env = mergeEnv(ic.Env ?? [], body.Env ?? []);
    // moby's merge: no user entrypoint (null or absent) takes the image's, and then a missing Cmd
    // takes the image's too; an explicit empty one ([] or [""], `--entrypoint ""`) resets it.
    const ep = body.Entrypoint;
    const epReset = Array.isArray(ep) && (ep.length === 0 || (ep.length === 1 && ep[0] === ''));
    const userEp = Array.isArray(ep) && !epReset;
    config.Entrypoint = userEp ? ep : epReset ? null : (ic.Entrypoint ?? null);
    if (!body.Cmd || body.Cmd.length === 0) config.Cmd = userEp ? null : (ic.Cmd ?? null);
    if (!config.WorkingDir) config.WorkingDir = ic.WorkingDir ?? '';
    if (!config.User) config.User = ic.User ?? '';
    config.Labels = { ...(ic.Labels ?? {}), ...(body.Labels ?? {}) };
    config.ExposedPorts = { ...(ic.ExposedPorts ?? {}), ...(body.ExposedPorts ?? {}) };
    config.Volumes = { ...(ic.Volumes ?? {}), ...(body.Volumes ?? {}) };
    if (!config.StopSignal && ic.StopSignal) config.StopSignal = ic.StopSignal;
    if (!config.Healthcheck && ic.Healthcheck) config.Healthcheck = ic.Healthcheck as ContainerConfig['Healthcheck'];
    if (config.StopSignal) signalNumber(config.StopSignal); // validates
    const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    if (args.length === 0) throw invalid('no command specified: the image has no CMD or ENTRYPOINT; give a command after the image name');

    const id = newId();
    let cname: string;
    if (name) {
      cname = this.store.validateName(name);
    } else {
      cname = '/' + randomName();
      for (let i = 1; this.store.nameInUse(cname); i++) cname = '/' + randomName(i);
    }
    hc.NetworkMode = hc.NetworkMode || 'bridge';
    if (hc.NetworkMode === 'default') hc.NetworkMode = 'bridge';
    const networks = this.checkNetworking(hc, config, body);
    if (networks.host && (Object.keys(hc.PortBindings ?? {}).length || hc.PublishAllPorts)) warnings.push('Published ports are discarded when using host network mode');
    this.store.reserveName(cname, id);
    let mounts: MountPoint[] = [];
    try {
      mounts = this.o.volumes?.register({
        binds: hc.Binds, mounts: hc.Mounts, volumesFrom: hc.VolumesFrom, volumes: config.Volumes, tmpfs: hc.Tmpfs,
        volumeDriver: hc.VolumeDriver, mountsOf: (ref) => this.find(ref).barge.mounts ?? [],
      }) ?? [];
    } catch (e) {
      this.store.releaseName(cname, id);
      throw e;
    }
    if (!config.Hostname) config.Hostname = hc.NetworkMode === 'host' ? osHostname() : id.slice(0, 12);
    hc.LogConfig = { Type: hc.LogConfig?.Type || 'json-file', Config: hc.LogConfig?.Config ?? {} };
    hc.RestartPolicy = { Name: hc.RestartPolicy?.Name || 'no', MaximumRetryCount: hc.RestartPolicy?.MaximumRetryCount ?? 0 };

    const dir = this.store.dir(id);
    const rec: ContainerRecord = {
      Id: id, Name: cname, Created: new Date().toISOString(), Path: args[0]!, Args: args.slice(1),
      Config: config, HostConfig: hc, Image: image.id,
      State: { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z' },
      RestartCount: 0,
      LogPath: hc.LogConfig.Type === 'json-file' ? path.join(dir, `${id}-json.log`) : '',
      ResolvConfPath: path.join(dir, 'resolv.conf'), HostnamePath: path.join(dir, 'hostname'), HostsPath: path.join(dir, 'hosts'),
      Driver: 'overlay2', Platform: 'linux', MountLabel: '', ProcessLabel: '', AppArmorProfile: '', ExecIDs: null,
      NetworkSettings: { Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: Object.fromEntries(networks.list.map((n) => [n, emptyEndpoint(networks.ids[n]!, networks.endpoints[n])])) },
      Mounts: publicMounts(mounts),
      barge: { manuallyStopped: false, hasBeenStarted: false, networkingConfig: { EndpointsConfig: networks.endpoints }, networks: networks.list, mounts },
    };
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o710 });
      this.store.save(rec);
      this.event(rec, 'create');
      return { Id: rec.Id, Warnings: warnings };
    } catch (e) {
      this.store.releaseName(cname, id);
      fs.rmSync(dir, { recursive: true, force: true });
      void this.o.volumes?.removeAnonymous(mounts);
      throw e;
    }
  }

  /** create, then the writable layer: a create that cannot make it fails and leaves nothing. */
  async createContainer(body: CreateRequest, name: string | undefined): Promise<{ Id: string; Warnings: string[] }> {
    const r = this.create(body, name);
    try {
      await this.o.images.prepareRootfs(r.Id, this.store.get(r.Id)!.Image);
    } catch (e) {
      const rec = this.store.get(r.Id);
      if (rec) this.store.delete(rec);
      await this.o.images.removeRootfs(r.Id).catch(() => undefined);
      await this.o.volumes?.removeAnonymous(rec?.barge.mounts);
      throw e;
    }
    return r;
  }

  // ---- networks ----

  /** Validate the networking of a create request; returns the networks to join, in order. */
  private checkNetworking(hc: HostConfig, config: ContainerConfig, body: CreateRequest): { list: string[]; ids: Record<string, string>; endpoints: Record<string, EndpointConfig>; host?: boolean } {
    const mode = hc.NetworkMode!;
    const asked = ((body.NetworkingConfig as { EndpointsConfig?: Record<string, EndpointConfig | null> } | undefined)?.EndpointsConfig ?? {});
    const hasPorts = Object.keys(hc.PortBindings ?? {}).length > 0 || !!hc.PublishAllPorts;
    if (mode.startsWith('container:')) {
      this.find(mode.slice(10));  // No such container
      if (config.Hostname) throw invalid('conflicting options: hostname and the network mode');
      if (hasPorts) throw invalid('conflicting options: port publishing and the container type network mode');
      if (hc.Dns?.length || hc.DnsSearch?.length || hc.DnsOptions?.length || hc.ExtraHosts?.length) throw invalid('conflicting options: dns and the network mode');
      if (config.MacAddress) throw invalid('conflicting options: mac-address and the network mode');
      return { list: [], ids: {}, endpoints: {} };
    }
    const first = this.o.network.resolveNetwork(mode);
    const list = [first.name];
    const ids: Record<string, string> = { [first.name]: first.id };
    const endpoints: Record<string, EndpointConfig> = {};
    const firstCfg = asked[mode] ?? asked[first.name] ?? asked[first.id] ?? (first.name === 'bridge' ? asked.default : undefined);
    if (firstCfg) endpoints[first.name] = firstCfg;
    for (const [key, cfg] of Object.entries(asked)) {
      const n = this.o.network.resolveNetwork(key);
      if (n.id === first.id) continue;
      if (first.driver !== 'bridge' || n.driver !== 'bridge') throw invalid(`Container cannot be connected to network endpoints: ${[first.name, n.name].join(', ')}`);
      if (!list.includes(n.name)) list.push(n.name);
      ids[n.name] = n.id;
      endpoints[n.name] = cfg ?? {};
    }
    for (const n of list) this.o.network.validateEndpoint(n, endpoints[n]);
    if (endpoints.bridge?.Aliases?.length) throw invalid('network-scoped alias is supported only for containers in user defined networks');
    if (endpoints.bridge?.IPAMConfig?.IPv4Address) throw invalid('user specified IP address is supported on user defined networks only');
    if (config.MacAddress && first.driver !== 'bridge') throw invalid('conflicting options: mac-address and the network mode');
    this.o.network.validatePortBindings(hc.PortBindings);
    return { list, ids, endpoints, host: first.driver === 'host' };
  }

  /** A container's resolv.conf: on a user network the network's DNS server is the only
   * nameserver (with ndots:0, as Docker's embedded DNS), and --dns servers are where it forwards. */
  private resolvFor(c: ContainerRecord, net: NetworkAttachment): string {
    const hc = c.HostConfig;
    if (!net.dnsServer) return this.o.network.resolvConf({ dns: hc.Dns, dnsSearch: hc.DnsSearch, dnsOptions: hc.DnsOptions, hostNetwork: net.hostNetwork });
    const opts = hc.DnsOptions ?? [];
    return this.o.network.resolvConf({ dns: [net.dnsServer], dnsSearch: hc.DnsSearch, dnsOptions: opts.some((x) => x.startsWith('ndots:')) ? opts : [...opts, 'ndots:0'] });
  }

  /** The running container whose network a container:<name> container joins. */
  private joinedContainer(c: ContainerRecord): ContainerRecord | undefined {
    const mode = c.HostConfig.NetworkMode ?? '';
    if (!mode.startsWith('container:')) return undefined;
    const other = this.store.find(mode.slice(10));
    if (other.Id === c.Id) throw invalid('cannot join own network namespace');
    if (!other.State.Running || other.State.Restarting) throw conflict(`cannot join network namespace of a non running container: ${other.Id}`);
    return other;
  }

  /** `network connect`: at once if the container runs, else at its next start. */
  async connectNetwork(ref: string, network: string, cfg: EndpointConfig | null = null): Promise<void> {
    const c = this.find(ref);
    const n = this.o.network.resolveNetwork(network);
    await this.locked(c.Id, async () => {
      const mode = c.HostConfig.NetworkMode ?? 'bridge';
      if (mode === 'host' || n.driver === 'host') throw invalid('container cannot be disconnected from host network or connected to host network');
      if (mode.startsWith('container:')) throw invalid('container sharing network namespace with another container or host cannot be connected to any other network');
      const list = c.barge.networks ?? [mode];
      if (list.includes(n.name)) throw forbidden(`endpoint with name ${c.Name.slice(1)} already exists in network ${n.name}`);
      if (n.driver === 'null' || list.some((x) => this.o.network.resolveNetworkQuiet?.(x)?.driver === 'null' || x === 'none')) {
        throw invalid('container cannot be connected to multiple networks with one of the networks in private (none) mode');
      }
      if (n.name === 'bridge' && cfg?.Aliases?.length) throw invalid('network-scoped alias is supported only for containers in user defined networks');
      if (n.name === 'bridge' && cfg?.IPAMConfig?.IPv4Address) throw invalid('user specified IP address is supported on user defined networks only');
      if (c.State.Running && !c.State.Restarting) {
        const before = this.o.network.attachmentOf(c.Id);
        const att = await this.o.network.connect(c.Id, n.name, cfg);
        c.NetworkSettings = { ...c.NetworkSettings, ...att.settings } as ContainerRecord['NetworkSettings'];
        // Joining a first user network brings its DNS server (as Docker starts its resolver then).
        // Written in place: the file is bind-mounted into the running container.
        if (att.dnsServer && !before?.dnsServer) fs.writeFileSync(c.ResolvConfPath, this.resolvFor(c, att));
      } else {
        c.NetworkSettings.Networks = { ...c.NetworkSettings.Networks, [n.name]: emptyEndpoint(n.id, cfg) };
      }
      c.barge.networks = [...list, n.name];
      c.barge.networkingConfig = { EndpointsConfig: { ...endpointsConfigOf(c), [n.name]: cfg ?? {} } };
      this.store.save(c);
    });
    this.o.events.publish('network', 'connect', n.id, { container: c.Id, name: n.name, type: n.driver });
  }

  /** `network disconnect`. */
  async disconnectNetwork(ref: string, network: string, force = false): Promise<void> {
    const c = this.find(ref);
    let n: { id: string; name: string; driver: string } | undefined;
    try { n = this.o.network.resolveNetwork(network); } catch (e) { if (!force) throw e; }
    const name = n?.name ?? network;
    await this.locked(c.Id, async () => {
      const mode = c.HostConfig.NetworkMode ?? 'bridge';
      if (mode === 'host' || n?.driver === 'host') throw invalid('container cannot be disconnected from host network or connected to host network');
      const list = c.barge.networks ?? (mode.startsWith('container:') ? [] : [mode]);
      if (!list.includes(name)) throw forbidden(`container ${c.Id} is not connected to network ${name}`);
      if (c.State.Running && !c.State.Restarting && n) {
        const att = await this.o.network.disconnect(c.Id, name);
        c.NetworkSettings = { ...c.NetworkSettings, ...att.settings } as ContainerRecord['NetworkSettings'];
      } else {
        const nets = { ...c.NetworkSettings.Networks };
        delete nets[name];
        c.NetworkSettings.Networks = nets;
      }
      const cfgs = { ...endpointsConfigOf(c) };
      delete cfgs[name];
      c.barge.networks = list.filter((x) => x !== name);
      c.barge.networkingConfig = { EndpointsConfig: cfgs };
      this.store.save(c);
    });
    this.o.events.publish('network', 'disconnect', n?.id ?? network, { container: c.Id, name, type: n?.driver ?? 'bridge' });
  }

  // ---- start ----

  async start(ref: string): Promise<void> {
    const c = this.find(ref);
    try {
      await this.locked(c.Id, () => this.startLocked(c));
    } catch (e) {
      // Docker removes an auto-remove container whose start failed (clients wait for "removed").
      if (c.HostConfig.AutoRemove && !(e instanceof BargeError && e.kind === 'notModified')) {
        await this.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
      }
      throw e;
    }
  }

  private async startLocked(c: ContainerRecord): Promise<void> {
    if (c.State.Status === 'removing' || c.State.Dead || this.liveOf(c.Id).removing) throw conflict(`container ${c.Id} is marked for removal and cannot be started`);
    if (c.State.Paused) throw conflict(`cannot start a paused container, try unpause instead`);
    if (c.State.Running && !c.State.Restarting) throw notModified();
    const l = this.liveOf(c.Id);
    if (l.restartTimer) { clearTimeout(l.restartTimer); l.restartTimer = undefined; }
    const id = c.Id;
    const bundle = this.bundleDir(id);
    const rootfs = this.rootfsDir(id);
    const sock = this.socketPath(id);
    const undo: Array<() => Promise<unknown> | unknown> = [];
    let conn: MonitorConnection | null = null;
    const T: [string, number][] = [['begin', performance.now()]];
    try {
      fs.rmSync(bundle, { recursive: true, force: true });
      fs.mkdirSync(rootfs, { recursive: true, mode: 0o700 });
      undo.push(() => fs.rmSync(bundle, { recursive: true, force: true }));
      await this.o.images.mountRootfs(id, rootfs);
      T.push(['mount', performance.now()]);
      undo.push(() => this.o.images.unmountRootfs(rootfs));

      const hc = c.HostConfig;
      const joined = this.joinedContainer(c);
      const list = c.barge.networks ?? [hc.NetworkMode || 'bridge'];
      const cfgs = endpointsConfigOf(c);
      const net = await this.o.network.attach(id, {
        mode: joined ? `container:${joined.Id}` : list[0] ?? 'none', joinNetns: joined && this.o.network.attachmentOf(joined.Id)?.netnsPath,
        endpoints: Object.fromEntries(list.map((n) => [n, cfgs[n] ?? null])), name: c.Name.slice(1), macAddress: c.Config.MacAddress,
        ports: { bindings: hc.PortBindings, exposed: c.Config.ExposedPorts, publishAll: !!hc.PublishAllPorts }, dns: hc.Dns,
      });
      T.push(['net', performance.now()]);
      undo.push(() => this.o.network.detach(id));
      c.NetworkSettings = { ...c.NetworkSettings, ...net.settings } as ContainerRecord['NetworkSettings'];

      if (joined) {
        // Docker's container:<name> mode: the other container's name resolution and hostname.
        c.Config.Hostname = joined.Config.Hostname;
        for (const [mine, theirs] of [[c.HostnamePath, joined.HostnamePath], [c.HostsPath, joined.HostsPath], [c.ResolvConfPath, joined.ResolvConfPath]] as const) {
          writeFileAtomic(mine, fs.readFileSync(theirs), 0o644, false);
        }
      } else {
        const hostname = c.Config.Hostname || id.slice(0, 12);
        writeFileAtomic(c.HostnamePath, hostname + '\n', 0o644, false);
        writeFileAtomic(c.HostsPath, net.hostNetwork ? fs.readFileSync('/etc/hosts', 'utf8') : this.o.network.hostsFile(hostname, net.ipAddress, { extraHosts: hc.ExtraHosts ?? [], domainname: c.Config.Domainname }), 0o644, false);
        writeFileAtomic(c.ResolvConfPath, this.resolvFor(c, net), 0o644, false);
      }

      const mps = c.barge.mounts ?? [];
      undo.push(() => this.o.volumes?.release(id, mps));
      const extra = mps.length && this.o.volumes ? await this.o.volumes.setup(id, mps, rootfs) : [];
      T.push(['volumes', performance.now()]);

      const { spec, warnings } = makeSpec(c, { rootfs, netnsPath: net.netnsPath, networkMode: net.hostNetwork ? 'host' : 'path', mounts: extra });
      for (const w of warnings) log.warn(w, { container: id.slice(0, 12) });
      writeFileAtomic(path.join(bundle, 'config.json'), specToJson(spec), 0o600, false);
      T.push(['spec', performance.now()]);

      const hasStdin = !!c.Config.OpenStdin;
      await spawnMonitor({
        binary: this.o.monitor, runtime: this.o.runtime, runtimeRoot: this.runc.opts.root, id,
        socketPath: sock, exitFile: path.join(bundle, 'exit'), pidFile: path.join(bundle, 'pid'),
        bundle, logFile: c.LogPath || undefined,
        logMaxSize: logOpt(c, 'max-size', this.o.logOpts.maxSize), logMaxFiles: logOpt(c, 'max-file', this.o.logOpts.maxFiles),
        tty: !!c.Config.Tty, stdin: hasStdin, runtimeLog: path.join(bundle, 'runtime.log'),
      });
      undo.push(() => fs.rmSync(sock, { force: true }));
      T.push(['spawnmon', performance.now()]);
      conn = await MonitorConnection.connect(sock);
      T.push(['connect', performance.now()]);
      // Attach streams that were waiting for this start connect now, before the process runs.
      const pending = l.pendingAttach.splice(0);
      await Promise.all(pending.map((f) => f(sock)));
      const size = c.HostConfig.ConsoleSize;
      if (c.Config.Tty && size && size[0] > 0 && size[1] > 0) conn.resize(size[0], size[1]);
      const { pid } = await conn.start().catch((e: Error & { runtimeMessage?: string }) => { throw startError(e); });
      T.push(['runc', performance.now()]);

      c.State = { ...c.State, Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: pid, ExitCode: 0, Error: '', StartedAt: new Date().toISOString(), FinishedAt: c.State.FinishedAt };
      c.barge.hasBeenStarted = true;
      l.clean = false;
      c.barge.manuallyStopped = false;
      this.store.save(c);
      // 'start' before watching: a quick exit already read with the STARTED answer is handled at
      // once inside watch(), and its 'die' must follow the 'start' (Docker's order; health checks
      // were armed on a dead container otherwise).
      this.event(c, 'start');
      this.watch(c, conn);
      log.debug('start timing', Object.fromEntries(T.slice(1).map(([n, t], i) => [n, +(t - T[i]![1]).toFixed(1)])));
    } catch (e) {
      conn?.close();
      await this.runc.delete(id, true).catch(() => undefined);
      for (const u of undo.reverse()) { try { await u(); } catch (ue) { log.warn('cleanup after failed start', { error: messageOf(ue) }); } }
      const err = e instanceof BargeError ? e : internal(messageOf(e));
      c.State = { ...c.State, Error: err.message, ...(err.detail?.exitCode ? { ExitCode: Number(err.detail.exitCode) } : {}) };
      if (c.State.Restarting) { c.State.Restarting = false; c.State.Running = false; c.State.Status = 'exited'; }
      if (this.store.get(c.Id)) this.store.save(c);
      throw err;
    }
  }

  /** Follow a running container's monitor to learn of its exit. */
  private watch(c: ContainerRecord, conn: MonitorConnection): void {
    const l = this.liveOf(c.Id);
    l.conn = conn;
    l.clean = false;
    let settled = false;
    conn.on('exit', (info: ExitInfo) => { if (!settled) { settled = true; void this.onExit(c.Id, info); } });
    // A quick exit may have been read together with the STARTED answer, before these listeners.
    if (conn.exitInfo) { settled = true; void this.onExit(c.Id, conn.exitInfo); return; }
    conn.on('close', () => {
      if (settled) return;
      settled = true;
      // The monitor went away without telling us: read its exit file, or it died with the container.
      const info = readExitFile(path.join(this.bundleDir(c.Id), 'exit')) ?? { exitCode: 255, signal: 0, finishedAt: new Date().toISOString() };
      void this.onExit(c.Id, info);
    });
    if (conn.isClosed && !settled) conn.emit('close');
  }

  private async onExit(id: string, info: ExitInfo): Promise<void> {
    const c = this.store.get(id);
    if (!c) return;
    const l = this.liveOf(id);
    l.conn?.close();
    l.conn = null;
    // OOM evidence dies with the cgroup: read it before the runtime state is deleted.
    const oom = oomKilled(cgroupPathFor(c));
    // Queue the cleanup under the lifecycle lock now, so a start or remove that follows the
    // waiters below runs after it; the waiters themselves do not wait for the cleanup.
    const cleanup = this.locked(id, () => this.cleanupRuntime(c));
    c.State = { ...c.State, Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: info.exitCode, OOMKilled: oom, FinishedAt: info.finishedAt || new Date().toISOString() };
    if (c.State.Health) c.State.Health.Status = 'unhealthy';
    this.store.save(c);
    if (c.State.OOMKilled) this.event(c, 'oom');
    this.event(c, 'die', { exitCode: String(info.exitCode) });
    for (const w of l.exitWaiters.splice(0)) w(info.exitCode);
    await cleanup;
    if (l.stopping) return;   // a stop/kill/restart/remove in progress decides what happens next
    await this.afterExit(c);
  }

  /** Restart policy and auto-remove after an exit nobody asked for. */
  private async afterExit(c: ContainerRecord): Promise<void> {
    const l = this.liveOf(c.Id);
    if (l.removing) return;
    if (this.shouldRestart(c)) {
      const ranMs = Date.parse(c.State.FinishedAt) - Date.parse(c.State.StartedAt);
      if (ranMs > 10_000) l.restartDelay = 100;
      const delay = l.restartDelay;
      l.restartDelay = Math.min(l.restartDelay * 2, 60_000);
      c.State = { ...c.State, Status: 'restarting', Restarting: true, Running: true };
      this.store.save(c);
      l.restartTimer = setTimeout(() => {
        l.restartTimer = undefined;
        const cur = this.store.get(c.Id);
        if (!cur || !cur.State.Restarting) return;
        cur.RestartCount++;
        this.start(cur.Id).then(() => this.event(cur, 'restart')).catch((e) => {
          log.warn('restart failed', { container: cur.Id.slice(0, 12), error: messageOf(e) });
          const again = this.store.get(cur.Id);
          if (again) { again.State = { ...again.State, Status: 'exited', Running: false, Restarting: false }; this.store.save(again); }
        });
      }, delay);
      l.restartTimer.unref();
      return;
    }
    if (c.HostConfig.AutoRemove) await this.remove(c.Id, { force: true, volumes: true }).catch((e) => log.warn('auto-remove failed', { error: messageOf(e) }));
  }

  private shouldRestart(c: ContainerRecord): boolean {
    const p = c.HostConfig.RestartPolicy;
    if (!p || c.barge.manuallyStopped || c.HostConfig.AutoRemove) return false;
    switch (p.Name) {
      case 'always': case 'unless-stopped': return true;
      case 'on-failure': return c.State.ExitCode !== 0 && (!p.MaximumRetryCount || c.RestartCount < p.MaximumRetryCount);
      default: return false;
    }
  }

  /** Undo what start set up: runtime state, rootfs mount, network, bundle. Idempotent. */
  private async cleanupRuntime(c: ContainerRecord): Promise<void> {
    const id = c.Id;
    // The three are independent: run them together (each is a process spawn or a kernel wait).
    await Promise.all([
      (c.State.Running ? this.runc.delete(id, true) : this.runc.deleteStopped(id)).catch((e) => log.warn('runc delete', { error: messageOf(e) })),
      this.o.images.unmountRootfs(this.rootfsDir(id)).catch((e) => log.warn('unmount rootfs', { error: messageOf(e) })),
      this.o.network.detach(id).catch((e) => log.warn('network detach', { error: messageOf(e) })),
    ]);
    // After the runtime is gone: the last user of a volume unmounts its device.
    await this.o.volumes?.release(id, c.barge.mounts).catch((e) => log.warn('volume release', { error: messageOf(e) }));
    removeCgroup(cgroupPathFor(c));
    fs.rmSync(this.socketPath(id), { force: true });
    fs.rmSync(this.bundleDir(id), { recursive: true, force: true });
    const ns = c.NetworkSettings;
    for (const n of Object.values(ns.Networks ?? {})) { n.IPAddress = ''; n.Gateway = ''; n.MacAddress = ''; n.EndpointID = ''; n.IPPrefixLen = 0; }
    ns.SandboxKey = ''; ns.SandboxID = ''; ns.Ports = {};
    for (const k of ['IPAddress', 'Gateway', 'MacAddress', 'EndpointID']) if (k in ns) ns[k] = '';
    if ('IPPrefixLen' in ns) ns.IPPrefixLen = 0;
    this.liveOf(id).clean = true;
  }

  // ---- wait ----

  /** Docker's wait conditions: not-running (default), next-exit, removed. */
  wait(ref: string, condition = 'not-running'): Promise<{ StatusCode: number; Error?: { Message: string } | null }> {
    const c = this.find(ref);
    const l = this.liveOf(c.Id);
    if (!['not-running', 'next-exit', 'removed', ''].includes(condition)) throw invalid(`invalid condition: "${condition}"`);
    if (condition === 'removed') {
      return new Promise((resolve) => l.removed.push(() => resolve({ StatusCode: c.State.ExitCode, Error: null })));
    }
    if ((condition === 'not-running' || condition === '') && !c.State.Running) {
      return Promise.resolve({ StatusCode: c.State.ExitCode, Error: null });
    }
    return new Promise((resolve) => l.exitWaiters.push((code) => resolve({ StatusCode: code, Error: null })));
  }

  private waitExit(id: string, timeoutMs: number): Promise<boolean> {
    const c = this.store.get(id);
    if (!c || !c.State.Running || c.State.Restarting) return Promise.resolve(true);
    const l = this.liveOf(id);
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | undefined;
      const done = () => { if (t) clearTimeout(t); resolve(true); };
      l.exitWaiters.push(done);
      if (timeoutMs >= 0) t = setTimeout(() => { const i = l.exitWaiters.indexOf(done); if (i >= 0) l.exitWaiters.splice(i, 1); resolve(false); }, timeoutMs);
    });
  }

  // ---- stop / kill / restart ----

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.find(ref);
    if (!c.State.Running) throw notModified();
    const l = this.liveOf(c.Id);
    c.barge.manuallyStopped = true;
    this.store.save(c);
    if (c.State.Restarting) { this.cancelRestart(c); return; }
    l.stopping = true;
    try {
      const sig = signal || c.Config.StopSignal || 'SIGTERM';
      const timeout = timeoutSec ?? c.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
      if (c.State.Paused) {
        await this.signal(c, 'SIGKILL');
        await this.runc.resume(c.Id).catch(() => undefined);
      } else {
        await this.signal(c, sig).catch(() => undefined);
        if (!(await this.waitExit(c.Id, timeout < 0 ? -1 : timeout * 1000))) {
          await this.signal(c, 'SIGKILL').catch(() => undefined);
        }
      }
      if (!(await this.waitExit(c.Id, 30_000))) throw internal(`container ${c.Id} did not exit after SIGKILL`);
      this.event(c, 'stop');
    } finally {
      l.stopping = false;
    }
    if (c.HostConfig.AutoRemove) await this.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
  }

  private cancelRestart(c: ContainerRecord): void {
    const l = this.liveOf(c.Id);
    if (l.restartTimer) clearTimeout(l.restartTimer);
    l.restartTimer = undefined;
    if (!c.State.Restarting) return;
    c.State = { ...c.State, Status: 'exited', Running: false, Restarting: false };
    this.store.save(c);
  }

  private async signal(c: ContainerRecord, sig: string): Promise<void> {
    const num = signalNumber(sig);
    if (!c.State.Pid) throw conflict(`Container ${c.Id} is not running`);
    try { process.kill(c.State.Pid, num); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.find(ref);
    const num = signalNumber(signal);
    if (!c.State.Running || c.State.Restarting) throw conflict(`Cannot kill container: ${ref}: Container ${c.Id} is not running`);
    const l = this.liveOf(c.Id);
    if (num === 9) { c.barge.manuallyStopped = true; this.store.save(c); }
    const isKill = num === 9;
    if (isKill) l.stopping = true;
    try {
      await this.signal(c, signal);
      if (c.State.Paused && isKill) await this.runc.resume(c.Id).catch(() => undefined);
      this.event(c, 'kill', { signal: String(num) });
      if (isKill) await this.waitExit(c.Id, 30_000);
    } finally {
      if (isKill) l.stopping = false;
    }
    if (isKill && this.store.get(c.Id)) {
      if (c.HostConfig.AutoRemove) await this.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
    }
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.find(ref);
    const auto = c.HostConfig.AutoRemove;
    c.HostConfig.AutoRemove = false;   // a restart must not remove the container in between
    try {
      if (c.State.Running) await this.stop(c.Id, timeoutSec, signal).catch((e) => { if (!(e instanceof BargeError && e.kind === 'notModified')) throw e; });
    } finally { c.HostConfig.AutoRemove = auto; }
    await this.start(c.Id);
    this.event(c, 'restart');
  }

  async pause(ref: string): Promise<void> {
    const c = this.find(ref);
    await this.locked(c.Id, async () => {
      if (!c.State.Running || c.State.Restarting) throw conflict(`Container ${c.Id} is not running`);
      if (c.State.Paused) throw conflict(`Container ${c.Id} is already paused`);
      await this.runc.pause(c.Id);
      c.State = { ...c.State, Paused: true, Status: 'paused' };
      this.store.save(c);
      this.event(c, 'pause');
    });
  }

  async unpause(ref: string): Promise<void> {
    const c = this.find(ref);
    await this.locked(c.Id, async () => {
      if (!c.State.Paused) throw conflict(`Container ${c.Id} is not paused`);
      await this.runc.resume(c.Id);
      c.State = { ...c.State, Paused: false, Status: 'running' };
      this.store.save(c);
      this.event(c, 'unpause');
    });
  }

  // ---- remove / rename ----

  async remove(ref: string, o: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const c = this.find(ref);
    const l = this.liveOf(c.Id);
    if (c.State.Status === 'removing' || l.removing) return;
    if (c.State.Running && !c.State.Restarting && !o.force) {
      throw conflict(c.State.Paused
        ? `cannot remove container "${c.Name}": container is paused and must be unpaused first`
        : `cannot remove container "${c.Name}": container is running: stop the container before removing or force remove`);
    }
    // From here no start (restart policy, API) may begin: it would race the removal.
    l.removing = true;
    try {
      this.cancelRestart(c);
      // Under the lock, so a start already under way has finished and its process is known.
      await this.locked(c.Id, async () => {
        if (!c.State.Running || c.State.Restarting) return;
        l.stopping = true;
        try {
          await this.signal(c, 'SIGKILL').catch(() => undefined);
          if (c.State.Paused) await this.runc.resume(c.Id).catch(() => undefined);
          // onExit resolves the waiters before it queues its cleanup behind this lock.
          if (!(await this.waitExit(c.Id, 30_000))) {
            await this.runc.kill(c.Id, 'KILL', true).catch(() => undefined);
            c.State = { ...c.State, Status: 'exited', Running: false, Paused: false, Pid: 0, ExitCode: 137, FinishedAt: new Date().toISOString() };
            l.clean = false;
          }
        } finally { l.stopping = false; }
      });
      await this.locked(c.Id, async () => {
        if (!this.store.get(c.Id)) return;
        c.State = { ...c.State, Status: 'removing' };
        this.store.save(c);
        if (!l.clean) await this.cleanupRuntime(c);
        await this.o.images.removeRootfs(c.Id);
        this.store.delete(c);
        // rm -v, --rm: the container's anonymous volumes go with it (named ones stay).
        if (o.volumes) await this.o.volumes?.removeAnonymous(c.barge.mounts);
      });
    } catch (e) {
      l.removing = false;
      throw e;
    }
    this.live.delete(c.Id);
    this.event(c, 'destroy');
    for (const r of l.removed.splice(0)) r();
  }

  rename(ref: string, newName: string): void {
    const c = this.find(ref);
    if (!newName) throw invalid('Neither old nor new names may be empty');
    const name = this.store.validateName(newName);
    if (name === c.Name) throw invalid(`Renaming a container with the same name as its current name`);
    this.store.reserveName(name, c.Id);
    const old = c.Name;
    this.store.releaseName(old, c.Id);
    c.Name = name;
    this.store.save(c);
    if (c.State.Running) this.o.network.rename(c.Id, name.slice(1));
    this.event(c, 'rename', { oldName: old });
  }

  // ---- attach plumbing for the API ----

  /** Register a connector that runs at the next start, before the process runs. */
  onNextStart(ref: string, connector: (socketPath: string) => Promise<void>): () => void {
    const c = this.find(ref);
    const l = this.liveOf(c.Id);
    l.pendingAttach.push(connector);
    return () => { const i = l.pendingAttach.indexOf(connector); if (i >= 0) l.pendingAttach.splice(i, 1); };
  }

  isRunning(id: string): boolean { return !!this.store.get(id)?.State.Running; }

  // ---- recovery at daemon start ----

  async recover(): Promise<void> {
    const { removed } = this.store.load();
    for (const id of removed) {
      log.warn('removing half-made container', { id });
      await this.o.images.removeRootfs(id).catch(() => undefined);
      fs.rmSync(this.store.dir(id), { recursive: true, force: true });
    }
    const toStart: ContainerRecord[] = [];
    for (const c of this.store.all()) {
      if (c.State.Status === 'removing') {
        await this.cleanupRuntime(c);
        await this.o.images.removeRootfs(c.Id).catch(() => undefined);
        this.store.delete(c);
        continue;
      }
      if (!c.State.Running) {
        if (exists(this.bundleDir(c.Id))) await this.cleanupRuntime(c);
        continue;
      }
      if (c.State.Restarting) { toStart.push(c); continue; }
      const sock = this.socketPath(c.Id);
      let conn: MonitorConnection | null = null;
      try { conn = await MonitorConnection.connect(sock); } catch { conn = null; }
      if (conn) {
        log.info('reattached to running container', { id: c.Id.slice(0, 12), pid: c.State.Pid });
        this.o.volumes?.restore(c.Id, c.barge.mounts);
        this.watch(c, conn);
        continue;
      }
      // The monitor is gone: the container exited while we were away (or the host rebooted).
      const info = readExitFile(path.join(this.bundleDir(c.Id), 'exit')) ?? { exitCode: 255, signal: 0, finishedAt: new Date().toISOString() };
      await this.onExit(c.Id, info);
    }
    // Restart policies at daemon start (Docker: always, and unless-stopped when not stopped by hand).
    for (const c of this.store.all()) {
      if (c.State.Running && !c.State.Restarting) continue;
      const p = c.HostConfig.RestartPolicy?.Name;
      if (c.State.Restarting || ((p === 'always' || p === 'unless-stopped') && !c.barge.manuallyStopped && c.barge.hasBeenStarted)) toStart.push(c);
    }
    for (const c of new Set(toStart)) {
      c.State = { ...c.State, Restarting: false, Running: false, Status: 'exited' };
      await this.start(c.Id).catch((e) => log.warn('restart at daemon start failed', { id: c.Id.slice(0, 12), error: messageOf(e) }));
    }
    // Runtime leftovers of containers that no longer exist.
    for (const dir of ['c', 'm']) {
      for (const name of safeReaddir(path.join(this.o.execRoot, dir))) {
        if (!this.store.get(name) && !this.isExecId(name)) {
          await this.runc.delete(name, true).catch(() => undefined);
          if (dir === 'c') await this.o.images.unmountRootfs(path.join(this.o.execRoot, 'c', name, 'rootfs')).catch(() => undefined);
          fs.rmSync(path.join(this.o.execRoot, dir, name), { recursive: true, force: true });
        }
      }
    }
  }

  /** Exec sessions register themselves here so recovery leaves their sockets alone. */
  execIds = new Set<string>();
  private isExecId(name: string): boolean { return this.execIds.has(name); }

  /** Close monitor connections (the containers keep running). */
  close(): void {
    for (const l of this.live.values()) {
      if (l.restartTimer) clearTimeout(l.restartTimer);
      const conn = l.conn;
      l.conn = null;
      conn?.removeAllListeners();
      conn?.close();
    }
  }
}

// ---- helpers ----

function safeReaddir(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

function osHostname(): string {
  try { return fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(); } catch { return 'localhost'; }
}

/** The EndpointsConfig a container was created or connected with, by network name. */
function endpointsConfigOf(c: ContainerRecord): Record<string, EndpointConfig> {
  const nc = c.barge.networkingConfig as { EndpointsConfig?: Record<string, EndpointConfig> | null } | undefined;
  return nc?.EndpointsConfig ?? {};
}

/** The NetworkSettings.Networks entry of a network the container is configured with but not running on. */
function emptyEndpoint(networkId: string, cfg?: EndpointConfig | null): Record<string, unknown> {
  return {
    IPAMConfig: cfg?.IPAMConfig ?? null, Links: null, Aliases: cfg?.Aliases?.length ? cfg.Aliases : null, MacAddress: cfg?.MacAddress ?? '',
    DriverOpts: null, GwPriority: 0, NetworkID: networkId, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0,
    IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null,
  };
}

function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) {
    const i = e.indexOf('=');
    out.set(i < 0 ? e : e.slice(0, i), e);
  }
  return [...out.values()];
}

function logOpt(c: ContainerRecord, key: string, dflt: number): number {
  const v = c.HostConfig.LogConfig?.Config?.[key];
  if (v === undefined) return dflt;
  if (key === 'max-file') return Number(v) || dflt;
  return parseLogSize(v);
}

function validateHostConfig(hc: HostConfig, body: CreateRequest): void {
  const lt = hc.LogConfig?.Type;
  if (lt && !['json-file', 'none', 'local'].includes(lt)) throw invalid(`logger: no log driver named '${lt}' is registered`);
  for (const k of ['max-size', 'max-file']) {
    const v = hc.LogConfig?.Config?.[k];
    if (v === undefined) continue;
    if (k === 'max-file' && !(Number(v) >= 1)) throw invalid(`invalid value for max-file: ${v}: must be a number of at least 1`);
    if (k === 'max-size') parseLogSize(v);
  }
  if (hc.Memory !== undefined && hc.Memory !== 0 && hc.Memory < 6 * 1024 * 1024) throw invalid('Minimum memory limit allowed is 6MB');
  if (hc.Memory !== undefined && hc.Memory < 0) throw invalid('invalid memory limit: it must not be negative');
  if (hc.NanoCpus && (hc.CpuQuota || hc.CpuPeriod)) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (hc.MemorySwap !== undefined && hc.MemorySwap > 0 && hc.Memory && hc.MemorySwap < hc.Memory) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (hc.CpuShares !== undefined && hc.CpuShares < 0) throw invalid('invalid CPU shares: it must not be negative');
  const rp = hc.RestartPolicy?.Name;
  if (rp && !['no', 'always', 'unless-stopped', 'on-failure', ''].includes(rp)) throw invalid(`invalid restart policy '${rp}'`);
  if (rp && rp !== 'on-failure' && rp !== 'no' && (hc.RestartPolicy?.MaximumRetryCount ?? 0) > 0) throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  if (hc.AutoRemove && rp && rp !== 'no') throw invalid(`can't create 'AutoRemove' container with restart policy`);
}

/** Map a runc start failure to Docker's message, status and exit code (127 not found, 126 cannot run). */
function startError(e: Error & { runtimeMessage?: string }): BargeError {
  const msg = runcMessage(e.runtimeMessage ?? e.message) || e.message;
  const full = `failed to create task for container: OCI runtime create failed: ${msg}: unknown`;
  if (/executable file not found|no such file or directory/.test(msg)) return new BargeError('invalid', full, { exitCode: 127 });
  if (/permission denied|is a directory|exec format error/.test(msg)) return new BargeError('invalid', full, { exitCode: 126 });
  return new BargeError('internal', full, { exitCode: 128 });
}

export type { ContainerState };
