// Synced build contexts (src/build/synccontext.ts): barge's CLI sends only what changed since the last
// build of a directory; the daemon's copy follows every change (new, changed, deleted files, modes,
// symlinks), and a hostile manifest or tar is refused without writing anywhere else.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { cliEnv, until } from '../helpers/engine.js';
import { TarWriter, tarHeader } from '../../src/lib/tarwriter.js';

const keyOf = (dir: string) => createHash('sha256').update(`${os.hostname()}\0${dir}`).digest('hex');

describe('synced build contexts', () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    d = await startDaemon();
    dir = path.join(d.dir, 'ctx');
    fs.mkdirSync(path.join(dir, 'src', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx/\nCMD ["sh", "-c", "cd /ctx && find . -type f -o -type l | sort && cat src/a.txt && stat -c %a src/run.sh && readlink link"]\n');
    fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'one\n');
    fs.writeFileSync(path.join(dir, 'src', 'run.sh'), 'echo hi\n', { mode: 0o644 });
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, 'src', 'sub', `f${i}`), `file ${i}\n`);
    fs.symlinkSync('src/a.txt', path.join(dir, 'link'));
  });
  after(async () => { await d?.cleanup(); });

  /** The manifest barge's CLI would send (the fields the daemon compares). */
  const manifest = () => {
    const entries: object[] = [];
    const walk = (rel: string) => {
      for (const n of fs.readdirSync(rel ? path.join(dir, rel) : dir).sort()) {
        const r = rel ? `${rel}/${n}` : n;
        const st = fs.lstatSync(path.join(dir, r));
        const t = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f';
        entries.push({ p: r, t, m: st.mode & 0o7777, u: st.uid, g: st.gid, s: t === 'f' ? st.size : 0, mt: st.mtimeMs, ct: st.ctimeMs, i: st.ino, ...(t === 'l' ? { l: fs.readlinkSync(path.join(dir, r)) } : {}) });
        if (t === 'd') walk(r);
      }
    };
    walk('');
    return { entries };
  };
  const need = async (m: unknown = manifest(), key = keyOf(dir)) => d.api('POST', `/v1.47/build/context?key=${key}`, m);
  const build = (tag: string) => {
    const r = d.barge(['build', '-q', '-t', tag, dir], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
  };
  const run = (tag: string) => {
    const r = d.barge(['run', '--rm', tag], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  test('the first build sends everything, a rebuild nothing, a change only the changed file', async () => {
    const first = await need();
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.need.length, 53, 'every file, before any build');
    build('sync:1');
    assert.deepEqual((await need()).body.need, [], 'nothing after a build of the same tree');
    fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'two\n');
    assert.deepEqual((await need()).body.need, ['src/a.txt']);
  });

  test('the copy follows changes, deletions, modes and symlinks', () => {
    fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'three\n');
    fs.chmodSync(path.join(dir, 'src', 'run.sh'), 0o755);
    fs.rmSync(path.join(dir, 'src', 'sub', 'f7'));
    fs.rmSync(path.join(dir, 'link'));
    fs.symlinkSync('src/run.sh', path.join(dir, 'link'));
    fs.writeFileSync(path.join(dir, 'new.txt'), 'new\n');
    build('sync:2');
    const out = run('sync:2');
    assert.match(out, /^\.\/new\.txt$/m);
    assert.doesNotMatch(out, /f7$/m, 'a deleted file is gone');
    assert.match(out, /^three$/m);
    assert.match(out, /^755$/m);
    assert.match(out, /^src\/run\.sh$/m);
  });

  test('two builds of the same directory at once both succeed', async () => {
    fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'four\n');
    const [a, b] = await Promise.all([
      d.bargeAsync(['build', '-q', '-t', 'sync:3', dir], { timeoutMs: 120_000 }),
      d.bargeAsync(['build', '-q', '-t', 'sync:4', dir], { timeoutMs: 120_000 }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(run('sync:4'), /^four$/m);
  });

  test('hostile manifests and tars: 400, nothing written outside', async () => {
    const outside = path.join(d.dir, 'outside');
    fs.mkdirSync(outside);
    const e = (p: string, t = 'f', extra: object = {}) => ({ p, t, m: 0o644, u: 0, g: 0, s: 1, mt: 1, ct: 1, i: 1, ...extra });
    const cases: [string, unknown, RegExp][] = [
      ['../ path', { entries: [e('../x')] }, /bad path/],
      ['absolute path', { entries: [e('/etc/x')] }, /bad path/],
      ['dot-dot inside', { entries: [e('a'), e('a/../../x')] }, /bad path/],
      ['file under a symlink', { entries: [e('l', 'l', { l: outside }), e('l/x')] }, /parent .* is not a directory/],
      ['file under a file', { entries: [e('a'), e('a/x')] }, /parent .* is not a directory/],
      ['no entries', { nope: 1 }, /no entries/],
    ];
    for (const [what, m, re] of cases) {
      const r = await need(m);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.match(r.body.message, re, what);
    }
    const bad = await need(manifest(), '../../etc');
    assert.equal(bad.status, 400, 'a key is 64 hex digits, never a path');
    // A tar carrying a file that was not asked for, or a symlink, is refused.
    const key = 'a'.repeat(64);
    const m = Buffer.from(JSON.stringify({ entries: [{ ...e('Dockerfile'), s: 13 }] }));
    for (const extra of [{ name: '../../outside/pwned', type: 'file' as const, data: 'x' }, { name: 'Dockerfile', type: 'symlink' as const, linkname: outside }]) {
      const tar = new TarWriter().add({ name: '.barge-context-manifest.json', type: 'file', data: m }).add(extra).finish();
      const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request({ socketPath: d.sock, method: 'POST', path: `/v1.47/build?t=x&bargecontext=${key}` }, (res) => {
          let text = '';
          res.on('data', (c) => { text += c; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.end(tar);
      });
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /unexpected entry/);
    }
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside');
  });

  /** The daemon's last "build context synced" log line, as numbers. */
  const lastSync = () => {
    const lines = d.log().split('\n').filter((l) => l.includes('msg="build context synced"'));
    const l = lines.at(-1) ?? '';
    const num = (k: string) => Number(new RegExp(` ${k}=(\\d+)`).exec(l)?.[1] ?? NaN);
    return { count: lines.length, received: num('received'), bytes: num('bytes'), kept: num('kept') };
  };
  const stateOf = (key: string) => path.join(d.dataRoot, 'build', 'contexts', key, 'state.json');

  test('a rebuild receives only the changed file; unchanged files are not read again', () => {
    build('sync:5');
    fs.writeFileSync(path.join(dir, 'src', 'sub', 'f3'), 'file 3, changed\n');
    build('sync:6');
    const s = lastSync();
    assert.equal(s.received, 1, 'only the changed file came');
    assert.equal(s.bytes, 'file 3, changed\n'.length);
    assert.ok(s.kept > 40, `the others were kept (${s.kept})`);
    build('sync:6');
    assert.equal(lastSync().received, 0, 'a cached rebuild sends no file');
    // The COPY's cache key takes the hashes recorded when the files came: a file of the copy altered
    // behind the daemon's back (same size) does not change it, so the step is a cache hit.
    const copy = path.join(d.dataRoot, 'build', 'contexts', keyOf(dir), 'files', 'src', 'sub', 'f4');
    const before = fs.readFileSync(copy);
    fs.writeFileSync(copy, Buffer.alloc(before.length, 'x'));
    try {
      const r = d.barge(['build', '--progress', 'plain', '-t', 'sync:6', dir], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /COPY \. \/ctx\/\n ---> Using cache/);
    } finally {
      fs.writeFileSync(copy, before);
    }
  });

  test('a changed time alone is picked up (the file comes again, with its new mtime)', async () => {
    fs.utimesSync(path.join(dir, 'src', 'run.sh'), 978307200, 978307200);
    assert.deepEqual((await need()).body.need, ['src/run.sh']);
    const r = d.barge(['build', '-q', '--no-cache', '-t', 'sync:mtime', '-f', path.join(dir, 'Dockerfile'), dir], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastSync().received, 1);
    const st = d.barge(['run', '--rm', '--entrypoint', 'stat', 'sync:mtime', '-c', '%Y %a', '/ctx/src/run.sh'], { timeoutMs: 60_000 });
    assert.equal(st.stdout.trim(), '978307200 755');
  });

  test('the docker CLI (classic builder, a plain tar) builds the same directory, from the same cache', () => {
    const r = spawnSync('docker', ['-H', d.host, 'build', '-t', 'sync:docker', dir], { env: { ...cliEnv(d), DOCKER_BUILDKIT: '0' }, encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // Its context is hashed by reading the files: the same key as from the synced copy's record.
    assert.match(r.stdout, /COPY \. \/ctx\/\n ---> Using cache/);
    assert.match(r.stdout, /Successfully tagged sync:docker/);
    assert.match(run('sync:docker'), /^\.\/src\/sub\/f3$/m);
  });

  test('the synced copy survives a daemon restart', async () => {
    await d.stop();
    await d.restart();
    assert.deepEqual((await need()).body.need, [], 'nothing to send after a restart');
    build('sync:7');
    assert.equal(lastSync().received, 0);
  });

  test('a daemon killed mid-sync leaves no copy that claims what it lacks', async () => {
    const key = keyOf(dir);
    fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'five\n');
    fs.writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(4 << 20, 7));
    const m = manifest();
    const needed = (await need(m)).body.need as string[];
    assert.deepEqual(needed.sort(), ['big.bin', 'src/a.txt']);
    // Send the manifest and half of big.bin, then kill barged while it waits for the rest.
    const mb = Buffer.from(JSON.stringify(m));
    const req = http.request({ socketPath: d.sock, method: 'POST', path: `/v1.47/build?t=x&bargecontext=${key}` });
    req.on('error', () => undefined);
    req.write(Buffer.concat([tarHeader({ name: '.barge-context-manifest.json', type: 'file', mode: 0o600 }, mb.length), mb, Buffer.alloc((512 - (mb.length % 512)) % 512)]));
    req.write(Buffer.concat([tarHeader({ name: 'big.bin', type: 'file', mode: 0o644 }, 4 << 20), Buffer.alloc(2 << 20, 7)]));
    const files = path.join(d.dataRoot, 'build', 'contexts', key, 'files');
    await until('the partial file on disk', () => fs.existsSync(files) && fs.readdirSync(files).some((n) => n.startsWith('.barge-tmp-')), 20_000);
    assert.equal(JSON.parse(fs.readFileSync(stateOf(key), 'utf8')).dirty, true, 'marked dirty while it changes');
    await d.kill9();
    req.destroy();
    await d.restart();
    assert.equal(fs.existsSync(path.join(d.dataRoot, 'build', 'contexts', key)), false, 'the half-written copy is removed at start');
    assert.ok((await need()).body.need.length > 50, 'everything is asked for again');
    build('sync:8');
    assert.match(run('sync:8'), /^five$/m);
    assert.match(run('sync:8'), /^\.\/big\.bin$/m);
    fs.rmSync(path.join(dir, 'big.bin'));
  });

  test('a copy removed from under the daemon is sent again in full, not an error', () => {
    const contexts = path.join(d.dataRoot, 'build', 'contexts');
    build('gone:1');
    fs.rmSync(path.join(contexts, keyOf(dir)), { recursive: true, force: true });
    build('gone:2');
    assert.ok(fs.existsSync(path.join(contexts, keyOf(dir), 'state.json')), 'the copy is made again');
    assert.match(run('gone:2'), /^\.\/src\/a\.txt$/m);
  });

  test('builder prune drops the synced copies', async () => {
    const contexts = path.join(d.dataRoot, 'build', 'contexts');
    assert.ok(fs.readdirSync(contexts).length > 0);
    const r = d.barge(['builder', 'prune', '-f']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(contexts), []);
    assert.equal((await need()).body.need.length > 50, true, 'everything is asked for again');
  });
});
