// Unpacking one layer tarball (OCI image-spec layer.md) into an empty directory in overlayfs's format.
//
// The tarball is hostile until proven otherwise. The rules, checked entry by entry:
//  - Names are cleaned lexically; a name that climbs above the root ("../x", "a/../../x") fails the whole
//    layer; absolute names ("/etc/x") are taken relative to the root, as docker and GNU tar do.
//  - Every parent directory of an entry is resolved inside the root, one component at a time with
//    lstat: a symlink met on the way is followed *within the root* (absolute targets re-rooted, ".."
//    stopping at the root), as docker's FollowSymlinkInScope does, so no write ever lands outside.
//    Missing parents are created (0755, root-owned).
//  - The entry's own final component is never followed: whatever is in the way is removed first
//    (unless both are directories), and regular files are created with O_EXCL|O_NOFOLLOW.
//  - Hardlink targets are resolved the same way and must be existing non-directories inside the root.
//  - Device nodes are dropped (warned), except a character device 0/0, which is an overlay whiteout.
//    FIFOs are kept. Only user.* and security.capability extended attributes are applied.
//  - A file that would not fit in the space left on the filesystem fails the layer before a byte of it
//    is written (a header can claim petabytes).
//  - The whole uncompressed stream is hashed: a diffID that differs from the expected one fails the
//    layer. The caller unpacks into a private temporary directory and discards it on any failure.
//
// Whiteouts (OCI layer.md "Whiteouts") become overlayfs's format: ".wh.NAME" -> a character device 0/0
// at NAME; ".wh..wh..opq" -> the trusted.overlay.opaque="y" attribute on its directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInflateRaw, type InflateRaw } from 'node:zlib';
import tarStream from 'tar-stream';
import { invalid } from '../lib/errors.js';
import { ChunkChannel } from '../lib/channel.js';
import { newDigester } from '../content/digest.js';
import { OPAQUE_XATTR, applySysOps, type SysOp } from './sysops.js';
import type { TarHeader } from './tarread.js';
import { SplitFiles, TarSplitter } from './tarsplit.js';
import { DIRECT_MIN, DirectFile, directWrites } from '../lib/directio.js';

export interface UnpackOptions {
  /** The layer's expected diffID (sha256 of the uncompressed tar); a mismatch fails the unpack. */
  diffId?: string;
  /** Most bytes of file data to write; defaults to the free space of the destination filesystem. */
  maxBytes?: number;
  /** Told about entries that were dropped (device nodes, unsupported attributes). */
  onWarning?: (message: string) => void;
  /**
   * Called (and not awaited) after every `flushEvery` bytes of file data: to start writeback of what
   * is written so far (syncfs) while the rest of the layer unpacks, so that the final flush finds
   * little left to do. The page cache would otherwise hold the whole layer until then.
   */
  flush?: () => Promise<void>;
  flushEvery?: number;
  /**
   * Keep the layer's tar-split recipe (tarsplit.ts) in this directory (dest's parent, usually), so the
   * exact tar can be streamed again from the files: the tar itself then need not be stored.
   */
  splitDir?: string;
  /**
   * A directory only barge writes to, on dest's filesystem (the staging directory around dest): if
   * given, files of DIRECT_MIN bytes or more are written around the page cache (directio.ts).
   */
  directDir?: string;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar stream. */
  diffId: string;
  /** Bytes of regular-file data in the layer (hardlinks counted once). */
  size: number;
  compression: 'gzip' | 'none';
  /** Length of the uncompressed tar stream. */
  tarSize: number;
}

const MAX_LINK_HOPS = 40;
const MAX_PATH = 4096;
const RESERVE = 64 * 1024 * 1024;

type Header = TarHeader;
type EntryStream = AsyncIterable<Buffer>;

/**
 * Unpacks a layer (plain or gzip tar, detected by its magic bytes) into `dest`, an existing, empty
 * directory that nothing else writes to. On failure `dest` is left half-written: the caller removes it.
 */
export async function unpackLayer(source: AsyncIterable<Uint8Array>, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const { stream, compression } = await decompress(source);
  const splitter = opts.splitDir !== undefined ? new TarSplitter(opts.splitDir) : undefined;
  const files = opts.splitDir !== undefined ? new SplitFiles(opts.splitDir, dest) : undefined;
  const u = new Unpacker(dest, opts, files);
  const hash = newDigester();
  let tarSize = 0;
  const extract = tarStream.extract();

  const entries = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, entry, next) => {
      entry.on('error', () => { /* surfaces through the extractor */ });
      u.entry(h as unknown as Header, entry as unknown as EntryStream).then(() => next(), (e: unknown) => next(e as Error));
    });
    extract.on('error', reject);
    extract.on('finish', resolve);
  });
  // A failed entry stops the reading of the layer at once.
  entries.catch(() => stream.destroy());

  const feed = (async () => {
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      splitter?.push(chunk as Buffer);
      tarSize += (chunk as Buffer).length;
      if (extract.destroyed || extract.destroying) throw new Error('tar stream closed');
      if (!extract.write(chunk)) await drained(extract);
    }
    (extract as unknown as { end(): void }).end();
  })();
  feed.catch((e: unknown) => { extract.destroy(e as Error); });

  const [fed, unpacked] = await Promise.allSettled([feed, entries]);
  if (unpacked.status === 'rejected' || fed.status === 'rejected') {
    splitter?.abort();
    files?.abort();
    stream.destroy();
    extract.destroy(new Error('aborted'));
    const e: unknown = unpacked.status === 'rejected' ? unpacked.reason : (fed as PromiseRejectedResult).reason;
    // Format errors (tar-stream, zlib) are the layer's fault; system errors (ENOSPC...) and typed errors pass as they are.
    throw e instanceof Error && !('kind' in e) && !('syscall' in e) ? invalid(`invalid layer tar: ${e.message}`) : e;
  }
  const diffId = 'sha256:' + hash.digest('hex');
  if (opts.diffId !== undefined && opts.diffId !== diffId) {
    throw invalid(`layer diffID mismatch: expected ${opts.diffId}, got ${diffId}`);
  }
  try {
    await u.finish();
    if (splitter && files) { splitter.end(); files.finish(splitter); }
  } catch (e) {
    splitter?.abort();
    files?.abort();
    throw e;
  }
  return { diffId, size: u.size, compression, tarSize };
}

function drained(w: NodeJS.EventEmitter & { destroyed: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    if (w.destroyed) { reject(new Error('tar stream closed')); return; }
    const done = (err?: unknown) => {
      w.off('drain', onDrain); w.off('close', onClose); w.off('error', onError);
      if (err) reject(err); else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('tar stream closed'));
    const onError = (e: unknown) => done(e);
    w.on('drain', onDrain); w.on('close', onClose); w.on('error', onError);
  });
}

const GUNZIP_INPUT = 1 << 20;

/** A layer's tar stream: its chunks, and a way to stop it early. */
export interface TarChunks extends AsyncIterable<Buffer> { destroy(e?: unknown): void }

/**
 * Sniffs the first bytes: gzip is inflated, plain tar passed through, other compressions refused.
 * Chunks go through as they are, never concatenated (see ChunkChannel).
 */
export async function decompress(source: AsyncIterable<Uint8Array>): Promise<{ stream: TarChunks; compression: 'gzip' | 'none' }> {
  const it = source[Symbol.asyncIterator]();
  const asBuffer = (v: Uint8Array) => Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const first: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < 6) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    first.push(asBuffer(r.value));
    have += r.value.length;
  }
  const head = first.length === 1 ? first[0]! : Buffer.concat(first);
  const stop = () => { void it.return?.()?.catch(() => undefined); };
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) {
    stop();
    throw invalid('zstd-compressed layers are not supported');
  }
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) || head.subarray(0, 3).toString() === 'BZh') {
    stop();
    throw invalid('xz- and bzip2-compressed layers are not supported');
  }
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    let stopped = false;
    return { compression: 'none', stream: {
      destroy: () => { stopped = true; stop(); },
      async *[Symbol.asyncIterator]() {
        try {
          if (head.length) yield head;
          while (!done && !stopped) {
            const r = await it.next();
            if (r.done) return;
            yield asBuffer(r.value);
          }
        } finally {
          stop();
        }
      },
    } };
  }
  return { compression: 'gzip', stream: inflateGzip(head, it, stop) };
}

/**
 * The length of the gzip member header (RFC 1952 2.3) at the start of `b`; -1 if `b` ends before it
 * does. Throws on what is not a gzip header.
 */
export function gzipHeaderLength(b: Buffer): number {
  if (b.length < 10) {
    if ((b.length >= 1 && b[0] !== 0x1f) || (b.length >= 2 && b[1] !== 0x8b)) throw invalid('invalid layer tar: not a gzip member header');
    return -1;
  }
  if (b[0] !== 0x1f || b[1] !== 0x8b) throw invalid('invalid layer tar: not a gzip member header');
  if (b[2] !== 8) throw invalid(`invalid layer tar: unknown gzip compression method ${b[2]}`);
  const flags = b[3]!;
  if (flags & 0xe0) throw invalid('invalid layer tar: reserved gzip header flags set');
  let pos = 10;
  if (flags & 4) {                       // FEXTRA
    if (b.length < pos + 2) return -1;
    pos += 2 + b.readUInt16LE(pos);
  }
  for (const bit of [8, 16]) {           // FNAME, FCOMMENT: NUL-terminated
    if (!(flags & bit)) continue;
    if (pos >= b.length) return -1;
    const nul = b.indexOf(0, pos);
    if (nul < 0) return -1;
    pos = nul + 1;
  }
  if (flags & 2) pos += 2;               // FHCRC
  return pos <= b.length ? pos : -1;
}

const MAX_GZIP_HEADER = 1 << 20;
const EMPTY = Buffer.alloc(0);

/**
 * Inflates gzip members (one or more, concatenated) with raw inflate, reading the members' headers
 * and trailers here. Why not zlib's gunzip: it computes a CRC-32 over every byte it puts out, a
 * third checksum over the layer (~0.3 s of CPU per GiB here) next to the two sha256s the layer is
 * verified by anyway (the blob's digest, the diffID). The trailer's length is checked.
 *
 * Input goes to zlib in pieces of at least 256 KiB: each write is a round trip to the thread pool,
 * which for the 64 KiB reads of a socket or file cost more than inflating (measured: 3× the time).
 * Big chunks go as they are (a pull's 1 MiB slots: no copy); small ones are gathered in one reused
 * buffer. One write at a time: the byte where a member's deflate data ends is known only once zlib
 * has taken a write (it takes less than it was given), and what follows is the trailer.
 *
 * As zlib's gunzip does, a zero byte where a next member would start ends the stream (padding).
 * A source chunk is not used after the next one is asked for (unpackthread.ts relies on it).
 */
function inflateGzip(first: Buffer, it: AsyncIterator<Uint8Array>, stop: () => void): TarChunks {
  const out = new ChunkChannel(8 << 20);
  let z: InflateRaw | undefined;
  let memberOut = 0;
  const asBuffer = (v: Uint8Array) => Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

  const inflater = (): InflateRaw => {
    // 1 MiB output chunks, read as 'data' events: with the default 16 KiB chunks and the stream's
    // async iterator, inflating cost several times more (measured).
    const zz = createInflateRaw({ chunkSize: 1 << 20 });
    zz.on('data', (c: Buffer) => {
      memberOut += c.length;
      if (!out.push(c)) { zz.pause(); void out.drained().then(() => { if (!zz.destroyed) zz.resume(); }); }
    });
    zz.on('error', (e) => out.destroy(e));
    return zz;
  };
  const settle = (zz: InflateRaw, on: 'end' | 'write', b?: Buffer): Promise<void> => new Promise((resolve, reject) => {
    const closed = () => reject(new Error('inflate stopped'));
    zz.once('close', closed);
    const done = (e?: Error | null) => { zz.off('close', closed); if (e) reject(e); else resolve(); };
    if (on === 'write') zz.write(b!, done);
    else if (zz.readableEnded) done();
    else zz.once('end', () => done());
  });

  // Source chunks, in pieces for zlib (see above). A piece is used until the next is asked for.
  async function* pieces(): AsyncGenerator<Buffer> {
    const arena = Buffer.allocUnsafe(GUNZIP_INPUT);
    let fill = 0;
    for (let b: Buffer | undefined = first; b;) {
      if (fill === 0 && b.length >= GUNZIP_INPUT / 4) yield b;
      else {
        for (let off = 0; off < b.length;) {
          const n = b.copy(arena, fill, off);
          fill += n;
          off += n;
          if (fill === GUNZIP_INPUT) { yield arena; fill = 0; }
        }
      }
      if (out.destroyed) return;
      const r = await it.next();
      b = r.done ? undefined : asBuffer(r.value);
    }
    if (fill > 0) yield arena.subarray(0, fill);
  }

  void (async () => {
    let state: 'header' | 'deflate' | 'trailer' | 'padding' = 'header';
    let pend: Buffer | undefined;          // an incomplete header or trailer (a copy)
    let members = 0;
    try {
      for await (const piece of pieces()) {
        let b = pend ? Buffer.concat([pend, piece]) : piece;
        pend = undefined;
        while (b.length && state !== 'padding') {
          if (state === 'header') {
            if (members > 0 && b[0] === 0) { state = 'padding'; break; }
            const n = gzipHeaderLength(b);
            if (n < 0) {
              if (b.length > MAX_GZIP_HEADER) throw invalid(`invalid layer tar: gzip header longer than ${MAX_GZIP_HEADER} bytes`);
              pend = Buffer.from(b);
              break;
            }
            b = b.subarray(n);
            z = inflater();
            memberOut = 0;
            state = 'deflate';
          } else if (state === 'deflate') {
            const before = z!.bytesWritten;
            await settle(z!, 'write', b);
            const used = z!.bytesWritten - before;
            if (used >= b.length) { b = EMPTY; break; }
            b = b.subarray(used);   // zlib took less: the member's deflate data ended there
            state = 'trailer';
          } else {
            if (b.length < 8) { pend = Buffer.from(b); break; }
            await settle(z!, 'end');
            if (b.readUInt32LE(4) !== memberOut % 2 ** 32) throw invalid('invalid layer tar: gzip member length does not match its trailer');
            z!.destroy();
            z = undefined;
            members++;
            b = b.subarray(8);
            state = 'header';
          }
        }
        if (out.destroyed) break;
      }
      if (out.destroyed) { z?.destroy(); stop(); return; }
      if (state === 'deflate') {
        // The input ended inside a member: zlib says whether its deflate data was whole (then the
        // trailer is missing) or not.
        z!.end();
        await settle(z!, 'end');
        throw new Error('unexpected end of file');
      }
      if (state === 'trailer' || pend) throw new Error('unexpected end of file');
      out.end();
    } catch (e) {
      out.destroy(e);
      z?.destroy();
      stop();
    }
  })();
  return {
    destroy: (e?: unknown) => { out.destroy(e); z?.destroy(); stop(); },
    [Symbol.asyncIterator]: () => out[Symbol.asyncIterator](),
  };
}

/** Cleans a tar name into components; throws if it climbs out of the root. */
export function cleanPath(name: string): string[] {
  if (name.includes('\0')) throw invalid(`invalid layer tar: NUL byte in name ${JSON.stringify(name)}`);
  if (Buffer.byteLength(name) > MAX_PATH) throw invalid(`invalid layer tar: name longer than ${MAX_PATH} bytes`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw invalid(`invalid layer tar: ${JSON.stringify(name)} points outside the layer`);
      out.pop();
      continue;
    }
    if (Buffer.byteLength(c) > 255) throw invalid('invalid layer tar: name component longer than 255 bytes');
    out.push(c);
  }
  return out;
}

function num(v: unknown, what: string, max: number): number {
  const n = typeof v === 'string' ? Number(v) : (v as number);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw invalid(`invalid layer tar: bad ${what} ${String(v)}`);
  return n;
}

interface Deferred { comps: string[]; }

const WRITE_BATCH = 1 << 20;
const ASYNC_WRITE_MIN = 256 * 1024;

function writev(fd: number, bufs: Buffer[], pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.writev(fd, bufs, pos, (e, n) => (e ? reject(e) : resolve(n))));
}

class Unpacker {
  size = 0;
  private unflushed = 0;
  private flushing: Promise<void> | null = null;
  private budget: number;
  private readonly dirTimes: { comps: string[]; mtime: number }[] = [];
  private readonly whiteouts: Deferred[] = [];
  private readonly opaque: Deferred[] = [];
  private readonly fifos: { comps: string[]; mode: number; uid: number; gid: number; mtime: number }[] = [];
  private readonly xattrs: { comps: string[]; name: string; value: Buffer }[] = [];
  /**
   * Directories resolved so far: components as the tar names them ('/'-joined) -> the real directory
   * they lead to. Entries come directory by directory, so most resolutions are one lookup instead of
   * an lstat per component. Emptied whenever a directory or a symlink is removed (clear()): only that
   * can make a path lead somewhere else (a stale answer could lead through a new symlink, outside).
   */
  private readonly resolved = new Map<string, string[]>();

  constructor(private readonly root: string, private readonly opts: UnpackOptions, private readonly split?: SplitFiles) {
    if (opts.maxBytes !== undefined) {
      this.budget = opts.maxBytes;
    } else {
      const st = fs.statfsSync(root);
      this.budget = Math.max(0, st.bavail * st.bsize - RESERVE);
    }
  }

  private abs(comps: string[]): string {
    return comps.length ? path.join(this.root, ...comps) : this.root;
  }

  private warn(msg: string): void { this.opts.onWarning?.(msg); }

  /** Counts file data written; starts a writeback (opts.flush) every flushEvery bytes, one at a time. */
  private written(n: number): void {
    this.unflushed += n;
    if (this.opts.flush && this.unflushed >= (this.opts.flushEvery ?? 128 << 20) && !this.flushing) {
      this.unflushed = 0;
      this.flushing = this.opts.flush().catch(() => undefined).finally(() => { this.flushing = null; });
    }
  }

  /**
   * Resolves directory components inside the root, following symlinks only within it, creating
   * missing directories when `create`. Returns the resolved components (a real directory).
   */
  private resolveDir(comps: string[], create: boolean): string[] {
    // From the longest prefix resolved before (usually the whole path, or all but its last component).
    let known = comps.length;
    let base: string[] | undefined;
    while (known > 0 && (base = this.resolved.get(comps.slice(0, known).join('/'))) === undefined) known--;
    if (base !== undefined && known === comps.length) return base;
    const stack: string[] = base ? [...base] : [];
    const queue = comps.slice(known);
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') { stack.pop(); continue; }
      const p = path.join(this.root, ...stack, c);
      let st: fs.Stats | undefined;
      try { st = fs.lstatSync(p); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
      if (st === undefined) {
        if (!create) throw invalid(`invalid layer tar: ${[...stack, c].join('/')} does not exist`);
        fs.mkdirSync(p, 0o755);
        stack.push(c);
      } else if (st.isDirectory()) {
        stack.push(c);
      } else if (st.isSymbolicLink()) {
        if (++hops > MAX_LINK_HOPS) throw invalid(`invalid layer tar: too many levels of symbolic links at ${comps.join('/')}`);
        const target = fs.readlinkSync(p);
        if (target.startsWith('/')) stack.length = 0;
        queue.unshift(...target.split('/'));
      } else {
        throw invalid(`invalid layer tar: ${[...stack, c].join('/')} is not a directory`);
      }
    }
    if (comps.length > 0) this.resolved.set(comps.join('/'), stack);
    return stack;
  }

  /** True if every component of `comps` but the last is a real directory (not a symlink) under root. */
  private parentsAreDirs(comps: string[]): boolean {
    for (let i = 1; i < comps.length; i++) {
      try {
        if (!fs.lstatSync(this.abs(comps.slice(0, i))).isDirectory()) return false;
      } catch { return false; }
    }
    return true;
  }

  /** Clears the way for a new entry at p; returns true if an existing directory should be kept. */
  private clear(p: string, isDir: boolean): boolean {
    let st: fs.Stats;
    try { st = fs.lstatSync(p); } catch { return false; }
    if (st.isDirectory()) {
      if (isDir) return true;
      this.resolved.clear();
      this.split?.moved(path.relative(this.root, p), true);
      fs.rmSync(p, { recursive: true, force: true });
    } else {
      if (st.isSymbolicLink()) this.resolved.clear();
      if (st.isFile()) this.split?.moved(path.relative(this.root, p), false);
      fs.unlinkSync(p);
    }
    return false;
  }

  async entry(h: Header, stream: EntryStream): Promise<void> {
    const recorded = this.split?.files.length ?? 0;
    await this.handle(h, stream);
    const size = h.size ?? 0;
    // Contents the tar-split must find again but that were not unpacked (a whiteout with data...).
    if (this.split && (h.type === 'file' || h.type === 'contiguous-file') && size > 0 && this.split.files.length === recorded) {
      await this.split.spill(stream, size);
    }
    for await (const _ of stream) { /* drain what a non-file entry carried */ }
  }

  private async handle(h: Header, stream: EntryStream): Promise<void> {
    const pax = h.pax ?? {};
    const comps = cleanPath(h.name);
    const mode = num(h.mode ?? 0, 'mode', 0o7777777) & 0o7777;
    const uid = num(pax['uid'] ?? h.uid ?? 0, 'uid', 0xfffffffe);
    const gid = num(pax['gid'] ?? h.gid ?? 0, 'gid', 0xfffffffe);
    let mtime = pax['mtime'] !== undefined ? Number(pax['mtime']) : (h.mtime ? h.mtime.getTime() / 1000 : 0);
    if (!Number.isFinite(mtime)) mtime = 0;
    const type = h.type;

    if (comps.length === 0) {
      if (type !== 'directory') throw invalid(`invalid layer tar: ${JSON.stringify(h.name)} names the root but is not a directory`);
      fs.chownSync(this.root, uid, gid);
      fs.chmodSync(this.root, mode);
      this.dirTimes.push({ comps: [], mtime });
      return;
    }

    const base = comps[comps.length - 1]!;
    if (base.startsWith('.wh.')) {
      const dir = this.resolveDir(comps.slice(0, -1), true);
      if (base === '.wh..wh..opq') { this.opaque.push({ comps: dir }); return; }
      if (base.startsWith('.wh..wh.')) return; // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless here
      const name = base.slice(4);
      if (name === '' || name === '.' || name === '..') throw invalid(`invalid layer tar: bad whiteout ${JSON.stringify(h.name)}`);
      const target = [...dir, name];
      this.clear(this.abs(target), false);
      this.whiteouts.push({ comps: target });
      return;
    }

    const dir = this.resolveDir(comps.slice(0, -1), true);
    const target = [...dir, base];
    const p = this.abs(target);

    switch (type) {
      case 'directory': {
        if (!this.clear(p, true)) fs.mkdirSync(p, 0o700);
        fs.chownSync(p, uid, gid);
        fs.chmodSync(p, mode);
        this.dirTimes.push({ comps: target, mtime });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        const size = h.size ?? 0;
        if (!(size <= this.budget)) {
          throw invalid(`invalid layer tar: ${comps.join('/')} claims ${size} bytes, more than the ${this.budget} bytes of space left`);
        }
        this.clear(p, false);
        const direct = size >= DIRECT_MIN && this.opts.directDir !== undefined && directWrites(this.opts.directDir);
        const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW | (direct ? fs.constants.O_DIRECT : 0), 0o600);
        const df = direct ? new DirectFile(fd, p, size) : undefined;
        try {
          let written = 0;
          // Big files are written by the thread pool, 1 MiB at a time, so that reading, hashing and
          // parsing the next bytes go on meanwhile; small ones at once.
          let batch: Buffer[] = [];
          let batchLen = 0;
          let pos = 0;
          const put = async () => {
            const bufs = batch;
            const len = batchLen;
            batch = [];
            batchLen = 0;
            if (size < ASYNC_WRITE_MIN) {
              for (const b of bufs) { let off = 0; while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off, pos + off); pos += b.length; }
            } else {
              let done = await writev(fd, bufs, pos);
              while (done < len) done += fs.writeSync(fd, Buffer.concat(bufs).subarray(done), 0, len - done, pos + done);
              pos += len;
            }
            // Counted as written, not when the file ends: a layer of one big file would otherwise
            // start no writeback at all, and the flush before it is recorded would wait for all of it.
            this.written(len);
          };
          for await (const chunk of stream) {
            const buf = chunk as Buffer;
            written += buf.length;
            if (written > size) throw invalid('invalid layer tar: entry longer than its header says');
            if (df) { await df.write(buf); continue; }
            batch.push(buf);
            batchLen += buf.length;
            if (batchLen >= WRITE_BATCH) await put();
          }
          if (batchLen) await put();
          if (written !== size) throw invalid(`invalid layer tar: ${comps.join('/')} is truncated`);
          await df?.finish();
          fs.fchownSync(fd, uid, gid);
          fs.fchmodSync(fd, mode);
          fs.futimesSync(fd, mtime, mtime);
        } finally {
          await df?.done();
          fs.closeSync(fd);
        }
        this.budget -= size;
        this.size += size;
        if (size > 0) this.split?.file(target.join('/'), size);
        break;
      }
      case 'symlink': {
        const link = h.linkname ?? '';
        if (link === '' || link.includes('\0') || Buffer.byteLength(link) > MAX_PATH) {
          throw invalid(`invalid layer tar: bad symlink target for ${comps.join('/')}`);
        }
        this.clear(p, false);
        fs.symlinkSync(link, p);
        fs.lchownSync(p, uid, gid);
        fs.lutimesSync(p, mtime, mtime);
        break;
      }
      case 'link': {
        const lcomps = cleanPath(h.linkname ?? '');
        if (lcomps.length === 0) throw invalid(`invalid layer tar: hardlink ${comps.join('/')} to the root`);
        const ldir = this.resolveDir(lcomps.slice(0, -1), false);
        const src = this.abs([...ldir, lcomps[lcomps.length - 1]!]);
        let st: fs.Stats;
        try { st = fs.lstatSync(src); } catch {
          throw invalid(`invalid layer tar: hardlink ${comps.join('/')} to ${h.linkname}, which is not in the layer`);
        }
        if (st.isDirectory()) throw invalid(`invalid layer tar: hardlink ${comps.join('/')} to a directory`);
        if (src === p) break;
        this.clear(p, false);
        fs.linkSync(src, p);
        break;
      }
      case 'character-device':
      case 'block-device': {
        if (type === 'character-device' && h.devmajor === 0 && h.devminor === 0) {
          this.clear(p, false);
          this.whiteouts.push({ comps: target });
        } else {
          this.warn(`dropped device node /${comps.join('/')} (${type} ${h.devmajor}:${h.devminor})`);
        }
        return;
      }
      case 'fifo': {
        this.clear(p, false);
        this.fifos.push({ comps: target, mode, uid, gid, mtime });
        return;
      }
      default:
        throw invalid(`invalid layer tar: unsupported entry type ${String(type)} for ${comps.join('/')}`);
    }

    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith('SCHILY.xattr.')) continue;
      const name = k.slice('SCHILY.xattr.'.length);
      if ((name.startsWith('user.') || name === 'security.capability') && !v.includes('\ufffd')) {
        this.xattrs.push({ comps: target, name, value: Buffer.from(v, 'latin1') });
      } else {
        this.warn(`dropped extended attribute ${name} of /${comps.join('/')}`);
      }
    }
  }

  /**
   * Creates what Node.js cannot (whiteouts, FIFOs, attributes) in one helper process, then sets the
   * directory times last, since creating anything inside a directory changes its mtime.
   */
  async finish(): Promise<void> {
    await this.flushing;
    const ops: SysOp[] = [];
    const exists = (comps: string[]) => { try { fs.lstatSync(this.abs(comps)); return true; } catch { return false; } };
    // Every path was resolved when its entry was read, but a later entry may have replaced a parent
    // with a symlink: re-check that parents are real directories before touching anything.
    for (const w of this.whiteouts) {
      if (this.parentsAreDirs(w.comps) && !exists(w.comps)) ops.push({ op: 'whiteout', path: this.abs(w.comps) });
    }
    for (const f of this.fifos) {
      if (this.parentsAreDirs(f.comps) && !exists(f.comps)) ops.push({ op: 'fifo', path: this.abs(f.comps), mode: f.mode });
    }
    for (const o of this.opaque) {
      const p = this.abs(o.comps);
      if (this.parentsAreDirs(o.comps) && fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) {
        ops.push({ op: 'setxattr', path: p, name: OPAQUE_XATTR, value: Buffer.from('y') });
      }
    }
    for (const x of this.xattrs) {
      if (this.parentsAreDirs(x.comps) && exists(x.comps)) ops.push({ op: 'setxattr', path: this.abs(x.comps), name: x.name, value: x.value });
    }
    await applySysOps(ops);
    for (const f of this.fifos) {
      const p = this.abs(f.comps);
      if (!this.parentsAreDirs(f.comps) || !fs.lstatSync(p, { throwIfNoEntry: false })?.isFIFO()) continue;
      fs.lchownSync(p, f.uid, f.gid);
      fs.chmodSync(p, f.mode);
      fs.lutimesSync(p, f.mtime, f.mtime);
    }
    for (const d of this.dirTimes) {
      const p = this.abs(d.comps);
      if (!this.parentsAreDirs(d.comps) || !fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) continue;
      fs.utimesSync(p, d.mtime, d.mtime);
    }
  }
}
