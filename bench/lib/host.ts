// Host plumbing for a run: its temp directory, bridges and subnets of its own, iptables clean-up,
// and the last-resort teardown of anything a run left under its directory (also used to sweep up
// after an earlier run that was killed with SIGKILL and could not clean up after itself).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sh, isAlive, readPid, terminate } from './util.js';

export const RUN_DIR_PREFIX = '/tmp/barge-bench-';

/** What a run has created on the host, written to <dir>/state.json as it goes. */
export interface RunState {
  runnerPid: number;
  /** Bridges this run created (its own names; never docker0 or a bridge that existed before). */
  bridges: string[];
  /** Daemons' pidfiles. */
  pidfiles: string[];
  /** runc state roots of the engines (for `runc delete --force` of stragglers). */
  runcRoots: string[];
  /** cgroup parents (relative to each v1 hierarchy / the v2 root) to remove when empty. */
  cgroupParents: string[];
  /** iptables chains this run's dockerd created (they did not exist before): removed at the end. */
  dockerChains: { table: string; chain: string }[];
  /** FORWARD policy before dockerd started (dockerd may set it to DROP). */
  forwardPolicy?: string;
}

export class RunDir {
  readonly state: RunState;
  private constructor(readonly dir: string) {
    this.state = { runnerPid: process.pid, bridges: [], pidfiles: [], runcRoots: [], cgroupParents: [], dockerChains: [] };
  }

  static create(): RunDir {
    const d = new RunDir(fs.mkdtempSync(RUN_DIR_PREFIX));
    fs.chmodSync(d.dir, 0o711);
    d.save();
    return d;
  }

  path(...p: string[]): string { return path.join(this.dir, ...p); }

  update(f: (s: RunState) => void): void { f(this.state); this.save(); }

  save(): void { fs.writeFileSync(path.join(this.dir, 'state.json'), JSON.stringify(this.state, null, 2)); }
}

/** A free 10.x.y.0/24 subnet (not routed on this host yet); returns the gateway CIDR "10.x.y.1/24". */
export function pickSubnet(avoid: string[] = []): string {
  const routes = sh('ip', ['-4', 'route']).stdout + sh('ip', ['-4', '-o', 'addr']).stdout;
  for (;;) {
    const b = randomBytes(2);
    const net = `10.${200 + (b[0]! % 50)}.${b[1]!}`;
    if (!routes.includes(`${net}.`) && !avoid.some((a) => a.startsWith(`${net}.`))) return `${net}.1/24`;
  }
}

/** A bridge name of our own, at most 15 characters, not present on the host. */
export function pickBridgeName(prefix: string): string {
  for (;;) {
    const name = prefix + randomBytes(3).toString('hex');
    if (sh('ip', ['link', 'show', name]).code !== 0) return name;
  }
}

export function linkExists(name: string): boolean { return sh('ip', ['link', 'show', name]).code === 0; }

/** Removes every iptables rule mentioning this bridge, and every chain named after it. */
export function cleanupIptablesForBridge(bridge: string): void {
  const re = new RegExp(`(^|[\\s-])${bridge.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
  for (const table of ['filter', 'nat']) {
    const rules = sh('iptables', ['-w', '-t', table, '-S']).stdout.split('\n');
    for (const r of rules) {
      if (r.startsWith('-A ') && re.test(r)) deleteRule(table, r);
    }
    for (const r of rules) {
      if (r.startsWith('-N ') && re.test(r)) {
        const chain = r.slice(3).trim();
        // Also any jump to this chain from elsewhere.
        for (const j of rules) if (j.startsWith('-A ') && j.includes(`-j ${chain}`) && !j.startsWith(`-A ${chain} `)) deleteRule(table, j);
        sh('iptables', ['-w', '-t', table, '-F', chain]);
        sh('iptables', ['-w', '-t', table, '-X', chain]);
      }
    }
  }
}

function deleteRule(table: string, rule: string): void {
  // iptables -S prints rules in a form that can be fed back; split honouring double quotes.
  const args = rule.replace(/^-A /, '-D ').match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"(.*)"$/, '$1'));
  sh('iptables', ['-w', '-t', table, ...args]);
}

/** The chains of a table ("-N" lines) and the built-in chains' policies. */
export function iptablesChains(table: string): { chains: string[]; policies: Record<string, string> } {
  const lines = sh('iptables', ['-w', '-t', table, '-S']).stdout.split('\n');
  const chains: string[] = [];
  const policies: Record<string, string> = {};
  for (const l of lines) {
    if (l.startsWith('-N ')) chains.push(l.slice(3).trim());
    const m = /^-P (\S+) (\S+)/.exec(l);
    if (m) policies[m[1]!] = m[2]!;
  }
  return { chains, policies };
}

/** Removes chains dockerd created in this run (and the jumps to them), unless another dockerd still runs. */
export function removeDockerChains(chains: { table: string; chain: string }[]): string | null {
  if (chains.length === 0) return null;
  // Another live dockerd that manages iptables may be using them.
  const others = sh('pgrep', ['-x', 'dockerd']).stdout.split('\n').filter(Boolean).map(Number)
    .filter((p) => isAlive(p) && !/--iptables[= ]false/.test(cmdlineOf(p)));
  if (others.length) return `left DOCKER iptables chains in place: another dockerd is running (pid ${others.join(', ')})`;
  for (const table of [...new Set(chains.map((c) => c.table))]) {
    const mine = new Set(chains.filter((c) => c.table === table).map((c) => c.chain));
    const rules = sh('iptables', ['-w', '-t', table, '-S']).stdout.split('\n');
    for (const r of rules) {
      const m = /^-A (\S+) .*-j (\S+)/.exec(r);
      if (m && mine.has(m[2]!) && !mine.has(m[1]!)) deleteRule(table, r);
    }
    for (const c of mine) sh('iptables', ['-w', '-t', table, '-F', c]);
    for (const c of mine) sh('iptables', ['-w', '-t', table, '-X', c]);
  }
  return null;
}

/** PIDs of processes whose command line mentions `needle` (not this process). */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) out.push(pid);
    } catch { /* gone */ }
  }
  return out;
}

export function cmdlineOf(pid: number): string {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return ''; }
}

/** Parent → children map of every process on the host. */
export function processTree(): Map<number, number[]> {
  const kids = new Map<number, number[]>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const l = kids.get(ppid) ?? [];
      l.push(Number(e));
      kids.set(ppid, l);
    } catch { /* gone */ }
  }
  return kids;
}

/** The given processes and all their descendants. */
export function withDescendants(roots: number[]): number[] {
  const kids = processTree();
  const seen = new Set<number>();
  const todo = [...roots];
  while (todo.length) {
    const p = todo.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    todo.push(...(kids.get(p) ?? []));
  }
  return [...seen];
}

/** Proportional set size of a process, in KiB (0 if gone). */
export function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

export function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Every directory where a cgroup named `rel` can live: one per v1 hierarchy, or the v2 root. */
function cgroupDirs(rel: string): string[] {
  const out: string[] = [];
  const rels = rel.replace(/^\/+/, '');
  if (fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'))) return [path.join(CGROUP_ROOT, rels)];
  for (const h of fs.readdirSync(CGROUP_ROOT)) out.push(path.join(CGROUP_ROOT, h, rels));
  return out;
}

/** Kills every process in a cgroup subtree (SIGKILL), then removes the subtree's directories. */
export async function removeCgroupTree(rel: string): Promise<void> {
  const dirs = cgroupDirs(rel).filter((d) => fs.existsSync(d));
  const walk = (d: string): string[] => {
    const subs: string[] = [];
    try { for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) subs.push(...walk(path.join(d, e.name))); } catch { /* gone */ }
    return [...subs, d];
  };
  for (const d of dirs) {
    for (const c of walk(d)) {
      try {
        for (const p of fs.readFileSync(path.join(c, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
        }
      } catch { /* not readable */ }
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const d of dirs) for (const c of walk(d)) { try { fs.rmdirSync(c); } catch { /* busy or gone */ } }
}

/**
 * Last-resort teardown of a run directory: daemons, processes mentioning the directory, runc
 * containers, mounts, bridges, iptables rules/chains, cgroups, then the directory itself. Safe to
 * call after a clean shutdown (then most steps find nothing).
 */
export async function teardownRunDir(dir: string, st: RunState): Promise<string[]> {
  const notes: string[] = [];
  for (const pf of st.pidfiles) await terminate(readPid(pf), 10_000);
  for (const root of st.runcRoots) {
    let ids: string[] = [];
    try { ids = fs.readdirSync(root); } catch { ids = []; }
    for (const id of ids) sh('runc', ['--root', root, 'delete', '--force', id], { timeoutMs: 15_000 });
  }
  for (const p of pidsMentioning(dir + '/')) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  for (const cg of st.cgroupParents) await removeCgroupTree(cg);
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .reverse();
  for (const m of mounts) sh('umount', ['-l', m]);
  for (const b of st.bridges) {
    if (linkExists(b)) sh('ip', ['link', 'del', b]);
    cleanupIptablesForBridge(b);
  }
  const n = removeDockerChains(st.dockerChains);
  if (n) notes.push(n);
  if (st.forwardPolicy) {
    const now = iptablesChains('filter').policies.FORWARD;
    if (now && now !== st.forwardPolicy) sh('iptables', ['-w', '-P', 'FORWARD', st.forwardPolicy]);
  }
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  return notes;
}

/** Tears down the directories of earlier runs whose runner is gone (killed before it could clean up). */
export async function sweepStaleRuns(log: (s: string) => void): Promise<void> {
  const parent = path.dirname(RUN_DIR_PREFIX);
  const base = path.basename(RUN_DIR_PREFIX);
  for (const e of fs.readdirSync(parent)) {
    if (!e.startsWith(base)) continue;
    const dir = path.join(parent, e);
    let st: RunState;
    try { st = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as RunState; } catch { continue; }
    if (isAlive(st.runnerPid) && cmdlineOf(st.runnerPid).includes('bench/run')) continue;
    log(`cleaning up after an earlier run that did not finish: ${dir}`);
    for (const n of await teardownRunDir(dir, st)) log(n);
  }
}
