// A two-layer image built here, unpacked by the real code, seen through a real overlay mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageService } from '../../src/image/service.js';
import { chainIds } from '../../src/image/oci.js';
import { getXattrs } from '../../src/snapshot/sysops.js';
import { putImage, tar, tempDir } from './helpers.js';

const L0 = tar([
  { name: 'a', type: 'dir', mode: 0o755, mtime: 1000 },
  { name: 'a/keep', type: 'file', data: 'keep', mode: 0o640, uid: 1000, gid: 1001, mtime: 2000, xattrs: { 'user.test': 'hello' } },
  { name: 'a/gone', type: 'file', data: 'gone' },
  { name: 'a/hard', type: 'hardlink', linkname: 'a/keep' },
  { name: 'd', type: 'dir', mtime: 1000 },
  { name: 'd/x', type: 'file', data: 'x' },
  { name: 'd/sub/s', type: 'file', data: 's' },
  { name: 'e/1', type: 'file', data: '1' },
  { name: 'lnk', type: 'symlink', linkname: 'a/keep', uid: 7, gid: 8 },
  { name: 'setuid', type: 'file', data: '#!/bin/sh\n', mode: 0o4755 },
  { name: 'pipe', type: 'fifo', mode: 0o600 },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
  { name: 'new', type: 'file', data: 'old' },
  { name: 'deep/' + 'n'.repeat(90) + '/' + 'm'.repeat(90) + '/file', type: 'file', data: 'long name' },
]);
const L1 = tar([
  { name: 'a', type: 'dir', mode: 0o750, mtime: 1500 },
  { name: 'a/.wh.gone', type: 'file' },
  { name: 'd/.wh..wh..opq', type: 'file' },
  { name: 'd/z', type: 'file', data: 'z' },
  { name: 'new', type: 'file', data: 'new', mtime: 3000 },
]);

test('two layers with a whiteout and an opaque dir give the right merged view; changes() reports Docker\'s diff', async () => {
  const { dir, cleanup } = tempDir('layers');
  try {
    const images = await ImageService.open(path.join(dir, 'root'), { busybox: false });
    const { manifest, diffIds } = putImage(images.content, [L0, L1], { gzip: [false, true] });
    const img = await images.createImage({ manifest }, { tags: ['layered:1'] });
    assert.deepEqual(img.diffIds, diffIds);
    assert.equal(img.chainId, chainIds(diffIds)[1]);
    assert.equal(images.resolve('layered:1').id, img.id);
    assert.equal(img.size, 4 + 4 + 1 + 1 + 1 + 10 + 3 + 9 + 1 + 3, 'size counts file data once per inode');

    const rootfs = path.join(dir, 'rootfs');
    fs.mkdirSync(rootfs);
    await images.prepareRootfs('c1', img.id);
    await images.mountRootfs('c1', rootfs);
    const r = (p: string) => path.join(rootfs, p);

    // Layer 1 hid a/gone and everything of d that layer 0 had.
    assert.deepEqual(fs.readdirSync(r('a')).sort(), ['hard', 'keep']);
    assert.deepEqual(fs.readdirSync(r('d')), ['z']);
    assert.equal(fs.readFileSync(r('new'), 'utf8'), 'new');
    // Metadata survives: modes (setuid too), owners, times, hardlinks, symlinks, FIFOs, xattrs.
    const keep = fs.statSync(r('a/keep'));
    assert.equal(keep.mode & 0o7777, 0o640);
    assert.equal(keep.uid, 1000);
    assert.equal(keep.gid, 1001);
    assert.equal(keep.mtimeMs, 2000_000);
    assert.equal(keep.nlink, 2);
    assert.equal(fs.statSync(r('a/hard')).ino, keep.ino);
    assert.equal(fs.statSync(r('a')).mtimeMs, 1500_000, 'directory times are set after their contents');
    assert.equal(fs.statSync(r('a')).mode & 0o7777, 0o750, 'the top layer\'s directory attributes win');
    assert.equal(fs.readlinkSync(r('lnk')), 'a/keep');
    assert.equal(fs.lstatSync(r('lnk')).uid, 7);
    assert.equal(fs.statSync(r('setuid')).mode & 0o7777, 0o4755);
    assert.ok(fs.lstatSync(r('pipe')).isFIFO());
    assert.equal(fs.lstatSync(r('pipe')).mode & 0o777, 0o600);
    assert.equal(fs.existsSync(r('dev/null')), false, 'device nodes are dropped');
    assert.equal(fs.readFileSync(r('deep/' + 'n'.repeat(90) + '/' + 'm'.repeat(90) + '/file'), 'utf8'), 'long name');
    assert.equal((await getXattrs([r('a/keep')], 'user.test'))[0]?.toString(), 'hello');
    // The init layer supplies the runtime's mount points without touching the image.
    for (const p of ['proc', 'sys', 'dev/pts', 'dev/shm', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', '.dockerenv']) {
      assert.ok(fs.existsSync(r(p)), p);
    }

    // The container changes things.
    fs.writeFileSync(r('new'), 'newer');
    fs.writeFileSync(r('a/added'), '+');
    fs.unlinkSync(r('a/keep'));
    fs.unlinkSync(r('d/z'));
    fs.rmSync(r('e'), { recursive: true });
    fs.mkdirSync(r('e'));
    fs.writeFileSync(r('e/2'), '2');
    await images.unmountRootfs(rootfs);
    await images.unmountRootfs(rootfs); // not mounted: fine

    assert.deepEqual(await images.changes('c1'), [
      { Path: '/a', Kind: 0 },
      { Path: '/a/added', Kind: 1 },
      { Path: '/a/keep', Kind: 2 },
      { Path: '/d', Kind: 0 },
      { Path: '/d/z', Kind: 2 },
      { Path: '/e', Kind: 2 },
      { Path: '/e/2', Kind: 1 },
      { Path: '/new', Kind: 0 },
    ]);
    assert.ok((await images.rootfsUsage('c1')).size >= 7);
    assert.equal(await images.rootfsSize('c1'), (await images.rootfsUsage('c1')).size);

    // A second image sharing layer 0 reuses its snapshot.
    const before = images.snapshots.list().length;
    const other = putImage(images.content, [L0, tar([{ name: 'other', type: 'file', data: 'o' }])]);
    const img2 = await images.createImage({ manifest: other.manifest }, { tags: ['layered:2'] });
    assert.equal(images.snapshots.list().length, before + 1);
    assert.equal(images.snapshots.stat(img2.chainId!).parent, chainIds(diffIds)[0]);

    // Removing the container's rootfs, then the image, releases what only it used.
    await images.removeRootfs('c1');
    assert.deepEqual(await images.remove('layered:1'), [
      { Untagged: 'layered:1' },
      { Deleted: img.id },
      { Deleted: chainIds(diffIds)[1]! },
    ]);
    assert.ok(images.snapshots.exists(chainIds(diffIds)[0]!), 'the shared base layer stays');
    const out = await images.remove('layered:2');
    assert.deepEqual(out.map((o) => Object.keys(o)[0]), ['Untagged', 'Deleted', 'Deleted', 'Deleted']);
    assert.deepEqual(images.snapshots.list(), []);
    assert.deepEqual(images.content.list(), [], 'blobs of deleted images are released');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'root', 'snapshots')), ['db.json']);
  } finally { cleanup(); }
});
