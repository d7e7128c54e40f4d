// Tar-split: a layer kept as its unpacked files plus a recipe streams back byte for byte (the same
// diffID), whatever the tar looks like: GNU and PAX long names, records padded by tar(1), the same path
// written twice, a directory replaced, whiteouts with contents, hardlinks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { OverlaySnapshotter } from '../../src/snapshot/snapshotter.js';
import { chunks, tar as tarOf, tempDir } from './helpers.js';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function roundTrip(sn: OverlaySnapshotter, name: string, layer: Buffer): Promise<Buffer> {
  const staged = await sn.stage(chunks(layer, 777), { split: true });
  assert.equal(staged.diffId, sha(layer));
  const key = sha(Buffer.from(name)).replace('sha256:', 'k');
  await sn.commitStaged(key, null, staged, { sync: false });
  const out: Buffer[] = [];
  for await (const b of sn.layerTar(key)) out.push(b);
  return Buffer.concat(out);
}

test('tar-split: layers stream back byte for byte', async (t) => {
  const { dir: root, cleanup } = tempDir('tarsplit');
  t.after(cleanup);
  const sn = OverlaySnapshotter.open(path.join(root, 'snapshots'));
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const long = 'd'.repeat(120) + '/' + 'f'.repeat(150);
  const cases: [string, Buffer][] = [
    ['an empty layer', tarOf([])],
    ['plain files, odd sizes, empty file, dirs, symlink', tarOf([
      { name: 'etc', type: 'dir' },
      { name: 'etc/a', type: 'file', data: 'hello\n' },
      { name: 'etc/empty', type: 'file', data: '' },
      { name: 'big', type: 'file', data: big },
      { name: 'link', type: 'symlink', linkname: 'etc/a' },
    ])],
    ['PAX long names and xattrs', tarOf([
      { name: long, type: 'file', data: 'deep\n' },
      { name: 'cap', type: 'file', data: 'x', xattrs: { 'user.test': 'v' } },
    ])],
    ['the same path twice (the first contents survive only in the recipe)', tarOf([
      { name: 'f', type: 'file', data: 'first version\n' },
      { name: 'f', type: 'file', data: 'second\n' },
    ])],
    ['a directory with files replaced by a file', tarOf([
      { name: 'd', type: 'dir' },
      { name: 'd/one', type: 'file', data: '1111' },
      { name: 'd/sub/two', type: 'file', data: '2222' },
      { name: 'd', type: 'file', data: 'now a file' },
    ])],
    ['whiteouts, one with contents, and an opaque directory', tarOf([
      { name: 'x', type: 'dir' },
      { name: 'x/.wh..wh..opq', type: 'file', data: '' },
      { name: '.wh.gone', type: 'file', data: 'odd but legal' },
      { name: 'x/kept', type: 'file', data: 'k' },
    ])],
    ['hardlinks, then the first name overwritten', tarOf([
      { name: 'orig', type: 'file', data: 'shared bytes' },
      { name: 'hl', type: 'hardlink', linkname: 'orig' },
      { name: 'orig', type: 'file', data: 'replaced' },
    ])],
    ['a file through a symlinked parent', tarOf([
      { name: 'real', type: 'dir' },
      { name: 'via', type: 'symlink', linkname: 'real' },
      { name: 'via/file', type: 'file', data: 'through the link' },
    ])],
  ];
  // GNU tar's own output: 'L' long-name records, a 10 KiB record padding of zero blocks.
  const src = path.join(root, 'src');
  fs.mkdirSync(path.join(src, 'a'.repeat(90), 'b'.repeat(90)), { recursive: true });
  fs.writeFileSync(path.join(src, 'a'.repeat(90), 'b'.repeat(90), 'c'.repeat(60)), randomBytes(5000));
  fs.writeFileSync(path.join(src, 'small'), 'small\n');
  for (const format of ['gnu', 'posix']) {
    cases.push([`GNU tar --format=${format}`, execFileSync('tar', ['-C', src, `--format=${format}`, '-cf', '-', '.'], { maxBuffer: 1 << 26 })]);
  }
  for (const [what, layer] of cases) {
    const back = await roundTrip(sn, what, layer);
    assert.equal(back.length, layer.length, `${what}: length`);
    assert.ok(back.equals(layer), `${what}: bytes differ`);
  }
  // The recipe is small: the file contents are not stored twice.
  const dirs = fs.readdirSync(path.join(root, 'snapshots')).filter((n) => /^\d+$/.test(n));
  const skel = dirs.map((n) => fs.statSync(path.join(root, 'snapshots', n, 'split.skel')).size);
  assert.ok(Math.max(...skel) < 64 * 1024, `skeletons are small: ${skel.join(', ')}`);
});

test('tar-split: a file changed under a snapshot is caught, not streamed as the layer', async (t) => {
  const { dir: root, cleanup } = tempDir('tarsplit');
  t.after(cleanup);
  const sn = OverlaySnapshotter.open(path.join(root, 'snapshots'));
  const layer = tarOf([{ name: 'f', type: 'file', data: 'original contents' }]);
  await roundTrip(sn, 'x', layer);
  const dir = fs.readdirSync(path.join(root, 'snapshots')).find((n) => /^\d+$/.test(n))!;
  fs.writeFileSync(path.join(root, 'snapshots', dir, 'fs', 'f'), 'tampered!');
  const key = sha(Buffer.from('x')).replace('sha256:', 'k');
  await assert.rejects(async () => { for await (const _ of sn.layerTar(key)) { /* read */ } }, /has changed/);
});
