// `barge build` end to end against a real barged and the built-in busybox image: multi-stage builds,
// the layer cache (hits, invalidation from the changed step on, persistence across a restart, prune),
// .dockerignore, --target, -f -, a context on stdin, failures that leave nothing behind, context
// escapes refused, and the docker CLI's classic builder against barged.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { startDaemon, hostLeftovers, BARGE, type TestDaemon } from '../helpers/daemon.js';
import { cliEnv, until, runPty, BARGE_CMD } from '../helpers/engine.js';
import { TarWriter } from '../../src/lib/tarwriter.js';

const MULTI = `# syntax=docker/dockerfile:1
ARG BASE=busybox
ARG GREETING=hello

FROM \${BASE} AS build
ARG GREETING
WORKDIR /src
COPY first.txt .
RUN echo "\${GREETING} from build" > out.txt && cat first.txt >> out.txt
COPY second.txt .
RUN cat second.txt >> out.txt

FROM \${BASE} AS unused
RUN exit 1

FROM \${BASE}
ENV APP_HOME=/app \\
    MODE=prod
WORKDIR $APP_HOME
COPY --from=build --chmod=750 /src/out.txt ./out.txt
RUN echo "mode=$MODE" > mode.txt
CMD ["sh", "-c", "cat out.txt mode.txt; pwd; stat -c %a out.txt"]
`;

describe('barge build', () => {
  let d: TestDaemon;
  let ctx: string;
  before(async () => {
    d = await startDaemon();
    ctx = path.join(d.dir, 'ctx');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), MULTI);
    fs.writeFileSync(path.join(ctx, 'first.txt'), 'first\n');
    fs.writeFileSync(path.join(ctx, 'second.txt'), 'second\n');
  });
  after(async () => { await d?.cleanup(); });

  const build = (args: string[], o: { input?: string | Buffer; cwd?: string } = {}) => {
    return d.barge(['build', ...args], { input: o.input, timeoutMs: 180_000 });
  };
  const ok = (args: string[], input?: string | Buffer) => {
    const r = build(args, { input });
    assert.equal(r.code, 0, `barge build ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const steps = (out: string) => out.split(/^Step /m).slice(1);
  const cachedSteps = (out: string) => steps(out).map((s) => s.includes(' ---> Using cache'));
  const run = (image: string) => {
    const r = d.barge(['run', '--rm', image], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  test('multi-stage build: ARG before FROM, COPY --from with --chmod, WORKDIR, ENV, RUN, CMD; only needed stages', () => {
    const out = ok(['-t', 'site:1', '-t', 'site:latest', ctx]);
    assert.match(out, /^Step 1\/13 : FROM \$\{BASE\} AS build$/m);
    assert.doesNotMatch(out, /exit 1/, 'the unused stage is not built');
    assert.match(out, /^ ---> Running in [0-9a-f]{12}$/m);
    assert.match(out, /^Successfully built [0-9a-f]{12}$/m);
    assert.match(out, /^Successfully tagged site:1$/m);
    assert.match(out, /^Successfully tagged site:latest$/m);
    assert.deepEqual(run('site:1').split('\n'), ['hello from build', 'first', 'second', 'mode=prod', '/app', '750', '']);
    // Metadata steps make config-only images; history shows them as empty layers.
    const hist = d.barge(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'site:1']).stdout;
    assert.match(hist, /#\(nop\) ENV APP_HOME=\/app MODE=prod\|0B/);
    const cfg = JSON.parse(d.barge(['image', 'inspect', '-f', '{{json .Config}}', 'site:1']).stdout);
    assert.deepEqual(cfg.Cmd, ['sh', '-c', 'cat out.txt mode.txt; pwd; stat -c %a out.txt']);
    assert.equal(cfg.WorkingDir, '/app');
    assert.ok(cfg.Env.includes('MODE=prod'));
    assert.equal(d.barge(['ps', '-aq']).stdout, '', 'no build container left');
  });

  test('a rebuild takes every step from the cache and gives the same image', () => {
    const id = d.barge(['image', 'inspect', '-f', '{{.Id}}', 'site:1']).stdout.trim();
    const out = ok(['-t', 'site:1', ctx]);
    const c = cachedSteps(out);
    // Every step but the two FROMs says "Using cache".
    const froms = steps(out).map((s) => /^\d+\/\d+ : FROM/.test(s));
    assert.deepEqual(c, froms.map((f) => !f));
    assert.ok(out.includes(`Successfully built ${id.slice(7, 19)}`));
    assert.doesNotMatch(out, /Running in/);
  });

  test('changing one copied file invalidates from that step on, and no earlier', () => {
    fs.writeFileSync(path.join(ctx, 'second.txt'), 'second, changed\n');
    try {
      const out = ok(['-t', 'site:2', ctx]);
      const c = cachedSteps(out);
      // Steps: 1 FROM, 2 ARG, 3 WORKDIR, 4 COPY first, 5 RUN, 6 COPY second, 7 RUN, 8 FROM, 9 ENV, 10 WORKDIR, 11 COPY --from, ...
      assert.deepEqual(c.slice(1, 5), [true, true, true, true], 'steps before the changed COPY are cached');
      assert.equal(c[5], false, 'the COPY of the changed file runs');
      assert.equal(c[6], false, 'the RUN after it runs');
      assert.deepEqual(c.slice(8, 10), [true, true], 'the final stage before COPY --from is cached');
      assert.equal(c[10], false, 'COPY --from of the changed stage runs');
      assert.match(run('site:2'), /second, changed/);
      // Touching a file without changing it keeps the cache.
      const t = new Date(Date.now() + 5000);
      fs.utimesSync(path.join(ctx, 'first.txt'), t, t);
      const again = ok(['-t', 'site:2', ctx]);
      assert.doesNotMatch(again, /Running in/);
    } finally {
      fs.writeFileSync(path.join(ctx, 'second.txt'), 'second\n');
    }
  });

  test('--build-arg changes the ARG in scope and invalidates from its use', () => {
    const out = ok(['--build-arg', 'GREETING=bonjour', '-t', 'site:fr', ctx]);
    assert.match(run('site:fr'), /^bonjour from build$/m);
    assert.match(out, /Running in/);
    const unused = ok(['--build-arg', 'NOPE=1', '-q', ctx]);
    assert.match(unused, /^sha256:[0-9a-f]{64}\n$/);
  });

  test('--target builds the named stage and what it needs only', () => {
    const out = ok(['--target', 'build', '-t', 'site:build', ctx]);
    assert.equal(steps(out).length, 7);
    const r = d.barge(['run', '--rm', 'site:build', 'cat', '/src/out.txt']);
    assert.equal(r.stdout, 'hello from build\nfirst\nsecond\n');
    const bad = build(['--target', 'nosuch', ctx]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /failed to reach build target nosuch in Dockerfile/);
  });

  test('.dockerignore excludes files from the context, with ! exceptions', () => {
    const dir = path.join(d.dir, 'ignore');
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx/\nCMD ["find", "/ctx", "-type", "f"]\n');
    fs.writeFileSync(path.join(dir, '.dockerignore'), '# test\n*.log\nlogs\n!logs/keep.log\nsecret*\n');
    for (const f of ['a.txt', 'b.log', 'secret.key', 'logs/x.log', 'logs/keep.log']) fs.writeFileSync(path.join(dir, f), f);
    ok(['-t', 'ign', dir]);
    const files = run('ign').split('\n').filter(Boolean).sort();
    assert.deepEqual(files, ['/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/a.txt', '/ctx/logs/keep.log']);
    // <Dockerfile>.dockerignore wins over .dockerignore; the escape directive changes the escape character.
    fs.mkdirSync(path.join(dir, 'df'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'df/App.Dockerfile'), '# escape=`\nFROM busybox\nCOPY . /ctx/\nCMD ["find", "/ctx", `\n  "-type", "f"]\n');
    fs.writeFileSync(path.join(dir, 'df/App.Dockerfile.dockerignore'), 'a.txt\n');
    ok(['-t', 'ign2', '-f', path.join(dir, 'df/App.Dockerfile'), dir]);
    assert.deepEqual(run('ign2').split('\n').filter(Boolean).sort(), [
      '/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/b.log', '/ctx/df/App.Dockerfile', '/ctx/df/App.Dockerfile.dockerignore',
      '/ctx/logs/keep.log', '/ctx/logs/x.log', '/ctx/secret.key',
    ]);
    // COPY of an excluded file fails as if it did not exist.
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nCOPY secret.key /\n');
    const r = build([dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /file not found in build context or excluded by \.dockerignore/);
  });

  test('-f - reads the Dockerfile from stdin; a Dockerfile alone or a tar can be the context on stdin', () => {
    const out = ok(['-t', 'fromstdin', '-f', '-', ctx], 'FROM busybox\nCOPY first.txt /\nCMD ["cat", "/first.txt"]\n');
    assert.match(out, /Successfully tagged fromstdin:latest/);
    assert.equal(run('fromstdin'), 'first\n');
    ok(['-t', 'alone', '-'], 'FROM busybox\nRUN echo alone > /a\nCMD ["cat", "/a"]\n');
    assert.equal(run('alone'), 'alone\n');
    const tar = spawnSync('tar', ['-C', ctx, '-cf', '-', '.'], { maxBuffer: 64 << 20 }).stdout;
    ok(['-t', 'tarctx', '-'], tar);
    assert.match(run('tarctx'), /hello from build/);
    // The classic builder's other Dockerfile name inside the tar.
    fs.writeFileSync(path.join(ctx, 'Other.dockerfile'), 'FROM busybox\nCMD ["echo", "other"]\n');
    const tar2 = spawnSync('tar', ['-C', ctx, '-czf', '-', '.'], { maxBuffer: 64 << 20 }).stdout;
    ok(['-t', 'other', '-f', 'Other.dockerfile', '-'], tar2);
    assert.equal(run('other'), 'other\n');
    fs.rmSync(path.join(ctx, 'Other.dockerfile'));
  });

  test('heredocs, ADD of a local tar, --chown, globs, scratch, metadata instructions', () => {
    const dir = path.join(d.dir, 'feat');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sub/a.txt'), 'a\n');
    fs.writeFileSync(path.join(dir, 'sub/b.log'), 'b\n');
    assert.equal(spawnSync('tar', ['-C', dir, '-czf', path.join(dir, 'arch.tgz'), 'sub']).status, 0);
    assert.equal(spawnSync('tar', ['-C', dir, '-cJf', path.join(dir, 'arch.tar.xz'), 'sub']).status, 0);
    assert.equal(spawnSync('tar', ['-C', dir, '-cjf', path.join(dir, 'arch.tar.bz2'), 'sub']).status, 0);
    assert.equal(spawnSync('sh', ['-c', `echo plain | gzip > '${path.join(dir, 'notar.txt.gz')}'`]).status, 0);
    fs.writeFileSync(path.join(dir, 'Dockerfile'), [
      'FROM busybox',
      'ARG V=1',
      'ENV DIR=/opt/app',
      'RUN <<EOF',
      'mkdir -p $DIR',
      'echo "heredoc $V" > $DIR/h.txt',
      'EOF',
      'RUN cat <<EOF > $DIR/cat.txt',
      'from cat $V',
      'EOF',
      'RUN <<EOF',
      '#!/bin/sh -e',
      'echo shebang > /opt/app/sb.txt',
      'EOF',
      'COPY <<EOT ${DIR}/inline.txt',
      'inline ${DIR}',
      'EOT',
      'ADD arch.tgz /x/',
      'ADD arch.tar.xz /xz/',
      'ADD arch.tar.bz2 notar.txt.gz /bz/',
      'ADD --chown=nobody:nogroup sub/a.txt /owned/',
      'COPY sub/*.txt /glob/',
      'USER nobody',
      'EXPOSE 80 90/udp',
      'LABEL a=b "c d"="e f"',
      'HEALTHCHECK --interval=5s --retries=2 CMD true',
      'STOPSIGNAL SIGTERM',
      'VOLUME /data',
      'SHELL ["/bin/sh", "-ec"]',
      'ONBUILD RUN echo triggered > /tmp/t',
      'ENTRYPOINT ["sh", "-c"]',
      'CMD ["cat $DIR/h.txt $DIR/inline.txt $DIR/cat.txt $DIR/sb.txt /x/sub/a.txt; ls /glob; stat -c %U /owned/a.txt; id -un; ls /tmp"]',
    ].join('\n') + '\n');
    ok(['--build-arg', 'V=2', '--label', 'built.by=test', '-t', 'feat', dir]);
    assert.deepEqual(run('feat').split('\n'), ['heredoc 2', 'inline /opt/app', 'from cat 2', 'shebang', 'a', 'a.txt', 'nobody', 'nobody', '']);
    const cfg = JSON.parse(d.barge(['image', 'inspect', '-f', '{{json .Config}}', 'feat']).stdout);
    assert.deepEqual(cfg.ExposedPorts, { '80/tcp': {}, '90/udp': {} });
    assert.deepEqual(cfg.Labels, { a: 'b', 'c d': 'e f', 'built.by': 'test' });
    assert.deepEqual(cfg.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 });
    assert.equal(cfg.StopSignal, 'SIGTERM');
    assert.deepEqual(cfg.Volumes, { '/data': {} });
    assert.deepEqual(cfg.Shell, ['/bin/sh', '-ec']);
    assert.deepEqual(cfg.OnBuild, ['RUN echo triggered > /tmp/t']);
    const r = d.barge(['run', '--rm', '--entrypoint', 'sh', 'feat', '-c', 'cat /xz/sub/a.txt /bz/sub/b.log; gunzip -c /bz/notar.txt.gz']);
    assert.equal(r.stdout, 'a\nb\nplain\n', r.stderr);
    // ONBUILD triggers run in a build FROM the image.
    ok(['-t', 'child', '-'], 'FROM feat\nCMD ["cat /tmp/t"]\n');
    assert.equal(run('child'), 'triggered\n');
    // FROM scratch: COPY into an empty image.
    ok(['-t', 'scratchy', '-f', '-', dir], 'FROM scratch\nCOPY sub/a.txt /a.txt\n');
    const layers = JSON.parse(d.barge(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'scratchy']).stdout);
    assert.equal(layers.length, 1);
  });

  test('COPY --from sees exactly the stage image\'s files (no container mount points)', () => {
    ok(['-t', 'whole', '-'], 'FROM busybox AS s\nRUN echo x > /marker\nFROM busybox\nCOPY --from=s / /copy/\nCOPY --from=s ../../marker /copy/etc/\nCMD ["ls", "-a", "/copy", "/copy/etc"]\n');
    const out = run('whole');
    assert.equal(out.match(/^marker$/gm)?.length, 2, 'in a stage, ".." stops at its root');
    assert.match(out, /^passwd$/m);
    assert.doesNotMatch(out, /\.dockerenv|^hosts$|^resolv\.conf$|^hostname$/m);
  });

  test('a failing RUN reports the command and its code, exits with it, and leaves no container', () => {
    const r = build(['-t', 'fails', '-'], { input: 'FROM busybox\nRUN echo before\nRUN echo out; exit 3\n' });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^out$/m, 'the step output is streamed');
    assert.match(r.stderr, /The command '\/bin\/sh -c echo out; exit 3' returned a non-zero code: 3/);
    assert.equal(d.barge(['ps', '-aq']).stdout, '');
    assert.equal(d.barge(['images', '-q', 'fails']).stdout, '');
    // The exec form reports its JSON.
    const r2 = build(['-'], { input: 'FROM busybox\nRUN ["false"]\n' });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /The command 'false' returned a non-zero code: 1/);
    assert.equal(d.barge(['ps', '-aq']).stdout, '');
  });

  test('sources may not leave the context', () => {
    for (const src of ['../etc/passwd', '/../../etc/passwd', 'a/../../x']) {
      const r = build(['-f', '-', ctx], { input: `FROM busybox\nCOPY ${src} /x\n` });
      assert.equal(r.code, 1, src);
      assert.match(r.stderr, /forbidden path outside the build context/, src);
    }
    // A symlink in the context is followed inside the context only.
    fs.symlinkSync('/etc/passwd', path.join(ctx, 'evil'));
    try {
      const r = build(['-f', '-', ctx], { input: 'FROM busybox\nCOPY evil /x\n' });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not found in build context/);
    } finally {
      fs.rmSync(path.join(ctx, 'evil'));
    }
    // A hostile context tar: an entry climbing out of the context is refused, nothing lands outside.
    const t = new TarWriter();
    t.add({ name: 'Dockerfile', type: 'file', data: 'FROM busybox\nCOPY . /\n' });
    t.add({ name: '../../../../../../tmp/barge-build-escape', type: 'file', data: 'x' });
    const r = build(['-'], { input: t.finish() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /breakout/);
    assert.equal(fs.existsSync('/tmp/barge-build-escape'), false);
    assert.equal(d.barge(['ps', '-aq']).stdout, '');
  });

  test('parse and usage errors are reported clearly', () => {
    let r = build(['-'], { input: 'FROM busybox\nBOGUS x\n' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown instruction: BOGUS/);
    r = build(['-'], { input: 'FROM nosuchimage\n' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nosuchimage/);
    r = build(['-'], { input: 'FROM busybox\nRUN --mount=type=cache,target=/x true\n' });
    assert.match(r.stderr, /RUN --mount is not supported/);
    r = build([path.join(d.dir, 'nonexistent')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unable to prepare context/);
  });

  test('the docker CLI classic builder builds and tags against barged', () => {
    const r = spawnSync('docker', ['-H', d.host, 'build', '-t', 'dockerbuilt:1', ctx], {
      env: { ...cliEnv(d), DOCKER_BUILDKIT: '0' }, encoding: 'utf8', timeout: 180_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Step 1\/13 : FROM \$\{BASE\} AS build/);
    assert.match(r.stdout, /Using cache/);
    assert.match(r.stdout, /Successfully tagged dockerbuilt:1/);
    assert.match(run('dockerbuilt:1'), /hello from build/);
    const q = spawnSync('docker', ['-H', d.host, 'build', '-q', ctx], { env: { ...cliEnv(d), DOCKER_BUILDKIT: '0' }, encoding: 'utf8', timeout: 180_000 });
    assert.equal(q.status, 0, q.stderr);
    assert.match(q.stdout, /^sha256:[0-9a-f]{64}$/m);
    const fail = spawnSync('docker', ['-H', d.host, 'build', '-'], { input: 'FROM busybox\nRUN exit 5\n', env: { ...cliEnv(d), DOCKER_BUILDKIT: '0' }, encoding: 'utf8', timeout: 180_000 });
    assert.equal(fail.status, 5);
    assert.match(fail.stderr, /returned a non-zero code: 5/);
  });

  test('in a terminal, a tidy per-step display', async () => {
    const r = await runPty(d, [...BARGE_CMD, 'build', '-t', 'site:1', ctx], [
      { expect: '\\[1/13\\].*FROM' }, { expect: 'CACHED' }, { expect: 'Successfully tagged site:1' }, { wait: 60 },
    ], { timeoutMs: 90_000 });
    assert.ok(r.ok, `${r.error}\n${r.output}`);
    assert.equal(r.exit, 0);
    assert.doesNotMatch(r.output, /Using cache|Step \d/, 'the raw classic lines are not shown');
  });

  test('--iidfile and -q', () => {
    const f = path.join(d.dir, 'iid');
    const out = ok(['-q', '--iidfile', f, ctx]);
    const id = fs.readFileSync(f, 'utf8');
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(out, id + '\n');
  });

  test('ADD of a URL (with --checksum), COPY --parents and --exclude, MAINTAINER', async () => {
    const body = 'served over http\n';
    const server = http.createServer((req, res) => {
      if (req.url === '/files/data.txt') { res.writeHead(200, { 'Last-Modified': 'Wed, 01 Jan 2020 00:00:00 GMT' }); res.end(body); return; }
      res.writeHead(404); res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const dir = path.join(d.dir, 'more');
      fs.mkdirSync(path.join(dir, 'a/b'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'c'), { recursive: true });
      for (const f of ['a/b/one.txt', 'a/b/two.md', 'c/three.txt']) fs.writeFileSync(path.join(dir, f), f);
      const sum = 'sha256:' + createHash('sha256').update(body).digest('hex');
      fs.writeFileSync(path.join(dir, 'Dockerfile'), [
        'FROM busybox',
        'MAINTAINER Jane Doe <jane@example.com>',
        `ADD --checksum=${sum} http://127.0.0.1:${port}/files/data.txt /web/`,
        `ADD http://127.0.0.1:${port}/files/data.txt /web/renamed.txt`,
        'COPY --parents a/b/one.txt c/three.txt /p/',
        'COPY --exclude=**/*.md a /nomd/',
        'CMD ["sh", "-c", "cat /web/data.txt /web/renamed.txt; stat -c %a /web/data.txt; find /p /nomd -type f | sort"]',
      ].join('\n') + '\n');
      const r = await d.bargeAsync(['build', '-t', 'more', dir], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(run('more').split('\n'), [
        'served over http', 'served over http', '600', '/nomd/b/one.txt', '/p/a/b/one.txt', '/p/c/three.txt', '',
      ]);
      assert.equal(d.barge(['image', 'inspect', '-f', '{{.Author}}', 'more']).stdout.trim(), 'Jane Doe <jane@example.com>');
      const bad = await d.bargeAsync(['build', '-'], { input: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/files/data.txt /x\n`, timeoutMs: 60_000 });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /digest mismatch/);
      const missing = await d.bargeAsync(['build', '-'], { input: `FROM busybox\nADD http://127.0.0.1:${port}/nope /x\n`, timeoutMs: 60_000 });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /HTTP 404/);
    } finally {
      server.close();
    }
  });

  test('RUN networks (--network, RUN --network=none), --add-host, proxy args', () => {
    const out = ok(['--network', 'none', '--no-cache', '-'], 'FROM busybox\nRUN ls /sys/class/net\n');
    assert.match(out, /^lo$/m);
    assert.doesNotMatch(out, /^eth0$/m);
    const out2 = ok(['--no-cache', '--add-host', 'myhost:10.1.2.3', '--build-arg', 'HTTP_PROXY=http://proxy:3128', '-'],
      'FROM busybox\nRUN ls /sys/class/net\nRUN --network=none ls /sys/class/net | tr "\\n" " "; echo\nRUN grep myhost /etc/hosts; echo "proxy=$HTTP_PROXY"\n');
    assert.match(out2, /^eth0$/m, 'the default network is the bridge');
    assert.match(out2, /^lo $/m, 'RUN --network=none has only lo');
    assert.match(out2, /10\.1\.2\.3\s+myhost/);
    assert.match(out2, /^proxy=http:\/\/proxy:3128$/m);
    assert.doesNotMatch(out2, /were not consumed/);
  });

  test('a client that goes away (Ctrl-C) cancels the build: the step container is killed and removed', async () => {
    const c = spawn(process.execPath, [BARGE, 'build', '--no-cache', '-'], { env: cliEnv(d), stdio: ['pipe', 'pipe', 'pipe'] });
    c.stdin.end('FROM busybox\nRUN echo started; sleep 120\nRUN echo never\n');
    let out = '';
    c.stdout.on('data', (b) => { out += b; });
    const exited = new Promise((r) => c.on('close', r));
    await until('the RUN step', () => /^started$/m.test(out) || undefined, 30_000);
    c.kill('SIGINT');
    await exited;
    await until('no build container', () => d.barge(['ps', '-aq']).stdout === '' || undefined, 30_000);
    assert.doesNotMatch(out, /never/);
  });

  test('a build interrupted by kill -9 leaves nothing once barged is back', async () => {
    const building = d.bargeAsync(['build', '-'], { input: 'FROM busybox\nRUN echo started; sleep 60\n', timeoutMs: 120_000 });
    await until('the RUN container', () => d.barge(['ps', '-q']).stdout.trim() !== '' || undefined, 30_000);
    await d.kill9();
    await building;
    await d.restart();
    assert.equal(d.barge(['ps', '-aq']).stdout, '', 'the step container is removed at start');
    const db = JSON.parse(fs.readFileSync(path.join(d.dataRoot, 'snapshots', 'db.json'), 'utf8'));
    assert.deepEqual(Object.keys(db.snapshots ?? {}).filter((k) => k.startsWith('build-')), []);
    assert.deepEqual(hostLeftovers(d).mounts.filter((m) => !m.includes('/netns')), []);
  });

  test('the cache survives a daemon restart; builder prune empties it', async () => {
    await d.restart();
    let out = ok(['-t', 'site:1', ctx]);
    assert.doesNotMatch(out, /Running in/, 'all cached after a restart');
    // Everything was used just now: an until filter keeps every entry (only images that --no-cache
    // rebuilds replaced may go).
    const recent = d.barge(['builder', 'prune', '-f', '--filter', 'until=1h']);
    assert.equal(recent.code, 0, recent.stderr);
    assert.doesNotMatch(ok(['-t', 'site:1', ctx]), /Running in/);
    assert.match(d.barge(['builder', 'prune', '-f', '--filter', 'bogus=1']).stderr, /invalid filter 'bogus'/);
    const pruned = d.barge(['builder', 'prune', '-f']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /Deleted build cache objects:/);
    assert.match(pruned.stdout, /Total reclaimed space:/);
    // Tagged images stay; what builds left dangling (stages, replaced --no-cache steps) is gone.
    assert.match(run('site:1'), /hello from build/);
    assert.equal(d.barge(['images', '-q', '--filter', 'dangling=true']).stdout, '');
    out = ok(['-t', 'site:1', ctx]);
    assert.match(out, /Running in/, 'nothing cached after a prune');
    assert.doesNotMatch(out, /Using cache/);
    const again = d.barge(['builder', 'prune', '-af']);
    assert.equal(again.code, 0);
  });
});
