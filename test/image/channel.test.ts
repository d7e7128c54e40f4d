// ChunkChannel and chunksOf: the chunk pipes a pull's layers flow through (download -> unpack,
// gunzip -> tar reader). Chunks must pass whole and in order, backpressure must hold the producer,
// and a consumer that stops or fails must never leave the producer waiting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { ChunkChannel, chunksOf } from '../../src/lib/channel.js';

describe('ChunkChannel', () => {
  test('chunks arrive whole, in order, the same Buffers (never concatenated)', async () => {
    const ch = new ChunkChannel(1 << 20);
    const sent = [Buffer.from('a'), Buffer.from('bc'), Buffer.alloc(5000, 1)];
    for (const c of sent) ch.push(c);
    ch.end();
    const got: Buffer[] = [];
    for await (const c of ch) got.push(c);
    assert.equal(got.length, 3);
    for (let i = 0; i < 3; i++) assert.equal(got[i], sent[i]);
  });

  test('push says when the high-water mark is passed; drained() waits for the reader', async () => {
    const ch = new ChunkChannel(10);
    assert.equal(ch.push(Buffer.alloc(8)), true);
    assert.equal(ch.push(Buffer.alloc(8)), false);
    let released = false;
    const wait = ch.drained().then(() => { released = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(released, false, 'the writer waits while 16 bytes are buffered');
    const it = ch[Symbol.asyncIterator]();
    await it.next();
    await wait;
    assert.equal(released, true);
    ch.end();
    assert.equal((await it.next()).value.length, 8);
    assert.equal((await it.next()).done, true);
  });

  test('a reader that stops early releases the writer and fails nothing it should not', async () => {
    const ch = new ChunkChannel(4);
    ch.push(Buffer.alloc(4));
    ch.push(Buffer.alloc(4));
    const waiting = ch.drained();
    for await (const _ of ch) break;
    await waiting;   // would hang if the writer were not released
    assert.equal(ch.destroyed, true);
    assert.equal(ch.push(Buffer.alloc(1)), true, 'pushes after the reader left are dropped, not queued');
  });

  test('destroy() fails the reader with the error, and wakes a reader that waits', async () => {
    const ch = new ChunkChannel();
    const reading = (async () => { for await (const _ of ch) { /* none come */ } })();
    await new Promise((r) => setImmediate(r));
    ch.destroy(new Error('boom'));
    await assert.rejects(reading, /boom/);
  });
});

describe('chunksOf', () => {
  test('a Readable\'s chunks, as emitted; a close before the end fails the iteration', async () => {
    const r = new PassThrough();
    const got: string[] = [];
    const reading = (async () => { for await (const c of chunksOf(r)) got.push(c.toString()); })();
    r.write('one');
    await new Promise((res) => setImmediate(res));
    r.write('two');
    r.end();
    await reading;
    assert.deepEqual(got, ['one', 'two']);

    const cut = new PassThrough();
    const failing = (async () => { for await (const _ of chunksOf(cut)) { /* */ } })();
    cut.write('x');
    cut.destroy();
    await assert.rejects(failing, /aborted/);
  });

  test('a paused source resumes once the reader catches up (backpressure on a Readable)', async () => {
    const r = new PassThrough({ highWaterMark: 1 });
    const total = 64;
    const it = chunksOf(r, 8)[Symbol.asyncIterator]();
    for (let i = 0; i < total; i++) r.write(Buffer.alloc(4, i));
    r.end();
    let n = 0;
    for (;;) {
      const x = await it.next();
      if (x.done) break;
      n += x.value.length;
    }
    assert.equal(n, total * 4);
  });
});
