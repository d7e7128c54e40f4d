// Image API end to end, driven by the real docker CLI and raw API calls against a real barged:
// save/load/import/commit/export/diff/history/tag/rmi/prune/system df, list filters, dangling images.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

/** Entry names of a tar file (GNU tar lists them). */
export function tarList(file: string): string[] {
  const r = spawnSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

export function tarRead(file: string, member: string): Buffer {
  const r = spawnSync('tar', ['-xOf', file, member], { maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

describe('images through the docker CLI', () => {
  let d: TestDaemon;
  const ok = (args: string[], o?: { input?: string | Buffer; timeoutMs?: number }) => {
    const r = d.docker(args, o);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const run = (image: string, ...cmd: string[]) => ok(['run', '--rm', '--network', 'none', image, ...cmd]);

  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  test('save -o, rmi, load -i, run', () => {
    const id = ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).trim();
    const file = path.join(d.dir, 'busybox.tar');
    ok(['save', '-o', file, 'busybox']);
    const names = tarList(file);
    for (const n of ['manifest.json', 'index.json', 'oci-layout', 'repositories', `blobs/sha256/${id.slice(7)}`]) assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
    const manifest = JSON.parse(tarRead(file, 'manifest.json').toString());
    assert.deepEqual(manifest[0].RepoTags, ['busybox:latest']);
    assert.equal(manifest[0].Config, `blobs/sha256/${id.slice(7)}`);
    const index = JSON.parse(tarRead(file, 'index.json').toString());
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], 'docker.io/library/busybox:latest');
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'latest');

    ok(['rmi', 'busybox']);
    assert.equal(d.docker(['image', 'inspect', 'busybox']).code, 1);
    assert.match(ok(['load', '-i', file]), /^Loaded image: busybox:latest$/m);
    assert.equal(ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).trim(), id);
    assert.equal(run('busybox', 'echo', 'round trip').trim(), 'round trip');
  });

  test('docker save of two tags | docker load (into a second barged)', async () => {
    ok(['tag', 'busybox', 'second/tag:v2']);
    const file = path.join(d.dir, 'two.tar');
    ok(['save', '-o', file, 'busybox:latest', 'second/tag:v2']);
    const manifest = JSON.parse(tarRead(file, 'manifest.json').toString());
    assert.equal(manifest.length, 1, 'one image, two tags');
    assert.deepEqual([...manifest[0].RepoTags].sort(), ['busybox:latest', 'second/tag:v2']);
    const d2 = await startDaemon();
    try {
      assert.equal(d2.docker(['rmi', 'busybox']).code, 0);
      const sh = `docker -H ${d.host} save busybox:latest second/tag:v2 | docker -H ${d2.host} load`;
      const r = spawnSync('sh', ['-c', sh], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: path.join(d.dir, 'docker-config') } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Loaded image: busybox:latest/);
      assert.match(r.stdout, /Loaded image: second\/tag:v2/);
      const tags = d2.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout.split('\n').filter(Boolean).sort();
      assert.deepEqual(tags, ['busybox:latest', 'second/tag:v2']);
      const echo = d2.docker(['run', '--rm', '--network', 'none', 'second/tag:v2', 'echo', 'piped']);
      assert.equal(echo.stdout.trim(), 'piped', echo.stderr);
    } finally {
      await d2.cleanup();
    }
    ok(['rmi', 'second/tag:v2']);
  });

  test('import - with --change, then run', () => {
    ok(['create', '--name', 'src', 'busybox', 'sh', '-c', 'true']);
    const file = path.join(d.dir, 'rootfs.tar');
    ok(['export', '-o', file, 'src']);
    const names = tarList(file);
    assert.ok(names.includes('bin/busybox'), 'export has bin/busybox');
    assert.ok(names.includes('.dockerenv'), 'export has the init layer files');
    const out = ok(['import', '--change', 'CMD ["sh", "-c", "echo imported $GREETING"]', '--change', 'ENV GREETING=hello', '-c', 'LABEL a=b',
      '-c', 'WORKDIR /tmp', '-c', 'EXPOSE 8080', '-m', 'from a test', '-', 'imported:1'], { input: fs.readFileSync(file) });
    assert.match(out.trim(), /^sha256:[a-f0-9]{64}$/);
    assert.equal(run('imported:1').trim(), 'imported hello');
    const cfg = JSON.parse(ok(['image', 'inspect', '-f', '{{json .Config}}', 'imported:1']));
    assert.deepEqual(cfg.Cmd, ['sh', '-c', 'echo imported $GREETING']);
    assert.deepEqual(cfg.Env, ['GREETING=hello']);
    assert.deepEqual(cfg.Labels, { a: 'b' });
    assert.equal(cfg.WorkingDir, '/tmp');
    assert.deepEqual(cfg.ExposedPorts, { '8080/tcp': {} });
    const hist = ok(['history', '--format', '{{.Comment}}', 'imported:1']).trim();
    assert.equal(hist, 'from a test');
    const bad = d.docker(['import', '--change', 'RUN echo no', '-', 'bad:1'], { input: fs.readFileSync(file) });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /run is not a valid change command/);
    ok(['rm', 'src']);
  });

  test('commit after writing and deleting files: whiteouts, opaque dirs, config, history', () => {
    ok(['run', '--name', 'wr', '--network', 'none', 'busybox', 'sh', '-c',
      'echo new > /added; rm /etc/shadow; rm -rf /var/spool; mkdir -p /var/spool; echo fresh > /var/spool/only; echo mod >> /etc/group']);
    const diff = ok(['diff', 'wr']).split('\n').filter(Boolean);
    for (const line of ['A /added', 'D /etc/shadow', 'C /etc/group']) assert.ok(diff.includes(line), `${line} in ${diff.join(', ')}`);
    const id = ok(['commit', '-a', 'tester', '-m', 'my commit', '-c', 'ENV X=1', '-c', 'CMD ["cat", "/added"]', 'wr', 'committed:1']).trim();
    assert.match(id, /^sha256:/);
    assert.equal(run('committed:1').trim(), 'new');
    assert.equal(run('committed:1', 'sh', '-c', 'ls /etc/shadow 2>&1; ls /var/spool; tail -1 /etc/group; echo $X').trim(),
      'ls: /etc/shadow: No such file or directory\nonly\nmod\n1');
    const inspect = JSON.parse(ok(['image', 'inspect', 'committed:1']))[0];
    assert.equal(inspect.Author, 'tester');
    assert.equal(inspect.Parent, ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).trim());
    assert.equal(inspect.RootFS.Layers.length, 2);
    const hist = ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', 'committed:1']).split('\n')[0];
    assert.match(hist!, /^sh -c echo new > \/added.*\|my commit$/);

    // The layer in the saved archive carries the whiteouts in the OCI format.
    const file = path.join(d.dir, 'committed.tar');
    ok(['save', '-o', file, 'committed:1']);
    const top = JSON.parse(tarRead(file, 'manifest.json').toString())[0].Layers[1];
    fs.writeFileSync(path.join(d.dir, 'top.tar'), tarRead(file, top));
    const entries = tarList(path.join(d.dir, 'top.tar'));
    for (const e of ['added', 'etc/.wh.shadow', 'var/spool/', 'var/spool/.wh..wh..opq', 'var/spool/only', 'etc/group']) {
      assert.ok(entries.includes(e), `${e} in ${entries.join(' ')}`);
    }
    // A commit without changes adds no layer.
    ok(['run', '--name', 'same', '--network', 'none', 'busybox', 'true']);
    ok(['commit', 'same', 'same:1']);
    const layers = JSON.parse(ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'same:1']));
    assert.equal(layers.length, 1);
    ok(['rm', 'wr', 'same']);
    ok(['rmi', 'same:1']);
  });

  test('dangling images, rmi conflicts, image ls filters, prune', async () => {
    ok(['run', '--name', 'dang', '--network', 'none', 'busybox', 'sh', '-c', 'echo x > /x']);
    const id = ok(['commit', 'dang']).trim();
    const dangling = ok(['images', '--filter', 'dangling=true', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}']).trim();
    assert.equal(dangling, `<none> <none> <none> ${id.slice(7, 19)}`);
    assert.ok(!ok(['images', '--filter', 'dangling=false', '--format', '{{.ID}}']).includes(id.slice(7, 19)));
    ok(['tag', id, 'child:1']);
    // The parent of a committed image cannot be deleted by ID.
    const bb = ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).trim();
    const rmParent = d.docker(['rmi', '-f', bb.slice(7, 19)]);
    assert.notEqual(rmParent.code, 0);
    assert.match(rmParent.stderr, /image has dependent child images|being used by/);
    // Filters.
    const ref = await d.api('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: ['child:*'] }))}`);
    assert.deepEqual(ref.body.map((i: { RepoTags: string[] }) => i.RepoTags), [['child:1']]);
    const since = await d.api('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({ since: ['busybox'] }))}`);
    assert.ok(since.body.some((i: { Id: string }) => i.Id === id));
    assert.ok(!since.body.some((i: { Id: string }) => i.Id === bb));
    const before = await d.api('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({ before: ['child:1'] }))}`);
    assert.ok(before.body.some((i: { Id: string }) => i.Id === bb));
    const shared = await d.api('GET', '/images/json?shared-size=1');
    const child = shared.body.find((i: { Id: string }) => i.Id === id);
    assert.ok(child.SharedSize > 0 && child.SharedSize < child.Size, JSON.stringify(child));
    const badFilter = await d.api('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({ nope: ['x'] }))}`);
    assert.equal(badFilter.status, 400);
    // rmi of a tag in use by a stopped container conflicts; untagging keeps the image for the container.
    ok(['rm', 'dang']);
    ok(['rmi', 'child:1']);
    assert.equal(d.docker(['image', 'inspect', id]).code, 1, 'untagged, unused and childless: deleted');
    // Prune: dangling only by default, then everything unused.
    ok(['run', '--name', 'pp', '--network', 'none', 'busybox', 'sh', '-c', 'echo p > /p']);
    const dang2 = ok(['commit', 'pp']).trim();
    ok(['rm', 'pp']);
    const prune = await d.api('POST', '/images/prune');
    assert.equal(prune.status, 200);
    assert.ok(prune.body.ImagesDeleted.some((x: { Deleted?: string }) => x.Deleted === dang2));
    assert.ok(prune.body.SpaceReclaimed > 0);
    assert.ok(ok(['images', '-q']).includes(bb.slice(7, 19)), 'tagged busybox survives a dangling prune');
  });

  test('system df', async () => {
    ok(['create', '--name', 'dfc', 'busybox', 'true']);
    const r = await d.api('GET', '/system/df');
    assert.equal(r.status, 200);
    assert.ok(r.body.LayersSize > 0);
    const bb = r.body.Images.find((i: { RepoTags: string[] }) => i.RepoTags.includes('busybox:latest'));
    assert.equal(bb.Containers, 1);
    assert.ok(r.body.Containers.some((c: { Names: string[]; SizeRootFs: number }) => c.Names[0] === '/dfc' && c.SizeRootFs >= bb.Size));
    assert.deepEqual(r.body.Volumes, []);
    const out = ok(['system', 'df']);
    assert.match(out, /^Images\s+\d+\s+1\s/m);
    // prune -a keeps what a container uses.
    ok(['tag', 'busybox', 'unused:1']);
    ok(['run', '--name', 'dfu', '--network', 'none', 'busybox', 'sh', '-c', 'echo u > /u']);
    ok(['commit', 'dfu', 'unused:2']);
    ok(['rm', 'dfu']);
    const pruned = ok(['image', 'prune', '-af']);
    assert.match(pruned, /untagged: unused:2/);
    assert.doesNotMatch(pruned, /busybox|unused:1/, 'an image a container uses keeps all its tags');
    assert.equal(d.docker(['image', 'inspect', 'busybox']).code, 0, 'busybox, used by dfc, is kept');
    ok(['rmi', 'unused:1']);
    assert.equal(d.docker(['image', 'inspect', 'unused:2']).code, 1);
    ok(['rm', 'dfc']);
  });

  test('pull from a registry that cannot be reached: Docker\'s error, nothing stored', async () => {
    const before = (await d.api('GET', '/images/json')).body.length;
    const missing = await d.api('POST', '/images/create?fromImage=nosuch/image&tag=1');
    assert.equal(missing.status, 500);
    assert.match(missing.body.message, /^Get "https:\/\/registry-1\.docker\.io\/v2\/": /);
    assert.equal((await d.api('GET', '/images/json')).body.length, before);
  });

  test('100 MB image: commit, save, load timings', () => {
    const t = (f: () => void) => { const s = process.hrtime.bigint(); f(); return Number(process.hrtime.bigint() - s) / 1e6; };
    ok(['run', '--name', 'big', '--network', 'none', 'busybox', 'sh', '-c', 'head -c 100000000 /dev/urandom > /big'], { timeoutMs: 120_000 });
    const commit = t(() => ok(['commit', 'big', 'big:1'], { timeoutMs: 120_000 }));
    const file = path.join(d.dir, 'big.tar');
    const save = t(() => ok(['save', '-o', file, 'big:1'], { timeoutMs: 120_000 }));
    assert.ok(fs.statSync(file).size > 100_000_000);
    ok(['rm', 'big']);
    ok(['rmi', 'big:1']);
    const load = t(() => ok(['load', '-i', file], { timeoutMs: 120_000 }));
    assert.equal(run('big:1', 'sh', '-c', 'wc -c < /big').trim(), '100000000');
    const mb = 100;
    console.log(`# 100 MB image: commit ${commit.toFixed(0)} ms (${(mb / commit * 1000).toFixed(0)} MB/s), save ${save.toFixed(0)} ms (${(mb / save * 1000).toFixed(0)} MB/s), load ${load.toFixed(0)} ms (${(mb / load * 1000).toFixed(0)} MB/s)`);
    ok(['rmi', 'big:1']);
    fs.rmSync(file);
  });
});
