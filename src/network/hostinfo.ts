// Facts about the host read straight from /proc and /sys (no spawn): routes, interface
// addresses, mount points, and the choice of a free subnet for the default bridge.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { run } from './exec.js';
import { Cidr, intToIp, maskOf, overlaps, parseCidr } from './ipv4.js';

/** IPv4 routes of the main table (from /proc/net/route), the default route left out. */
export function hostRoutes(): Cidr[] {
  let text = '';
  try { text = fs.readFileSync('/proc/net/route', 'utf8'); } catch { return []; }
  const out: Cidr[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = leHex(f[1]!);
    const mask = leHex(f[7]!);
    if (mask === 0) continue;
    out.push({ ip: dest, prefixLen: popcount(mask) });
  }
  return out;
}

function leHex(h: string): number {
  const n = parseInt(h, 16) >>> 0;
  return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
}

function popcount(n: number): number {
  let c = 0;
  while (n) { c += n & 1; n >>>= 1; }
  return c;
}

/** IPv4 addresses (with their prefixes) of the host's interfaces that are up and running, by
 * interface name (libuv leaves out the others: use linkAddresses for one that may be down). */
export function interfaceAddresses(): Map<string, Cidr[]> {
  const out = new Map<string, Cidr[]>();
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || !a.cidr) continue;
      const list = out.get(name) ?? [];
      list.push(parseCidr(a.cidr));
      out.set(name, list);
    }
  }
  return out;
}

/** IPv4 nameservers of the host's resolv.conf, read again only when the file changes (the DNS
 * servers of user networks ask for every query they forward). */
export function hostNameservers(file = '/etc/resolv.conf'): string[] {
  let mtime = -1;
  try { mtime = fs.statSync(file).mtimeMs; } catch { return []; }
  const hit = nsCache.get(file);
  if (hit && hit.mtime === mtime) return hit.servers;
  let text = '';
  try { text = fs.readFileSync(file, 'utf8'); } catch { return []; }
  const servers: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (m) servers.push(m[1]!);
  }
  nsCache.set(file, { mtime, servers });
  return servers;
}
const nsCache = new Map<string, { mtime: number; servers: string[] }>();

/**
 * Docker's default address pools: the first of 172.17.0.0/16 … 172.31.0.0/16, then
 * 192.168.0.0/20 … 192.168.240.0/20, that overlaps no host route, interface address, nameserver
 * or subnet of `taken`. Returns the subnet, e.g. 172.17.0.0/16, or undefined when all are used.
 */
export function freeDefaultPool(taken: Cidr[] = []): Cidr | undefined {
  const used: Cidr[] = [...hostRoutes(), ...taken];
  for (const list of interfaceAddresses().values()) used.push(...list);
  for (const ns of hostNameservers()) used.push(parseCidr(`${ns}/32`));
  const candidates: Cidr[] = [];
  for (let b = 17; b <= 31; b++) candidates.push({ ip: ((172 << 24) | (b << 16)) >>> 0, prefixLen: 16 });
  for (let c = 0; c < 256; c += 16) candidates.push({ ip: ((192 << 24) | (168 << 16) | (c << 8)) >>> 0, prefixLen: 20 });
  return candidates.find((cand) => !used.some((t) => overlaps(t, cand)));
}

/** Docker's choice for the default bridge: its address in the first free default pool, e.g. "172.17.0.1/16". */
export function chooseDefaultBip(): string {
  const pool = freeDefaultPool();
  if (!pool) throw new Error('could not find a free address pool for the default bridge: give one with bip');
  return `${intToIp((pool.ip & maskOf(pool.prefixLen)) + 1)}/${pool.prefixLen}`;
}

/** Mount points of this process's mount namespace (octal escapes of /proc/self/mountinfo decoded). */
export function mountPoints(): Set<string> {
  const out = new Set<string>();
  let text = '';
  try { text = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return out; }
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.add(f[4]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** Names of the interfaces enslaved to a bridge. */
export function bridgePorts(bridge: string): string[] {
  try { return fs.readdirSync(`/sys/class/net/${bridge}/brif`); } catch { return []; }
}

export function isBridge(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}/bridge`);
}

/** IPv4 addresses of one interface, whatever its state (one spawn of ip). */
export async function linkAddresses(name: string): Promise<Cidr[]> {
  const out = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', name]);
  const parsed = JSON.parse(out || '[]') as { addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
  const list: Cidr[] = [];
  for (const l of parsed) {
    for (const a of l.addr_info ?? []) {
      if (a.family === 'inet' && a.local && a.prefixlen !== undefined) list.push(parseCidr(`${a.local}/${a.prefixlen}`));
    }
  }
  return list;
}
