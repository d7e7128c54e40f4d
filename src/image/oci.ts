// OCI image-spec documents (manifest.md, config.md, descriptor.md) and the Docker v2 equivalents,
// parsed defensively: every field barge relies on is checked, since manifests and configs come from
// registries and tarballs barge does not control.
import { createHash } from 'node:crypto';
import { invalid } from '../lib/errors.js';
import { assertDigest, isDigest } from '../content/digest.js';

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

const LAYER_TYPES = new Set<string>([
  MediaType.OciLayer, MediaType.OciLayerGzip, MediaType.OciLayerNondistributable,
  MediaType.OciLayerNondistributableGzip, MediaType.DockerLayer, MediaType.DockerLayerGzip,
]);

/** The most layers barge stacks (overlayfs allows 500 lowerdirs; Docker stops at 125 for builds). */
export const MAX_LAYERS = 500;
/** Manifests and configs larger than this are refused before being read into memory. */
export const MAX_JSON_BLOB = 8 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** config.md "config": the defaults a container starts with. */
export interface ContainerDefaults {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  OnBuild?: string[] | null;
  Shell?: string[];
  [k: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** config.md: the image configuration, whose digest is the image ID. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  variant?: string;
  config?: ContainerDefaults;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  /** Docker's extensions, kept when present. */
  comment?: string;
  docker_version?: string;
  [k: string]: unknown;
}

/** OCI chain IDs: chainID(L0) = diffID(L0), chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    assertDigest(d, 'diffID');
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : 'sha256:' + createHash('sha256').update(`${prev} ${d}`).digest('hex'));
  }
  return out;
}

/** The chain ID of the whole stack (null for an image without layers). */
export function chainId(diffIds: string[]): string | null {
  const ids = chainIds(diffIds);
  return ids[ids.length - 1] ?? null;
}

function parseJson(buf: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(buf.toString('utf8')); } catch (e) { throw invalid(`invalid ${what}: ${(e as Error).message}`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`invalid ${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

function parseDescriptor(v: unknown, what: string): Descriptor {
  if (typeof v !== 'object' || v === null) throw invalid(`invalid ${what}: not a descriptor`);
  const d = v as Record<string, unknown>;
  if (typeof d['mediaType'] !== 'string') throw invalid(`invalid ${what}: no mediaType`);
  if (!isDigest(d['digest'])) throw invalid(`invalid ${what}: bad digest ${JSON.stringify(d['digest'])}`);
  if (!Number.isSafeInteger(d['size']) || (d['size'] as number) < 0) throw invalid(`invalid ${what}: bad size`);
  const out: Descriptor = { mediaType: d['mediaType'], digest: d['digest'] as string, size: d['size'] as number };
  if (typeof d['annotations'] === 'object' && d['annotations'] !== null) out.annotations = d['annotations'] as Record<string, string>;
  return out;
}

/** Parses an OCI or Docker v2 image manifest (not an index: pick a platform first). */
export function parseManifest(buf: Buffer): Manifest {
  const m = parseJson(buf, 'image manifest');
  if (m['schemaVersion'] !== 2) throw invalid('invalid image manifest: schemaVersion must be 2');
  const mt = m['mediaType'];
  if (mt === MediaType.OciIndex || mt === MediaType.DockerManifestList) {
    throw invalid('expected an image manifest, got an image index');
  }
  if (mt !== undefined && mt !== MediaType.OciManifest && mt !== MediaType.DockerManifest) {
    throw invalid(`unsupported manifest media type ${JSON.stringify(mt)}`);
  }
  if (!Array.isArray(m['layers'])) throw invalid('invalid image manifest: no layers');
  if ((m['layers'] as unknown[]).length > MAX_LAYERS) throw invalid(`image has more than ${MAX_LAYERS} layers`);
  const out: Manifest = {
    schemaVersion: 2,
    config: parseDescriptor(m['config'], 'manifest config descriptor'),
    layers: (m['layers'] as unknown[]).map((l, i) => parseDescriptor(l, `manifest layer ${i}`)),
  };
  if (typeof mt === 'string') out.mediaType = mt;
  if (typeof m['annotations'] === 'object' && m['annotations'] !== null) out.annotations = m['annotations'] as Record<string, string>;
  for (const l of out.layers) checkLayerType(l.mediaType);
  return out;
}

export function checkLayerType(mediaType: string): void {
  if (LAYER_TYPES.has(mediaType)) return;
  if (mediaType === MediaType.OciLayerZstd) throw invalid('zstd-compressed layers are not supported');
  if (mediaType === MediaType.DockerForeignLayer) throw invalid('foreign (Windows) layers are not supported');
  throw invalid(`unsupported layer media type ${JSON.stringify(mediaType)}`);
}

function stringArray(v: unknown): boolean {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** Parses and checks an image config (config.md). */
export function parseConfig(buf: Buffer): ImageConfig {
  const c = parseJson(buf, 'image config');
  const rootfs = c['rootfs'] as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null || rootfs['type'] !== 'layers' || !stringArray(rootfs['diff_ids'])) {
    throw invalid('invalid image config: rootfs must be {"type":"layers","diff_ids":[...]}');
  }
  const diffIds = rootfs['diff_ids'] as string[];
  if (diffIds.length > MAX_LAYERS) throw invalid(`image has more than ${MAX_LAYERS} layers`);
  for (const d of diffIds) assertDigest(d, 'diffID');
  if (typeof c['architecture'] !== 'string' || typeof c['os'] !== 'string') {
    throw invalid('invalid image config: architecture and os are required');
  }
  if (c['config'] !== undefined && c['config'] !== null) {
    const d = c['config'] as Record<string, unknown>;
    if (typeof d !== 'object' || Array.isArray(d)) throw invalid('invalid image config: config must be an object');
    for (const k of ['Env', 'Entrypoint', 'Cmd', 'OnBuild', 'Shell']) {
      if (d[k] !== undefined && d[k] !== null && !stringArray(d[k])) throw invalid(`invalid image config: config.${k} must be an array of strings`);
    }
    for (const k of ['User', 'WorkingDir', 'StopSignal']) {
      if (d[k] !== undefined && typeof d[k] !== 'string') throw invalid(`invalid image config: config.${k} must be a string`);
    }
  }
  if (c['history'] !== undefined && !Array.isArray(c['history'])) throw invalid('invalid image config: history must be an array');
  if (c['created'] !== undefined && typeof c['created'] !== 'string') throw invalid('invalid image config: created must be a string');
  return c as unknown as ImageConfig;
}

/** The OCI platform strings of this host ("amd64", "arm64"...). */
export function hostPlatform(): { architecture: string; os: string; variant?: string } {
  const arch: Record<string, string> = {
    x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
    loong64: 'loong64', mips64el: 'mips64le',
  };
  const p: { architecture: string; os: string; variant?: string } = { architecture: arch[process.arch] ?? process.arch, os: 'linux' };
  if (process.arch === 'arm') p.variant = 'v7';
  return p;
}
