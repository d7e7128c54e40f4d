// The OCI runtime spec (config.json of a bundle), the parts barge writes. Field names and shapes follow
// opencontainers/runtime-spec config.md and config-linux.md. Numbers are JSON numbers; an rlimit of
// Infinity means RLIM_INFINITY: serialize with specToJson(), which writes it as 18446744073709551615.

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

export interface OciUser { uid: number; gid: number; umask?: number; additionalGids?: number[] }

export interface OciCapabilities {
  bounding?: string[]; effective?: string[]; inheritable?: string[]; permitted?: string[]; ambient?: string[];
}

export interface OciRlimit { type: string; soft: number; hard: number }

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface OciMount { destination: string; type?: string; source?: string; options?: string[] }

export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';
export interface OciNamespace { type: OciNamespaceType; path?: string }

export interface OciDevice {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceCgroup { allow: boolean; type?: 'a' | 'b' | 'c'; major?: number; minor?: number; access?: string }

export interface OciMemory {
  limit?: number; reservation?: number; swap?: number; kernel?: number; kernelTCP?: number;
  swappiness?: number; disableOOMKiller?: boolean; useHierarchy?: boolean;
}

export interface OciCpu {
  shares?: number; quota?: number; period?: number; realtimeRuntime?: number; realtimePeriod?: number;
  cpus?: string; mems?: string;
}

export interface OciWeightDevice { major: number; minor: number; weight?: number; leafWeight?: number }
export interface OciThrottleDevice { major: number; minor: number; rate: number }

export interface OciBlockIO {
  weight?: number; leafWeight?: number; weightDevice?: OciWeightDevice[];
  throttleReadBpsDevice?: OciThrottleDevice[]; throttleWriteBpsDevice?: OciThrottleDevice[];
  throttleReadIOPSDevice?: OciThrottleDevice[]; throttleWriteIOPSDevice?: OciThrottleDevice[];
}

export interface OciResources {
  devices?: OciDeviceCgroup[];
  memory?: OciMemory;
  cpu?: OciCpu;
  pids?: { limit: number };
  blockIO?: OciBlockIO;
  unified?: Record<string, string>;
}

export type OciSeccompAction =
  | 'SCMP_ACT_KILL' | 'SCMP_ACT_KILL_PROCESS' | 'SCMP_ACT_KILL_THREAD' | 'SCMP_ACT_TRAP' | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE' | 'SCMP_ACT_ALLOW' | 'SCMP_ACT_LOG' | 'SCMP_ACT_NOTIFY';

export interface OciSeccompArg { index: number; value: number; valueTwo?: number; op: string }

export interface OciSyscall { names: string[]; action: OciSeccompAction | string; errnoRet?: number; args?: OciSeccompArg[] }

export interface OciSeccomp {
  defaultAction: OciSeccompAction | string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscall[];
}

export interface OciLinux {
  namespaces: OciNamespace[];
  devices?: OciDevice[];
  cgroupsPath?: string;
  resources?: OciResources;
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  mountLabel?: string;
}

/** u64 max: what the kernel calls RLIM_INFINITY. */
export const RLIM_INFINITY = '18446744073709551615';

// JSON.stringify escapes the NULs, so this marker cannot collide with any real string in a spec.
const INF_MARK = '"\\u0000RLIM_INFINITY\\u0000"';

/**
 * Serialize a spec for config.json. JSON.stringify would write Infinity as null (and cannot write u64 max
 * as a double exactly), so unlimited rlimits are written here as the integer 18446744073709551615.
 */
export function specToJson(spec: OciSpec, indent?: number): string {
  const text = JSON.stringify(spec, (_k, v: unknown) => (v === Infinity ? '\u0000RLIM_INFINITY\u0000' : v), indent);
  return text.split(INF_MARK).join(RLIM_INFINITY);
}
