// Big files of a layer are written around the page cache (snapshot/directio.ts): byte for byte the
// same files, their exact sizes and metadata; buffered writes where the filesystem refuses O_DIRECT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { unpackLayer } from '../../src/snapshot/unpack.js';
import { DIRECT_MIN } from '../../src/lib/directio.js';
import { sha256Digest } from '../../src/content/digest.js';
import { chunks, tar, tempDir } from './helpers.js';

// Not a multiple of the block size or of the 4 MiB stages: the last block is padded, the file cut.
const big = randomBytes(DIRECT_MIN * 2 + 12_345);
const exact = randomBytes(DIRECT_MIN);
const layer = tar([
  { name: 'small.txt', type: 'file', data: Buffer.from('small\n') },
  { name: 'data/big.bin', type: 'file', data: big, mode: 0o640, mtime: 1_600_000_000 },
  { name: 'data/exact.bin', type: 'file', data: exact },
  { name: 'after.txt', type: 'file', data: Buffer.from('after\n') },
]);

/** Bytes of `file` in the page cache, as fincore (util-linux) reports them. */
function cached(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
}

function staging(root: string, name: string): { dir: string; dest: string } {
  const dir = path.join(root, name);
  const dest = path.join(dir, 'fs');
  fs.mkdirSync(dest, { recursive: true });
  return { dir, dest };
}

test('big files are written directly: same bytes, exact sizes, metadata; not left in the page cache', async () => {
  const t = tempDir('directio');
  try {
    const { dir, dest } = staging(t.dir, 'a');
    const r = await unpackLayer(chunks(gzipSync(layer, { level: 1 }), 300_001), dest, { directDir: dir, diffId: sha256Digest(layer) });
    assert.equal(r.size, big.length + exact.length + 12);
    const f = path.join(dest, 'data/big.bin');
    assert.equal(fs.statSync(f).size, big.length);
    assert.ok(fs.readFileSync(path.join(dest, 'data/exact.bin')).equals(exact));
    const st = fs.statSync(f);
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.mtimeMs, 1_600_000_000_000);
    // Written around the page cache (read it only after this check: reading brings it in).
    assert.equal(cached(f), 0, 'no page-cache pages for the direct-written file');
    assert.ok(cached(path.join(dest, 'small.txt')) > 0, 'small files are written as before');
    assert.ok(fs.readFileSync(f).equals(big));
    assert.equal(fs.readFileSync(path.join(dest, 'after.txt'), 'utf8'), 'after\n');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['fs'], 'the probe leaves nothing');
  } finally {
    t.cleanup();
  }
});

test('where the filesystem refuses O_DIRECT (tmpfs), big files are written buffered', async () => {
  const t = tempDir('directio-tmpfs');
  const mnt = path.join(t.dir, 'mnt');
  fs.mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m', 'tmpfs', mnt]);
  try {
    const { dir, dest } = staging(mnt, 'a');
    const r = await unpackLayer(chunks(layer), dest, { directDir: dir, diffId: sha256Digest(layer) });
    assert.equal(r.diffId, sha256Digest(layer));
    assert.ok(fs.readFileSync(path.join(dest, 'data/big.bin')).equals(big));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['fs']);
  } finally {
    execFileSync('umount', [mnt]);
    t.cleanup();
  }
});

test('a layer cut off inside a big file fails cleanly', async () => {
  const t = tempDir('directio-cut');
  try {
    const { dir, dest } = staging(t.dir, 'a');
    await assert.rejects(unpackLayer(chunks(layer.subarray(0, 512 + 512 + DIRECT_MIN + 5000)), dest, { directDir: dir }), /truncated|unexpected end|invalid layer tar/);
    // A second unpack on the same thread still writes directly and correctly.
    const b = staging(t.dir, 'b');
    await unpackLayer(chunks(layer), b.dest, { directDir: b.dir });
    assert.ok(fs.readFileSync(path.join(b.dest, 'data/big.bin')).equals(big));
  } finally {
    t.cleanup();
  }
});
