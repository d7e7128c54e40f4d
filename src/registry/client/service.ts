// The daemon's registry client: docker pull, push and login over the distribution API.
//
// Model
//  - `RegistryService` turns references into registry traffic and images: it holds the
//    insecure-registries setting and the record of where blobs were seen (blobsources.ts), and opens
//    a `Registry` (client.ts) per operation with that operation's credentials.
//  - A *pull* resolves a tag (or digest) to a manifest, through an index when there is one (the host's
//    platform is picked), checks every digest it is given against the bytes it gets, downloads the
//    layers the image store lacks (3 at a time, as Docker), then hands the manifest to
//    ImageService.createImage, which unpacks each new layer once and checks its diffID. Blobs are
//    written through the content store's verifying writer and held with ImageService.withBlobs: a pull
//    that fails leaves nothing behind.
//  - A *push* sends what the registry lacks: per layer, HEAD first, then a cross-repository mount
//    when the blob was seen in another repository of that registry, else an upload; then the config
//    and the manifest, whose digest it prints and records as a RepoDigest.
// Progress goes out as Docker's JSON messages (progress.ts) through an `Emit` callback.
import type { StagedLayer } from '../../snapshot/snapshotter.js';
import * as path from 'node:path';
import { BargeError, invalid, isKind, messageOf, notFound } from '../../lib/errors.js';
import { log } from '../../lib/log.js';
import { sha256Digest, isDigest } from '../../content/digest.js';
import type { ImageService } from '../../image/service.js';
import { MAX_JSON_BLOB, MediaType, chainIds, hostPlatform, parseConfig, parseManifest, type Descriptor, type Manifest } from '../../image/oci.js';
import {
  familiarName, familiarString, fullName, isValidTag, parseNormalizedNamed, referenceString, withDefaultTag, type Reference,
} from '../../image/reference.js';
import { type AuthConfig } from './auth.js';
import { LentBody, Registry, RegistryError, Repository } from './client.js';
import type { Lent } from '../../lib/lentread.js';
import type { RawResponse } from './rawget.js';
import { InsecureRegistries, registryHost, DOCKER_HUB_DOMAIN } from './endpoint.js';
import { BlobSources } from './blobsources.js';
import { layerProgress, layerStatus, throttle, type Emit } from './progress.js';

export interface RegistryServiceOptions {
  images: ImageService;
  dataRoot: string;
  insecureRegistries?: string[];
  /** Layers downloaded at a time by one pull (--max-concurrent-downloads; defaults in daemon/config.ts). */
  maxConcurrentDownloads: number;
  /** Layers uploaded at a time by one push (--max-concurrent-uploads). */
  maxConcurrentUploads: number;
  /** Tries of each layer download before a pull fails (--max-download-attempts). */
  maxDownloadAttempts: number;
}

export interface PullOptions {
  auth?: AuthConfig;
  /** "linux/amd64"-style platform; only the host's is accepted. */
  platform?: string;
  allTags?: boolean;
}

interface Platform { os: string; architecture: string; variant?: string }

const UPLOAD_ATTEMPTS = 3;
/** Layers recorded (or unpacked from a blob already here) one at a time, in order: each after its parent. */
const UNPACK_CONCURRENCY = 1;
const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);
/** Docker's layer types as an OCI manifest names them. */
const OCI_LAYER_TYPE: Record<string, string> = { [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip, [MediaType.DockerLayer]: MediaType.OciLayer };

export class RegistryService {
  readonly insecure: InsecureRegistries;
  private readonly images: ImageService;
  private readonly sources: BlobSources;
  private readonly downloads: number;
  private readonly uploads: number;
  private readonly downloadAttempts: number;

  constructor(o: RegistryServiceOptions) {
    this.images = o.images;
    this.downloads = o.maxConcurrentDownloads;
    this.uploads = o.maxConcurrentUploads;
    this.downloadAttempts = o.maxDownloadAttempts;
    this.insecure = new InsecureRegistries(o.insecureRegistries ?? []);
    this.sources = new BlobSources(path.join(o.dataRoot, 'image'));
  }

  private open(domain: string, auth?: AuthConfig): Registry {
    const host = registryHost(domain);
    return new Registry(host, { insecure: this.insecure.isInsecure(host), ...(auth ? { auth } : {}) });
  }

  // ---- login ----

  /** POST /auth: checks the credentials against the registry. */
  async login(auth: AuthConfig): Promise<{ Status: string; IdentityToken: string }> {
    if (!auth.username && !auth.identitytoken) throw invalid('username is required to log in');
    const domain = domainOfServer(auth.serveraddress ?? '');
    const reg = this.open(domain, auth);
    try {
      const r = await reg.login();
      return { Status: 'Login Succeeded', IdentityToken: r.identityToken ?? '' };
    } finally {
      reg.close();
    }
  }

  // ---- pull ----

  /**
   * docker pull: `name` is a reference ("host:5000/team/box:1", "...@sha256:..."); a name alone means
   * :latest, or every tag with `allTags`. Emits Docker's progress messages; throws before the first
   * message for errors that deserve their own HTTP status (no such repository, manifest unknown).
   */
  async pull(name: string, o: PullOptions, emit: Emit): Promise<void> {
    let ref = parseNormalizedNamed(name);
    const platform = checkPlatform(o.platform);
    const reg = this.open(ref.domain, o.auth);
    try {
      if (o.allTags) {
        if (ref.tag !== undefined || ref.digest !== undefined) throw invalid('tag can\'t be used with --all-tags/-a');
        const repo = reg.repository(ref.path, ['pull']);
        let tags: string[];
        try { tags = await repo.tags(); } catch (e) { throw pullError(e, ref); }
        if (tags.length === 0) throw notFound(`no tags found for ${familiarName(ref)}`);
        let newer = false;
        for (const t of tags.sort()) newer = (await this.pullOne(reg, { ...ref, tag: t }, platform, emit, !!o.platform)) || newer;
        emit({ status: `${newer ? 'Status: Downloaded newer image for' : 'Status: Image is up to date for'} ${familiarName(ref)}` });
        return;
      }
      ref = withDefaultTag(ref);
      const newer = await this.pullOne(reg, ref, platform, emit, !!o.platform);
      emit({ status: `${newer ? 'Status: Downloaded newer image for' : 'Status: Image is up to date for'} ${familiarString(ref)}` });
    } finally {
      this.sources.save();
      reg.close();
    }
  }

  /** Pulls one tag or digest; returns whether the reference now names a different image than before. */
  private async pullOne(reg: Registry, ref: Reference, platform: Platform, emit: Emit, explicitPlatform: boolean): Promise<boolean> {
    const repo = reg.repository(ref.path, ['pull']);
    const tagOrDigest = ref.digest ?? ref.tag!;
    let top: { body: Buffer; mediaType: string; digest?: string };
    try { top = await repo.getManifest(tagOrDigest); } catch (e) { throw pullError(e, ref); }
    const topDigest = verifyBytes(top.body, ref.digest ?? top.digest, 'manifest');
    let manifestBuf = top.body;
    let manifestDigest = topDigest;
    const topJson = jsonOf(top.body, 'manifest');
    const topType = typeof topJson['mediaType'] === 'string' ? topJson['mediaType'] : top.mediaType;
    if (INDEX_TYPES.has(topType) || (Array.isArray(topJson['manifests']) && !topJson['layers'])) {
      const desc = pickPlatform(topJson, platform);
      let m: { body: Buffer };
      try { m = await repo.getManifest(desc.digest); } catch (e) { throw pullError(e, ref); }
      if (m.body.length !== desc.size) throw invalid(`manifest ${desc.digest}: size mismatch: the index says ${desc.size} bytes, the registry sent ${m.body.length}`);
      manifestDigest = verifyBytes(m.body, desc.digest, 'manifest');
      manifestBuf = m.body;
    }
    const manifest: Manifest = parseManifest(manifestBuf);
    emit({ status: `Pulling from ${ref.path}`, id: tagOrDigest });

    const images = this.images;
    const host = reg.host;
    let before: string | undefined;
    try { before = images.resolve(familiarString(ref)).id; } catch { before = undefined; }

    await images.withBlobs(async (keep) => {
      // The config first: it says which layers (diffIDs) the image is made of.
      const cfgDesc = manifest.config;
      if (cfgDesc.size > MAX_JSON_BLOB) throw invalid(`image config ${cfgDesc.digest} is too large (${cfgDesc.size} bytes)`);
      keep(cfgDesc.digest);
      if (!images.content.has(cfgDesc.digest)) {
        const { stream } = await repo.getBlob(cfgDesc.digest);
        try {
          await images.content.ingest(stream, { digest: cfgDesc.digest, size: cfgDesc.size });
        } catch (e) {
          stream.destroy();
          throw isKind(e, 'invalid') ? invalid(`image config verification failed for digest ${cfgDesc.digest}: ${messageOf(e)}`) : e;
        }
      }
      const config = parseConfig(images.content.read(cfgDesc.digest));
      if (config.os !== 'linux') throw invalid(`image operating system "${config.os}" cannot be used on this platform`);
      if (explicitPlatform && (config.architecture !== platform.architecture || (platform.variant && config.variant !== platform.variant))) {
        throw invalid(`image with reference ${familiarString(ref)} was found but does not match the specified platform: wanted ${fmtPlatform(platform)}, actual: ${fmtPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })}`);
      }
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw invalid(`image config lists ${diffIds.length} layers but the manifest has ${manifest.layers.length}`);
      }
      const chain = chainIds(diffIds);
      // Known: the image exists and has these very blobs (a loaded image may hold other encodings).
      const known = images.get(cfgDesc.digest) !== undefined && manifest.layers.every((l, i) => images.hasLayer(chain[i]!, l.digest));

      // Which layers to fetch: not when the image is known, nor when the layer is unpacked already.
      const todo: Descriptor[] = [];
      const seen = new Set<string>();
      for (let i = 0; i < manifest.layers.length; i++) {
        const l = manifest.layers[i]!;
        keep(l.digest);
        if (known) continue;
        if (images.hasLayer(chain[i]!, l.digest)) { emit(layerStatus(shortHex(l.digest), 'Already exists')); continue; }
        if (seen.has(l.digest)) continue;
        seen.add(l.digest);
        if (images.content.has(l.digest)) { emit(layerStatus(shortHex(l.digest), 'Download complete')); continue; }
        todo.push(l);
      }
      for (const l of todo) emit(layerStatus(shortHex(l.digest), 'Pulling fs layer'));
      for (const l of todo.slice(this.downloads)) emit(layerStatus(shortHex(l.digest), 'Waiting'));

      // Downloaded layers are unpacked as they stream in (staged), then recorded in order, each after
      // its parent. A layer not downloaded now (its blob was here) is unpacked from the content store;
      // one repeated in the image, from the files of its first copy.
      const fetched = new Set(todo.map((l) => l.digest));
      const staged = new Map<string, StagedLayer>();
      const downloaded = new Set<string>();
      let next = 0;
      let running = 0;
      const unpacks: Promise<void>[] = [];
      let unpackFailure: { e: unknown } | undefined;
      const advance = () => {
        while (next < manifest.layers.length && running < UNPACK_CONCURRENCY && !unpackFailure) {
          const i = next;
          const l = manifest.layers[i]!;
          if (known || !(downloaded.has(l.digest) || images.content.has(l.digest) || images.hasLayer(chain[i]!, l.digest))) return;
          next++;
          keep(chain[i]!, 'layer');
          const id = shortHex(l.digest);
          const fresh = !images.hasLayer(chain[i]!, l.digest);
          if (!fresh) { if (fetched.has(l.digest)) emit(layerStatus(id, 'Pull complete')); continue; }
          running++;
          emit(layerProgress(id, 'Extracting', l.size, l.size));
          const st = staged.get(l.digest);
          staged.delete(l.digest);
          unpacks.push((st ? images.commitPulledLayer(diffIds, i, st, l.digest) : images.unpackLayer(diffIds, i, l, { justVerified: fetched.has(l.digest) })).then(
            () => { emit(layerStatus(id, 'Pull complete')); },
            (e: unknown) => { unpackFailure ??= { e }; },
          ).finally(() => { running--; advance(); }));
        }
      };
      const settle = async () => { for (let k = 0; k < unpacks.length; k++) await unpacks[k]; };
      advance();
      try {
        await pool(todo, this.downloads, (l, stop) => this.download(repo, l, emit, () => stop() || unpackFailure !== undefined).then((s) => { staged.set(l.digest, s); downloaded.add(l.digest); advance(); }));
      } catch (e) {
        unpackFailure ??= { e };
        await settle();
        for (const s of staged.values()) await images.discardStaged(s);
        throw e;
      }
      advance();
      await settle();
      for (const s of staged.values()) await images.discardStaged(s);
      if (unpackFailure) throw unpackFailure.e;
      for (const l of manifest.layers) this.sources.add(l.digest, host, ref.path);

      keep(manifestDigest);
      images.content.put(manifestBuf, { digest: manifestDigest });
      await images.createImage({ manifest: manifestDigest }, {
        tags: ref.digest === undefined ? [referenceString(ref)] : [],
        repoDigests: [fullName(ref)],
        repoDigest: topDigest,
        onUnpack: (i, phase) => {
          const l = manifest.layers[i]!;
          emit(phase === 'start' ? layerProgress(shortHex(l.digest), 'Extracting', l.size, l.size) : layerStatus(shortHex(l.digest), 'Pull complete'));
        },
      });
    });
    emit({ status: `Digest: ${topDigest}` });
    const after = images.resolve(familiarString(ref)).id;
    return before !== after;
  }

  /**
   * Downloads one layer blob and unpacks it as it streams (the staged layer is returned; the caller
   * records or discards it), checking the blob's digest and size; retries transient failures. The
   * blob itself is not stored: the layer's files and tar-split recipe are (see stagePulledLayer).
   */
  private async download(repo: Repository, l: Descriptor, emit: Emit, stopped: () => boolean): Promise<StagedLayer> {
    const id = shortHex(l.digest);
    for (let attempt = 1; ; attempt++) {
      let stream: RawResponse | undefined;
      // The unpack's failure, if any (an array: it is set in a callback, out of TS's flow analysis).
      const unpackErrors: unknown[] = [];
      // The blob is unpacked as it arrives, on a thread that also checks its digest (unpackpool.ts).
      const { writer, staged } = this.images.stagePulledLayer(l.digest);
      const staging = staged.catch((e: unknown) => {
        unpackErrors.push(e);
        stream?.destroy();
        return undefined;
      });
      try {
        stream = (await repo.getBlob(l.digest)).stream;
        let current = 0;
        const bar = throttle(100, (c) => emit(layerProgress(id, 'Downloading', c, l.size)));
        // The socket's bytes go to the unpack's thread as they are read (views of one reused buffer).
        await stream.pipeTo({
          write: (view) => {
            if (stopped()) throw new BargeError('internal', 'pull cancelled');
            if (current + view.length > l.size) throw invalid(`filesystem layer verification failed for digest ${l.digest}: more than the ${l.size} bytes the manifest says`);
            current += view.length;
            bar.update(current);
            return writer.write(view);
          },
          drained: () => writer.drained(),
        });
        bar.flush(current);
        emit(layerStatus(id, 'Verifying Checksum'));
        if (current !== l.size) throw invalid(`filesystem layer verification failed for digest ${l.digest}: ${current} bytes, the manifest says ${l.size}`);
        writer.end();
        const s = await staging;
        if (unpackErrors.length || !s) {
          const e = unpackErrors[0];
          const got = e instanceof BargeError ? e.detail?.['inputDigest'] : undefined;
          if (typeof got === 'string') throw invalid(`filesystem layer verification failed for digest ${l.digest}: the registry sent bytes that hash to ${got}`);
          throw e ?? new Error('layer not unpacked');
        }
        emit(layerStatus(id, 'Download complete'));
        return s;
      } catch (e) {
        stream?.destroy();
        writer.abort(e);
        const s = await staging;
        if (s) await this.images.discardStaged(s);
        if (unpackErrors.length && e === unpackErrors[0]) throw e;
        const transient = isKind(e, 'unavailable') || ['ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes((e as NodeJS.ErrnoException).code ?? '') || /aborted|socket hang up/.test(messageOf(e));
        if (!transient || attempt >= this.downloadAttempts || stopped()) throw e;
        // 1, 2, 4... seconds, capped at 10 (Docker waits 5, 10, 15...: its pulls give up later).
        const wait = Math.min(10, 2 ** (attempt - 1));
        log.warn('layer download failed; retrying', { digest: l.digest, attempt, err: messageOf(e) });
        emit(layerStatus(id, `Retrying in ${wait} second${wait > 1 ? 's' : ''}`));
        await new Promise((r) => setTimeout(r, wait * 1000));
      }
    }
  }

  // ---- push ----

  /**
   * docker push: pushes `name` (with `tag`, or every tag of the repository when neither gives one).
   * Emits Docker's messages, ending each tag with "<tag>: digest: sha256:... size: N" and an aux
   * message {Tag, Digest, Size}.
   */
  async push(name: string, tag: string | undefined, o: { auth?: AuthConfig }, emit: Emit): Promise<void> {
    const ref = parseNormalizedNamed(name);
    if (ref.digest !== undefined) throw invalid('cannot push a digest reference');
    if (tag) {
      if (!isValidTag(tag)) throw invalid(`invalid tag format: ${tag}`);
      ref.tag = tag;
    }
    const repoName = fullName(ref);
    let tags: string[];
    if (ref.tag !== undefined) {
      try { this.images.resolve(referenceString(ref)); } catch (e) {
        if (isKind(e, 'notFound')) throw notFound(`An image does not exist locally with the tag: ${familiarString(ref)}`);
        throw e;
      }
      tags = [ref.tag];
    } else {
      tags = [...new Set(this.images.records().flatMap((img) => img.repoTags.filter((t) => t.startsWith(repoName + ':')).map((t) => t.slice(repoName.length + 1))))].sort();
      if (tags.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(ref)}`);
    }
    const reg = this.open(ref.domain, o.auth);
    try {
      await reg.endpoint();
      emit({ status: `The push refers to repository [${repoName}]` });
      for (const t of tags) await this.pushTag(reg, { ...ref, tag: t }, emit);
    } finally {
      this.sources.save();
      reg.close();
    }
  }

  private async pushTag(reg: Registry, ref: Reference, emit: Emit): Promise<void> {
    const img = this.images.resolve(referenceString(ref));
    const content = this.images.content;
    const host = reg.host;
    // Layers, once each (an image may repeat one), shown by their diffID as Docker does. A pulled
    // layer whose blob was not kept goes as its plain tar when the registry lacks the blob (Docker
    // compresses it again; either way the pushed manifest differs from the pulled one).
    const layers: { desc: Descriptor; id: string; index: number }[] = [];
    const seen = new Set<string>();
    img.layers.forEach((l, i) => {
      if (seen.has(l.digest)) return;
      seen.add(l.digest);
      layers.push({ desc: l, id: shortHex(img.diffIds[i] ?? l.digest), index: i });
    });
    const sent = new Map<string, Descriptor>();
    const mountFrom = [...new Set(layers.flatMap((l) => this.sources.repos(l.desc.digest, host, ref.path)))];
    const repo = reg.repository(ref.path, ['pull', 'push']);
    const mountScopes = mountFrom.map((r) => `repository:${r}:pull`);
    const mrepo = mountScopes.length ? new Repository(reg, ref.path, ['pull', 'push'], mountScopes) : repo;

    for (const l of layers) emit(layerStatus(l.id, 'Preparing'));
    for (const l of layers.slice(this.uploads)) emit(layerStatus(l.id, 'Waiting'));
    await pool(layers, this.uploads, async (l) => {
      const d = l.desc.digest;
      if (await repo.hasBlob(d)) {
        emit(layerStatus(l.id, 'Layer already exists'));
        this.sources.add(d, host, ref.path);
        return;
      }
      for (const from of this.sources.repos(d, host, ref.path)) {
        let mounted = false;
        try { mounted = await mrepo.mountBlob(d, from); } catch (e) { log.debug('cross-repository mount refused', { digest: d, from, err: messageOf(e) }); }
        if (mounted) {
          emit(layerStatus(l.id, `Mounted from ${from}`));
          this.sources.add(d, host, ref.path);
          return;
        }
      }
      const plain = this.images.pushableLayer(img, l.index);
      if (plain) {
        sent.set(d, plain);
        if (await repo.hasBlob(plain.digest)) { emit(layerStatus(l.id, 'Layer already exists')); return; }
      }
      const blob = plain?.digest ?? d;
      const size = this.images.blobReader(blob).size;
      const bar = throttle(100, (c) => emit(layerProgress(l.id, 'Pushing', c, size)));
      await this.upload(repo, blob, size, (n) => bar.update(n));
      bar.flush(size);
      emit(layerStatus(l.id, 'Pushed'));
      this.sources.add(blob, host, ref.path);
    });

    if (!await repo.hasBlob(img.id)) await this.upload(repo, img.id, content.info(img.id).size);

    let body: Buffer;
    let mediaType: string;
    if (img.manifest && content.has(img.manifest.digest) && sent.size === 0) {
      body = content.read(img.manifest.digest);
      mediaType = img.manifest.mediaType;
    } else {
      // An image built or committed here has no manifest yet, and one with layers sent as plain
      // tars needs a new one: make an OCI one.
      mediaType = MediaType.OciManifest;
      body = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType,
        config: { mediaType: MediaType.OciConfig, digest: img.id, size: content.info(img.id).size },
        layers: img.layers.map((l) => sent.get(l.digest) ?? { mediaType: OCI_LAYER_TYPE[l.mediaType] ?? l.mediaType, digest: l.digest, size: l.size }),
      }));
    }
    const digest = sha256Digest(body);
    const said = await repo.putManifest(ref.tag!, mediaType, body);
    if (said && said !== digest) throw invalid(`registry stored the manifest as ${said}, but its bytes hash to ${digest}`);
    emit({ status: `${ref.tag}: digest: ${digest} size: ${body.length}` });
    emit({ progressDetail: {}, aux: { Tag: ref.tag, Digest: digest, Size: body.length } });
    this.images.addRepoDigest(img.id, fullName(ref), digest);
  }

  /**
   * Uploads a blob from the store, retrying transient failures. The bytes are not hashed here: the
   * registry checks them against the digest (the spec requires it), and hashing them twice was a
   * third of a push's CPU. If the registry says they do not match, they are checked here, to say
   * whether this store's copy is at fault.
   */
  private async upload(repo: Repository, digest: string, size: number, onBytes?: (n: number) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await repo.uploadBlob(digest, size, () => new LentBody(counted(this.images.blobReader(digest).lend(), onBytes)));
        return;
      } catch (e) {
        if (e instanceof RegistryError && e.code === 'DIGEST_INVALID') {
          for await (const _ of this.images.blobReader(digest).open()) { /* throws if the local copy is corrupt */ }
          throw e;
        }
        if (!isKind(e, 'unavailable') || attempt >= UPLOAD_ATTEMPTS) throw e;
        log.warn('blob upload failed; retrying', { digest, attempt, err: messageOf(e) });
        await new Promise((r) => setTimeout(r, 2 ** attempt * 500));
      }
    }
  }
}

/** Runs `fn` over `items`, `n` at a time; after the first failure no new item starts, and it is thrown. */
async function pool<T>(items: T[], n: number, fn: (item: T, stopped: () => boolean) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const stopped = () => failure !== undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try { await fn(item, stopped); } catch (e) { failure ??= { e }; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure.e;
}

function shortHex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

function jsonOf(buf: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(buf.toString('utf8')); } catch (e) { throw invalid(`invalid ${what}: ${messageOf(e)}`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`invalid ${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** The digest of `buf`, which must be `want` when one is given (a digest reference, Docker-Content-Digest). */
function verifyBytes(buf: Buffer, want: string | undefined, what: string): string {
  const got = sha256Digest(buf);
  if (want !== undefined && want.startsWith('sha256:') && want !== got) {
    throw invalid(`${what} verification failed for digest ${want}: the registry sent bytes that hash to ${got}`);
  }
  return got;
}

/** The platform to pull: the host's; a --platform naming another is refused. */
function checkPlatform(p: string | undefined): Platform {
  const host = hostPlatform();
  if (!p) return host;
  const parts = p.toLowerCase().split('/');
  let [os, arch, variant] = parts;
  if (parts.length === 1 && os !== 'linux') { arch = os; os = 'linux'; }
  if (os !== 'linux') throw invalid(`"${p}": operating system "${os}" is not supported: barge runs linux images`);
  arch = arch === 'x86_64' || arch === 'x86-64' ? 'amd64' : arch === 'aarch64' ? 'arm64' : arch ?? host.architecture;
  if (arch !== host.architecture) throw invalid(`"${p}": barge pulls images for this host's platform only (${fmtPlatform(host)})`);
  return { os, architecture: arch, ...(variant ? { variant } : host.variant ? { variant: host.variant } : {}) };
}

function fmtPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The index entry for `want` (containerd's platform matching: os, architecture, then variant). */
function pickPlatform(index: Record<string, unknown>, want: Platform): Descriptor {
  const list = index['manifests'];
  if (!Array.isArray(list) || list.length > 10_000) throw invalid('invalid image index: no manifests');
  const defaultVariant: Record<string, string> = { arm64: 'v8', arm: 'v7' };
  const candidates: { d: Descriptor; score: number }[] = [];
  for (const e of list as Record<string, unknown>[]) {
    if (!e || typeof e !== 'object' || !isDigest(e['digest']) || !Number.isSafeInteger(e['size'])) continue;
    const p = (e['platform'] ?? {}) as Record<string, unknown>;
    if (p['os'] !== want.os || p['architecture'] !== want.architecture) continue;
    const v = typeof p['variant'] === 'string' ? p['variant'] : '';
    const wantV = want.variant ?? defaultVariant[want.architecture] ?? '';
    let score: number;
    if (v === wantV) score = 2;
    else if (v === '' || v === defaultVariant[want.architecture]) score = 1;
    else continue;
    const mt = typeof e['mediaType'] === 'string' ? e['mediaType'] : MediaType.OciManifest;
    if (mt !== MediaType.OciManifest && mt !== MediaType.DockerManifest) continue;
    candidates.push({ d: { mediaType: mt, digest: e['digest'] as string, size: e['size'] as number }, score });
  }
  candidates.sort((a, b) => b.score - a.score);
  if (!candidates[0]) throw notFound(`no matching manifest for ${fmtPlatform(want)} in the manifest list entries`);
  return candidates[0].d;
}

/** Docker's messages for a pull the registry refused. */
function pullError(e: unknown, ref: Reference): unknown {
  if (!(e instanceof RegistryError)) return e;
  const name = familiarName(ref);
  if (e.code === 'MANIFEST_UNKNOWN' || (e.httpStatus === 404 && e.code === undefined && ref.digest === undefined)) {
    return notFound(`manifest for ${familiarString(ref)} not found: ${e.message}`);
  }
  if (e.code === 'NAME_UNKNOWN' || e.code === 'UNAUTHORIZED' || e.code === 'DENIED' || e.httpStatus === 401 || e.httpStatus === 403) {
    return notFound(`pull access denied for ${name}, repository does not exist or may require 'docker login': ${e.message}`);
  }
  return e;
}

/** The registry domain of a login server address ("https://index.docker.io/v1/" -> docker.io). */
export function domainOfServer(server: string): string {
  let s = server.trim().replace(/^https?:\/\//, '');
  s = s.split('/')[0] ?? '';
  if (!s || s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'docker.io') return DOCKER_HUB_DOMAIN;
  return s.toLowerCase();
}

/** The chunks of `src`, counting the bytes handed on. */
async function* counted(src: AsyncGenerator<Lent>, onBytes?: (n: number) => void): AsyncGenerator<Lent> {
  let n = 0;
  for await (const c of src) {
    n += c.bytes.length;
    onBytes?.(n);
    yield c;
  }
}
