// Deep images: relative lowerdirs keep the overlay options of 200 layers within one page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OverlaySnapshotter } from '../../src/snapshot/snapshotter.js';
import { chainIds } from '../../src/image/oci.js';
import { sha256Digest } from '../../src/content/digest.js';
import { chunks, tar, tempDir } from './helpers.js';

test('a 200-layer stack mounts, each layer visible, later layers winning', async () => {
  const { dir, cleanup } = tempDir('deep');
  try {
    const sn = OverlaySnapshotter.open(path.join(dir, 'a-rather-long-directory-name-for-the-data-root', 'snapshots'));
    const layers = Array.from({ length: 200 }, (_, i) => tar([
      { name: `layer${i}`, type: 'file', data: String(i) },
      { name: 'top', type: 'file', data: String(i) },
    ]));
    const chain = chainIds(layers.map((l) => sha256Digest(l)));
    for (let i = 0; i < layers.length; i++) {
      await sn.importLayer(chain[i]!, i === 0 ? null : chain[i - 1]!, chunks(layers[i]!), { sync: false });
    }
    sn.prepare('deep-ctr', chain[199]!);
    const opts = sn.mountOptions('deep-ctr');
    assert.ok(opts.length < 4000, `options are ${opts.length} bytes`);
    const target = path.join(dir, 'mnt');
    fs.mkdirSync(target);
    await sn.mount('deep-ctr', target);
    try {
      assert.equal(fs.readFileSync(path.join(target, 'layer0'), 'utf8'), '0');
      assert.equal(fs.readFileSync(path.join(target, 'layer199'), 'utf8'), '199');
      assert.equal(fs.readFileSync(path.join(target, 'top'), 'utf8'), '199');
      assert.equal(fs.readdirSync(target).length, 201);
    } finally {
      await sn.unmount(target);
    }
    await assert.rejects(sn.remove(chain[199]!), /child snapshot/);
    await sn.remove('deep-ctr');
    for (let i = 199; i >= 0; i--) await sn.remove(chain[i]!);
    assert.deepEqual(sn.list(), []);
  } finally { cleanup(); }
});
