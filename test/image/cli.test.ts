// The barge CLI's image and filesystem commands (issue #3's user list), driven through `barge` itself
// against a real barged: images / image ls / image inspect / history / tag / rmi / save / load /
// import / export / commit / diff / cp / image prune / system df / system prune, with Docker's output
// and Docker's errors for bad input. Binary streams go through a shell (pipes and redirections), as a
// user types them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, BARGE, type TestDaemon } from '../helpers/daemon.js';
import { cliEnv } from '../helpers/engine.js';

const BB = `'${process.execPath}' '${BARGE}'`;   // barge, for shell command lines

describe('barge image and filesystem commands', () => {
  let d: TestDaemon;
  let work: string;
  before(async () => {
    d = await startDaemon();
    work = path.join(d.dir, 'work');
    fs.mkdirSync(work);
  });
  after(async () => { await d?.cleanup(); });

  /** barge ARGS, which must succeed; returns stdout. */
  const ok = (args: string[], input?: string) => {
    const r = d.barge(args, { input, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `barge ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  /** barge ARGS, which must fail with `code`; returns stderr. */
  const fails = (args: string[], code = 1) => {
    const r = d.barge(args);
    assert.equal(r.code, code, `barge ${args.join(' ')} should exit ${code}: ${r.stdout}${r.stderr}`);
    return r;
  };
  /** A shell command line (pipes, redirections) in the work directory. */
  const sh = (cmd: string) => {
    const r = spawnSync('sh', ['-c', cmd], { cwd: work, env: cliEnv(d), encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };
  const shOk = (cmd: string) => {
    const r = sh(cmd);
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  const tarList = (file: string) => shOk(`tar -tf '${file}'`).split('\n').filter(Boolean);
  const rows = (out: string) => out.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));
  const busyboxId = () => ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).trim();
  const blobs = () => fs.readdirSync(path.join(d.dataRoot, 'content/blobs/sha256')).sort();

  test('images, image ls --filter dangling=true --digests, image inspect (-f), history', () => {
    const id = busyboxId();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const out = ok(['images']);
    const [head, ...body] = rows(out);
    assert.deepEqual(head, ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']);
    const bb = body.find((r) => r[0] === 'busybox');
    assert.ok(bb, out);
    assert.equal(bb[1], 'latest');
    assert.equal(bb[2], id.slice(7, 19));
    assert.match(bb[3]!, / ago$/);
    assert.match(bb[4]!, /^\d+(\.\d+)?[kM]?B$/);
    // Columns line up (docker's tabwriter): every field starts where its header does.
    const starts = ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'].map((h) => out.indexOf(h));
    const line = out.split('\n').find((l) => l.startsWith('busybox'))!;
    assert.equal(line.indexOf(id.slice(7, 19)), starts[2]);
    assert.equal(ok(['images', '-q']), `${id.slice(7, 19)}\n`);
    assert.equal(ok(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']), `busybox:latest ${id}\n`);
    assert.deepEqual(JSON.parse(ok(['images', '--format', 'json'])).Repository, 'busybox');

    // Nothing dangling yet: only the header, with the DIGEST column.
    assert.deepEqual(rows(ok(['image', 'ls', '--filter', 'dangling=true', '--digests'])), [['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE']]);
    // A commit without a name is dangling.
    ok(['create', '--name', 'dangler', 'busybox', 'true']);
    const dang = ok(['commit', 'dangler']).trim();
    const list = rows(ok(['image', 'ls', '--filter', 'dangling=true', '--digests']));
    assert.deepEqual(list.slice(1).map((r) => r.slice(0, 4)), [['<none>', '<none>', '<none>', dang.slice(7, 19)]]);
    assert.equal(ok(['images', '--filter', 'dangling=false', '-q']), `${id.slice(7, 19)}\n`);
    ok(['rm', 'dangler']);
    ok(['rmi', dang]);
    assert.equal(fails(['images', '--filter', 'foo=bar']).stderr, "Error response from daemon: invalid filter 'foo'\n");

    const inspect = JSON.parse(ok(['image', 'inspect', 'busybox']));
    assert.ok(Array.isArray(inspect) && inspect.length === 1);
    assert.equal(inspect[0].Id, id);
    assert.deepEqual(inspect[0].RepoTags, ['busybox:latest']);
    assert.deepEqual(inspect[0].Config.Cmd, ['sh']);
    assert.equal(ok(['image', 'inspect', '-f', '{{.Os}}/{{json .Config.Cmd}}', 'busybox']), 'linux/["sh"]\n');
    assert.equal(JSON.parse(ok(['image', 'inspect', '--format', 'json', 'busybox']))[0].Id, id);
    const missing = fails(['image', 'inspect', 'busybox', 'nope']);
    assert.equal(JSON.parse(missing.stdout).length, 1);
    assert.equal(missing.stderr, 'Error response from daemon: No such image: nope:latest\n');

    const hist = rows(ok(['history', 'busybox']));
    assert.deepEqual(hist[0], ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']);
    assert.equal(hist.length, 3);
    assert.equal(hist[1]![0], id.slice(7, 19));
    assert.equal(hist[1]![2], 'CMD ["sh"]');
    assert.equal(hist[2]![0], '<missing>');
    assert.match(hist[2]![2]!, /^ADD busybox .{30,}…$/, 'CREATED BY is cut to 45 columns');
    assert.equal(ok(['history', '-q', 'busybox']), `${id.slice(7, 19)}\n<missing>\n`);
    const raw = rows(ok(['history', '-H=false', 'busybox']));
    assert.deepEqual(raw[0], ['IMAGE', 'CREATED AT', 'CREATED BY', 'SIZE', 'COMMENT']);
    assert.match(raw[2]![1]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/, 'RFC 3339, as docker');
    assert.match(raw[2]![3]!, /^\d+$/, 'size in bytes');
    const json = ok(['history', '--format', 'json', 'busybox']).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(json[0]), ['Comment', 'CreatedAt', 'CreatedBy', 'CreatedSince', 'ID', 'Size']);
    assert.ok(ok(['history', '--format', 'json', 'busybox']).includes('"\\u003cmissing\\u003e"'), 'json escapes <> as docker does');
    assert.equal(fails(['history', 'nope']).stderr, 'Error response from daemon: No such image: nope:latest\n');
  });

  test('tag and rmi; bad names; rmi of an image a container uses', () => {
    const id = busyboxId();
    ok(['tag', 'busybox', 'mybox:1']);
    ok(['image', 'tag', 'busybox', 'localhost:5000/team/mybox']);
    const out = ok(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.ok(out.includes(`mybox:1 ${id.slice(7, 19)}\n`), out);
    assert.ok(out.includes(`localhost:5000/team/mybox:latest ${id.slice(7, 19)}\n`), out);
    // Several tags: one image ID per row, as docker prints them.
    assert.equal(ok(['images', '-q']), `${id.slice(7, 19)}\n`.repeat(3));

    assert.equal(ok(['rmi', 'mybox:1']), 'Untagged: mybox:1\n');
    assert.equal(ok(['image', 'rm', 'localhost:5000/team/mybox']), 'Untagged: localhost:5000/team/mybox:latest\n');
    assert.equal(busyboxId(), id, 'the image itself stays');

    const bad = fails(['tag', 'busybox', 'BAD:x']);
    assert.equal(bad.stderr, 'Error parsing reference: "BAD:x" is not a valid repository/tag: invalid reference format: repository name (library/BAD) must be lowercase\n');
    assert.match(fails(['tag', 'busybox', 'a:b:c']).stderr, /^Error parsing reference: "a:b:c" is not a valid repository\/tag: invalid reference format\n$/);
    assert.equal(fails(['tag', 'busybox', `x@sha256:${'0'.repeat(64)}`]).stderr, 'refusing to create a tag with a digest reference\n');
    assert.equal(fails(['tag', 'nope', 'x:1']).stderr, 'Error response from daemon: No such image: nope:latest\n');
    assert.equal(fails(['tag', 'busybox']).code, 1);   // (usage error: "requires exactly 2 arguments")
    assert.equal(fails(['rmi', 'nope']).stderr, 'Error response from daemon: No such image: nope:latest\n');
    // -f: a missing image is reported but is not a failure (docker rmi -f).
    const forced = d.barge(['rmi', '-f', 'nope']);
    assert.deepEqual([forced.code, forced.stderr], [0, 'Error response from daemon: No such image: nope:latest\n']);

    // An image a container uses cannot lose its last name (nor be deleted) without -f.
    ok(['tag', 'busybox', 'used:1']);
    ok(['rmi', 'busybox']);   // used:1 still names it: only untagged
    const ctr = ok(['create', 'used:1', 'true']).trim();
    const conflict = fails(['rmi', 'used:1']);
    assert.equal(conflict.stderr, `Error response from daemon: conflict: unable to remove repository reference "used:1" (must force) - container ${ctr.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}\n`);
    assert.match(fails(['rmi', id.slice(7, 19)]).stderr, /^Error response from daemon: conflict: unable to delete \w{12} \(must be forced\) - image is being used by stopped container \w{12}\n$/);
    assert.equal(ok(['image', 'inspect', '-f', '{{.Id}}', 'used:1']).trim(), id, 'nothing was removed');
    ok(['rm', ctr]);
    ok(['tag', 'used:1', 'busybox']);
    ok(['rmi', 'used:1']);
  });

  test('save -o, rmi, load -i, run; save | load through a pipe; no --format; bad files', () => {
    const id = busyboxId();
    ok(['tag', 'busybox', 'mybox:1']);
    const all = path.join(work, 'all.tar');
    assert.equal(ok(['save', '-o', all, 'busybox', 'mybox:1']), '');
    const entries = tarList(all);
    for (const f of ['manifest.json', 'index.json', 'oci-layout', 'repositories', `blobs/sha256/${id.slice(7)}`]) assert.ok(entries.includes(f), `${f} in ${entries.join(' ')}`);
    assert.deepEqual(fs.readdirSync(work), ['all.tar'], 'no temporary file left beside it');
    assert.equal(fs.statSync(all).mode & 0o777, 0o600, 'private to its owner, as docker save -o makes it');
    const manifest = JSON.parse(shOk(`tar -xOf '${all}' manifest.json`));
    assert.deepEqual(manifest[0].RepoTags, ['busybox:latest', 'mybox:1']);

    const removed = ok(['rmi', 'busybox', 'mybox:1']).split('\n').filter(Boolean);
    assert.deepEqual(removed.slice(0, 3), ['Untagged: busybox:latest', 'Untagged: mybox:1', `Deleted: ${id}`]);
    assert.ok(removed.slice(3).every((l) => /^Deleted: sha256:[0-9a-f]{64}$/.test(l)), removed.join('\n'));
    assert.equal(ok(['images', '-q']), '');
    assert.equal(ok(['load', '-i', all]), 'Loaded image: busybox:latest\nLoaded image: mybox:1\n');
    assert.equal(busyboxId(), id, 'the same image comes back');
    assert.equal(ok(['run', '--rm', '--network', 'none', 'mybox:1', 'echo', 'ran']), 'ran\n');

    // Through a pipe: save to stdout, load from stdin; and from stdin into an engine without the image.
    ok(['rmi', 'mybox:1']);
    assert.equal(shOk(`${BB} save busybox | ${BB} load`), 'Loaded image: busybox:latest\n');
    assert.equal(shOk(`${BB} image save busybox | ${BB} image load -q`), 'Loaded image: busybox:latest\n', '-q hides progress only');
    shOk(`${BB} save busybox > one.tar`);
    ok(['rmi', 'busybox']);
    assert.equal(shOk(`cat one.tar | ${BB} load`), 'Loaded image: busybox:latest\n');
    assert.equal(busyboxId(), id);

    // The archive is a docker-archive and an OCI layout at once: there is no --format to choose.
    assert.equal(fails(['save', '--format', 'oci', 'busybox'], 125).stderr.split('\n')[0], 'unknown flag: --format');
    assert.equal(fails(['save', '-o', path.join(work, 'nodir/x.tar'), 'busybox']).stderr, `failed to save image: invalid output path: stat ${path.join(work, 'nodir')}: no such file or directory\n`);
    const missing = sh(`${BB} save -o none.tar nope`);
    assert.deepEqual([missing.code, missing.stderr], [1, 'Error response from daemon: No such image: nope:latest\n']);
    assert.ok(!fs.existsSync(path.join(work, 'none.tar')));
    assert.equal(fails(['load', '-i', path.join(work, 'missing.tar')]).stderr, `open ${path.join(work, 'missing.tar')}: no such file or directory\n`);
    fs.rmSync(path.join(work, 'one.tar'));
  });

  test('load of garbage fails with a clear error and stores nothing', () => {
    const before = { blobs: blobs(), images: ok(['images', '-a', '-q', '--no-trunc']) };
    fs.writeFileSync(path.join(work, 'garbage'), Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 7919) % 251)));
    const r = fails(['load', '-i', path.join(work, 'garbage')]);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Error response from daemon: invalid archive: .+\n$/);
    // A real archive cut short: also refused, and nothing of it is kept.
    const cut = sh(`${BB} save busybox | head -c 600000 | ${BB} load`);
    assert.equal(cut.code, 1, cut.stdout);
    assert.match(cut.stderr, /invalid archive|unexpected end|truncated/i);
    const notTar = sh(`echo hello | ${BB} load`);
    assert.equal(notTar.code, 1);
    assert.match(notTar.stderr, /^Error response from daemon: invalid archive: /);
    assert.deepEqual(blobs(), before.blobs, 'no blob stored');
    assert.equal(ok(['images', '-a', '-q', '--no-trunc']), before.images);
    assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'content/ingest')), [], 'no partial ingest left');
    fs.rmSync(path.join(work, 'garbage'));
  });

  test('export (stdout and -o), import from stdin with --change, run it', () => {
    ok(['run', '--name', 'exp', '--network', 'none', 'busybox', 'sh', '-c', 'echo exported > /marker; mkdir -p /data/sub; echo deep > /data/sub/f']);
    shOk(`${BB} export exp > x.tar`);
    ok(['export', '-o', path.join(work, 'y.tar'), 'exp']);
    ok(['container', 'export', '--output', path.join(work, 'z.tar'), 'exp']);
    const x = fs.readFileSync(path.join(work, 'x.tar'));
    assert.ok(x.equals(fs.readFileSync(path.join(work, 'y.tar'))), 'export to stdout and -o give the same bytes');
    assert.ok(x.equals(fs.readFileSync(path.join(work, 'z.tar'))));
    const names = tarList(path.join(work, 'x.tar'));
    for (const f of ['marker', 'data/sub/f', 'bin/busybox', 'etc/passwd']) assert.ok(names.includes(f), `${f} exported`);
    assert.equal(shOk(`tar -xOf x.tar marker`), 'exported\n');
    assert.equal(fails(['export', 'nope']).stderr, 'Error response from daemon: No such container: nope\n');
    assert.equal(fails(['export', '-o', '/nonexistent-dir/x.tar', 'exp']).stderr, 'failed to export container: invalid output path: stat /nonexistent-dir: no such file or directory\n');

    const imported = shOk(`cat x.tar | ${BB} import --change 'CMD ["sh"]' --change 'ENV IMPORTED=yes' -m 'from x.tar' - myroot:1`);
    assert.match(imported, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(ok(['image', 'inspect', '-f', '{{.Id}} {{json .Config.Cmd}} {{json .Config.Env}}', 'myroot:1']), `${imported.trim()} ["sh"] ["IMPORTED=yes"]\n`);
    assert.equal(ok(['history', '--format', '{{.Comment}}', 'myroot:1']), 'from x.tar\n');
    assert.equal(ok(['run', '--rm', '--network', 'none', 'myroot:1', 'sh', '-c', 'cat /marker /data/sub/f; echo $IMPORTED']), 'exported\ndeep\nyes\n');
    // Its CMD is sh: fed a script on stdin.
    assert.equal(ok(['run', '--rm', '-i', '--network', 'none', 'myroot:1'], 'echo from-stdin\n'), 'from-stdin\n');
    // From a file, and untagged.
    assert.match(ok(['image', 'import', path.join(work, 'y.tar')]), /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(fails(['import', path.join(work, 'nope.tar')]).stderr, `open ${path.join(work, 'nope.tar')}: no such file or directory\n`);
    assert.equal(fails(['import', path.join(work, 'y.tar'), 'Bad:1']).stderr, 'invalid reference format: repository name (library/Bad) must be lowercase\n');
    ok(['rm', 'exp']);
    ok(['rmi', 'myroot:1']);
    for (const f of ['x.tar', 'y.tar', 'z.tar']) fs.rmSync(path.join(work, f));
    ok(['image', 'prune', '-f']);
  });

  test('commit -c -m, run the new image; diff', () => {
    ok(['run', '--name', 'snapper', '--network', 'none', '-e', 'FROM_RUN=1', 'busybox', 'sh', '-c',
      'echo hi > /hello; mkdir -p /d/e; echo x > /d/e/f; rm /etc/shadow; echo extra >> /etc/passwd']);
    assert.equal(ok(['diff', 'snapper']), 'A /d\nA /d/e\nA /d/e/f\nC /etc\nC /etc/passwd\nD /etc/shadow\nA /hello\n');
    assert.equal(fails(['diff', 'nope']).stderr, 'Error response from daemon: No such container: nope\n');

    const id = ok(['commit', '-c', 'ENV A=1', '-m', 'msg', '-a', 'Tester <t@example.com>', 'snapper', 'snap:1']).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const cfg = JSON.parse(ok(['image', 'inspect', '-f', '{{json .}}', 'snap:1']));
    assert.equal(cfg.Id, id);
    assert.equal(cfg.Author, 'Tester <t@example.com>');
    // The container's config is the base the changes apply to: its Env first, then A=1; its Cmd kept.
    assert.deepEqual(cfg.Config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_RUN=1', 'A=1']);
    assert.deepEqual(cfg.Config.Cmd.slice(0, 2), ['sh', '-c']);
    const h = rows(ok(['history', 'snap:1']));
    assert.equal(h[1]![0], id.slice(7, 19));
    assert.equal(h[1]![h[1]!.length - 1], 'msg');
    assert.equal(ok(['run', '--rm', '--network', 'none', 'snap:1', 'sh', '-c', 'echo A=$A; cat /hello /d/e/f; test -e /etc/shadow || echo no-shadow; tail -n1 /etc/passwd']),
      'A=1\nhi\nx\nno-shadow\nextra\n');
    // The new image's container starts clean: no changes of its own.
    ok(['create', '--name', 'fromsnap', 'snap:1']);
    assert.equal(ok(['diff', 'fromsnap']), '');
    ok(['rm', 'fromsnap']);

    assert.equal(fails(['commit', 'snapper', 'Bad:1']).stderr, 'invalid reference format: repository name (library/Bad) must be lowercase\n');
    assert.equal(fails(['commit', 'nope', 'x:1']).stderr, 'Error response from daemon: No such container: nope\n');
    ok(['rm', 'snapper']);
    ok(['rmi', 'snap:1']);
  });

  test('cp out of a container: files, directories, "/.", into a directory or as a new name, to stdout', () => {
    ok(['run', '--name', 'src', '--network', 'none', 'busybox', 'sh', '-c',
      'echo hi > /hello; chmod 640 /hello; mkdir -p /d/e; echo x > /d/e/f; ln -s e /d/link; touch -d "2001-02-03 04:05:06" /hello /d/e/f; ln -s /d/e /elink']);
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    const host = (p: string) => path.join(out, p);
    ok(['cp', 'src:/hello', out + '/']);
    assert.equal(fs.readFileSync(host('hello'), 'utf8'), 'hi\n');
    assert.equal(fs.statSync(host('hello')).mode & 0o777, 0o640, 'mode kept');
    assert.equal(fs.statSync(host('hello')).mtimeMs, Date.UTC(2001, 1, 3, 4, 5, 6), 'mtime kept');
    ok(['cp', 'src:/hello', host('renamed')]);
    assert.equal(fs.readFileSync(host('renamed'), 'utf8'), 'hi\n');
    ok(['cp', 'src:/hello', host('renamed')]);   // overwrites a file
    ok(['cp', 'src:/d', out]);                  // into an existing directory
    assert.equal(fs.readFileSync(host('d/e/f'), 'utf8'), 'x\n');
    assert.equal(fs.readlinkSync(host('d/link')), 'e');
    ok(['cp', 'src:/d', host('newd')]);         // a new name
    assert.equal(fs.readFileSync(host('newd/e/f'), 'utf8'), 'x\n');
    assert.equal(fs.statSync(host('newd/e/f')).mtimeMs, Date.UTC(2001, 1, 3, 4, 5, 6));
    ok(['cp', 'src:/d/.', host('newd2')]);      // contents, as a new directory
    assert.deepEqual(fs.readdirSync(host('newd2')).sort(), ['e', 'link']);
    ok(['cp', 'src:/d/e/.', host('d')]);        // contents, merged into an existing directory
    assert.deepEqual(fs.readdirSync(host('d')).sort(), ['e', 'f', 'link']);
    ok(['cp', 'src:/elink', out]);              // a symlink is copied as a link...
    assert.equal(fs.readlinkSync(host('elink')), '/d/e');
    ok(['cp', '-L', 'src:/elink', host('followed')]);   // ...or followed with -L
    assert.equal(fs.readFileSync(host('followed/f'), 'utf8'), 'x\n');

    // "-": a tar on stdout.
    shOk(`${BB} cp src:/d - > d.tar`);
    assert.deepEqual(tarList(path.join(work, 'd.tar')).sort(), ['d/', 'd/e/', 'd/e/f', 'd/link']);
    assert.equal(shOk(`${BB} cp src:/hello - | tar -xO hello`), 'hi\n');

    // Docker's errors.
    assert.equal(fails(['cp', 'src:/nope', out]).stderr, 'Error response from daemon: Could not find the file /nope in container src\n');
    assert.equal(fails(['cp', 'src:/hello', host('nodir/x')]).stderr, `invalid output path: directory ${JSON.stringify(host('nodir'))} does not exist\n`);
    assert.equal(fails(['cp', 'src:/hello', host('nodir') + '/']).stderr, 'no such directory\n');
    assert.equal(fails(['cp', 'src:/d', host('hello')]).stderr, 'cannot copy directory\n');
    assert.equal(fails(['cp', 'src:/nope', '-']).stderr, 'Error response from daemon: Could not find the file /nope in container src\n');
    assert.equal(fails(['cp', 'nope:/hello', out]).stderr, 'Error response from daemon: No such container: nope\n');
    assert.equal(fails(['cp', 'src:/hello', 'src:/x']).stderr, 'copying between containers is not supported\n');
    assert.equal(fails(['cp', 'a', 'b']).stderr, 'must specify at least one container source\n');
    ok(['rm', 'src']);
    fs.rmSync(out, { recursive: true });
    fs.rmSync(path.join(work, 'd.tar'));
  });

  test('cp into a container: files, directories, "/.", into a directory or as a new name, from stdin', () => {
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'dir/sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'file'), 'one\n', { mode: 0o600 });
    fs.writeFileSync(path.join(src, 'dir/sub/f2'), 'two\n');
    fs.symlinkSync('file', path.join(src, 'link'));
    fs.chownSync(path.join(src, 'file'), 1234, 5678);
    fs.utimesSync(path.join(src, 'file'), new Date(Date.UTC(2020, 0, 1)), new Date(Date.UTC(2020, 0, 1)));
    const ctr = ok(['create', '--name', 'dst', '--network', 'none', 'busybox', 'sleep', '600']).trim();
    const s = (p: string) => path.join(src, p);
    ok(['cp', s('file'), 'dst:/tmp/']);
    ok(['cp', s('file'), 'dst:/tmp/renamed']);
    ok(['cp', s('dir'), 'dst:/tmp']);
    ok(['cp', s('dir'), 'dst:/newdir']);
    ok(['cp', s('dir'), 'dst:/newdir2/']);     // a directory may name a new directory with a "/"
    ok(['cp', s('dir') + '/.', 'dst:/tmp/dircontent']);
    ok(['cp', s('link'), 'dst:/tmp/']);
    ok(['cp', '-L', s('link'), 'dst:/tmp/followed']);
    shOk(`tar -C '${src}' -c file | ${BB} cp - dst:/etc/`);
    ok(['start', ctr]);
    const inside = (script: string) => ok(['exec', 'dst', 'sh', '-c', script]);
    assert.equal(inside('cat /tmp/file /tmp/renamed /tmp/dir/sub/f2 /newdir/sub/f2 /newdir2/sub/f2 /tmp/dircontent/sub/f2 /etc/file /tmp/followed'), 'one\none\ntwo\ntwo\ntwo\ntwo\none\none\n');
    assert.equal(inside('readlink /tmp/link; ls /tmp/dircontent'), 'file\nsub\n');
    // Owners, modes and times travel with the files (the daemon keeps the tar's owners).
    assert.equal(inside('stat -c "%u:%g %a %Y" /tmp/file /tmp/followed'), `1234:5678 600 ${Date.UTC(2020, 0, 1) / 1000}\n`.repeat(2));

    assert.equal(fails(['cp', s('nope'), 'dst:/tmp/']).stderr, `lstat ${s('nope')}: no such file or directory\n`);
    assert.equal(fails(['cp', s('file'), 'dst:/nodir/x']).stderr, 'Error response from daemon: Could not find the file /nodir in container dst\n');
    assert.equal(fails(['cp', s('file'), 'dst:/nodir2/']).stderr, 'no such directory\n');
    assert.equal(fails(['cp', s('dir'), 'dst:/tmp/renamed']).stderr, 'cannot copy directory\n');
    assert.equal(fails(['cp', s('file'), 'nope:/tmp/x']).stderr, 'Error response from daemon: No such container: nope\n');
    const notDir = sh(`tar -C '${src}' -c file | ${BB} cp - dst:/etc/passwd`);
    assert.deepEqual([notDir.code, notDir.stderr], [1, 'destination "dst:/etc/passwd" must be a directory\n']);
    const notTar = sh(`echo not a tar | ${BB} cp - dst:/tmp`);
    assert.equal(notTar.code, 1);
    assert.match(notTar.stderr, /^Error response from daemon: invalid archive/);
    // A directory never replaces a file, nor the reverse.
    assert.equal(inside('cat /tmp/renamed'), 'one\n');
    ok(['rm', '-f', 'dst']);
    fs.rmSync(src, { recursive: true });
  });

  test('image prune -a -f, system df, system prune -f', () => {
    const id = busyboxId();
    // A dangling image, an unused tagged one, and one a container uses.
    ok(['run', '--name', 'keep', '--network', 'none', 'busybox', 'sh', '-c', 'echo kept > /k']);
    const dangling = ok(['commit', 'keep']).trim();
    const unused = ok(['commit', 'keep', 'unused:1']).trim();
    ok(['commit', 'keep', 'inuse:1']);
    const user = ok(['create', '--name', 'user', 'inuse:1', 'true']).trim();

    const df = rows(ok(['system', 'df']));
    assert.deepEqual(df[0], ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE']);
    assert.deepEqual(df.slice(1).map((r) => r[0]), ['Images', 'Containers', 'Local Volumes', 'Build Cache']);
    assert.deepEqual(df[1]!.slice(1, 3), ['4', '2'], 'images: 4, of which 2 are used (busybox by "keep", inuse:1 by "user")');
    assert.deepEqual(df[2]!.slice(1, 3), ['2', '0'], 'containers: 2, none running');
    assert.match(df[1]![4]!, /^\S+ \(\d+%\)$/);
    const json = ok(['system', 'df', '--format', 'json']).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(json[0]), ['Active', 'Reclaimable', 'Size', 'TotalCount', 'Type']);
    assert.equal(ok(['system', 'df', '--format', '{{.Type}}={{.TotalCount}}']), 'Images=4\nContainers=2\nLocal Volumes=0\nBuild Cache=0\n');
    const verbose = ok(['system', 'df', '-v']);
    for (const h of ['Images space usage:', 'Containers space usage:', 'Local Volumes space usage:', 'Build cache usage: 0B']) assert.ok(verbose.includes(h), verbose);
    assert.match(verbose, /\nunused +1 +[0-9a-f]{12} /);

    // image prune (dangling only), then -a: every image no container uses.
    const p1 = ok(['image', 'prune', '-f']);
    assert.equal(p1, `Deleted Images:\ndeleted: ${dangling}\n\nTotal reclaimed space: 0B\n`);
    const p2 = ok(['image', 'prune', '-a', '-f']);
    assert.match(p2, new RegExp(`^Deleted Images:\nuntagged: unused:1\ndeleted: ${unused}\n\nTotal reclaimed space: \\S+\n$`));
    assert.equal(ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter(Boolean).sort().join(' '), 'busybox:latest inuse:1');
    assert.equal(ok(['image', 'prune', '-a', '-f']), 'Total reclaimed space: 0B\n');

    // system prune: stopped containers, then images left dangling (none here): inuse:1 stays tagged.
    const sp = ok(['system', 'prune', '-f']);
    assert.equal(ok(['ps', '-aq']), '', 'every stopped container removed');
    assert.match(sp, /^Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\nTotal reclaimed space: \S+\n$/);
    assert.ok(sp.includes(user));
    const sp2 = ok(['system', 'prune', '-a', '-f']);
    // Now nothing uses inuse:1 nor busybox: -a removes both.
    assert.match(sp2, /^Deleted Images:\n/);
    assert.ok(sp2.includes('untagged: inuse:1\n') && sp2.includes('untagged: busybox:latest\n') && sp2.includes(`deleted: ${id}\n`), sp2);
    assert.match(sp2, /\n\nTotal reclaimed space: [1-9]\S*\n$/);
    assert.equal(ok(['images', '-q']), '');
    // Back to the start for anything after: busybox again (from the archive saved earlier).
    ok(['load', '-i', path.join(work, 'all.tar')]);
    assert.equal(busyboxId(), id);
    ok(['rmi', 'mybox:1']);
  });
});
