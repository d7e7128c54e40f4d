// Upload bodies hashed and written to disk on worker threads.
//
// Why: a push of 1 GiB (5 uploads side by side) kept the registry's main thread busy for ~1.8 s, most
// of it sha256 (~0.6 s), the write streams' plumbing and the writes' dispatch; it was the push's
// bottleneck while the machine's other core idled. Here the main thread only copies request bodies
// into slots (lib/slots.ts) and hands them over; a thread hashes them, appends them to the upload's
// file (whole blocks around the page cache where the filesystem allows) and start a writeback flush
// every 64 MiB of the rest (so the fsync that completes the upload finds little left to write).
// The thread's side is uploadthread.ts.
//
// An upload is bound to one thread, which keeps its running hash between requests (a chunked
// upload is hashed once as it streams in). A thread that does not have it (another upload was
// bound there since, a restart, a failed chunk) hashes the file again first.
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import { SlotSender } from '../../lib/slots.js';

const THREADS = Math.max(1, Math.min(2, availableParallelism()));
const SLOTS_PER_UPLOAD = 4;
/** A body that stops sending has what it sent written after this long. */
const IDLE_FLUSH_MS = 20;

// The thread's module: next to this one (dist/src), or, in the bundled CLI that runs `barge registry
// serve`, bundled on its own next to the CLI (scripts/build; import.meta is empty there, __dirname set).
function threadFile(): URL | string {
  return typeof __dirname === 'string' ? path.join(__dirname, 'uploadthread.cjs') : new URL('./uploadthread.js', import.meta.url);
}

type Reply =
  | { op: 'slot'; id: string; buf: ArrayBuffer }
  | { op: 'appended'; id: string; seq: number; n: number }
  | { op: 'digest'; id: string; seq: number; hex: string }
  | { op: 'failed'; id: string; seq: number; message: string; code?: string };

/** A body being appended to an upload: write() its bytes (copied at once), then end() or abort(). */
export interface UploadAppend {
  write(bytes: Uint8Array): boolean;
  drained(): Promise<void>;
  /** All bytes given: resolves with how many were written once they are on their way to disk. */
  end(): Promise<number>;
  /** The body broke off: what arrived is written and stays, the running hash is dropped; resolves with how many bytes were written. */
  abort(): Promise<number>;
}

export class UploadThreads {
  private readonly workers: (Worker | undefined)[] = new Array(THREADS).fill(undefined);
  private readonly bound = new Map<string, number>();
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; worker: number }>();
  private readonly senders = new Map<string, { slots: SlotSender; worker: number }>();
  private readonly active: number[] = new Array(THREADS).fill(0);   // appends and questions under way, per thread
  private seq = 0;
  private next = 0;

  /** Starts appending to upload `id`, whose data file is `file`, now `size` bytes long. */
  append(id: string, file: string, size: number, alg = 'sha256'): UploadAppend {
    const w = this.bind(id);
    const worker = this.worker(w);
    const slots = new SlotSender((buf, len) => worker.postMessage({ op: 'data', id, buf, len }, [buf]), SLOTS_PER_UPLOAD);
    this.senders.set(id, { slots, worker: w });
    this.hold(w, 1);
    worker.postMessage({ op: 'append', id, file, alg, size });
    // A body that pauses (a slow or stalled client) has what it sent written within IDLE_FLUSH_MS,
    // rather than held until its slot fills: what reached the registry is on disk, as the upload's
    // status reports it and a cut-off client resumes from it.
    let writes = 0;
    let timer: NodeJS.Timeout | undefined;
    const tick = (seen: number) => {
      timer = undefined;
      if (writes === seen) slots.flush();
      else arm();
    };
    const arm = () => { timer ??= setTimeout(tick, IDLE_FLUSH_MS, writes); timer.unref(); };
    let finished: Promise<number> | undefined;
    const finish = (op: 'end' | 'abort'): Promise<number> => finished ??= (async () => {
      clearTimeout(timer);
      slots.flush();   // an aborted body too: what arrived is kept
      try {
        const r = await this.ask(w, { op, id });
        return (r as { n: number }).n;
      } finally {
        if (this.senders.get(id)?.slots === slots) this.senders.delete(id);
        slots.fail(new Error('upload body already ended'));
        this.hold(w, -1);
      }
    })();
    return {
      write: (b) => { writes++; const more = slots.write(b); arm(); return more; },
      drained: () => slots.drained(),
      end: () => finish('end'),
      abort: () => finish('abort'),
    };
  }

  /** The digest of upload `id`'s first `size` bytes (the running hash, or the file hashed again). */
  async digest(id: string, file: string, size: number, alg: string): Promise<string> {
    const r = await this.ask(this.bind(id), { op: 'digest', id, file, alg, size });
    return (r as { hex: string }).hex;
  }

  /** The upload is done with (finished, cancelled, its chunk taken back): its running hash goes. */
  forget(id: string): void {
    const w = this.bound.get(id);
    this.bound.delete(id);
    if (w !== undefined) this.workers[w]?.postMessage({ op: 'forget', id });
  }

  close(): void {
    for (const w of this.workers) void w?.terminate();
  }

  private bind(id: string): number {
    let w = this.bound.get(id);
    if (w === undefined) {
      w = this.next;
      this.next = (this.next + 1) % THREADS;
      this.bound.set(id, w);
    }
    return w;
  }

  private async ask(w: number, m: Record<string, unknown>): Promise<Reply> {
    const seq = ++this.seq;
    this.hold(w, 1);
    try {
      return await new Promise<Reply>((resolve, reject) => {
        this.pending.set(seq, { resolve, reject, worker: w });
        this.worker(w).postMessage({ ...m, seq });
      });
    } finally {
      this.hold(w, -1);
    }
  }

  /** A thread keeps the process alive only while it has work. */
  private hold(w: number, d: number): void {
    this.active[w]! += d;
    const worker = this.workers[w];
    if (!worker) return;
    if (this.active[w]! > 0) worker.ref(); else worker.unref();
  }

  private worker(i: number): Worker {
    const existing = this.workers[i];
    if (existing) return existing;
    const w = new Worker(threadFile(), { execArgv: [] });
    if (this.active[i] === 0) w.unref();
    w.on('message', (m: Reply) => {
      if (m.op === 'slot') { this.senders.get(m.id)?.slots.returned(m.buf); return; }
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (m.op === 'failed') p.reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
      else p.resolve(m);
    });
    const dead = (e: Error) => {
      if (this.workers[i] !== w) return;
      this.workers[i] = undefined;
      // What it held is lost: questions fail, writers stop waiting for slots, its uploads' hashes are
      // rebuilt from their files by the next thread.
      for (const [seq, p] of this.pending) if (p.worker === i) { this.pending.delete(seq); p.reject(e); }
      for (const [id, sd] of this.senders) if (sd.worker === i) { this.senders.delete(id); sd.slots.fail(e); }
      for (const [id, wi] of this.bound) if (wi === i) this.bound.delete(id);
    };
    w.on('error', dead);
    w.on('exit', (code) => dead(new Error(`upload thread exited (code ${code})`)));
    this.workers[i] = w;
    return w;
  }
}
