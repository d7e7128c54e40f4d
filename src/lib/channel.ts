// A byte-chunk channel from one producer to one consumer that iterates it. Chunks pass as they
// were pushed: a byte-mode Readable read through its async iterator hands out everything buffered
// concatenated into a new Buffer (a copy of the data, and garbage), which on a pull cost more CPU
// than the hashing. Backpressure: push() says when the buffered bytes pass the high-water mark;
// the producer then awaits drained().
import type { Readable } from 'node:stream';

export class ChunkChannel implements AsyncIterable<Buffer> {
  private queue: Buffer[] = [];
  private head = 0;
  private bytes = 0;
  private ended = false;
  private failure: { e: unknown } | undefined;
  private wakeReader: (() => void) | undefined;
  private wakeWriters: (() => void)[] = [];

  constructor(private readonly highWater = 4 << 20) {}

  /** Queues a chunk; false when the channel is over its high-water mark (await drained()). */
  push(chunk: Buffer): boolean {
    if (this.failure || this.ended) return true;   // the consumer is gone or the producer ended: dropped
    this.queue.push(chunk);
    this.bytes += chunk.length;
    this.wake();
    return this.bytes <= this.highWater;
  }

  /** Resolves once the buffered bytes are down to the high-water mark, or the channel failed. */
  drained(): Promise<void> {
    if (this.bytes <= this.highWater || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.wakeWriters.push(resolve));
  }

  /** No more chunks: the consumer ends after the buffered ones. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Fails the channel: the consumer's iteration throws `e`, writers waiting are released. */
  destroy(e: unknown = new Error('channel closed')): void {
    if (!this.failure) this.failure = { e };
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    this.wake();
    this.releaseWriters();
  }

  get destroyed(): boolean { return this.failure !== undefined; }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }

  private releaseWriters(): void {
    const ws = this.wakeWriters;
    this.wakeWriters = [];
    for (const w of ws) w();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.failure) throw this.failure.e;
        if (this.head < this.queue.length) {
          const c = this.queue[this.head]!;
          this.queue[this.head++] = undefined as unknown as Buffer;
          if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue = this.queue.slice(this.head); this.head = 0; }
          this.bytes -= c.length;
          if (this.bytes <= this.highWater && this.wakeWriters.length) this.releaseWriters();
          yield c;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => { this.wakeReader = resolve; });
      }
    } finally {
      // The consumer stopped early (or failed): the producer must not wait for it.
      if (!this.ended || this.head < this.queue.length) this.destroy(new Error('the reader of the stream went away'));
    }
  }
}

/**
 * The chunks of a Readable as it emits them ('data' events, paused while `highWater` bytes wait),
 * without the concatenation of its async iterator. Its errors, or a close before its end, fail the
 * iteration; stopping the iteration destroys it.
 */
export function chunksOf(r: Readable, highWater = 4 << 20): AsyncIterable<Buffer> {
  const ch = new ChunkChannel(highWater);
  r.on('data', (c: Buffer) => {
    if (!ch.push(c)) { r.pause(); void ch.drained().then(() => { if (!r.destroyed) r.resume(); }); }
  });
  r.on('end', () => ch.end());
  r.on('error', (e) => ch.destroy(e));
  r.on('close', () => { if (!r.readableEnded) ch.destroy(new Error('aborted')); });
  return {
    async *[Symbol.asyncIterator]() {
      try { yield* ch; } finally { if (!r.readableEnded) r.destroy(); }
    },
  };
}
