// Tar-split: a layer's tar stream kept as its unpacked files plus a small recipe, so that the layer's
// exact bytes (same diffID) can be streamed again for `save` and `push` without storing the tar too.
// Docker keeps layers the same way (vbatts/tar-split); without it every loaded or committed layer
// would be on disk twice (its tar blob and its files) and written twice.
//
// The recipe, written next to the snapshot's files while the layer is unpacked:
//   split.skel    the tar stream minus the contents of regular files (headers, PAX and GNU long-name
//                 records, padding, end blocks: everything else, byte for byte)
//   split.json    { version, files: [ { path } | { spill } ] with size }, one per regular-file entry
//                 with contents, in stream order: where its bytes are now, a path relative to the
//                 snapshot's fs/ or an offset into split.spill
//   split.spill   contents that are no longer in a file of the snapshot (an entry overwritten or
//                 removed by a later entry of the same layer, or not unpacked: a whiteout with data)
//
// Which bytes are "contents of a regular file" is decided block by block by the same rules as
// tar-stream, the parser the unpacker uses (typeflag '0'/NUL/'7', size from a PAX record, a V7 name
// ending in "/" is a directory, a zero block is skipped), and the unpacker's list of entries is checked
// against the splitter's at the end: a layer the two read differently is refused. Joining re-reads the
// files and checks their sizes; the caller checks the diffID of what it streams.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../lib/errors.js';
import { ReadBlocks, SMALL, lendFile, readRange, type Lent } from '../lib/lentread.js';

export const SKELETON = 'split.skel';
export const RECIPE = 'split.json';
export const SPILL = 'split.spill';

const BLOCK = 512;
const MAX_LONG_HEADER = 1 << 20;

export type FileRef = { size: number; path: string } | { size: number; spill: number };

interface Recipe { version: 1; files: FileRef[] }

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

function decodeOct(b: Buffer, off: number, len: number): number {
  const v = b.subarray(off, off + len);
  if (v[0]! & 0x80) {
    if (v[0] !== 0x80) return NaN;      // negative base-256: no valid size
    let n = 0;
    for (let i = 1; i < v.length; i++) n = n * 256 + v[i]!;
    return n;
  }
  let i = 0;
  while (i < v.length && v[i] === 32) i++;
  let end = v.indexOf(32, i);
  if (end < 0) end = v.length;
  while (i < end && v[i] === 0) i++;
  if (end === i) return 0;
  return parseInt(v.subarray(i, end).toString('latin1'), 8);
}

function isNullHeader(b: Buffer): boolean {
  let sum = 8 * 32;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += b[i]!;
  return sum === 8 * 32;
}

function paxSize(data: Buffer): string | undefined {
  let size: string | undefined;
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(32, i);
    if (sp < 0) break;
    const len = parseInt(data.subarray(i, sp).toString('latin1'), 10);
    if (!(len > 0) || i + len > data.length) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'size') size = rec.slice(eq + 1);
    i += len;
  }
  return size;
}

/** One header block as tar-stream reads it: how many data bytes follow, and whether they are file contents. */
interface Entry { size: number; regular: boolean; long: 'pax' | 'global' | 'other' | null }

/** PAX state carried from header to header, as tar-stream keeps it. */
class PaxState {
  private global: string | undefined | null = null;   // null: no global header seen
  private pending: { size: string | undefined } | null = null;

  longHeader(kind: 'pax' | 'global' | 'other', data: Buffer): void {
    if (kind === 'global') this.global = paxSize(data);
    else if (kind === 'pax') {
      const own = paxSize(data);
      this.pending = { size: own ?? (this.global === null ? undefined : this.global) };
    }
  }

  entry(block: Buffer): Entry | null {
    if (isNullHeader(block)) return null;
    let typeflag = block[156] === 0 ? 0 : block[156]! - 48;
    let size = decodeOct(block, 124, 12);
    // tar-stream's long headers: GNU long path/link ('L' 'K'), PAX global ('g') and per-entry ('x').
    if (typeflag === 28 || typeflag === 27) return { size, regular: false, long: 'other' };
    if (typeflag === 55) return { size, regular: false, long: 'global' };
    if (typeflag === 72) return { size, regular: false, long: 'pax' };
    const ustar = block.subarray(257, 263).toString('latin1') === 'ustar\0';
    let name = block.subarray(0, 100).toString('utf8');
    const nul = name.indexOf('\0');
    if (nul >= 0) name = name.slice(0, nul);
    if (ustar && block[345]) {
      let prefix = block.subarray(345, 500).toString('utf8');
      const pn = prefix.indexOf('\0');
      if (pn >= 0) prefix = prefix.slice(0, pn);
      name = prefix + '/' + name;
    }
    if (typeflag === 0 && name.endsWith('/')) typeflag = 5;
    if (this.pending) {
      if (this.pending.size) size = parseInt(this.pending.size, 10);
      this.pending = null;
    }
    if (!(size >= 0)) throw invalid('invalid layer tar: bad entry size');
    if (typeflag === 5) size = 0;    // tar-stream reads no data after a directory header
    return { size, regular: (typeflag === 0 || typeflag === 7) && size > 0, long: null };
  }
}

/**
 * Splits a tar stream as it is unpacked: `push` every chunk in order, then `end`. Writes the skeleton
 * to `dir`/split.skel and counts the regular-file contents it leaves out (`sizes`).
 */
export class TarSplitter {
  readonly sizes: number[] = [];
  private readonly fd: number;
  private out: Buffer[] = [];
  private outLen = 0;
  private head = Buffer.alloc(0);          // a header block being collected
  private skip = 0;                         // file-content bytes still to leave out
  private meta = 0;                         // bytes still to copy (data of other entries, padding)
  private long: { kind: 'pax' | 'global' | 'other'; need: number; parts: Buffer[]; got: number } | null = null;
  private readonly pax = new PaxState();

  constructor(private readonly dir: string) {
    this.fd = fs.openSync(path.join(dir, SKELETON), 'wx', 0o600);
  }

  private emit(b: Buffer): void {
    this.out.push(b);
    this.outLen += b.length;
    if (this.outLen >= 1 << 20) this.flush();
  }

  private flush(): void {
    if (!this.outLen) return;
    const b = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outLen);
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
    this.out = [];
    this.outLen = 0;
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      if (this.meta > 0) {
        const n = Math.min(this.meta, chunk.length - i);
        const part = chunk.subarray(i, i + n);
        this.emit(Buffer.from(part));
        if (this.long) {
          const want = Math.min(part.length, this.long.need - this.long.got);
          if (want > 0) { this.long.parts.push(Buffer.from(part.subarray(0, want))); this.long.got += want; }
          if (this.meta === n) { this.pax.longHeader(this.long.kind, Buffer.concat(this.long.parts)); this.long = null; }
        }
        this.meta -= n;
        i += n;
        continue;
      }
      const n = Math.min(BLOCK - this.head.length, chunk.length - i);
      this.head = this.head.length ? Buffer.concat([this.head, chunk.subarray(i, i + n)]) : Buffer.from(chunk.subarray(i, i + n));
      i += n;
      if (this.head.length < BLOCK) continue;
      const block = this.head;
      this.head = Buffer.alloc(0);
      this.emit(block);
      const e = this.pax.entry(block);
      if (!e) continue;
      if (e.long) {
        if (!(e.size >= 0) || e.size > MAX_LONG_HEADER) throw invalid('invalid layer tar: long header too large');
        this.long = { kind: e.long, need: e.size, parts: [], got: 0 };
        this.meta = e.size + pad(e.size);
        if (this.meta === 0) { this.pax.longHeader(e.long, Buffer.alloc(0)); this.long = null; }
      } else if (e.regular) {
        this.sizes.push(e.size);
        this.skip = e.size;
        this.meta = pad(e.size);
      } else {
        this.meta = e.size + pad(e.size);
      }
    }
  }

  /** Writes what is left (a partial block at the very end is kept as it is). */
  end(): void {
    if (this.head.length) this.emit(this.head);
    this.flush();
    fs.closeSync(this.fd);     // no fsync: synced with the layer's files (the snapshotter's sync, or the image's flush)
  }

  abort(): void {
    try { fs.closeSync(this.fd); } catch { /* closed */ }
  }
}

/**
 * What the unpacker tells about each regular file with contents, in order: where those bytes are now.
 * `moved(rel)` must be called before a file it recorded is overwritten or removed (its bytes are then
 * copied to the spill file).
 */
export class SplitFiles {
  readonly files: FileRef[] = [];
  private readonly byPath = new Map<string, number>();
  private spillFd: number | null = null;
  private spillLen = 0;

  constructor(private readonly dir: string, private readonly fsRoot: string) {}

  /** The entry's contents are in the file at `rel` (relative to the snapshot's fs/). */
  file(rel: string, size: number): void {
    this.byPath.set(rel, this.files.length);
    this.files.push({ path: rel, size });
  }

  /** The entry's contents were not unpacked: keep them in the spill file. */
  async spill(data: AsyncIterable<Buffer>, size: number): Promise<void> {
    const at = this.spillLen;
    let n = 0;
    for await (const chunk of data) { this.appendSpill(chunk); n += chunk.length; }
    if (n !== size) throw invalid('invalid layer tar: an entry is truncated');
    this.files.push({ spill: at, size });
  }

  private appendSpill(b: Buffer): void {
    if (this.spillFd === null) this.spillFd = fs.openSync(path.join(this.dir, SPILL), 'wx', 0o600);
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.spillFd, b, off, b.length - off, this.spillLen + off);
    this.spillLen += b.length;
  }

  /** The file at `rel` (or, for a directory, every recorded file under it) is about to go. */
  moved(rel: string, isDir: boolean): void {
    if (!this.byPath.size) return;
    const hit = (p: string) => p === rel || (isDir && p.startsWith(rel + '/'));
    for (const [p, idx] of [...this.byPath]) {
      if (!hit(p)) continue;
      this.byPath.delete(p);
      const ref = this.files[idx]!;
      const data = fs.readFileSync(path.join(this.fsRoot, p));
      if (data.length !== ref.size) throw invalid(`invalid layer tar: ${p} changed size while unpacking`);
      const at = this.spillLen;
      this.appendSpill(data);
      this.files[idx] = { spill: at, size: ref.size };
    }
  }

  /** Checks the list against the splitter's and writes the recipe. */
  finish(splitter: TarSplitter): void {
    const a = splitter.sizes;
    if (a.length !== this.files.length || a.some((s, i) => s !== this.files[i]!.size)) {
      throw invalid(`invalid layer tar: its regular files cannot be told apart consistently (${a.length} vs ${this.files.length})`);
    }
    for (const f of this.files) {
      if (!('path' in f)) continue;
      const st = fs.lstatSync(path.join(this.fsRoot, f.path), { throwIfNoEntry: false });
      if (!st?.isFile() || st.size !== f.size) throw invalid(`invalid layer tar: ${f.path} is not what the layer wrote`);
    }
    if (this.spillFd !== null) { fs.closeSync(this.spillFd); this.spillFd = null; }
    const recipe: Recipe = { version: 1, files: this.files };
    fs.writeFileSync(path.join(this.dir, RECIPE), JSON.stringify(recipe), { mode: 0o600, flag: 'wx' });
  }

  abort(): void {
    if (this.spillFd !== null) { try { fs.closeSync(this.spillFd); } catch { /* closed */ } this.spillFd = null; }
  }
}

/** Whether `dir` (a snapshot's directory) holds a recipe. */
export function hasSplit(dir: string): boolean {
  return fs.existsSync(path.join(dir, RECIPE));
}

/** Reads exactly n bytes (fewer only at the end of the file) from fd at its position. */
class BlockReader {
  private pos = 0;
  constructor(private readonly fd: number) {}
  read(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const r = fs.readSync(this.fd, b, got, n - got, this.pos + got);
      if (r === 0) break;
      got += r;
    }
    this.pos += got;
    return got === n ? b : b.subarray(0, got);
  }
}

const CHUNK = 1 << 20;

function fileBytes(blocks: ReadBlocks, fd: number, start: number, size: number, what: string): Iterable<Lent> | AsyncIterable<Lent> | Lent {
  const short = () => invalid(`layer recipe: ${what} is shorter than recorded`);
  if (size === 0) return [];
  // Small files (most of a typical layer) without an async generator each.
  return size <= SMALL ? { bytes: readRange(fd, start, size, short) } : lendFile(blocks, fd, start, size, short);
}

/**
 * The layer's tar stream, rebuilt from the snapshot directory `dir` (its fs/ and recipe), its files'
 * bytes lent (lentread.ts: release each chunk when done with it; `kept()` for a reader that keeps
 * them). The caller verifies the diffID of what it reads.
 */
export async function* joinTarSplit(dir: string): AsyncGenerator<Lent> {
  const recipe = JSON.parse(fs.readFileSync(path.join(dir, RECIPE), 'utf8')) as Recipe;
  if (recipe.version !== 1 || !Array.isArray(recipe.files)) throw invalid(`layer recipe in ${dir} is not readable`);
  const fsRoot = path.join(dir, 'fs');
  const skel = fs.openSync(path.join(dir, SKELETON), 'r');
  let spill: number | null = null;
  const pax = new PaxState();
  const r = new BlockReader(skel);
  const blocks = new ReadBlocks();
  let k = 0;
  try {
    for (;;) {
      const block = r.read(BLOCK);
      if (block.length === 0) break;
      yield { bytes: block };
      if (block.length < BLOCK) break;
      const e = pax.entry(block);
      if (!e) continue;
      if (e.long) {
        const data = r.read(e.size + pad(e.size));
        pax.longHeader(e.long, data.subarray(0, e.size));
        yield { bytes: data };
      } else if (e.regular) {
        const ref = recipe.files[k++];
        if (!ref || ref.size !== e.size) throw invalid(`layer recipe in ${dir} does not match its skeleton`);
        if ('path' in ref) {
          const p = path.join(fsRoot, ref.path);
          if (path.relative(fsRoot, p).startsWith('..')) throw invalid(`layer recipe in ${dir} names a path outside the layer`);
          const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
          try {
            const st = fs.fstatSync(fd);
            if (!st.isFile() || st.size !== ref.size) throw invalid(`layer file ${ref.path} in ${dir} has changed`);
            const b = fileBytes(blocks, fd, 0, ref.size, ref.path);
            if ('bytes' in b) yield b; else yield* b;
          } finally {
            fs.closeSync(fd);
          }
        } else {
          spill ??= fs.openSync(path.join(dir, SPILL), 'r');
          const b = fileBytes(blocks, spill, ref.spill, ref.size, 'the spill file');
          if ('bytes' in b) yield b; else yield* b;
        }
        const p = pad(e.size);
        if (p) yield { bytes: r.read(p) };
      } else if (e.size > 0) {
        let left = e.size + pad(e.size);
        while (left > 0) { const b = r.read(Math.min(CHUNK, left)); if (!b.length) break; left -= b.length; yield { bytes: b }; }
      }
    }
    if (k !== recipe.files.length) throw invalid(`layer recipe in ${dir} does not match its skeleton`);
  } finally {
    fs.closeSync(skel);
    if (spill !== null) fs.closeSync(spill);
  }
}
