import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentStore } from '../../src/content/store.js';
import { sha256Digest } from '../../src/content/digest.js';
import { BargeError } from '../../src/lib/errors.js';
import { chunks, tempDir } from './helpers.js';

const kind = (k: string) => (e: unknown) => e instanceof BargeError && e.kind === k;

test('content: put, info, read, stream, list, delete', async () => {
  const { dir, cleanup } = tempDir('content');
  try {
    const s = ContentStore.open(dir);
    const data = Buffer.from('hello blob');
    const info = s.put(data);
    assert.equal(info.digest, sha256Digest(data));
    assert.equal(info.size, data.length);
    assert.deepEqual(s.info(info.digest), info);
    assert.ok(s.has(info.digest));
    assert.deepEqual(s.read(info.digest), data);
    const parts: Buffer[] = [];
    for await (const c of s.createReadStream(info.digest)) parts.push(c as Buffer);
    assert.deepEqual(Buffer.concat(parts), data);
    assert.deepEqual(s.list(), [info]);
    assert.deepEqual(s.put(data), info, 'writing a blob twice is idempotent');
    assert.equal(s.delete(info.digest), true);
    assert.equal(s.delete(info.digest), false);
    assert.throws(() => s.info(info.digest), kind('notFound'));
    assert.throws(() => s.read(info.digest), kind('notFound'));
  } finally { cleanup(); }
});

test('content: a writer with the wrong digest stores nothing', async () => {
  const { dir, cleanup } = tempDir('content');
  try {
    const s = ContentStore.open(dir);
    const data = Buffer.alloc(300_000, 7);
    const wrong = sha256Digest('something else');
    await assert.rejects(s.ingest(chunks(data), { digest: wrong }), (e: unknown) => kind('invalid')(e) && /digest mismatch/.test((e as Error).message));
    assert.deepEqual(s.list(), []);
    assert.equal(s.has(sha256Digest(data)), false);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), [], 'the ingest was discarded');
    // Size checks: too long fails while writing, too short at commit.
    await assert.rejects(s.ingest(chunks(data), { size: 1000 }), /more than the expected 1000 bytes/);
    assert.throws(() => s.put(data, { size: data.length + 1 }), /size mismatch/);
    assert.deepEqual(s.list(), []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
    // The right digest and size commit.
    const ok = await s.ingest(chunks(data), { digest: sha256Digest(data), size: data.length });
    assert.deepEqual(s.list(), [ok]);
    // A failing source stores nothing either.
    async function* broken() { yield Buffer.from('partial'); throw new Error('connection reset'); }
    await assert.rejects(s.ingest(broken()), /connection reset/);
    assert.deepEqual(s.list(), [ok]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
  } finally { cleanup(); }
});

test('content: hostile digests never become paths', () => {
  const { dir, cleanup } = tempDir('content');
  try {
    const s = ContentStore.open(dir);
    for (const d of ['sha256:../../../etc/passwd', 'sha256:' + 'A'.repeat(64), 'md5:abc', '../x', 'sha256:' + 'a'.repeat(63)]) {
      assert.throws(() => s.info(d), kind('invalid'), d);
      assert.throws(() => s.writer({ digest: d }), kind('invalid'), d);
      assert.equal(s.has(d), false);
    }
  } finally { cleanup(); }
});

test('content: interrupted ingests are cleaned at open; corruption on disk is detected', async () => {
  const { dir, cleanup } = tempDir('content');
  try {
    let s = ContentStore.open(dir);
    const w = s.writer();
    w.write(Buffer.from('half a blob'));
    // (the process "dies" here: no commit, no abort)
    assert.equal(fs.readdirSync(path.join(dir, 'ingest')).length, 1);
    s = ContentStore.open(dir);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
    assert.deepEqual(s.list(), []);

    const info = s.put('precious');
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', info.digest.slice(7)), 'tampered');
    assert.throws(() => s.read(info.digest), kind('conflict'));
    await assert.rejects(async () => { for await (const _ of s.createReadStream(info.digest)) { /* read */ } }, /corrupted/);
  } finally { cleanup(); }
});
