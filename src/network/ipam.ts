// IP address management for one bridge subnet.
//
// Addresses are handed out serially: each allocation takes the first free address *after* the
// last one handed out, wrapping at the end of the subnet. So an address released by a stopped
// container is not given to the next one (stale ARP entries and conntrack state in other
// containers cannot point at a stranger), and no address is in use twice. The cursor and the
// owners are persisted by the caller (NetworkService keeps one record per endpoint and the cursor
// in its state file), so both survive a daemon restart.
import { BargeError } from '../lib/errors.js';
import { Cidr, broadcastOf, contains, intToIp, ipToInt, networkOf } from './ipv4.js';

export class Ipam {
  readonly first: number;
  readonly last: number;
  readonly gateway: number;
  private readonly used = new Map<number, string>();
  private cursor: number;

  /** `bip` is the bridge's own address with the subnet's prefix, e.g. 172.18.0.1/16; `range`
   * (Docker's --ip-range) a sub-pool of the subnet that dynamic allocations are taken from. */
  constructor(readonly bip: Cidr, cursor?: string, readonly range?: Cidr) {
    const pool = range ?? bip;
    this.first = Math.max(networkOf(pool), networkOf(bip) + 1);
    this.last = Math.min(broadcastOf(pool), broadcastOf(bip) - 1);
    this.gateway = bip.ip;
    let c = cursor ? ipToInt(cursor) : this.gateway;
    if (c < this.first || c > this.last) c = this.gateway;
    this.cursor = c;
  }

  /** The address handed out last (persist it to keep the order across restarts). */
  get lastAllocated(): string { return intToIp(this.cursor); }
  get size(): number { return this.last - this.first; /* minus the gateway, plus one */ }
  get inUse(): number { return this.used.size; }

  /** Take the next free address for `owner`. */
  allocate(owner: string): string {
    const span = this.last - this.first + 1;
    let ip = this.cursor;
    for (let i = 0; i < span; i++) {
      ip = ip >= this.last ? this.first : ip + 1;
      if (ip === this.gateway || this.used.has(ip)) continue;
      this.used.set(ip, owner);
      this.cursor = ip;
      return intToIp(ip);
    }
    throw new BargeError('unavailable', `no available IPv4 addresses on this network's address pools: ${intToIp(networkOf(this.bip))}/${this.bip.prefixLen}`);
  }

  /** Mark an address as taken (recovery at start, or an address asked for with --ip). False if it
   * is outside the subnet (the ip-range does not apply), the gateway, or taken by another owner. */
  reserve(ip: string, owner: string): boolean {
    const n = ipToInt(ip);
    if (!contains(this.bip, n) || n === networkOf(this.bip) || n === broadcastOf(this.bip) || n === this.gateway) return false;
    const cur = this.used.get(n);
    if (cur !== undefined && cur !== owner) return false;
    this.used.set(n, owner);
    return true;
  }

  release(ip: string): void {
    this.used.delete(ipToInt(ip));
  }

  ownerOf(ip: string): string | undefined {
    return this.used.get(ipToInt(ip));
  }
}
