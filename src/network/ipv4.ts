// IPv4 arithmetic on unsigned 32-bit numbers, CIDR parsing, and Docker's MAC-from-IP rule.
import { invalid } from '../lib/errors.js';

export function ipToInt(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (!m) throw invalid(`invalid IPv4 address: "${ip}"`);
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) throw invalid(`invalid IPv4 address: "${ip}"`);
    n = n * 256 + b;
  }
  return n >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** An address with its prefix, e.g. 172.18.0.1/16 (the bridge address) or 172.18.0.0/16 (a subnet). */
export interface Cidr { ip: number; prefixLen: number }

export function parseCidr(s: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32) throw invalid(`invalid CIDR address: "${s}" (want e.g. 172.18.0.1/16)`);
  return { ip: ipToInt(m[1]!), prefixLen: Number(m[2]) };
}

export function networkOf(c: Cidr): number { return (c.ip & maskOf(c.prefixLen)) >>> 0; }
export function broadcastOf(c: Cidr): number { return (networkOf(c) | (~maskOf(c.prefixLen) >>> 0)) >>> 0; }
export function formatSubnet(c: Cidr): string { return `${intToIp(networkOf(c))}/${c.prefixLen}`; }

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefixLen)) >>> 0) === networkOf(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefixLen, b.prefixLen);
  return ((a.ip & maskOf(p)) >>> 0) === ((b.ip & maskOf(p)) >>> 0);
}

/** Docker's container MAC: 02:42 followed by the four bytes of the IPv4 address. */
export function macFromIp(ip: string): string {
  const n = ipToInt(ip);
  return ['02', '42', n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
    .map((b) => (typeof b === 'string' ? b : b.toString(16).padStart(2, '0'))).join(':');
}

export function isMac(s: string): boolean {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(s);
}
