// Published ports: Docker's HostConfig.PortBindings (and -P's PublishAllPorts) turned into host
// ports, each forwarded by the kernel (a DNAT rule of the bridge's chain, see iptables.ts), and
// held by barged with a bound socket so no other process (or other barge daemon) takes it.
//
// The reservation socket never carries traffic: DNAT rewrites a packet's destination before the
// kernel looks for a local socket, so connections reach the container, not barged. It only makes
// the port "in use" for everyone else, as Docker's docker-proxy does. Host ports asked for that are
// taken fail with Docker's error; a port not given is a free one of Docker's ephemeral range.
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { BargeError, invalid } from '../lib/errors.js';

export interface PortBinding { HostIp?: string; HostPort?: string }

/** One published port, as kept in an endpoint record. */
export interface PortMapping {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;       // '' for every address
  hostPort: number;
}

const EPHEMERAL_FIRST = 49153;
const EPHEMERAL_LAST = 60999;

/** "80/tcp" → [80, 'tcp'] (a range "8000-8002/tcp" is expanded by the client; refuse it here). */
export function parsePortKey(key: string): { port: number; proto: 'tcp' | 'udp' | 'sctp' } {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key.trim());
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw invalid(`invalid port specification: "${key}"`);
  return { port, proto: (m[2]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' | 'sctp' };
}

/** Check PortBindings at create: the same errors as Docker's, and nothing allocated yet. */
export function validatePortBindings(b: Record<string, PortBinding[] | null> | null | undefined): void {
  for (const [key, list] of Object.entries(b ?? {})) {
    const { proto } = parsePortKey(key);
    if (proto === 'sctp') throw invalid(`invalid port specification: "${key}": sctp is not supported`);
    for (const x of list ?? []) {
      if (x.HostIp && !net.isIPv4(x.HostIp) && !(net.isIPv6(x.HostIp))) throw invalid(`invalid IP address: ${x.HostIp}`);
      if (x.HostPort) parseHostPort(x.HostPort, key);
    }
  }
}

function parseHostPort(s: string, key: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s.trim());
  const a = m ? Number(m[1]) : NaN;
  const b = m?.[2] ? Number(m[2]) : a;
  if (!m || a < 0 || a > 65535 || b < a || b > 65535) throw invalid(`invalid hostPort: ${s} (port ${key})`);
  return [a, b];
}

/** What to publish: the explicit bindings, plus every exposed port on a random port with -P. */
export function wantedBindings(
  bindings: Record<string, PortBinding[] | null> | null | undefined,
  exposed: Record<string, object> | null | undefined, publishAll: boolean,
): { proto: 'tcp' | 'udp'; containerPort: number; hostIp: string; hostPorts: [number, number] }[] {
  const out: ReturnType<typeof wantedBindings> = [];
  const keys = new Set(Object.keys(bindings ?? {}));
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const { port, proto } = parsePortKey(key);
    if (proto === 'sctp') continue;
    for (const b of list?.length ? list : [{}]) {
      const hostIp = b.HostIp && b.HostIp !== '0.0.0.0' && b.HostIp !== '::' ? b.HostIp : '';
      if (b.HostIp && net.isIPv6(b.HostIp)) continue;  // no IPv6 on barge's bridges
      out.push({ proto, containerPort: port, hostIp, hostPorts: b.HostPort ? parseHostPort(b.HostPort, key) : [0, 0] });
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const { port, proto } = parsePortKey(key);
      if (proto === 'sctp' || keys.has(key) || keys.has(`${port}`)) continue;
      out.push({ proto, containerPort: port, hostIp: '', hostPorts: [0, 0] });
    }
  }
  return out;
}

type Held = net.Server | dgram.Socket;

/** The host ports barged holds, by "proto/ip/port". */
export class PortReservations {
  private readonly held = new Map<string, { owner: string; sock: Held }>();

  private static key(proto: string, ip: string, port: number): string { return `${proto}/${ip || '0.0.0.0'}/${port}`; }

  /** Whether this daemon already holds the port on an address that overlaps `ip`. */
  private clashes(proto: string, ip: string, port: number): boolean {
    for (const k of this.held.keys()) {
      const [p, i, n] = k.split('/');
      if (p === proto && Number(n) === port && (i === '0.0.0.0' || !ip || i === ip)) return true;
    }
    return false;
  }

  /**
   * Take a host port for `owner`: `range` [a, b] gives the choices (a = 0: any free ephemeral
   * port). Throws Docker's "port is already allocated" when none of them is free.
   */
  async take(owner: string, proto: 'tcp' | 'udp', ip: string, range: [number, number]): Promise<number> {
    let [a, b] = range;
    const random = a === 0;
    if (random) { a = EPHEMERAL_FIRST; b = EPHEMERAL_LAST; }
    const span = b - a + 1;
    const start = random ? Math.floor(Math.random() * span) : 0;
    let lastErr = '';
    for (let i = 0; i < span; i++) {
      const port = a + ((start + i) % span);
      if (this.clashes(proto, ip, port)) { lastErr = 'port is already allocated'; continue; }
      try {
        const sock = await bindPort(proto, ip, port);
        this.held.set(PortReservations.key(proto, ip, port), { owner, sock });
        return port;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRNOTAVAIL') throw invalid(`cannot publish on ${ip}: it is not an address of this host`);
        lastErr = code === 'EADDRINUSE' ? 'port is already allocated' : (e as Error).message;
        if (random && i > 200) break;
      }
    }
    const shown = range[0] === range[1] ? String(range[0]) : random ? 'a random port' : `${range[0]}-${range[1]}`;
    throw new BargeError('invalid', `driver failed programming external connectivity: Bind for ${ip || '0.0.0.0'}:${shown} failed: ${lastErr || 'port is already allocated'}`);
  }

  /** Hold an already chosen port again (daemon restart with the container still running). */
  async adopt(owner: string, m: PortMapping): Promise<void> {
    const k = PortReservations.key(m.proto, m.hostIp, m.hostPort);
    if (this.held.has(k)) return;
    try { this.held.set(k, { owner, sock: await bindPort(m.proto, m.hostIp, m.hostPort) }); } catch { /* keep the rule anyway */ }
  }

  release(owner: string, only?: PortMapping[]): void {
    const keys = only ? new Set(only.map((m) => PortReservations.key(m.proto, m.hostIp, m.hostPort))) : undefined;
    for (const [k, v] of this.held) {
      if (v.owner !== owner || (keys && !keys.has(k))) continue;
      closeHeld(v.sock);
      this.held.delete(k);
    }
  }

  closeAll(): void {
    for (const v of this.held.values()) closeHeld(v.sock);
    this.held.clear();
  }
}

function closeHeld(s: Held): void {
  try { if (s instanceof net.Server) s.close(); else s.close(); } catch { /* already closed */ }
}

function bindPort(proto: 'tcp' | 'udp', ip: string, port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    if (proto === 'udp') {
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      s.once('error', reject);
      s.bind(port, ip || '0.0.0.0', () => { s.removeListener('error', reject); s.on('message', () => undefined); s.unref(); resolve(s); });
      return;
    }
    // A connection that slips past DNAT (none should) is closed at once.
    const srv = net.createServer((c) => c.destroy());
    srv.once('error', reject);
    srv.listen({ port, host: ip || '0.0.0.0', exclusive: true, backlog: 1 }, () => {
      srv.removeListener('error', reject);
      srv.on('error', () => undefined);
      srv.unref();
      resolve(srv);
    });
  });
}

/** Docker's NetworkSettings.Ports: every exposed port, with its host bindings or null. */
export function portsView(exposed: Record<string, object> | null | undefined, mappings: PortMapping[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const key of Object.keys(exposed ?? {})) {
    const { port, proto } = parsePortKey(key);
    out[`${port}/${proto}`] = null;
  }
  for (const m of mappings) {
    const k = `${m.containerPort}/${m.proto}`;
    (out[k] ??= []).push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) });
  }
  return out;
}
