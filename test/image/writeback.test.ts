// A layer's writeback starts while it unpacks: every `flushEvery` bytes of file data written, even
// inside one big file (a layer of one big file used to start none, and the flush before the layer
// was recorded then waited for all of it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { unpackLayer } from '../../src/snapshot/unpack.js';
import { chunks, tar, tempDir } from './helpers.js';

test('writeback is started inside a big file, every flushEvery bytes written', async () => {
  const t = tempDir('writeback');
  try {
    const dest = path.join(t.dir, 'fs');
    fs.mkdirSync(dest);
    const data = randomBytes(6 << 20);
    const file = path.join(dest, 'big.bin');
    // The file's size on disk each time a flush is asked for.
    const seen: number[] = [];
    const res = await unpackLayer(chunks(tar([{ name: 'big.bin', type: 'file', data }])), dest, {
      flushEvery: 1 << 20,
      flush: async () => { seen.push(fs.statSync(file).size); },
    });
    assert.equal(res.size, data.length);
    assert.ok(fs.readFileSync(file).equals(data));
    assert.ok(seen.length >= 3, `flushes: ${seen.length}`);
    assert.ok(seen.some((n) => n > 0 && n < data.length), `sizes at each flush: ${seen.join(', ')}`);
  } finally {
    t.cleanup();
  }
});
