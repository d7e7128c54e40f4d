// Files read ahead into a few reused blocks that are lent to the reader (a push's socket writer)
// and given back when it is done with them.
//
// Why: a push of layers just pulled reads them from disk (the pull wrote their big files around the
// page cache). Read synchronously on barged's main thread, every upload stopped while the disk
// answered: a cold push of 1 GiB took 2.4 s against 1.7 s with the files cached. Here the reads run
// on the thread pool, a few blocks ahead of the socket, and files of DIRECT_MIN and more are read
// around the page cache (O_DIRECT) into aligned blocks: no page-cache memory to take (dear on this
// kind of VM: bench/README.md), nothing allocated per read, no copy between the disk and the socket.
import * as fs from 'node:fs';
import { ALIGN, DIRECT_MIN, alignedOffset, errno } from './directio.js';

/** Bytes lent by their producer: the reader calls release() when it no longer needs them (the block is reused); absent for bytes the reader may keep. */
export interface Lent { bytes: Buffer; release?: () => void }

/** The default block size. */
export const READ_BLOCK = 2 << 20;
const BLOCK = READ_BLOCK;
const BLOCKS = 4;
/** Ranges up to this size are read at once, synchronously, into a buffer of their own (not lent). */
export const SMALL = 256 << 10;

function pread(fd: number, buf: Buffer, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
}

/**
 * A stream's blocks (`count` of `size` bytes, in one allocation made at first use): free ones, and
 * readers waiting for one to come back.
 */
export class ReadBlocks {
  private region: Buffer | undefined;
  private alignedAt: number | null | undefined;   // offset of the first aligned byte; null: none found
  private free: Buffer[] = [];
  private waiting: ((b: Buffer) => void)[] = [];
  private idleWaiting: (() => void)[] = [];

  constructor(private readonly count = BLOCKS, readonly size = BLOCK) {
    if (size % ALIGN !== 0 || count < 1) throw new Error(`read blocks: ${count} of ${size} bytes`);
  }

  private carve(offset: number): void {
    this.free = [];
    for (let i = 0; i < this.count; i++) this.free.push(this.region!.subarray(offset + i * this.size, offset + (i + 1) * this.size));
  }

  private ensure(): void {
    if (this.region) return;
    this.region = Buffer.allocUnsafeSlow(this.count * this.size + ALIGN);
    this.carve(0);
  }

  /** Whether the aligned offset was looked for already (aligned() answers at once). */
  probed(): boolean {
    return this.alignedAt !== undefined;
  }

  /**
   * Whether direct reads of `dfd` (opened with O_DIRECT) can go into these blocks: the first call
   * finds, by a 4 KiB read at the file's start, which offset in the allocation is aligned (JS cannot
   * ask where a buffer lies), and re-carves the blocks there. Only while no block is lent
   * (whenIdle()): otherwise false, and the question stays open.
   */
  aligned(dfd: number): boolean {
    this.ensure();
    if (this.alignedAt !== undefined) return this.alignedAt !== null;
    if (this.free.length !== this.count) return false;
    const off = alignedOffset((o) => fs.readSync(dfd, this.region!, o, ALIGN, 0));
    this.alignedAt = off ?? null;
    if (off === null || off === undefined) return false;
    this.carve(off);
    return true;
  }

  /** No block is lent or being read into. */
  idle(): boolean {
    return !this.region || this.free.length === this.count;
  }

  /** Resolves once every block is back. */
  whenIdle(): Promise<void> {
    return this.idle() ? Promise.resolve() : new Promise((resolve) => this.idleWaiting.push(resolve));
  }

  take(): Buffer | Promise<Buffer> {
    this.ensure();
    return this.free.pop() ?? new Promise((resolve) => this.waiting.push(resolve));
  }

  tryTake(): Buffer | undefined {
    this.ensure();
    return this.free.pop();
  }

  give(b: Buffer): void {
    const w = this.waiting.shift();
    if (w) { w(b); return; }
    this.free.push(b);
    if (this.free.length === this.count) for (const r of this.idleWaiting.splice(0)) r();
  }
}

interface Pending { buf: Buffer; len: number; read: Promise<number> }

/** Bytes [start, start + size) of the file open as `fd`, read synchronously; `short` if it ends early. */
export function readRange(fd: number, start: number, size: number, short: () => Error): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let got = 0; got < size;) {
    const n = fs.readSync(fd, b, got, size - got, start + got);
    if (n === 0) throw short();
    got += n;
  }
  return b;
}

/**
 * Bytes [start, start + size) of the file open as `fd`, read as many blocks ahead as `blocks` has, each lent
 * until released (a range of at most SMALL bytes: read at once, not lent). A file of DIRECT_MIN
 * bytes or more, read from its start, is read around the page cache where its filesystem allows (a
 * second descriptor, opened through /proc/self/fd: the same file, not a path that could have
 * changed). `short` is the error for a file that ends early.
 */
export async function* lendFile(blocks: ReadBlocks, fd: number, start: number, size: number, short: () => Error): AsyncGenerator<Lent> {
  if (size <= SMALL) {
    if (size > 0) yield { bytes: readRange(fd, start, size, short) };
    return;
  }
  let dfd: number | undefined;
  if (size >= DIRECT_MIN && start % ALIGN === 0) {
    // The first big file of a stream waits for the blocks the previous file lent (the socket takes
    // them within moments): the aligned offset is found only while none is out.
    if (!blocks.probed()) await blocks.whenIdle();
    try {
      dfd = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
      if (!blocks.aligned(dfd)) { fs.closeSync(dfd); dfd = undefined; }
    } catch {
      if (dfd !== undefined) fs.closeSync(dfd);
      dfd = undefined;   // this filesystem refuses O_DIRECT: buffered
    }
  }
  let direct = dfd !== undefined;
  /** Reads `len` bytes at `pos` into `buf` (fewer only at the end of the file); direct reads ask for whole blocks. */
  const read = async (buf: Buffer, len: number, pos: number): Promise<number> => {
    let got = 0;
    while (got < len) {
      let n: number;
      if (direct && got % ALIGN === 0) {
        try {
          n = await pread(dfd!, buf.subarray(got), Math.ceil((len - got) / ALIGN) * ALIGN, pos + got);
        } catch (e) {
          if (errno(e) !== 'EINVAL') throw e;
          direct = false;   // refused after all: the rest of this file is read buffered
          continue;
        }
      } else {
        n = await pread(fd, buf.subarray(got), len - got, pos + got);
      }
      if (n === 0) break;
      got += n;
    }
    return Math.min(got, len);
  };
  const queue: Pending[] = [];
  let issued = 0;
  const issue = (buf: Buffer) => {
    const len = Math.min(blocks.size, size - issued);
    const p: Pending = { buf, len, read: read(buf, len, start + issued) };
    p.read.catch(() => undefined);   // awaited in order below; not unhandled meanwhile
    queue.push(p);
    issued += len;
  };
  try {
    while (queue.length > 0 || issued < size) {
      // Keep the free blocks reading; wait for one only when nothing is being read.
      while (issued < size) {
        const b = queue.length === 0 ? await blocks.take() : blocks.tryTake();
        if (!b) break;
        issue(b);
      }
      const p = queue.shift()!;
      let n: number;
      try { n = await p.read; } catch (e) { blocks.give(p.buf); throw e; }
      if (n < p.len) { blocks.give(p.buf); throw short(); }
      let given = false;
      yield { bytes: p.buf.subarray(0, p.len), release: () => { if (!given) { given = true; blocks.give(p.buf); } } };
    }
  } finally {
    // Reads still under way finish before the descriptors close (a read on a closed, reused
    // descriptor number would read another file), and their blocks go back.
    for (const p of queue.splice(0)) { await p.read.catch(() => undefined); blocks.give(p.buf); }
    if (dfd !== undefined) fs.closeSync(dfd);
  }
}

/** Lent bytes as Buffers the reader may keep: those lent are copied and given back at once. */
export async function* kept(src: AsyncIterable<Lent>): AsyncGenerator<Buffer> {
  for await (const c of src) {
    if (!c.release) { yield c.bytes; continue; }
    const b = Buffer.from(c.bytes);
    c.release();
    yield b;
  }
}

/** Where lent bytes go: an HTTP request or response. */
export interface LentSink {
  write(b: Uint8Array, done?: (e?: Error | null) => void): boolean;
  readonly destroyed: boolean;
  on(event: 'drain' | 'close', f: () => void): unknown;
  off(event: 'drain' | 'close', f: () => void): unknown;
  once(event: 'close', f: () => void): unknown;
}

/** Below this, chunks the reader may keep are gathered into one write (a tar's headers and small files). */
const GATHER = 64 << 10;

/**
 * Writes `src` to `out` in order. A lent chunk is released when the socket has taken it (the write's
 * callback, or `out` closing, whichever comes first: a closed socket never reports its writes), and
 * the next one is asked for once `out` can take more, so a slow peer holds the reads back and
 * nothing piles up in memory. Returns once every chunk is released; throws if `out` closes first.
 * The caller ends `out`.
 */
export async function writeLent(out: LentSink, src: AsyncIterable<Lent>): Promise<void> {
  const lent = new Set<() => void>();
  let allBack: (() => void) | undefined;
  const back = (r: () => void) => {
    if (!lent.delete(r)) return;
    r();
    if (lent.size === 0) allBack?.();
  };
  out.once('close', () => { for (const r of lent) back(r); });
  const room = () => new Promise<void>((resolve) => {
    const go = () => { out.off('drain', go); out.off('close', go); resolve(); };
    out.on('drain', go);
    out.on('close', go);
  });
  const closed = () => Object.assign(new Error('the connection closed before the body was sent'), { code: 'ECONNRESET' });
  const write = async (b: Buffer, done?: () => void) => {
    if (!out.write(b, done) && !out.destroyed) await room();
  };
  let gathered: Buffer[] = [];
  let gatheredBytes = 0;
  const flush = async () => {
    if (gatheredBytes === 0) return;
    const b = gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, gatheredBytes);
    gathered = [];
    gatheredBytes = 0;
    await write(b);
  };
  for await (const c of src) {
    const release = c.release;
    if (out.destroyed) { release?.(); throw closed(); }
    if (!release) {
      gathered.push(c.bytes);
      gatheredBytes += c.bytes.length;
      if (gatheredBytes >= GATHER) await flush();
      continue;
    }
    await flush();
    lent.add(release);
    await write(c.bytes, () => back(release));
  }
  await flush();
  // Every block back before returning: the caller may reuse them for the next body.
  if (lent.size > 0) await new Promise<void>((resolve) => { allBack = resolve; });
  if (out.destroyed) throw closed();
}
