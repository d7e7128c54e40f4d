// Interrupted unpacks: an error, a bad diffID, or kill -9 half-way never leave a visible snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { OverlaySnapshotter } from '../../src/snapshot/snapshotter.js';
import { sha256Digest } from '../../src/content/digest.js';
import { chunks, tar, tempDir } from './helpers.js';

const NAME = 'sha256:' + 'd'.repeat(64);
const layer = tar(Array.from({ length: 200 }, (_, i) => ({ name: `dir${i % 10}/file${i}`, type: 'file' as const, data: Buffer.alloc(4096, i) })));

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n !== 'db.json');
}

test('a failing source or a wrong diffID leaves no snapshot', async () => {
  const { dir, cleanup } = tempDir('interrupt');
  try {
    const sn = OverlaySnapshotter.open(dir);
    async function* dies() {
      let n = 0;
      for await (const c of chunks(layer, 8192)) { if (n++ === 20) throw new Error('network gone'); yield c; }
    }
    await assert.rejects(sn.importLayer(NAME, null, dies()), /network gone/);
    assert.equal(sn.exists(NAME), false);
    assert.deepEqual(leftovers(dir), []);

    await assert.rejects(sn.importLayer(NAME, null, chunks(layer), { diffId: sha256Digest('not this') }), /diffID mismatch/);
    assert.equal(sn.exists(NAME), false);
    assert.deepEqual(leftovers(dir), []);

    const ok = await sn.importLayer(NAME, null, chunks(layer), { diffId: sha256Digest(layer) });
    assert.equal(ok.diffId, sha256Digest(layer));
    assert.equal(ok.size, 200 * 4096);
  } finally { cleanup(); }
});

test('kill -9 in the middle of an unpack: the next open shows no snapshot and no debris', async () => {
  const { dir: top, cleanup } = tempDir('interrupt-kill');
  try {
    const dir = path.join(top, 'snapshots');
    const layerFile = path.join(top, 'layer.tar');
    fs.writeFileSync(layerFile, layer);
    const mod = new URL('../../src/snapshot/snapshotter.js', import.meta.url).href;
    // The child unpacks a layer fed slowly, so that it is surely half-way when killed.
    const script = `
      import { OverlaySnapshotter } from ${JSON.stringify(mod)};
      const sn = OverlaySnapshotter.open(${JSON.stringify(dir)});
      import { readFileSync } from 'node:fs';
      const data = readFileSync(${JSON.stringify(layerFile)});
      async function* slow() {
        for (let i = 0; i < data.length; i += 4096) {
          yield data.subarray(i, i + 4096);
          if (i === 40960) process.stdout.write('started\\n');
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      await sn.importLayer(${JSON.stringify(NAME)}, null, slow());
      process.stdout.write('finished\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('started')) resolve(); });
      child.on('exit', () => reject(new Error('child exited before it was killed')));
    });
    const during = fs.readdirSync(dir).filter((n) => n.startsWith('.tmp-'));
    assert.equal(during.length, 1, 'the unpack is under way in a temporary directory');
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));

    // An id directory that made it to disk but not into db.json (a crash between the two) goes too.
    fs.mkdirSync(path.join(dir, '42', 'fs'), { recursive: true });
    fs.writeFileSync(path.join(dir, '42', 'fs', 'stray'), 'x');

    const sn = OverlaySnapshotter.open(dir);
    assert.equal(sn.exists(NAME), false);
    assert.deepEqual(sn.list(), []);
    assert.deepEqual(leftovers(dir), []);
    // And the layer imports cleanly afterwards.
    await sn.importLayer(NAME, null, chunks(layer), { diffId: sha256Digest(layer) });
    assert.ok(OverlaySnapshotter.open(dir).exists(NAME), 'the import survives a reopen');
  } finally { cleanup(); }
});
