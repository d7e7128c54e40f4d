// The image service: what the daemon and the API see of images and container root filesystems.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { conflict, invalid, isKind, notFound } from '../lib/errors.js';
import { log } from '../lib/log.js';
import type { EventBus } from '../lib/events.js';
import { shortId } from '../lib/ids.js';
import { ContentStore } from '../content/store.js';
import { OverlaySnapshotter, type Change, type Usage } from '../snapshot/snapshotter.js';
import { BUSYBOX_REFERENCE, DEFAULT_BUSYBOX_BINARY, buildBusyboxImage } from './busybox.js';
import {
  MAX_JSON_BLOB, MediaType, chainIds, checkLayerType, parseConfig, parseManifest, type Descriptor, type ImageConfig,
} from './oci.js';
import {
  familiarString, familiarize, parseNormalizedNamed, parseTagTarget, referenceString, withDefaultTag, type Reference,
} from './reference.js';
import { ImageStore, type ImageRecord } from './store.js';
import { TarWriter, type TarEntry } from './tarwriter.js';

export type { ImageRecord } from './store.js';
export type { Change, Usage } from '../snapshot/snapshotter.js';

/** A container using an image, as the container subsystem reports it. */
export interface ImageUser {
  /** Container ID ("" if unknown). */
  id: string;
  running: boolean;
}

/** Tells which containers use an image: true (some stopped container), one user, or all of them. */
export type InUse = (imageId: string) => boolean | ImageUser | ImageUser[] | undefined | null;

export interface RemoveOptions {
  /** Untag every reference and delete despite stopped containers (never despite running ones). */
  force?: boolean;
  /** Docker's noprune: keep untagged parents. barge's images have no parent chain yet, so no-op. */
  noprune?: boolean;
  /** Who uses the image; defaults to the function given to `setInUse`. */
  inUse?: InUse;
}

export type DeleteResponseItem = { Untagged: string } | { Deleted: string };

export interface CreateImageOptions {
  /** References to tag the image with ("busybox", "host:5000/app:1.0"); a tag moves from any other image. */
  tags?: string[];
  /** Repository names ("busybox") under which to record the manifest digest as a RepoDigest. */
  repoDigests?: string[];
  /** Parent image ID, for images built locally. */
  parent?: string;
}

export interface ImageServiceOptions {
  /** The static busybox binary to build busybox:latest from; false to skip. Default /bin/busybox. */
  busybox?: string | false;
  /** Where image events (tag, untag, delete) are published. */
  events?: EventBus;
}

/** Docker ImageSummary (GET /images/json). */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

/** Docker HistoryResponseItem (GET /images/{name}/history). */
export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

// Mount points the runtime puts over the image (Docker's "init layer"). They are created in a
// per-container layer between the image and the container's writable layer, so that they neither
// modify the image nor show up in `docker diff`.
const INIT_ENTRIES: [string, 'dir' | 'file' | 'symlink', string?][] = [
  ['dev/pts', 'dir'], ['dev/shm', 'dir'], ['proc', 'dir'], ['sys', 'dir'],
  ['.dockerenv', 'file'], ['etc/resolv.conf', 'file'], ['etc/hosts', 'file'], ['etc/hostname', 'file'],
  ['dev/console', 'file'], ['etc/mtab', 'symlink', '/proc/mounts'],
];

const initKey = (containerId: string) => `${containerId}-init`;

/**
 * ImageService owns images and the root filesystems of containers, composing three stores:
 * the content store (blobs by digest), the snapshotter (unpacked layers on overlayfs) and the image
 * store (records and references).
 *
 * Model
 *  - An *image* is an OCI config (its digest is the image *ID*, "sha256:...") plus an ordered list of
 *    layers. Each layer is unpacked once into a committed snapshot named by its chain ID, so images
 *    that share a base share its snapshots. An `ImageRecord` carries the parsed config, the diffIDs,
 *    the top chain ID, the size and the references.
 *  - A *reference* names an image by repository and tag or digest. Input is normalised as Docker does
 *    ("busybox" = "docker.io/library/busybox:latest"); output is the familiar form ("busybox:latest").
 *    `resolve` accepts a reference, a full ID, a unique ID prefix, or name@digest.
 *  - A container's *rootfs* is an overlay mount: a writable layer (key = container ID) over a small
 *    per-container init layer (mount points such as /etc/hosts) over the image's layers.
 *
 * Lifecycle
 *  1. Images arrive as blobs in `content` (a pull, a load, a build, or the built-in busybox), then
 *     `createImage({ manifest })` unpacks the missing layers and records the image with its tags.
 *  2. Running a container:
 *       await images.prepareRootfs(containerId, image.id)
 *       await images.mountRootfs(containerId, '/run/barge/<id>/rootfs')   // runc uses it
 *       ...; await images.unmountRootfs(target)
 *       await images.changes(containerId)                              // docker diff
 *       await images.removeRootfs(containerId)                         // docker rm
 *  3. `tag` adds references; `remove` untags and deletes as `docker rmi` does (conflicts when a
 *     container uses the image, unless forced), then releases layers and blobs no image needs.
 *
 * Crash safety: each store writes atomically and cleans its temporary files at open; records are
 * written after what they point to, and removed before it. `open` then re-unpacks layers an image
 * lacks (from its blobs) and collects snapshots no image or container needs.
 */
export class ImageService {
  private readonly leases = new Map<string, number>();
  private inUse: InUse = () => undefined;
  private events?: EventBus;

  private constructor(
    readonly dataRoot: string,
    /** Blobs by digest: pulls and loads write manifests, configs and layers here before createImage. */
    readonly content: ContentStore,
    /** Layer snapshots; used through this service's methods by the rest of barge. */
    readonly snapshots: OverlaySnapshotter,
    private readonly store: ImageStore,
  ) {}

  /**
   * Opens (creating if needed) the image subsystem under `dataRoot` (`content/`, `snapshots/`, `image/`),
   * repairs what a crash left behind, and builds busybox:latest from the host's busybox if missing.
   */
  static async open(dataRoot: string, opts: ImageServiceOptions = {}): Promise<ImageService> {
    fs.mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
    const content = ContentStore.open(path.join(dataRoot, 'content'));
    const snapshots = OverlaySnapshotter.open(path.join(dataRoot, 'snapshots'));
    const store = ImageStore.open(path.join(dataRoot, 'image'), content);
    const s = new ImageService(dataRoot, content, snapshots, store);
    s.events = opts.events;
    await s.repair();
    await s.gc();
    if (opts.busybox !== false) {
      try {
        await s.ensureBusybox(opts.busybox ?? DEFAULT_BUSYBOX_BINARY);
      } catch (e) {
        log.warn('busybox:latest not built', { err: (e as Error).message });
      }
    }
    return s;
  }

  // ---- references and lookup ----

  /**
   * The image `ref` names: a reference ("busybox", "busybox:1.36", "host:5000/a/b:tag",
   * "name@sha256:..."), a full ID ("sha256:<hex>" or "<hex>") or a unique ID prefix.
   * Throws `notFound` ("No such image: busybox:latest") or `invalid` ("invalid reference format").
   */
  resolve(ref: string): ImageRecord {
    if (typeof ref !== 'string' || ref === '') throw invalid('invalid reference format');
    const full = /^sha256:[a-f0-9]{64}$/.test(ref) ? ref : /^[a-f0-9]{64}$/.test(ref) ? `sha256:${ref}` : undefined;
    if (full) {
      const img = this.store.get(full);
      if (img) return img;
      throw notFound(`No such image: ${ref}`);
    }
    let parsed: Reference | undefined;
    try {
      parsed = parseNormalizedNamed(ref);
    } catch (e) {
      if (!/^(sha256:)?[a-f0-9]+$/.test(ref)) throw e;
    }
    if (parsed) {
      const id = this.store.lookup(storeKey(parsed));
      if (id !== undefined) return this.store.get(id)!;
    }
    const matches = this.store.searchPrefix(ref);
    if (matches.length === 1) return this.store.get(matches[0]!)!;
    throw notFound(`No such image: ${parsed ? familiarString(withDefaultTag(parsed)) : ref}`);
  }

  /** The image with exactly this ID, if any. */
  get(id: string): ImageRecord | undefined {
    return this.store.get(id);
  }

  /** Every image record. */
  records(): ImageRecord[] {
    return this.store.all();
  }

  /** Docker's image list (GET /images/json), newest first. `containers` counts users per image ID. */
  list(opts: { containers?: (imageId: string) => number } = {}): ImageSummary[] {
    return this.store.all()
      .map((img): ImageSummary => ({
        Id: img.id,
        ParentId: img.parent,
        RepoTags: img.repoTags.map(familiarize),
        RepoDigests: img.repoDigests.map(familiarize),
        Created: unixSeconds(img.created),
        Size: img.size,
        SharedSize: -1,
        Labels: img.config.config?.Labels ?? {},
        Containers: opts.containers ? opts.containers(img.id) : -1,
      }))
      .sort((a, b) => b.Created - a.Created || (a.Id < b.Id ? -1 : 1));
  }

  /** Docker's ImageInspect JSON (GET /images/{name}/json). */
  inspect(ref: string): Record<string, unknown> {
    const img = this.resolve(ref);
    const c = img.config;
    const d = c.config ?? {};
    const out: Record<string, unknown> = {
      Id: img.id,
      RepoTags: img.repoTags.map(familiarize),
      RepoDigests: img.repoDigests.map(familiarize),
      Parent: img.parent,
      Comment: typeof c.comment === 'string' ? c.comment : '',
    };
    if (img.created) out['Created'] = img.created;
    Object.assign(out, {
      DockerVersion: typeof c.docker_version === 'string' ? c.docker_version : '',
      Author: typeof c.author === 'string' ? c.author : '',
      Config: dockerConfig(d),
      Architecture: c.architecture,
    });
    if (c.variant) out['Variant'] = c.variant;
    out['Os'] = c.os;
    if (c['os.version']) out['OsVersion'] = c['os.version'];
    const dirs = img.chainId ? this.snapshots.layerPaths(img.chainId) : [];
    Object.assign(out, {
      Size: img.size,
      GraphDriver: {
        Name: 'overlayfs',
        Data: dirs.length ? { UpperDir: dirs[0], ...(dirs.length > 1 ? { LowerDir: dirs.slice(1).join(':') } : {}) } : {},
      },
      RootFS: { Type: 'layers', Layers: [...img.diffIds] },
      Metadata: { LastTagTime: img.lastTagTime ?? '0001-01-01T00:00:00Z' },
    });
    return out;
  }

  /** Docker's image history (GET /images/{name}/history), newest first. */
  history(ref: string): HistoryItem[] {
    const img = this.resolve(ref);
    const chain = chainIds(img.diffIds);
    const layerSize = (i: number) => {
      const c = chain[i];
      return c !== undefined && this.snapshots.exists(c) ? this.snapshots.stat(c).size : 0;
    };
    const items: HistoryItem[] = [];
    let layer = 0;
    const hist = img.config.history ?? [];
    for (const h of hist) {
      let size = 0;
      if (!h.empty_layer) {
        if (layer >= img.diffIds.length) throw invalid('image config has more non-empty history entries than layers');
        size = layerSize(layer++);
      }
      items.push({ Id: '<missing>', Created: unixSeconds(h.created), CreatedBy: h.created_by ?? '', Tags: null, Size: size, Comment: h.comment ?? '' });
    }
    // Layers the history does not account for (images with no history at all, mostly).
    for (; layer < img.diffIds.length; layer++) {
      items.push({ Id: '<missing>', Created: unixSeconds(img.created), CreatedBy: '', Tags: null, Size: layerSize(layer), Comment: '' });
    }
    items.reverse();
    if (items.length === 0) items.push({ Id: img.id, Created: unixSeconds(img.created), CreatedBy: '', Tags: null, Size: 0, Comment: '' });
    items[0]!.Id = img.id;
    items[0]!.Tags = img.repoTags.map(familiarize);
    return items;
  }

  /** `docker tag`: makes `target` (a reference without digest; tag defaults to latest) name `source`'s image. */
  tag(source: string, target: string): void {
    const img = this.resolve(source);
    const ref = parseTagTarget(target);
    this.store.setRef(referenceString(ref), img.id);
    this.publish('tag', img.id, familiarString(ref));
  }

  /** Sets who uses images, for `remove` calls that do not say (the daemon wires the containers in). */
  setInUse(fn: InUse): void {
    this.inUse = fn;
  }

  /** How `docker ps` names an image: its first tag ("busybox:latest"), or undefined if untagged or gone. */
  displayName(imageId: string): string | undefined {
    const tag = this.store.get(imageId)?.repoTags[0];
    return tag === undefined ? undefined : familiarize(tag);
  }

  /**
   * Whether the image `imageId` is `ref` or was built on it (the `ancestor=` filter of `docker ps`).
   * A reference that names no image matches nothing.
   */
  matches(imageId: string, ref: string): boolean {
    let want: string;
    try { want = this.resolve(ref).id; } catch { return false; }
    for (let id: string | undefined = imageId, n = 0; id && n < 1000; n++) {
      if (id === want) return true;
      id = this.store.get(id)?.parent;
    }
    return false;
  }

  private publish(action: string, id: string, name: string): void {
    this.events?.publish('image', action, id, { name });
  }

  /**
   * `docker rmi`: by reference, removes that reference, and deletes the image when no reference is
   * left (quietly keeping it if a container uses it); by ID, untags it (if all its references are in
   * one repository, or with force) and deletes it. A container using the image is a conflict unless
   * forced; a running one always is. Returns Docker's list of Untagged/Deleted items, then releases
   * the image's layers (listed as Deleted chain IDs) and blobs that no other image needs.
   */
  async remove(ref: string, opts: RemoveOptions = {}): Promise<DeleteResponseItem[]> {
    const img = this.resolve(ref);
    const force = opts.force === true;
    const use = userOf((opts.inUse ?? this.inUse)(img.id));
    const records: DeleteResponseItem[] = [];
    let refs = this.store.refsOf(img.id);
    let quiet = false;

    if (!isIdPrefix(img.id, ref)) {
      if (!force && use && isSingleReference(refs)) {
        throw conflict(`conflict: unable to remove repository reference "${ref}" (must force) - ` +
          `${use.id ? `container ${shortId(use.id)}` : 'a container'} is using its referenced image ${shortId(img.id)}`);
      }
      const parsed = withDefaultTag(parseNormalizedNamed(ref));
      this.store.deleteRef(storeKey(parsed));
      records.push({ Untagged: familiarString(parsed) });
      this.publish('untag', img.id, familiarString(parsed));
      refs = this.store.refsOf(img.id);
      // Untagging the last tag of a repository also drops that repository's digest references.
      if (parsed.digest === undefined) {
        const name = `${parsed.domain}/${parsed.path}`;
        const sameRepo = (r: string) => { const p = parseNormalizedNamed(r); return `${p.domain}/${p.path}` === name; };
        if (!refs.some((r) => !r.includes('@') && sameRepo(r))) {
          for (const r of refs.filter((r) => r.includes('@') && sameRepo(r))) {
            this.store.deleteRef(r);
            records.push({ Untagged: familiarize(r) });
            this.publish('untag', img.id, familiarize(r));
          }
          refs = this.store.refsOf(img.id);
        }
      }
      if (refs.length > 0) return records;
      quiet = true;
    } else if (isSingleReference(refs)) {
      const c = this.deleteConflict(img.id, use, force, true);
      if (c) throw conflict(c.message);
      for (const r of refs) {
        this.store.deleteRef(r);
        records.push({ Untagged: familiarize(r) });
        this.publish('untag', img.id, familiarize(r));
      }
    }

    const c = this.deleteConflict(img.id, use, force, false);
    if (c) {
      if (quiet && (c.used || this.store.refsOf(img.id).length > 0)) return records;
      throw conflict(c.message);
    }
    for (const r of this.store.refsOf(img.id)) {
      records.push({ Untagged: familiarize(r) });
      this.publish('untag', img.id, familiarize(r));
    }
    const chain = new Set(chainIds(img.diffIds));
    this.store.delete(img.id);
    records.push({ Deleted: img.id });
    this.publish('delete', img.id, img.id);
    for (const name of await this.gc()) if (chain.has(name)) records.push({ Deleted: name });
    this.releaseBlobs(img);
    return records;
  }

  private deleteConflict(id: string, use: ImageUser | undefined, force: boolean, ignoreRefs: boolean): { message: string; used: boolean } | undefined {
    const msg = (hard: boolean, why: string) => `conflict: unable to delete ${shortId(id)} (${hard ? 'cannot be forced' : 'must be forced'}) - ${why}`;
    const who = use?.id ? ` ${shortId(use.id)}` : '';
    if (use?.running) return { message: msg(true, `image is being used by running container${who}`), used: true };
    if (force) return undefined;
    if (!ignoreRefs && this.store.refsOf(id).length > 0) return { message: msg(false, 'image is referenced in multiple repositories'), used: false };
    if (use) return { message: msg(false, `image is being used by stopped container${who}`), used: true };
    return undefined;
  }

  // ---- adding images ----

  /**
   * Records an image whose blobs are in the content store: from a manifest digest, or from a config
   * digest and its layer descriptors. Unpacks (and verifies) the layers not already present, then
   * records the image and its references. Returns the existing record, with the new tags, if the
   * image is already known.
   */
  async createImage(src: { manifest: string } | { config: string; layers: Descriptor[] }, opts: CreateImageOptions = {}): Promise<ImageRecord> {
    const tags = (opts.tags ?? []).map((t) => referenceString(parseTagTarget(t)));
    let manifest: Descriptor | undefined;
    let configDigest: string;
    let layers: Descriptor[];
    if ('manifest' in src) {
      const m = parseManifest(this.readJsonBlob(src.manifest, 'manifest'));
      manifest = { mediaType: m.mediaType ?? MediaType.OciManifest, digest: src.manifest, size: this.content.info(src.manifest).size };
      configDigest = m.config.digest;
      layers = m.layers;
    } else {
      configDigest = src.config;
      layers = src.layers;
      for (const l of layers) checkLayerType(l.mediaType);
    }
    const repoDigests = (opts.repoDigests ?? []).map((n) => {
      if (!manifest) throw invalid('a repo digest needs a manifest');
      const r = parseNormalizedNamed(n);
      return `${r.domain}/${r.path}@${manifest.digest}`;
    });
    const config = parseConfig(this.readJsonBlob(configDigest, 'config'));
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== layers.length) {
      throw invalid(`image config lists ${diffIds.length} layers but the manifest has ${layers.length}`);
    }
    const chain = chainIds(diffIds);
    const held = [...chain, configDigest, ...layers.map((l) => l.digest), ...(manifest ? [manifest.digest] : [])];
    this.lease(held);
    try {
      for (let i = 0; i < chain.length; i++) {
        const name = chain[i]!;
        if (this.snapshots.exists(name)) continue;
        const blob = layers[i]!.digest;
        if (!this.content.has(blob)) throw notFound(`layer ${blob} of image ${configDigest} is not in the content store`);
        const stream = this.content.createReadStream(blob);
        try {
          await this.snapshots.importLayer(name, i === 0 ? null : chain[i - 1]!, stream, { diffId: diffIds[i]! });
        } finally {
          stream.destroy();
        }
      }
      const size = chain.reduce((n, c) => n + this.snapshots.stat(c).size, 0);
      const existing = this.store.get(configDigest);
      if (!existing) {
        this.store.add({
          id: configDigest,
          ...(manifest ? { manifest } : {}),
          layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
          diffIds: [...diffIds],
          chainId: chain[chain.length - 1] ?? null,
          size,
          parent: opts.parent ?? '',
        });
      }
      for (const t of tags) {
        this.store.setRef(t, configDigest);
        this.publish('tag', configDigest, familiarize(t));
      }
      for (const r of repoDigests) this.store.setRef(r, configDigest);
      return this.store.get(configDigest)!;
    } finally {
      this.release(held);
    }
  }

  private readJsonBlob(digest: string, what: string): Buffer {
    const info = this.content.info(digest);
    if (info.size > MAX_JSON_BLOB) throw invalid(`image ${what} ${digest} is too large (${info.size} bytes)`);
    return this.content.read(digest);
  }

  private async ensureBusybox(binary: string): Promise<void> {
    if (this.store.lookup(BUSYBOX_REFERENCE) !== undefined) return;
    if (!fs.existsSync(binary)) {
      log.warn('busybox:latest not built: no static busybox (install Debian\'s busybox-static)', { binary });
      return;
    }
    const built = buildBusyboxImage(binary);
    this.content.put(built.layer);
    this.content.put(built.config);
    const manifest = this.content.put(built.manifest);
    await this.createImage({ manifest: manifest.digest }, { tags: [BUSYBOX_REFERENCE] });
    log.info('built busybox:latest from the host', { binary, version: built.version });
  }

  // ---- container root filesystems ----

  /** Creates the writable layer (and init layer) of container `containerId` over image `imageId`. */
  async prepareRootfs(containerId: string, imageId: string): Promise<void> {
    const img = this.store.get(imageId) ?? this.resolve(imageId);
    if (this.snapshots.exists(containerId)) throw conflict(`rootfs of container ${containerId} already exists`);
    const init = initKey(containerId);
    const held = img.chainId ? [img.chainId, init] : [init];
    this.lease(held);
    try {
      if (!this.snapshots.exists(init)) {
        const tar = this.initLayer(img.chainId);
        await this.snapshots.importLayer(init, img.chainId, Readable.from([tar]), { sync: false });
      }
      this.snapshots.prepare(containerId, init);
    } finally {
      this.release(held);
    }
  }

  /** The init layer's tar: the mount points missing from the image, parents copied from the image. */
  private initLayer(chainId: string | null): Buffer {
    const entries = new Map<string, TarEntry>();
    const now = Math.floor(Date.now() / 1000);
    for (const [p, type, link] of INIT_ENTRIES) {
      if (this.snapshots.statPath(chainId, p)) continue;
      const parts = p.split('/');
      let ok = true;
      for (let i = 1; i < parts.length && ok; i++) {
        const dir = parts.slice(0, i).join('/');
        if (entries.has(dir)) continue;
        const st = this.snapshots.statPath(chainId, dir);
        if (st && !st.isDirectory()) { ok = false; break; }
        entries.set(dir, st
          ? { name: dir, type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) }
          : { name: dir, type: 'dir', mode: 0o755, mtime: now });
      }
      if (!ok) continue;
      entries.set(p, type === 'dir' ? { name: p, type: 'dir', mode: 0o755, mtime: now }
        : type === 'file' ? { name: p, type: 'file', mode: 0o755, mtime: now }
        : { name: p, type: 'symlink', linkname: link!, mtime: now });
    }
    const tar = new TarWriter();
    for (const e of entries.values()) tar.add(e);
    return tar.finish();
  }

  /** Mounts the container's rootfs (overlay) at `target`, an existing directory. */
  async mountRootfs(containerId: string, target: string): Promise<void> {
    await this.snapshots.mount(containerId, target);
  }

  /** Unmounts a rootfs; fine if it is not mounted. */
  async unmountRootfs(target: string): Promise<void> {
    await this.snapshots.unmount(target);
  }

  /** Deletes the container's layers (unmount first), then layers of deleted images no one needs. */
  async removeRootfs(containerId: string): Promise<void> {
    if (this.snapshots.exists(containerId)) await this.snapshots.remove(containerId);
    if (this.snapshots.exists(initKey(containerId))) await this.snapshots.remove(initKey(containerId));
    await this.gc();
  }

  /** Docker's container diff: [{Path, Kind}] with Kind 0 = modified, 1 = added, 2 = deleted. */
  async changes(containerId: string): Promise<Change[]> {
    return this.snapshots.changes(containerId);
  }

  /** Bytes and inodes in the container's writable layer. */
  async rootfsUsage(containerId: string): Promise<Usage> {
    return this.snapshots.usage(containerId);
  }

  /** Bytes in the container's writable layer (`docker ps -s` SizeRw). */
  async rootfsSize(containerId: string): Promise<number> {
    return (await this.snapshots.usage(containerId)).size;
  }

  // ---- housekeeping ----

  /** Names (snapshots, blob digests) an operation in progress needs: gc and blob release skip them. */
  private lease(names: string[]): void {
    for (const n of names) this.leases.set(n, (this.leases.get(n) ?? 0) + 1);
  }

  private release(names: string[]): void {
    for (const n of names) {
      const c = (this.leases.get(n) ?? 1) - 1;
      if (c <= 0) this.leases.delete(n); else this.leases.set(n, c);
    }
  }

  /** Re-unpacks the layers an image lacks from its blobs; drops images that cannot be repaired. */
  private async repair(): Promise<void> {
    for (const img of this.store.all()) {
      const chain = chainIds(img.diffIds);
      if (chain.every((c) => this.snapshots.exists(c))) continue;
      try {
        log.warn('image is missing layers; unpacking them again', { id: img.id });
        await this.createImage({ config: img.id, layers: img.layers });
      } catch (e) {
        log.error('dropping image whose layers cannot be restored', { id: img.id, err: (e as Error).message });
        this.store.delete(img.id);
      }
    }
  }

  /**
   * Removes committed snapshots that no image, container or operation in progress needs (children
   * first). Returns their names.
   */
  async gc(): Promise<string[]> {
    const keep = new Set<string>(this.leases.keys());
    for (const img of this.store.all()) for (const c of chainIds(img.diffIds)) keep.add(c);
    const all = this.snapshots.list();
    const depth = (name: string): number => {
      let d = 0;
      for (let n: string | null = name; n !== null && d < 10000; d++) n = this.snapshots.exists(n) ? this.snapshots.stat(n).parent : null;
      return d;
    };
    const doomed = all.filter((s) => s.kind === 'committed' && !keep.has(s.name))
      .map((s) => ({ name: s.name, depth: depth(s.name) }))
      .sort((a, b) => b.depth - a.depth);
    const removed: string[] = [];
    for (const { name } of doomed) {
      try {
        await this.snapshots.remove(name);
        removed.push(name);
      } catch (e) {
        if (!isKind(e, 'conflict')) throw e;
      }
    }
    return removed;
  }

  private releaseBlobs(img: ImageRecord): void {
    const used = new Set<string>();
    for (const other of this.store.all()) {
      used.add(other.id);
      if (other.manifest) used.add(other.manifest.digest);
      for (const l of other.layers) used.add(l.digest);
    }
    for (const d of [img.id, img.manifest?.digest, ...img.layers.map((l) => l.digest)]) {
      if (d && !used.has(d) && !this.leases.has(d)) this.content.delete(d);
    }
  }
}

function storeKey(ref: Reference): string {
  if (ref.digest !== undefined) return `${ref.domain}/${ref.path}@${ref.digest}`;
  return referenceString(withDefaultTag(ref));
}

/** The user that matters most for a conflict: a running container first, as Docker checks. */
function userOf(v: ReturnType<InUse>): ImageUser | undefined {
  if (!v) return undefined;
  if (v === true) return { id: '', running: false };
  if (Array.isArray(v)) return v.find((u) => u.running) ?? v[0];
  return v;
}

function isIdPrefix(id: string, s: string): boolean {
  return id.startsWith(s) || id.slice(7).startsWith(s);
}

/** All references are in one repository, with at most one tag (Docker's isSingleReference). */
function isSingleReference(refs: string[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  const repo = (r: string) => r.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  const tags = refs.filter((r) => !r.includes('@'));
  if (tags.length > 1) return false;
  return new Set(refs.map(repo)).size === 1;
}

function unixSeconds(iso: string | undefined): number {
  if (!iso) return 0;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** The image config as Docker's API shows it (ImageConfig, with its deprecated always-empty fields). */
function dockerConfig(d: NonNullable<ImageConfig['config']>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    Hostname: '', Domainname: '', User: d.User ?? '',
    AttachStdin: false, AttachStdout: false, AttachStderr: false,
  };
  if (d.ExposedPorts) out['ExposedPorts'] = d.ExposedPorts;
  Object.assign(out, {
    Tty: false, OpenStdin: false, StdinOnce: false,
    Env: d.Env ?? null,
    Cmd: d.Cmd ?? null,
  });
  if (d.Healthcheck) out['Healthcheck'] = d.Healthcheck;
  if (d.ArgsEscaped) out['ArgsEscaped'] = d.ArgsEscaped;
  Object.assign(out, {
    Image: '',
    Volumes: d.Volumes ?? null,
    WorkingDir: d.WorkingDir ?? '',
    Entrypoint: d.Entrypoint ?? null,
    OnBuild: d.OnBuild ?? null,
    Labels: d.Labels ?? null,
  });
  if (d.StopSignal) out['StopSignal'] = d.StopSignal;
  if (d.Shell) out['Shell'] = d.Shell;
  return out;
}
