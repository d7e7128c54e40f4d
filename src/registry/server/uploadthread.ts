// The worker-thread side of uploadthreads.ts: hashes upload bodies and appends them to their files.
// Whole 4 KiB blocks go around the page cache where the filesystem allows (lib/directio.ts): a push
// then costs the registry no page-cache memory for its bulk, which on this kind of VM is dear.
import { parentPort } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import { DirectAppender, directWrites } from '../../lib/directio.js';

const port = parentPort!;
const FLUSH_EVERY = 64 << 20;
/** Running hashes kept (the most recent uploads'). */
const KEEP = 64;

interface State { alg: string; hash: Hash; offset: number }
interface Job {
  s: State;
  fd: number;
  direct?: { fd: number; appender: DirectAppender };
  n: number;
  unflushed: number;
  flushing: Promise<void> | null;
  error: unknown;
}

const states = new Map<string, State>();
const jobs = new Map<string, Job>();

/** The running hash of upload `id` at `size` bytes: kept, or the file hashed again. */
function state(id: string, file: string, alg: string, size: number): State {
  const s = states.get(id);
  if (s && s.alg === alg && s.offset === size) return s;
  const hash = createHash(alg);
  if (size > 0) {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let pos = 0; pos < size;) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
        if (n === 0) throw new Error('upload file shorter than its recorded size');
        hash.update(buf.subarray(0, n));
        pos += n;
      }
    } finally { fs.closeSync(fd); }
  }
  const fresh = { alg, hash, offset: size };
  states.delete(id);
  states.set(id, fresh);
  if (states.size > KEEP) states.delete(states.keys().next().value!);
  return fresh;
}

function open(m: { id: string; file: string; alg: string; size: number }): Job {
  const s = state(m.id, m.file, m.alg, m.size);
  states.delete(m.id);   // until the chunk is whole on disk, the running hash is not to be trusted
  const fd = fs.openSync(m.file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
  const job: Job = { s, fd, n: 0, unflushed: 0, flushing: null, error: null };
  if (directWrites(path.dirname(path.dirname(m.file)))) {
    try {
      const dfd = fs.openSync(m.file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | fs.constants.O_DIRECT);
      job.direct = { fd: dfd, appender: new DirectAppender(dfd, fd, m.size) };
    } catch { /* buffered, then */ }
  }
  return job;
}

function write(j: Job, view: Uint8Array): void {
  j.s.hash.update(view);
  let viaCache = view.length;
  if (j.direct) viaCache = j.direct.appender.write(view);
  else for (let off = 0; off < view.length;) off += fs.writeSync(j.fd, view, off, view.length - off, j.s.offset + j.n + off);
  j.n += view.length;
  // Writeback of what went through the page cache starts every FLUSH_EVERY bytes, so that the fsync
  // completing the upload finds little to write.
  j.unflushed += viaCache;
  if (j.unflushed >= FLUSH_EVERY && !j.flushing) {
    j.unflushed = 0;
    j.flushing = new Promise<void>((r) => fs.fdatasync(j.fd, () => r())).then(() => { j.flushing = null; });
  }
}

async function close(j: Job): Promise<void> {
  await j.flushing;
  if (j.direct) fs.closeSync(j.direct.fd);
  fs.closeSync(j.fd);
}

type Msg =
  | { op: 'append'; id: string; file: string; alg: string; size: number; seq?: number }
  | { op: 'data'; id: string; buf: ArrayBuffer; len: number; seq?: number }
  | { op: 'end' | 'abort'; id: string; seq: number }
  | { op: 'digest'; id: string; file: string; alg: string; size: number; seq: number }
  | { op: 'forget'; id: string; seq?: number };

port.on('message', async (m: Msg) => {
  try {
    switch (m.op) {
      case 'append':
        jobs.set(m.id, open(m));
        return;
      case 'data': {
        const j = jobs.get(m.id);
        if (j && !j.error) {
          try { write(j, new Uint8Array(m.buf, 0, m.len)); } catch (e) { j.error = e; }
        }
        port.postMessage({ op: 'slot', id: m.id, buf: m.buf }, [m.buf]);
        return;
      }
      case 'end':
      case 'abort': {
        const j = jobs.get(m.id);
        if (!j) throw new Error("the upload's writer was lost (its thread restarted)");
        jobs.delete(m.id);
        await close(j);
        if (j.error) throw j.error;
        if (m.op === 'end') { j.s.offset += j.n; states.set(m.id, j.s); }
        port.postMessage({ op: 'appended', id: m.id, seq: m.seq, n: j.n });
        return;
      }
      case 'digest': {
        const s = state(m.id, m.file, m.alg, m.size);
        port.postMessage({ op: 'digest', id: m.id, seq: m.seq, hex: s.hash.copy().digest('hex') });
        return;
      }
      case 'forget':
        states.delete(m.id);
        return;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    port.postMessage({ op: 'failed', id: m.id, seq: m.seq, message: err.message, code: err.code });
  }
});
