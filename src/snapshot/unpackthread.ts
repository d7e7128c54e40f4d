// The worker-thread side of unpackpool.ts: runs unpackLayer on the slots the main thread hands over,
// one layer at a time, hashing the bytes as they arrive and handing each slot back once it is used.
import { parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { invalid } from '../lib/errors.js';
import { unpackLayer } from './unpack.js';
import type { FromThread, ThreadError, ThreadUnpackOptions, ToThread } from './unpackpool.js';

const port = parentPort!;
const post = (m: FromThread, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
const giveBack = (buf: ArrayBuffer) => post({ op: 'slot', buf }, [buf]);

/**
 * The layer's bytes as an async iterable of the slots received, hashed as they arrive.
 *
 * A slot is lent to the reader, not given: gzip layers are read by decompress(), which copies each
 * chunk into its own buffers before it asks for the next one, so a slot goes back to the main thread
 * as soon as the next is asked for. A plain tar's chunks are kept by the tar parser, so they are
 * copied and the slot goes back at once. (The first slot decides; decompress sniffs the same bytes.)
 */
class Input implements AsyncIterable<Buffer> {
  private readonly queue: { buf: ArrayBuffer; len: number }[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private lent: ArrayBuffer | undefined;
  private lend: boolean | undefined;
  private readonly hash = createHash('sha256');
  private size = 0;
  /** The bytes' digest, once they have all arrived. */
  digest: string | undefined;

  constructor(private readonly expected: string | undefined) {}

  push(buf: ArrayBuffer, len: number): void {
    if (this.ended || this.failure) { giveBack(buf); return; }
    this.hash.update(new Uint8Array(buf, 0, len));
    this.size += len;
    this.queue.push({ buf, len });
    this.poke();
  }

  end(): void {
    this.digest = 'sha256:' + this.hash.digest('hex');
    this.ended = true;
    this.poke();
  }

  fail(e: Error): void {
    this.failure ??= e;
    this.poke();
  }

  get received(): { digest: string; size: number } { return { digest: this.digest!, size: this.size }; }

  /** Every slot still here goes back (the unpack is over). */
  release(): void {
    if (this.lent) { giveBack(this.lent); this.lent = undefined; }
    for (const q of this.queue.splice(0)) giveBack(q.buf);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.lent) { giveBack(this.lent); this.lent = undefined; }
        while (!this.queue.length && !this.ended && !this.failure) await new Promise<void>((r) => { this.wake = r; });
        if (this.failure) throw this.failure;
        const next = this.queue.shift();
        if (!next) {
          // All bytes are in: a corrupted blob is reported as such before the tar is judged.
          if (this.expected !== undefined && this.digest !== this.expected) {
            throw invalid(`the layer's bytes hash to ${this.digest}, not ${this.expected}`, { inputDigest: this.digest });
          }
          return;
        }
        const view = Buffer.from(next.buf, 0, next.len);
        this.lend ??= next.len >= 6 && view[0] === 0x1f && view[1] === 0x8b;
        if (this.lend) {
          this.lent = next.buf;
          yield view;
        } else {
          const copy = Buffer.allocUnsafeSlow(next.len);
          view.copy(copy);
          giveBack(next.buf);
          yield copy;
        }
      }
    } finally {
      this.release();
    }
  }
}

function serialize(e: unknown): ThreadError {
  if (!(e instanceof Error)) return { message: String(e) };
  const x = e as Error & NodeJS.ErrnoException & { kind?: ThreadError['kind']; detail?: Record<string, unknown> };
  const out: ThreadError = { message: x.message };
  if (x.kind) out.kind = x.kind;
  if (x.detail) out.detail = x.detail;
  if (x.code !== undefined) out.code = x.code;
  if (x.syscall !== undefined) out.syscall = x.syscall;
  if (x.errno !== undefined) out.errno = x.errno;
  if (x.path !== undefined) out.path = x.path;
  return out;
}

let input: Input | undefined;
let flushed: (() => void) | undefined;

async function run(dest: string, opts: Omit<ThreadUnpackOptions, 'onWarning'>, inp: Input): Promise<void> {
  const warn = (message: string) => post({ op: 'warning', message });
  try {
    const result = await unpackLayer(inp, dest, {
      ...(opts.diffId !== undefined ? { diffId: opts.diffId } : {}),
      ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
      ...(opts.splitDir !== undefined ? { splitDir: opts.splitDir } : {}),
      ...(opts.directDir !== undefined ? { directDir: opts.directDir } : {}),
      // The main thread flushes (see unpackpool.ts); the unpack asks for one flush at a time.
      ...(opts.flushDir !== undefined ? { flush: () => new Promise<void>((resolve) => { flushed = resolve; post({ op: 'flush' }); }) } : {}),
      onWarning: warn,
    });
    inp.release();
    post({ op: 'done', result: { ...result, input: inp.received } });
  } catch (e) {
    inp.release();
    post({ op: 'failed', error: serialize(e) });
  } finally {
    if (input === inp) input = undefined;
  }
}

port.on('message', (m: ToThread) => {
  switch (m.op) {
    case 'start':
      input = new Input(m.opts.inputDigest);
      void run(m.dest, m.opts, input);
      return;
    case 'data':
      if (input) input.push(m.buf, m.len); else giveBack(m.buf);
      return;
    case 'end':
      input?.end();
      return;
    case 'abort':
      input?.fail(new Error(m.message));
      return;
    case 'flushed': {
      const f = flushed;
      flushed = undefined;
      f?.();
      return;
    }
  }
});
