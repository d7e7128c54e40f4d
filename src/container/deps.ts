// What the container service needs from the other subsystems. The daemon wires the real
// image and network services in; the container service depends only on these narrow shapes.
import type { MountPoint } from '../volume/mounts.js';
import type { ExtraMount } from '../runtime/spec.js';

/** The parts of an image's OCI config a container is made from. */
export interface ImageConfigForContainer {
  User?: string; Env?: string[] | null; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string;
  ExposedPorts?: Record<string, object> | null; Volumes?: Record<string, object> | null; Labels?: Record<string, string> | null;
  StopSignal?: string; Healthcheck?: unknown; Shell?: string[] | null; OnBuild?: string[] | null;
}

export interface ImageRef { id: string; config: ImageConfigForContainer }

export interface ImageProvider {
  /** By name[:tag], digest, or (short) id; throws notFound "No such image: …". */
  resolveImage(ref: string): ImageRef;
  /** Create the container's writable layer over the image's layers. */
  prepareRootfs(containerId: string, imageId: string): Promise<void>;
  mountRootfs(containerId: string, target: string): Promise<void>;
  unmountRootfs(target: string): Promise<void>;
  removeRootfs(containerId: string): Promise<void>;
  /** Size of the container's writable layer in bytes. */
  rootfsSize?(containerId: string): Promise<number>;
}

/** Docker's EndpointSettings as asked for in NetworkingConfig.EndpointsConfig. */
export interface EndpointConfig {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null;
  Aliases?: string[] | null;
  MacAddress?: string;
}

export interface NetworkAttachment {
  /** Path of the network namespace to join; undefined: the host's (host network). */
  netnsPath?: string;
  hostNetwork: boolean;
  /** The address on the first network (for /etc/hosts). */
  ipAddress?: string;
  /** The DNS server of a user network to use as the only nameserver. */
  dnsServer?: string;
  settings: Record<string, unknown>;  // Docker's NetworkSettings
}

export interface AttachRequest {
  mode: string;
  joinNetns?: string;
  endpoints?: Record<string, EndpointConfig | null> | null;
  name?: string;
  macAddress?: string;
  ports?: { bindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null; exposed?: Record<string, object> | null; publishAll?: boolean };
  dns?: string[] | null;
}

export interface NetworkProvider {
  /** A network by name or id; throws notFound "network X not found". */
  resolveNetwork(ref: string): { id: string; name: string; driver: string };
  /** The same, or undefined when there is no such network. */
  resolveNetworkQuiet?(ref: string): { id: string; name: string; driver: string } | undefined;
  /** Check an endpoint's --ip / --mac-address against its network at create. */
  validateEndpoint(network: string, cfg: EndpointConfig | null | undefined): void;
  /** Check HostConfig.PortBindings at create (Docker's errors). */
  validatePortBindings(b: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null | undefined): void;
  attach(containerId: string, req: AttachRequest): Promise<NetworkAttachment>;
  detach(containerId: string): Promise<void>;
  connect(containerId: string, network: string, cfg: EndpointConfig | null): Promise<NetworkAttachment>;
  disconnect(containerId: string, network: string): Promise<NetworkAttachment>;
  attachmentOf(containerId: string): NetworkAttachment | undefined;
  rename(containerId: string, name: string): void;
  /** Docker's `networks` object of the stats API for a running container. */
  stats?(containerId: string, pid: number): Record<string, unknown> | undefined;
  /** The container's /etc/resolv.conf and /etc/hosts, as Docker writes them. */
  resolvConf(o: { hostNetwork?: boolean; dns?: string[] | null; dnsSearch?: string[] | null; dnsOptions?: string[] | null }): string;
  hostsFile(hostname: string, ip?: string, o?: { extraHosts?: string[]; domainname?: string }): string;
}

/** A container's mounts (volume/mounts.ts): resolved at create, set up at each start, released at stop. */
export interface VolumeProvider {
  /** Mount points of a new container from its request; creates the volumes it names. Throws Docker's errors. */
  register(i: {
    binds?: string[] | null; mounts?: unknown[] | null; volumesFrom?: string[] | null; volumes?: Record<string, object> | null;
    tmpfs?: Record<string, string> | null; volumeDriver?: string; mountsOf: (ref: string) => MountPoint[];
  }): MountPoint[];
  /** At a start: volumes activated, image content copied up, the runtime's mounts returned. */
  setup(containerId: string, mps: readonly MountPoint[], rootfs: string): Promise<ExtraMount[]>;
  /** At a stop (idempotent). */
  release(containerId: string, mps: readonly MountPoint[] | undefined): Promise<void>;
  /** At daemon start, for a container still running. */
  restore(containerId: string, mps: readonly MountPoint[] | undefined): void;
  /** rm -v / --rm: remove the container's anonymous volumes. */
  removeAnonymous(mps: readonly MountPoint[] | undefined): Promise<void>;
}
