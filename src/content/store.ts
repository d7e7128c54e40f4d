// The content store: immutable blobs (manifests, configs, layer tarballs) addressed by their digest.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { conflict, invalid, notFound } from '../lib/errors.js';
import { fsyncDir, fsyncDirAsync } from '../lib/fsutil.js';
import { assertDigest, hexOf, isDigest, newDigester } from './digest.js';
import { ReadBlocks, lendFile, type Lent } from '../lib/lentread.js';

/** What a blob is, as OCI descriptors say it (mediaType is the caller's business, the store keeps none). */
export interface BlobInfo {
  digest: string;
  size: number;
}

/** What a writer must end up with; either part may be unknown in advance. */
export interface Expected {
  digest?: string;
  size?: number;
}

/**
 * ContentStore holds blobs by the sha256 digest of their bytes: once a blob is in, its bytes are the
 * ones the digest names, and they never change.
 *
 * Terms
 *  - A *blob* is a byte sequence named by its *digest* ("sha256:<hex>"); its *size* is its length.
 *  - An *ingest* is a blob being written: it lives in the ingest area (`ingest/`) and is invisible to
 *    readers until it is *committed*, when its digest and size have been checked against the
 *    *expected* values and the file is renamed into `blobs/sha256/<hex>`.
 *
 * Lifecycle
 *  1. Storing a pulled layer whose descriptor is known:
 *       const w = store.writer({ digest: desc.digest, size: desc.size });
 *       for await (const chunk of body) w.write(chunk);   // fails as soon as it grows past desc.size
 *       w.commit();                                       // digest mismatch -> `invalid`, nothing stored
 *     (`store.ingest(body, expected)` does the same in one call.)
 *  2. Storing a config the engine just built: `store.put(json)` returns its digest.
 *  3. Reading it back: `store.read(digest)` (small blobs, re-verified) or `store.createReadStream(digest)`
 *     (verified as it streams: a corrupted file errors at its end).
 *  4. Garbage: `store.delete(digest)` once no image needs the blob.
 *
 * Crash safety: a blob file is fsynced before the rename that publishes it, and the directory after;
 * a kill -9 mid-ingest leaves only a file in `ingest/`, removed by the next `open`. Readers therefore see
 * either no blob or the whole, verified blob.
 *
 * On disk (`<root>` is `<dataRoot>/content`):
 *   blobs/sha256/<hex>   committed blobs, read-only
 *   ingest/<random>      ingests in progress
 */
export class ContentStore {
  private readonly blobDir: string;
  private readonly ingestDir: string;

  private constructor(readonly root: string) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
  }

  /** Opens (creating if needed) the store at `root` and drops interrupted ingests. */
  static open(root: string): ContentStore {
    const s = new ContentStore(root);
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    fs.mkdirSync(s.blobDir, { recursive: true, mode: 0o700 });
    fs.rmSync(s.ingestDir, { recursive: true, force: true });
    fs.mkdirSync(s.ingestDir, { mode: 0o700 });
    return s;
  }

  private blobPath(digest: string): string {
    return path.join(this.blobDir, hexOf(digest));
  }

  /** Starts an ingest. Expected values given here are enforced while writing and at commit. */
  writer(expected: Expected = {}): ContentWriter {
    if (expected.digest !== undefined) assertDigest(expected.digest);
    if (expected.size !== undefined && !(Number.isSafeInteger(expected.size) && expected.size >= 0)) {
      throw invalid(`invalid expected size ${expected.size}`);
    }
    return new ContentWriter(this, path.join(this.ingestDir, randomBytes(8).toString('hex')), expected);
  }

  /** Stores a small blob held in memory and returns its digest and size. */
  put(data: Uint8Array | string, expected: Expected = {}): BlobInfo {
    const w = this.writer(expected);
    try {
      w.write(typeof data === 'string' ? Buffer.from(data) : data);
      return w.commit();
    } catch (e) {
      w.abort();
      throw e;
    }
  }

  /** Streams a blob in; on any error (source, size or digest) nothing is stored. */
  async ingest(source: AsyncIterable<Uint8Array | string>, expected: Expected = {}): Promise<BlobInfo> {
    const w = this.writer(expected);
    try {
      for await (const chunk of source) w.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      return w.commit();
    } catch (e) {
      w.abort();
      throw e;
    }
  }

  /** Publishes a finished ingest file (called by ContentWriter.commit). */
  /** Renames an ingest into place; the directory is synced here unless `syncDir` is false (then the caller does). */
  /* internal */ publish(tmp: string, digest: string, syncDir = true): void {
    const target = this.blobPath(digest);
    if (fs.existsSync(target)) { fs.rmSync(tmp, { force: true }); return; }
    fs.renameSync(tmp, target);
    if (syncDir) fsyncDir(this.blobDir);
  }

  /** fsync of the blob directory by the thread pool. */
  /* internal */ syncBlobDir(): Promise<void> {
    return fsyncDirAsync(this.blobDir);
  }

  has(digest: string): boolean {
    return isDigest(digest) && fs.existsSync(this.blobPath(digest));
  }

  /** Digest and size of a committed blob; `notFound` if absent. */
  info(digest: string): BlobInfo {
    try {
      const st = fs.statSync(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`content ${digest}: not found`);
      throw e;
    }
  }

  /** Reads a whole (small) blob and re-verifies its digest. */
  read(digest: string): Buffer {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.blobPath(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`content ${digest}: not found`);
      throw e;
    }
    const got = 'sha256:' + newDigester().update(buf).digest('hex');
    if (got !== digest) throw conflict(`content ${digest} is corrupted on disk (its bytes hash to ${got})`);
    return buf;
  }

  /**
   * A stream of the blob's bytes; it fails at its end if the bytes do not match the digest, unless
   * `verify` is false (for a blob this process has just committed through a verifying writer).
   */
  createReadStream(digest: string, o: { verify?: boolean } = {}): Readable {
    const p = this.blobPath(digest);
    if (!fs.existsSync(p)) throw notFound(`content ${digest}: not found`);
    if (o.verify === false) return fs.createReadStream(p, { highWaterMark: 1 << 20 });
    const h = newDigester();
    const verify = new Transform({
      transform(chunk: Buffer, _enc, cb) { h.update(chunk); cb(null, chunk); },
      flush(cb) {
        const got = 'sha256:' + h.digest('hex');
        cb(got === digest ? null : conflict(`content ${digest} is corrupted on disk (its bytes hash to ${got})`));
      },
    });
    const src = fs.createReadStream(p, { highWaterMark: 1 << 20 });
    src.on('error', (e) => verify.destroy(e));
    return src.pipe(verify);
  }

  /**
   * A blob's bytes, unverified, lent (lentread.ts: release each chunk when done with it), for a
   * reader that has them checked anyway (a registry checks what is pushed to it).
   */
  async *lend(digest: string): AsyncGenerator<Lent> {
    const p = this.blobPath(digest);
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') throw notFound(`content ${digest}: not found`);
      throw e;
    }
    try {
      const size = fs.fstatSync(fd).size;
      yield* lendFile(new ReadBlocks(), fd, 0, size, () => conflict(`content ${digest} shrank on disk while it was read`));
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Removes a blob; returns false if it was not there. */
  delete(digest: string): boolean {
    try {
      fs.unlinkSync(this.blobPath(digest));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /** Every committed blob. */
  list(): BlobInfo[] {
    const out: BlobInfo[] = [];
    for (const name of fs.readdirSync(this.blobDir).sort()) {
      const digest = 'sha256:' + name;
      if (!isDigest(digest)) continue;
      try { out.push({ digest, size: fs.statSync(path.join(this.blobDir, name)).size }); } catch { /* raced a delete */ }
    }
    return out;
  }
}

/**
 * An ingest in progress: bytes are hashed and counted as they are written; `commit` publishes the blob
 * only if the digest and size match what was expected (at `writer()` or at `commit()`).
 */
export class ContentWriter {
  private fd: number | null;
  private readonly hash = newDigester();
  private written = 0;

  constructor(private readonly store: ContentStore, private readonly tmp: string, private readonly expected: Expected) {
    this.fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  }

  /** Bytes written so far. */
  get size(): number { return this.written; }

  write(chunk: Uint8Array): void {
    if (this.fd === null) throw invalid('content writer is closed');
    const limit = this.expected.size;
    if (limit !== undefined && this.written + chunk.length > limit) {
      this.abort();
      throw invalid(`content size mismatch: more than the expected ${limit} bytes`);
    }
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
    this.written += chunk.length;
  }

  private synced = false;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private inflight: Promise<void> | null = null;
  private flushedTo = 0;

  /**
   * write, with the copy to the file done by the thread pool in 1 MiB batches (one in flight): the
   * caller awaits only when the previous batch is still being written. Hashing stays in order here.
   * Finish with commitAsync. Do not mix with write.
   */
  async writeAsync(chunk: Buffer): Promise<void> {
    if (this.fd === null) throw invalid('content writer is closed');
    const limit = this.expected.size;
    if (limit !== undefined && this.written + chunk.length > limit) {
      await this.inflight?.catch(() => undefined);
      this.abort();
      throw invalid(`content size mismatch: more than the expected ${limit} bytes`);
    }
    this.hash.update(chunk);
    this.written += chunk.length;
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    if (this.pendingLen >= 1 << 20) await this.flushPending();
  }

  private async flushPending(): Promise<void> {
    if (this.inflight) await this.inflight;
    if (!this.pendingLen || this.fd === null) return;
    const fd = this.fd;
    const bufs = this.pending;
    const len = this.pendingLen;
    const pos = this.flushedTo;
    this.pending = [];
    this.pendingLen = 0;
    this.flushedTo += len;
    const p = (async () => {
      let done = await new Promise<number>((resolve, reject) => fs.writev(fd, bufs, pos, (e, n) => (e ? reject(e) : resolve(n))));
      if (done < len) {
        const all = Buffer.concat(bufs);
        while (done < len) done += fs.writeSync(fd, all, done, len - done, pos + done);
      }
    })();
    this.inflight = p;
    p.catch(() => undefined).finally(() => { if (this.inflight === p) this.inflight = null; });
  }

  /** Verifies and publishes the blob. On mismatch the ingest is discarded and `invalid` thrown. */
  commit(expected: Expected = {}): BlobInfo {
    return this.finish(expected, true);
  }

  private finish(expected: Expected, syncDir: boolean): BlobInfo {
    if (this.fd === null) throw invalid('content writer is closed');
    const want = { ...this.expected, ...expected };
    const digest = 'sha256:' + this.hash.digest('hex');
    try {
      if (want.size !== undefined && want.size !== this.written) {
        throw invalid(`content size mismatch: got ${this.written} bytes, expected ${want.size}`);
      }
      if (want.digest !== undefined && assertDigest(want.digest) !== digest) {
        throw invalid(`content digest mismatch: got ${digest}, expected ${want.digest}`);
      }
      if (!this.synced) fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = null;
      this.store.publish(this.tmp, digest, syncDir);
      return { digest, size: this.written };
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /**
   * commit, with the fsync done by the thread pool: a big blob's flush does not stop the event loop
   * (other downloads, unpacks and API calls go on meanwhile).
   */
  async commitAsync(expected: Expected = {}): Promise<BlobInfo> {
    if (this.fd === null) throw invalid('content writer is closed');
    const fd = this.fd;
    try {
      await this.flushPending();
      await this.inflight;
      await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
    } catch (e) {
      this.abort();
      throw e;
    }
    this.synced = true;
    const info = this.finish(expected, false);
    await this.store.syncBlobDir();
    return info;
  }

  /** Discards the ingest (idempotent). */
  abort(): void {
    this.pending = [];
    this.pendingLen = 0;
    if (this.fd !== null) { try { fs.closeSync(this.fd); } catch { /* already closed */ } this.fd = null; }
    fs.rmSync(this.tmp, { force: true });
  }
}
