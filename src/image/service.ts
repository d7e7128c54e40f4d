// The image service: what the daemon and the API see of images and container root filesystems.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { conflict, invalid, isKind, notFound } from '../lib/errors.js';
import { log } from '../lib/log.js';
import type { EventBus } from '../lib/events.js';
import { shortId } from '../lib/ids.js';
import { ContentStore } from '../content/store.js';
import { OverlaySnapshotter, type Change, type LayerWriter, type StagedLayer, type Usage } from '../snapshot/snapshotter.js';
import { verified } from '../content/digest.js';
import { BUSYBOX_REFERENCE, DEFAULT_BUSYBOX_BINARY, buildBusyboxImage } from './busybox.js';
import {
  MAX_JSON_BLOB, MediaType, chainIds, checkLayerType, hostPlatform, parseConfig, parseManifest,
  type ContainerDefaults, type Descriptor, type HistoryEntry, type ImageConfig,
} from './oci.js';
import {
  familiarString, familiarize, parseNormalizedNamed, parseTagTarget, referenceString, withDefaultTag, type Reference,
} from './reference.js';
import { ImageStore, type ImageRecord } from './store.js';
import { TarWriter, type TarEntry } from './tarwriter.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isMountPoint, mountsUnder } from '../snapshot/mount.js';
import { gunzippedDigest, gunzippedSize, markCompressedLayers, readImageArchive, writeImageArchive, type LayerSource, type SaveItem } from './archive.js';
import { applyChanges } from './changes.js';
import { Bootstrapper, checkRequest, commandLine, type BootstrapRequest, type Cancel } from './bootstrap.js';
import { packDir } from '../snapshot/tarfs.js';
import { KeyedLock } from '../lib/keyedlock.js';
import type { Lent } from '../lib/lentread.js';

export type { ImageRecord } from './store.js';
export type { SaveItem } from './archive.js';
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
  /** The digest recorded with `repoDigests` when it is not the manifest's (a pull through an index). */
  repoDigest?: string;
  /** Hears of each layer unpacked ('start', 'done'), by its index in the manifest. */
  onUnpack?: (index: number, phase: 'start' | 'done') => void;
}

export interface ListOptions {
  /** Counts the containers using each image. */
  containers?: (imageId: string) => number;
  /** GET /images/json filters. */
  filters?: Map<string, string[]>;
  /** Include intermediate images (untagged, with children). */
  all?: boolean;
  /** Compute SharedSize. */
  sharedSize?: boolean;
}

export interface ImportOptions {
  /** References to tag the new image with. */
  tags?: string[];
  /** Dockerfile instructions applied to the config (changes.ts). */
  changes?: string[];
  /** Comment for the image and its history entry ("Imported from -"). */
  message?: string;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface CommitOptions {
  /** The container's image: the new image's parent, whose layers it reuses. */
  imageId: string;
  /** The new image's config (the container's, with changes applied: changes.ts). */
  config: ContainerDefaults;
  author?: string;
  comment?: string;
  /** History "created_by": the container's command. */
  createdBy?: string;
  tags?: string[];
  /** The image's creation time (RFC 3339; default now), and the latest file time in its layer (unix s). */
  created?: string;
  clampMtime?: number;
}

export interface BootstrapOptions extends BootstrapRequest {
  /** The reference to tag; default "debian:<suite>". */
  tag?: string;
  /** Build even if the tag names an image already. */
  force?: boolean;
  /** Hears debootstrap's output and the steps, line by line. */
  onLine?: (line: string) => void;
  cancel?: Cancel;
}

export interface PruneOptions {
  /** Remove every image no container uses, not only dangling ones. */
  all?: boolean;
  /** Only images created before this time (unix seconds). */
  until?: number;
  /** label=k or label=k=v filters that must match. */
  labels?: string[];
  /** label!=k or label!=k=v filters that must not match. */
  labelsNot?: string[];
}

/** What createImage and loadArchive work from: an image's parts, checked but not yet unpacked. */
interface ImagePlan {
  manifest?: Descriptor;
  configDigest: string;
  layers: Descriptor[];
  diffIds: string[];
  chain: string[];
  /** Snapshots and blobs to lease while the plan is carried out. */
  held: string[];
  tags: string[];
  repoDigests: string[];
  parent: string;
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
 *     container uses the image or it has child images, unless forced), then releases layers and blobs
 *     no image needs; `prune` removes dangling (or all unused) images.
 *  4. Archives and containers become images, all through the same plan -> unpack -> record steps:
 *       for await (const chunk of images.saveArchive(images.planSave(['busybox']))) ...  // docker save
 *       await images.loadArchive(body)              // docker load: docker-archive or OCI layout
 *       await images.importRootfs(body, { tags, changes: ['CMD ["sh"]'] })            // docker import
 *       await images.commit(containerId, { imageId, config, tags })      // docker commit: diff layer
 *  5. A container's files from the host (export, cp, stat): `withRootfs(id, mountedAt, fn)` gives `fn`
 *     the merged rootfs, the running container's mount or a private one; starts wait meanwhile.
 *
 * Crash safety: each store writes atomically and cleans its temporary files at open; records are
 * written after what they point to, and removed before it. Layers a pull unpacks (unpackLayer) are
 * committed without a sync each and flushed together, by one syncfs, before the image is recorded; a
 * crash before that leaves them unreferenced, and `open` removes them. A load, import or commit writes its blobs,
 * then unpacks every layer, and records the images last, so a kill -9 leaves no visible image. `open`
 * then re-unpacks layers an image lacks (from its blobs), collects snapshots no image or container
 * needs, deletes blobs no image needs (every blob in the content store belongs to some image), and
 * unmounts and removes the private rootfs mounts of `withRootfs` (`<dataRoot>/mnt`).
 */
export class ImageService {
  private readonly leases = new Map<string, number>();
  /** Layers unpacked without a sync (unpackLayer): flushed before any image naming them is recorded. */
  private readonly unsynced = new Set<string>();
  /** Layer blobs whose uncompressed digest this process checked while unpacking them: blob -> diffID. */
  private readonly verifiedLayers = new Map<string, string>();
  private readonly rootfsLocks = new KeyedLock();
  private inUse: InUse = () => undefined;
  private events?: EventBus;
  private readonly bootstrapper: Bootstrapper;

  private constructor(
    readonly dataRoot: string,
    /** Blobs by digest: pulls and loads write manifests, configs and layers here before createImage. */
    readonly content: ContentStore,
    /** Layer snapshots; used through this service's methods by the rest of barge. */
    readonly snapshots: OverlaySnapshotter,
    private readonly store: ImageStore,
  ) {
    this.bootstrapper = new Bootstrapper(path.join(dataRoot, 'bootstrap'));
  }

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
    s.cleanMounts();
    s.bootstrapper.clean();
    await s.repair();
    await s.gc();
    s.collectBlobs();
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

  /**
   * Docker's image list (GET /images/json), newest first. `containers` counts users per image ID.
   * Filters (as `docker images --filter`): dangling=true|false, label=k[=v], label!=k[=v],
   * before=<image>, since=<image>, until=<time>, reference=<pattern> (which also narrows RepoTags and
   * RepoDigests to the matching ones). Untagged images with children (intermediate images) are left
   * out unless `all`. SharedSize is computed with `sharedSize`, else -1.
   */
  list(opts: ListOptions = {}): ImageSummary[] {
    const f = opts.filters ?? new Map<string, string[]>();
    for (const k of f.keys()) if (!['dangling', 'label', 'label!', 'before', 'since', 'reference', 'until'].includes(k)) throw invalid(`invalid filter '${k}'`);
    const dangling = f.get('dangling')?.[0];
    let danglingOnly: boolean | undefined;
    if (dangling !== undefined) {
      if (!['true', 'false', '1', '0'].includes(dangling.toLowerCase())) throw invalid(`invalid filter 'dangling=${dangling}'`);
      danglingOnly = dangling === 'true' || dangling === '1';
    }
    const createdOf = (ref: string) => unixSeconds(this.resolve(ref).created);
    const before = f.get('before')?.map(createdOf);
    const since = f.get('since')?.map(createdOf);
    const until = f.get('until')?.map((v) => parseTimestamp(v));
    const patterns = f.get('reference');
    const shared = opts.sharedSize ? this.sharedSizes() : undefined;
    const out: ImageSummary[] = [];
    for (const img of this.store.all()) {
      const created = unixSeconds(img.created);
      if (before && !before.every((t) => created < t)) continue;
      if (since && !since.every((t) => created > t)) continue;
      if (until && !until.every((t) => created < t)) continue;
      const labels = img.config.config?.Labels ?? {};
      if (!matchLabels(labels, f.get('label') ?? [], f.get('label!') ?? [])) continue;
      let tags = img.repoTags.map(familiarize);
      let digests = img.repoDigests.map(familiarize);
      if (patterns) {
        const ok = (r: string) => patterns.some((p) => familiarMatch(p, r));
        tags = tags.filter(ok);
        digests = digests.filter(ok);
      }
      if (tags.length === 0 && digests.length === 0) {
        if (!opts.all && this.children(img.id).length > 0) continue;
        if (danglingOnly === false || patterns) continue;
      } else if (danglingOnly === true && tags.length > 0) continue;
      out.push({
        Id: img.id,
        ParentId: img.parent,
        RepoTags: tags,
        RepoDigests: digests,
        Created: created,
        Size: img.size,
        SharedSize: shared ? shared.get(img.id) ?? 0 : -1,
        Labels: labels,
        Containers: opts.containers ? opts.containers(img.id) : -1,
      });
    }
    return out.sort((a, b) => b.Created - a.Created || (a.Id < b.Id ? -1 : 1));
  }

  /** Per image: bytes of its layers that other images use too. */
  private sharedSizes(): Map<string, number> {
    const users = new Map<string, number>();
    const all = this.store.all();
    for (const img of all) for (const c of new Set(chainIds(img.diffIds))) users.set(c, (users.get(c) ?? 0) + 1);
    const out = new Map<string, number>();
    for (const img of all) {
      let n = 0;
      for (const c of new Set(chainIds(img.diffIds))) if ((users.get(c) ?? 0) > 1 && this.snapshots.exists(c)) n += this.snapshots.stat(c).size;
      out.set(img.id, n);
    }
    return out;
  }

  /** Bytes of every image layer on disk (`docker system df` LayersSize). */
  layersSize(): number {
    return this.snapshots.list().filter((s) => s.kind === 'committed' && s.diffId !== undefined).reduce((n, s) => n + s.size, 0);
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
      if (quiet && (c.used || this.store.refsOf(img.id).length > 0 || this.children(img.id).length > 0)) return records;
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
    // Like Docker (unless noprune), a parent left without tags or other children goes too.
    const parent = img.parent ? this.store.get(img.parent) : undefined;
    if (parent && !opts.noprune && this.store.refsOf(parent.id).length === 0 && this.children(parent.id).length === 0 &&
        !userOf((opts.inUse ?? this.inUse)(parent.id))) {
      records.push(...await this.remove(parent.id, { ...opts, force: false }).catch(() => []));
    }
    return records;
  }

  /** IDs of the images whose parent is `id`. */
  children(id: string): string[] {
    return this.store.all().filter((i) => i.parent === id).map((i) => i.id);
  }

  private deleteConflict(id: string, use: ImageUser | undefined, force: boolean, ignoreRefs: boolean): { message: string; used: boolean } | undefined {
    const msg = (hard: boolean, why: string) => `conflict: unable to delete ${shortId(id)} (${hard ? 'cannot be forced' : 'must be forced'}) - ${why}`;
    const who = use?.id ? ` ${shortId(use.id)}` : '';
    if (this.children(id).length > 0) return { message: msg(true, 'image has dependent child images'), used: false };
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
    const plan = this.planImage(src, opts);
    this.lease(plan.held);
    try {
      await this.unpackPlan(plan, undefined, opts.onUnpack);
      await this.flushLayers(plan.chain);
      return this.recordPlan(plan);
    } finally {
      this.release(plan.held);
    }
  }

  /** Reads and checks what an image is made of (manifest, config, layers, tags) without changing anything. */
  private planImage(src: { manifest: string } | { config: string; layers: Descriptor[] }, opts: CreateImageOptions = {}): ImagePlan {
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
      return `${r.domain}/${r.path}@${opts.repoDigest ?? manifest.digest}`;
    });
    const config = parseConfig(this.readJsonBlob(configDigest, 'config'));
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== layers.length) {
      throw invalid(`image config lists ${diffIds.length} layers but the manifest has ${layers.length}`);
    }
    const chain = chainIds(diffIds);
    const held = [...chain, configDigest, ...layers.map((l) => l.digest), ...(manifest ? [manifest.digest] : [])];
    return { manifest, configDigest, layers, diffIds: [...diffIds], chain, held, tags, repoDigests, parent: opts.parent ?? '' };
  }

  /** Unpacks (and verifies) the layers of a plan that are not unpacked yet. */
  private async unpackPlan(plan: ImagePlan, onLayer?: (diffId: string, size: number) => void, onUnpack?: CreateImageOptions['onUnpack'], staged?: Map<string, StagedLayer>): Promise<void> {
    const { chain, layers, diffIds, configDigest } = plan;
    for (let i = 0; i < chain.length; i++) {
      const name = chain[i]!;
      const blob = layers[i]!.digest;
      if (this.snapshots.exists(name)) {
        // Already unpacked: still make sure the blob recorded for it is that layer.
        if (!/gzip$/.test(layers[i]!.mediaType)) {
          if (blob !== diffIds[i]) throw invalid(`layer diffID mismatch: expected ${diffIds[i]}, got ${blob}`);
        } else if (this.knownDiffId(blob) === diffIds[i]) {
          // Unpacked from this very blob and checked (by this process, or when an image naming it was recorded).
        } else if (!this.content.has(blob)) {
          throw notFound(`layer ${blob} of image ${configDigest} is not in the content store`);
        } else {
          const got = await gunzippedDigest(this.content, blob);
          if (got !== diffIds[i]) throw invalid(`layer diffID mismatch: expected ${diffIds[i]}, got ${got}`);
          this.verifiedLayers.set(blob, got);
        }
        continue;
      }
      const plain = !/gzip$/.test(layers[i]!.mediaType);
      const parent = i === 0 ? null : chain[i - 1]!;
      const st = plain ? staged?.get(blob) : undefined;
      if (st) {
        // Unpacked (and hashed) as the archive streamed in (loadArchive): record it under its name now.
        if (blob !== diffIds[i]) throw invalid(`layer diffID mismatch: expected ${diffIds[i]}, got ${blob}`);
        staged!.delete(blob);
        await this.snapshots.commitStaged(name, parent, st, { sync: false });
        this.unsynced.add(name);
        onLayer?.(diffIds[i]!, layers[i]!.size);
        continue;
      }
      // A layer kept only as another stack's files (tar-split): its tar is rebuilt from them.
      const other = this.filesOf(blob, diffIds[i]!, plain);
      if (!other && !this.content.has(blob)) throw notFound(`layer ${blob} of image ${configDigest} is not in the content store`);
      onUnpack?.(i, 'start');
      const stream = other ? Readable.from(this.snapshots.layerTar(other)) : this.content.createReadStream(blob);
      try {
        await this.snapshots.importLayer(name, parent, stream, { diffId: diffIds[i]!, ...(other ? { split: true } : {}) });
        this.verifiedLayers.set(blob, diffIds[i]!);
      } finally {
        stream.destroy();
      }
      onLayer?.(diffIds[i]!, layers[i]!.size);
      onUnpack?.(i, 'done');
    }
  }

  /** Records a plan's image (if new) and its references; `onTag` hears of tags taken from another image. */
  private recordPlan(plan: ImagePlan, onTag?: (ref: string, previous: string | undefined) => void): ImageRecord {
    const { chain, configDigest } = plan;
    const size = chain.reduce((n, c) => n + this.snapshots.stat(c).size, 0);
    if (!this.store.get(configDigest)) {
      this.store.add({
        id: configDigest,
        ...(plan.manifest ? { manifest: plan.manifest } : {}),
        layers: plan.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
        diffIds: plan.diffIds,
        chainId: chain[chain.length - 1] ?? null,
        size,
        parent: plan.parent,
      });
    }
    for (const t of plan.tags) {
      const previous = this.store.setRef(t, configDigest);
      onTag?.(t, previous);
      this.publish('tag', configDigest, familiarize(t));
    }
    for (const r of plan.repoDigests) this.store.setRef(r, configDigest);
    return this.store.get(configDigest)!;
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

  // ---- registries: what pull and push need ----

  /**
   * Whether layer `chainId` is unpacked and is known to be what blob `blob` holds: the blob is in the
   * content store, or it is the layer's plain tar, or it was checked against the layer's diffID when
   * pulled (a pull can skip it).
   */
  hasLayer(chainId: string, blob: string): boolean {
    if (!this.snapshots.exists(chainId)) return false;
    if (this.content.has(blob)) return true;
    const s = this.snapshots.stat(chainId);
    if (s.split === true && s.diffId === blob) return true;
    return s.diffId !== undefined && this.knownDiffId(blob) === s.diffId;
  }

  /**
   * The diffID a compressed layer blob was checked to hold: by this process, or by the pull or load
   * that recorded an image naming it (images are recorded only after every layer was checked).
   */
  private knownDiffId(blob: string): string | undefined {
    const v = this.verifiedLayers.get(blob);
    if (v !== undefined) return v;
    for (const img of this.store.all()) {
      const i = img.layers.findIndex((l) => l.digest === blob);
      if (i >= 0 && img.diffIds[i] !== undefined) { this.verifiedLayers.set(blob, img.diffIds[i]!); return img.diffIds[i]; }
    }
    return undefined;
  }

  /**
   * The committed snapshot whose files (tar-split) rebuild layer `diffId`, when its blob `blob` is not
   * in the content store: a plain layer (the blob is its tar), or a pulled gzip blob that was checked
   * to hold that layer.
   */
  private filesOf(blob: string, diffId: string, plain: boolean): string | undefined {
    if (this.content.has(blob)) return undefined;
    if (plain) return this.snapshots.findSplit(blob);
    return this.knownDiffId(blob) === diffId ? this.snapshots.findSplit(diffId) : undefined;
  }

  /**
   * How a push can send layer `i` of `img`: the blob itself when it is here (content store, or rebuilt
   * from tar-split for a plain layer); else, for a pulled gzip layer whose blob was not kept, its
   * plain tar (digest = diffID), rebuilt from the snapshot's files.
   */
  pushableLayer(img: ImageRecord, i: number): Descriptor | undefined {
    const l = img.layers[i]!;
    if (this.content.has(l.digest) || this.snapshots.findSplit(l.digest) !== undefined) return undefined;
    const diffId = img.diffIds[i]!;
    const snap = this.snapshots.findSplit(diffId);
    if (snap === undefined) throw notFound(`layer ${l.digest} of image ${img.id} is not in the content store`);
    return { mediaType: MediaType.OciLayer, digest: diffId, size: this.snapshots.stat(snap).tarSize ?? 0 };
  }

  /**
   * A blob's size and bytes (a push reads layers so): from the content store, or, for a plain layer
   * kept only as a snapshot's files, its tar rebuilt from them (tar-split). `open()` checks the bytes
   * against the digest as they stream; `lend()` gives them unchecked and lent (lentread.ts), for a
   * reader that has them checked anyway and releases each chunk when done with it (a push's socket:
   * the registry verifies what is pushed to it).
   */
  blobReader(digest: string): { size: number; open: () => Readable; lend: () => AsyncGenerator<Lent> } {
    if (this.content.has(digest)) {
      return { size: this.content.info(digest).size, open: () => this.content.createReadStream(digest), lend: () => this.content.lend(digest) };
    }
    const name = this.snapshots.findSplit(digest);
    if (name === undefined) throw notFound(`content ${digest}: not found`);
    const size = this.snapshots.stat(name).tarSize ?? 0;
    return {
      size,
      open: () => Readable.from(verified(this.snapshots.layerTar(name), digest, size, `layer ${digest}`)),
      lend: () => this.snapshots.layerTarLent(name),
    };
  }

  /**
   * Runs `fn`, which brings blobs into the content store and unpacks layers ahead of `createImage`,
   * calling `keep(digest)` for each blob and `keep(chainId, 'layer')` for each layer snapshot: they
   * are held while `fn` runs; afterwards the blobs no image needs are deleted, and if `fn` failed, the
   * layers no image needs too. A pull's blobs and layers thus either end up in an image or are gone.
   */
  async withBlobs<T>(fn: (keep: (name: string, kind?: 'blob' | 'layer') => void) => Promise<T>): Promise<T> {
    const held: string[] = [];
    const blobs: string[] = [];
    let ok = false;
    try {
      const r = await fn((name, kind = 'blob') => {
        this.lease([name]);
        held.push(name);
        if (kind === 'blob') blobs.push(name);
      });
      ok = true;
      return r;
    } finally {
      this.release(held);
      if (!ok) await this.gc().catch((e) => log.warn('layer cleanup after a failed pull', { err: (e as Error).message }));
      this.dropUnusedBlobs(blobs);
    }
  }

  /**
   * Unpacks layer `index` of an image whose layer blob `layer` is in the content store, on its parent
   * (layers 0..index-1 must be unpacked), checking its diffID; nothing if it is there already. The
   * caller holds the snapshot (withBlobs' keep) until createImage records the image. `justVerified`:
   * the blob was just written through the content store's verifying writer, and is not re-hashed.
   */
  async unpackLayer(diffIds: string[], index: number, layer: Descriptor, o: { justVerified?: boolean } = {}): Promise<void> {
    checkLayerType(layer.mediaType);
    const chain = chainIds(diffIds.slice(0, index + 1));
    const name = chain[index]!;
    if (this.snapshots.exists(name)) return;
    // A pulled blob that was not kept: the same layer, unpacked on another parent, holds its tar.
    const other = this.filesOf(layer.digest, diffIds[index]!, !/gzip$/.test(layer.mediaType));
    // A blob the caller has just written through the verifying writer is not hashed a second time.
    const stream = other !== undefined ? Readable.from(this.snapshots.layerTar(other)) : this.content.createReadStream(layer.digest, { verify: !o.justVerified });
    try {
      // No sync per layer: flushLayers syncs once, before an image naming the layer is recorded.
      await this.snapshots.importLayer(name, index === 0 ? null : chain[index - 1]!, stream, { diffId: diffIds[index]!, sync: false, ...(other !== undefined ? { split: true } : {}) });
      this.unsynced.add(name);
      this.verifiedLayers.set(layer.digest, diffIds[index]!);
    } finally {
      stream.destroy();
    }
  }

  /**
   * Unpacks a layer blob (plain or gzip) as it streams in (a pull), before its place in the image is
   * settled. Its tar-split recipe is kept: the blob itself is not, as Docker keeps only the files, so
   * a pull writes each byte once; a push or save rebuilds the tar from the files. The bytes must hash
   * to `digest` (checked on the unpack's thread as they end).
   */
  stagePulledLayer(digest: string): { writer: LayerWriter; staged: Promise<StagedLayer> } {
    return this.snapshots.stageWriter({ split: true, inputDigest: digest });
  }

  /**
   * Records a staged layer, unpacked from `blob`, as layer `index` of an image with these diffIDs
   * (layers 0..index-1 must be unpacked), checking its diffID; discards it if that stack exists
   * already. Held like unpackLayer's.
   */
  async commitPulledLayer(diffIds: string[], index: number, staged: StagedLayer, blob: string): Promise<void> {
    const chain = chainIds(diffIds.slice(0, index + 1));
    if (staged.diffId === diffIds[index]) this.verifiedLayers.set(blob, staged.diffId);
    const name = chain[index]!;
    if (staged.diffId !== diffIds[index] || this.snapshots.exists(name)) {
      await this.snapshots.discardStaged(staged);
      if (staged.diffId !== diffIds[index]) throw invalid(`layer diffID mismatch: expected ${diffIds[index]}, got ${staged.diffId}`);
      return;
    }
    await this.snapshots.commitStaged(name, index === 0 ? null : chain[index - 1]!, staged, { sync: false });
    this.unsynced.add(name);
  }

  discardStaged(staged: StagedLayer): Promise<void> {
    return this.snapshots.discardStaged(staged);
  }

  /**
   * Makes the layers of `chain` that were unpacked without a sync durable (one syncfs for all), so
   * that no image record ever names a layer a crash could leave half-written.
   */
  private async flushLayers(chain: string[]): Promise<void> {
    if (!chain.some((c) => this.unsynced.has(c))) return;
    const pending = [...this.unsynced];
    await this.snapshots.syncAll();
    for (const c of pending) this.unsynced.delete(c);
  }

  /** Records that image `imageId` is `name@digest` in a registry (after a push). */
  addRepoDigest(imageId: string, name: string, digest: string): void {
    const r = parseNormalizedNamed(name);
    if (!this.store.get(imageId)) throw notFound(`No such image: ${imageId}`);
    this.store.setRef(`${r.domain}/${r.path}@${digest}`, imageId);
  }

  // ---- archives: save, load, import, commit ----

  /**
   * The images `docker save NAME...` saves, as moby's tarexport chooses them: a tagged reference saves
   * that tag; a name alone saves every tag of the repository; an ID (or unique prefix, or a digest
   * reference) saves the image without tags. Throws `notFound` for a name that matches nothing.
   */
  planSave(names: string[]): SaveItem[] {
    if (names.length === 0) throw invalid('no image names given');
    const items = new Map<string, SaveItem>();
    const add = (id: string, tag?: string) => {
      const it = items.get(id) ?? { image: this.store.get(id)!, tags: [] };
      if (tag !== undefined && !it.tags.includes(tag)) it.tags.push(tag);
      items.set(id, it);
    };
    for (const name of names) {
      let parsed: Reference | undefined;
      try { parsed = parseNormalizedNamed(name); } catch { parsed = undefined; }
      if (parsed && parsed.tag === undefined && parsed.digest === undefined) {
        const repo = `${parsed.domain}/${parsed.path}:`;
        const refs = this.store.all().flatMap((img) => img.repoTags.filter((t) => t.startsWith(repo)).map((t) => ({ id: img.id, t })));
        if (refs.length > 0) { for (const r of refs) add(r.id, r.t); continue; }
      }
      const img = this.resolve(name);
      add(img.id, parsed && parsed.tag !== undefined && parsed.digest === undefined && !isIdPrefix(img.id, name) ? referenceString(parsed) : undefined);
    }
    for (const it of items.values()) if (it.image.parent && items.has(it.image.parent)) it.parent = it.image.parent;
    return [...items.values()];
  }

  /** Streams the archive of `items` (see image/archive.ts); blobs and layers are leased meanwhile. */
  async *saveArchive(items: SaveItem[]): AsyncGenerator<Buffer> {
    const held = items.flatMap((it) => [it.image.id, ...it.image.layers.map((l) => l.digest), ...chainIds(it.image.diffIds)]);
    this.lease(held);
    try {
      const sources = new Map<string, LayerSource[]>();
      for (const it of items) {
        const img = it.image;
        const chain = chainIds(img.diffIds);
        const srcs: LayerSource[] = [];
        for (let i = 0; i < img.layers.length; i++) {
          const l = img.layers[i]!;
          const kept = this.content.has(l.digest);
          const gzip = /gzip$/.test(l.mediaType) && kept;
          let size = l.size;
          if (gzip) {
            const snap = this.snapshots.exists(chain[i]!) ? this.snapshots.stat(chain[i]!) : undefined;
            size = snap?.tarSize ?? await gunzippedSize(this.content, l.digest);
          }
          const src: LayerSource = { blob: l.digest, gzip, diffId: img.diffIds[i]!, size };
          if (!kept) {
            // Kept only as files (load, commit, import, pull): rebuilt from the snapshot's tar-split.
            const snap = this.snapshots.exists(chain[i]!) && this.snapshots.stat(chain[i]!).split ? chain[i]! : this.snapshots.findSplit(img.diffIds[i]!);
            if (snap === undefined) throw notFound(`layer ${l.digest} of image ${img.id} is not in the content store`);
            src.open = () => this.snapshots.layerTar(snap);
            src.size = this.snapshots.stat(snap).tarSize ?? size;
          }
          srcs.push(src);
        }
        sources.set(img.id, srcs);
      }
      yield* writeImageArchive(items, this.content, (img) => sources.get(img.id)!);
      for (const it of items) this.publish('save', it.image.id, it.image.id);
    } finally {
      this.release(held);
    }
  }

  /**
   * `docker load`: reads a docker-archive or OCI-layout tar (plain or gzip), unpacks every layer and
   * checks it against its diffID, and only then records the images and their tags. Returns Docker's
   * messages ("Loaded image: busybox:latest", "Loaded image ID: sha256:..."). On any error nothing is
   * recorded and the blobs and layers it brought are released. `onLayer` hears of each layer unpacked.
   */
  async loadArchive(source: AsyncIterable<Uint8Array>, o: { onLayer?: (diffId: string, size: number) => void } = {}): Promise<string[]> {
    const brought: string[] = [];
    const plans: ImagePlan[] = [];
    // Plain layers are unpacked as the archive streams in, into staging directories named by
    // diffID; once the manifests are read they become snapshots under their chain IDs.
    const staged = new Map<string, StagedLayer>();
    const stage = async (body: AsyncIterable<Buffer>) => {
      const s = await this.snapshots.stage(body, { split: true });
      if (staged.has(s.diffId)) await this.snapshots.discardStaged(s); else staged.set(s.diffId, s);
      return { digest: s.diffId, size: s.tarSize };
    };
    try {
      const res = await readImageArchive(source, this.content, (d) => { this.lease([d]); brought.push(d); }, stage);
      await markCompressedLayers(res.plans, this.content);
      const ids = new Set(res.plans.map((p) => p.config));
      for (const p of res.plans) {
        const parent = p.parent && (ids.has(p.parent) || this.store.has(p.parent)) && p.parent !== p.config ? p.parent : undefined;
        const plan = this.planImage(p.manifest ? { manifest: p.manifest.digest } : { config: p.config, layers: p.layers }, { tags: p.tags, ...(parent ? { parent } : {}) });
        if (plan.configDigest !== p.config) throw invalid(`invalid archive: manifest ${p.manifest?.digest} names config ${plan.configDigest}`);
        this.lease(plan.held);
        plans.push(plan);
      }
      for (const plan of plans) await this.unpackPlan(plan, o.onLayer, undefined, staged);
      for (const plan of plans) await this.flushLayers(plan.chain);
      const messages: string[] = [];
      for (const plan of plans) {
        this.recordPlan(plan, (ref, previous) => {
          if (previous) messages.push(`The image ${familiarize(ref)} already exists, renaming the old one with ID ${previous} to empty string\n`);
          messages.push(`Loaded image: ${familiarize(ref)}\n`);
        });
        if (plan.tags.length === 0) messages.push(`Loaded image ID: ${plan.configDigest}\n`);
        this.publish('load', plan.configDigest, plan.configDigest);
      }
      return messages;
    } catch (e) {
      for (const plan of plans.splice(0)) this.release(plan.held);
      await this.gc();
      throw e;
    } finally {
      for (const plan of plans) this.release(plan.held);
      this.release(brought);
      this.dropUnusedBlobs(brought);
      for (const s of staged.values()) await this.snapshots.discardStaged(s);
    }
  }

  /**
   * Unpacks a plain layer tar on top of image `parent` (or nothing) as it streams, keeping a tar-split
   * recipe instead of the tar: the layer is read once and written once. Returns its diffID and length
   * and the snapshot's name (its chain ID), leased: the caller releases it once an image names it.
   * `entries` (commit) tells whether the layer is empty; an empty one makes no snapshot.
   */
  private async addLayer(parent: ImageRecord | null, tar: AsyncIterable<Uint8Array>, counter?: { entries: number }): Promise<{ diffId: string; size: number; name?: string }> {
    const s = await this.snapshots.stage(tar, { split: true });
    try {
      if (counter && counter.entries === 0) { await this.snapshots.discardStaged(s); return { diffId: s.diffId, size: s.tarSize }; }
      const chain = chainIds([...(parent?.diffIds ?? []), s.diffId]);
      const name = chain[chain.length - 1]!;
      this.lease([name]);
      try {
        if (this.snapshots.exists(name)) await this.snapshots.discardStaged(s);
        else {
          await this.snapshots.commitStaged(name, chain.length > 1 ? chain[chain.length - 2]! : null, s, { sync: false });
          this.unsynced.add(name);
        }
      } catch (e) {
        this.release([name]);
        throw e;
      }
      return { diffId: s.diffId, size: s.tarSize, name };
    } catch (e) {
      await this.snapshots.discardStaged(s);
      throw e;
    }
  }

  /**
   * `docker import`: makes a one-layer image of a root filesystem tar (plain or gzip) and the config
   * `changes` give (CMD, ENV...; see changes.ts). Returns the new image. Nothing is kept on failure.
   */
  async importRootfs(source: AsyncIterable<Uint8Array>, o: ImportOptions = {}): Promise<ImageRecord> {
    const defaults = applyChanges({}, o.changes ?? []);
    const tags = (o.tags ?? []).map((t) => referenceString(parseTagTarget(t)));
    const platform = o.platform ?? hostPlatform();
    if (platform.os !== 'linux') throw invalid(`cannot import a ${platform.os} image on linux`);
    const brought: string[] = [];
    let leased: string | undefined;
    try {
      const added = await this.addLayer(null, source);
      leased = added.name;
      const layer = { digest: added.diffId, size: added.size };
      const created = rfc3339(new Date());
      const message = o.message ?? '';
      const config: ImageConfig = {
        architecture: platform.architecture,
        ...(platform.variant ? { variant: platform.variant } : {}),
        ...(message ? { comment: message } : {}),
        config: defaults,
        created,
        history: [{ created, ...(message ? { comment: message } : {}) }],
        os: platform.os,
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      };
      const cfg = this.content.put(JSON.stringify(config));
      this.lease([cfg.digest]);
      brought.push(cfg.digest);
      const img = await this.createImage({ config: cfg.digest, layers: [{ mediaType: MediaType.OciLayer, digest: layer.digest, size: layer.size }] }, { tags });
      this.publish('import', img.id, img.id);
      return img;
    } catch (e) {
      await this.gc();
      throw e;
    } finally {
      if (leased) this.release([leased]);
      this.release(brought);
      this.dropUnusedBlobs(brought);
    }
  }

  /**
   * `barge image bootstrap`: a Debian base image made by debootstrap from a Debian mirror (see
   * bootstrap.ts), imported as one layer with PATH and CMD ["bash"], tagged `debian:<suite>` (or
   * `o.tag`). An image already tagged so is returned as it is (`existed`) unless `force`.
   */
  async bootstrap(o: BootstrapOptions): Promise<{ image: ImageRecord; existed: boolean; tag: string }> {
    const req = checkRequest(o);
    const tag = referenceString(parseTagTarget(o.tag || `debian:${req.suite}`));
    const have = this.store.lookup(tag);
    if (have !== undefined && !o.force) return { image: this.store.get(have)!, existed: true, tag };
    const onLine = o.onLine ?? (() => undefined);
    const cmd = `debootstrap ${commandLine(req).join(' ')}`;
    const image = await this.bootstrapper.run(req, onLine, o.cancel ?? { cancelled: false }, async (dir) => {
      onLine(`Importing the root filesystem as ${familiarize(tag)}`);
      return this.importRootfs(packDir(dir, { onWarning: (m) => log.warn(m, { bootstrap: tag }) }), {
        tags: [tag],
        changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["bash"]'],
        message: `made by barge with ${cmd}`,
      });
    });
    return { image, existed: false, tag };
  }

  /**
   * `docker commit`: a new image made of the image of container `containerId` plus one layer holding
   * the changes of its writable layer (whiteouts and opaque directories in the OCI format), with
   * `config` as its config and a history entry. The caller pauses a running container if it wants a
   * consistent copy. An empty diff adds no layer (an "empty_layer" history entry, as Docker does).
   */
  async commit(containerId: string, o: CommitOptions): Promise<ImageRecord> {
    const parent = this.store.get(o.imageId);
    if (!parent) throw notFound(`No such image: ${o.imageId}`);
    if (!this.snapshots.exists(containerId)) throw notFound(`container ${containerId} has no writable layer`);
    const tags = (o.tags ?? []).map((t) => referenceString(parseTagTarget(t)));
    const brought: string[] = [];
    this.lease([...chainIds(parent.diffIds), parent.id, ...parent.layers.map((l) => l.digest)]);
    let leased: string | undefined;
    try {
      const counter = { entries: 0 };
      const added = await this.addLayer(parent, this.snapshots.diff(containerId, counter, { clampMtime: o.clampMtime }), counter);
      leased = added.name;
      const layer = { digest: added.diffId, size: added.size };
      const empty = counter.entries === 0;
      const created = o.created ?? rfc3339(new Date());
      const pc = parent.config;
      const history: HistoryEntry = { created, created_by: o.createdBy ?? '' };
      if (o.author) history.author = o.author;
      if (o.comment) history.comment = o.comment;
      if (empty) history.empty_layer = true;
      const config: ImageConfig = {
        architecture: pc.architecture,
        ...(pc.variant ? { variant: pc.variant } : {}),
        ...(o.author ? { author: o.author } : {}),
        config: o.config,
        container: containerId,
        created,
        history: [...(pc.history ?? []), history],
        os: pc.os,
        ...(pc['os.version'] ? { 'os.version': pc['os.version'] } : {}),
        rootfs: { type: 'layers', diff_ids: [...parent.diffIds, ...(empty ? [] : [layer.digest])] },
      };
      const cfg = this.content.put(JSON.stringify(config));
      this.lease([cfg.digest]);
      brought.push(cfg.digest);
      const layers = [...parent.layers, ...(empty ? [] : [{ mediaType: MediaType.OciLayer, digest: layer.digest, size: layer.size }])];
      const img = await this.createImage({ config: cfg.digest, layers }, { tags, parent: parent.id });
      this.publish('create', img.id, img.id);
      return img;
    } catch (e) {
      await this.gc();
      throw e;
    } finally {
      this.release([...chainIds(parent.diffIds), parent.id, ...parent.layers.map((l) => l.digest)]);
      if (leased) this.release([leased]);
      this.release(brought);
      this.dropUnusedBlobs(brought);
    }
  }

  /**
   * A build step that changes only the config (ENV, CMD, LABEL...; Dockerfile builds): the layers of
   * image `parentId` (none when null: FROM scratch) with `config`, and an "empty_layer" history entry
   * (none with `noHistory`, for an empty scratch base). No snapshot is made.
   */
  async commitConfig(parentId: string | null, o: { config: ContainerDefaults; createdBy?: string; comment?: string; author?: string; tags?: string[]; noHistory?: boolean; created?: string }): Promise<ImageRecord> {
    const parent = parentId ? this.store.get(parentId) : undefined;
    if (parentId && !parent) throw notFound(`No such image: ${parentId}`);
    const tags = (o.tags ?? []).map((t) => referenceString(parseTagTarget(t)));
    const held = parent ? [...chainIds(parent.diffIds), parent.id, ...parent.layers.map((l) => l.digest)] : [];
    const brought: string[] = [];
    this.lease(held);
    try {
      const created = o.created ?? rfc3339(new Date());
      const pc = parent?.config;
      const platform = hostPlatform();
      const history: HistoryEntry = { created, created_by: o.createdBy ?? '', empty_layer: true };
      if (o.comment) history.comment = o.comment;
      if (o.author) history.author = o.author;
      const config: ImageConfig = {
        architecture: pc?.architecture ?? platform.architecture,
        ...(pc?.variant ? { variant: pc.variant } : {}),
        ...(o.author ? { author: o.author } : {}),
        config: o.config,
        created,
        history: [...(pc?.history ?? []), ...(o.noHistory ? [] : [history])],
        os: pc?.os ?? platform.os,
        rootfs: { type: 'layers', diff_ids: [...(parent?.diffIds ?? [])] },
      };
      const cfg = this.content.put(JSON.stringify(config));
      this.lease([cfg.digest]);
      brought.push(cfg.digest);
      const img = await this.createImage({ config: cfg.digest, layers: [...(parent?.layers ?? [])] }, { tags, ...(parent ? { parent: parent.id } : {}) });
      return img;
    } finally {
      this.release(held);
      this.release(brought);
      this.dropUnusedBlobs(brought);
    }
  }

  /**
   * `docker image prune`: removes dangling images (no tag), or with `all` every image no container
   * uses, as moby does: untagged images with children are kept, images used by a container are skipped
   * whole, `until` and label filters narrow the set. Returns Docker's report.
   */
  async prune(o: PruneOptions = {}): Promise<{ ImagesDeleted: DeleteResponseItem[] | null; SpaceReclaimed: number }> {
    const sizes = new Map(this.snapshots.list().map((sn) => [sn.name, sn.size] as const));
    const deleted: DeleteResponseItem[] = [];
    const candidates = this.store.all().filter((img) => {
      if (img.repoTags.length + img.repoDigests.length === 0 && this.children(img.id).length > 0) return false;
      if (o.until !== undefined && unixSeconds(img.created) >= o.until) return false;
      return matchLabels(img.config.config?.Labels ?? {}, o.labels ?? [], o.labelsNot ?? []);
    });
    for (const img of candidates) {
      if (!this.store.has(img.id)) continue;
      // An image a container uses keeps all its tags (as Docker's containerd image store does; the
      // graphdriver one untags all but the last).
      if (userOf(this.inUse(img.id))) continue;
      const refs = this.store.refsOf(img.id);
      try {
        if (refs.length > 0) {
          if (!o.all && refs.some((r) => !r.includes('@'))) continue;
          for (const r of refs) if (this.store.lookup(r) === img.id) deleted.push(...await this.remove(familiarize(r)));
        } else {
          deleted.push(...await this.remove(img.id.slice(7)));
        }
      } catch (e) {
        if (!isKind(e, 'conflict') && !isKind(e, 'notFound')) throw e;
      }
    }
    let reclaimed = 0;
    for (const d of deleted) if ('Deleted' in d) reclaimed += sizes.get(d.Deleted) ?? 0;
    if (deleted.length) this.events?.publish('image', 'prune', '', { reclaimed: String(reclaimed) });
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
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

  /**
   * A writable layer `key` directly over image `imageId`, without the init layer: what a build step
   * writes its files into (mount it with `withRootfs`, make it an image with `commit`, drop it with
   * `removeRootfs`). Its mounted view is exactly the image's files.
   */
  prepareLayer(key: string, imageId: string): void {
    const img = this.store.get(imageId) ?? this.resolve(imageId);
    if (this.snapshots.exists(key)) throw conflict(`layer ${key} already exists`);
    const held = img.chainId ? [img.chainId] : [];
    this.lease(held);
    try {
      this.snapshots.prepare(key, img.chainId);
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

  /**
   * Mounts the container's rootfs (overlay) at `target`, an existing directory. Waits while `withRootfs`
   * has the rootfs mounted elsewhere (one overlay mount of a writable layer at a time).
   */
  async mountRootfs(containerId: string, target: string): Promise<void> {
    await this.lockRootfs(containerId, () => this.snapshots.mount(containerId, target));
  }

  /**
   * Runs `fn` with the merged root filesystem of container `containerId` at a directory: `mountedAt`
   * when the rootfs is mounted there (a running container), else a private mount made for `fn` and
   * removed after it. Starting the container waits meanwhile. For export, cp and stat of containers.
   */
  async withRootfs<T>(containerId: string, mountedAt: string | undefined, fn: (dir: string) => Promise<T>): Promise<T> {
    return this.lockRootfs(containerId, async () => {
      if (mountedAt && isMountPoint(path.resolve(mountedAt))) return fn(mountedAt);
      if (!this.snapshots.exists(containerId)) throw notFound(`container ${containerId} has no root filesystem`);
      fs.mkdirSync(this.mntRoot, { recursive: true, mode: 0o700 });
      const dir = path.join(this.mntRoot, `${containerId.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
      fs.mkdirSync(dir, { mode: 0o700 });
      try {
        await this.snapshots.mount(containerId, dir);
        try {
          return await fn(dir);
        } finally {
          await this.snapshots.unmount(dir);
        }
      } finally {
        try { fs.rmdirSync(dir); } catch (e) { log.warn('temporary rootfs mount point left behind', { dir, err: (e as Error).message }); }
      }
    });
  }

  private lockRootfs<T>(containerId: string, fn: () => Promise<T>): Promise<T> {
    return this.rootfsLocks.run(containerId, fn);
  }

  /** Where withRootfs mounts stopped containers' filesystems. */
  private get mntRoot(): string {
    return path.join(this.dataRoot, 'mnt');
  }

  /** Unmounts and removes what a killed barged left in the temporary mount directory. */
  private cleanMounts(): void {
    if (!fs.existsSync(this.mntRoot)) return;
    for (const m of mountsUnder(this.mntRoot)) {
      try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch (e) { log.warn('cannot unmount leftover rootfs mount', { m, err: (e as Error).message }); }
    }
    for (const name of fs.readdirSync(this.mntRoot)) {
      try { fs.rmdirSync(path.join(this.mntRoot, name)); } catch (e) { log.warn('leftover rootfs mount point not removed', { name, err: (e as Error).message }); }
    }
  }

  /** Unmounts a rootfs; fine if it is not mounted. */
  async unmountRootfs(target: string): Promise<void> {
    await this.snapshots.unmount(target);
  }

  /** Deletes the container's layers (unmount first), then layers of deleted images no one needs. */
  async removeRootfs(containerId: string): Promise<void> {
    // Waits for a withRootfs in progress (an export or cp of a stopped container) to finish.
    await this.lockRootfs(containerId, async () => {
      if (this.snapshots.exists(containerId)) await this.snapshots.remove(containerId);
    });
    if (this.snapshots.exists(initKey(containerId))) await this.snapshots.remove(initKey(containerId));
    await this.gc();
  }

  /**
   * Removes the writable layers (and init layers) whose key starts with `prefix` that no container
   * owns: what a killed build left (builds name their private layers "build-..."). Returns the keys.
   */
  async removeRootfsWithPrefix(prefix: string): Promise<string[]> {
    if (!prefix) throw invalid('a prefix is required');
    const keys = this.snapshots.list().filter((sn) => sn.kind === 'active' && sn.name.startsWith(prefix)).map((sn) => sn.name);
    for (const k of keys) await this.removeRootfs(k);
    return keys;
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

  /** Every blob some image needs (configs, manifests, layers). */
  private usedBlobs(): Set<string> {
    const used = new Set<string>();
    for (const other of this.store.all()) {
      used.add(other.id);
      if (other.manifest) used.add(other.manifest.digest);
      for (const l of other.layers) used.add(l.digest);
    }
    return used;
  }

  /** Deletes those of `digests` that no image needs and no operation holds. */
  private dropUnusedBlobs(digests: Iterable<string>): void {
    const used = this.usedBlobs();
    for (const d of new Set(digests)) if (!used.has(d) && !this.leases.has(d)) this.content.delete(d);
  }

  /**
   * At open: deletes blobs no image needs, which a load, import or commit killed half-way left behind
   * (images are recorded after their blobs). Every blob in the content store belongs to some image.
   */
  private collectBlobs(): void {
    const used = this.usedBlobs();
    let n = 0;
    for (const b of this.content.list()) if (!used.has(b.digest)) { this.content.delete(b.digest); n++; }
    if (n) log.info('removed blobs no image uses', { count: n });
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

/** Docker's label filters: every `label` (k or k=v) matches, no `label!` does. */
export function matchLabels(labels: Record<string, string>, want: string[], not: string[]): boolean {
  const has = (f: string) => {
    const i = f.indexOf('=');
    const k = i < 0 ? f : f.slice(0, i);
    return Object.prototype.hasOwnProperty.call(labels, k) && (i < 0 || labels[k] === f.slice(i + 1));
  };
  return want.every(has) && !not.some(has);
}

/** Go's path.Match: "*" and "?" do not match "/", [...] classes. */
function pathMatch(pattern: string, s: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += '\\' + pattern[++i];
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/\\/g, '\\\\');
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  try { return new RegExp(`^${re}$`).test(s); } catch { return false; }
}

/** distribution/reference FamiliarMatch: the pattern against "name:tag", then against "name". */
function familiarMatch(pattern: string, familiar: string): boolean {
  if (pathMatch(pattern, familiar)) return true;
  const name = familiar.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  return pathMatch(pattern, name);
}

/** Docker's timestamps: unix seconds (with fraction), RFC 3339 dates, or durations before now ("10m"). */
export function parseTimestamp(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const d = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (d) return Date.now() / 1000 - Number(d[1]) * { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }[d[2] as 'ns'];
  const t = Date.parse(v);
  if (!Number.isNaN(t)) return t / 1000;
  throw invalid(`invalid time value: ${v}`);
}

/** RFC 3339 with nanosecond digits as Go writes them ("2024-05-01T10:00:00.123456789Z"). */
function rfc3339(d: Date): string {
  const ns = String(process.hrtime.bigint() % 1000000n).padStart(6, '0');
  return d.toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}${ns}`.replace(/0+$/, '').replace(/\.$/, '') + 'Z');
}
