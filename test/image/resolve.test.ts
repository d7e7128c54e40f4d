// A layer may change its own directories as it goes (a symlink replaced by a directory, a directory by
// a symlink): the unpacker remembers the directories it resolved, and every entry must still land where
// the layer's own changes say, not where an earlier entry's path led.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unpackLayer } from '../../src/snapshot/unpack.js';
import { chunks, tar, tempDir } from './helpers.js';

test('entries follow the layer\'s own changes to directories and symlinks', async () => {
  const t = tempDir('resolve');
  try {
    const dest = path.join(t.dir, 'fs');
    fs.mkdirSync(dest);
    await unpackLayer(chunks(tar([
      { name: 'real', type: 'dir' },
      { name: 'other', type: 'dir' },
      { name: 'l', type: 'symlink', linkname: 'real' },
      { name: 'l/a', type: 'file', data: 'through the link' },
      { name: 'l', type: 'dir' },                                  // the symlink becomes a directory
      { name: 'l/b', type: 'file', data: 'in the new directory' },
      { name: 'deep/er/x', type: 'file', data: 'x' },
      { name: 'deep/er', type: 'symlink', linkname: '../other' }, // a directory becomes a symlink
      { name: 'deep/er/y', type: 'file', data: 'y' },
      { name: 'deep/er/z/w', type: 'file', data: 'w' },
    ])), dest, { maxBytes: 1 << 30 });
    const read = (p: string) => fs.readFileSync(path.join(dest, p), 'utf8');
    assert.equal(read('real/a'), 'through the link');
    assert.ok(fs.lstatSync(path.join(dest, 'l')).isDirectory());
    assert.equal(read('l/b'), 'in the new directory');
    assert.ok(!fs.existsSync(path.join(dest, 'real/b')), 'l/b went through the old symlink');
    assert.ok(fs.lstatSync(path.join(dest, 'deep/er')).isSymbolicLink());
    assert.equal(read('other/y'), 'y');
    assert.equal(read('other/z/w'), 'w');
    assert.ok(!fs.existsSync(path.join(dest, 'other/x')), 'the replaced directory\'s file stays gone');
  } finally {
    t.cleanup();
  }
});
