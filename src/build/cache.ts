// The build cache: which image a build step produced, by the step's cache key.
//
// A key is the sha256 of everything the step's result depends on (builder.ts `stepKey`): the parent
// image ID, the instruction after substitution, the build args in scope, and for COPY/ADD the checksum
// of the sources' contents and metadata. Since the parent is part of the key, a changed step changes
// every key after it, and none before. An entry is only a pointer: the image it names is an ordinary
// (usually untagged, intermediate) image, and an entry whose image is gone is a miss and is dropped.
//
// On disk: <dataRoot>/build/cache.json, { version, entries: { key: { id, created, lastUsed } }, retired },
// rewritten atomically after each step that ran (and at the end of a build that only used it), so it
// survives a daemon restart or a kill.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonOr, writeJsonAtomic } from '../lib/fsutil.js';

export interface CacheEntry {
  /** The image the step produced. */
  id: string;
  /** RFC 3339 times. */
  created: string;
  lastUsed: string;
}

interface CacheFile { version: 1; entries: Record<string, CacheEntry>; retired?: string[] }

export class BuildCache {
  private entries: Map<string, CacheEntry>;
  /** Images an entry pointed at before a rebuild (--no-cache) replaced them: pruned with the cache. */
  private retired: Set<string>;
  private dirty = false;

  private constructor(private readonly file: string, entries: Record<string, CacheEntry>, retired: string[]) {
    this.entries = new Map(Object.entries(entries));
    this.retired = new Set(retired);
  }

  static open(dataRoot: string): BuildCache {
    const dir = path.join(dataRoot, 'build');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const data = readJsonOr<CacheFile>(path.join(dir, 'cache.json'), { version: 1, entries: {} });
    const ok = data.version === 1 && data.entries;
    return new BuildCache(path.join(dir, 'cache.json'), ok ? data.entries : {}, ok && Array.isArray(data.retired) ? data.retired : []);
  }

  /** The image of key `key`, if `exists(id)` still says so (else the entry is dropped). */
  get(key: string, exists: (id: string) => boolean): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (!exists(e.id)) { this.entries.delete(key); this.dirty = true; return undefined; }
    e.lastUsed = new Date().toISOString();
    return e.id;
  }

  set(key: string, id: string): void {
    const now = new Date().toISOString();
    const old = this.entries.get(key);
    if (old && old.id !== id) this.retired.add(old.id);
    this.retired.delete(id);
    this.entries.set(key, { id, created: now, lastUsed: now });
    this.dirty = true;
    this.flush(); // a step that ran is worth a write: a kill -9 later in the build keeps it
  }

  /** Every image some entry points at. */
  images(): Set<string> {
    return new Set([...this.entries.values()].map((e) => e.id));
  }

  all(): [string, CacheEntry][] {
    return [...this.entries];
  }

  /**
   * Drops every entry (with `before`, only those last used before that time, unix seconds); returns
   * the images they (and replaced entries) pointed at.
   */
  clear(before?: number): string[] {
    const ids = new Set(this.retired);
    for (const [k, e] of this.entries) {
      if (before !== undefined && Date.parse(e.lastUsed) / 1000 >= before) continue;
      ids.add(e.id);
      this.entries.delete(k);
    }
    // An image a kept entry still points at is not the cache's to drop.
    for (const e of this.entries.values()) ids.delete(e.id);
    if (ids.size || this.retired.size) this.dirty = true;
    this.retired.clear();
    this.flush();
    return [...ids];
  }

  /** Writes the cache if it changed. */
  flush(): void {
    if (!this.dirty) return;
    writeJsonAtomic(this.file, { version: 1, entries: Object.fromEntries(this.entries), retired: [...this.retired] } satisfies CacheFile, 0o600);
    this.dirty = false;
  }
}
