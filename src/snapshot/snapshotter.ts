// The snapshotter: layer filesystems, stored once and stacked with overlayfs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { conflict, invalid, notFound } from '../lib/errors.js';
import { cleanTempFiles, fsyncDir, readJsonOr, writeJsonAtomic } from '../lib/fsutil.js';
import { log } from '../lib/log.js';
import { MAX_MOUNT_OPTIONS, mountOverlay, unmount } from './mount.js';
import { OPAQUE_XATTR, getXattrs, syncFilesystem as syncFs } from './sysops.js';
import { ThreadUnpack, pump, type UnpackWriter } from './unpackpool.js';
import { joinTarSplit } from './tarsplit.js';
import { kept, type Lent } from '../lib/lentread.js';
import { listTree, packDir } from './tarfs.js';

export type SnapshotKind = 'committed' | 'active';

export interface SnapshotInfo {
  kind: SnapshotKind;
  /** The snapshot's name (committed) or key (active). */
  name: string;
  /** The committed snapshot it stacks on; null for a base layer or an active snapshot from scratch. */
  parent: string | null;
  /** RFC 3339 time of creation. */
  created: string;
  /** Committed: bytes of file data in this layer alone. Active: 0 (see `usage`). */
  size: number;
  /** Committed image layers: the diffID the layer was verified against. */
  diffId?: string;
  /** Committed image layers: the length of the uncompressed layer tar (what `docker save` writes). */
  tarSize?: number;
  /** A tar-split recipe is kept: `layerTar` streams the layer's tar. */
  split?: boolean;
}

/** Docker's container-diff kinds (GET /containers/{id}/changes). */
export const ChangeKind = { Modified: 0, Added: 1, Deleted: 2 } as const;
export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

export interface Usage {
  /** Bytes of file data (hardlinked files counted once), like `docker ps -s` SizeRw. */
  size: number;
  inodes: number;
}

/**
 * Snapshotter manages the filesystems containers run on, as stacks of overlayfs layers.
 *
 * Terms
 *  - A *committed* snapshot is a read-only layer known by its *name*. For image layers the name is
 *    the OCI chain ID of the stack that the layer completes, so two images sharing their first n layers
 *    share n committed snapshots, each unpacked once:
 *        chainID(L0) = diffID(L0);  chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln))
 *    A committed snapshot holds only its own layer's files, in overlayfs's format (whiteouts are
 *    character devices 0/0, opaque directories carry trusted.overlay.opaque=y), and names its *parent*.
 *  - An *active* snapshot is a writable layer known by its *key* (barge uses the container ID), over a
 *    committed parent: the container's writes land in its upper directory.
 *  - A *parent* is always committed, and a snapshot with children cannot be removed.
 *  - *Mounting* an active snapshot stacks its parent chain as overlay lowerdirs under its upper dir.
 *
 * Lifecycle
 *  1. Importing a base layer L0 (diffID d0):
 *       await sn.importLayer(c0 = d0, null, tarStream, { diffId: d0 })
 *     unpacks into a private temporary directory, checks the diffID, and only then renames the
 *     directory into place and records it: a snapshot is visible whole or not at all.
 *  2. Stacking the next layer L1 (diffID d1):
 *       await sn.importLayer(c1 = sha256(c0 + " " + d1), c0, tarStream, { diffId: d1 })
 *     If c1 already exists (another image has the same stack), nothing is unpacked.
 *  3. Running a container on the image whose top chain ID is c1:
 *       sn.prepare(containerId, c1)            // empty upper + work dirs
 *       await sn.mount(containerId, rootfs)    // overlay: lowerdir=<c1>:<c0>, upperdir, workdir
 *       ... the container runs ...
 *       await sn.unmount(rootfs)
 *       await sn.changes(containerId)          // docker diff: what the container added, changed, deleted
 *       await sn.remove(containerId)           // then c1 and c0 may be removed once no image needs them
 *  4. A layer whose name is known only once read (load: the manifest comes last; commit: the chain ID
 *     needs the diffID of the diff being made), kept without its tar:
 *       const s = await sn.stage(tarStream, { split: true })   // unpacked, hashed, recipe kept
 *       await sn.commitStaged(chainId(c1, s.diffId), c1, s)    // or sn.discardStaged(s)
 *       for await (const b of sn.layerTar(name)) ...           // the very same tar again (save, push)
 *
 * On disk (`<root>` is `<dataRoot>/snapshots`, mode 0700 since layers hold setuid files):
 *   db.json           every snapshot: name/key -> { id, kind, parent, ... }, and the next id
 *   <id>/fs           the layer's files (committed) or the upper dir (active)
 *   <id>/work         overlay's work dir (active)
 *   <id>/empty        an empty lowerdir for an active snapshot without parent
 *   <id>/split.*      the tar-split recipe of a layer imported with `split` (tarsplit.ts)
 *   .tmp-*            unpacks and removals in progress
 * Directories are short numbers so that deep stacks fit overlay's one-page option string: the mount
 * runs in <root> with relative lowerdirs ("12/fs:7/fs:3/fs").
 *
 * Crash safety: a directory is complete before it is renamed to its id, and it is recorded in db.json
 * (written atomically) after that; removal drops the record first. `open` deletes `.tmp-*` and every id
 * directory db.json does not know, so a kill -9 at any point leaves no half-made snapshot visible.
 */
export interface Snapshotter {
  /** The snapshot named `key`; throws `notFound`. */
  stat(key: string): SnapshotInfo;
  exists(key: string): boolean;
  list(): SnapshotInfo[];
  /**
   * Creates committed snapshot `name` over `parent` by unpacking a layer tarball (gzip or plain).
   * Returns the existing snapshot without reading `layer` if `name` exists; concurrent imports of one
   * name share the work. `parent` may still be being imported: the layer is unpacked meanwhile and
   * committed once its parent is (a pull unpacks layers side by side this way).
   */
  importLayer(name: string, parent: string | null, layer: AsyncIterable<Uint8Array>, opts?: ImportOptions): Promise<SnapshotInfo>;
  /** importLayer in two steps, for a layer whose name is known only once it is read (see StagedLayer). */
  stage(layer: AsyncIterable<Uint8Array>, opts?: ImportOptions): Promise<StagedLayer>;
  /**
   * `stage` for a caller that has the bytes in hand rather than as an iterable (a pull, from its socket):
   * write them to `writer` (copied at once; on false, await drained()), then end() — or abort() — it;
   * `staged` settles as stage's promise does.
   */
  stageWriter(opts?: ImportOptions): { writer: LayerWriter; staged: Promise<StagedLayer> };
  commitStaged(name: string, parent: string | null, staged: StagedLayer, opts?: { sync?: boolean }): Promise<SnapshotInfo>;
  discardStaged(staged: StagedLayer): Promise<void>;
  /** The layer tar of a snapshot imported with `split`, rebuilt from its files; and which snapshot has one for a diffID. */
  layerTar(name: string): AsyncGenerator<Buffer>;
  /** `layerTar` with its files' bytes lent (lentread.ts): for a reader that releases each chunk once it is done with it (a push's socket writer). */
  layerTarLent(name: string): AsyncGenerator<Lent>;
  findSplit(diffId: string): string | undefined;
  /**
   * What `p` (a path inside the image, "/etc/hosts") is in the merged view of committed snapshot
   * `name` and its parents, without following symlinks; undefined if absent or whited out.
   */
  statPath(name: string | null, p: string): fs.Stats | undefined;
  /** The directories holding the files of `name` and its parents, top first (for GraphDriver data). */
  layerPaths(name: string): string[];
  /** Creates active snapshot `key` over committed `parent`; `conflict` if `key` exists. */
  prepare(key: string, parent: string | null): SnapshotInfo;
  /** Mounts active snapshot `key` at `target` (an existing directory). */
  mount(key: string, target: string): Promise<void>;
  /** Unmounts whatever `mount` put at `target`; not mounted is not an error. */
  unmount(target: string): Promise<void>;
  /** Docker's diff of an active snapshot against its parents, in path order. */
  changes(key: string): Promise<Change[]>;
  /**
   * The changes of active snapshot `key` as an uncompressed OCI layer tar (layer.md): the files of its
   * upper directory, overlayfs whiteouts turned into ".wh.<name>" entries and opaque directories marked
   * with ".wh..wh..opq". `counter.entries` tells how many entries were written (0: an empty layer).
   */
  diff(key: string, counter?: { entries: number }, o?: { clampMtime?: number }): AsyncIterable<Buffer>;
  /** Disk use of a snapshot's own directory (walked without blocking). */
  usage(key: string): Promise<Usage>;
  /** Removes a snapshot; `conflict` if it has children (or an import on it is under way). */
  remove(key: string): Promise<void>;
}

export interface ImportOptions {
  /** The layer's expected diffID; a mismatch fails the import. */
  diffId?: string;
  /** Flush the filesystem before recording the snapshot (default true; skip for throwaway layers). */
  sync?: boolean;
  /**
   * Keep a tar-split recipe (tarsplit.ts): `layerTar` can then stream the exact layer tar again, and
   * the caller need not keep the tar in the content store.
   */
  split?: boolean;
  /** The sha256 the layer's bytes as given (compressed) must hash to (see ThreadUnpackOptions.inputDigest). */
  inputDigest?: string;
}

/** Where a layer being staged is written to (see Snapshotter.stageWriter). */
export type LayerWriter = UnpackWriter;

/** A layer unpacked into a private directory, not yet a snapshot (`stage`, then `commitStaged` or `discardStaged`). */
export interface StagedLayer {
  readonly dir: string;
  readonly diffId: string;
  readonly size: number;
  readonly tarSize: number;
  readonly split: boolean;
}

interface Record_ {
  id: number;
  kind: SnapshotKind;
  parent: string | null;
  created: string;
  size: number;
  diffId?: string;
  tarSize?: number;
  /** A tar-split recipe is kept (layerTar works). */
  split?: boolean;
}

interface Db {
  version: 1;
  nextId: number;
  snapshots: Record<string, Record_>;
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,254}$/;

function checkKey(key: string): string {
  if (typeof key !== 'string' || !KEY_RE.test(key)) throw invalid(`invalid snapshot key ${JSON.stringify(key)}`);
  return key;
}

function syncFilesystem(dir: string): Promise<void> {
  return syncFs(dir, (m, err) => log.warn(m, { dir, err }));
}

export class OverlaySnapshotter implements Snapshotter {
  private readonly dbFile: string;
  private db: Db;
  private readonly inflight = new Map<string, Promise<SnapshotInfo>>();
  private readonly pendingParents = new Map<string, number>();

  private constructor(readonly root: string) {
    this.dbFile = path.join(root, 'db.json');
    this.db = { version: 1, nextId: 1, snapshots: {} };
  }

  /** Opens the snapshotter at `root`, discarding whatever an interrupted operation left behind. */
  static open(root: string): OverlaySnapshotter {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    fs.chmodSync(root, 0o700);
    const s = new OverlaySnapshotter(root);
    const db = readJsonOr<Db | null>(s.dbFile, null);
    if (db && db.version === 1 && typeof db.snapshots === 'object' && Number.isSafeInteger(db.nextId)) s.db = db;
    cleanTempFiles(root);
    const known = new Set(Object.values(s.db.snapshots).map((r) => String(r.id)));
    for (const name of fs.readdirSync(root)) {
      if (/^\d+$/.test(name) && !known.has(name)) {
        log.info('removing unrecorded snapshot directory', { dir: path.join(root, name) });
        fs.rmSync(path.join(root, name), { recursive: true, force: true });
      }
    }
    // Records whose directory vanished (or whose parent did) cannot be mounted: forget them.
    let dropped = true;
    let changed = false;
    while (dropped) {
      dropped = false;
      for (const [name, r] of Object.entries(s.db.snapshots)) {
        const orphan = (r.parent !== null && !s.db.snapshots[r.parent]) || !fs.existsSync(path.join(root, String(r.id)));
        if (orphan) {
          log.warn('dropping broken snapshot record', { name });
          delete s.db.snapshots[name];
          fs.rmSync(path.join(root, String(r.id)), { recursive: true, force: true });
          dropped = changed = true;
        }
      }
    }
    for (const r of Object.values(s.db.snapshots)) if (r.id >= s.db.nextId) { s.db.nextId = r.id + 1; changed = true; }
    if (changed) s.save();
    return s;
  }

  /**
   * durable=false for changes to active snapshots only (a container's rootfs): their upper dirs are
   * not synced either, and a later durable save flushes the file. Committed layers change only
   * through durable saves, so a power cut can never leave a record of a layer that is not there.
   */
  private save(durable = true): void {
    writeJsonAtomic(this.dbFile, this.db, 0o600, durable);
  }

  private rec(key: string): Record_ {
    const r = Object.prototype.hasOwnProperty.call(this.db.snapshots, key) ? this.db.snapshots[key] : undefined;
    if (!r) throw notFound(`snapshot ${key} does not exist`);
    return r;
  }

  private info(name: string, r: Record_): SnapshotInfo {
    const i: SnapshotInfo = { kind: r.kind, name, parent: r.parent, created: r.created, size: r.size };
    if (r.diffId) i.diffId = r.diffId;
    if (r.tarSize !== undefined) i.tarSize = r.tarSize;
    if (r.split) i.split = true;
    return i;
  }

  private dir(r: Record_): string {
    return path.join(this.root, String(r.id));
  }

  stat(key: string): SnapshotInfo {
    return this.info(key, this.rec(key));
  }

  exists(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.db.snapshots, key);
  }

  list(): SnapshotInfo[] {
    return Object.entries(this.db.snapshots).map(([n, r]) => this.info(n, r));
  }

  /** The committed chain under and including `name`, top first. */
  private chain(name: string | null): Record_[] {
    const out: Record_[] = [];
    for (let n = name; n !== null; n = this.rec(n).parent) {
      out.push(this.rec(n));
      if (out.length > 10000) throw invalid('snapshot parent chain is cyclic');
    }
    return out;
  }

  private requireCommitted(parent: string | null): void {
    if (parent === null) return;
    const r = this.rec(parent);
    if (r.kind !== 'committed') throw invalid(`snapshot ${parent} is active: a parent must be committed`);
  }

  async importLayer(name: string, parent: string | null, layer: AsyncIterable<Uint8Array>, opts: ImportOptions = {}): Promise<SnapshotInfo> {
    checkKey(name);
    if (this.exists(name)) return this.stat(name);
    const running = this.inflight.get(name);
    if (running) return running;
    // A parent still being imported is fine: this layer is unpacked meanwhile and committed after it.
    if (parent === null || !this.inflight.has(parent)) this.requireCommitted(parent);
    const work = this.doImport(name, parent, layer, opts);
    this.inflight.set(name, work);
    if (parent !== null) this.pendingParents.set(parent, (this.pendingParents.get(parent) ?? 0) + 1);
    try {
      return await work;
    } finally {
      this.inflight.delete(name);
      if (parent !== null) {
        const n = (this.pendingParents.get(parent) ?? 1) - 1;
        if (n <= 0) this.pendingParents.delete(parent); else this.pendingParents.set(parent, n);
      }
    }
  }

  private async doImport(name: string, parent: string | null, layer: AsyncIterable<Uint8Array>, opts: ImportOptions): Promise<SnapshotInfo> {
    const staged = await this.stage(layer, { ...opts, label: name });
    try {
      const parentImport = parent === null ? undefined : this.inflight.get(parent);
      if (parentImport) await parentImport.catch(() => undefined);
      if (this.exists(name)) throw conflict(`snapshot ${name} already exists`);
      return await this.commitStaged(name, parent, staged, { sync: opts.sync });
    } catch (e) {
      await this.discardStaged(staged);
      throw e;
    }
  }

  /**
   * Unpacks a layer into a private directory under the root (a `.tmp-` one: a crash leaves nothing),
   * for callers that learn the layer's name only after reading it (load, commit: the chain ID needs
   * the diffID). Then `commitStaged` or `discardStaged`.
   */
  async stage(layer: AsyncIterable<Uint8Array>, opts: ImportOptions & { label?: string } = {}): Promise<StagedLayer> {
    const { writer, staged } = this.stageWriter(opts);
    return pump(layer, writer, staged);
  }

  stageWriter(opts: ImportOptions & { label?: string } = {}): { writer: LayerWriter; staged: Promise<StagedLayer> } {
    const tmp = path.join(this.root, `.tmp-import-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(tmp, { mode: 0o700 });
    let job: ThreadUnpack;
    try {
      fs.mkdirSync(path.join(tmp, 'fs'), { mode: 0o755 });
      // On a thread of its own: layers unpack side by side, and the main thread stays free (unpackpool.ts).
      job = new ThreadUnpack(path.join(tmp, 'fs'), {
        ...(opts.diffId !== undefined ? { diffId: opts.diffId } : {}),
        ...(opts.inputDigest !== undefined ? { inputDigest: opts.inputDigest } : {}),
        onWarning: (m) => log.warn(m, { layer: opts.label ?? 'staged' }),
        ...(opts.split ? { splitDir: tmp } : {}),
        // Big files go around the page cache (directio.ts), probed in the staging directory.
        directDir: tmp,
        // Big layers: writeback starts while they unpack (the flush before they are recorded waits less).
        flushDir: this.root,
      });
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    const staged = job.result.then(
      (res): StagedLayer => ({ dir: tmp, diffId: res.diffId, size: res.size, tarSize: res.tarSize, split: !!opts.split }),
      async (e: unknown) => { await fs.promises.rm(tmp, { recursive: true, force: true }); throw e; },
    );
    staged.catch(() => undefined);   // the caller awaits it after writing; a failure meanwhile is not unhandled
    return { writer: job, staged };
  }

  /** Records a staged layer as committed snapshot `name` over `parent`; `conflict` if `name` exists. */
  async commitStaged(name: string, parent: string | null, staged: StagedLayer, opts: { sync?: boolean } = {}): Promise<SnapshotInfo> {
    checkKey(name);
    if (opts.sync !== false) await syncFilesystem(staged.dir);
    if (this.exists(name)) throw conflict(`snapshot ${name} already exists`);
    this.requireCommitted(parent);
    const r: Record_ = { id: this.db.nextId++, kind: 'committed', parent, created: new Date().toISOString(), size: staged.size, diffId: staged.diffId, tarSize: staged.tarSize };
    if (staged.split) r.split = true;
    fs.renameSync(staged.dir, this.dir(r));
    fsyncDir(this.root);
    this.db.snapshots[name] = r;
    this.save();
    return this.info(name, r);
  }

  async discardStaged(staged: StagedLayer): Promise<void> {
    await fs.promises.rm(staged.dir, { recursive: true, force: true });
  }

  /** A committed snapshot with a tar-split recipe of the layer whose diffID is `diffId`, if any. */
  findSplit(diffId: string): string | undefined {
    for (const [name, r] of Object.entries(this.db.snapshots)) if (r.split && r.kind === 'committed' && r.diffId === diffId) return name;
    return undefined;
  }

  /**
   * The exact tar stream the layer of committed snapshot `name` was unpacked from, rebuilt from its
   * files (tarsplit.ts); `notFound` if it has no recipe. The caller checks the diffID as it reads.
   */
  layerTar(name: string): AsyncGenerator<Buffer> {
    return kept(this.layerTarLent(name));
  }

  layerTarLent(name: string): AsyncGenerator<Lent> {
    const r = this.rec(name);
    if (!r.split) throw notFound(`layer ${name} has no tar-split recipe`);
    return joinTarSplit(this.dir(r));
  }

  statPath(name: string | null, p: string): fs.Stats | undefined {
    const lowers = name === null ? [] : this.chain(name).map((l) => path.join(this.dir(l), 'fs'));
    const rel = '/' + p.split('/').filter((c) => c !== '' && c !== '.').join('/');
    if (rel.split('/').includes('..')) throw invalid(`invalid path ${JSON.stringify(p)}`);
    return rel === '/' ? undefined : lowerStat(lowers, rel);
  }

  /** Flushes everything written under the snapshots root to disk (syncfs): for layers imported with `sync: false`. */
  async syncAll(): Promise<void> {
    await syncFilesystem(this.root);
  }

  layerPaths(name: string): string[] {
    return this.chain(name).map((l) => path.join(this.dir(l), 'fs'));
  }

  prepare(key: string, parent: string | null): SnapshotInfo {
    checkKey(key);
    if (this.exists(key) || this.inflight.has(key)) throw conflict(`snapshot ${key} already exists`);
    this.requireCommitted(parent);
    const tmp = path.join(this.root, `.tmp-prepare-${randomBytes(6).toString('hex')}`);
    try {
      fs.mkdirSync(tmp, { mode: 0o700 });
      fs.mkdirSync(path.join(tmp, 'fs'), { mode: 0o755 });
      fs.mkdirSync(path.join(tmp, 'work'), { mode: 0o700 });
      if (parent === null) fs.mkdirSync(path.join(tmp, 'empty'), { mode: 0o755 });
      const r: Record_ = { id: this.db.nextId++, kind: 'active', parent, created: new Date().toISOString(), size: 0 };
      fs.renameSync(tmp, this.dir(r));
      this.db.snapshots[key] = r;
      this.save(false);
      return this.info(key, r);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** The overlay option string for an active snapshot, relative to the snapshots root. */
  mountOptions(key: string): string {
    const r = this.rec(key);
    if (r.kind !== 'active') throw invalid(`snapshot ${key} is committed: only active snapshots are mounted read-write`);
    const lowers = r.parent === null ? [`${r.id}/empty`] : this.chain(r.parent).map((l) => `${l.id}/fs`);
    const opts = `lowerdir=${lowers.join(':')},upperdir=${r.id}/fs,workdir=${r.id}/work`;
    if (opts.length > MAX_MOUNT_OPTIONS) throw invalid(`image has too many layers (${lowers.length}) to mount`);
    return opts;
  }

  async mount(key: string, target: string): Promise<void> {
    await mountOverlay(this.root, this.mountOptions(key), path.resolve(target));
  }

  async unmount(target: string): Promise<void> {
    await unmount(path.resolve(target));
  }

  async remove(key: string): Promise<void> {
    const r = this.rec(key);
    const children = Object.entries(this.db.snapshots).filter(([, c]) => c.parent === key).map(([n]) => n);
    if (children.length > 0 || this.pendingParents.has(key)) {
      throw conflict(`snapshot ${key} has ${children.length || 'pending'} child snapshot(s)`);
    }
    delete this.db.snapshots[key];
    this.save(r.kind === 'committed');
    const doomed = path.join(this.root, `.tmp-remove-${r.id}`);
    try {
      fs.renameSync(this.dir(r), doomed);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await fs.promises.rm(doomed, { recursive: true, force: true });
  }

  async usage(key: string): Promise<Usage> {
    const r = this.rec(key);
    const seen = new Set<number>();
    let size = 0;
    let inodes = 0;
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try { names = await fs.promises.readdir(dir); } catch { return; } // removed meanwhile
      for (const name of names) {
        const p = path.join(dir, name);
        let st: fs.Stats;
        try { st = await fs.promises.lstat(p); } catch { continue; }
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
        inodes++;
        if (st.isDirectory()) await walk(p); else size += st.size;
      }
    };
    await walk(path.join(this.dir(r), 'fs'));
    return { size, inodes };
  }

  async *diff(key: string, counter?: { entries: number }, o: { clampMtime?: number } = {}): AsyncGenerator<Buffer> {
    const r = this.rec(key);
    if (r.kind !== 'active') throw invalid(`snapshot ${key} is committed: diffs are made of active snapshots`);
    const upper = path.join(this.dir(r), 'fs');
    const { dirs } = listTree(upper);
    const marks = await getXattrs(dirs.map((d) => path.join(upper, d)), OPAQUE_XATTR);
    const opaque = new Set(dirs.filter((_, i) => marks[i]?.toString() === 'y'));
    yield* packDir(upper, { whiteouts: true, opaque, counter, clampMtime: o.clampMtime, onWarning: (m) => log.warn(m, { snapshot: key }) });
  }

  async changes(key: string): Promise<Change[]> {
    const r = this.rec(key);
    if (r.kind !== 'active') throw invalid(`snapshot ${key} is committed: changes are computed for active snapshots`);
    const upper = path.join(this.dir(r), 'fs');
    const lowers = r.parent === null ? [] : this.chain(r.parent).map((l) => path.join(this.dir(l), 'fs'));

    const entries: { rel: string; st: fs.Stats }[] = [];
    const walk = (rel: string) => {
      const names = fs.readdirSync(path.join(upper, rel)).sort(byBytes);
      for (const name of names) {
        const child = rel === '/' ? `/${name}` : `${rel}/${name}`;
        const st = fs.lstatSync(path.join(upper, child));
        entries.push({ rel: child, st });
        if (st.isDirectory()) walk(child);
      }
    };
    walk('/');

    const dirs = entries.filter((e) => e.st.isDirectory());
    const marks = await getXattrs(dirs.map((e) => path.join(upper, e.rel)), OPAQUE_XATTR);
    const opaque = new Set(dirs.filter((_, i) => marks[i]?.toString() === 'y').map((e) => e.rel));

    const out: Change[] = [];
    const changedDirs = new Set<string>();
    for (const e of entries) {
      let kind: 0 | 1 | 2;
      const below = lowerStat(lowers, e.rel);
      if (isWhiteout(e.st) || (opaque.has(e.rel) && below)) {
        kind = ChangeKind.Deleted;
      } else if (below) {
        // A directory copied up only because something inside it changed is not itself a change.
        if (e.st.isDirectory() && below.isDirectory() && e.st.size === below.size && e.st.mode === below.mode &&
            e.st.mtimeMs === below.mtimeMs) continue;
        kind = ChangeKind.Modified;
      } else {
        kind = ChangeKind.Added;
      }
      if (e.st.isDirectory()) changedDirs.add(e.rel);
      const parent = path.posix.dirname(e.rel);
      if (kind !== ChangeKind.Modified && parent !== '/' && !changedDirs.has(parent)) {
        out.push({ Path: parent, Kind: ChangeKind.Modified });
        changedDirs.add(parent);
      }
      out.push({ Path: e.rel, Kind: kind });
    }
    return out;
  }
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * What `rel` is in the merged view of the lower layers (top first), without following symlinks:
 * a whiteout of the path or of one of its parents in a higher layer hides everything below it.
 */
function lowerStat(lowers: string[], rel: string): fs.Stats | undefined {
  const parts = rel.split('/').filter(Boolean);
  for (const layer of lowers) {
    for (let i = 1; i < parts.length; i++) {
      const st = lstatMaybe(path.join(layer, ...parts.slice(0, i)));
      if (st && isWhiteout(st)) return undefined;
    }
    const st = lstatMaybe(path.join(layer, ...parts));
    if (st) return isWhiteout(st) ? undefined : st;
  }
  return undefined;
}

function lstatMaybe(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}
