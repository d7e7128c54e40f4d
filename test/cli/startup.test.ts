// bin/barge runs the bundled CLI with a V8 code cache kept next to it. A cache V8 refuses (another
// node version, flags, a torn write) must cost nothing but a rebuild of the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BARGE, REPO } from '../helpers/daemon.js';

test('a corrupt code cache is refused and written again; the CLI works meanwhile', () => {
  const cache = path.join(REPO, 'dist/cli/barge.cache');
  assert.ok(fs.existsSync(path.join(REPO, 'dist/cli/barge.cjs')), 'the build bundles the CLI');
  const junk = Buffer.alloc(4096, 0x5a);
  fs.writeFileSync(cache, junk);
  const r = spawnSync(BARGE, ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^barge version /);
  const now = fs.readFileSync(cache);
  assert.ok(now.length > 10_000 && !now.equals(junk), 'a real cache replaced the junk');
  // And the next start uses it.
  const again = spawnSync(BARGE, ['--version'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.ok(fs.readFileSync(cache).equals(now), 'an accepted cache is left as it is');
});
