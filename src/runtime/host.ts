// What this host can give a container: the facts buildSpec() needs and must not look up itself (it is a
// pure function). probeHost() reads them once per process; they do not change under a running daemon.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { gunzipSync } from 'node:zlib';
import { maskToCaps } from './capabilities.js';
import { detectCgroupLayout, type CgroupLayout } from './cgroups.js';

/** Resource limit names as the OCI spec spells them. */
export const RLIMIT_TYPES = [
  'RLIMIT_AS', 'RLIMIT_CORE', 'RLIMIT_CPU', 'RLIMIT_DATA', 'RLIMIT_FSIZE', 'RLIMIT_LOCKS', 'RLIMIT_MEMLOCK',
  'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_RSS', 'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME', 'RLIMIT_SIGPENDING', 'RLIMIT_STACK',
] as const;
export type RlimitType = (typeof RLIMIT_TYPES)[number];

/** A limit pair; Infinity stands for RLIM_INFINITY ("unlimited"). */
export interface Rlimit { soft: number; hard: number }

/** What the cgroup controllers of this host support (Docker's sysinfo, the parts that matter to runc). */
export interface CgroupFeatures {
  memory: boolean; swapLimit: boolean; memorySwappiness: boolean; oomKillDisable: boolean;
  cpuShares: boolean; cpuCfs: boolean; cpuset: boolean; pids: boolean; blkioWeight: boolean;
}

export interface HostInfo {
  /** The bounding set of this process (= the most a container can get), as CAP_ names. */
  capabilities: string[];
  /** This process's limits (runc inherits them; it cannot raise a hard limit without CAP_SYS_RESOURCE). */
  rlimits: Partial<Record<RlimitType, Rlimit>>;
  cgroupVersion: 1 | 2;
  cgroupFeatures: CgroupFeatures;
  /** libseccomp's native name of this architecture, as Docker's seccomp profiles use it ("amd64", "arm64"). */
  arch: string;
  /** uname release, for the "minKernel" conditions of seccomp profiles. */
  kernel: string;
  /** Whether the kernel has seccomp filters at all. */
  seccomp: boolean;
  /** Seccomp sub-architectures this kernel cannot run at all (x32 when its ABI is off): left out of filters. */
  deadArches?: string[];
  /** Docker's default masked paths on this host (the fixed list plus per-CPU thermal_throttle dirs). */
  maskedPaths: string[];
  /** Sysctls Docker sets by default in a new network namespace, when this kernel has them. */
  netSysctls: { pingGroupRange: boolean; unprivilegedPortStart: boolean };
  machineMemory: number;
  ncpu: number;
  /** The CPUs and memory nodes containers may use (Docker's sysinfo.Cpus/Mems), e.g. "0-1", "0". */
  cpusetCpus?: string;
  cpusetMems?: string;
}

const LIMIT_NAMES: Record<string, RlimitType> = {
  'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK', 'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE', 'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parse /proc/<pid>/limits. */
export function parseProcLimits(text: string): Partial<Record<RlimitType, Rlimit>> {
  const out: Partial<Record<RlimitType, Rlimit>> = {};
  for (const line of text.split('\n').slice(1)) {
    const name = line.slice(0, 26).trim();
    const type = LIMIT_NAMES[name];
    if (!type) continue;
    const [soft, hard] = line.slice(26).trim().split(/\s+/);
    const val = (s: string | undefined) => (s === 'unlimited' || s === undefined ? Infinity : Number(s));
    out[type] = { soft: val(soft), hard: val(hard) };
  }
  return out;
}

const NATIVE_ARCH: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', ia32: 'x86', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
  loong64: 'loongarch64', mips64el: 'mipsel64',
};

function exists(p: string): boolean {
  try { fs.accessSync(p); return true; } catch { return false; }
}

/** The first non-empty first line among these files (undefined if none). */
function firstLine(files: readonly string[]): string | undefined {
  for (const f of files) {
    try {
      const v = fs.readFileSync(f, 'utf8').split('\n')[0]!.trim();
      if (v) return v;
    } catch { /* next */ }
  }
  return undefined;
}

function possibleCpus(): number[] {
  let text: string;
  try { text = fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim(); } catch { return []; }
  const out: number[] = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

/** Docker's fixed masked-path list (moby daemon/pkg/oci/defaults.go). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/sched_debug', '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap',
  '/sys/firmware',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

export function cgroupFeatures(layout: CgroupLayout): CgroupFeatures {
  if (layout.version === 2) {
    const has = (c: string) => layout.controllers.includes(c);
    return {
      memory: has('memory'), swapLimit: has('memory'), memorySwappiness: false, oomKillDisable: false,
      cpuShares: has('cpu'), cpuCfs: has('cpu'), cpuset: has('cpuset'), pids: has('pids'), blkioWeight: has('io'),
    };
  }
  const f = (c: string, file: string) => { const m = layout.v1[c]; return m !== undefined && exists(`${m}/${file}`); };
  return {
    memory: f('memory', 'memory.limit_in_bytes'),
    swapLimit: f('memory', 'memory.memsw.limit_in_bytes'),
    memorySwappiness: f('memory', 'memory.swappiness'),
    oomKillDisable: f('memory', 'memory.oom_control'),
    cpuShares: f('cpu', 'cpu.shares'),
    cpuCfs: f('cpu', 'cpu.cfs_quota_us'),
    cpuset: f('cpuset', 'cpuset.cpus'),
    pids: layout.v1['pids'] !== undefined,
    // With BFQ the weight file (blkio.bfq.weight) only exists below the root; its stat files do at the root.
    blkioWeight: f('blkio', 'blkio.weight') || f('blkio', 'blkio.bfq.io_serviced_recursive'),
  };
}

/**
 * Whether the kernel runs x32-ABI programs, from its build config and command line (Debian builds the
 * ABI in but disabled unless `syscall.x32=y`); undefined when the config cannot be found. A seccomp
 * filter for an architecture the kernel refuses anyway costs runc ~5 ms at every container start.
 */
export function x32Enabled(): boolean | undefined {
  if (process.arch !== 'x64') return false;
  let config: string | undefined;
  try { config = fs.readFileSync(`/boot/config-${os.release()}`, 'utf8'); } catch {
    try { config = gunzipSync(fs.readFileSync('/proc/config.gz')).toString('utf8'); } catch { return undefined; }
  }
  let cmdline = '';
  try { cmdline = fs.readFileSync('/proc/cmdline', 'utf8'); } catch { /* none */ }
  return x32FromConfig(config, cmdline);
}

/** x32Enabled's rule, on the kernel's config text and command line. */
export function x32FromConfig(config: string, cmdline: string): boolean {
  if (!/^CONFIG_X86_X32(_ABI)?=y$/m.test(config)) return false;
  const flag = /(?:^|\s)syscall\.x32=(\S+)/.exec(cmdline)?.[1];
  if (flag !== undefined) return /^(y|1|on|true)$/i.test(flag);
  return !/^CONFIG_X86_X32_DISABLED=y$/m.test(config);
}

let cached: HostInfo | undefined;

/** Probe this host once (cached): capabilities, limits, cgroups, architecture, kernel. */
export function probeHost(refresh = false): HostInfo {
  if (cached && !refresh) return cached;
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const bnd = /^CapBnd:\s*([0-9a-f]+)/m.exec(status)?.[1];
  const layout = detectCgroupLayout(refresh);
  const masked = [...DEFAULT_MASKED_PATHS];
  for (const cpu of possibleCpus()) {
    const p = `/sys/devices/system/cpu/cpu${cpu}/thermal_throttle`;
    if (exists(p)) masked.push(p);
  }
  cached = {
    capabilities: bnd ? maskToCaps(BigInt('0x' + bnd)) : [],
    rlimits: parseProcLimits(fs.readFileSync('/proc/self/limits', 'utf8')),
    cgroupVersion: layout.version,
    cgroupFeatures: cgroupFeatures(layout),
    arch: NATIVE_ARCH[process.arch] ?? process.arch,
    kernel: os.release(),
    seccomp: /^Seccomp:/m.test(status),
    deadArches: x32Enabled() === false ? ['SCMP_ARCH_X32'] : [],
    maskedPaths: masked,
    netSysctls: {
      pingGroupRange: exists('/proc/sys/net/ipv4/ping_group_range'),
      unprivilegedPortStart: exists('/proc/sys/net/ipv4/ip_unprivileged_port_start'),
    },
    machineMemory: os.totalmem(),
    ncpu: os.cpus().length || 1,
    cpusetCpus: firstLine(['/sys/fs/cgroup/cpuset/cpuset.effective_cpus', '/sys/fs/cgroup/cpuset/cpuset.cpus', '/sys/fs/cgroup/cpuset.cpus.effective', '/sys/devices/system/cpu/online']),
    cpusetMems: firstLine(['/sys/fs/cgroup/cpuset/cpuset.effective_mems', '/sys/fs/cgroup/cpuset/cpuset.mems', '/sys/fs/cgroup/cpuset.mems.effective', '/sys/devices/system/node/online']),
  };
  return cached;
}
