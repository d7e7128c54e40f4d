// Image archives: what `docker save` writes and `docker load` reads.
//
// barge writes the format Docker 25+ writes, which is two formats in one tar (moby image/tarexport):
//   blobs/sha256/<hex>   configs, OCI manifests, and uncompressed layer tars named by their diffID
//   manifest.json        docker-archive: [{"Config":"blobs/sha256/<id>","RepoTags":[...],"Layers":[...]}]
//   repositories         legacy: {"busybox":{"latest":"<top layer hex>"}}
//   index.json           OCI image layout (image-spec image-layout.md): one manifest descriptor per tag,
//   oci-layout           annotated io.containerd.image.name / org.opencontainers.image.ref.name
// so that Docker (old and new), skopeo's docker-archive: and oci-archive:, and containerd can read it.
//
// barge reads a docker-archive (manifest.json, as Docker 1.10+ and barge write it; layers may be plain
// or gzip, and Docker before 25 aliases shared layers with symlinks) or a bare OCI image layout
// (index.json, nested indexes resolved to this host's platform), the whole tar plain or gzip.
// Reading is hostile-input-safe: every file is streamed into the content store's verifying writer (a
// file named blobs/sha256/<hex> must hash to <hex>), names are cleaned and may not climb out of the
// archive, descriptor sizes must match, and nothing is recorded until every layer has unpacked and
// matched its diffID (ImageService.loadArchive).
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { invalid, isKind } from '../lib/errors.js';
import { newDigester, isDigest } from '../content/digest.js';
import type { ContentStore } from '../content/store.js';
import { forEachTarEntry } from '../snapshot/tarread.js';
import { TAR_END, tarHeader, tarPadding } from '../lib/tarwriter.js';
import { MAX_JSON_BLOB, MediaType, hostPlatform, parseConfig, type Descriptor } from './oci.js';
import { familiarName, familiarString, parseNormalizedNamed, referenceString, withDefaultTag } from './reference.js';
import type { ImageRecord } from './store.js';

const MAX_ENTRIES = 100_000;
const MAX_INDEX_DEPTH = 4;
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

// ---- save ----

/** One image to save: its record, the normalised tags to list with it, and its parent if also saved. */
export interface SaveItem {
  image: ImageRecord;
  tags: string[];
  parent?: string;
}

/** Where the uncompressed bytes of each layer come from. */
export interface LayerSource {
  /** Blob digest in the content store (plain tar or gzip). */
  blob: string;
  gzip: boolean;
  diffId: string;
  /** Length of the uncompressed tar. */
  size: number;
  /** A plain layer not in the content store: its bytes, rebuilt from its snapshot (tar-split). */
  open?: () => AsyncIterable<Buffer>;
}

function blobPath(digest: string): string {
  return `blobs/sha256/${digest.slice(7)}`;
}

function fileEntry(name: string, data: Buffer): Buffer[] {
  return [tarHeader({ name, type: 'file', mode: 0o644 }, data.length), data, tarPadding(data.length)];
}

/**
 * The archive of `items` (docker-archive + OCI layout), streamed. `layers(image)` gives each image's
 * layer sources, bottom first (uncompressed sizes known in advance: tar headers come first).
 */
export async function* writeImageArchive(items: SaveItem[], content: ContentStore, layers: (img: ImageRecord) => LayerSource[]): AsyncGenerator<Buffer> {
  const manifestJson: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const indexManifests: Descriptor[] = [];
  const blobs = new Map<string, { data?: Buffer; layer?: LayerSource }>();

  for (const it of items) {
    const img = it.image;
    const config = content.read(img.id);
    blobs.set(img.id, { data: config });
    const srcs = layers(img);
    for (const l of srcs) if (!blobs.has(l.diffId)) blobs.set(l.diffId, { layer: l });
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: img.id, size: config.length },
      layers: srcs.map((l) => ({ mediaType: MediaType.OciLayer, digest: l.diffId, size: l.size })),
    }));
    const mdesc: Descriptor = { mediaType: MediaType.OciManifest, digest: 'sha256:' + newDigester().update(manifest).digest('hex'), size: manifest.length };
    blobs.set(mdesc.digest, { data: manifest });
    const repoTags: string[] = [];
    for (const t of it.tags) {
      const ref = parseNormalizedNamed(t);
      const tag = ref.tag ?? 'latest';
      (repositories[familiarName(ref)] ??= {})[tag] = srcs.length ? srcs[srcs.length - 1]!.diffId.slice(7) : '';
      repoTags.push(familiarString(ref));
      indexManifests.push({ ...mdesc, annotations: { [ANNOTATION_IMAGE_NAME]: referenceString(ref), [ANNOTATION_REF_NAME]: tag } });
    }
    if (it.tags.length === 0) indexManifests.push(mdesc);
    manifestJson.push({
      Config: blobPath(img.id),
      RepoTags: repoTags.length ? repoTags : null,
      Layers: srcs.map((l) => blobPath(l.diffId)),
      ...(it.parent ? { Parent: it.parent } : {}),
    });
  }

  yield tarHeader({ name: 'blobs', type: 'dir', mode: 0o755 }, 0);
  yield tarHeader({ name: 'blobs/sha256', type: 'dir', mode: 0o755 }, 0);
  for (const [digest, b] of [...blobs.entries()].sort(([a], [c]) => (a < c ? -1 : 1))) {
    if (b.data) { yield* fileEntry(blobPath(digest), b.data); continue; }
    const l = b.layer!;
    yield tarHeader({ name: blobPath(digest), type: 'file', mode: 0o644 }, l.size);
    yield* layerBytes(content, l);
    yield tarPadding(l.size);
  }
  yield* fileEntry('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: indexManifests })));
  yield* fileEntry('manifest.json', Buffer.from(JSON.stringify(manifestJson) + '\n'));
  yield* fileEntry('oci-layout', Buffer.from('{"imageLayoutVersion": "1.0.0"}'));
  if (Object.keys(repositories).length) yield* fileEntry('repositories', Buffer.from(JSON.stringify(repositories) + '\n'));
  yield TAR_END;
}

/** The uncompressed bytes of a layer, checked against its diffID and size as they stream. */
async function* layerBytes(content: ContentStore, l: LayerSource): AsyncGenerator<Buffer> {
  const raw = l.open ? Readable.from(l.open()) : content.createReadStream(l.blob);
  const src: Readable = l.gzip ? raw.pipe(createGunzip()) : raw;
  if (l.gzip) raw.on('error', (e) => src.destroy(e));
  const h = newDigester();
  let n = 0;
  try {
    for await (const chunk of src) {
      const b = chunk as Buffer;
      n += b.length;
      if (n > l.size) throw invalid(`layer ${l.diffId} is longer than recorded (${l.size} bytes)`);
      h.update(b);
      yield b;
    }
  } finally {
    raw.destroy();
    src.destroy();
  }
  const got = 'sha256:' + h.digest('hex');
  if (n !== l.size || got !== l.diffId) throw invalid(`layer blob ${l.blob} does not match diffID ${l.diffId} (got ${got}, ${n} bytes)`);
}

/** Length of a gzip blob's uncompressed content (for layers unpacked before sizes were recorded). */
export async function gunzippedSize(content: ContentStore, blob: string): Promise<number> {
  let n = 0;
  const raw = content.createReadStream(blob);
  const gz = raw.pipe(createGunzip());
  raw.on('error', (e) => gz.destroy(e));
  for await (const chunk of gz) n += (chunk as Buffer).length;
  return n;
}

/** sha256 of a gzip blob's uncompressed content (its diffID). */
export async function gunzippedDigest(content: ContentStore, blob: string): Promise<string> {
  const h = newDigester();
  const raw = content.createReadStream(blob);
  const gz = raw.pipe(createGunzip());
  raw.on('error', (e) => gz.destroy(e));
  try {
    for await (const chunk of gz) h.update(chunk as Buffer);
  } catch (e) {
    throw invalid(`invalid layer ${blob}: ${(e as Error).message}`);
  }
  return 'sha256:' + h.digest('hex');
}

// ---- load ----

/** An image found in an archive, ready for ImageService to unpack and record. */
export interface LoadPlan {
  config: string;
  layers: Descriptor[];
  manifest?: Descriptor;
  /** Normalised tag references. */
  tags: string[];
  /** Parent image ID (docker-archive "Parent"). */
  parent?: string;
}

export interface ReadArchiveResult {
  plans: LoadPlan[];
  /** Every blob the archive put in the content store (the caller releases those no image keeps). */
  blobs: string[];
}

interface FileInfo { digest: string; size: number }

function cleanName(name: string): string {
  if (name.includes('\0')) throw invalid('invalid archive: NUL byte in a file name');
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw invalid(`invalid archive: ${JSON.stringify(name)} points outside the archive`);
      out.pop();
    } else out.push(c);
  }
  return out.join('/');
}

function dirOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** Unpacks a file of the archive that looks like a plain layer tar; returns its digest and length. */
export type LayerStager = (body: AsyncIterable<Buffer>) => Promise<FileInfo>;

/** Files smaller than this are stored as blobs even if they look like a layer: not worth a snapshot. */
const STAGE_MIN = 64 * 1024;

/** A valid tar header block (checksum right, ustar or GNU magic): the file is a plain layer tar. */
function looksLikeTar(b: Buffer): boolean {
  if (b.length < 512) return false;
  const magic = b.subarray(257, 263).toString('latin1');
  if (magic !== 'ustar\0' && magic !== 'ustar ') return false;
  let sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += b[i]!;
  const field = b.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  return field !== '' && parseInt(field, 8) === sum;
}

/** The first `n` bytes of `body` (fewer if it is shorter), and the whole of it again as an iterable. */
async function peek(body: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const it = body[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    parts.push(r.value);
    len += r.value.length;
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield* parts;
    while (!done) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { head: Buffer.concat(parts), all: all() };
}

/**
 * Streams an image archive (plain or gzip tar) into the content store and works out the images in it.
 * `onBlob` is told of each blob as soon as it is stored (the caller leases it, and on failure drops
 * those no image uses). With `stageLayer`, files that are plain layer tars are handed to it instead
 * (unpacked as they stream: read once, written once, and not stored as blobs). Throws `invalid` for
 * anything malformed.
 */
export async function readImageArchive(source: AsyncIterable<Uint8Array>, content: ContentStore, onBlob: (digest: string) => void, stageLayer?: LayerStager): Promise<ReadArchiveResult> {
  const files = new Map<string, FileInfo>();
  const aliases = new Map<string, string>();
  const blobs: string[] = [];
  let entries = 0;
  await forEachTarEntry(source, async (h, body) => {
    if (++entries > MAX_ENTRIES) throw invalid(`invalid archive: more than ${MAX_ENTRIES} entries`);
    const name = cleanName(h.name);
    const type = h.type ?? 'file';
    if (type === 'directory' || type === 'pax-global-header' || name === '') return;
    if (type === 'symlink' || type === 'link') {
      const target = h.linkname ?? '';
      const resolved = type === 'link' || target.startsWith('/') ? cleanName(target) : cleanName(`${dirOf(name)}/${target}`);
      aliases.set(name, resolved);
      return;
    }
    if (type !== 'file' && type !== 'contiguous-file') throw invalid(`invalid archive: unsupported entry type ${type} for ${name}`);
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
    const expected = m ? `sha256:${m[1]}` : undefined;
    if (stageLayer && (h.size ?? 0) >= STAGE_MIN) {
      const p = await peek(body, 512);
      if (looksLikeTar(p.head)) {
        let info: FileInfo;
        try {
          info = await stageLayer(p.all);
        } catch (e) {
          // Unpacked as it streamed: a corrupted blob shows as a bad tar before its digest can be checked.
          throw isKind(e, 'invalid') ? invalid(`invalid archive: layer ${name}: ${(e as Error).message}`) : e;
        }
        if (expected && info.digest !== expected) throw invalid(`invalid archive: ${name} does not match its digest (got ${info.digest})`);
        if (info.size !== h.size) throw invalid(`invalid archive: ${name} is not ${h.size} bytes long`);
        files.set(name, info);
        return;
      }
      body = p.all;
    }
    const w = content.writer(expected ? { digest: expected, size: h.size } : { size: h.size });
    let info;
    try {
      for await (const chunk of body) w.write(chunk);
      info = w.commit();
    } catch (e) {
      w.abort();
      const msg = (e as Error).message;
      if (/digest mismatch/.test(msg)) throw invalid(`invalid archive: ${name} does not match its digest (${msg.replace(/^content /, '')})`);
      throw e;
    }
    onBlob(info.digest);
    blobs.push(info.digest);
    files.set(name, info);
  }, 'archive');

  const file = (p: string, what: string): FileInfo => {
    let name = cleanName(p);
    for (let hops = 0; aliases.has(name) && hops < 40; hops++) name = aliases.get(name)!;
    const f = files.get(name);
    if (!f) throw invalid(`invalid archive: ${what} ${JSON.stringify(p)} is not in the archive`);
    return f;
  };
  const readJson = (f: FileInfo, what: string): unknown => {
    if (f.size > MAX_JSON_BLOB) throw invalid(`invalid archive: ${what} is too large (${f.size} bytes)`);
    try { return JSON.parse(content.read(f.digest).toString('utf8')); } catch (e) {
      throw invalid(`invalid archive: ${what} is not valid JSON: ${(e as Error).message}`);
    }
  };

  let plans: LoadPlan[];
  if (files.has('manifest.json')) plans = dockerPlans(readJson(files.get('manifest.json')!, 'manifest.json'), file, content);
  else if (files.has('index.json')) plans = ociPlans(readJson(files.get('index.json')!, 'index.json'), files, readJson);
  else throw invalid('invalid archive: does not contain a manifest.json or an OCI index.json');
  return { plans, blobs };
}

async function sniffGzip(content: ContentStore, digest: string): Promise<boolean> {
  const s = content.createReadStream(digest);
  try {
    for await (const chunk of s) { const b = chunk as Buffer; return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b; }
    return false;
  } finally {
    s.destroy();
  }
}

function dockerPlans(manifest: unknown, file: (p: string, what: string) => FileInfo, content: ContentStore): LoadPlan[] {
  if (manifest === null) throw invalid('invalid manifest, manifest cannot be null (but can be [])');
  if (!Array.isArray(manifest)) throw invalid('invalid archive: manifest.json is not a list');
  return manifest.map((raw: unknown, i) => {
    const m = raw as { Config?: unknown; RepoTags?: unknown; Layers?: unknown; Parent?: unknown };
    if (typeof m !== 'object' || m === null || typeof m.Config !== 'string') throw invalid(`invalid archive: manifest.json entry ${i} has no Config`);
    const cfg = file(m.Config, 'config');
    if (cfg.size > MAX_JSON_BLOB) throw invalid(`invalid archive: config ${m.Config} is too large`);
    const config = parseConfig(content.read(cfg.digest));
    if (config.os !== 'linux') throw invalid(`cannot load ${config.os} image on linux`);
    const layerPaths = m.Layers ?? [];
    if (!Array.isArray(layerPaths) || !layerPaths.every((l) => typeof l === 'string')) throw invalid(`invalid archive: manifest.json entry ${i}: Layers must be a list of paths`);
    if (layerPaths.length !== config.rootfs.diff_ids.length) {
      throw invalid(`invalid manifest, layers length mismatch: expected ${layerPaths.length}, got ${config.rootfs.diff_ids.length}`);
    }
    const layers = (layerPaths as string[]).map((p) => {
      const f = file(p, 'layer');
      return { mediaType: MediaType.OciLayer, digest: f.digest, size: f.size };
    });
    const tags = (m.RepoTags === null || m.RepoTags === undefined ? [] : m.RepoTags) as unknown;
    if (!Array.isArray(tags)) throw invalid(`invalid archive: manifest.json entry ${i}: RepoTags must be a list`);
    const plan: LoadPlan = {
      config: cfg.digest,
      layers,
      tags: tags.map((t) => {
        if (typeof t !== 'string') throw invalid(`invalid tag ${JSON.stringify(t)}`);
        const ref = parseNormalizedNamed(t);
        if (ref.digest !== undefined || ref.tag === undefined) throw invalid(`invalid tag "${t}"`);
        return referenceString(ref);
      }),
    };
    if (isDigest(m.Parent)) plan.parent = m.Parent;
    return plan;
  });
}

/** Marks layers that are gzip-compressed with the matching media type (docker-archive layers carry none). */
export async function markCompressedLayers(plans: LoadPlan[], content: ContentStore): Promise<void> {
  for (const p of plans) {
    if (p.manifest) continue;
    for (const l of p.layers) if (content.has(l.digest) && await sniffGzip(content, l.digest)) l.mediaType = MediaType.OciLayerGzip;
  }
}

function ociPlans(index: unknown, files: Map<string, FileInfo>, readJson: (f: FileInfo, what: string) => unknown): LoadPlan[] {
  const blob = (d: Descriptor, what: string): FileInfo => {
    const f = files.get(blobPath(d.digest));
    if (!f) throw invalid(`invalid archive: ${what} ${d.digest} is not in the archive`);
    if (f.size !== d.size) throw invalid(`invalid archive: size mismatch for ${what} ${d.digest}: the descriptor says ${d.size} bytes, the blob has ${f.size}`);
    return f;
  };
  const desc = (v: unknown, what: string): Descriptor => {
    const d = v as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || typeof d['mediaType'] !== 'string' || !isDigest(d['digest']) || !Number.isSafeInteger(d['size']) || (d['size'] as number) < 0) {
      throw invalid(`invalid archive: bad ${what} descriptor`);
    }
    const out: Descriptor = { mediaType: d['mediaType'], digest: d['digest'] as string, size: d['size'] as number };
    if (typeof d['annotations'] === 'object' && d['annotations'] !== null) out.annotations = d['annotations'] as Record<string, string>;
    return out;
  };
  const platform = hostPlatform();
  const plans = new Map<string, LoadPlan>();
  const visit = (d: Descriptor, name: string | undefined, depth: number): void => {
    if (depth > MAX_INDEX_DEPTH) throw invalid('invalid archive: image indexes nest too deeply');
    const ann = d.annotations ?? {};
    const n = ann[ANNOTATION_IMAGE_NAME] ?? (/[:/]/.test(ann[ANNOTATION_REF_NAME] ?? '') ? ann[ANNOTATION_REF_NAME] : undefined) ?? name;
    if (d.mediaType === MediaType.OciIndex || d.mediaType === MediaType.DockerManifestList) {
      const idx = readJson(blob(d, 'index'), `index ${d.digest}`) as { manifests?: unknown };
      if (!Array.isArray(idx.manifests)) throw invalid(`invalid archive: index ${d.digest} has no manifests`);
      const children = idx.manifests.map((m, i) => ({ d: desc(m, `index ${d.digest} manifest ${i}`), p: (m as { platform?: { os?: string; architecture?: string } }).platform }));
      const mine = children.filter((c) => c.d.mediaType !== MediaType.OciManifest && c.d.mediaType !== MediaType.DockerManifest
        || !c.p || (c.p.os === platform.os && c.p.architecture === platform.architecture));
      if (!mine.some((c) => c.d.mediaType === MediaType.OciManifest || c.d.mediaType === MediaType.DockerManifest || c.d.mediaType === MediaType.OciIndex)) {
        throw invalid(`invalid archive: index ${d.digest} has no image for ${platform.os}/${platform.architecture}`);
      }
      for (const c of mine) visit(c.d, n, depth + 1);
      return;
    }
    if (d.mediaType !== MediaType.OciManifest && d.mediaType !== MediaType.DockerManifest) return; // attestations, artifacts
    const mf = blob(d, 'manifest');
    const m = readJson(mf, `manifest ${d.digest}`) as { config?: unknown; layers?: unknown };
    const config = desc(m.config, `manifest ${d.digest} config`);
    const cf = blob(config, 'config');
    if (!Array.isArray(m.layers)) throw invalid(`invalid archive: manifest ${d.digest} has no layers`);
    const layers = m.layers.map((l, i) => desc(l, `manifest ${d.digest} layer ${i}`));
    for (const l of layers) blob(l, 'layer');
    const plan = plans.get(cf.digest) ?? { config: cf.digest, layers, manifest: { mediaType: d.mediaType, digest: d.digest, size: d.size }, tags: [] };
    if (n !== undefined) {
      const ref = withDefaultTag(parseNormalizedNamed(n));
      if (ref.digest === undefined) {
        const s = referenceString(ref);
        if (!plan.tags.includes(s)) plan.tags.push(s);
      }
    }
    plans.set(cf.digest, plan);
  };
  const idx = index as { manifests?: unknown };
  if (typeof idx !== 'object' || idx === null || !Array.isArray(idx.manifests)) throw invalid('invalid archive: index.json has no manifests');
  idx.manifests.forEach((m, i) => visit(desc(m, `index.json manifest ${i}`), undefined, 0));
  if (plans.size === 0) throw invalid('invalid archive: index.json lists no image manifests');
  return [...plans.values()];
}
