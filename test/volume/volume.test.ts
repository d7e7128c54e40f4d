// Volumes and mounts on a real barged: named volumes persist across containers and daemon
// restarts, :ro is enforced, binds both ways, tmpfs with a size, --volumes-from, anonymous volumes
// from -v /path and removed by --rm, copy-up of the image's content, 409 while in use, prune
// semantics, hostile names refused, the docker CLI, and no mounts left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ok } from '../helpers/engine.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';


describe('volumes and mounts', () => {
  let d: TestDaemon;
  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  const volumeNames = async () => ((await d.api('GET', '/volumes')).body.Volumes ?? []).map((v: { Name: string }) => v.Name).sort();

  test('a named volume keeps data across containers and a daemon restart; :ro is read-only', async () => {
    assert.equal(ok(d.barge(['volume', 'create', '--label', 'team=a', 'data']), 'create'), 'data');
    assert.equal(ok(d.barge(['volume', 'create', 'data']), 'create again (idempotent)'), 'data');
    ok(d.barge(['run', '--rm', '-v', 'data:/data', 'busybox', 'sh', '-c', 'echo hi > /data/f']), 'write');
    assert.equal(ok(d.barge(['run', '--rm', '-v', 'data:/data:ro', 'busybox', 'cat', '/data/f']), 'read'), 'hi');
    const ro = d.barge(['run', '--rm', '-v', 'data:/data:ro', 'busybox', 'sh', '-c', 'echo x > /data/g']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const v = JSON.parse(ok(d.barge(['volume', 'inspect', 'data']), 'inspect'))[0];
    assert.equal(v.Driver, 'local');
    assert.equal(v.Scope, 'local');
    assert.equal(v.Labels.team, 'a');
    assert.equal(v.Mountpoint, path.join(d.dataRoot, 'volumes', 'data', '_data'));
    assert.equal(fs.readFileSync(path.join(v.Mountpoint, 'f'), 'utf8'), 'hi\n');
    await d.kill9();
    await d.restart();
    assert.equal(ok(d.barge(['run', '--rm', '-v', 'data:/data', 'busybox', 'cat', '/data/f']), 'after restart'), 'hi');
    assert.match(ok(d.barge(['volume', 'ls', '--filter', 'label=team=a', '-q']), 'ls'), /^data$/);
  });

  test('binds both ways, --mount bind/tmpfs/volume, and Docker\'s errors', async () => {
    const dir = fs.mkdtempSync('/tmp/bt-bind-');
    try {
      fs.writeFileSync(path.join(dir, 'in'), 'from-host\n');
      assert.equal(ok(d.barge(['run', '--rm', '-v', `${dir}:/src`, '-w', '/src', 'busybox', 'sh', '-c', 'cat in; echo from-ctr > out']), 'bind'), 'from-host');
      assert.equal(fs.readFileSync(path.join(dir, 'out'), 'utf8'), 'from-ctr\n');
      assert.equal(ok(d.barge(['run', '--rm', '--mount', `type=bind,source=${dir},target=/y,readonly`, 'busybox', 'cat', '/y/in']), 'mount bind'), 'from-host');
      assert.notEqual(d.barge(['run', '--rm', '--mount', `type=bind,source=${dir},target=/y,readonly`, 'busybox', 'touch', '/y/z']).code, 0);
      const df = ok(d.barge(['run', '--rm', '--mount', 'type=tmpfs,target=/cache,tmpfs-size=10m', 'busybox', 'df', '-k', '/cache']), 'tmpfs');
      assert.match(df, /^tmpfs\s+10240\s/m);
      assert.equal(ok(d.barge(['run', '--rm', '--mount', 'type=volume,source=mv,target=/m', 'busybox', 'sh', '-c', 'echo m > /m/f; cat /m/f']), 'mount volume'), 'm');
      assert.ok((await volumeNames()).includes('mv'));
      const missing = d.barge(['run', '--rm', '--mount', 'type=bind,source=/no/such/dir,target=/y', 'busybox', 'true']);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /bind source path does not exist: \/no\/such\/dir/);
      const dup = d.barge(['create', '-v', 'a1:/x', '-v', 'a2:/x', 'busybox']);
      assert.notEqual(dup.code, 0);
      assert.match(dup.stderr, /Duplicate mount point: \/x/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('anonymous volumes, copy-up from the image, --volumes-from, rm -v and --rm', async () => {
    // Copy-up: an empty named volume mounted over a non-empty image directory gets its content.
    assert.match(ok(d.barge(['run', '--rm', '-v', 'etcv:/etc', 'busybox', 'ls', '/etc']), 'copy-up'), /passwd/);
    assert.ok(fs.existsSync(path.join(d.dataRoot, 'volumes', 'etcv', '_data', 'passwd')));
    // -v /path makes an anonymous volume that --volumes-from shares.
    const src = ok(d.barge(['run', '-d', '--name', 'src', '-v', '/shared', 'busybox', 'sh', '-c', 'echo shared > /shared/x; sleep 300']), 'run src');
    const anon = JSON.parse(ok(d.barge(['inspect', 'src']), 'inspect'))[0].Mounts.find((m: { Destination: string }) => m.Destination === '/shared');
    assert.equal(anon.Type, 'volume');
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    for (let i = 0; i < 50 && !fs.existsSync(path.join(anon.Source, 'x')); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(ok(d.barge(['run', '--rm', '--volumes-from', 'src:ro', 'busybox', 'cat', '/shared/x']), 'volumes-from'), 'shared');
    const inUse = await d.api('DELETE', `/volumes/${anon.Name}`);
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.message, /volume is in use/);
    ok(d.barge(['rm', '-f', '-v', src]), 'rm -v');
    assert.ok(!(await volumeNames()).includes(anon.Name), 'rm -v removes the anonymous volume');
    // --rm removes the anonymous volume too, but never a named one.
    const before = await volumeNames();
    ok(d.barge(['run', '--rm', '-v', '/tmpdata', '-v', 'keepme:/k', 'busybox', 'true']), 'run --rm');
    const after = await volumeNames();
    assert.deepEqual(after, [...new Set([...before, 'keepme'])].sort());
  });

  test('prune removes unused anonymous volumes (all with -a); hostile names are refused', async () => {
    ok(d.barge(['create', '--name', 'holder', '-v', 'held:/h', 'busybox']), 'create holder');
    ok(d.barge(['run', '--name', 'anonkeeper', '-v', '/anon', 'busybox', 'true']), 'run');
    const anonName = JSON.parse(ok(d.barge(['inspect', 'anonkeeper']), 'inspect'))[0].Mounts[0].Name;
    ok(d.barge(['rm', 'anonkeeper']), 'rm (keeps the anonymous volume)');
    assert.ok((await volumeNames()).includes(anonName));
    assert.match(ok(d.barge(['volume', 'prune', '-f']), 'prune'), new RegExp(anonName));
    const names = await volumeNames();
    assert.ok(!names.includes(anonName) && names.includes('held') && names.includes('data'));
    ok(d.barge(['volume', 'prune', '-a', '-f']), 'prune -a');
    assert.deepEqual(await volumeNames(), ['held'], 'in use: kept');
    ok(d.barge(['rm', 'holder']), 'rm holder');
    for (const bad of ['../x', 'a/b', 'x']) {
      const r = await d.api('POST', '/volumes/create', { Name: bad });
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
    }
    assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'volumes')).sort(), ['held']);
    assert.equal((await d.api('GET', '/volumes/nope')).status, 404);
    ok(d.barge(['volume', 'rm', 'held']), 'rm held');
  });

  test('the docker CLI manages volumes through barged; no mounts are left behind', async () => {
    ok(d.docker(['volume', 'create', 'dv']), 'docker volume create');
    assert.equal(ok(d.docker(['run', '--rm', '-v', 'dv:/d', 'busybox', 'sh', '-c', 'echo ok > /d/f; cat /d/f']), 'docker run -v'), 'ok');
    assert.match(ok(d.docker(['volume', 'ls']), 'docker volume ls'), /local\s+dv/);
    assert.match(ok(d.docker(['system', 'df', '-v']), 'docker system df -v'), /dv/);
    ok(d.docker(['volume', 'rm', 'dv']), 'docker volume rm');
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(path.join(d.dataRoot, 'volumes')));
    assert.deepEqual(mounts, []);
  });
});
