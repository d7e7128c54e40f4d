// Per-key serialisation: operations on the same key (a container, a volume, a network) run one
// after another, in the order they were asked for; different keys run freely. A failed operation
// does not block the next one. Keys with nothing queued are forgotten.
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run fn once every earlier operation on `key` has settled. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const p = prev.then(fn);
    const tail = p.then(() => undefined, () => undefined);
    this.tails.set(key, tail);
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return p;
  }

  /** Resolves once everything queued so far has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.tails.values()]);
  }
}
