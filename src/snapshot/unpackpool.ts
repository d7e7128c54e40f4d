// Unpacking layers on worker threads (unpackthread.ts runs unpackLayer there).
//
// Why: a pull of a 1 GiB image spent ~2.4 s of CPU on barged's main thread (two sha256 over every
// byte, zlib's dispatch, the tar parser, the file writes' dispatch) and that thread was the pull's
// bottleneck, while layers could unpack side by side on the machine's other cores. Here the main
// thread only copies the layer's bytes into 1 MiB slots and hands them over; everything else runs on
// the layer's own thread, including the sha256 of the bytes as received (the blob's digest).
//
// The slots go to the thread and back without copies (lib/slots.ts). Threads are kept for the next
// layers (30 s); they never keep the process alive.
import { Worker } from 'node:worker_threads';
import { internal, BargeError, type ErrorKind } from '../lib/errors.js';
import type { UnpackResult } from './unpack.js';
import { syncFilesystem } from './sysops.js';
import { SlotSender } from '../lib/slots.js';

/** Slots one unpack may have in flight: the most bytes buffered between the source and its thread. */
const SLOTS_PER_JOB = 8;
/** Idle threads kept for later unpacks. */
const KEEP_IDLE = 4;

export interface ThreadUnpackOptions {
  /** The layer's expected diffID (sha256 of the tar); a mismatch fails the unpack. */
  diffId?: string;
  /**
   * The sha256 the bytes as given (compressed) must have: checked as soon as they end, before the
   * unpack is finished, so a corrupted blob is reported as such rather than as a bad tar or diffID.
   * A mismatch fails with kind 'invalid' and detail { inputDigest: <what they hash to> }.
   */
  inputDigest?: string;
  /** Keep the layer's tar-split recipe in this directory (see UnpackOptions.splitDir). */
  splitDir?: string;
  /** See UnpackOptions.directDir. */
  directDir?: string;
  /** Start writeback of this directory's filesystem every 128 MiB written (see UnpackOptions.flush). */
  flushDir?: string;
  maxBytes?: number;
  onWarning?: (message: string) => void;
}

export interface ThreadUnpackResult extends UnpackResult {
  /** sha256 and length of the bytes as given. */
  input: { digest: string; size: number };
}

/** What the main thread sends (unpackthread.ts handles it). */
export type ToThread =
  | { op: 'start'; dest: string; opts: Omit<ThreadUnpackOptions, 'onWarning'> }
  | { op: 'data'; buf: ArrayBuffer; len: number }
  | { op: 'end' }
  | { op: 'abort'; message: string }
  | { op: 'flushed' };

/** An error as it crosses threads. */
export interface ThreadError { message: string; kind?: ErrorKind; detail?: Record<string, unknown>; code?: string; syscall?: string; errno?: number; path?: string }

export type FromThread =
  | { op: 'slot'; buf: ArrayBuffer }
  | { op: 'warning'; message: string }
  | { op: 'flush' }
  | { op: 'done'; result: ThreadUnpackResult }
  | { op: 'failed'; error: ThreadError };

const idle: Worker[] = [];
/** An idle thread is stopped after this long: each holds ~20 MB (its V8 heap, its direct-write buffers). */
const IDLE_MS = 30_000;
const idleTimers = new Map<Worker, NodeJS.Timeout>();

/** Keeps a thread that finished an unpack for the next one, for a while. */
function park(w: Worker): void {
  if (idle.length >= KEEP_IDLE) { void w.terminate(); return; }
  idle.push(w);
  const t = setTimeout(() => { unpark(w); void w.terminate(); }, IDLE_MS);
  t.unref();
  idleTimers.set(w, t);
}

/** Takes `w` (or else the most recently parked thread) off the idle list; undefined if there is none. */
function unpark(w?: Worker): Worker | undefined {
  const i = w ? idle.indexOf(w) : idle.length - 1;
  if (i < 0) return undefined;
  const [taken] = idle.splice(i, 1);
  clearTimeout(idleTimers.get(taken!));
  idleTimers.delete(taken!);
  return taken;
}

function spawn(): Worker {
  // No execArgv: the thread needs none, and the process's may not apply to it (--input-type).
  const w = new Worker(new URL('./unpackthread.js', import.meta.url), { execArgv: [] });
  w.unref();
  w.once('exit', () => unpark(w));
  return w;
}

function errorFrom(e: ThreadError): Error {
  if (e.kind) return new BargeError(e.kind, e.message, e.detail);
  const err = new Error(e.message) as NodeJS.ErrnoException;
  if (e.code !== undefined) err.code = e.code;
  if (e.syscall !== undefined) err.syscall = e.syscall;
  if (e.errno !== undefined) err.errno = e.errno;
  if (e.path !== undefined) err.path = e.path;
  return err;
}

/**
 * unpackLayer (unpack.ts) on a worker thread, fed by write() (see unpackInThread for an iterable
 * source). write() copies the bytes at once, so a caller may pass a buffer it reuses (a socket's read
 * buffer); it says false when enough is in flight: then await drained(). `result` has unpackLayer's
 * result plus the sha256 of the bytes written. On failure, `dest` is left half-written, as unpackLayer
 * leaves it: the caller removes it.
 */
export class ThreadUnpack {
  readonly result: Promise<ThreadUnpackResult>;
  private readonly worker = unpark() ?? spawn();
  private readonly slots: SlotSender;
  private settled = false;
  private ended = false;

  constructor(dest: string, opts: ThreadUnpackOptions = {}) {
    const worker = this.worker;
    worker.ref();   // while it works for us; idle, it never keeps the process alive
    this.slots = new SlotSender((buf, len) => worker.postMessage({ op: 'data', buf, len } satisfies ToThread, [buf]), SLOTS_PER_JOB);
    this.result = new Promise<ThreadUnpackResult>((resolve, reject) => {
      const finish = (e: Error | undefined, r?: ThreadUnpackResult) => {
        if (this.settled) return;
        this.settled = true;
        worker.unref();
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        this.slots.fail(e ?? new Error('write after the unpack ended'));
        if (e) reject(e); else resolve(r!);
      };
      const onMessage = (m: FromThread) => {
        switch (m.op) {
          case 'slot': this.slots.returned(m.buf); return;
          case 'warning': opts.onWarning?.(m.message); return;
          case 'flush':
            // Here, not on the thread: one syncer process serves the whole daemon (sysops.ts).
            void syncFilesystem(opts.flushDir!, (msg, err) => opts.onWarning?.(`${msg}: ${err}`)).then(() => {
              if (!this.settled) worker.postMessage({ op: 'flushed' } satisfies ToThread);
            });
            return;
          case 'done':
            finish(undefined, m.result);
            park(worker);
            return;
          case 'failed':
            finish(errorFrom(m.error));
            // Not reused: slots written before the writer heard of the failure may still be on their way.
            void worker.terminate();
            return;
        }
      };
      const onError = (e: Error) => finish(internal(`layer unpack thread failed: ${e.message}`));
      const onExit = (code: number) => finish(internal(`layer unpack thread exited (code ${code})`));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    this.result.catch(() => undefined);   // the owner awaits it; a failure while writing must not go unhandled meanwhile
    const { onWarning: _, ...plain } = opts;
    worker.postMessage({ op: 'start', dest, opts: plain } satisfies ToThread);
  }

  /** Copies `bytes` towards the thread; false when the caller should await drained(). Throws once the unpack failed. */
  write(bytes: Uint8Array): boolean {
    if (this.ended && !this.settled) throw new Error('write after end');
    return this.slots.write(bytes);
  }

  /** Resolves once the thread has caught up (or the unpack is over). */
  drained(): Promise<void> {
    return this.slots.drained();
  }

  /** No more bytes: the unpack finishes (and checks the digests). */
  end(): void {
    if (this.ended || this.settled) return;
    this.ended = true;
    this.slots.flush();
    this.worker.postMessage({ op: 'end' } satisfies ToThread);
  }

  /** Stops the unpack: `result` fails (with the thread's own error if it failed first). */
  abort(e: unknown): void {
    this.slots.drop();
    if (this.settled) return;
    this.ended = true;
    this.worker.postMessage({ op: 'abort', message: e instanceof Error ? e.message : String(e) } satisfies ToThread);
  }
}

/** What pump() writes to: a ThreadUnpack, or a staging writer around one. */
export interface UnpackWriter {
  write(bytes: Uint8Array): boolean;
  drained(): Promise<void>;
  end(): void;
  abort(e: unknown): void;
}

/**
 * Writes `source` to `writer` and ends it, then returns `result` (the writer's outcome). If the source
 * fails, the writer is aborted and the source's error thrown (once `result` has settled); if the
 * writer fails, the source is stopped (its iterator returned) and `result`'s error comes out.
 */
export async function pump<T>(source: AsyncIterable<Uint8Array>, writer: UnpackWriter, result: Promise<T>): Promise<T> {
  try {
    for await (const chunk of source) if (!writer.write(chunk)) await writer.drained();
    writer.end();
  } catch (e) {
    writer.abort(e);
    await result.catch(() => undefined);
    throw e;
  }
  return result;
}

/** unpackLayer on a worker thread, reading `source` here (see pump). */
export function unpackInThread(source: AsyncIterable<Uint8Array>, dest: string, opts: ThreadUnpackOptions = {}): Promise<ThreadUnpackResult> {
  const job = new ThreadUnpack(dest, opts);
  return pump(source, job, job.result);
}
