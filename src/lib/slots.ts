// Bytes handed to a worker thread in 1 MiB slots: ArrayBuffers *transferred* to the thread and back
// (no copy across threads, no new memory per slot: fresh memory costs this kind of VM ~2 s of CPU
// per GiB, see bench/README.md), reused by every sender of the process.
//
// write() copies what it is given at once, so a caller may pass a buffer it reuses (a socket's read
// buffer); it says false when enough is in flight: then await drained(). The receiving thread hands
// each slot back when done with it (returned()).

export const SLOT = 1 << 20;
const KEEP = 32;
const spare: ArrayBuffer[] = [];

export class SlotSender {
  private slot: Buffer | undefined;
  private fill = 0;
  private held = 0;                          // slots out (in the thread, or being filled)
  private waiting: (() => void)[] = [];
  private failure: unknown;
  private failed = false;

  /** `send` transfers a full (or last) slot to the thread; at most `maxHeld` are out before write() says false. */
  constructor(private readonly send: (buf: ArrayBuffer, len: number) => void, private readonly maxHeld = 8) {}

  write(bytes: Uint8Array): boolean {
    if (this.failed) throw this.failure;
    for (let off = 0; off < bytes.length;) {
      if (!this.slot) {
        this.slot = Buffer.from(spare.pop() ?? new ArrayBuffer(SLOT));
        this.held++;
      }
      const n = Math.min(bytes.length - off, SLOT - this.fill);
      this.slot.set(off === 0 && n === bytes.length ? bytes : bytes.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === SLOT) this.flush();
    }
    return this.held <= this.maxHeld;
  }

  /** Sends the slot being filled, if any (the bytes end, or must reach the thread now). */
  flush(): void {
    if (!this.slot) return;
    const buf = this.slot.buffer as ArrayBuffer;
    const len = this.fill;
    this.slot = undefined;
    this.fill = 0;
    this.send(buf, len);
  }

  /** A slot the thread is done with. */
  returned(buf: ArrayBuffer): void {
    if (spare.length < KEEP) spare.push(buf);
    this.held--;
    if (this.held <= this.maxHeld) this.wake();
  }

  /** Resolves once the thread has caught up, or the sender failed. */
  drained(): Promise<void> {
    if (this.held <= this.maxHeld || this.failed) return Promise.resolve();
    return new Promise((r) => this.waiting.push(r));
  }

  /** Writers waiting are released; later writes throw `e`. */
  fail(e: unknown): void {
    if (!this.failed) { this.failed = true; this.failure = e; }
    this.wake();
  }

  /** Gives up the slot being filled (not sent). */
  drop(): void {
    if (!this.slot) return;
    this.returned(this.slot.buffer as ArrayBuffer);
    this.slot = undefined;
    this.fill = 0;
  }

  private wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}
