// Synced build contexts: barge's CLI sends only what changed in a context directory since the last
// build of it, instead of the whole tree (BuildKit's local-context sync, done over two plain requests).
//
//   1. POST /build/context?key=K   body: the manifest (every entry of the context: path, type, mode,
//      owner, size, times, inode, link target) → { need: [paths of files whose contents must come] }
//   2. POST /build?...&bargecontext=K   body: a tar whose first entry is the manifest again
//      (MANIFEST_NAME), then exactly the files asked for; the build runs on the synced copy.
//
// The daemon keeps, per key (a hash the client derives from its host and directory; never a path),
// a copy of the context under <dataRoot>/build/contexts/<key>/files and a record (state.json) of the
// metadata each file had on the client when it came and of its contents' sha256, computed as it was
// written. A file whose size, mtime, ctime or inode changed, or that is new, is asked for; entries not
// in the manifest are deleted; an unchanged file is neither sent, nor written, nor read again: the
// COPY/ADD cache checksum (context.ts hashSources) takes its recorded hash.
//
// Crash safety: the record is marked dirty before the copy changes and written clean (atomically)
// once the copy matches the manifest, so a kill -9 mid-sync makes the next sync start from nothing;
// a record also names the boot it was written in (the copy's files are not fsynced: a record from an
// earlier boot may describe contents a power cut lost, so it is not trusted). Copies that are dirty
// or from an earlier boot are removed when barged starts; the KEEP most recently used copies are kept.
// A build holds its key's lock from the sync to its end: the copy does not change under a build.
//
// Everything from the client is hostile: paths are cleaned and must not climb out, every entry's
// parent must be a directory of the manifest (so no write goes through a symlink), the tar may only
// carry the files asked for, with the sizes the manifest gave.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { invalid } from '../lib/errors.js';
import { KeyedLock } from '../lib/keyedlock.js';
import { log } from '../lib/log.js';
import { readJsonOr, writeJsonAtomic } from '../lib/fsutil.js';
import { forEachTarEntry } from '../snapshot/tarread.js';

export const MANIFEST_NAME = '.barge-context-manifest.json';
const MAX_ENTRIES = 1_000_000;
const MAX_MANIFEST = 256 << 20;
const KEEP = 8;

export interface ManifestEntry {
  /** Path relative to the context root, "/"-separated. */
  p: string;
  t: 'f' | 'd' | 'l';
  /** Permission bits. */
  m: number;
  u: number;
  g: number;
  /** Size (files). */
  s: number;
  /** mtime and ctime in ms, inode: together they say whether a file may have changed. */
  mt: number;
  ct: number;
  i: number;
  /** Symlink target. */
  l?: string;
}

/** An entry as recorded in state.json: with its contents' sha256 (hex) for files. */
interface Recorded extends ManifestEntry { h?: string }
interface State { dirty: boolean; boot?: string; entries: Record<string, Recorded> }

/** This boot's ID: a record from another boot may describe file contents a power cut lost. */
const BOOT = (() => { try { return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { return ''; } })();

function checkKey(key: string): string {
  if (!/^[a-f0-9]{64}$/.test(key)) throw invalid('invalid context key: want 64 hex digits');
  return key;
}

/** Checks a manifest from a client; returns its entries by path. */
export function parseManifest(raw: unknown): Map<string, ManifestEntry> {
  const list = (raw as { entries?: unknown })?.entries;
  if (!Array.isArray(list)) throw invalid('invalid context manifest: no entries');
  if (list.length > MAX_ENTRIES) throw invalid(`invalid context manifest: more than ${MAX_ENTRIES} entries`);
  const out = new Map<string, ManifestEntry>();
  const num = (v: unknown, what: string, p: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(`invalid context manifest: bad ${what} for ${JSON.stringify(p)}`);
    return v;
  };
  for (const e of list as Record<string, unknown>[]) {
    const p = e?.['p'];
    if (typeof p !== 'string' || p === '' || p.includes('\0') || p.startsWith('/') || p.split('/').some((c) => c === '' || c === '.' || c === '..')) {
      throw invalid(`invalid context manifest: bad path ${JSON.stringify(p)}`);
    }
    const t = e['t'];
    if (t !== 'f' && t !== 'd' && t !== 'l') throw invalid(`invalid context manifest: bad type for ${JSON.stringify(p)}`);
    const l = e['l'];
    if (t === 'l' && (typeof l !== 'string' || l === '' || l.includes('\0'))) throw invalid(`invalid context manifest: bad link target for ${JSON.stringify(p)}`);
    if (out.has(p)) throw invalid(`invalid context manifest: ${JSON.stringify(p)} twice`);
    out.set(p, {
      p, t, m: num(e['m'], 'mode', p) & 0o7777, u: num(e['u'], 'uid', p), g: num(e['g'], 'gid', p),
      s: t === 'f' ? num(e['s'], 'size', p) : 0, mt: num(e['mt'], 'mtime', p), ct: num(e['ct'], 'ctime', p), i: num(e['i'], 'inode', p),
      ...(t === 'l' ? { l: l as string } : {}),
    });
  }
  for (const p of out.keys()) {
    const i = p.lastIndexOf('/');
    if (i > 0 && out.get(p.slice(0, i))?.t !== 'd') throw invalid(`invalid context manifest: the parent of ${JSON.stringify(p)} is not a directory of the context`);
  }
  return out;
}

const same = (a: ManifestEntry | undefined, b: ManifestEntry) =>
  !!a && a.t === b.t && a.s === b.s && a.mt === b.mt && a.ct === b.ct && a.i === b.i && a.l === b.l;

/** Whether the copy recorded in `st` already is `manifest`: same paths, every entry's metadata equal. */
function sameTree(st: State, manifest: Map<string, ManifestEntry>): boolean {
  if (st.dirty || Object.keys(st.entries).length !== manifest.size) return false;
  for (const e of manifest.values()) {
    const o = st.entries[e.p];
    if (!same(o, e) || o!.m !== e.m || o!.u !== e.u || o!.g !== e.g) return false;
  }
  return true;
}

export class SyncedContexts {
  private readonly lock = new KeyedLock();
  /** state.json of the copies used last, as last read or written (a copy changes only through this class). */
  private readonly states = new Map<string, State>();

  constructor(private readonly root: string) {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    // At start: drop what a crash left half-written (dirty copies, temp names) and copies from an earlier boot.
    for (const n of fs.readdirSync(root)) {
      if (/^[a-f0-9]{64}$/.test(n) && !this.state(n).dirty) continue;
      fs.rmSync(path.join(root, n), { recursive: true, force: true });
    }
  }

  private dir(key: string): string { return path.join(this.root, checkKey(key)); }

  private state(key: string): State {
    const file = path.join(this.dir(key), 'state.json');
    // A remembered state only while its copy is there (someone may have removed it under us).
    let s = this.states.get(key);
    if (s && !fs.existsSync(file)) { this.states.delete(key); s = undefined; }
    s ??= readJsonOr<State | undefined>(file, undefined);
    if (s && !s.dirty && s.boot === BOOT && typeof s.entries === 'object' && s.entries) {
      this.remember(key, s);
      return s;
    }
    return { dirty: true, entries: {} };
  }

  private writeState(key: string, s: State): void {
    this.states.delete(key);
    writeJsonAtomic(path.join(this.dir(key), 'state.json'), s, 0o600, false);
    if (!s.dirty) this.remember(key, s);
  }

  private remember(key: string, s: State): void {
    this.states.delete(key);
    this.states.set(key, s);
    if (this.states.size > 2) this.states.delete(this.states.keys().next().value!);
  }

  private remove(key: string): void {
    this.states.delete(key);
    fs.rmSync(path.join(this.root, key), { recursive: true, force: true });
  }

  /** Step 1: which files of the manifest the client must send. */
  need(key: string, manifest: Map<string, ManifestEntry>): Promise<string[]> {
    return this.lock.run(key, async () => {
      const st = this.state(key);
      return [...manifest.values()].filter((e) => e.t === 'f' && !same(st.entries[e.p], e)).map((e) => e.p);
    });
  }

  /**
   * Step 2: applies the tar (manifest first, then the files asked for) to the key's copy; `open`
   * makes the build's context of the copy (it may delete .dockerignore'd files) given the recorded
   * hashes (by absolute path in the copy), and `fn` runs on it while the key stays held.
   */
  withSynced<C, T>(key: string, body: AsyncIterable<Uint8Array>, open: (dir: string, hashOf: (abs: string) => string | undefined) => C, fn: (ctx: C) => Promise<T>): Promise<T> {
    return this.lock.run(key, async () => {
      const dir = this.dir(key);
      const files = path.join(dir, 'files');
      const prev = this.state(key);
      if (prev.dirty) this.remove(key);
      fs.mkdirSync(files, { recursive: true, mode: 0o700 });
      // Marked dirty before the first change to the copy; a sync that changes nothing writes nothing.
      let dirty = false;
      const markDirty = () => { if (!dirty) { this.writeState(key, { dirty: true, entries: {} }); dirty = true; } };
      if (prev.dirty) markDirty();
      let manifest: Map<string, ManifestEntry> | undefined;
      const got = new Map<string, string>();   // path -> sha256 of what came
      let bytes = 0;
      await forEachTarEntry(body, async (h, data) => {
        if (!manifest) {
          if (h.name !== MANIFEST_NAME || (h.size ?? 0) > MAX_MANIFEST) throw invalid(`invalid synced context: the tar must start with ${MANIFEST_NAME}`);
          const chunks: Buffer[] = [];
          for await (const c of data) chunks.push(c);
          try { manifest = parseManifest(JSON.parse(Buffer.concat(chunks).toString('utf8'))); } catch (e) {
            throw e instanceof SyntaxError ? invalid(`invalid context manifest: ${e.message}`) : e;
          }
          if (!sameTree(prev, manifest)) markDirty();
          this.prepareTree(files, manifest);
          return;
        }
        const e = manifest.get(h.name);
        if (!e || e.t !== 'f' || (h.type ?? 'file') !== 'file' || got.has(h.name) || (h.size ?? 0) !== e.s) {
          throw invalid(`invalid synced context: unexpected entry ${JSON.stringify(h.name)}`);
        }
        markDirty();
        got.set(h.name, await writeFileFrom(path.join(files, ...e.p.split('/')), data, e.s));
        bytes += e.s;
      }, 'synced context');
      if (!manifest) throw invalid(`invalid synced context: no ${MANIFEST_NAME}`);
      const hashes = new Map<string, string>();
      let nfiles = 0;
      for (const e of manifest.values()) {
        if (e.t !== 'f') continue;
        nfiles++;
        const h = got.get(e.p) ?? (same(prev.entries[e.p], e) ? prev.entries[e.p]!.h : undefined);
        if (!got.has(e.p) && !same(prev.entries[e.p], e)) throw invalid(`invalid synced context: ${JSON.stringify(e.p)} was not sent`);
        if (h) hashes.set(e.p, h);
      }
      // Owners, modes and times as the client has them (COPY uses them), deepest first for dirs; a
      // file or symlink kept as it was is left alone (directories' times change as their entries do).
      for (const e of dirty ? [...manifest.values()].reverse() : []) {
        const o = prev.entries[e.p];
        if (e.t !== 'd' && !got.has(e.p) && o && o.t === e.t && o.m === e.m && o.u === e.u && o.g === e.g && o.mt === e.mt && o.l === e.l) continue;
        const p = path.join(files, ...e.p.split('/'));
        fs.lchownSync(p, e.u, e.g);
        if (e.t !== 'l') fs.chmodSync(p, e.m);
        const t = e.mt / 1000;
        fs.lutimesSync(p, t, t);
      }
      log.info('build context synced', { key: key.slice(0, 12), received: got.size, bytes, kept: nfiles - got.size, entries: manifest.size });
      this.trim(key);
      let ctx: C;
      try {
        const byAbs = new Map<string, string>();
        for (const [p, h] of hashes) byAbs.set(path.join(files, ...p.split('/')), h);
        ctx = open(files, (abs) => byAbs.get(abs));
      } finally {
        if (dirty) {
          // The copy now matches the manifest, less what `open` pruned (.dockerignore'd files the
          // client had to send), which is not recorded so that it comes again next time.
          const entries: Record<string, Recorded> = {};
          for (const e of manifest.values()) {
            if (!fs.lstatSync(path.join(files, ...e.p.split('/')), { throwIfNoEntry: false })) continue;
            const h = hashes.get(e.p);
            entries[e.p] = h ? { ...e, h } : e;
          }
          this.writeState(key, { dirty: false, boot: BOOT, entries });
        } else {
          // Nothing changed (so `open` pruned nothing either: what it prunes is never recorded).
          const t = new Date();
          fs.utimesSync(path.join(dir, 'state.json'), t, t);   // most recently used, for trim()
        }
      }
      return fn(ctx);
    });
  }

  /** Removes what the manifest lacks or has with another type; makes directories and symlinks. */
  private prepareTree(files: string, manifest: Map<string, ManifestEntry>): void {
    const walk = (rel: string) => {
      const abs = rel ? path.join(files, rel) : files;
      for (const d of fs.readdirSync(abs, { withFileTypes: true })) {
        const r = rel ? `${rel}/${d.name}` : d.name;
        const e = manifest.get(r);
        const type = d.isDirectory() ? 'd' : d.isSymbolicLink() ? 'l' : d.isFile() ? 'f' : 'x';
        if (!e || e.t !== type || (type === 'l' && e.l !== fs.readlinkSync(path.join(abs, d.name)))) { fs.rmSync(path.join(abs, d.name), { recursive: true, force: true }); continue; }
        if (type === 'd') walk(r);
      }
    };
    walk('');
    for (const e of manifest.values()) {
      const p = path.join(files, ...e.p.split('/'));
      // recursive: safe, every ancestor is a directory of the manifest, and walk() removed anything else in their place
      if (e.t === 'd') { if (!fs.lstatSync(p, { throwIfNoEntry: false })) fs.mkdirSync(p, { recursive: true, mode: 0o700 }); }
      else if (e.t === 'l' && !fs.lstatSync(p, { throwIfNoEntry: false })) fs.symlinkSync(e.l!, p);
    }
  }

  /** Keeps the KEEP most recently used copies. */
  private trim(current: string): void {
    const dirs = fs.readdirSync(this.root).filter((n) => /^[a-f0-9]{64}$/.test(n) && n !== current)
      .map((n) => ({ n, t: fs.statSync(path.join(this.root, n, 'state.json'), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
      .sort((a, b) => b.t - a.t);
    for (const d of dirs.slice(KEEP - 1)) void this.lock.run(d.n, async () => { this.remove(d.n); });
  }

  /** builder prune: drops every copy not in use. */
  async clear(): Promise<void> {
    for (const n of fs.readdirSync(this.root)) {
      if (/^[a-f0-9]{64}$/.test(n)) await this.lock.run(n, async () => { this.remove(n); });
      else fs.rmSync(path.join(this.root, n), { recursive: true, force: true });
    }
  }
}

/**
 * Writes exactly `size` bytes into a new file at p (replacing what is there, never following a
 * symlink); returns the sha256 (hex) of what it wrote.
 */
async function writeFileFrom(p: string, data: AsyncIterable<Buffer>, size: number): Promise<string> {
  const tmp = path.join(path.dirname(p), `.barge-tmp-${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  let n = 0;
  const hash = createHash('sha256');
  try {
    for await (const c of data) {
      n += c.length;
      hash.update(c);
      if (n > size) throw invalid('invalid synced context: a file is longer than the manifest says');
      let off = 0;
      while (off < c.length) off += fs.writeSync(fd, c, off, c.length - off);
    }
    if (n !== size) throw invalid('invalid synced context: a file is shorter than the manifest says');
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, p);
  return hash.digest('hex');
}
