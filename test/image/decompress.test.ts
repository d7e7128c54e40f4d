// decompress() feeds zlib from two reused 1 MiB buffers: the bytes must come out whole and in
// order whatever the input's chunking, and a broken or abandoned stream must end, not hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { decompress } from '../../src/snapshot/unpack.js';
import { until } from '../helpers/engine.js';

/** `data` in chunks of uneven sizes (1 byte to ~300 KiB), as a socket would hand them. */
async function* unevenly(data: Buffer): AsyncGenerator<Buffer> {
  let seed = 7;
  for (let off = 0; off < data.length;) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const n = Math.max(1, seed % (300 << 10));
    yield data.subarray(off, off + n);
    off += n;
    if (seed % 5 === 0) await new Promise((r) => setImmediate(r));
  }
}

function payload(): Buffer {
  // Half incompressible, half text: inflate output grows at different rates from its input.
  return Buffer.concat([randomBytes(3 << 20), Buffer.from('barge layer data '.repeat(200_000))]);
}

test('gzip input in uneven chunks (two gzip members) comes out whole and in order', async () => {
  const data = payload();
  const gz = Buffer.concat([gzipSync(data.subarray(0, 2_500_000), { level: 1 }), gzipSync(data.subarray(2_500_000), { level: 6 })]);
  const { stream, compression } = await decompress(unevenly(gz));
  assert.equal(compression, 'gzip');
  const h = createHash('sha256');
  let n = 0;
  for await (const c of stream) { h.update(c); n += c.length; }
  assert.equal(n, data.length);
  assert.equal(h.digest('hex'), createHash('sha256').update(data).digest('hex'));
});

test('a truncated gzip stream fails the reader instead of hanging', async () => {
  const gz = gzipSync(payload(), { level: 1 });
  const { stream } = await decompress(unevenly(gz.subarray(0, gz.length - 1000)));
  await assert.rejects(async () => { for await (const _ of stream) { /* read all */ } }, /unexpected end|Z_BUF_ERROR|end of file/i);
});

test('a corrupt gzip stream fails the reader, and the source is stopped', async () => {
  const gz = gzipSync(payload(), { level: 1 });
  gz.fill(0x55, 2_000_000, 2_100_000);
  let stopped = false;
  async function* source() { try { yield* unevenly(gz); } finally { stopped = true; } }
  const { stream } = await decompress(source());
  await assert.rejects(async () => { for await (const _ of stream) { /* read all */ } });
  await until('the source to be returned', () => stopped, 2000);
});

test('a reader that stops early stops the source', async () => {
  const gz = gzipSync(payload(), { level: 1 });
  let stopped = false;
  async function* source() { try { yield* unevenly(gz); } finally { stopped = true; } }
  const { stream } = await decompress(source());
  for await (const _ of stream) { stream.destroy(); break; }
  await until('the source to be returned', () => stopped, 2000);
});
