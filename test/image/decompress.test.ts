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

// gzip members are framed here (raw inflate, no CRC-32: see inflateGzip); the framing must follow RFC 1952.

async function inflateAll(parts: Buffer[]): Promise<Buffer> {
  async function* src() { for (const p of parts) yield p; }
  const { stream } = await decompress(src());
  const out: Buffer[] = [];
  for await (const c of stream) out.push(c);
  return Buffer.concat(out);
}

/** A gzip member of `data` with the optional header fields (FEXTRA, FNAME, FCOMMENT, FHCRC) filled in. */
function member(data: Buffer, o: { extra?: Buffer; name?: string; comment?: string; hcrc?: boolean; level?: number } = {}): Buffer {
  const gz = gzipSync(data, { level: o.level ?? 1 });
  const flags = (o.hcrc ? 2 : 0) | (o.extra ? 4 : 0) | (o.name !== undefined ? 8 : 0) | (o.comment !== undefined ? 16 : 0);
  const head = Buffer.from(gz.subarray(0, 10));
  head[3] = flags;
  const fields: Buffer[] = [head];
  if (o.extra) { const l = Buffer.alloc(2); l.writeUInt16LE(o.extra.length); fields.push(l, o.extra); }
  if (o.name !== undefined) fields.push(Buffer.from(o.name + '\0'));
  if (o.comment !== undefined) fields.push(Buffer.from(o.comment + '\0'));
  if (o.hcrc) fields.push(Buffer.from([0x12, 0x34]));
  return Buffer.concat([...fields, gz.subarray(10)]);
}

function bytesOf(buf: Buffer): Buffer[] {
  return [...buf].map((b) => Buffer.from([b]));
}

test('gzip headers with every optional field, split anywhere, and members meeting at chunk edges', async () => {
  const a = randomBytes(300_000);
  const b = Buffer.from('second member '.repeat(10_000));
  const m1 = member(a, { extra: randomBytes(3000), name: 'layer.tar', comment: 'made by hand', hcrc: true, level: 0 });
  const m2 = member(b, { name: 'x'.repeat(5000) });
  const empty = member(Buffer.alloc(0));
  const want = Buffer.concat([a, b]);
  // Header bytes one at a time; a member's end exactly at a chunk's end; an empty member in between.
  assert.ok((await inflateAll([...bytesOf(m1.subarray(0, 4000)), m1.subarray(4000), m2, empty])).equals(want));
  assert.ok((await inflateAll([m1.subarray(0, m1.length - 8), m1.subarray(m1.length - 8), empty, m2.subarray(0, 3), m2.subarray(3)])).equals(want));
  assert.ok((await inflateAll([Buffer.concat([m1, empty, m2])])).equals(want));
});

test('zero bytes after a member end the stream (as zlib\'s gunzip); other trailing bytes are refused', async () => {
  const data = randomBytes(100_000);
  assert.ok((await inflateAll([member(data), Buffer.alloc(4096)])).equals(data));
  await assert.rejects(inflateAll([member(data), Buffer.from('PK\x03\x04 not gzip')]), /not a gzip member header/);
  await assert.rejects(inflateAll([member(data), Buffer.from([0x1f, 0x8b, 9, 0, 0, 0, 0, 0, 0, 3, 1, 2])]), /unknown gzip compression method 9/);
});

test('a missing or wrong trailer, or a header cut short, fails the stream', async () => {
  const data = randomBytes(100_000);
  const m = member(data);
  await assert.rejects(inflateAll([m.subarray(0, m.length - 8)]), /unexpected end of file/);
  await assert.rejects(inflateAll([m.subarray(0, m.length - 3)]), /unexpected end of file/);
  await assert.rejects(inflateAll([m, m.subarray(0, 7)]), /unexpected end of file/);
  const badLength = Buffer.from(m);
  badLength.writeUInt32LE(12345, m.length - 4);
  await assert.rejects(inflateAll([badLength]), /length does not match its trailer/);
  // The CRC-32 is not checked: the layer's diffID (sha256) is what vouches for the bytes.
  const badCrc = Buffer.from(m);
  badCrc.writeUInt32LE(0xdeadbeef, m.length - 8);
  assert.ok((await inflateAll([badCrc])).equals(data));
});
