// Where a registry named in a reference lives, and whether barge may talk plain HTTP to it.
//
// Docker's rules: "docker.io" is served at registry-1.docker.io; a registry is *insecure* when its
// "host:port" or "host" is listed in insecure-registries, or its IP address falls in one of the CIDRs
// listed there; 127.0.0.0/8 (and ::1, and localhost) always are. Secure registries are spoken to over
// HTTPS only, with certificate checks; insecure ones over HTTPS without checks, falling back to HTTP.
import { isIP } from 'node:net';
import { invalid } from '../../lib/errors.js';

export const DOCKER_HUB_DOMAIN = 'docker.io';
export const DOCKER_HUB_HOST = 'registry-1.docker.io';
/** The key docker login uses in config.json for Docker Hub. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** The host[:port] to connect to for a reference's domain. */
export function registryHost(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN || domain === 'index.docker.io' ? DOCKER_HUB_HOST : domain;
}

/** "127.0.0.1:5000" -> "127.0.0.1"; "[::1]:5000" -> "::1"; "localhost" -> "localhost". */
export function hostnameOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const i = hostPort.lastIndexOf(':');
  return i > 0 && hostPort.indexOf(':') === i ? hostPort.slice(0, i) : hostPort;
}

interface Cidr { v6: boolean; bytes: Buffer; bits: number }

function ipBytes(ip: string): Buffer | undefined {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v !== 6) return undefined;
  // Expand "::" and a trailing dotted quad.
  let s = ip;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) { const b = quad[1]!.split('.').map(Number); s = s.slice(0, -quad[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`; }
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, k) => out.writeUInt16BE(parseInt(g || '0', 16), k * 2));
  return out;
}

function parseCidr(s: string): Cidr | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const bytes = ipBytes(m[1]!);
  if (!bytes) return undefined;
  const bits = Number(m[2]);
  if (bits > bytes.length * 8) throw invalid(`invalid CIDR in insecure-registries: ${s}`);
  return { v6: bytes.length === 16, bytes, bits };
}

function inCidr(ip: Buffer, c: Cidr): boolean {
  if ((ip.length === 16) !== c.v6) return false;
  for (let b = 0; b < c.bits; b++) {
    const mask = 0x80 >> (b % 8);
    if ((ip[b >> 3]! & mask) !== (c.bytes[b >> 3]! & mask)) return false;
  }
  return true;
}

/** The insecure-registries setting: names ("host:port", "host") and CIDRs, plus Docker's loopback default. */
export class InsecureRegistries {
  private readonly names = new Set<string>();
  private readonly cidrs: Cidr[] = [parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!];

  constructor(entries: string[] = []) {
    for (let e of entries) {
      e = e.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
      if (!e) continue;
      const c = parseCidr(e);
      if (c) this.cidrs.push(c); else this.names.add(e.toLowerCase());
    }
  }

  /** Whether host[:port] may be reached without TLS checks (and over plain HTTP). */
  isInsecure(hostPort: string): boolean {
    const hp = hostPort.toLowerCase();
    const name = hostnameOf(hp);
    if (this.names.has(hp) || this.names.has(name) || name === 'localhost') return true;
    const ip = ipBytes(name);
    return ip !== undefined && this.cidrs.some((c) => inCidr(ip, c));
  }

  /** The CIDRs and names, as GET /info shows them (RegistryConfig). */
  describe(): { cidrs: string[]; names: string[] } {
    return {
      cidrs: this.cidrs.map((c) => `${c.v6 ? formatV6(c.bytes) : [...c.bytes].join('.')}/${c.bits}`),
      names: [...this.names],
    };
  }
}

function formatV6(b: Buffer): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}
