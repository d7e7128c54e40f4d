// NetworkService: container networking — Docker's networks, endpoints, name resolution and
// published ports.
//
// The model.
//   - A *network* is one of Docker's three predefined ones — `bridge` (the default bridge, host
//     interface barge0 unless --bridge says otherwise), `host` and `none` — or a user-defined
//     bridge network (`network create`): its own host bridge (br-<id>), subnet, gateway (the
//     bridge's address), optional ip-range, and iptables chains (iptables.ts). User networks also
//     have a DNS server on their gateway (dns.ts) and are isolated from each other.
//   - A container that runs has a *sandbox*: a named network namespace bind-mounted at
//     <execRoot>/netns/<containerId> (the SandboxKey) holding `lo` and one *endpoint* per
//     network it is connected to: eth0, eth1, …, each one end of a veth pair whose other end
//     (veth…) is a port of that network's bridge, with an address from the network's IPAM, a MAC
//     derived from it (02:42:<ip>) unless given, and, on the first network, the default route.
//     `none` gives a sandbox with only lo; `host` no sandbox at all (the host's namespace);
//     `container:<id>` joins another container's sandbox (the container service gives its path).
//   - *Published ports* belong to the sandbox: DNAT rules on the first endpoint's bridge, the host
//     ports held by barged (ports.ts).
// The runtime passes the SandboxKey to runc as the container's network namespace path.
//
// State. Network definitions: <dataRoot>/network/networks.json (the predefined ones' ids and the
// default bridge address) and networks/<id>.json (one per user network). Each sandbox is one
// record, endpoints/<containerId>.json, written atomically after its pieces exist; the IPAMs'
// owners and the ports are rebuilt from those records at open and the IPAM cursors live in
// ipam.json, so an address is never in use twice, even across daemon restarts. Bridges and
// iptables chains are (re)made idempotently at open. close() removes nothing: running containers
// keep their network; a new daemon adopts them.
//
// Lifecycle, as the engine drives it:
//     const net = await NetworkService.open({ dataRoot, execRoot, bridge: 'barge0', iptables: true });
//     await net.recover((id) => containers.isRunning(id));       // drop the sandboxes of the others
//     const a = await net.attach(id, { mode: 'appnet', name: 'web', endpoints: {...}, ports });
//     ... container runs; a.netnsPath → runc; net.inspect(id) is its NetworkSettings
//     await net.connect(id, 'othernet', {...}); await net.disconnect(id, 'othernet');
//     await net.detach(id);                                      // after the container stopped
//
// Cost (measured on the 2-core test VM): attach to one bridge ≈ 6 ms (one spawn of `unshare … ip
// -batch` plus one command through a long-lived ip, see sandbox.ts), none ≈ 4.5 ms, host < 1 ms;
// detach ≈ 3 ms plus the kernel deleting the veths in the background.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { BargeError, conflict, forbidden, internal, invalid, notFound } from '../lib/errors.js';
import { cleanTempFiles, readJsonOr, writeJsonAtomic } from '../lib/fsutil.js';
import { newId } from '../lib/ids.js';
import { log } from '../lib/log.js';
import { IpShell, run } from './exec.js';
import { resolvConf, hostsFile, ResolvOptions, HostsOptions } from './etcfiles.js';
import { bridgePorts, chooseDefaultBip, freeDefaultPool, hostNameservers, interfaceAddresses, isBridge, linkAddresses, linkExists, mountPoints } from './hostinfo.js';
import { Ipam } from './ipam.js';
import * as iptables from './iptables.js';
import { Cidr, formatSubnet, intToIp, ipToInt, isMac, macFromIp, parseCidr, networkOf, broadcastOf, overlaps, contains } from './ipv4.js';
import { addInterfaces, createSandbox, destroySandbox, removeInterface, unmountAll, VethConfig } from './sandbox.js';
import { InterfaceStats, statsOfPeer, statsOfPid } from './stats.js';
import { DnsServer } from './dns.js';
import { PortBinding, PortMapping, PortReservations, portsView, validatePortBindings, wantedBindings } from './ports.js';
import { KeyedLock } from '../lib/keyedlock.js';

export interface NetworkServiceOptions {
  dataRoot: string;
  execRoot: string;
  /** Name of the default bridge's host interface (default barge0). */
  bridge?: string;
  /** Default bridge address with the subnet prefix, e.g. 172.18.0.1/16. Default: the bridge's
   * current address if it exists, else the one used last time, else Docker's choice (first free
   * of 172.17-31.0.0/16, then 192.168.x.0/20, overlapping no host route, address or nameserver). */
  bip?: string;
  /** Install NAT, forwarding and port rules (Docker's --iptables). */
  iptables?: boolean;
  /** MTU of the bridges and the veths (Docker's default: 1500). */
  mtu?: number;
  /** Whether a container's sandbox is still wanted (the container exists and runs). Sandboxes it
   * disowns are torn down at open. Default: keep every sandbox whose namespace still exists. */
  keep?: (containerId: string) => boolean;
  /** Port of the DNS servers of user networks (53; tests of the DNS code may use another). */
  dnsPort?: number;
}

/** Docker's EndpointSettings (NetworkingConfig.EndpointsConfig[name], as asked for). */
export interface EndpointConfig {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  Aliases?: string[] | null;
  MacAddress?: string;
  DriverOpts?: Record<string, string> | null;
  Links?: string[] | null;
}

export interface AttachRequest {
  /** HostConfig.NetworkMode: bridge, host, none, container:<id>, or a user network's name or id. */
  mode: string;
  /** For container:<id>: the other container's sandbox path (from attachmentOf of that container). */
  joinNetns?: string;
  /** NetworkingConfig.EndpointsConfig: settings per network; networks other than `mode` listed
   * here are joined too. */
  endpoints?: Record<string, EndpointConfig | null> | null;
  /** The container's name (without "/"), for DNS and network inspect. */
  name?: string;
  macAddress?: string;
  ports?: { bindings?: Record<string, PortBinding[] | null> | null; exposed?: Record<string, object> | null; publishAll?: boolean };
  /** The container's --dns servers: where its DNS queries for other names go. */
  dns?: string[] | null;
}

/** What attach() returns; the runtime joins `netnsPath` (undefined for host: no new namespace). */
export interface Attachment {
  containerId: string;
  netnsPath?: string;
  /** The address on the first network (for /etc/hosts). */
  ipAddress?: string;
  /** A user network's DNS server the container should use as nameserver (its first user network). */
  dnsServer?: string;
  hostNetwork: boolean;
  /** The first endpoint's pieces (tests and diagnostics). */
  macAddress?: string;
  hostVeth?: string;
  endpointId?: string;
  /** Docker's NetworkSettings. */
  settings: NetworkSettings;
}

export type EndpointSettings = {
  IPAMConfig: EndpointConfig['IPAMConfig'] | null; Links: null; Aliases: string[] | null; MacAddress: string; DriverOpts: null; GwPriority: number;
  NetworkID: string; EndpointID: string; Gateway: string; IPAddress: string; IPPrefixLen: number;
  IPv6Gateway: string; GlobalIPv6Address: string; GlobalIPv6PrefixLen: number; DNSNames: string[] | null;
};

/** A type (not an interface) so that it is assignable to Record<string, unknown>. */
export type NetworkSettings = {
  Bridge: string; SandboxID: string; SandboxKey: string; Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
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
  IPAM: { Driver: 'default'; Options: Record<string, string> | null; Config: { Subnet: string; Gateway: string; IPRange?: string }[] };
  Internal: boolean; Attachable: boolean; Ingress: boolean; ConfigFrom: { Network: string }; ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>; Labels: Record<string, string>;
}

/** POST /networks/create. */
export interface NetworkCreateRequest {
  Name?: string; Driver?: string; Internal?: boolean; Attachable?: boolean; Ingress?: boolean; ConfigOnly?: boolean;
  EnableIPv6?: boolean; EnableIPv4?: boolean; CheckDuplicate?: boolean; Scope?: string; ConfigFrom?: unknown;
  Options?: Record<string, string> | null; Labels?: Record<string, string> | null;
  IPAM?: { Driver?: string; Options?: Record<string, string> | null; Config?: { Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: unknown }[] | null } | null;
}

interface NetworkRecord {
  id: string; name: string; driver: 'bridge' | 'host' | 'null'; created: string;
  internal: boolean; attachable: boolean; labels: Record<string, string>; options: Record<string, string>;
  /** For bridge networks. */
  bridge?: string; subnet?: string; gateway?: string; ipRange?: string; mtu?: number; icc?: boolean; masquerade?: boolean;
  ipamOptions?: Record<string, string>;
}

interface EndpointRecord {
  networkId: string; endpointId: string;
  ifName?: string; hostVeth?: string; bridge?: string;
  ipAddress?: string; prefixLen?: number; gateway?: string; macAddress?: string;
  aliases: string[];
  /** Names that resolve to this endpoint on user networks: name, aliases, short id. */
  dnsNames: string[];
  config?: EndpointConfig | null;
}

interface SandboxRecord {
  v: 2;
  containerId: string; sandboxId: string; created: string;
  kind: 'netns' | 'host' | 'container';
  netnsPath?: string;
  joined?: string;
  name: string;
  dns: string[];
  endpoints: EndpointRecord[];
  ports: PortMapping[];
  exposed?: Record<string, object> | null;
}

/** The record of barge before user networks: one endpoint, by mode. */
interface LegacyRecord { containerId: string; mode: 'bridge' | 'none' | 'host'; endpointId: string; sandboxId: string; created: string; netnsPath?: string; hostVeth?: string; bridge?: string; ipAddress?: string; prefixLen?: number; gateway?: string; macAddress?: string }

interface PredefinedFile {
  networks: Record<'bridge' | 'host' | 'none', { id: string; created: string }>;
  bip?: string;
}

const PREDEFINED = ['bridge', 'host', 'none'] as const;
const DRIVER_OF = { bridge: 'bridge', host: 'host', none: 'null' } as const;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const BRIDGE_NAME_OPT = 'com.docker.network.bridge.name';
const MTU_OPT = 'com.docker.network.driver.mtu';
const ICC_OPT = 'com.docker.network.bridge.enable_icc';
const MASQ_OPT = 'com.docker.network.bridge.enable_ip_masquerade';

interface LiveNetwork { rec: NetworkRecord; ipam?: Ipam; dns?: DnsServer; pending: number }

export class NetworkService {
  private readonly nets = new Map<string, LiveNetwork>();
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly locks = new KeyedLock();
  /** Containers with an attach or detach under way, and the veths being made for them. */
  private readonly busy = new Set<string>();
  private readonly busyVeths = new Set<string>();
  private readonly endpointsDir: string;
  private readonly networksDir: string;
  private readonly netnsDir: string;
  private readonly ipamFile: string;
  private readonly shell = new IpShell();
  private readonly reservations = new PortReservations();

  private constructor(
    private readonly o: Required<Omit<NetworkServiceOptions, 'bip' | 'keep'>>,
    private readonly predefined: PredefinedFile,
  ) {
    this.endpointsDir = path.join(o.dataRoot, 'network', 'endpoints');
    this.networksDir = path.join(o.dataRoot, 'network', 'networks');
    this.netnsDir = path.join(o.execRoot, 'netns');
    this.ipamFile = path.join(o.dataRoot, 'network', 'ipam.json');
  }

  private get defaultBridge(): LiveNetwork { return this.nets.get(this.predefined.networks.bridge.id)!; }
  /** The default bridge's interface name, e.g. barge0. */
  get bridgeName(): string { return this.o.bridge; }
  /** The default bridge subnet, e.g. 172.18.0.0/16. */
  get subnet(): string { return this.defaultBridge.rec.subnet!; }
  /** The default bridge's own address, the containers' gateway, e.g. 172.18.0.1. */
  get gateway(): string { return this.defaultBridge.rec.gateway!; }
  /** Where a container's network namespace is (or would be) mounted: its SandboxKey. */
  netnsPath(containerId: string): string { return path.join(this.netnsDir, containerId); }

  static async open(opts: NetworkServiceOptions): Promise<NetworkService> {
    const o = {
      dataRoot: opts.dataRoot, execRoot: opts.execRoot, bridge: opts.bridge ?? 'barge0',
      iptables: opts.iptables ?? true, mtu: opts.mtu ?? 1500, dnsPort: opts.dnsPort ?? 53,
    };
    checkBridgeName(o.bridge);
    if (!Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535) throw invalid(`invalid MTU ${o.mtu}`);
    const netDir = path.join(o.dataRoot, 'network');
    for (const d of ['endpoints', 'networks']) fs.mkdirSync(path.join(netDir, d), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(o.execRoot, 'netns'), { recursive: true, mode: 0o711 });
    for (const d of ['', 'endpoints', 'networks']) cleanTempFiles(path.join(netDir, d));

    // The predefined networks keep their ids across restarts.
    const file = path.join(netDir, 'networks.json');
    const pre = readJsonOr<PredefinedFile | null>(file, null) ?? { networks: {} as PredefinedFile['networks'] };
    let changed = false;
    for (const m of PREDEFINED) {
      if (!pre.networks[m]) { pre.networks[m] = { id: newId(), created: new Date().toISOString() }; changed = true; }
    }
    // The default bridge address: asked for, else the bridge's own, else last time's, else Docker's choice.
    const existing = isBridge(o.bridge) ? await linkAddresses(o.bridge) : [];
    const bipText = opts.bip ?? (existing[0] ? `${intToIp(existing[0].ip)}/${existing[0].prefixLen}` : undefined)
      ?? pre.bip ?? chooseDefaultBip();
    const bip = parseCidr(bipText);
    if (bip.prefixLen > 30 || bip.ip === networkOf(bip) || bip.ip === broadcastOf(bip)) {
      throw invalid(`invalid bip ${bipText}: want the bridge's address in a subnet of /30 or larger, e.g. 172.18.0.1/16`);
    }
    if (pre.bip !== bipText) { pre.bip = bipText; changed = true; }
    if (changed) writeJsonAtomic(file, pre);

    const svc = new NetworkService(o, pre);
    const cursors = svc.readCursors();
    for (const m of PREDEFINED) {
      const n = pre.networks[m];
      const rec: NetworkRecord = {
        id: n.id, name: m, driver: DRIVER_OF[m], created: n.created, internal: false, attachable: false, labels: {}, options: {},
      };
      if (m === 'bridge') {
        Object.assign(rec, {
          bridge: o.bridge, subnet: formatSubnet(bip), gateway: intToIp(bip.ip), mtu: o.mtu, icc: true, masquerade: true,
          options: {
            'com.docker.network.bridge.default_bridge': 'true', [ICC_OPT]: 'true', [MASQ_OPT]: String(o.iptables),
            'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0', [BRIDGE_NAME_OPT]: o.bridge, [MTU_OPT]: String(o.mtu),
          },
        });
      }
      svc.nets.set(rec.id, { rec, pending: 0, ipam: m === 'bridge' ? new Ipam(bip, cursors[rec.id]) : undefined });
    }
    for (const name of safeReaddir(svc.networksDir)) {
      if (!name.endsWith('.json')) continue;
      const rec = readJsonOr<NetworkRecord | null>(path.join(svc.networksDir, name), null);
      if (!rec || `${rec.id}.json` !== name || rec.driver !== 'bridge' || !rec.subnet || !rec.gateway || !rec.bridge) {
        log.warn('ignoring an unreadable network record', { file: name });
        continue;
      }
      const sub = parseCidr(rec.subnet);
      svc.nets.set(rec.id, { rec, pending: 0, ipam: new Ipam({ ip: ipToInt(rec.gateway), prefixLen: sub.prefixLen }, cursors[rec.id], rec.ipRange ? parseCidr(rec.ipRange) : undefined) });
    }

    enableForwarding();
    await svc.doRecover(opts.keep ?? (() => true));
    for (const n of svc.nets.values()) if (n.rec.driver === 'bridge') await svc.setUpBridge(n, existing);
    return svc;
  }

  // ---- networks ----

  /** Make (or re-make) a bridge network's bridge, rules and DNS server. */
  private async setUpBridge(n: LiveNetwork, existing?: Cidr[]): Promise<void> {
    const r = n.rec;
    const bip: Cidr = { ip: ipToInt(r.gateway!), prefixLen: parseCidr(r.subnet!).prefixLen };
    const addrs = r.bridge === this.o.bridge && existing ? existing : isBridge(r.bridge!) ? await linkAddresses(r.bridge!) : [];
    await ensureBridge(r.bridge!, bip, r.mtu ?? this.o.mtu, addrs);
    // 127.0.0.1:port reaches a container only if the bridge may route loopback-sourced packets.
    try { fs.writeFileSync(`/proc/sys/net/ipv4/conf/${r.bridge}/route_localnet`, '1\n'); } catch { /* no localhost publishing */ }
    if (this.o.iptables) await iptables.install({ bridge: r.bridge!, subnet: r.subnet!, internal: r.internal, icc: r.icc, masquerade: r.masquerade, ports: this.portRules(r.id) });
    if (!this.isDefault(r) && !n.dns) {
      n.dns = await DnsServer.listen(r.gateway!, this.dnsResolver(r.id), this.o.dnsPort).catch((e) => {
        log.warn('no DNS server for network: containers will not resolve each other by name', { network: r.name, error: (e as Error).message });
        return undefined;
      });
    }
  }

  private isDefault(r: NetworkRecord): boolean { return r.id === this.predefined.networks.bridge.id; }

  /** Docker's `network create`. */
  createNetwork(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    return this.serialize('\0networks', async () => {
      const name = req.Name ?? '';
      if (!name) throw invalid('network name is required: give a name, e.g. barge network create appnet');
      if (!NAME_RE.test(name)) throw invalid(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      const driver = req.Driver || 'bridge';
      if (PREDEFINED.includes(name as typeof PREDEFINED[number])) throw forbidden(`${name} is a pre-defined network and cannot be created`);
      if (driver !== 'bridge') {
        if (driver === 'host' || driver === 'null') throw forbidden(`only one instance of "${driver}" network is allowed`);
        throw notFound(`plugin "${driver}" not found`);
      }
      if (this.findNetwork(name)) throw conflict(`network with name ${name} already exists`);
      if (req.EnableIPv6) throw invalid('IPv6 networks are not supported by barge: leave out --ipv6');
      if (req.Ingress || req.ConfigOnly || req.ConfigFrom) throw invalid('swarm, ingress and config-only networks are not supported by barge');
      if (req.IPAM?.Driver && req.IPAM.Driver !== 'default') throw notFound(`plugin "${req.IPAM.Driver}" not found`);
      const cfgs = req.IPAM?.Config ?? [];
      if (cfgs.length > 1) throw invalid('barge networks have one IPv4 subnet: give at most one --subnet');
      const opts = { ...(req.Options ?? {}) };
      const mtu = opts[MTU_OPT] !== undefined ? Number(opts[MTU_OPT]) : this.o.mtu;
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid(`invalid ${MTU_OPT}: ${opts[MTU_OPT]}`);
      const bool = (k: string) => {
        const v = opts[k];
        if (v === undefined) return true;
        if (!/^(true|false|1|0)$/i.test(v)) throw invalid(`invalid value for ${k}: ${v}: want true or false`);
        return /^(true|1)$/i.test(v);
      };
      const icc = bool(ICC_OPT);
      const masquerade = bool(MASQ_OPT);

      const id = newId();
      const bridge = opts[BRIDGE_NAME_OPT] || `br-${id.slice(0, 12)}`;
      checkBridgeName(bridge);
      if ([...this.nets.values()].some((n) => n.rec.bridge === bridge)) throw conflict(`bridge ${bridge} is already used by another network`);
      if (opts[BRIDGE_NAME_OPT] && linkExists(bridge)) throw conflict(`${bridge} already exists on the host: choose another ${BRIDGE_NAME_OPT}`);

      const c = cfgs[0] ?? {};
      let sub: Cidr;
      if (c.Subnet) {
        if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c.Subnet)) throw invalid(`invalid subnet ${c.Subnet}: want an IPv4 CIDR, e.g. 10.89.0.0/24`);
        sub = parseCidr(c.Subnet);
        if (sub.prefixLen > 30) throw invalid(`invalid subnet ${c.Subnet}: a subnet of /30 or larger is needed`);
        if (networkOf(sub) !== sub.ip) throw invalid(`invalid subnet ${c.Subnet}: it has host bits set (did you mean ${formatSubnet(sub)}?)`);
        const clash = this.overlapping(sub);
        if (clash) throw forbidden(`Pool overlaps with other one on this address space: ${c.Subnet} overlaps ${clash}`);
      } else {
        if (c.Gateway || c.IPRange) throw invalid('a gateway or ip-range needs a subnet: give --subnet too');
        sub = this.chooseSubnet();
      }
      let gw = networkOf(sub) + 1;
      if (c.Gateway) {
        if (!net.isIPv4(c.Gateway)) throw invalid(`invalid gateway ${c.Gateway}: want an IPv4 address`);
        gw = ipToInt(c.Gateway);
        if (!contains(sub, gw) || gw === networkOf(sub) || gw === broadcastOf(sub)) throw invalid(`invalid gateway ${c.Gateway}: it is not a host address of ${formatSubnet(sub)}`);
      }
      let range: Cidr | undefined;
      if (c.IPRange) {
        if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c.IPRange)) throw invalid(`invalid ip-range ${c.IPRange}: want an IPv4 CIDR`);
        range = parseCidr(c.IPRange);
        if (range.prefixLen < sub.prefixLen || !contains(sub, range.ip)) throw invalid(`invalid ip-range ${c.IPRange}: it is not inside the subnet ${formatSubnet(sub)}`);
        range = { ip: networkOf(range), prefixLen: range.prefixLen };
      }
      const rec: NetworkRecord = {
        id, name, driver: 'bridge', created: new Date().toISOString(), internal: !!req.Internal, attachable: !!req.Attachable,
        labels: { ...(req.Labels ?? {}) }, options: opts, bridge, subnet: formatSubnet(sub), gateway: intToIp(gw),
        ipRange: range ? formatSubnet(range) : undefined, mtu, icc, masquerade, ipamOptions: req.IPAM?.Options ?? undefined,
      };
      const live: LiveNetwork = { rec, pending: 0, ipam: new Ipam({ ip: gw, prefixLen: sub.prefixLen }, undefined, range) };
      // The record first: a crash after it leaves a network that the next start completes.
      writeJsonAtomic(this.networkFile(id), rec);
      this.nets.set(id, live);
      try {
        await this.setUpBridge(live);
      } catch (e) {
        await this.tearDownBridge(live).catch(() => undefined);
        this.nets.delete(id);
        fs.rmSync(this.networkFile(id), { force: true });
        throw e;
      }
      return { Id: id, Warning: '' };
    });
  }

  /** Docker's `network rm`: refused for predefined networks and networks with endpoints. */
  removeNetwork(ref: string): Promise<void> {
    return this.serialize('\0networks', async () => {
      const n = this.getNetwork(ref);
      if (PREDEFINED.includes(n.rec.name as typeof PREDEFINED[number]) && this.predefined.networks[n.rec.name as 'bridge'].id === n.rec.id) {
        throw forbidden(`${n.rec.name} is a pre-defined network and cannot be removed`);
      }
      const users = this.endpointsOn(n.rec.id);
      if (users.length || n.pending) throw forbidden(`error while removing network: network ${n.rec.name} id ${n.rec.id} has active endpoints`);
      await this.tearDownBridge(n);
      fs.rmSync(this.networkFile(n.rec.id), { force: true });
      this.nets.delete(n.rec.id);
      this.saveCursors();
    });
  }

  /** Docker's `network prune`: user networks without endpoints, filtered by until/label. */
  async pruneNetworks(match: (n: NetworkResource) => boolean): Promise<string[]> {
    const out: string[] = [];
    for (const n of [...this.nets.values()]) {
      if (this.isPredefined(n.rec) || this.endpointsOn(n.rec.id).length || n.pending) continue;
      if (!match(this.resource(n.rec, false))) continue;
      try { await this.removeNetwork(n.rec.id); out.push(n.rec.name); } catch (e) {
        log.warn('prune: could not remove network', { network: n.rec.name, error: (e as Error).message });
      }
    }
    return out;
  }

  private async tearDownBridge(n: LiveNetwork): Promise<void> {
    n.dns?.close();
    n.dns = undefined;
    if (this.o.iptables) await iptables.remove(n.rec.bridge!);
    if (isBridge(n.rec.bridge!)) await run('ip', ['link', 'del', n.rec.bridge!]);
  }

  private isPredefined(r: NetworkRecord): boolean {
    return (PREDEFINED as readonly string[]).includes(r.name) && this.predefined.networks[r.name as 'bridge']?.id === r.id;
  }

  /** A network by exact name, full id or unique id prefix (Docker's order), or undefined. */
  private findNetwork(ref: string): LiveNetwork | undefined {
    if (!ref) return undefined;
    const all = [...this.nets.values()];
    const byId = this.nets.get(ref);
    if (byId) return byId;
    const byName = all.filter((n) => n.rec.name === ref);
    if (byName.length) return byName[0];
    const hits = all.filter((n) => n.rec.id.startsWith(ref));
    if (hits.length > 1) throw new BargeError('invalid', `network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`);
    return hits[0];
  }

  private getNetwork(ref: string): LiveNetwork {
    const n = this.findNetwork(ref);
    if (!n) throw notFound(`network ${ref} not found`);
    return n;
  }

  /** Resolve a network reference to its id and name (create-time validation of NetworkMode). */
  resolveNetwork(ref: string): { id: string; name: string; driver: string } {
    const n = this.getNetwork(ref === 'default' ? 'bridge' : ref);
    return { id: n.rec.id, name: n.rec.name, driver: n.rec.driver };
  }

  resolveNetworkQuiet(ref: string): { id: string; name: string; driver: string } | undefined {
    const n = this.findNetworkQuiet(ref);
    return n && { id: n.rec.id, name: n.rec.name, driver: n.rec.driver };
  }

  /** Check an endpoint's settings at create (Docker validates --ip there, not at start). */
  validateEndpoint(ref: string, cfg: EndpointConfig | null | undefined): void {
    const want = cfg?.IPAMConfig?.IPv4Address;
    if (cfg?.MacAddress && !isMac(cfg.MacAddress)) throw invalid(`invalid MAC address: ${cfg.MacAddress}`);
    if (!want) return;
    const n = this.getNetwork(ref);
    if (n.rec.driver !== 'bridge' || this.isDefault(n.rec)) throw invalid('user specified IP address is supported on user defined networks only');
    if (!net.isIPv4(want)) throw invalid(`invalid IPv4 address: ${want}`);
    const ip = ipToInt(want);
    const sub = parseCidr(n.rec.subnet!);
    if (!contains(sub, ip) || ip === networkOf(sub) || ip === broadcastOf(sub)) throw invalid(`invalid address ${want}: it does not belong to any of this network's subnets (${n.rec.subnet})`);
    if (want === n.rec.gateway) throw invalid(`invalid address ${want}: it is the gateway of network ${n.rec.name}`);
  }

  /** Check HostConfig.PortBindings at create, with Docker's errors. */
  validatePortBindings(b: Record<string, PortBinding[] | null> | null | undefined): void { validatePortBindings(b); }

  /** The subnet of a configured network that overlaps `c`, if any (networks and host routes). */
  private overlapping(c: Cidr): string | undefined {
    for (const n of this.nets.values()) if (n.rec.subnet && overlaps(parseCidr(n.rec.subnet), c)) return n.rec.subnet;
    const own = new Set([...this.nets.values()].map((n) => n.rec.bridge).filter(Boolean));
    for (const [ifname, list] of interfaceAddresses()) {
      if (own.has(ifname)) continue;
      for (const a of list) if (overlaps(a, c)) return `${formatSubnet(a)} (${ifname})`;
    }
    return undefined;
  }

  /** Docker's default address pools for user networks: 172.17-31.0.0/16, then 192.168.x.0/20. */
  private chooseSubnet(): Cidr {
    const pool = freeDefaultPool([...this.nets.values()].flatMap((n) => (n.rec.subnet ? [parseCidr(n.rec.subnet)] : [])));
    if (!pool) throw forbidden('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network: give one with --subnet');
    return pool;
  }

  // ---- recovery ----

  /**
   * Adopt the sandboxes still wanted and remove every trace of the others: their namespaces,
   * veths, addresses and ports, and namespace files or bridge ports no sandbox owns (a start
   * interrupted before its record was written). open() runs it (with `keep` of the options,
   * default: every sandbox whose namespace still exists); run it again once the container store
   * can tell which containers still run. Sandboxes being attached or detached meanwhile are left alone.
   */
  recover(keep: (containerId: string) => boolean = () => true): Promise<void> {
    return this.serialize('\0recover', async () => {
      const before = new Set(this.bridgesWithPorts());
      await this.doRecover(keep);
      if (this.o.iptables) for (const b of new Set([...before, ...this.bridgesWithPorts()])) await this.refreshPorts(b);
    });
  }

  private bridgesWithPorts(): string[] {
    const out: string[] = [];
    for (const s of this.sandboxes.values()) if (s.ports.length) { const b = this.portBridge(s); if (b) out.push(b.rec.id); }
    return out;
  }

  private async doRecover(keep: (id: string) => boolean): Promise<void> {
    const mounts = mountPoints();
    const live = new Map<string, SandboxRecord>();
    const stale: SandboxRecord[] = [];
    for (const name of safeReaddir(this.endpointsDir)) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(this.endpointsDir, name);
      const rec = this.upgrade(readJsonOr<SandboxRecord | LegacyRecord | null>(file, null));
      if (!rec || rec.containerId + '.json' !== name) { fs.rmSync(file, { force: true }); continue; }
      if (this.busy.has(rec.containerId)) continue;
      let alive = keep(rec.containerId);
      if (alive && rec.kind === 'netns') alive = !!rec.netnsPath && mounts.has(rec.netnsPath);
      for (const ep of rec.endpoints) {
        if (!alive || !ep.hostVeth) continue;
        alive = linkExists(ep.hostVeth) && !!ep.ipAddress;
        const n = this.nets.get(ep.networkId);
        if (alive && n?.ipam && !n.ipam.reserve(ep.ipAddress!, rec.containerId)) {
          if (n.ipam.ownerOf(ep.ipAddress!) !== undefined) alive = false;  // the address is someone else's
          else log.warn('endpoint address outside the network subnet', { container: rec.containerId, ip: ep.ipAddress });
        }
      }
      if (alive) live.set(rec.containerId, rec); else stale.push(rec);
    }
    for (const [id, rec] of this.sandboxes) {
      if (live.has(id) || this.busy.has(id)) continue;
      this.sandboxes.delete(id);
      this.releaseAddresses(rec);
      this.reservations.release(id);
    }
    for (const [id, rec] of live) {
      this.sandboxes.set(id, rec);
      for (const m of rec.ports) await this.reservations.adopt(id, m);
    }

    const ownedNs = new Set<string>();
    const ownedVeths = new Set<string>(this.busyVeths);
    for (const r of this.sandboxes.values()) {
      if (r.netnsPath && r.kind === 'netns') ownedNs.add(r.netnsPath);
      for (const ep of r.endpoints) if (ep.hostVeth) ownedVeths.add(ep.hostVeth);
    }
    for (const id of this.busy) ownedNs.add(this.netnsPath(id));
    const veths = new Set<string>();
    const nsFiles = new Set<string>();
    for (const r of stale) {
      for (const ep of r.endpoints) if (ep.hostVeth && !ownedVeths.has(ep.hostVeth) && linkExists(ep.hostVeth)) veths.add(ep.hostVeth);
      if (r.kind === 'netns' && r.netnsPath && !ownedNs.has(r.netnsPath)) nsFiles.add(r.netnsPath);
      this.releaseAddresses(r);
      this.reservations.release(r.containerId);
    }
    for (const name of safeReaddir(this.netnsDir)) {
      const p = path.join(this.netnsDir, name);
      if (!ownedNs.has(p)) nsFiles.add(p);
    }
    for (const n of this.nets.values()) {
      if (n.rec.bridge) for (const port of bridgePorts(n.rec.bridge)) if (!ownedVeths.has(port)) veths.add(port);
    }

    if (veths.size) {
      log.info('removing leftover veths', { veths: [...veths] });
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

  /** Read a sandbox record, converting one of the single-endpoint format. */
  private upgrade(r: SandboxRecord | LegacyRecord | null): SandboxRecord | null {
    if (!r || typeof r !== 'object' || typeof r.containerId !== 'string') return null;
    if ((r as SandboxRecord).v === 2) return r as SandboxRecord;
    const l = r as LegacyRecord;
    const nid = this.predefined.networks[l.mode]?.id;
    if (!nid) return null;
    return {
      v: 2, containerId: l.containerId, sandboxId: l.sandboxId, created: l.created,
      kind: l.mode === 'host' ? 'host' : 'netns', netnsPath: l.netnsPath, name: '', dns: [], ports: [],
      endpoints: [{
        networkId: nid, endpointId: l.endpointId, ifName: l.mode === 'bridge' ? 'eth0' : undefined, hostVeth: l.hostVeth, bridge: l.bridge,
        ipAddress: l.ipAddress, prefixLen: l.prefixLen, gateway: l.gateway, macAddress: l.macAddress, aliases: [], dnsNames: [],
      }],
    };
  }

  private releaseAddresses(r: SandboxRecord, only?: EndpointRecord[]): void {
    for (const ep of only ?? r.endpoints) {
      const ipam = this.nets.get(ep.networkId)?.ipam;
      if (ep.ipAddress && ipam?.ownerOf(ep.ipAddress) === r.containerId) ipam.release(ep.ipAddress);
    }
  }

  // ---- sandboxes ----

  /** Give a container its network: see the comment at the top of this file. */
  attach(containerId: string, req: AttachRequest): Promise<Attachment> {
    checkId(containerId);
    if (req.macAddress && !isMac(req.macAddress)) throw invalid(`invalid MAC address: ${req.macAddress}`);
    return this.exclusive(containerId, async () => {
      const cur = this.sandboxes.get(containerId);
      if (cur) return this.attachment(cur);
      const mode = req.mode || 'bridge';
      const rec: SandboxRecord = {
        v: 2, containerId, sandboxId: newId(), created: new Date().toISOString(), kind: 'netns',
        name: req.name ?? '', dns: (req.dns ?? []).filter((s) => net.isIP(s)), endpoints: [], ports: [],
        exposed: req.ports?.exposed ?? null,
      };
      if (mode.startsWith('container:')) {
        if (!req.joinNetns) throw invalid(`cannot join the network of ${mode.slice(10)}: it is not running`);
        rec.kind = 'container';
        rec.joined = mode.slice(10);
        rec.netnsPath = req.joinNetns;
        return this.commit(rec);
      }
      const first = this.getNetwork(mode === 'default' ? 'bridge' : mode);
      if (first.rec.driver === 'host') {
        rec.kind = 'host';
        rec.endpoints.push(this.newEndpoint(first.rec, containerId, rec.name, req.endpoints?.[first.rec.name] ?? req.endpoints?.[mode]));
        return this.commit(rec);
      }
      // Every network asked for: the mode's first, then the others of EndpointsConfig by name.
      const wanted: { n: LiveNetwork; cfg?: EndpointConfig | null }[] = [{ n: first, cfg: req.endpoints?.[first.rec.name] ?? req.endpoints?.[mode] ?? req.endpoints?.[first.rec.id] }];
      for (const [key, cfg] of Object.entries(req.endpoints ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
        const n = this.findNetwork(key);
        if (!n) throw notFound(`network ${key} not found`);
        if (wanted.some((w) => w.n === n)) continue;
        if (first.rec.driver === 'null' || n.rec.driver !== 'bridge') throw invalid(`container cannot be connected to network ${key} and ${first.rec.name} at once`);
        wanted.push({ n, cfg });
      }
      rec.netnsPath = this.netnsPath(containerId);
      // A file left by a crash between the namespace's creation and its record: clear it.
      if (fs.existsSync(rec.netnsPath)) await destroySandbox(rec.netnsPath);
      for (const w of wanted) w.n.pending++;
      const veths: VethConfig[] = [];
      try {
        if (first.rec.driver === 'null') {
          rec.endpoints.push(this.newEndpoint(first.rec, containerId, rec.name, wanted[0]!.cfg));
        } else {
          for (const [i, w] of wanted.entries()) {
            const ep = this.allocateEndpoint(w.n, containerId, rec.name, w.cfg, `eth${i}`, i === 0 ? req.macAddress : undefined);
            rec.endpoints.push(ep);
            veths.push(this.vethOf(ep, w.n, i === 0 || !rec.endpoints[0]!.gateway));
          }
        }
        for (const v of veths) this.busyVeths.add(v.hostVeth);
        await createSandbox(rec.netnsPath, veths, this.shell);
        if (req.ports) await this.publish(rec, req.ports);
        return await this.commit(rec);
      } catch (e) {
        this.reservations.release(containerId);
        this.releaseAddresses(rec);
        if (fs.existsSync(rec.netnsPath)) await destroySandbox(rec.netnsPath, veths.map((v) => v.hostVeth)).catch(() => undefined);
        throw e;
      } finally {
        for (const w of wanted) w.n.pending--;
        for (const v of veths) this.busyVeths.delete(v.hostVeth);
      }
    });
  }

  /** Write the record, then install the port rules (a crash between leaves rules that recovery removes). */
  private async commit(rec: SandboxRecord): Promise<Attachment> {
    writeJsonAtomic(this.recordPath(rec.containerId), rec, 0o600, false);   // kernel state: gone after a power cut anyway
    this.sandboxes.set(rec.containerId, rec);
    this.saveCursors();
    if (rec.ports.length && this.o.iptables) {
      const b = this.portBridge(rec);
      if (b) await this.refreshPorts(b.rec.id);
    }
    return this.attachment(rec);
  }

  private newEndpoint(n: NetworkRecord, containerId: string, name: string, cfg?: EndpointConfig | null): EndpointRecord {
    const aliases = [...(cfg?.Aliases ?? [])];
    return { networkId: n.id, endpointId: newId(), aliases, dnsNames: this.dnsNamesFor(n, containerId, name, aliases), config: cfg ?? null };
  }

  private dnsNamesFor(n: NetworkRecord, containerId: string, name: string, aliases: string[]): string[] {
    if (n.driver !== 'bridge' || this.isDefault(n)) return [];
    return [...new Set([name, ...aliases, containerId.slice(0, 12)].filter(Boolean))];
  }

  /** An endpoint on a bridge network: its address (asked for with --ip, or the next free one) and names. */
  private allocateEndpoint(n: LiveNetwork, containerId: string, name: string, cfg: EndpointConfig | null | undefined, ifName: string, mac?: string): EndpointRecord {
    const ep = this.newEndpoint(n.rec, containerId, name, cfg);
    const want = cfg?.IPAMConfig?.IPv4Address;
    let ip: string;
    if (want) {
      if (this.isDefault(n.rec)) throw invalid('user specified IP address is supported on user defined networks only');
      if (!net.isIPv4(want)) throw invalid(`invalid IPv4 address: ${want}`);
      if (!contains(parseCidr(n.rec.subnet!), ipToInt(want))) throw invalid(`invalid address ${want}: it does not belong to any of this network's subnets (${n.rec.subnet})`);
      if (!n.ipam!.reserve(want, containerId)) throw conflict(`Address already in use: ${want} is taken on network ${n.rec.name}`);
      ip = want;
    } else {
      ip = n.ipam!.allocate(containerId);
    }
    const macAddr = mac || cfg?.MacAddress;
    if (macAddr && !isMac(macAddr)) { n.ipam!.release(ip); throw invalid(`invalid MAC address: ${macAddr}`); }
    Object.assign(ep, {
      ifName, hostVeth: newVethName(this.busyVeths), bridge: n.rec.bridge, ipAddress: ip,
      prefixLen: parseCidr(n.rec.subnet!).prefixLen, gateway: n.rec.gateway, macAddress: (macAddr || macFromIp(ip)).toLowerCase(),
    });
    return ep;
  }

  private vethOf(ep: EndpointRecord, n: LiveNetwork, withRoute: boolean): VethConfig {
    return {
      hostVeth: ep.hostVeth!, ifName: ep.ifName!, bridge: n.rec.bridge!, address: ep.ipAddress!, prefixLen: ep.prefixLen!,
      gateway: withRoute && !n.rec.internal ? ep.gateway : undefined, macAddress: ep.macAddress!, mtu: n.rec.mtu ?? this.o.mtu,
    };
  }

  /** The network whose bridge carries a sandbox's published ports: its first bridge endpoint's. */
  private portBridge(s: SandboxRecord): LiveNetwork | undefined {
    for (const ep of s.endpoints) {
      const n = this.nets.get(ep.networkId);
      if (n?.rec.driver === 'bridge' && ep.ipAddress) return n;
    }
    return undefined;
  }

  private async publish(rec: SandboxRecord, p: NonNullable<AttachRequest['ports']>): Promise<void> {
    const want = wantedBindings(p.bindings, p.exposed, !!p.publishAll);
    if (!want.length) return;
    const b = this.portBridge(rec);
    if (!b || b.rec.internal) return;  // none / internal networks: nothing is published, as Docker
    for (const w of want) {
      const hostPort = await this.reservations.take(rec.containerId, w.proto, w.hostIp, w.hostPorts);
      rec.ports.push({ proto: w.proto, containerPort: w.containerPort, hostIp: w.hostIp, hostPort });
    }
  }

  /** The DNAT rules of every sandbox publishing on this network. */
  private portRules(networkId: string): iptables.PortRule[] {
    const out: iptables.PortRule[] = [];
    for (const s of this.sandboxes.values()) {
      if (!s.ports.length || this.portBridge(s)?.rec.id !== networkId) continue;
      const ep = s.endpoints.find((e) => e.networkId === networkId)!;
      for (const m of s.ports) out.push({ proto: m.proto, hostIp: m.hostIp, hostPort: m.hostPort, containerIp: ep.ipAddress!, containerPort: m.containerPort });
    }
    return out;
  }

  private refreshPorts(networkId: string): Promise<void> {
    return this.serialize(`\0ports-${networkId}`, async () => {
      const n = this.nets.get(networkId);
      if (n?.rec.bridge) await iptables.setPorts(n.rec.bridge, this.portRules(networkId));
    });
  }

  /** Undo attach(): ports, veths, namespace mount and file, addresses. Idempotent. */
  detach(containerId: string): Promise<void> {
    checkId(containerId);
    return this.exclusive(containerId, async () => {
      const rec = this.sandboxes.get(containerId);
      const nsPath = rec?.netnsPath ?? this.netnsPath(containerId);
      const ownNs = rec ? rec.kind === 'netns' : fs.existsSync(nsPath);
      const portNet = rec && rec.ports.length ? this.portBridge(rec) : undefined;
      if (rec) {
        this.sandboxes.delete(containerId);
        if (portNet && this.o.iptables) await this.refreshPorts(portNet.rec.id);
        this.reservations.release(containerId);
      }
      if (ownNs) await destroySandbox(nsPath, rec?.endpoints.map((e) => e.hostVeth!).filter(Boolean) ?? []);
      if (!rec) return;
      fs.rmSync(this.recordPath(containerId), { force: true });
      this.releaseAddresses(rec);
      this.saveCursors();
    });
  }

  /** Connect a running container to one more network (`network connect`). */
  connect(containerId: string, ref: string, cfg: EndpointConfig | null = null): Promise<Attachment> {
    checkId(containerId);
    return this.exclusive(containerId, async () => {
      const rec = this.sandboxes.get(containerId);
      if (!rec) throw conflict(`container ${containerId} is not running`);
      const n = this.getNetwork(ref);
      if (rec.endpoints.some((e) => e.networkId === n.rec.id)) throw forbidden(`endpoint with name ${rec.name} already exists in network ${n.rec.name}`);
      if (rec.kind === 'host' || n.rec.driver === 'host') throw invalid('container cannot be disconnected from host network or connected to host network');
      if (rec.kind === 'container') throw invalid('container sharing network namespace with another container or host cannot be connected to any other network');
      const first = this.nets.get(rec.endpoints[0]?.networkId ?? '');
      if (first?.rec.driver === 'null' || n.rec.driver === 'null') throw invalid('container cannot be connected to multiple networks with one of the networks in private (none) mode');
      n.pending++;
      let ep: EndpointRecord | undefined;
      try {
        const used = new Set(rec.endpoints.map((e) => e.ifName));
        let i = 0;
        while (used.has(`eth${i}`)) i++;
        ep = this.allocateEndpoint(n, containerId, rec.name, cfg, `eth${i}`);
        this.busyVeths.add(ep.hostVeth!);
        const hasRoute = rec.endpoints.some((e) => e.gateway && !this.nets.get(e.networkId)?.rec.internal);
        await addInterfaces(rec.netnsPath!, [this.vethOf(ep, n, !hasRoute)], this.shell);
        const next = { ...rec, endpoints: [...rec.endpoints, ep] };
        writeJsonAtomic(this.recordPath(containerId), next, 0o600, false);
        this.sandboxes.set(containerId, next);
        this.saveCursors();
        return this.attachment(next);
      } catch (e) {
        if (ep) this.releaseAddresses(rec, [ep]);
        throw e;
      } finally {
        n.pending--;
        if (ep) this.busyVeths.delete(ep.hostVeth!);
      }
    });
  }

  /** Disconnect a running container from a network (`network disconnect`). */
  disconnect(containerId: string, ref: string): Promise<Attachment> {
    checkId(containerId);
    return this.exclusive(containerId, async () => {
      const rec = this.sandboxes.get(containerId);
      if (!rec) throw conflict(`container ${containerId} is not running`);
      const n = this.getNetwork(ref);
      const ep = rec.endpoints.find((e) => e.networkId === n.rec.id);
      if (!ep) throw forbidden(`container ${containerId} is not connected to network ${n.rec.name}`);
      if (rec.kind === 'host' || n.rec.driver === 'host') throw invalid('container cannot be disconnected from host network or connected to host network');
      const hadPorts = rec.ports.length && this.portBridge(rec) === n;
      const next: SandboxRecord = { ...rec, endpoints: rec.endpoints.filter((e) => e !== ep), ports: hadPorts ? [] : rec.ports };
      if (ep.hostVeth) await removeInterface(ep.hostVeth);
      writeJsonAtomic(this.recordPath(containerId), next, 0o600, false);
      this.sandboxes.set(containerId, next);
      this.releaseAddresses(rec, [ep]);
      if (hadPorts) {
        this.reservations.release(containerId);
        if (this.o.iptables) await this.refreshPorts(n.rec.id);
      }
      return this.attachment(next);
    });
  }

  /** A running container's name changed: its DNS names follow. */
  rename(containerId: string, name: string): void {
    const rec = this.sandboxes.get(containerId);
    if (!rec) return;
    rec.name = name;
    for (const ep of rec.endpoints) {
      const n = this.nets.get(ep.networkId);
      if (n) ep.dnsNames = this.dnsNamesFor(n.rec, containerId, name, ep.aliases);
    }
    writeJsonAtomic(this.recordPath(containerId), rec, 0o600);
  }

  /** The attachment of a running container, if it has one. */
  attachmentOf(containerId: string): Attachment | undefined {
    const rec = this.sandboxes.get(containerId);
    return rec && this.attachment(rec);
  }

  /**
   * Docker's NetworkSettings for a container: of its sandbox if attached, else the shape Docker
   * shows for a stopped container configured with these networks: empty addresses.
   */
  inspect(containerId: string, configured: string[] = ['bridge'], exposed?: Record<string, object> | null): NetworkSettings {
    const rec = this.sandboxes.get(containerId);
    const networks: Record<string, EndpointSettings> = {};
    let primary: EndpointSettings | undefined;
    let primaryIsDefault = false;
    if (rec) {
      for (const ep of rec.endpoints) {
        const n = this.nets.get(ep.networkId);
        const es = endpointSettings(ep, n?.rec);
        networks[n?.rec.name ?? ep.networkId] = es;
        if (!primary) { primary = es; primaryIsDefault = !!n && this.isDefault(n.rec); }
      }
    } else {
      for (const name of configured) {
        if (name.startsWith('container:')) continue;
        const n = this.findNetworkQuiet(name);
        networks[n?.rec.name ?? name] = endpointSettings(undefined, undefined, n?.rec.id);
      }
    }
    const ep = primaryIsDefault ? primary : undefined;
    return {
      Bridge: '', SandboxID: rec?.sandboxId ?? '',
      SandboxKey: rec ? (rec.netnsPath ?? path.join(this.netnsDir, 'default')) : '',
      Ports: rec ? portsView(rec.exposed, rec.ports) : {}, HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
      SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
      EndpointID: ep?.EndpointID ?? '', Gateway: ep?.Gateway ?? '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
      IPAddress: ep?.IPAddress ?? '', IPPrefixLen: ep?.IPPrefixLen ?? 0, IPv6Gateway: '', MacAddress: ep?.MacAddress ?? '',
      Networks: networks,
    };
  }

  private findNetworkQuiet(ref: string): LiveNetwork | undefined {
    try { return this.findNetwork(ref === 'default' ? 'bridge' : ref); } catch { return undefined; }
  }

  /** All networks in Docker's GET /networks shape (Containers left empty, as Docker does). */
  list(): NetworkResource[] {
    return [...this.nets.values()].map((n) => this.resource(n.rec, false));
  }

  /** One network by name, full id or unique id prefix, with its Containers (Docker's inspect). */
  get(idOrName: string, o: { nameOf?: (containerId: string) => string | undefined } = {}): NetworkResource {
    return this.resource(this.getNetwork(idOrName).rec, true, o.nameOf);
  }

  /** Docker's `networks` stats object: from /proc/<pid>/net/dev given a pid in the container, else
   * from the host ends of the veths. Undefined when the container has no interface but lo. */
  stats(containerId: string, pid?: number): Record<string, InterfaceStats> | undefined {
    const rec = this.sandboxes.get(containerId);
    if (!rec || rec.kind === 'host') return undefined;
    if (pid) {
      const s = statsOfPid(pid);
      if (s) return Object.keys(s).length ? s : undefined;
    }
    const out: Record<string, InterfaceStats> = {};
    for (const ep of rec.endpoints) {
      const s = ep.hostVeth ? statsOfPeer(ep.hostVeth) : undefined;
      if (s && ep.ifName) out[ep.ifName] = s;
    }
    return Object.keys(out).length ? out : undefined;
  }

  /** A container's /etc/resolv.conf content (see etcfiles.ts). */
  resolvConf(o: ResolvOptions = {}): string { return resolvConf(o); }

  /** A container's /etc/hosts content (see etcfiles.ts). */
  hostsFile(hostname: string, ip?: string, o: HostsOptions = {}): string { return hostsFile(hostname, ip, o); }

  /** Nothing to release but sockets: containers keep their network, and a new open() adopts it. */
  async close(): Promise<void> {
    await this.locks.settled();
    for (const n of this.nets.values()) { n.dns?.close(); n.dns = undefined; }
    this.reservations.closeAll();
    this.shell.close();
  }

  /** Remove everything open() and attach() made: sandboxes, bridges, iptables rules (tests). */
  async teardown(): Promise<void> {
    for (const id of [...this.sandboxes.keys()]) await this.detach(id);
    for (const n of this.nets.values()) if (n.rec.bridge) await this.tearDownBridge(n);
    this.reservations.closeAll();
    this.shell.close();
  }

  // ---- DNS ----

  private dnsResolver(networkId: string) {
    return {
      lookup: (name: string, client: string) => this.dnsLookup(networkId, name, client),
      reverse: (ip: string, client: string) => this.dnsReverse(networkId, ip, client),
      upstreams: (client: string) => {
        const s = this.sandboxOfIp(client);
        if (s?.dns.length) return s.dns;
        // The server runs in the host's namespace: the host's own resolvers (a 127.0.0.53 stub
        // included) are reachable as they are.
        const ns = hostNameservers();
        return ns.length ? ns : ['8.8.8.8', '8.8.4.4'];
      },
    };
  }

  private sandboxOfIp(ip: string): SandboxRecord | undefined {
    for (const s of this.sandboxes.values()) if (s.endpoints.some((e) => e.ipAddress === ip)) return s;
    return undefined;
  }

  /** The user networks a client may resolve names on: its own networks (or the server's one). */
  private scopeOf(networkId: string, client: string): string[] {
    const s = this.sandboxOfIp(client);
    const ids = s ? s.endpoints.map((e) => e.networkId).filter((id) => !this.isDefault(this.nets.get(id)?.rec ?? ({} as NetworkRecord))) : [];
    return ids.length ? [networkId, ...ids.filter((i) => i !== networkId)] : [networkId];
  }

  private dnsLookup(networkId: string, name: string, client: string): string[] | undefined {
    const q = name.toLowerCase();
    for (const nid of this.scopeOf(networkId, client)) {
      const ips: string[] = [];
      for (const s of this.sandboxes.values()) {
        for (const ep of s.endpoints) {
          if (ep.networkId === nid && ep.ipAddress && ep.dnsNames.some((d) => d.toLowerCase() === q)) ips.push(ep.ipAddress);
        }
      }
      if (ips.length) return ips;
    }
    return undefined;
  }

  private dnsReverse(networkId: string, ip: string, client: string): string | undefined {
    for (const nid of this.scopeOf(networkId, client)) {
      const n = this.nets.get(nid);
      for (const s of this.sandboxes.values()) {
        for (const ep of s.endpoints) {
          if (ep.networkId === nid && ep.ipAddress === ip && ep.dnsNames[0]) return `${ep.dnsNames[0]}.${n?.rec.name ?? ''}`;
        }
      }
    }
    return undefined;
  }

  // ---- helpers ----

  private endpointsOn(networkId: string): string[] {
    const out: string[] = [];
    for (const s of this.sandboxes.values()) if (s.endpoints.some((e) => e.networkId === networkId)) out.push(s.containerId);
    return out;
  }

  private attachment(rec: SandboxRecord): Attachment {
    const first = rec.endpoints[0];
    let dnsServer: string | undefined;
    for (const ep of rec.endpoints) {
      const n = this.nets.get(ep.networkId);
      if (n?.dns && ep.ipAddress) { dnsServer = n.rec.gateway; break; }
    }
    return {
      containerId: rec.containerId, netnsPath: rec.kind === 'host' ? undefined : rec.netnsPath,
      ipAddress: first?.ipAddress, dnsServer, hostNetwork: rec.kind === 'host',
      macAddress: first?.macAddress, hostVeth: first?.hostVeth, endpointId: first?.endpointId,
      settings: this.inspect(rec.containerId),
    };
  }

  private resource(r: NetworkRecord, withContainers: boolean, nameOf?: (id: string) => string | undefined): NetworkResource {
    const containers: NetworkResource['Containers'] = {};
    if (withContainers) {
      for (const s of this.sandboxes.values()) {
        const ep = s.endpoints.find((e) => e.networkId === r.id);
        if (!ep) continue;
        containers[s.containerId] = {
          Name: (nameOf?.(s.containerId) ?? s.name).replace(/^\//, ''), EndpointID: ep.endpointId,
          MacAddress: ep.macAddress ?? '', IPv4Address: ep.ipAddress ? `${ep.ipAddress}/${ep.prefixLen}` : '', IPv6Address: '',
        };
      }
    }
    const ipamCfg = r.subnet ? [{ Subnet: r.subnet, Gateway: r.gateway!, ...(r.ipRange ? { IPRange: r.ipRange } : {}) }] : [];
    return {
      Name: r.name, Id: r.id, Created: r.created, Scope: 'local', Driver: r.driver, EnableIPv4: true, EnableIPv6: false,
      IPAM: { Driver: 'default', Options: r.ipamOptions ?? (this.isPredefined(r) ? null : {}), Config: ipamCfg },
      Internal: r.internal, Attachable: r.attachable, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
      Containers: containers, Options: { ...r.options }, Labels: { ...r.labels },
    };
  }

  private recordPath(containerId: string): string { return path.join(this.endpointsDir, `${containerId}.json`); }
  private networkFile(id: string): string { return path.join(this.networksDir, `${id}.json`); }

  private readCursors(): Record<string, string> {
    const saved = readJsonOr<{ subnet?: string; last?: string; cursors?: Record<string, string> }>(this.ipamFile, {});
    const out = { ...(saved.cursors ?? {}) };
    if (saved.last && !saved.cursors) out[this.predefined.networks.bridge.id] = saved.last;  // the single-bridge format
    return out;
  }

  /** What saveCursors last wrote. */
  private savedCursors = '';

  /** The IPAM cursors: losing them only changes which free address comes next, so no fsync. */
  private saveCursors(): void {
    const cursors: Record<string, string> = {};
    for (const n of this.nets.values()) if (n.ipam) cursors[n.rec.id] = n.ipam.lastAllocated;
    const text = JSON.stringify({ cursors }) + '\n';
    if (text === this.savedCursors) return;   // most detaches, and every attach to none/host, change nothing
    const tmp = `${this.ipamFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, this.ipamFile);
      this.savedCursors = text;
    } catch (e) {
      log.warn('could not save the IPAM cursors', { error: (e as Error).message });
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
    return this.locks.run(id, fn);
  }
}

function endpointSettings(ep: EndpointRecord | undefined, n: NetworkRecord | undefined, networkId = ''): EndpointSettings {
  return {
    IPAMConfig: ep?.config?.IPAMConfig ?? null, Links: null, Aliases: ep?.aliases.length ? ep.aliases : null,
    MacAddress: ep?.macAddress ?? '', DriverOpts: null, GwPriority: 0,
    NetworkID: n?.id ?? networkId, EndpointID: ep?.endpointId ?? '',
    Gateway: ep?.ipAddress ? ep.gateway ?? '' : '', IPAddress: ep?.ipAddress ?? '', IPPrefixLen: ep?.ipAddress ? ep.prefixLen ?? 0 : 0,
    IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: ep?.dnsNames.length ? ep.dnsNames : null,
  };
}

function checkBridgeName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw invalid(`invalid bridge name "${name}": 1 to 15 letters, digits, "_", "." or "-"`);
}

function checkId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) throw invalid(`invalid container id "${id}"`);
}

function safeReaddir(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

/** Docker's host-side veth names: "veth" and 7 random hex digits. */
function newVethName(taken: Set<string>): string {
  for (;;) {
    const name = `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
    if (!linkExists(name) && !taken.has(name)) return name;
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
