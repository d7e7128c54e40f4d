// Filesystem flushes through one long-lived helper process (snapshot/sysops.ts syncFilesystem).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { syncFilesystem } from '../../src/snapshot/sysops.js';
import { tempDir } from './helpers.js';

function helpers(): number {
  // Children of this process running the syncer (perl -e ... <syncfs number>).
  let out = '';
  try { out = execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' }); } catch { /* no children: ps exits 1 */ }
  return out.split('\n').filter((l) => l.startsWith('/usr/bin/perl -e') || l.startsWith('/bin/perl -e')).length;
}

test('flushes succeed side by side through one helper; a missing directory is a warning, not a failure', async () => {
  const t = tempDir('syncfs');
  try {
    fs.writeFileSync(path.join(t.dir, 'f'), 'x'.repeat(1 << 20));
    const warnings: string[] = [];
    const warn = (m: string, e: string) => warnings.push(`${m}: ${e}`);
    await Promise.all(Array.from({ length: 10 }, (_, i) => syncFilesystem(i % 2 ? t.dir : '/tmp', warn)));
    assert.deepEqual(warnings, []);
    assert.equal(helpers(), 1, 'one helper process for every flush');
    await syncFilesystem(path.join(t.dir, 'missing'), warn);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /errno 2/);
    await syncFilesystem(t.dir, warn);
    assert.equal(warnings.length, 1);
    assert.equal(helpers(), 1);
  } finally {
    t.cleanup();
  }
});

test('the helper does not keep a process alive once its flushes are done', () => {
  const mod = new URL('../../src/snapshot/sysops.js', import.meta.url).href;
  const script = `
    import { syncFilesystem } from ${JSON.stringify(mod)};
    await syncFilesystem('/tmp', (m, e) => console.log(m, e));
    console.log('flushed');
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(out.trim(), 'flushed');
});
