// Control groups: where they are mounted, where a container's cgroup lives, and what is in it.
//
// Three layouts exist in the wild, and barge supports all of them:
//   - v1 ("legacy"): one hierarchy per controller, /sys/fs/cgroup/<controller>/...
//   - v2 ("unified"): a single hierarchy at /sys/fs/cgroup, controllers enabled per subtree;
//   - hybrid: v1 controllers plus an (empty) v2 hierarchy at /sys/fs/cgroup/unified. runc treats this
//     as v1 (it only looks for cgroup2 at /sys/fs/cgroup itself), and so do we: every controller lives
//     in its v1 hierarchy.
// A container's cgroup is named by its *cgroupsPath*, the value of linux.cgroupsPath in its OCI spec. With
// the cgroupfs driver it is an absolute path relative to each hierarchy's root: /barge/<id> means
// /sys/fs/cgroup/memory/barge/<id>, /sys/fs/cgroup/pids/barge/<id>, ... on v1 and /sys/fs/cgroup/barge/<id>
// on v2. runc creates those directories when the container is created and removes them when it is
// deleted; removeCgroup() is for leftovers of a crash.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface CgroupLayout {
  /** 2 only for a pure unified host; a hybrid host is driven as v1. */
  version: 1 | 2;
  /** v1 controllers plus a v2 hierarchy mounted beside them (systemd's "hybrid" mode). */
  hybrid: boolean;
  /** v1 (and hybrid): controller name ("memory", "cpuacct", "name=systemd") → its mount point. */
  v1: Record<string, string>;
  /** Mount point of the cgroup2 hierarchy, if any (the root on v2, /sys/fs/cgroup/unified on hybrid). */
  unified?: string;
  /** Controllers that can be used: the mounted v1 controllers, or the root's cgroup.controllers on v2. */
  controllers: string[];
}

interface MountEntry { mountPoint: string; fsType: string; superOpts: string[]; root: string }

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const post = line.slice(dash + 3).split(' ');
    if (pre.length < 5 || post.length < 3) continue;
    out.push({ root: unescapeMount(pre[3]!), mountPoint: unescapeMount(pre[4]!), fsType: post[0]!, superOpts: post[2]!.split(',') });
  }
  return out;
}

const V1_OPTS_NOT_CONTROLLERS = new Set(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'xattr', 'noprefix']);

/** Parse a mountinfo text (default: this process's) into a layout. Pure given its input. */
export function parseCgroupLayout(mountinfo: string, readControllers: (dir: string) => string[] = readV2Controllers): CgroupLayout {
  const v1: Record<string, string> = {};
  let unified: string | undefined;
  let unifiedIsRoot = false;
  for (const m of parseMountinfo(mountinfo)) {
    if (m.fsType === 'cgroup2') {
      // Prefer the canonical mount points if the hierarchy is mounted more than once.
      if (!unified || m.mountPoint === '/sys/fs/cgroup' || m.mountPoint === '/sys/fs/cgroup/unified') {
        unified = m.mountPoint;
        unifiedIsRoot = m.mountPoint === '/sys/fs/cgroup';
      }
    } else if (m.fsType === 'cgroup') {
      for (const opt of m.superOpts) {
        if (V1_OPTS_NOT_CONTROLLERS.has(opt) || opt.startsWith('release_agent=')) continue;
        if (!(opt in v1) || m.mountPoint.startsWith('/sys/fs/cgroup/')) v1[opt] = m.mountPoint;
      }
    }
  }
  const hasV1Controllers = Object.keys(v1).some((k) => !k.startsWith('name='));
  if (unified && (unifiedIsRoot || !hasV1Controllers)) {
    return { version: 2, hybrid: false, v1: {}, unified, controllers: readControllers(unified) };
  }
  return {
    version: 1, hybrid: unified !== undefined, v1, unified,
    controllers: Object.keys(v1).filter((k) => !k.startsWith('name=')).sort(),
  };
}

function readV2Controllers(dir: string): string[] {
  try { return fs.readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean); } catch { return []; }
}

let cachedLayout: CgroupLayout | undefined;

/** The host's cgroup layout, detected once per process (mounts do not change under a running daemon). */
export function detectCgroupLayout(refresh = false): CgroupLayout {
  if (!cachedLayout || refresh) cachedLayout = parseCgroupLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return cachedLayout;
}

/** The cgroupsPath (cgroupfs driver) for a container: /barge/<id>, or <parent>/<id> for --cgroup-parent. */
export function cgroupsPathFor(id: string, parent = '/barge'): string {
  const p = path.posix.normalize('/' + parent);
  return path.posix.join(p, id);
}

function inner(cgroupsPath: string): string {
  // Clean like runc does: a relative or ../-laden path must not escape the hierarchy.
  return path.posix.normalize('/' + cgroupsPath);
}

/** The directory of a container's cgroup in the hierarchy holding `controller` (v1), or the only one (v2). */
export function cgroupDir(cgroupsPath: string, controller: string, layout: CgroupLayout = detectCgroupLayout()): string | undefined {
  if (layout.version === 2) return layout.unified ? path.join(layout.unified, inner(cgroupsPath)) : undefined;
  const mnt = layout.v1[controller];
  return mnt ? path.join(mnt, inner(cgroupsPath)) : undefined;
}

/** Every directory that may hold a piece of this cgroup: one per mounted hierarchy (v1, named, unified). */
export function allCgroupDirs(cgroupsPath: string, layout: CgroupLayout = detectCgroupLayout()): string[] {
  const mounts = new Set<string>(Object.values(layout.v1));
  if (layout.unified) mounts.add(layout.unified);
  return [...mounts].map((m) => path.join(m, inner(cgroupsPath)));
}

// ---- reading files ---------------------------------------------------------------------------------

function readText(file: string): string | undefined {
  try { return fs.readFileSync(file, 'utf8'); } catch { return undefined; }
}

function readNum(file: string): number | undefined {
  const t = readText(file);
  if (t === undefined) return undefined;
  const s = t.trim();
  if (s === 'max') return Infinity;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events, memory.oom_control). */
function readKeyed(file: string): Record<string, number> | undefined {
  const t = readText(file);
  if (t === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const line of t.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) { const n = Number(v); if (Number.isFinite(n)) out[k] = n; }
  }
  return out;
}

// ---- stats -----------------------------------------------------------------------------------------

export interface BlkioStatEntry { major: number; minor: number; op: string; value: number }

export interface BlkioStats {
  io_service_bytes_recursive: BlkioStatEntry[] | null;
  io_serviced_recursive: BlkioStatEntry[] | null;
  io_queue_recursive: BlkioStatEntry[] | null;
  io_service_time_recursive: BlkioStatEntry[] | null;
  io_wait_time_recursive: BlkioStatEntry[] | null;
  io_merged_recursive: BlkioStatEntry[] | null;
  io_time_recursive: BlkioStatEntry[] | null;
  sectors_recursive: BlkioStatEntry[] | null;
}

export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface MemoryStats {
  usage?: number;
  max_usage?: number;
  failcnt?: number;
  limit?: number;
  stats?: Record<string, number>;
}

export interface PidsStats { current?: number; limit?: number }

/** The cgroup-derived part of Docker's stats JSON (GET /containers/{id}/stats); `networks` is not here. */
export interface CgroupStats {
  read: string;
  memory_stats: MemoryStats;
  cpu_stats: CpuStats;
  pids_stats: PidsStats;
  blkio_stats: BlkioStats | Record<string, never>;
}

/**
 * The host's CPU time from /proc/stat in nanoseconds (sum of the first seven fields of the "cpu" line,
 * which are in USER_HZ = 100 ticks per second, as dockerd computes it), and the number of cpuN lines.
 */
export function readSystemCpuUsage(procStat?: string): { systemCpuUsage: number; onlineCpus: number } {
  const text = procStat ?? readText('/proc/stat') ?? '';
  let total = 0n;
  let cpus = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) break;
    if (line[3] === ' ') {
      for (const f of line.split(/\s+/).slice(1, 8)) total += BigInt(f || '0');
    } else if (line[3]! >= '0' && line[3]! <= '9') {
      cpus++;
    }
  }
  return { systemCpuUsage: Number((total * 1_000_000_000n) / 100n), onlineCpus: cpus };
}

const V1_MEMORY_KEYS = [
  'cache', 'rss', 'rss_huge', 'mapped_file', 'dirty', 'writeback', 'pgpgin', 'pgpgout', 'pgfault', 'pgmajfault',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'hierarchical_memory_limit',
  'hierarchical_memsw_limit', 'total_cache', 'total_rss', 'total_rss_huge', 'total_mapped_file', 'total_dirty',
  'total_writeback', 'total_pgpgin', 'total_pgpgout', 'total_pgfault', 'total_pgmajfault', 'total_inactive_anon',
  'total_active_anon', 'total_inactive_file', 'total_active_file', 'total_unevictable',
];

const V2_MEMORY_KEYS = [
  'anon', 'file', 'kernel_stack', 'slab', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback',
  'anon_thp', 'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable',
  'slab_unreclaimable', 'pgfault', 'pgmajfault', 'workingset_refault', 'workingset_activate',
  'workingset_nodereclaim', 'pgrefill', 'pgscan', 'pgsteal', 'pgactivate', 'pgdeactivate', 'pglazyfree',
  'pglazyfreed', 'thp_fault_alloc', 'thp_collapse_alloc',
];

function pick(raw: Record<string, number> | undefined, keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = raw?.[k] ?? 0;
  // Newer kernels split workingset_* into _anon and _file; Docker's key is their sum.
  if (raw && keys === V2_MEMORY_KEYS) {
    for (const k of ['workingset_refault', 'workingset_activate']) {
      if (raw[k] === undefined) out[k] = (raw[k + '_anon'] ?? 0) + (raw[k + '_file'] ?? 0);
    }
  }
  return out;
}

function parseBlkioV1(file: string): BlkioStatEntry[] | null {
  const t = readText(file);
  if (t === undefined) return null;
  const out: BlkioStatEntry[] = [];
  for (const line of t.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3) continue;
    const [maj, min] = f[0]!.split(':');
    out.push({ major: Number(maj), minor: Number(min), op: f[1]!, value: Number(f[2]) });
  }
  return out.length ? out : null;
}

function emptyBlkio(): BlkioStats {
  return {
    io_service_bytes_recursive: null, io_serviced_recursive: null, io_queue_recursive: null,
    io_service_time_recursive: null, io_wait_time_recursive: null, io_merged_recursive: null,
    io_time_recursive: null, sectors_recursive: null,
  };
}

function capLimit(limit: number | undefined): number | undefined {
  if (limit === undefined) return undefined;
  const machine = os.totalmem();
  return limit > machine ? machine : limit;
}

/**
 * Read a running container's cgroup statistics in the shape of Docker's stats JSON. Fields whose files are
 * missing (controller not mounted, cgroup already gone) come out as zeros, as Docker's do. Synchronous: it
 * reads a dozen small pseudo-files, which never block.
 */
export function readCgroupStats(cgroupsPath: string, layout: CgroupLayout = detectCgroupLayout()): CgroupStats {
  const { systemCpuUsage, onlineCpus } = readSystemCpuUsage();
  const read = new Date().toISOString();
  if (layout.version === 2) {
    const dir = cgroupDir(cgroupsPath, '', layout)!;
    const cpu = readKeyed(path.join(dir, 'cpu.stat'));
    const memStat = readKeyed(path.join(dir, 'memory.stat'));
    const events = readKeyed(path.join(dir, 'memory.events'));
    const io = readText(path.join(dir, 'io.stat'));
    const bytes: BlkioStatEntry[] = [];
    for (const line of io?.split('\n') ?? []) {
      const f = line.trim().split(/\s+/);
      if (f.length < 2 || !f[0]!.includes(':')) continue;
      const [maj, min] = f[0]!.split(':').map(Number) as [number, number];
      const kv: Record<string, number> = {};
      for (const p of f.slice(1)) { const [k, v] = p.split('='); if (k && v) kv[k] = Number(v); }
      bytes.push({ major: maj, minor: min, op: 'read', value: kv['rbytes'] ?? 0 }, { major: maj, minor: min, op: 'write', value: kv['wbytes'] ?? 0 });
    }
    const pidsMax = readNum(path.join(dir, 'pids.max'));
    return {
      read,
      memory_stats: memStat === undefined ? {} : {
        usage: readNum(path.join(dir, 'memory.current')) ?? 0,
        limit: capLimit(readNum(path.join(dir, 'memory.max')) ?? Infinity),
        stats: pick(memStat, V2_MEMORY_KEYS),
        ...(events ? { failcnt: events['oom'] ?? 0 } : {}),
      },
      cpu_stats: {
        cpu_usage: {
          total_usage: (cpu?.['usage_usec'] ?? 0) * 1000,
          usage_in_kernelmode: (cpu?.['system_usec'] ?? 0) * 1000,
          usage_in_usermode: (cpu?.['user_usec'] ?? 0) * 1000,
        },
        system_cpu_usage: systemCpuUsage,
        online_cpus: onlineCpus,
        throttling_data: {
          periods: cpu?.['nr_periods'] ?? 0,
          throttled_periods: cpu?.['nr_throttled'] ?? 0,
          throttled_time: (cpu?.['throttled_usec'] ?? 0) * 1000,
        },
      },
      pids_stats: {
        current: readNum(path.join(dir, 'pids.current')),
        limit: pidsMax === undefined ? undefined : pidsMax === Infinity ? 0 : pidsMax,
      },
      blkio_stats: io === undefined ? {} : { ...emptyBlkio(), io_service_bytes_recursive: bytes.length ? bytes : null },
    };
  }

  const d = (c: string) => cgroupDir(cgroupsPath, c, layout) ?? '/nonexistent';
  const mem = d('memory');
  const memStat = readKeyed(path.join(mem, 'memory.stat'));
  const acct = d('cpuacct');
  const cpuacctStat = readKeyed(path.join(acct, 'cpuacct.stat'));
  const cpuStat = readKeyed(path.join(d('cpu'), 'cpu.stat'));
  const percpu = readText(path.join(acct, 'cpuacct.usage_percpu'))?.trim().split(/\s+/).filter(Boolean).map(Number);
  const ticksToNs = (t: number | undefined) => Math.round(((t ?? 0) * 1e9) / 100);
  const blk = d('blkio');
  let blkio: BlkioStats | Record<string, never> = {};
  if (fs.existsSync(blk)) {
    // CFQ-era files when present (old kernels), else the throttle files that every kernel has.
    if (fs.existsSync(path.join(blk, 'blkio.io_serviced_recursive'))) {
      blkio = {
        io_service_bytes_recursive: parseBlkioV1(path.join(blk, 'blkio.io_service_bytes_recursive')),
        io_serviced_recursive: parseBlkioV1(path.join(blk, 'blkio.io_serviced_recursive')),
        io_queue_recursive: parseBlkioV1(path.join(blk, 'blkio.io_queued_recursive')),
        io_service_time_recursive: parseBlkioV1(path.join(blk, 'blkio.io_service_time_recursive')),
        io_wait_time_recursive: parseBlkioV1(path.join(blk, 'blkio.io_wait_time_recursive')),
        io_merged_recursive: parseBlkioV1(path.join(blk, 'blkio.io_merged_recursive')),
        io_time_recursive: parseBlkioV1(path.join(blk, 'blkio.time_recursive')),
        sectors_recursive: parseBlkioV1(path.join(blk, 'blkio.sectors_recursive')),
      };
    } else {
      blkio = {
        ...emptyBlkio(),
        io_service_bytes_recursive: parseBlkioV1(path.join(blk, 'blkio.throttle.io_service_bytes_recursive')),
        io_serviced_recursive: parseBlkioV1(path.join(blk, 'blkio.throttle.io_serviced_recursive')),
      };
    }
  }
  const pidsMax = readNum(path.join(d('pids'), 'pids.max'));
  return {
    read,
    memory_stats: memStat === undefined ? {} : {
      usage: readNum(path.join(mem, 'memory.usage_in_bytes')) ?? 0,
      max_usage: readNum(path.join(mem, 'memory.max_usage_in_bytes')) ?? 0,
      failcnt: readNum(path.join(mem, 'memory.failcnt')) ?? 0,
      limit: capLimit(readNum(path.join(mem, 'memory.limit_in_bytes'))),
      stats: pick(memStat, V1_MEMORY_KEYS),
    },
    cpu_stats: {
      cpu_usage: {
        total_usage: readNum(path.join(acct, 'cpuacct.usage')) ?? 0,
        ...(percpu ? { percpu_usage: percpu } : {}),
        usage_in_kernelmode: ticksToNs(cpuacctStat?.['system']),
        usage_in_usermode: ticksToNs(cpuacctStat?.['user']),
      },
      system_cpu_usage: systemCpuUsage,
      online_cpus: onlineCpus,
      throttling_data: {
        periods: cpuStat?.['nr_periods'] ?? 0,
        throttled_periods: cpuStat?.['nr_throttled'] ?? 0,
        throttled_time: cpuStat?.['throttled_time'] ?? 0,
      },
    },
    pids_stats: {
      current: readNum(path.join(d('pids'), 'pids.current')),
      limit: pidsMax === undefined ? undefined : pidsMax === Infinity ? 0 : pidsMax,
    },
    blkio_stats: blkio,
  };
}

// ---- OOM evidence, processes, cleanup --------------------------------------------------------------

export interface OomEvidence {
  /** Processes the kernel OOM killer killed in this cgroup (v1 memory.oom_control oom_kill, v2 memory.events oom_kill). */
  oomKills: number;
  /** Times the limit was hit (v1 memory.failcnt, v2 memory.events "max"). Not proof of a kill by itself. */
  limitHits: number;
  /** v1: the cgroup is currently under OOM (only with the OOM killer disabled). */
  underOom: boolean;
}

/**
 * Read OOM-kill evidence for a container's cgroup, or undefined if the cgroup is gone. Read it before
 * the runtime deletes the cgroup (runc delete): the counters die with the directory.
 */
export function readOomEvidence(cgroupsPath: string, layout: CgroupLayout = detectCgroupLayout()): OomEvidence | undefined {
  if (layout.version === 2) {
    const dir = cgroupDir(cgroupsPath, 'memory', layout);
    const ev = dir ? readKeyed(path.join(dir, 'memory.events')) : undefined;
    if (!ev) return undefined;
    return { oomKills: ev['oom_kill'] ?? 0, limitHits: ev['max'] ?? 0, underOom: false };
  }
  const dir = cgroupDir(cgroupsPath, 'memory', layout);
  const ctl = dir ? readKeyed(path.join(dir, 'memory.oom_control')) : undefined;
  if (!dir || !ctl) return undefined;
  return {
    oomKills: ctl['oom_kill'] ?? 0,
    limitHits: readNum(path.join(dir, 'memory.failcnt')) ?? 0,
    underOom: (ctl['under_oom'] ?? 0) === 1,
  };
}

function procsIn(dir: string, out: Set<number>): void {
  const t = readText(path.join(dir, 'cgroup.procs'));
  if (t === undefined) return;
  for (const l of t.split('\n')) if (l) out.add(Number(l));
  let entries: fs.Dirent[];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of entries) if (e.isDirectory()) procsIn(path.join(dir, e.name), out);
}

/** Host pids of every process in the container's cgroup and its sub-cgroups, sorted (for `top`). */
export function listCgroupPids(cgroupsPath: string, layout: CgroupLayout = detectCgroupLayout()): number[] {
  const out = new Set<number>();
  if (layout.version === 2) {
    const dir = cgroupDir(cgroupsPath, '', layout);
    if (dir) procsIn(dir, out);
  } else {
    // Any controller every container joins will do; pids and memory are the usual ones.
    for (const c of ['pids', 'memory', 'freezer', 'devices', 'cpu', 'name=systemd']) {
      const dir = cgroupDir(cgroupsPath, c, layout);
      if (dir && fs.existsSync(dir)) { procsIn(dir, out); break; }
    }
  }
  return [...out].sort((a, b) => a - b);
}

function rmdirTree(dir: string, failed: string[]): void {
  let entries: fs.Dirent[];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(dir);
    return;
  }
  for (const e of entries) if (e.isDirectory()) rmdirTree(path.join(dir, e.name), failed);
  try { fs.rmdirSync(dir); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(dir);
  }
}

/**
 * Remove a leftover cgroup (and its sub-cgroups) from every hierarchy. Cgroup directories can only be
 * rmdir'ed, deepest first, and only once empty of processes: kill the processes first. A cgroup whose
 * last task has just died can stay busy for a moment, so EBUSY is retried for up to `waitMs`.
 * Returns the directories that could not be removed (empty on success).
 */
export async function removeCgroup(cgroupsPath: string, opts: { waitMs?: number; layout?: CgroupLayout } = {}): Promise<string[]> {
  const layout = opts.layout ?? detectCgroupLayout();
  if (inner(cgroupsPath) === '/') throw new Error('refusing to remove a root cgroup');
  const deadline = Date.now() + (opts.waitMs ?? 1000);
  for (;;) {
    const failed: string[] = [];
    for (const dir of allCgroupDirs(cgroupsPath, layout)) rmdirTree(dir, failed);
    if (failed.length === 0 || Date.now() >= deadline) return failed;
    await new Promise((r) => setTimeout(r, 20));
  }
}
