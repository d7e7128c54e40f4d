// Test fixtures for the network subsystem: a private bridge name and subnet per service, temp
// roots, and snapshots of host state (links, mounts) to prove that teardown leaves nothing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { NetworkService, NetworkServiceOptions } from '../../src/network/service.js';
import { hostRoutes } from '../../src/network/hostinfo.js';
import { overlaps, parseCidr } from '../../src/network/ipv4.js';

export function sh(cmd: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** A 10.213.x.0/24 no host route overlaps (other test runs use this range too). */
export function freeSubnet(): string {
  for (let i = 0; i < 200; i++) {
    const x = 1 + randomBytes(1)[0]! % 254;
    const c = parseCidr(`10.213.${x}.0/24`);
    if (!hostRoutes().some((r) => overlaps(r, c))) return `10.213.${x}.1/24`;
  }
  throw new Error('no free 10.213.x.0/24');
}

export interface Fixture {
  svc: NetworkService;
  opts: NetworkServiceOptions & { bridge: string; bip: string };
  root: string;
  reopen(extra?: Partial<NetworkServiceOptions>): Promise<NetworkService>;
  cleanup(): Promise<void>;
}

export async function openFixture(extra: Partial<NetworkServiceOptions> = {}): Promise<Fixture> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-net-'));
  const opts = {
    dataRoot: path.join(root, 'data'), execRoot: path.join(root, 'exec'),
    bridge: `bgt-${randomBytes(4).toString('hex')}`, bip: freeSubnet(), iptables: true, ...extra,
  };
  const f: Fixture = {
    svc: await NetworkService.open(opts), opts, root,
    async reopen(more = {}) {
      await f.svc.close();
      f.svc = await NetworkService.open({ ...opts, ...more });
      return f.svc;
    },
    async cleanup() {
      try { await f.svc.teardown(); } finally {
        // Belt and braces: whatever teardown missed.
        sh('ip', ['link', 'del', opts.bridge]);
        for (const m of mounts()) if (m.startsWith(root)) sh('umount', ['-l', m]);
        fs.rmSync(root, { recursive: true, force: true });
      }
    },
  };
  return f;
}

export function links(): string[] {
  return fs.readdirSync('/sys/class/net').sort();
}

export function mounts(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4]!).sort();
}

export function inNetns(nsPath: string, cmd: string[]): { code: number; out: string; err: string } {
  return sh('nsenter', [`--net=${nsPath}`, ...cmd]);
}

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

/** ping, or busybox's where iputils is not installed. */
export const PING: string[] = sh('sh', ['-c', 'command -v ping']).code === 0 ? ['ping'] : ['busybox', 'ping'];
