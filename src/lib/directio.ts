// Writing a layer's big files around the page cache (O_DIRECT).
//
// Why: a buffered write first takes a page of memory for every 4 KiB. On VMs whose host takes back
// the memory a guest frees (this one: see bench/README.md), that costs ~2 s of CPU per GiB of new
// pages: a 1 GiB pull spent more CPU getting page-cache memory than on anything else but sha256.
// Writing big files directly from a few reused, aligned buffers costs a copy into them and nothing
// per page; the data is on disk when the write returns, so those files need no writeback flush.
// Files later read (a container's) come into the page cache then, as Docker's would after a reboot.
//
// O_DIRECT wants the memory, the file offset and the length aligned to the device's block size. JS
// cannot ask where a buffer lies, so each thread allocates one region big enough that glibc maps it
// on its own (page-aligned, plus its 16-byte chunk header) and probes, with a 4 KiB write to a
// scratch file, which offset in it is aligned. Filesystems that refuse O_DIRECT (tmpfs, some
// overlay setups), or any probe that fails, leave the unpack to buffered writes, as before.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Files at least this big are written directly. */
export const DIRECT_MIN = 8 << 20;
const STAGE = 4 << 20;
/** The alignment direct I/O is done at (memory, file offsets, lengths). */
export const ALIGN = 4096;
// Above glibc's largest mmap threshold (32 MiB): always a mapping of its own.
const REGION = 33 << 20;

let stages: [Buffer, Buffer] | null | undefined;   // this thread's; null: no aligned offset found
const support = new Map<number, boolean>();          // by filesystem (st_dev)

export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Which offset (below ALIGN) of an allocation is aligned for direct I/O: the first at which `io(off)`
 * (a 4 KiB direct read or write from there) does not fail with EINVAL. The likeliest come first:
 * 16 bytes before a page (an allocation glibc maps on its own starts after its 16-byte header),
 * then the page itself. null: none is; undefined: `io` failed otherwise (not a question of alignment).
 */
export function alignedOffset(io: (off: number) => void): number | null | undefined {
  const offsets = [ALIGN - 16, 0];
  for (let o = 16; o < ALIGN; o += 16) if (o !== ALIGN - 16) offsets.push(o);
  for (const off of offsets) {
    try {
      io(off);
      return off;
    } catch (e) {
      if (errno(e) !== 'EINVAL') return undefined;
    }
  }
  return null;
}

/**
 * Whether `probeFile`'s filesystem takes direct writes from this thread's stages; the first call of
 * the thread also finds the aligned offset in its region.
 */
function probe(probeFile: string): boolean {
  if (stages === null) return false;
  let fd: number;
  try {
    fd = fs.openSync(probeFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW | fs.constants.O_DIRECT, 0o600);
  } catch {
    return false;   // this filesystem refuses O_DIRECT
  }
  try {
    if (stages) {
      try { fs.writeSync(fd, stages[0], 0, ALIGN, 0); return true; } catch { return false; }
    }
    const region = Buffer.from(new ArrayBuffer(REGION));
    const off = alignedOffset((o) => fs.writeSync(fd, region, o, ALIGN, 0));
    if (off === undefined) return false;
    if (off === null) { stages = null; return false; }
    stages = [region.subarray(off, off + STAGE), region.subarray(off + STAGE, off + 2 * STAGE)];
    return true;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(probeFile, { force: true });
  }
}

/**
 * Whether files may be written directly on `dir`'s filesystem, from this thread: it takes O_DIRECT
 * and an aligned buffer was found. Decided once per filesystem, by a scratch file in `dir`, which
 * must be a directory only barge writes to (not a layer's: its entries could be in the way).
 */
export function directWrites(dir: string): boolean {
  let dev: number;
  try { dev = fs.statSync(dir).dev; } catch { return false; }
  let ok = support.get(dev);
  if (ok === undefined) {
    ok = probe(path.join(dir, `.direct-probe-${randomBytes(6).toString('hex')}`));
    support.set(dev, ok);
  }
  return ok;
}

function pwrite(fd: number, buf: Buffer, len: number, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, 0, len, pos, (e, n) => {
      if (e) reject(e);
      else if (n !== len) reject(Object.assign(new Error(`short direct write (${n} of ${len} bytes)`), { code: 'EIO' }));
      else resolve();
    });
  });
}

/**
 * A file opened with O_DIRECT, written in order through this thread's two stages: one is filled
 * while the other is being written. The last stage is padded to the block size, and the file cut to
 * its size. If the filesystem refuses a direct write after all (EINVAL), the file is reopened without
 * O_DIRECT and finished by buffered writes.
 */
export class DirectFile {
  private k = 0;
  private fill = 0;
  private pos = 0;
  private inflight: Promise<void> = Promise.resolve();
  private buffered: number | undefined;   // the fallback descriptor

  constructor(private readonly fd: number, private readonly file: string, private readonly size: number) {}

  async write(chunk: Buffer): Promise<void> {
    const st = stages!;
    for (let off = 0; off < chunk.length;) {
      const n = chunk.copy(st[this.k]!, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === STAGE) await this.send(STAGE);
    }
  }

  async finish(): Promise<void> {
    if (this.fill > 0) {
      const padded = Math.ceil(this.fill / ALIGN) * ALIGN;
      stages![this.k]!.fill(0, this.fill, padded);
      await this.send(padded);
    }
    await this.inflight;
    if (this.pos !== this.size) fs.ftruncateSync(this.fd, this.size);
  }

  /**
   * Waits for the write in flight, if any, and closes the fallback descriptor: before the caller
   * closes the file (a write still in flight on a closed, reused descriptor number would land in
   * another file).
   */
  async done(): Promise<void> {
    await this.inflight.catch(() => undefined);
    if (this.buffered !== undefined) { fs.closeSync(this.buffered); this.buffered = undefined; }
  }

  private async send(len: number): Promise<void> {
    await this.inflight;   // the other stage's write: done before this one starts (and its stage is refilled)
    const buf = stages![this.k]!;
    const pos = this.pos;
    this.inflight = this.put(buf, len, pos);
    this.inflight.catch(() => undefined);   // awaited by the next send() or finish(); not unhandled meanwhile
    this.pos += len;
    this.k ^= 1;
    this.fill = 0;
  }

  private async put(buf: Buffer, len: number, pos: number): Promise<void> {
    if (this.buffered === undefined) {
      try {
        await pwrite(this.fd, buf, len, pos);
        return;
      } catch (e) {
        if (errno(e) !== 'EINVAL') throw e;
        // Not for this file after all: no more direct writes on this filesystem, and this file goes on buffered.
        support.set(fs.fstatSync(this.fd).dev, false);
        this.buffered = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      }
    }
    for (let off = 0; off < len;) off += fs.writeSync(this.buffered, buf, off, len - off, pos + off);
  }
}

/**
 * Appends to a file at any offset, synchronously (a worker thread's writes): the whole aligned
 * blocks of what is written go directly, from this thread's first stage, by `direct` (a descriptor
 * opened with O_DIRECT); the bytes before the first block boundary and after the last one go through
 * `buffered` (the same file, opened without it). Call only once directWrites() said yes for the
 * file's directory.
 */
export class DirectAppender {
  private directOk = true;

  constructor(private readonly direct: number, private readonly buffered: number, private pos: number) {}

  /** Writes `view` at the end of what was written; returns how many bytes went buffered (they need a flush). */
  write(view: Uint8Array): number {
    let off = 0;
    let viaCache = 0;
    const head = Math.min(view.length, (ALIGN - (this.pos % ALIGN)) % ALIGN);
    if (head > 0) { this.cached(view, 0, head); viaCache += head; off = head; }
    while (this.directOk && view.length - off >= ALIGN) {
      const n = Math.min(Math.floor((view.length - off) / ALIGN) * ALIGN, STAGE);
      const stage = stages![0];
      stage.set(view.subarray(off, off + n), 0);
      let w: number;
      try {
        w = fs.writeSync(this.direct, stage, 0, n, this.pos);
      } catch (e) {
        if (errno(e) !== 'EINVAL') throw e;
        // Refused after all: no more direct writes on this filesystem; the rest goes buffered.
        support.set(fs.fstatSync(this.direct).dev, false);
        this.directOk = false;
        break;
      }
      this.pos += w;
      off += w;
      if (w < n) break;   // a short write leaves the position unaligned: the rest goes buffered
    }
    if (off < view.length) { viaCache += view.length - off; this.cached(view, off, view.length - off); }
    return viaCache;
  }

  private cached(view: Uint8Array, off: number, len: number): void {
    for (let done = 0; done < len;) {
      const n = fs.writeSync(this.buffered, view, off + done, len - done, this.pos);
      done += n;
      this.pos += n;
    }
  }
}
