// Layers unpacked on worker threads (snapshot/unpackpool.ts): the same files and digests as unpackLayer
// on the calling thread, the digest of the bytes as given, and failures that name their cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ThreadUnpack, unpackInThread } from '../../src/snapshot/unpackpool.js';
import { unpackLayer } from '../../src/snapshot/unpack.js';
import { sha256Digest } from '../../src/content/digest.js';
import { isKind } from '../../src/lib/errors.js';
import { chunks, inTempDir, tar } from './helpers.js';

// Several MiB, so that slots are filled, handed over and come back many times.
const big = randomBytes(5 << 20);
const layer = tar([
  { name: 'etc/', type: 'dir', mode: 0o755 },
  { name: 'etc/hostname', type: 'file', data: Buffer.from('box\n') },
  { name: 'big.bin', type: 'file', data: big },
  { name: 'link', type: 'symlink', linkname: 'big.bin' },
  { name: 'etc/again', type: 'file', data: big.subarray(0, 3 << 20) },
]);
const gz = gzipSync(layer, { level: 1 });

/** The error `p` rejects with (undefined if it fulfils). */
function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

function fresh(dir: string, name: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  return d;
}

test('gzip and plain layers unpack on a thread exactly as on the calling thread', () => inTempDir('unpackpool', async (dir) => {
  for (const [what, bytes] of [['gzip', gz], ['plain', layer]] as const) {
    const here = await unpackLayer(chunks(bytes), fresh(dir, `${what}-here`));
    // Odd chunk sizes: slots are filled across chunk boundaries.
    const there = await unpackInThread(chunks(bytes, 100_003), fresh(dir, `${what}-there`));
    assert.equal(there.diffId, sha256Digest(layer), what);
    assert.equal(there.diffId, here.diffId, what);
    assert.equal(there.size, here.size, what);
    assert.equal(there.tarSize, layer.length, what);
    assert.equal(there.compression, what === 'gzip' ? 'gzip' : 'none');
    assert.deepEqual(there.input, { digest: sha256Digest(bytes), size: bytes.length }, what);
    const dest = path.join(dir, `${what}-there`);
    assert.ok(fs.readFileSync(path.join(dest, 'big.bin')).equals(big), what);
    assert.ok(fs.readFileSync(path.join(dest, 'etc/again')).equals(big.subarray(0, 3 << 20)), what);
    assert.equal(fs.readlinkSync(path.join(dest, 'link')), 'big.bin');
  }
}));

test('several layers unpack side by side, each with its own result', () => inTempDir('unpackpool-many', async (dir) => {
  const layers = Array.from({ length: 6 }, (_, i) => tar([{ name: `f${i}`, type: 'file', data: randomBytes((1 << 20) + i * 7919) }]));
  const results = await Promise.all(layers.map((l, i) => unpackInThread(chunks(gzipSync(l, { level: 0 })), fresh(dir, `l${i}`))));
  results.forEach((r, i) => assert.equal(r.diffId, sha256Digest(layers[i]!), `layer ${i}`));
}));

test('bytes that do not hash to the expected digest fail as such, before the tar is judged', () => inTempDir('unpackpool-digest', async (dir) => {
  const want = sha256Digest(Buffer.from('something else'));
  const err = await failureOf(unpackInThread(chunks(gz), fresh(dir, 'a'), { inputDigest: want, diffId: sha256Digest(Buffer.from('nor this')) }));
  assert.ok(isKind(err, 'invalid'), String(err));
  assert.match((err as Error).message, /hash to sha256:[0-9a-f]{64}, not sha256:/);
  assert.equal((err as { detail?: Record<string, unknown> }).detail?.['inputDigest'], sha256Digest(gz));
  // The right digest passes, and a wrong diffID is still caught.
  await assert.rejects(unpackInThread(chunks(gz), fresh(dir, 'b'), { inputDigest: sha256Digest(gz), diffId: sha256Digest(Buffer.from('nor this')) }), /diffID mismatch/);
  const ok = await unpackInThread(chunks(gz), fresh(dir, 'c'), { inputDigest: sha256Digest(gz), diffId: sha256Digest(layer) });
  assert.equal(ok.diffId, sha256Digest(layer));
}));

test('a hostile or broken layer fails with the unpacker\'s error; a failing source with its own', () => inTempDir('unpackpool-fail', async (dir) => {
  const escape = tar([{ name: '../outside', type: 'file', data: Buffer.from('x') }]);
  const e1 = await failureOf(unpackInThread(chunks(gzipSync(escape)), fresh(dir, 'a')));
  assert.ok(isKind(e1, 'invalid'), String(e1));
  assert.match((e1 as Error).message, /points outside the layer/);
  assert.equal(fs.existsSync(path.join(dir, 'outside')), false);

  await assert.rejects(unpackInThread(chunks(gz.subarray(0, gz.length - 1000)), fresh(dir, 'b')), /invalid layer tar|unexpected end/);

  async function* dies() {
    let n = 0;
    for await (const c of chunks(gz)) { if (n++ === 10) throw new Error('network gone'); yield c; }
  }
  await assert.rejects(unpackInThread(dies(), fresh(dir, 'c')), /network gone/);

  // The pool goes on working after failures.
  const ok = await unpackInThread(chunks(gz), fresh(dir, 'd'));
  assert.equal(ok.diffId, sha256Digest(layer));
}));

test('write() takes a reused buffer: the bytes are copied at once, and backpressure is said', () => inTempDir('unpackpool-write', async (dir) => {
  const job = new ThreadUnpack(fresh(dir, 'a'));
  const buf = Buffer.alloc(256 * 1024);
  let waited = 0;
  for (let off = 0; off < gz.length; off += buf.length) {
    const n = gz.copy(buf, 0, off, off + buf.length);
    const more = job.write(buf.subarray(0, n));
    buf.fill(0xee);   // as a socket's read buffer is overwritten by the next read
    if (!more) { waited++; await job.drained(); }
  }
  job.end();
  const r = await job.result;
  assert.equal(r.diffId, sha256Digest(layer));
  assert.ok(waited > 0, 'a writer faster than the thread is told to wait');
  // Once the unpack has failed, write() says so.
  const bad = new ThreadUnpack(fresh(dir, 'b'));
  bad.write(Buffer.from('this is not a tar and not gzip, but long enough to be judged as one'.repeat(20)));
  bad.end();
  await assert.rejects(bad.result);
  assert.throws(() => bad.write(Buffer.from('more')));
}));

test('a process whose only work is an unpack stays alive for it, and exits once it is done', () => inTempDir('unpackpool-alive', async (dir) => {
  const mod = new URL('../../src/snapshot/unpackpool.js', import.meta.url).href;
  const file = path.join(dir, 'layer.tgz');
  fs.writeFileSync(file, gz);
  const dest = fresh(dir, 'a');
  const script = `
    import { unpackInThread } from ${JSON.stringify(mod)};
    import { readFileSync } from 'node:fs';
    const data = readFileSync(${JSON.stringify(file)});
    async function* src() { yield data; }
    const r = await unpackInThread(src(), ${JSON.stringify(dest)}, { flushDir: ${JSON.stringify(dir)} });
    console.log(r.diffId);
  `;
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000, encoding: 'utf8' });
  assert.equal(out.trim(), sha256Digest(layer));
}));
