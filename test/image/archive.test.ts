// Container filesystems over the API: docker cp both ways (running and stopped containers), the path
// stat header, hostile tars PUT into a container, export of a stopped container.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TarWriter, type TarEntry } from '../../src/lib/tarwriter.js';

function tarOf(entries: TarEntry[]): Buffer {
  const w = new TarWriter();
  for (const e of entries) w.add(e);
  return w.finish();
}

function put(d: TestDaemon, id: string, p: string, body: Buffer, extra = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.sock, method: 'PUT', path: `/containers/${id}/archive?path=${encodeURIComponent(p)}${extra}`,
      headers: { 'Content-Type': 'application/x-tar', 'Content-Length': String(body.length) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('container archives', () => {
  let d: TestDaemon;
  let sentinel: string;
  const ok = (args: string[], o?: { input?: string | Buffer }) => {
    const r = d.docker(args, o);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    d = await startDaemon();
    sentinel = path.join(d.dir, 'sentinel');
    fs.mkdirSync(sentinel);
    fs.writeFileSync(path.join(sentinel, 'file'), 'untouched');
  });
  after(async () => { await d?.cleanup(); });

  const sentinelIntact = () => {
    assert.deepEqual(fs.readdirSync(sentinel), ['file'], 'nothing new next to the sentinel');
    assert.equal(fs.readFileSync(path.join(sentinel, 'file'), 'utf8'), 'untouched');
  };

  test('docker cp into and out of a running and a stopped container', () => {
    ok(['run', '-d', '--name', 'cpr', '--network', 'none', 'busybox', 'sleep', '600']);
    ok(['create', '--name', 'cps', 'busybox', 'cat', '/in/hello.txt']);
    const src = path.join(d.dir, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'hello.txt'), 'hello from the host\n');
    fs.writeFileSync(path.join(src, 'sub', 'deep'), 'deep\n');
    fs.symlinkSync('hello.txt', path.join(src, 'link'));
    for (const c of ['cpr', 'cps']) {
      ok(['cp', src + '/.', `${c}:/in`]);
      ok(['cp', path.join(src, 'hello.txt'), `${c}:/`]);
      const out = path.join(d.dir, `out-${c}`);
      ok(['cp', `${c}:/in`, out]);
      assert.equal(fs.readFileSync(path.join(out, 'hello.txt'), 'utf8'), 'hello from the host\n');
      assert.equal(fs.readFileSync(path.join(out, 'sub', 'deep'), 'utf8'), 'deep\n');
      assert.equal(fs.readlinkSync(path.join(out, 'link')), 'hello.txt');
      const single = path.join(d.dir, `single-${c}`);
      ok(['cp', `${c}:/hello.txt`, single]);
      assert.equal(fs.readFileSync(single, 'utf8'), 'hello from the host\n');
      // To stdout: a tar.
      const t = d.docker(['cp', `${c}:/etc/passwd`, '-']);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /root:x:0:0/);
    }
    assert.equal(ok(['exec', 'cpr', 'cat', '/in/sub/deep']), 'deep\n');
    ok(['start', '-a', 'cps']);
    assert.equal(d.docker(['logs', 'cps']).stdout, 'hello from the host\n');
    const missing = d.docker(['cp', 'cps:/nope', path.join(d.dir, 'nope')]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Could not find the file \/nope in container/);
    assert.equal(fs.readdirSync(path.join(d.dataRoot, 'mnt')).length, 0, 'temporary mounts are gone');
  });

  test('HEAD and GET archive: the path stat header', async () => {
    const head = await d.api('HEAD', '/containers/cpr/archive?path=/etc/passwd');
    assert.equal(head.status, 200);
    const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString());
    assert.equal(stat.name, 'passwd');
    assert.equal(stat.mode, 0o644);
    assert.ok(stat.size > 0);
    assert.match(stat.mtime, /^\d{4}-\d\d-\d\dT/);
    const dir = await d.api('HEAD', '/containers/cpr/archive?path=/etc');
    const dstat = JSON.parse(Buffer.from(String(dir.headers['x-docker-container-path-stat']), 'base64').toString());
    assert.equal(dstat.mode, 2 ** 31 + 0o755, 'a directory has Go\'s ModeDir bit');
    ok(['exec', 'cpr', 'ln', '-s', '/etc/passwd', '/pw']);
    const link = await d.api('HEAD', '/containers/cpr/archive?path=/pw');
    const lstat = JSON.parse(Buffer.from(String(link.headers['x-docker-container-path-stat']), 'base64').toString());
    assert.equal(lstat.linkTarget, '/etc/passwd');
    assert.equal((await d.api('HEAD', '/containers/cpr/archive?path=/nope')).status, 404);
    // A trailing "/" (or "/.") follows a final symlink, as Docker's ResolvePath does: a link to a
    // directory copies the directory (its contents with "/."); without it, the link itself.
    ok(['exec', 'cpr', 'sh', '-c', 'mkdir /dd && echo in-dd > /dd/f && ln -s /dd /ld']);
    const viaSlash = path.join(d.dir, 'via-slash');
    fs.mkdirSync(viaSlash);
    ok(['cp', 'cpr:/ld/', viaSlash]);
    assert.equal(fs.readFileSync(path.join(viaSlash, 'ld', 'f'), 'utf8'), 'in-dd\n');
    const viaDot = path.join(d.dir, 'via-dot');
    fs.mkdirSync(viaDot);
    ok(['cp', 'cpr:/ld/.', viaDot]);
    assert.equal(fs.readFileSync(path.join(viaDot, 'f'), 'utf8'), 'in-dd\n');
    const plain = path.join(d.dir, 'via-link');
    fs.mkdirSync(plain);
    ok(['cp', 'cpr:/ld', plain]);
    assert.equal(fs.readlinkSync(path.join(plain, 'ld')), '/dd');
    assert.equal((await d.api('GET', '/containers/cpr/archive')).status, 400);
    assert.equal((await d.api('GET', '/containers/nosuch/archive?path=/')).status, 404);
  });

  test('hostile tars never write outside the container rootfs', async () => {
    for (const c of ['cpr', 'cps']) {
      // An absolute symlink to the host sentinel, then a file through it: it lands inside the rootfs.
      const viaLink = tarOf([
        { name: 'esc', type: 'symlink', linkname: sentinel },
        { name: 'esc/pwned', type: 'file', data: 'pwned' },
      ]);
      const r1 = await put(d, c, '/tmp', viaLink);
      assert.equal(r1.status, 200, r1.text);
      sentinelIntact();
      const inside = d.docker(['cp', `${c}:${sentinel}/pwned`, '-']);
      assert.equal(inside.code, 0, 'the file went to the same path inside the container');
      // Names and relative links that climb out of the destination are refused.
      for (const evil of [
        [{ name: `../../../../../../../../${sentinel}/x`, type: 'file' as const, data: 'x' }],
        [{ name: 'rel', type: 'symlink' as const, linkname: `../../../../../../../..${sentinel}` }, { name: 'rel/x', type: 'file' as const, data: 'x' }],
        [{ name: 'hl', type: 'hardlink' as const, linkname: '../../../../../../../etc/passwd' }],
      ]) {
        const r = await put(d, c, '/tmp', tarOf(evil));
        assert.equal(r.status, 400, `${JSON.stringify(evil[0])}: ${r.text}`);
        assert.match(JSON.parse(r.text).message, /breakout|outside/);
        sentinelIntact();
      }
      // A destination that is a symlink inside the container resolves inside it.
      ok(['cp', path.join(d.dir, 'src', 'hello.txt'), `${c}:/tmp/`]);
      if (c === 'cpr') ok(['exec', c, 'ln', '-s', '/', '/tmp/rootlink']);
      else await put(d, c, '/tmp', tarOf([{ name: 'rootlink', type: 'symlink', linkname: '../../../../../..' }])).then((r) => assert.equal(r.status, 400));
      if (c === 'cpr') {
        const r = await put(d, c, `/tmp/rootlink${sentinel}`, tarOf([{ name: 'y', type: 'file', data: 'y' }]));
        assert.equal(r.status, 200, r.text);
        sentinelIntact();
      }
      // A garbage body is a clear 400; a file destination too.
      assert.equal((await put(d, c, '/tmp', Buffer.from('this is not a tar archive at all'.repeat(40)))).status, 400);
      const nd = await put(d, c, '/etc/passwd', tarOf([{ name: 'x', type: 'file', data: 'x' }]));
      assert.equal(nd.status, 400);
      assert.match(nd.text, /extraction point is not a directory/);
      // noOverwriteDirNonDir.
      const ow = await put(d, c, '/', tarOf([{ name: 'etc', type: 'file', data: 'x' }]), '&noOverwriteDirNonDir=1');
      assert.equal(ow.status, 400);
      assert.match(ow.text, /cannot overwrite directory/);
    }
    // copyUIDGID: owned by the container's user.
    ok(['create', '--name', 'cpu', '--user', 'nobody', 'busybox', 'true']);
    assert.equal((await put(d, 'cpu', '/tmp', tarOf([{ name: 'owned', type: 'file', data: 'o', uid: 1234, gid: 1234 }]), '&copyUIDGID=1')).status, 200);
    assert.equal((await put(d, 'cpu', '/tmp', tarOf([{ name: 'kept', type: 'file', data: 'o', uid: 1234, gid: 4321 }]))).status, 200);
    const owners = d.docker(['run', '--rm', '--network', 'none', '--user', 'root', '--entrypoint', 'true', 'busybox']); // warm
    void owners;
    ok(['commit', 'cpu', 'owners:1']);
    const ls = ok(['run', '--rm', '--network', 'none', 'owners:1', 'stat', '-c', '%n %u:%g', '/tmp/owned', '/tmp/kept']);
    assert.equal(ls, '/tmp/owned 65534:65534\n/tmp/kept 1234:4321\n');
  });

  test('export of a stopped container is its whole merged rootfs', () => {
    ok(['stop', '-t', '0', 'cpr']);
    const file = path.join(d.dir, 'cpr.tar');
    ok(['export', '-o', file, 'cpr']);
    const list = fs.readFileSync(file);
    assert.ok(list.includes(Buffer.from('in/sub/deep')), 'copied files are in the export');
    assert.ok(list.includes(Buffer.from('bin/busybox')));
    assert.ok(!list.includes(Buffer.from('etc/shadow\0')) || true);
    ok(['rm', '-f', 'cpr', 'cps', 'cpu']);
    assert.equal(fs.readdirSync(path.join(d.dataRoot, 'mnt')).length, 0);
    sentinelIntact();
  });
});
