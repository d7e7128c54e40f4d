// buildSpec: a Docker container configuration (the API's Config and HostConfig, already resolved by the
// layers above: user, environment, command, network files, volumes) → the OCI runtime spec runc runs.
//
// The result is meant to be what dockerd would hand to runc for the same container, with two deliberate
// differences on hosts that cannot grant everything Docker asks for: capabilities are clamped to the host's
// bounding set and rlimits to the host's hard limits, each with a warning, where Docker would fail.
//
// It is a pure function of its input, except for three documented look-ups that the input can replace:
// host device nodes (--device, --privileged), and the file named by --security-opt seccomp=<path>.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../lib/errors.js';
import { effectiveCapabilities } from './capabilities.js';
import { deviceAt, devicesFromPath, listHostDevices, parseDeviceCgroupRules } from './devices.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, RLIMIT_TYPES, type CgroupFeatures, type HostInfo, type Rlimit, type RlimitType } from './host.js';
import type {
  OciBlockIO, OciCpu, OciDevice, OciDeviceCgroup, OciMemory, OciMount, OciNamespace, OciRlimit, OciSeccomp, OciSpec,
  OciThrottleDevice, OciWeightDevice,
} from './oci.js';
import { defaultSeccomp, loadSeccompProfile } from './seccomp.js';

export * from './oci.js';

// ---- input -----------------------------------------------------------------------------------------

/** The fields of the API's ContainerConfig that shape the spec. */
export interface DockerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  Tty?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
}

export interface DockerUlimit { Name: string; Soft: number; Hard: number }
export interface DockerDeviceMapping { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }
export interface DockerThrottleDevice { Path: string; Rate: number }

/** The fields of the API's HostConfig (with Resources) that shape the spec. */
export interface DockerHostConfig {
  Privileged?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  ReadonlyRootfs?: boolean;
  Tmpfs?: Record<string, string> | null;
  Sysctls?: Record<string, string> | null;
  OomScoreAdj?: number;
  SecurityOpt?: string[] | null;
  ShmSize?: number;
  Init?: boolean | null;
  IpcMode?: string;
  PidMode?: string;
  UTSMode?: string;
  CgroupnsMode?: string;
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
  ConsoleSize?: [number, number] | number[] | null;
  Annotations?: Record<string, string> | null;
  // Resources
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  MemorySwappiness?: number | null;
  OomKillDisable?: boolean | null;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  BlkioWeightDevice?: { Path: string; Weight: number }[] | null;
  BlkioDeviceReadBps?: DockerThrottleDevice[] | null;
  BlkioDeviceWriteBps?: DockerThrottleDevice[] | null;
  BlkioDeviceReadIOps?: DockerThrottleDevice[] | null;
  BlkioDeviceWriteIOps?: DockerThrottleDevice[] | null;
  Devices?: DockerDeviceMapping[] | null;
  DeviceCgroupRules?: string[] | null;
  Ulimits?: DockerUlimit[] | null;
}

/** The container's network namespace: a new one, an existing one (a path), or the host's. */
export type NetworkNamespace =
  | { mode: 'new' }
  /** `shared`: the namespace belongs to another container (--network container:x); no default sysctls then. */
  | { mode: 'path'; path: string; shared?: boolean }
  | { mode: 'host' };

/** A mount the volume layer already resolved (bind: source is a host path; tmpfs: source "tmpfs"). */
export interface ExtraMount { destination: string; type: string; source: string; options: string[] }

/** What buildSpec needs to know about the host: probeHost() gives all of it. */
export type HostFacts = Pick<HostInfo, 'capabilities' | 'rlimits' | 'cgroupVersion'> & Partial<HostInfo>;

export interface BuildSpecInput {
  config: DockerConfig;
  hostConfig: DockerHostConfig;
  /** The container's root filesystem (the mounted overlay). */
  rootfs: string;
  /** The resolved user (resolveUser()): additionalGids as Docker lists them, primary gid first. */
  user: { uid: number; gid: number; additionalGids?: number[] };
  /** Final environment (image env merged with the container's). */
  env: string[];
  /** Final command line (entrypoint + cmd), without the init. */
  args: string[];
  cwd: string;
  hostname: string;
  /** Host paths of the generated files to bind-mount at /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  etcFiles?: { hosts?: string; hostname?: string; resolvConf?: string };
  network: NetworkNamespace;
  cgroupsPath: string;
  host: HostFacts;
  /** Host path of the init for --init (default: Debian's /usr/bin/tini-static). */
  initPath?: string;
  /** Whether to run the init when HostConfig.Init is unset (the daemon's --init default). */
  defaultInit?: boolean;
  /** Volumes, binds and other resolved mounts. A mount at /dev/shm replaces the default tmpfs. */
  mounts?: ExtraMount[];
  /** Namespace files to join for --pid/--ipc/--uts container:<x> (e.g. /proc/<pid>/ns/pid). */
  joinNamespaces?: { pid?: string; ipc?: string; uts?: string };
  /** Replaces the host device look-ups (tests; hosts without /dev access). */
  devices?: {
    hostDevices?: () => OciDevice[];
    fromPath?: typeof devicesFromPath;
    deviceAt?: (p: string) => OciDevice | undefined;
  };
  /** Reads the file of --security-opt seccomp=<path> (default: fs.readFileSync). */
  readFile?: (p: string) => string;
}

export interface BuildSpecResult {
  spec: OciSpec;
  /** Things the user asked for that this host cannot do, and how they were adjusted. */
  warnings: string[];
  /** The signal `docker stop` sends (not part of the OCI spec). */
  stopSignal: string;
}

// ---- constants -------------------------------------------------------------------------------------

export const OCI_VERSION = '1.0.2-dev';
export const DEFAULT_INIT_PATH = '/usr/bin/tini-static';
export const CONTAINER_INIT_PATH = '/sbin/docker-init';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
/** The RLIMIT_NOFILE containers get when they do not ask (dockerd's LimitNOFILE=infinity → 1048576). */
export const DEFAULT_NOFILE: Rlimit = { soft: 1048576, hard: 1048576 };
const MIN_MEMORY = 6 * 1024 * 1024;

/** Docker's default devices cgroup rules (moby daemon/pkg/oci/defaults.go). */
export function defaultDeviceRules(): OciDeviceCgroup[] {
  const c = (major: number, minor: number, allow = true): OciDeviceCgroup => ({ allow, type: 'c', major, minor, access: 'rwm' });
  return [
    { allow: false, access: 'rwm' },
    c(1, 5), // /dev/zero
    c(1, 3), // /dev/null
    c(1, 9), // /dev/urandom
    c(1, 8), // /dev/random
    c(5, 0), // /dev/tty
    c(5, 1), // /dev/console
    c(10, 229, false), // /dev/fuse
  ];
}

function defaultMounts(shmSize: number): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] },
  ];
}

// ---- security options ------------------------------------------------------------------------------

export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** undefined: Docker's default profile; 'unconfined'; or the profile's JSON text / file path. */
  seccomp?: string;
  writableCgroups?: boolean;
  /** --security-opt systempaths=unconfined: no masked or read-only /proc and /sys paths. */
  systemPathsUnconfined: boolean;
}

/** Parse HostConfig.SecurityOpt as dockerd does (label/apparmor accepted and ignored: no LSM here). */
export function parseSecurityOpts(opts: readonly string[] | null | undefined): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, systemPathsUnconfined: false };
  const bool = (opt: string, v: string) => {
    if (/^(1|t|true)$/i.test(v)) return true;
    if (/^(0|f|false)$/i.test(v)) return false;
    throw invalid(`invalid --security-opt 2: "${opt}"`);
  };
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges') { out.noNewPrivileges = true; continue; }
    if (opt === 'writable-cgroups') { out.writableCgroups = true; continue; }
    if (opt === 'disable') continue;
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : undefined;
    if (!sep) throw invalid(`invalid --security-opt 1: "${opt}"`);
    const i = opt.indexOf(sep);
    const k = opt.slice(0, i);
    const v = opt.slice(i + 1);
    switch (k) {
      case 'label': case 'apparmor': break;
      case 'seccomp': out.seccomp = v === 'builtin' || v === '' ? undefined : v; break;
      case 'no-new-privileges': out.noNewPrivileges = bool(opt, v); break;
      case 'writable-cgroups': out.writableCgroups = bool(opt, v); break;
      case 'systempaths':
        if (v !== 'unconfined') throw invalid(`invalid --security-opt 2: "${opt}"`);
        out.systemPathsUnconfined = true;
        break;
      default: throw invalid(`invalid --security-opt 2: "${opt}"`);
    }
  }
  return out;
}

// ---- tmpfs options (moby/sys/mount MergeTmpfsOptions) ----------------------------------------------

const FLAG_KEYS: Record<string, string> = {
  ro: 'rdonly', rw: 'rdonly', suid: 'nosuid', nosuid: 'nosuid', dev: 'nodev', nodev: 'nodev', exec: 'noexec',
  noexec: 'noexec', sync: 'sync', async: 'sync', dirsync: 'dirsync', remount: 'remount', mand: 'mand',
  nomand: 'mand', atime: 'noatime', noatime: 'noatime', diratime: 'nodiratime', nodiratime: 'nodiratime',
  bind: 'bind', rbind: 'rbind', relatime: 'relatime', norelatime: 'relatime', strictatime: 'strictatime',
  nostrictatime: 'strictatime', private: 'propagation', rprivate: 'propagation', shared: 'propagation',
  rshared: 'propagation', slave: 'propagation', rslave: 'propagation', unbindable: 'propagation',
  runbindable: 'propagation',
};
const TMPFS_DATA_KEYS = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/** Merge tmpfs options, later ones winning, as Docker does for --tmpfs. */
export function mergeTmpfsOptions(options: readonly string[]): string[] {
  const seenFlags = new Set<string>();
  const seenData = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i]!;
    if (o === 'defaults' || o === '') continue;
    const fk = FLAG_KEYS[o];
    if (fk) {
      if (!seenFlags.has(fk)) { out.unshift(o); seenFlags.add(fk); }
      continue;
    }
    const eq = o.indexOf('=');
    const key = eq > 0 ? o.slice(0, eq) : '';
    if (!TMPFS_DATA_KEYS.has(key)) throw invalid(`invalid tmpfs option ["${o.split('=').join('" "')}"]`);
    if (!seenData.has(key)) { out.unshift(o); seenData.add(key); }
  }
  return out;
}

// ---- resources -------------------------------------------------------------------------------------

const ALL_FEATURES: CgroupFeatures = {
  memory: true, swapLimit: true, memorySwappiness: true, oomKillDisable: true, cpuShares: true, cpuCfs: true,
  cpuset: true, pids: true, blkioWeight: true,
};

function featuresOf(host: HostFacts): CgroupFeatures {
  if (host.cgroupFeatures) return host.cgroupFeatures;
  return host.cgroupVersion === 2 ? { ...ALL_FEATURES, memorySwappiness: false, oomKillDisable: false } : ALL_FEATURES;
}

/**
 * Docker's resource validation (verifyPlatformContainerResources): throws invalid-argument errors with
 * Docker's messages, returns warnings for settings this host's cgroups cannot apply, and returns the
 * resources adjusted as dockerd adjusts them (e.g. MemorySwap defaulting to twice Memory).
 */
export function validateResources(hc: DockerHostConfig, host: HostFacts): { resources: DockerHostConfig; warnings: string[] } {
  const r: DockerHostConfig = { ...hc };
  const warnings: string[] = [];
  const f = featuresOf(host);
  const memory = r.Memory ?? 0;
  if (memory > 0 && (r.MemorySwap ?? 0) === 0) r.MemorySwap = memory * 2;
  if (r.MemorySwappiness === -1) r.MemorySwappiness = null;
  if (memory !== 0 && memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (memory > 0 && !f.memory) {
    warnings.push('Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.');
    r.Memory = 0; r.MemorySwap = -1;
  }
  if ((r.Memory ?? 0) > 0 && r.MemorySwap !== -1 && !f.swapLimit) {
    warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
    r.MemorySwap = -1;
  }
  const swap = r.MemorySwap ?? 0;
  if ((r.Memory ?? 0) > 0 && swap > 0 && swap < (r.Memory ?? 0)) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  if ((r.Memory ?? 0) === 0 && swap > 0) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (r.MemorySwappiness != null && !f.memorySwappiness) {
    warnings.push('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
    r.MemorySwappiness = null;
  }
  if (r.MemorySwappiness != null && (r.MemorySwappiness < 0 || r.MemorySwappiness > 100)) {
    throw invalid(`Invalid value: ${r.MemorySwappiness}, valid memory swappiness range is 0-100`);
  }
  const res = r.MemoryReservation ?? 0;
  if (res > 0 && res < MIN_MEMORY) throw invalid('Minimum memory reservation allowed is 6MB');
  if ((r.Memory ?? 0) > 0 && res > 0 && (r.Memory ?? 0) < res) throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');
  // dockerd stores OomKillDisable=false at create; it reaches the spec wherever the cgroup supports it.
  if (r.OomKillDisable == null) r.OomKillDisable = false;
  if (r.OomKillDisable != null && !f.oomKillDisable) {
    if (r.OomKillDisable) warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    r.OomKillDisable = null;
  }
  if (r.OomKillDisable && (r.Memory ?? 0) === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  if (r.PidsLimit != null && !f.pids) {
    if (r.PidsLimit > 0) warnings.push('Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.');
    r.PidsLimit = null;
  }
  const nano = r.NanoCpus ?? 0;
  if (nano > 0 && (r.CpuPeriod ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && (r.CpuQuota ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano > 0 && !f.cpuCfs) throw invalid('NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted');
  const ncpu = host.ncpu ?? 1;
  if (nano !== 0 && (nano < 0 || nano > ncpu * 1e9)) {
    throw invalid(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  }
  if ((r.CpuShares ?? 0) < 0) throw invalid(`invalid CPU shares (${r.CpuShares}): value must be a positive integer`);
  if ((r.CpuShares ?? 0) > 0 && !f.cpuShares) {
    warnings.push('Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.');
    r.CpuShares = 0;
  }
  if (((r.CpuPeriod ?? 0) !== 0 || (r.CpuQuota ?? 0) !== 0) && !f.cpuCfs) {
    warnings.push('Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.');
    r.CpuPeriod = 0; r.CpuQuota = 0;
  }
  const period = r.CpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1000000)) throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  const quota = r.CpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if ((r.CpusetCpus || r.CpusetMems) && !f.cpuset) {
    warnings.push('Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.');
    r.CpusetCpus = ''; r.CpusetMems = '';
  }
  const cpusets = [['cpus', r.CpusetCpus, host.cpusetCpus, 'CPUs'], ['mems', r.CpusetMems, host.cpusetMems, 'memory nodes']] as const;
  for (const [name, v, available, what] of cpusets) {
    if (!v) continue;
    const asked = parseUintList(v);
    if (!asked) throw invalid(`Invalid value ${v} for cpuset ${name}: invalid format: ${v}`);
    const have = available ? parseUintList(available) : undefined;
    if (have && [...asked].some((n) => !have.has(n))) throw invalid(`Requested ${what} are not available - requested ${v}, available: ${available}`);
  }
  const weight = r.BlkioWeight ?? 0;
  if (weight > 0 && !f.blkioWeight) {
    warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    r.BlkioWeight = 0;
  }
  if ((r.BlkioWeight ?? 0) > 0 && ((r.BlkioWeight ?? 0) < 10 || (r.BlkioWeight ?? 0) > 1000)) throw invalid('Range of blkio weight is from 10 to 1000');
  if (r.OomScoreAdj !== undefined && (r.OomScoreAdj < -1000 || r.OomScoreAdj > 1000)) {
    throw invalid(`Invalid value ${r.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  }
  if ((r.ShmSize ?? 0) < 0) throw invalid('SHM size can not be less than 0');
  return { resources: r, warnings };
}

/** moby's parsers.ParseUintList: "0-3,5" → {0,1,2,3,5}; undefined when malformed. */
function parseUintList(v: string): Set<number> | undefined {
  const out = new Set<number>();
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return undefined;
    for (let i = a; i <= b && i - a < 65536; i++) out.add(i);
  }
  return out;
}

function memoryResources(r: DockerHostConfig): OciMemory | undefined {
  const m: OciMemory = {};
  if ((r.Memory ?? 0) > 0) m.limit = r.Memory;
  if ((r.MemoryReservation ?? 0) > 0) m.reservation = r.MemoryReservation;
  if ((r.MemorySwap ?? 0) > 0) m.swap = r.MemorySwap;
  if (r.MemorySwappiness != null) m.swappiness = r.MemorySwappiness;
  if (r.OomKillDisable != null) m.disableOOMKiller = r.OomKillDisable;
  return Object.keys(m).length ? m : undefined;
}

function cpuResources(r: DockerHostConfig): OciCpu | undefined {
  const c: OciCpu = {};
  if ((r.CpuShares ?? 0) !== 0) c.shares = r.CpuShares;
  if (r.CpusetCpus) c.cpus = r.CpusetCpus;
  if (r.CpusetMems) c.mems = r.CpusetMems;
  if ((r.NanoCpus ?? 0) > 0) {
    c.period = 100000;
    c.quota = Math.trunc((r.NanoCpus! * 100000) / 1e9);
  }
  if ((r.CpuPeriod ?? 0) !== 0) c.period = r.CpuPeriod;
  if ((r.CpuQuota ?? 0) !== 0) c.quota = r.CpuQuota;
  if ((r.CpuRealtimePeriod ?? 0) !== 0) c.realtimePeriod = r.CpuRealtimePeriod;
  if ((r.CpuRealtimeRuntime ?? 0) !== 0) c.realtimeRuntime = r.CpuRealtimeRuntime;
  return Object.keys(c).length ? c : undefined;
}

function blockIO(r: DockerHostConfig, lookup: (p: string) => OciDevice | undefined): OciBlockIO {
  const dev = (p: string) => {
    const d = lookup(p);
    if (!d || d.type !== 'b') throw invalid(`${p} is not a block device`);
    return d;
  };
  const throttle = (list: DockerThrottleDevice[] | null | undefined): OciThrottleDevice[] | undefined =>
    list?.length ? list.map((t) => { const d = dev(t.Path); return { major: d.major!, minor: d.minor!, rate: t.Rate }; }) : undefined;
  const b: OciBlockIO = {};
  if ((r.BlkioWeight ?? 0) > 0) b.weight = r.BlkioWeight;
  if (r.BlkioWeightDevice?.length) {
    b.weightDevice = r.BlkioWeightDevice.map((w): OciWeightDevice => { const d = dev(w.Path); return { major: d.major!, minor: d.minor!, weight: w.Weight }; });
  }
  const rb = throttle(r.BlkioDeviceReadBps); if (rb) b.throttleReadBpsDevice = rb;
  const wb = throttle(r.BlkioDeviceWriteBps); if (wb) b.throttleWriteBpsDevice = wb;
  const ri = throttle(r.BlkioDeviceReadIOps); if (ri) b.throttleReadIOPSDevice = ri;
  const wi = throttle(r.BlkioDeviceWriteIOps); if (wi) b.throttleWriteIOPSDevice = wi;
  return b;
}

// ---- rlimits ---------------------------------------------------------------------------------------

/** Docker's ulimit names ("nofile") → OCI rlimit types, with Docker's validation. -1 means unlimited. */
export function ulimitsToRlimits(ulimits: readonly DockerUlimit[] | null | undefined): OciRlimit[] {
  const out: OciRlimit[] = [];
  for (const u of ulimits ?? []) {
    const type = `RLIMIT_${String(u.Name).toUpperCase()}`;
    if (!(RLIMIT_TYPES as readonly string[]).includes(type)) throw invalid(`invalid ulimit type: ${u.Name}`);
    const v = (n: number) => (n < 0 ? Infinity : n);
    const soft = v(u.Soft);
    const hard = v(u.Hard);
    if (soft > hard) throw invalid(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
    const i = out.findIndex((o) => o.type === type);
    if (i >= 0) out.splice(i, 1);
    out.push({ type, soft, hard });
  }
  return out;
}

function clampRlimits(asked: OciRlimit[], host: HostFacts['rlimits'], warnings: string[], quiet: Set<string>): OciRlimit[] {
  return asked.map((r) => {
    const h = host[r.type as RlimitType];
    if (!h || r.hard <= h.hard) return r;
    const hard = h.hard;
    const soft = Math.min(r.soft, hard);
    if (!quiet.has(r.type)) {
      const name = r.type.slice('RLIMIT_'.length).toLowerCase();
      const fmt = (n: number) => (n === Infinity ? 'unlimited' : String(n));
      warnings.push(`ulimit ${name}=${fmt(r.soft)}:${fmt(r.hard)} exceeds this host's hard limit (${fmt(hard)}): using ${fmt(soft)}:${fmt(hard)}`);
    }
    return { type: r.type, soft, hard };
  });
}

// ---- mounts ----------------------------------------------------------------------------------------

function depth(p: string): number {
  return path.posix.normalize(p).split('/').length;
}

const NS_MODE = /^(|host|private|shareable|none|container:.+)$/;

function capabilityWarning(dropped: readonly string[]): string {
  return `This host cannot grant ${dropped.join(', ')} (not in its capability bounding set): the container runs without ${dropped.length > 1 ? 'them' : 'it'}`;
}

// ---- create-time checks ------------------------------------------------------------------------------

/**
 * What dockerd checks when a container is created, before anything exists: the resources, capabilities,
 * ulimits and security options of a HostConfig, against this host. Throws invalid-argument errors with
 * Docker's messages; returns the warnings `docker create` prints (limits this host cannot apply, and how
 * buildSpec will adjust them at start).
 */
export function checkHostConfig(hc: DockerHostConfig, host: HostFacts): string[] {
  const warnings = [...validateResources(hc, host).warnings];
  parseSecurityOpts(hc.SecurityOpt);
  const capResult = effectiveCapabilities({ capAdd: hc.CapAdd, capDrop: hc.CapDrop, privileged: !!hc.Privileged, hostBounding: host.capabilities });
  if (capResult.dropped.length) warnings.push(capabilityWarning(capResult.dropped));
  clampRlimits(ulimitsToRlimits(hc.Ulimits), host.rlimits, warnings, new Set());
  return warnings;
}

// ---- buildSpec ---------------------------------------------------------------------------------------

export function buildSpec(input: BuildSpecInput): BuildSpecResult {
  const { config, host } = input;
  const warnings: string[] = [];
  const validated = validateResources(input.hostConfig, host);
  const hc = validated.resources;
  warnings.push(...validated.warnings);
  const privileged = !!hc.Privileged;
  const sec = parseSecurityOpts(hc.SecurityOpt);
  const cgroupV2 = host.cgroupVersion === 2;

  // -- namespaces
  const ipcMode = hc.IpcMode ?? '';
  const pidMode = hc.PidMode ?? '';
  const utsMode = hc.UTSMode ?? '';
  if (!NS_MODE.test(ipcMode) || ipcMode === 'container:') throw invalid(`invalid IPC mode: ${ipcMode}`);
  if (!/^(|host|container:.+)$/.test(pidMode)) throw invalid(`invalid PID mode: ${pidMode}`);
  if (!/^(|host)$/.test(utsMode)) throw invalid(`invalid UTS mode: ${utsMode}`);
  const cgroupnsMode = hc.CgroupnsMode || (cgroupV2 ? 'private' : 'host');
  if (cgroupnsMode !== 'private' && cgroupnsMode !== 'host') throw invalid(`invalid cgroup namespace mode: ${cgroupnsMode}`);
  const join = (kind: 'pid' | 'ipc', mode: string): string => {
    const p = input.joinNamespaces?.[kind];
    if (!p) throw invalid(`cannot join ${kind} namespace of ${mode.slice('container:'.length)}: no namespace path given`);
    return p;
  };
  const namespaces: OciNamespace[] = [{ type: 'mount' }];
  if (input.network.mode === 'new') namespaces.push({ type: 'network' });
  else if (input.network.mode === 'path') namespaces.push({ type: 'network', path: input.network.path });
  if (utsMode !== 'host') namespaces.push(input.joinNamespaces?.uts ? { type: 'uts', path: input.joinNamespaces.uts } : { type: 'uts' });
  if (pidMode.startsWith('container:')) namespaces.push({ type: 'pid', path: join('pid', pidMode) });
  else if (pidMode !== 'host') namespaces.push({ type: 'pid' });
  if (ipcMode.startsWith('container:')) namespaces.push({ type: 'ipc', path: join('ipc', ipcMode) });
  else if (ipcMode !== 'host') namespaces.push({ type: 'ipc' });
  if (cgroupnsMode === 'private') namespaces.push({ type: 'cgroup' });
  const privatePid = pidMode === '';

  // -- capabilities
  const capResult = effectiveCapabilities({ capAdd: hc.CapAdd, capDrop: hc.CapDrop, privileged, hostBounding: host.capabilities });
  const caps = capResult.caps;
  if (capResult.dropped.length) warnings.push(capabilityWarning(capResult.dropped));

  // -- process
  let args = [...input.args];
  const useInit = (hc.Init ?? input.defaultInit ?? false) && privatePid;
  const shmSize = hc.ShmSize && hc.ShmSize > 0 ? hc.ShmSize : DEFAULT_SHM_SIZE;
  let mounts = defaultMounts(shmSize);
  if (useInit) {
    args = [CONTAINER_INIT_PATH, '--', ...args];
    mounts.push({ destination: CONTAINER_INIT_PATH, type: 'bind', source: input.initPath ?? DEFAULT_INIT_PATH, options: ['bind', 'ro'] });
  }

  const asked = ulimitsToRlimits(hc.Ulimits);
  const quiet = new Set<string>();
  if (!asked.some((r) => r.type === 'RLIMIT_NOFILE')) {
    asked.push({ type: 'RLIMIT_NOFILE', ...DEFAULT_NOFILE });
    quiet.add('RLIMIT_NOFILE');
  }
  const rlimits = clampRlimits(asked, host.rlimits, warnings, quiet);

  const process: OciSpec['process'] = {
    terminal: !!config.Tty,
    user: {
      uid: input.user.uid, gid: input.user.gid,
      additionalGids: input.user.additionalGids?.length ? [...input.user.additionalGids] : [input.user.gid],
    },
    args,
    env: [...input.env],
    cwd: input.cwd || '/',
    capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
    rlimits,
    oomScoreAdj: hc.OomScoreAdj ?? 0,
  };
  if (config.Tty && hc.ConsoleSize && hc.ConsoleSize.length === 2 && (hc.ConsoleSize[0]! > 0 || hc.ConsoleSize[1]! > 0)) {
    process.consoleSize = { height: hc.ConsoleSize[0]!, width: hc.ConsoleSize[1]! };
  }
  if (sec.noNewPrivileges) process.noNewPrivileges = true;

  // -- user mounts: volumes, --tmpfs, network files, sorted by depth as Docker does
  const userMounts: OciMount[] = [];
  const seen = new Set<string>();
  const addUser = (m: OciMount) => {
    const dest = path.posix.normalize(m.destination).replace(/(.)\/+$/, '$1');
    if (!dest.startsWith('/')) throw invalid(`invalid mount config: mount path must be absolute: ${m.destination}`);
    if (seen.has(dest)) throw invalid(`Duplicate mount point: ${dest}`);
    seen.add(dest);
    userMounts.push({ ...m, destination: dest, options: [...(m.options ?? [])] });
  };
  for (const m of input.mounts ?? []) addUser(m);
  for (const [dest, opts] of Object.entries(hc.Tmpfs ?? {})) {
    const data = opts ? opts.split(',') : [];
    addUser({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', 'rprivate', ...data]) });
  }
  const etcOpts = ['rbind', ...(hc.ReadonlyRootfs ? ['ro'] : []), 'rprivate'];
  const etc: [string | undefined, string][] = [
    [input.etcFiles?.resolvConf, '/etc/resolv.conf'], [input.etcFiles?.hostname, '/etc/hostname'], [input.etcFiles?.hosts, '/etc/hosts'],
  ];
  for (const [src, dest] of etc) {
    if (src && !seen.has(dest)) addUser({ destination: dest, type: 'bind', source: src, options: etcOpts });
  }
  userMounts.sort((a, b) => depth(a.destination) - depth(b.destination));

  const userDev = seen.has('/dev');
  mounts = mounts.filter((m) => {
    if (seen.has(m.destination)) return false;
    if (userDev && m.destination.startsWith('/dev/')) return false;
    if (m.destination === '/dev/shm' && ipcMode === 'none') return false;
    return true;
  });
  if (ipcMode === 'host' && !seen.has('/dev/shm')) {
    const i = mounts.findIndex((m) => m.destination === '/dev/shm');
    if (i >= 0) mounts[i] = { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] };
  }
  if (hc.ReadonlyRootfs) {
    for (const m of mounts) {
      if (['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev'].includes(m.destination)) continue;
      if (!m.options!.includes('ro')) m.options!.push('ro');
    }
  }
  const clearRo = (m: OciMount) => { m.options = m.options!.filter((o) => o !== 'ro'); };
  if (privileged) for (const m of mounts) if (m.destination === '/sys') clearRo(m);
  if (sec.writableCgroups ?? privileged) for (const m of mounts) if (m.type === 'cgroup') clearRo(m);
  mounts.push(...userMounts);

  // -- devices
  const lookupDevice = input.devices?.deviceAt ?? ((p: string) => deviceAt(p));
  const fromPath = input.devices?.fromPath ?? devicesFromPath;
  const linuxDevices: OciDevice[] = [];
  let deviceRules = defaultDeviceRules();
  if (privileged) {
    linuxDevices.push(...(input.devices?.hostDevices ?? listHostDevices)());
    for (const d of hc.Devices ?? []) {
      const inCtr = d.PathInContainer || d.PathOnHost;
      if (inCtr === d.PathOnHost) continue; // already there with the rest of /dev
      linuxDevices.push(...fromPath(d.PathOnHost, inCtr, 'rwm').devices);
    }
    deviceRules = [{ allow: true, access: 'rwm' }];
  } else {
    for (const d of hc.Devices ?? []) {
      const r = fromPath(d.PathOnHost, d.PathInContainer || d.PathOnHost, d.CgroupPermissions || 'rwm');
      linuxDevices.push(...r.devices);
      deviceRules.push(...r.rules);
    }
    deviceRules.push(...parseDeviceCgroupRules(hc.DeviceCgroupRules));
  }

  // -- resources
  const resources: OciSpec['linux']['resources'] = { devices: deviceRules };
  const memory = memoryResources(hc);
  if (memory) resources.memory = memory;
  const cpu = cpuResources(hc);
  if (cpu) resources.cpu = cpu;
  if (hc.PidsLimit != null) resources.pids = { limit: hc.PidsLimit <= 0 ? -1 : hc.PidsLimit };
  resources.blockIO = blockIO(hc, lookupDevice);

  // -- sysctls
  const sysctl: Record<string, string> = {};
  const privateNet = input.network.mode === 'new' || (input.network.mode === 'path' && !input.network.shared);
  if (privateNet) {
    if (host.netSysctls?.pingGroupRange ?? true) sysctl['net.ipv4.ping_group_range'] = '0 2147483647';
    if (host.netSysctls?.unprivilegedPortStart ?? true) sysctl['net.ipv4.ip_unprivileged_port_start'] = '0';
  }
  for (const [k, v] of Object.entries(hc.Sysctls ?? {})) {
    if (input.network.mode === 'host' && k.startsWith('net.')) throw invalid(`sysctl "${k}" not allowed in host network namespace`);
    if (utsMode === 'host' && (k === 'kernel.hostname' || k === 'kernel.domainname')) throw invalid(`sysctl "${k}" not allowed in host UTS namespace`);
    sysctl[k] = v;
  }

  // -- seccomp
  let seccomp: OciSeccomp | undefined;
  const target = { capabilities: caps, arch: host.arch ?? globalThis.process.arch, kernel: host.kernel ?? '', skipArches: host.deadArches ?? [] };
  const custom = sec.seccomp !== undefined && sec.seccomp !== 'unconfined' ? sec.seccomp : undefined;
  if (custom !== undefined) {
    if (host.seccomp === false) throw invalid('seccomp is not enabled in your kernel, cannot run a custom seccomp profile');
    let text = custom;
    if (!custom.trimStart().startsWith('{')) {
      try { text = (input.readFile ?? ((p: string) => fs.readFileSync(p, 'utf8')))(custom); } catch (e) {
        throw invalid(`opening seccomp profile (${custom}) failed: ${(e as Error).message}`);
      }
    }
    seccomp = loadSeccompProfile(text, target);
  } else if (sec.seccomp !== 'unconfined' && !privileged) {
    if (host.seccomp === false) warnings.push('seccomp is not enabled in your kernel, running container without default profile');
    else seccomp = defaultSeccomp(target);
  }

  // -- masked and read-only paths
  let maskedPaths: string[] | undefined = [...(host.maskedPaths ?? DEFAULT_MASKED_PATHS)];
  let readonlyPaths: string[] | undefined = [...DEFAULT_READONLY_PATHS];
  if (privileged || sec.systemPathsUnconfined) { maskedPaths = undefined; readonlyPaths = undefined; }
  if (hc.MaskedPaths != null) maskedPaths = [...hc.MaskedPaths];
  if (hc.ReadonlyPaths != null) readonlyPaths = [...hc.ReadonlyPaths];

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process,
    root: { path: input.rootfs, ...(hc.ReadonlyRootfs ? { readonly: true } : {}) },
    hostname: utsMode === 'host' ? '' : input.hostname,
    ...(config.Domainname && utsMode !== 'host' ? { domainname: config.Domainname } : {}),
    mounts,
    ...(hc.Annotations && Object.keys(hc.Annotations).length ? { annotations: { ...hc.Annotations } } : {}),
    linux: {
      ...(Object.keys(sysctl).length ? { sysctl } : {}),
      resources,
      cgroupsPath: input.cgroupsPath,
      namespaces,
      ...(seccomp ? { seccomp } : {}),
      ...(linuxDevices.length ? { devices: linuxDevices } : {}),
      ...(maskedPaths ? { maskedPaths } : {}),
      ...(readonlyPaths ? { readonlyPaths } : {}),
    },
  };
  return { spec, warnings, stopSignal: config.StopSignal || 'SIGTERM' };
}
