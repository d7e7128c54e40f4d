// Image metadata: which images exist and which references (tags and digests) name them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanTempFiles, readJsonOr, writeJsonAtomic } from '../lib/fsutil.js';
import { log } from '../lib/log.js';
import { isDigest } from '../content/digest.js';
import type { ContentStore } from '../content/store.js';
import { MAX_JSON_BLOB, parseConfig, type Descriptor, type ImageConfig } from './oci.js';
import { familiarize, parseNormalizedNamed } from './reference.js';

/** What is persisted about an image; its config stays in the content store (its digest is the ID). */
export interface StoredImage {
  /** "sha256:<hex>": the digest of the image config blob. */
  id: string;
  /** The manifest the image came from, when there is one in the content store. */
  manifest?: Descriptor;
  /** The layer blobs in the content store, bottom first (compressed as they came). */
  layers: Descriptor[];
  /** Uncompressed layer digests, bottom first (config rootfs.diff_ids). */
  diffIds: string[];
  /** Chain ID of the top layer: the committed snapshot a container's rootfs stacks on; null if none. */
  chainId: string | null;
  /** Bytes of file data in all layers. */
  size: number;
  /** Parent image ID for images built locally, else "". */
  parent: string;
  /** RFC 3339 time the image was last tagged locally. */
  lastTagTime?: string;
}

/** An image as the rest of barge sees it. */
export interface ImageRecord extends StoredImage {
  /** Normalised tag references naming the image ("docker.io/library/busybox:latest"), sorted. */
  repoTags: string[];
  /** Normalised digest references ("docker.io/library/busybox@sha256:..."), sorted. */
  repoDigests: string[];
  /** The parsed OCI image config. */
  config: ImageConfig;
  /** config.created, or "" when the image does not say. */
  created: string;
}

interface Db {
  version: 1;
  images: Record<string, StoredImage>;
  /** Normalised reference -> image ID. A reference names exactly one image. */
  refs: Record<string, string>;
}

/**
 * ImageStore keeps image records and the references that name them, in memory and in one JSON file
 * written atomically, so that an image and its tags change together or not at all.
 *
 * Terms
 *  - An *image* is known by its *ID*, the digest of its config blob (kept in the content store).
 *  - A *reference* is a normalised name with a tag ("docker.io/library/busybox:latest") or a digest
 *    ("docker.io/library/busybox@sha256:<manifest digest>"); it names one image, an image may have many.
 *  - An image without references is *dangling* ("<none>:<none>").
 *
 * Lifecycle: `add` an image once its layers are unpacked; `setRef` to tag it (moving the tag from any
 * other image); `deleteRef` to untag; `delete` drops the image and its references. Its snapshots and
 * blobs are the caller's to release afterwards, so a crash in between leaves only garbage, never a
 * record pointing at nothing.
 *
 * On disk: `<dataRoot>/image/db.json`.
 */
export class ImageStore {
  private readonly file: string;
  private db: Db = { version: 1, images: {}, refs: {} };
  private configs = new Map<string, ImageConfig>();

  private constructor(dir: string, private readonly content: ContentStore) {
    this.file = path.join(dir, 'db.json');
  }

  /** Loads the records; images whose config blob is missing or corrupt are dropped (logged). */
  static open(dir: string, content: ContentStore): ImageStore {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    cleanTempFiles(dir);
    const s = new ImageStore(dir, content);
    const db = readJsonOr<Db | null>(s.file, null);
    if (db && db.version === 1 && typeof db.images === 'object' && typeof db.refs === 'object') s.db = db;
    let changed = false;
    for (const id of Object.keys(s.db.images)) {
      try {
        if (!isDigest(id)) throw new Error('bad id');
        s.configs.set(id, s.loadConfig(id));
      } catch (e) {
        log.warn('dropping image record with an unreadable config', { id, err: (e as Error).message });
        delete s.db.images[id];
        changed = true;
      }
    }
    for (const [ref, id] of Object.entries(s.db.refs)) {
      if (!s.db.images[id]) { delete s.db.refs[ref]; changed = true; }
    }
    if (changed) s.save();
    return s;
  }

  private loadConfig(id: string): ImageConfig {
    if (this.content.info(id).size > MAX_JSON_BLOB) throw new Error('config too large');
    return parseConfig(this.content.read(id));
  }

  private save(): void {
    writeJsonAtomic(this.file, this.db, 0o600);
  }

  has(id: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.db.images, id);
  }

  get(id: string): ImageRecord | undefined {
    if (!this.has(id)) return undefined;
    const stored = this.db.images[id]!;
    const refs = this.refsOf(id);
    const config = this.configs.get(id)!;
    return {
      ...stored,
      repoTags: refs.filter((r) => !r.includes('@')),
      repoDigests: refs.filter((r) => r.includes('@')),
      config,
      created: typeof config.created === 'string' ? config.created : '',
    };
  }

  all(): ImageRecord[] {
    return Object.keys(this.db.images).map((id) => this.get(id)!);
  }

  /** Adds (or replaces) an image record; its config must already be in the content store. */
  add(img: StoredImage): ImageRecord {
    this.configs.set(img.id, this.loadConfig(img.id));
    this.db.images[img.id] = img;
    this.save();
    return this.get(img.id)!;
  }

  /** Removes an image and every reference to it. */
  delete(id: string): void {
    delete this.db.images[id];
    for (const [ref, target] of Object.entries(this.db.refs)) if (target === id) delete this.db.refs[ref];
    this.configs.delete(id);
    this.save();
  }

  /** The image a normalised reference names. */
  lookup(ref: string): string | undefined {
    return Object.prototype.hasOwnProperty.call(this.db.refs, ref) ? this.db.refs[ref] : undefined;
  }

  /** Points a normalised reference at an image; returns the image it named before, if another. */
  setRef(ref: string, id: string, tagTime = new Date().toISOString()): string | undefined {
    const before = this.lookup(ref);
    this.db.refs[ref] = id;
    if (!ref.includes('@')) this.db.images[id]!.lastTagTime = tagTime;
    this.save();
    return before !== id ? before : undefined;
  }

  /** Removes a reference; false if it did not exist. */
  deleteRef(ref: string): boolean {
    if (this.lookup(ref) === undefined) return false;
    delete this.db.refs[ref];
    this.save();
    return true;
  }

  /** Normalised references naming an image, sorted by their familiar form as Docker lists them. */
  refsOf(id: string): string[] {
    return Object.entries(this.db.refs)
      .filter(([, target]) => target === id)
      .map(([ref]) => ref)
      .sort((a, b) => (familiarize(a) < familiarize(b) ? -1 : familiarize(a) > familiarize(b) ? 1 : 0));
  }

  /** IDs starting with `prefix` (hex digits, with or without "sha256:"). */
  searchPrefix(prefix: string): string[] {
    const hex = prefix.startsWith('sha256:') ? prefix.slice(7) : prefix;
    if (!/^[a-f0-9]{1,64}$/.test(hex)) return [];
    return Object.keys(this.db.images).filter((id) => id.startsWith('sha256:' + hex));
  }
}

/** Whether a normalised reference is by digest. */
export function isDigestRef(ref: string): boolean {
  return parseNormalizedNamed(ref).digest !== undefined;
}
