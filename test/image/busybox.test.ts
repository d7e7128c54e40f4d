// The built-in busybox image: reproducible, fast to build, and it runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ImageService } from '../../src/image/service.js';
import { buildBusyboxImage, isStaticElf } from '../../src/image/busybox.js';
import { sha256Digest } from '../../src/content/digest.js';
import { tempDir } from './helpers.js';

const HAVE_BUSYBOX = fs.existsSync('/bin/busybox');

test('busybox:latest is seeded identically in two data roots', { skip: !HAVE_BUSYBOX && 'no /bin/busybox (install busybox-static)' }, async () => {
  const { dir, cleanup } = tempDir('busybox');
  try {
    const t0 = performance.now();
    const a = await ImageService.open(path.join(dir, 'a'));
    const ms = performance.now() - t0;
    const b = await ImageService.open(path.join(dir, 'b'));
    const ia = a.resolve('busybox');
    const ib = b.resolve('busybox:latest');
    assert.equal(ia.id, ib.id, 'same image ID');
    assert.deepEqual(ia.diffIds, ib.diffIds, 'same layer');
    assert.equal(ia.manifest?.digest, ib.manifest?.digest, 'same manifest');
    assert.deepEqual(buildBusyboxImage().layer, buildBusyboxImage().layer, 'the layer bytes are deterministic');
    assert.equal(sha256Digest(buildBusyboxImage().config), ia.id);
    assert.ok(ms < 2000, `seeding took ${ms.toFixed(0)} ms`);
    console.log(`# busybox seeding took ${ms.toFixed(0)} ms`);

    const cfg = ia.config;
    assert.deepEqual(cfg.config?.Cmd, ['sh']);
    assert.deepEqual(cfg.config?.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    assert.equal(cfg.os, 'linux');
    assert.equal(cfg.architecture, process.arch === 'x64' ? 'amd64' : cfg.architecture);
    assert.deepEqual(a.list().map((s) => s.RepoTags), [['busybox:latest']]);
    assert.equal(a.history('busybox').length, 2);

    // Reopening does not rebuild it; removing it and reopening brings back the same image.
    const again = await ImageService.open(path.join(dir, 'a'));
    assert.equal(again.resolve('busybox').id, ia.id);
    await again.remove('busybox');
    assert.throws(() => again.resolve('busybox'), /No such image: busybox:latest/);
    assert.equal((await ImageService.open(path.join(dir, 'a'))).resolve('busybox').id, ia.id);
  } finally { cleanup(); }
});

test('the busybox rootfs runs sh -c "echo ok" and has the official layout', { skip: !HAVE_BUSYBOX && 'no /bin/busybox' }, async () => {
  const { dir, cleanup } = tempDir('busybox-run');
  try {
    const images = await ImageService.open(path.join(dir, 'root'));
    const rootfs = path.join(dir, 'rootfs');
    fs.mkdirSync(rootfs);
    await images.prepareRootfs('ctr1', images.resolve('busybox').id);
    await images.mountRootfs('ctr1', rootfs);
    try {
      const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
      assert.equal(execFileSync('chroot', [rootfs, 'sh', '-c', 'echo ok'], { encoding: 'utf8', env }), 'ok\n');
      // unshare: a new mount/pid namespace, as a runtime would do.
      assert.equal(execFileSync('unshare', ['--mount', '--pid', '--fork', 'chroot', rootfs, '/bin/sh', '-c', 'echo $$; test -x /bin/ls && test -x /usr/bin/env && echo found'], { encoding: 'utf8', env }), '1\nfound\n');
      assert.match(execFileSync('chroot', [rootfs, 'id', 'nobody'], { encoding: 'utf8', env }), /uid=65534\(nobody\) gid=65534\(nogroup\)/);
      assert.match(execFileSync('chroot', [rootfs, 'sh', '-c', 'grep ^www-data: /etc/passwd'], { encoding: 'utf8', env }), /www-data:x:33:33/);
      assert.equal(fs.statSync(path.join(rootfs, 'tmp')).mode & 0o7777, 0o1777);
      assert.equal(fs.statSync(path.join(rootfs, 'root')).mode & 0o7777, 0o700);
      for (const d of ['home', 'var/spool/mail', 'var/www', 'usr/sbin']) assert.ok(fs.statSync(path.join(rootfs, d)).isDirectory(), d);
      assert.equal(fs.statSync(path.join(rootfs, 'bin/sh')).ino, fs.statSync(path.join(rootfs, 'bin/busybox')).ino, 'applets are hardlinks');
      execFileSync('chroot', [rootfs, 'sh', '-c', 'echo hi > /tmp/hello'], { env });
    } finally {
      await images.unmountRootfs(rootfs);
    }
    assert.deepEqual(await images.changes('ctr1'), [{ Path: '/tmp', Kind: 0 }, { Path: '/tmp/hello', Kind: 1 }]);
    // A container keeps the image's layers alive even when the image is deleted by force.
    await images.remove('busybox', { force: true, inUse: () => [{ id: 'ctr1'.padEnd(64, '0'), running: false }] });
    assert.equal(images.snapshots.list().filter((s) => s.kind === 'committed').length, 2, 'image layer + init layer stay');
    await images.removeRootfs('ctr1');
    assert.deepEqual(images.snapshots.list(), []);
  } finally { cleanup(); }
});

test('a dynamically linked busybox is refused without failing open', async () => {
  assert.equal(isStaticElf(fs.readFileSync('/bin/ls')), false);
  if (HAVE_BUSYBOX) assert.equal(isStaticElf(fs.readFileSync('/bin/busybox')), true);
  assert.equal(isStaticElf(Buffer.from('#!/bin/sh\necho not elf\n'.padEnd(100))), false);
  const { dir, cleanup } = tempDir('busybox-dyn');
  try {
    const images = await ImageService.open(dir, { busybox: '/bin/ls' });
    assert.deepEqual(images.list(), []);
    const none = await ImageService.open(path.join(dir, 'x'), { busybox: '/nonexistent/busybox' });
    assert.deepEqual(none.list(), []);
  } finally { cleanup(); }
});
