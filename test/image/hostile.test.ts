// Hostile layers: whatever a tarball says, nothing outside the destination changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unpackLayer } from '../../src/snapshot/unpack.js';
import { OverlaySnapshotter } from '../../src/snapshot/snapshotter.js';
import { OPAQUE_XATTR, getXattrs } from '../../src/snapshot/sysops.js';
import type { TarEntry } from '../../src/image/tarwriter.js';
import { TarWriter } from '../../src/image/tarwriter.js';
import { chunks, snapshotTree, tar, tempDir } from './helpers.js';

interface Case { name: string; entries: TarEntry[] | (() => Buffer); rejects: boolean | RegExp }

function cases(sentinel: string): Case[] {
  const rel = path.relative('/', sentinel); // sentinel without its leading slash
  return [
    { name: 'dot-dot traversal', entries: [{ name: `../../../../../../../../${rel}/pwned`, type: 'file', data: 'x' }], rejects: /points outside the layer/ },
    { name: 'dot-dot inside a longer path', entries: [{ name: `a/../../${rel}/pwned`, type: 'file', data: 'x' }], rejects: /points outside the layer/ },
    { name: 'absolute path (neutralised: lands inside)', entries: [{ name: `${sentinel}/pwned`, type: 'file', data: 'x' }], rejects: false },
    { name: 'absolute symlink then write through it', entries: [
      { name: 'evil', type: 'symlink', linkname: sentinel },
      { name: 'evil/pwned', type: 'file', data: 'x' },
      { name: 'evil/file', type: 'file', data: 'overwritten' },
    ], rejects: false },
    { name: 'relative symlink climbing out, then write through it', entries: [
      { name: 'up', type: 'symlink', linkname: '../../../../../../../../../..' },
      { name: `up/${rel}/pwned`, type: 'file', data: 'x' },
    ], rejects: false },
    { name: 'symlink chain', entries: [
      { name: 'l1', type: 'symlink', linkname: 'l2' },
      { name: 'l2', type: 'symlink', linkname: `/${rel}` },
      { name: 'l1/pwned', type: 'dir' },
    ], rejects: false },
    { name: 'symlink loop', entries: [
      { name: 'loop1', type: 'symlink', linkname: 'loop2' },
      { name: 'loop2', type: 'symlink', linkname: 'loop1' },
      { name: 'loop1/x', type: 'file', data: 'x' },
    ], rejects: /too many levels of symbolic links/ },
    { name: 'file replacing a symlink to outside', entries: [
      { name: 'f', type: 'symlink', linkname: `${sentinel}/file` },
      { name: 'f', type: 'file', data: 'overwritten' },
    ], rejects: false },
    { name: 'hardlink to outside by dot-dot', entries: [{ name: 'h', type: 'hardlink', linkname: `../../../../../../../${rel}/file` }], rejects: /points outside the layer/ },
    { name: 'hardlink to outside by absolute path', entries: [{ name: 'h', type: 'hardlink', linkname: `${sentinel}/file` }], rejects: /does not exist|not in the layer/ },
    { name: 'hardlink through a symlink to outside', entries: [
      { name: 's', type: 'symlink', linkname: sentinel },
      { name: 'h', type: 'hardlink', linkname: 's/file' },
    ], rejects: /does not exist|not in the layer/ },
    { name: 'hardlink into a symlinked directory', entries: [
      { name: 'ok', type: 'file', data: 'inside' },
      { name: 's', type: 'symlink', linkname: sentinel },
      { name: 's/linked', type: 'hardlink', linkname: 'ok' },
    ], rejects: false },
    { name: 'device nodes', entries: [
      { name: 'null', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'sda', type: 'block', devmajor: 8, devminor: 0 },
      { name: 'mem', type: 'char', devmajor: 1, devminor: 1 },
    ], rejects: false },
    { name: 'whiteout through a symlink', entries: [
      { name: 's', type: 'symlink', linkname: sentinel },
      { name: 's/.wh.file', type: 'file' },
      { name: 's/.wh..wh..opq', type: 'file' },
    ], rejects: false },
    { name: 'directory swapped for a symlink after a whiteout was queued', entries: [
      { name: 'd', type: 'dir' },
      { name: 'd/.wh.file', type: 'file' },
      { name: 'd/.wh..wh..opq', type: 'file' },
      { name: 'd', type: 'symlink', linkname: sentinel },
    ], rejects: false },
    { name: 'bad whiteout name', entries: [{ name: 'x/.wh...', type: 'file' }], rejects: /bad whiteout/ },
    { name: 'absurd size', entries: [{ name: 'huge', type: 'file', data: 'tiny', headerSize: 2 ** 50 }], rejects: /claims 1125899906842624 bytes/ },
    { name: 'entry shorter than its header', entries: [{ name: 'short', type: 'file', data: 'tiny', headerSize: 100_000 }], rejects: true },
    { name: 'trusted.* xattrs are not applied', entries: [
      { name: 'x', type: 'dir', xattrs: { 'trusted.overlay.redirect': '/etc', 'security.selinux': 'x' } },
    ], rejects: false },
    { name: 'garbage instead of a tar', entries: () => Buffer.alloc(2048, 0x41), rejects: true },
    { name: 'truncated archive', entries: () => tar([{ name: 'f', type: 'file', data: 'x'.repeat(5000) }]).subarray(0, 3000), rejects: true },
    { name: 'gzip magic, then garbage', entries: () => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(600, 0x55)]), rejects: true },
    { name: 'xz is refused', entries: () => Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]), rejects: /not supported/ },
    { name: 'symlink named like the root', entries: [{ name: './', type: 'symlink', linkname: sentinel }], rejects: /names the root/ },
    // The directory was resolved (and remembered) for d/one; d/pwned must see the symlink that replaced it.
    { name: 'directory swapped for a symlink after files were written in it', entries: [
      { name: 'd', type: 'dir' },
      { name: 'd/one', type: 'file', data: 'inside' },
      { name: 'd', type: 'symlink', linkname: sentinel },
      { name: 'd/pwned', type: 'file', data: 'x' },
    ], rejects: false },
  ];
}

test('hostile layers leave everything outside the destination untouched', async () => {
  const out = tempDir('sentinel');
  const work = tempDir('hostile');
  try {
    const sentinel = out.dir;
    fs.writeFileSync(path.join(sentinel, 'file'), 'original');
    fs.mkdirSync(path.join(sentinel, 'sub'));
    const before = snapshotTree(sentinel);
    let i = 0;
    for (const c of cases(sentinel)) {
      const dest = path.join(work.dir, String(i++));
      fs.mkdirSync(dest);
      const buf = typeof c.entries === 'function' ? c.entries() : tar(c.entries);
      const run = unpackLayer(chunks(buf, 700), dest, { maxBytes: 1 << 30 });
      if (c.rejects === false) await run;
      else if (c.rejects === true) await assert.rejects(run, c.name);
      else await assert.rejects(run, c.rejects, c.name);
      assert.deepEqual(snapshotTree(sentinel), before, `${c.name}: the sentinel changed`);
      assert.equal((await getXattrs([sentinel], OPAQUE_XATTR))[0], null, `${c.name}: the sentinel was marked opaque`);
      // Whatever was written stayed inside: no link anywhere in dest resolves outside except symlinks, which are never followed.
      if (c.rejects === false) {
        for (const p of Object.keys(snapshotTree(dest))) {
          const st = fs.lstatSync(path.join(dest, p));
          assert.ok(!st.isBlockDevice() && !(st.isCharacterDevice() && st.rdev !== 0), `${c.name}: device node ${p} was created`);
        }
      }
    }
    // Spot checks of the neutralised cases.
    const inside = (n: number, p: string) => path.join(work.dir, String(n), p);
    assert.equal(fs.readFileSync(inside(2, `${sentinel}/pwned`), 'utf8'), 'x');
    assert.equal(fs.readFileSync(inside(3, `${sentinel}/file`), 'utf8'), 'overwritten', 'written under the re-rooted link target');
    assert.equal(fs.readFileSync(inside(4, `${sentinel}/pwned`), 'utf8'), 'x');
    assert.ok(fs.lstatSync(inside(7, 'f')).isFile());
    assert.equal(fs.statSync(inside(11, `${sentinel}/linked`)).ino, fs.statSync(inside(11, 'ok')).ino);
    assert.deepEqual(fs.readdirSync(path.join(work.dir, '12')), []);
    const wh = fs.lstatSync(inside(13, `${sentinel}/file`));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'the whiteout went to the re-rooted path');
    assert.ok(fs.lstatSync(inside(14, 'd')).isSymbolicLink());
    assert.deepEqual((await getXattrs([inside(18, 'x')], 'trusted.overlay.redirect')), [null]);
    const swapped = cases(sentinel).length - 1;
    assert.ok(fs.lstatSync(inside(swapped, 'd')).isSymbolicLink());
    assert.equal(fs.readFileSync(inside(swapped, `${sentinel}/pwned`), 'utf8'), 'x', 'written under the re-rooted link target');
  } finally {
    work.cleanup();
    out.cleanup();
  }
});

test('a hostile layer imported through the snapshotter leaves no snapshot behind', async () => {
  const { dir, cleanup } = tempDir('hostile-sn');
  try {
    const sn = OverlaySnapshotter.open(dir);
    const bad = new TarWriter().add({ name: 'ok', type: 'file', data: 'fine' }).add({ name: '../escape', type: 'file', data: 'x' }).finish();
    await assert.rejects(sn.importLayer('sha256:' + 'c'.repeat(64), null, chunks(bad)), /points outside the layer/);
    assert.deepEqual(sn.list(), []);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n !== 'db.json'), []);
  } finally { cleanup(); }
});
