// What the container service needs from the other subsystems. The daemon wires the real
// image and network services in; the container service depends only on these narrow shapes.

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

export interface NetworkAttachment {
  /** Path of the network namespace to join; undefined: runc makes a new one (none) or none at all (host). */
  netnsPath?: string;
  mode: 'bridge' | 'none' | 'host';
  ipAddress?: string;
  settings: Record<string, unknown>;  // Docker's NetworkSettings fragment
}

export interface NetworkProvider {
  attach(containerId: string, o: { mode: 'bridge' | 'none' | 'host'; macAddress?: string }): Promise<NetworkAttachment>;
  detach(containerId: string): Promise<void>;
  /** Docker's `networks` object of the stats API for a running container. */
  stats?(containerId: string, pid: number): Record<string, unknown> | undefined;
  /** The container's /etc/resolv.conf and /etc/hosts, as Docker writes them. */
  resolvConf(o: { hostNetwork?: boolean; dns?: string[] | null; dnsSearch?: string[] | null; dnsOptions?: string[] | null }): string;
  hostsFile(hostname: string, ip?: string, o?: { extraHosts?: string[]; domainname?: string }): string;
}
