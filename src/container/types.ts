// Docker Engine API shapes for containers (the subset barge reads and writes). Field names are
// Docker's, so records can be returned by the API as they are.
import type { MountPoint } from '../volume/mounts.js';

export interface HealthConfig {
  Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number;
}

export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean | null;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  Shell?: string[] | null;
}

export interface RestartPolicy { Name?: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure'; MaximumRetryCount?: number }
export interface Ulimit { Name: string; Soft: number; Hard: number }
export interface MountSpec {
  Type?: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'cluster'; Source?: string; Target?: string; ReadOnly?: boolean; Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> }; Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] };
}
export interface PortBinding { HostIp?: string; HostPort?: string }

export interface HostConfig {
  // Resources
  CpuShares?: number; Memory?: number; CgroupParent?: string; BlkioWeight?: number;
  CpuPeriod?: number; CpuQuota?: number; CpuRealtimePeriod?: number; CpuRealtimeRuntime?: number;
  CpusetCpus?: string; CpusetMems?: string; Devices?: unknown[] | null; DeviceCgroupRules?: string[] | null;
  MemoryReservation?: number; MemorySwap?: number; MemorySwappiness?: number | null; NanoCpus?: number;
  OomKillDisable?: boolean | null; Init?: boolean | null; PidsLimit?: number | null; Ulimits?: Ulimit[] | null;
  // Host config proper
  Binds?: string[] | null; ContainerIDFile?: string; LogConfig?: { Type?: string; Config?: Record<string, string> };
  NetworkMode?: string; PortBindings?: Record<string, PortBinding[] | null> | null; RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean; VolumeDriver?: string; VolumesFrom?: string[] | null; Mounts?: MountSpec[] | null;
  ConsoleSize?: [number, number] | null; Annotations?: Record<string, string> | null;
  CapAdd?: string[] | null; CapDrop?: string[] | null; CgroupnsMode?: string; Dns?: string[] | null;
  DnsOptions?: string[] | null; DnsSearch?: string[] | null; ExtraHosts?: string[] | null; GroupAdd?: string[] | null;
  IpcMode?: string; Cgroup?: string; Links?: string[] | null; OomScoreAdj?: number; PidMode?: string;
  Privileged?: boolean; PublishAllPorts?: boolean; ReadonlyRootfs?: boolean; SecurityOpt?: string[] | null;
  StorageOpt?: Record<string, string> | null; Tmpfs?: Record<string, string> | null; UTSMode?: string;
  UsernsMode?: string; ShmSize?: number; Sysctls?: Record<string, string> | null; Runtime?: string;
  Isolation?: string; MaskedPaths?: string[] | null; ReadonlyPaths?: string[] | null;
  [k: string]: unknown;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface HealthState {
  Status: 'none' | 'starting' | 'healthy' | 'unhealthy';
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: HealthState;
}

export interface EndpointSettings {
  IPAMConfig?: unknown; Links?: string[] | null; Aliases?: string[] | null; MacAddress?: string;
  NetworkID?: string; EndpointID?: string; Gateway?: string; IPAddress?: string; IPPrefixLen?: number;
  IPv6Gateway?: string; GlobalIPv6Address?: string; GlobalIPv6PrefixLen?: number; DriverOpts?: unknown; DNSNames?: string[] | null;
}

/** What barge stores about a container (<data-root>/containers/<id>/config.json). */
export interface ContainerRecord {
  Id: string;
  Name: string;               // with the leading "/" as Docker keeps it
  Created: string;
  Path: string;
  Args: string[];
  Config: ContainerConfig;
  HostConfig: HostConfig;
  Image: string;              // image id (sha256:…)
  State: ContainerState;
  RestartCount: number;
  LogPath: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  ExecIDs: string[] | null;
  NetworkSettings: {
    Bridge?: string; SandboxID?: string; SandboxKey?: string; Ports?: Record<string, PortBinding[] | null>;
    Networks: Record<string, EndpointSettings>; [k: string]: unknown;
  };
  Mounts: unknown[];
  /** barge's own bookkeeping, not part of Docker's inspect output. */
  barge: {
    manuallyStopped: boolean;   // for restart policies unless-stopped/always at daemon start
    hasBeenStarted: boolean;
    networkingConfig?: unknown;
    /** The networks the container is connected to, in order (the first is HostConfig.NetworkMode
     * unless disconnected); their settings are networkingConfig.EndpointsConfig[name]. */
    networks?: string[];
    /** Mount points (volumes, binds, tmpfs) resolved at create; `Mounts` is their public view. */
    mounts?: MountPoint[];
  };
}
