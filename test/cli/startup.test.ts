// bin/barge runs the bundled CLI with a V8 code cache kept next to it. A cache V8 refuses (another
// node version, flags, a torn write) must cost nothing but a rebuild of the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO } from '../helpers/daemon.js';

test('a corrupt code cache is refused and written again; the CLI works meanwhile', (t) => {
  const bundle = path.join(REPO, 'dist/cli/barge.cjs');
  assert.ok(fs.existsSync(bundle), 'the build bundles the CLI');
  // A private copy of bin/ and the bundle: other tests run the shared CLI at the same time, and
  // one that started on our junk cache would write its own cache over ours.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-startup-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.mkdirSync(path.join(dir, 'dist/cli'), { recursive: true });
  for (const f of ['bin/barge', 'bin/package.json', 'dist/cli/barge.cjs']) fs.copyFileSync(path.join(REPO, f), path.join(dir, f));
  const barge = path.join(dir, 'bin/barge');
  const cache = path.join(dir, 'dist/cli/barge.cache');
  const junk = Buffer.alloc(4096, 0x5a);
  fs.writeFileSync(cache, junk);
  const r = spawnSync(process.execPath, [barge, '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^barge version /);
  const now = fs.readFileSync(cache);
  assert.ok(now.length > 10_000 && !now.equals(junk), 'a real cache replaced the junk');
  // And the next start uses it.
  const again = spawnSync(process.execPath, [barge, '--version'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^barge version /);
  assert.ok(fs.readFileSync(cache).equals(now), 'an accepted cache is left as it is');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'dist/cli')).sort(), ['barge.cache', 'barge.cjs'], 'no temp file left');
});
