// BuildService: what the daemon and the API see of builds. It owns the build cache and the scratch
// area (<dataRoot>/build/tmp, emptied at start: a killed build leaves nothing that matters), and
// composes the context reader and the builder:
//   const id = await builds.build(requestBody, options, (msg) => res.write(JSON.stringify(msg)))
//   await builds.prune()          // docker builder prune: cache entries and the images only they kept
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageService } from '../image/service.js';
import type { ContainerService } from '../container/service.js';
import { BuildCache } from './cache.js';
import { contextFromDir, receiveContext } from './context.js';
import { SyncedContexts, parseManifest } from './synccontext.js';
import { Builder, BUILD_LABEL, BUILD_LAYER_PREFIX, type BuildMessage, type BuildOptions } from './builder.js';
import { log } from '../lib/log.js';
import { messageOf } from '../lib/errors.js';

export type { BuildMessage, BuildOptions } from './builder.js';
export { BuildError } from './builder.js';

export interface PruneResult { CachesDeleted: string[] | null; SpaceReclaimed: number }

export class BuildService {
  private readonly cache: BuildCache;
  private readonly builder: Builder;
  private readonly tmpRoot: string;
  private readonly synced: SyncedContexts;

  constructor(dataRoot: string, private readonly images: ImageService, private readonly containers: ContainerService) {
    this.cache = BuildCache.open(dataRoot);
    this.tmpRoot = path.join(dataRoot, 'build', 'tmp');
    fs.rmSync(this.tmpRoot, { recursive: true, force: true });
    fs.mkdirSync(this.tmpRoot, { recursive: true, mode: 0o700 });
    this.builder = new Builder({ images, containers, cache: this.cache, tmpRoot: this.tmpRoot });
    this.synced = new SyncedContexts(path.join(dataRoot, 'build', 'contexts'));
  }

  /**
   * Removes what a killed barged left of builds: step containers (labelled) and private layers.
   * Called once at start, after the container service has recovered.
   */
  async recover(): Promise<void> {
    for (const c of this.containers.store.all()) {
      if (c.Config.Labels?.[BUILD_LABEL] === undefined) continue;
      await this.containers.remove(c.Id, { force: true }).catch((e) => log.warn('leftover build container not removed', { id: c.Id, err: messageOf(e) }));
    }
    const keys = await this.images.removeRootfsWithPrefix(BUILD_LAYER_PREFIX);
    if (keys.length) log.info('removed layers of interrupted builds', { count: keys.length });
  }

  /** Step 1 of a synced context (synccontext.ts): which files of this manifest must come. */
  contextNeeds(key: string, manifest: unknown): Promise<string[]> {
    return this.synced.need(key, parseManifest(manifest));
  }

  /**
   * Builds from a request body (a context tar, plain or gzip, or a Dockerfile alone), or, with
   * `contextKey`, from a synced context whose changes the body carries.
   */
  async build(body: AsyncIterable<Uint8Array>, o: BuildOptions, emit: (m: BuildMessage) => void, contextKey?: string): Promise<string> {
    if (contextKey !== undefined) {
      return this.synced.withSynced(contextKey, body, (dir, hashOf) => contextFromDir(dir, o.dockerfile || 'Dockerfile', hashOf), (ctx) => this.builder.build(ctx, o, emit));
    }
    const ctx = await receiveContext(body, this.tmpRoot, o.dockerfile || 'Dockerfile');
    try {
      return await this.builder.build(ctx, o, emit);
    } finally {
      ctx.close();
    }
  }

  /** The build cache's size: the layers of images that only the cache keeps (system df). */
  usage(): { count: number; size: number; entries: { id: string; size: number; created: string; lastUsed: string }[] } {
    const entries = this.cache.all().map(([, e]) => {
      const img = this.images.get(e.id);
      const parent = img?.parent ? this.images.get(img.parent) : undefined;
      return { id: e.id, size: img ? Math.max(0, img.size - (parent?.size ?? 0)) : 0, created: e.created, lastUsed: e.lastUsed };
    });
    return { count: entries.length, size: entries.reduce((n, e) => n + e.size, 0), entries };
  }

  /** GET /system/df's BuildCache records (Docker's BuildCache shape) and their total size. */
  dfEntries(): { BuildCache: unknown[]; BuilderSize: number } {
    const u = this.usage();
    const inUse = new Set(this.containers.store.all().map((c) => c.Image));
    return {
      BuildCache: u.entries.map((e) => {
        const img = this.images.get(e.id);
        return {
          ID: e.id.replace(/^sha256:/, '').slice(0, 25), Parents: img?.parent ? [img.parent.replace(/^sha256:/, '').slice(0, 25)] : null,
          Type: 'regular', Description: (img?.config.history ?? []).at(-1)?.created_by ?? '', InUse: inUse.has(e.id),
          Shared: !!img && (img.repoTags.length > 0 || this.images.children(e.id).length > 0), Size: e.size,
          CreatedAt: e.created, LastUsedAt: e.lastUsed, UsageCount: 1,
        };
      }),
      BuilderSize: u.size,
    };
  }

  /**
   * docker builder prune: drops every cache entry (or those last used before `until`, unix seconds),
   * then removes the images they kept that nothing else needs (untagged, unused, without children),
   * children first.
   */
  async prune(o: { until?: number } = {}): Promise<PruneResult> {
    if (o.until === undefined) await this.synced.clear();
    const ids = new Set(this.cache.clear(o.until));
    const kept = this.cache.images();
    const deleted: string[] = [];
    let reclaimed = 0;
    for (let progress = true; progress;) {
      progress = false;
      for (const id of ids) {
        const img = this.images.get(id);
        if (!img) { ids.delete(id); continue; }
        if (img.repoTags.length || img.repoDigests.length || this.images.children(id).length) continue;
        const parent = img.parent ? this.images.get(img.parent) : undefined;
        const size = Math.max(0, img.size - (parent?.size ?? 0));
        try {
          await this.images.remove(id);
          deleted.push(id);
          reclaimed += size;
          ids.delete(id);
          progress = true;
          // Its untagged parent (an earlier step, or the empty base of FROM scratch) may now go too.
          if (parent && !parent.repoTags.length && !parent.repoDigests.length && !kept.has(parent.id)) ids.add(parent.id);
        } catch {
          ids.delete(id); // in use by a container: keep it
        }
      }
    }
    return { CachesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }
}
