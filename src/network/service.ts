// NetworkService: container networking for the engine core — Docker's three predefined networks.
//
// The model. There are three networks, as in Docker: `bridge` (driver bridge), `host` (driver
// host) and `none` (driver null). A container joins exactly one of them through an *endpoint*:
//   - bridge: the container gets a *sandbox* — a named network namespace bind-mounted at
//     <execRoot>/netns/<containerId> (the SandboxKey) — holding `lo` and `eth0`, one end of a veth
//     pair whose other end (veth…) is a port of the host bridge (default `barge0`). eth0 gets the
//     next free address of the bridge subnet from the IPAM, a MAC derived from it (02:42:<ip>),
//     and a default route via the bridge's own address. The host NATs the subnet out of every
//     other interface (iptables MASQUERADE) and forwards for it (see iptables.ts).
//   - none: a sandbox with only `lo`, up.
//   - host: no sandbox; the container shares the host's network namespace.
// The runtime passes the SandboxKey to runc as the container's network namespace path.
//
// State. The bridge, its address and the iptables rules are (re)made idempotently by open().
// Each endpoint is one record, <dataRoot>/network/endpoints/<containerId>.json; the IPAM's owners
// are rebuilt from those records and its cursor lives in <dataRoot>/network/ipam.json, so an
// address is never in use twice, even across daemon restarts. close() removes nothing: running
// containers keep their network; a new daemon adopts them at open().
//
// Lifecycle, as the engine drives it:
//     const net = await NetworkService.open({ dataRoot, execRoot, bridge: 'barge0', iptables: true });
//     await net.recover((id) => containers.isRunning(id));  // drop the endpoints of the others
//     // (or pass `keep` to open() when the container store is already known)
//     const a = await net.attach(id, { mode: 'bridge' });  // a.netnsPath → runc's netns path
//     ... container runs; net.inspect(id) is its NetworkSettings, net.stats(id, pid) its counters
//     await net.detach(id);                                // after the container stopped
//
// Restart of the daemon with a container still running: nothing is done to it; open() finds its
// record and its mounted namespace file, and keeps its address reserved.
//
// Cost (measured on the 2-core test VM): attach bridge ≈ 6 ms (one spawn of `unshare … ip -batch`
// plus one command through a long-lived ip, see sandbox.ts), none ≈ 4.5 ms, host < 1 ms; detach
// bridge ≈ 25 ms, nearly all of it the kernel deleting the veth (RCU grace periods), none ≈ 3 ms.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BargeError, conflict, internal, invalid, notFound } from '../lib/errors.js';
import { cleanTempFiles, readJsonOr, writeJsonAtomic } from '../lib/fsutil.js';
import { newId } from '../lib/ids.js';
import { log } from '../lib/log.js';
import { IpShell, run } from './exec.js';
import { resolvConf, hostsFile, ResolvOptions, HostsOptions } from './etcfiles.js';
import { bridgePorts, chooseDefaultBip, isBridge, linkAddresses, linkExists, mountPoints } from './hostinfo.js';
import { Ipam } from './ipam.js';
import * as iptables from './iptables.js';
import { Cidr, formatSubnet, intToIp, isMac, macFromIp, parseCidr, networkOf, broadcastOf } from './ipv4.js';
import { createSandbox, destroySandbox, unmountAll } from './sandbox.js';
import { InterfaceStats, statsOfPeer, statsOfPid } from './stats.js';

export type NetworkMode = 'bridge' | 'none' | 'host';

export interface NetworkServiceOptions {
  dataRoot: string;
  execRoot: string;
  /** Name of the host bridge (default barge0). */
  bridge?: string;
  /** Bridge address with the subnet prefix, e.g. 172.18.0.1/16. Default: the bridge's current
   * address if it exists, else the one used last time, else Docker's choice (first free of
   * 172.17-31.0.0/16, then 192.168.x.0/20, overlapping no host route, address or nameserver). */
  bip?: string;
  /** Install NAT and forwarding rules (Docker's --iptables). */
  iptables?: boolean;
  /** MTU of the bridge and the veths (Docker's default: 1500). */
  mtu?: number;
  /** Whether a container's endpoint is still wanted (the container exists and runs). Endpoints
   * it disowns are torn down at open. Default: keep every endpoint whose sandbox still exists. */
  keep?: (containerId: string) => boolean;
}

/** What attach() returns; the runtime joins `netnsPath` (undefined for host: no new namespace). */
export interface Attachment {
  containerId: string;
  mode: NetworkMode;
  netnsPath?: string;
  ipAddress?: string;
  prefixLen?: number;
  gateway?: string;
  macAddress?: string;
  hostVeth?: string;
  endpointId: string;
  /** Docker's NetworkSettings fragment (see inspect()). */
  settings: NetworkSettings;
}

export type EndpointSettings = {
  IPAMConfig: null; Links: null; Aliases: null; MacAddress: string; DriverOpts: null; GwPriority: number;
  NetworkID: string; EndpointID: string; Gateway: string; IPAddress: string; IPPrefixLen: number;
  IPv6Gateway: string; GlobalIPv6Address: string; GlobalIPv6PrefixLen: number; DNSNames: null;
};

/** A type (not an interface) so that it is assignable to Record<string, unknown>. */
export type NetworkSettings = {
  Bridge: string; SandboxID: string; SandboxKey: string; Ports: Record<string, unknown>;
  HairpinMode: boolean; LinkLocalIPv6Address: string; LinkLocalIPv6PrefixLen: number;
  SecondaryIPAddresses: null; SecondaryIPv6Addresses: null;
  EndpointID: string; Gateway: string; GlobalIPv6Address: string; GlobalIPv6PrefixLen: number;
  IPAddress: string; IPPrefixLen: number; IPv6Gateway: string; MacAddress: string;
  Networks: Record<string, EndpointSettings>;
};

/** Docker's /networks/{id} object. */
export interface NetworkResource {
  Name: string; Id: string; Created: string; Scope: 'local'; Driver: 'bridge' | 'host' | 'null';
  EnableIPv4: boolean; EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: null; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean; Attachable: boolean; Ingress: boolean; ConfigFrom: { Network: string }; ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>; Labels: Record<string, string>;
}

interface EndpointRecord {
  containerId: string;
  mode: NetworkMode;
  endpointId: string;
  sandboxId: string;
  created: string;
  netnsPath?: string;
  hostVeth?: string;
  bridge?: string;
  ipAddress?: string;
  prefixLen?: number;
  gateway?: string;
  macAddress?: string;
}

interface NetworksFile {
  networks: Record<'bridge' | 'host' | 'none', { id: string; created: string }>;
  bip?: string;
}

const DRIVER: Record<NetworkMode, NetworkResource['Driver']> = { bridge: 'bridge', host: 'host', none: 'null' };
const MODES: NetworkMode[] = ['bridge', 'host', 'none'];

export class NetworkService {
  private readonly records = new Map<string, EndpointRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Containers with an attach or detach under way, and the veths being made for them. */
  private readonly busy = new Set<string>();
  private readonly busyVeths = new Set<string>();
  private readonly endpointsDir: string;
  private readonly netnsDir: string;
  private readonly ipamFile: string;
  private readonly shell = new IpShell();

  private constructor(
    private readonly o: Required<Omit<NetworkServiceOptions, 'bip' | 'keep'>>,
    readonly bip: Cidr,
    private readonly ipam: Ipam,
    private readonly nets: NetworksFile,
  ) {
    this.endpointsDir = path.join(o.dataRoot, 'network', 'endpoints');
    this.netnsDir = path.join(o.execRoot, 'netns');
    this.ipamFile = path.join(o.dataRoot, 'network', 'ipam.json');
  }

  /** The bridge's name, e.g. barge0. */
  get bridgeName(): string { return this.o.bridge; }
  /** The bridge subnet, e.g. 172.18.0.0/16. */
  get subnet(): string { return formatSubnet(this.bip); }
  /** The bridge's own address, the containers' gateway, e.g. 172.18.0.1. */
  get gateway(): string { return intToIp(this.bip.ip); }
  /** Where a container's network namespace is (or would be) mounted: its SandboxKey. */
  netnsPath(containerId: string): string { return path.join(this.netnsDir, containerId); }

  static async open(opts: NetworkServiceOptions): Promise<NetworkService> {
    const o = {
      dataRoot: opts.dataRoot, execRoot: opts.execRoot, bridge: opts.bridge ?? 'barge0',
      iptables: opts.iptables ?? true, mtu: opts.mtu ?? 1500,
    };
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.bridge)) throw invalid(`invalid bridge name "${o.bridge}": 1 to 15 letters, digits, "_", "." or "-"`);
    if (!Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535) throw invalid(`invalid MTU ${o.mtu}`);
    const netDir = path.join(o.dataRoot, 'network');
    fs.mkdirSync(path.join(netDir, 'endpoints'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(o.execRoot, 'netns'), { recursive: true, mode: 0o711 });
    cleanTempFiles(netDir);
    cleanTempFiles(path.join(netDir, 'endpoints'));

    // The predefined networks keep their ids across restarts.
    const netsFile = path.join(netDir, 'networks.json');
    const nets = readJsonOr<NetworksFile | null>(netsFile, null) ?? { networks: {} as NetworksFile['networks'] };
    let changed = false;
    for (const m of MODES) {
      if (!nets.networks[m]) { nets.networks[m] = { id: newId(), created: new Date().toISOString() }; changed = true; }
    }

    // The bridge address: asked for, else the bridge's own, else last time's, else Docker's choice.
    const existing = isBridge(o.bridge) ? await linkAddresses(o.bridge) : [];
    const bipText = opts.bip ?? (existing[0] ? `${intToIp(existing[0].ip)}/${existing[0].prefixLen}` : undefined)
      ?? nets.bip ?? chooseDefaultBip();
    const bip = parseCidr(bipText);
    if (bip.prefixLen > 30 || bip.ip === networkOf(bip) || bip.ip === broadcastOf(bip)) {
      throw invalid(`invalid bip ${bipText}: want the bridge's address in a subnet of /30 or larger, e.g. 172.18.0.1/16`);
    }
    if (nets.bip !== bipText) { nets.bip = bipText; changed = true; }
    if (changed) writeJsonAtomic(netsFile, nets);

    await ensureBridge(o.bridge, bip, o.mtu, existing);
    enableForwarding();
    if (o.iptables) await iptables.install({ bridge: o.bridge, subnet: formatSubnet(bip) });

    const saved = readJsonOr<{ subnet?: string; last?: string }>(path.join(netDir, 'ipam.json'), {});
    const ipam = new Ipam(bip, saved.subnet === formatSubnet(bip) ? saved.last : undefined);
    const svc = new NetworkService(o, bip, ipam, nets);
    await svc.recover(opts.keep);
    return svc;
  }

  /**
   * Adopt the endpoints still wanted and remove every trace of the others: their sandboxes, veths
   * and addresses, and namespace files or bridge ports no endpoint owns (a start interrupted
   * before its record was written). open() runs it (with `keep` of the options, default: every
   * endpoint whose sandbox still exists); run it again once the container store can tell which
   * containers still run. Endpoints being attached or detached meanwhile are left alone.
   */
  recover(keep: (containerId: string) => boolean = () => true): Promise<void> {
    return this.serialize('\0recover', () => this.doRecover(keep));
  }

  private async doRecover(keep: (id: string) => boolean): Promise<void> {
    const mounts = mountPoints();
    const live = new Map<string, EndpointRecord>();
    const stale: EndpointRecord[] = [];
    for (const name of safeReaddir(this.endpointsDir)) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(this.endpointsDir, name);
      const rec = readJsonOr<EndpointRecord | null>(file, null);
      if (!rec || rec.containerId + '.json' !== name) { fs.rmSync(file, { force: true }); continue; }
      if (this.busy.has(rec.containerId)) continue;
      let alive = keep(rec.containerId);
      if (alive && rec.netnsPath) alive = mounts.has(rec.netnsPath);
      if (alive && rec.mode === 'bridge') {
        alive = !!rec.hostVeth && linkExists(rec.hostVeth) && !!rec.ipAddress;
        if (alive && rec.bridge === this.o.bridge && !this.ipam.reserve(rec.ipAddress!, rec.containerId)) {
          if (this.ipam.ownerOf(rec.ipAddress!) !== undefined) alive = false;  // the address is someone else's
          else log.warn('endpoint address outside the bridge subnet', { container: rec.containerId, ip: rec.ipAddress });
        }
      }
      if (alive) live.set(rec.containerId, rec); else stale.push(rec);
    }
    for (const [id, rec] of this.records) {
      if (live.has(id) || this.busy.has(id)) continue;
      this.records.delete(id);
      if (rec.ipAddress && this.ipam.ownerOf(rec.ipAddress) === id) this.ipam.release(rec.ipAddress);
    }
    for (const [id, rec] of live) this.records.set(id, rec);

    const ownedNs = new Set<string>();
    const ownedVeths = new Set<string>(this.busyVeths);
    for (const r of this.records.values()) {
      if (r.netnsPath) ownedNs.add(r.netnsPath);
      if (r.hostVeth) ownedVeths.add(r.hostVeth);
    }
    for (const id of this.busy) ownedNs.add(this.netnsPath(id));
    const veths = new Set<string>();
    const nsFiles = new Set<string>();
    for (const r of stale) {
      if (r.hostVeth && !ownedVeths.has(r.hostVeth) && linkExists(r.hostVeth)) veths.add(r.hostVeth);
      if (r.netnsPath && !ownedNs.has(r.netnsPath)) nsFiles.add(r.netnsPath);
      if (r.ipAddress && this.ipam.ownerOf(r.ipAddress) === r.containerId) this.ipam.release(r.ipAddress);
    }
    for (const name of safeReaddir(this.netnsDir)) {
      const p = path.join(this.netnsDir, name);
      if (!ownedNs.has(p)) nsFiles.add(p);
    }
    for (const port of bridgePorts(this.o.bridge)) if (!ownedVeths.has(port)) veths.add(port);

    if (veths.size) {
      log.info('removing leftover veths', { bridge: this.o.bridge, veths: [...veths] });
      await run('ip', ['-force', '-batch', '-'], [...veths].map((v) => `link del ${v}`).join('\n') + '\n').catch((e) =>
        log.warn('could not remove some leftover veths', { error: (e as Error).message }));
    }
    if (nsFiles.size) {
      log.info('removing leftover network namespaces', { paths: [...nsFiles] });
      // A file can carry stacked mounts after interrupted starts: repeat while some remain.
      for (let i = 0; i < 4; i++) {
        const mounted = [...nsFiles].filter((p) => mountPoints().has(p));
        if (!mounted.length) break;
        await unmountAll(mounted).catch((e) => log.warn('could not unmount a network namespace', { error: (e as Error).message }));
      }
      for (const p of nsFiles) {
        try { fs.rmSync(p, { force: true }); } catch (e) {
          log.warn('could not remove a network namespace file', { path: p, error: (e as Error).message });
        }
      }
    }
    for (const r of stale) fs.rmSync(this.recordPath(r.containerId), { force: true });
  }

  /** Give a container its network: see the comment at the top of this file. */
  attach(containerId: string, o: { mode: NetworkMode; macAddress?: string }): Promise<Attachment> {
    checkId(containerId);
    if (!MODES.includes(o.mode)) throw invalid(`invalid network mode "${o.mode}": use bridge, host or none`);
    if (o.macAddress !== undefined && o.macAddress !== '' && !isMac(o.macAddress)) throw invalid(`invalid MAC address: ${o.macAddress}`);
    if (o.macAddress && o.mode !== 'bridge') throw invalid('conflicting options: mac-address and the network mode');
    return this.exclusive(containerId, async () => {
      const cur = this.records.get(containerId);
      if (cur) {
        if (cur.mode === o.mode) return this.attachment(cur);
        throw conflict(`container ${containerId} is already attached to network ${cur.mode}`);
      }
      const rec: EndpointRecord = {
        containerId, mode: o.mode, endpointId: newId(), sandboxId: newId(), created: new Date().toISOString(),
      };
      if (o.mode !== 'host') {
        rec.netnsPath = this.netnsPath(containerId);
        // A file left by a crash between the namespace's creation and its record: clear it.
        if (fs.existsSync(rec.netnsPath)) await destroySandbox(rec.netnsPath);
      }
      if (o.mode === 'none') await createSandbox(rec.netnsPath!);
      if (o.mode === 'bridge') {
        const ip = this.ipam.allocate(containerId);
        const hostVeth = newVethName();
        this.busyVeths.add(hostVeth);
        Object.assign(rec, {
          hostVeth, bridge: this.o.bridge, ipAddress: ip, prefixLen: this.bip.prefixLen,
          gateway: this.gateway, macAddress: (o.macAddress || macFromIp(ip)).toLowerCase(),
        });
        try {
          await createSandbox(rec.netnsPath!, {
            hostVeth: rec.hostVeth!, bridge: this.o.bridge, address: ip, prefixLen: rec.prefixLen!,
            gateway: rec.gateway!, macAddress: rec.macAddress!, mtu: this.o.mtu,
          }, this.shell);
        } catch (e) {
          this.ipam.release(ip);
          throw e;
        } finally {
          this.busyVeths.delete(hostVeth);
        }
        this.saveCursor();
      }
      try {
        writeJsonAtomic(this.recordPath(containerId), rec, 0o600);
      } catch (e) {
        if (rec.netnsPath) await destroySandbox(rec.netnsPath, rec.hostVeth).catch(() => undefined);
        if (rec.ipAddress) this.ipam.release(rec.ipAddress);
        throw e;
      }
      this.records.set(containerId, rec);
      return this.attachment(rec);
    });
  }

  /** Undo attach(): veth, namespace mount and file, address. Idempotent. */
  detach(containerId: string): Promise<void> {
    checkId(containerId);
    return this.exclusive(containerId, async () => {
      const rec = this.records.get(containerId);
      const nsPath = rec?.netnsPath ?? this.netnsPath(containerId);
      if (rec?.mode !== 'host' && (rec || fs.existsSync(nsPath))) await destroySandbox(nsPath, rec?.hostVeth);
      if (!rec) return;
      fs.rmSync(this.recordPath(containerId), { force: true });
      this.records.delete(containerId);
      if (rec.ipAddress && this.ipam.ownerOf(rec.ipAddress) === containerId) this.ipam.release(rec.ipAddress);
    });
  }

  /** The attachment of a container, if it has one. */
  attachmentOf(containerId: string): Attachment | undefined {
    const rec = this.records.get(containerId);
    return rec && this.attachment(rec);
  }

  /**
   * Docker's NetworkSettings for a container: of its endpoint if attached, else the shape Docker
   * shows for a container not running in network `mode` (default bridge): empty addresses.
   */
  inspect(containerId: string, mode: NetworkMode = 'bridge'): NetworkSettings {
    const rec = this.records.get(containerId);
    const m = rec?.mode ?? mode;
    const ep: EndpointSettings = {
      IPAMConfig: null, Links: null, Aliases: null, MacAddress: rec?.macAddress ?? '', DriverOpts: null, GwPriority: 0,
      NetworkID: rec ? this.nets.networks[m].id : '', EndpointID: rec?.endpointId ?? '',
      Gateway: rec?.gateway ?? '', IPAddress: rec?.ipAddress ?? '', IPPrefixLen: rec?.prefixLen ?? 0,
      IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null,
    };
    const onBridge = m === 'bridge';
    return {
      Bridge: '', SandboxID: rec?.sandboxId ?? '',
      SandboxKey: rec ? (rec.netnsPath ?? path.join(this.netnsDir, 'default')) : '',
      Ports: {}, HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
      SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
      EndpointID: onBridge ? ep.EndpointID : '', Gateway: onBridge ? ep.Gateway : '',
      GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
      IPAddress: onBridge ? ep.IPAddress : '', IPPrefixLen: onBridge ? ep.IPPrefixLen : 0, IPv6Gateway: '',
      MacAddress: onBridge ? ep.MacAddress : '',
      Networks: { [m]: ep },
    };
  }

  /** The predefined networks in Docker's GET /networks shape (Containers left empty, as Docker does). */
  list(): NetworkResource[] {
    return MODES.map((m) => this.resource(m, false));
  }

  /** One network by name, full id or unique id prefix, with its Containers (Docker's inspect). */
  get(idOrName: string, o: { nameOf?: (containerId: string) => string | undefined } = {}): NetworkResource {
    let m = MODES.find((x) => x === idOrName || this.nets.networks[x].id === idOrName);
    if (!m && idOrName.length > 0) {
      const hits = MODES.filter((x) => this.nets.networks[x].id.startsWith(idOrName));
      if (hits.length > 1) throw new BargeError('invalid', `network ${idOrName} is ambiguous (${hits.length} matches found on name)`);
      m = hits[0];
    }
    if (!m) throw notFound(`network ${idOrName} not found`);
    return this.resource(m, true, o.nameOf);
  }

  /** Docker's `networks` stats object: from /proc/<pid>/net/dev given a pid in the container, else
   * from the host end of the veth. Undefined when the container has no interface but lo. */
  stats(containerId: string, pid?: number): Record<string, InterfaceStats> | undefined {
    const rec = this.records.get(containerId);
    if (!rec || rec.mode === 'host') return undefined;
    if (pid) {
      const s = statsOfPid(pid);
      if (s) return Object.keys(s).length ? s : undefined;
    }
    if (rec.mode !== 'bridge' || !rec.hostVeth) return undefined;
    const s = statsOfPeer(rec.hostVeth);
    return s ? { eth0: s } : undefined;
  }

  /** A container's /etc/resolv.conf content (see etcfiles.ts). */
  resolvConf(o: ResolvOptions = {}): string { return resolvConf(o); }

  /** A container's /etc/hosts content (see etcfiles.ts). */
  hostsFile(hostname: string, ip?: string, o: HostsOptions = {}): string { return hostsFile(hostname, ip, o); }

  /** Nothing to release: containers keep their network, and a new open() adopts it. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.locks.values()]);
    this.shell.close();
  }

  /** Remove everything open() and attach() made: endpoints, the bridge, the iptables rules (tests). */
  async teardown(): Promise<void> {
    for (const id of [...this.records.keys()]) await this.detach(id);
    if (this.o.iptables) await iptables.remove(this.o.bridge);
    if (isBridge(this.o.bridge)) await run('ip', ['link', 'del', this.o.bridge]);
    this.shell.close();
  }

  private attachment(rec: EndpointRecord): Attachment {
    return {
      containerId: rec.containerId, mode: rec.mode, netnsPath: rec.netnsPath, ipAddress: rec.ipAddress,
      prefixLen: rec.prefixLen, gateway: rec.gateway, macAddress: rec.macAddress, hostVeth: rec.hostVeth,
      endpointId: rec.endpointId, settings: this.inspect(rec.containerId),
    };
  }

  private resource(m: NetworkMode, withContainers: boolean, nameOf?: (id: string) => string | undefined): NetworkResource {
    const n = this.nets.networks[m];
    const containers: NetworkResource['Containers'] = {};
    if (withContainers) {
      for (const r of this.records.values()) {
        if (r.mode !== m) continue;
        containers[r.containerId] = {
          Name: (nameOf?.(r.containerId) ?? '').replace(/^\//, ''), EndpointID: r.endpointId,
          MacAddress: r.macAddress ?? '', IPv4Address: r.ipAddress ? `${r.ipAddress}/${r.prefixLen}` : '', IPv6Address: '',
        };
      }
    }
    return {
      Name: m, Id: n.id, Created: n.created, Scope: 'local', Driver: DRIVER[m], EnableIPv4: true, EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: m === 'bridge' ? [{ Subnet: this.subnet, Gateway: this.gateway }] : [] },
      Internal: false, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
      Containers: containers,
      Options: m === 'bridge' ? {
        'com.docker.network.bridge.default_bridge': 'true',
        'com.docker.network.bridge.enable_icc': 'true',
        'com.docker.network.bridge.enable_ip_masquerade': String(this.o.iptables),
        'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
        'com.docker.network.bridge.name': this.o.bridge,
        'com.docker.network.driver.mtu': String(this.o.mtu),
      } : {},
      Labels: {},
    };
  }

  private recordPath(containerId: string): string { return path.join(this.endpointsDir, `${containerId}.json`); }

  /** The IPAM cursor: losing it only changes which free address comes next, so no fsync. */
  private saveCursor(): void {
    const tmp = `${this.ipamFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify({ subnet: this.subnet, last: this.ipam.lastAllocated }) + '\n');
      fs.renameSync(tmp, this.ipamFile);
    } catch (e) {
      log.warn('could not save the IPAM cursor', { error: (e as Error).message });
    }
  }

  /** serialize() for a container, marking it busy so that recover() leaves it alone. */
  private exclusive<T>(containerId: string, fn: () => Promise<T>): Promise<T> {
    return this.serialize(containerId, async () => {
      this.busy.add(containerId);
      try { return await fn(); } finally { this.busy.delete(containerId); }
    });
  }

  /** Run fn after every earlier operation on the same key has settled. */
  private serialize<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const p = prev.then(fn, fn);
    const tail = p.then(() => undefined, () => undefined);
    this.locks.set(id, tail);
    void tail.then(() => { if (this.locks.get(id) === tail) this.locks.delete(id); });
    return p;
  }
}

function checkId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) throw invalid(`invalid container id "${id}"`);
}

function safeReaddir(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

/** Docker's host-side veth names: "veth" and 7 random hex digits. */
function newVethName(): string {
  for (;;) {
    const name = `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
    if (!linkExists(name)) return name;
  }
}

function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;  // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Make the bridge exist with exactly this IPv4 address and be up, in at most one spawn (none when
 * it already is so). Its MAC is set at creation so that it does not change as ports come and go.
 */
async function ensureBridge(name: string, bip: Cidr, mtu: number, existing: Cidr[]): Promise<void> {
  if (linkExists(name) && !isBridge(name)) throw conflict(`${name} exists and is not a bridge: choose another bridge name`);
  const lines: string[] = [];
  const want = `${intToIp(bip.ip)}/${bip.prefixLen}`;
  if (!linkExists(name)) lines.push(`link add name ${name} mtu ${mtu} address ${randomMac()} type bridge`);
  let has = false;
  for (const a of existing) {
    if (a.ip === bip.ip && a.prefixLen === bip.prefixLen) has = true;
    else lines.push(`addr del ${intToIp(a.ip)}/${a.prefixLen} dev ${name}`);
  }
  if (!has) lines.push(`addr add ${want} brd + dev ${name}`);
  let up = false;
  try { up = (parseInt(fs.readFileSync(`/sys/class/net/${name}/flags`, 'utf8'), 16) & 1) === 1; } catch { /* new */ }
  if (!up || lines.length) lines.push(`link set ${name} up`);
  if (!lines.length) return;
  try {
    await run('ip', ['-batch', '-'], lines.join('\n') + '\n');
  } catch (e) {
    throw internal(`could not set up bridge ${name} with ${want}: ${(e as Error).message}`);
  }
}

/** Docker turns IPv4 forwarding on; it never turns it off. */
function enableForwarding(): void {
  const f = '/proc/sys/net/ipv4/ip_forward';
  try {
    if (fs.readFileSync(f, 'utf8').trim() !== '1') fs.writeFileSync(f, '1\n');
  } catch (e) {
    log.warn('could not enable IPv4 forwarding: containers will not reach outside the host', { error: (e as Error).message });
  }
}
