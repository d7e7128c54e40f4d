// The registry client end to end: a real barged against Debian's reference registry (docker-registry),
// driven by the barge and docker CLIs: push, pull (tag, digest, index, gzip, all tags), layer reuse,
// cross-repository mounts, corrupted blobs, htpasswd auth with login/logout, run's auto-pull.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { BARGE_CMD, runPty } from '../helpers/engine.js';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { REGISTRY_BIN, pushGzipImage, putBlob, putManifest, sha256, startRegistry, type TestRegistry } from './regclient-helpers.js';

const have = fs.existsSync(REGISTRY_BIN) && spawnSync('htpasswd', ['-h']).error === undefined;
const skip = have ? false : 'docker-registry or htpasswd is not installed (apt-get install docker-registry apache2-utils)';

const NO_ANSI = /\x1b\[/;

describe('registry client', { skip }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let sec: TestRegistry;
  let cfg: string;
  const env = () => ({ BARGE_CONFIG: cfg });
  const barge = (args: string[], o: { input?: string } = {}) => d.barge(args, { env: env(), timeoutMs: 120_000, ...o });
  const ok = (args: string[], o: { input?: string } = {}) => {
    const r = barge(args, o);
    assert.equal(r.code, 0, `barge ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
    return r;
  };
  const blobCount = () => fs.readdirSync(path.join(d.dataRoot, 'content/blobs/sha256')).length;

  before(async () => {
    d = await startDaemon();
    reg = await startRegistry();
    sec = await startRegistry({ auth: { user: 'alice', password: 's3cret' } });
    cfg = path.join(d.dir, 'barge-config');
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    await sec?.stop();
  });

  it('pushes busybox, then says "Layer already exists" on a second push', () => {
    const name = `${reg.host}/team/box:1`;
    ok(['tag', 'busybox', name]);
    const r = ok(['push', name]);
    assert.match(r.stdout, new RegExp(`The push refers to repository \\[${reg.host}/team/box\\]`));
    assert.match(r.stdout, /: Preparing\n/);
    assert.match(r.stdout, /: Pushed\n/);
    assert.match(r.stdout, /^1: digest: sha256:[a-f0-9]{64} size: \d+$/m);
    assert.doesNotMatch(r.stdout, NO_ANSI, 'no cursor movement off a terminal');
    const again = ok(['push', name]);
    assert.match(again.stdout, /: Layer already exists\n/);
    assert.doesNotMatch(again.stdout, /Pushed/);
    const repoDigests = JSON.parse(ok(['image', 'inspect', '--format', '{{json .RepoDigests}}', name]).stdout) as string[];
    assert.ok(repoDigests.some((x) => x.startsWith(`${reg.host}/team/box@sha256:`)), String(repoDigests));
  });

  it('mounts blobs from another repository of the same registry', () => {
    const name = `${reg.host}/team/other:2`;
    ok(['tag', 'busybox', name]);
    const r = ok(['push', name]);
    assert.match(r.stdout, /: Mounted from team\/box\n/);
  });

  it('pulls by tag after rmi (plain progress lines, digest, status), and the image runs', () => {
    const name = `${reg.host}/team/box:1`;
    const pushed = ok(['push', name]).stdout.match(/digest: (sha256:[a-f0-9]{64})/)![1]!;
    ok(['rmi', name, `${reg.host}/team/other:2`]);
    ok(['rmi', 'busybox']);
    const before = blobCount();
    assert.equal(before, 0, 'no blobs left once busybox is gone');
    const r = ok(['pull', name]);
    assert.match(r.stdout, /^1: Pulling from team\/box$/m);
    assert.match(r.stdout, /^[a-f0-9]{12}: Pulling fs layer$/m);
    assert.match(r.stdout, /^[a-f0-9]{12}: Verifying Checksum$/m);
    assert.match(r.stdout, /^[a-f0-9]{12}: Download complete$/m);
    assert.match(r.stdout, /^[a-f0-9]{12}: Pull complete$/m);
    assert.match(r.stdout, new RegExp(`^Digest: ${pushed}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^Status: Downloaded newer image for ${reg.host}/team/box:1$`, 'm'));
    assert.match(r.stdout, new RegExp(`\n${reg.host}/team/box:1\n$`));
    assert.doesNotMatch(r.stdout, /Downloading|\[=/, 'no progress bars off a terminal');
    assert.doesNotMatch(r.stdout, NO_ANSI);
    const run = ok(['run', '--rm', name, 'echo', 'pulled and running']);
    assert.equal(run.stdout, 'pulled and running\n');
    const again = ok(['pull', name]);
    assert.match(again.stdout, new RegExp(`Status: Image is up to date for ${reg.host}/team/box:1`));
    const q = ok(['pull', '-q', name]);
    assert.equal(q.stdout, `${reg.host}/team/box:1\n`);
  });

  it('draws per-layer lines in place on a terminal (barge and docker)', async () => {
    const name = `${reg.host}/team/box:1`;
    for (const cli of [[...BARGE_CMD], ['docker', '-H', d.host]]) {
      ok(['tag', name, 'keep:tty']);
      ok(['rmi', name]);
      ok(['rmi', 'keep:tty']);
      const r = await runPty(d, [...cli, 'pull', name], [{ expect: 'Status: Downloaded newer image', timeout: 60 }, { wait: 10 }], { cols: 150 });
      assert.ok(r.ok, `${cli[0]}: ${r.error}\n${r.output}`);
      assert.match(r.output, /\x1b\[\d+A\x1b\[2K\r[a-f0-9]{12}: Pull complete/, 'a layer line redrawn in place');
      assert.match(r.output, /[a-f0-9]{12}: Pulling fs layer/);
    }
  });

  it('pulls by digest, recording only the digest reference', () => {
    const name = `${reg.host}/team/box:1`;
    const digest = (JSON.parse(ok(['image', 'inspect', '--format', '{{json .RepoDigests}}', name]).stdout) as string[])[0]!.split('@')[1]!;
    ok(['tag', name, 'keep:me']);
    ok(['rmi', name]);
    ok(['rmi', 'keep:me']);
    const r = ok(['pull', `${reg.host}/team/box@${digest}`]);
    assert.match(r.stdout, new RegExp(`^${digest}: Pulling from team/box$`, 'm'));
    assert.match(r.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/team/box@${digest}`));
    const img = JSON.parse(ok(['image', 'inspect', `${reg.host}/team/box@${digest}`]).stdout)[0];
    assert.deepEqual(img.RepoTags, []);
    assert.deepEqual(img.RepoDigests, [`${reg.host}/team/box@${digest}`]);
  });

  it('downloads only the layers it lacks ("Already exists")', () => {
    ok(['pull', `${reg.host}/team/box:1`]);
    ok(['run', '--name', 'layered', `${reg.host}/team/box:1`, 'sh', '-c', 'echo two > /two.txt']);
    ok(['commit', 'layered', `${reg.host}/team/layered:1`]);
    ok(['rm', 'layered']);
    const p = ok(['push', `${reg.host}/team/layered:1`]);
    assert.match(p.stdout, /Layer already exists|Mounted from/);
    assert.match(p.stdout, /: Pushed\n/);
    ok(['rmi', `${reg.host}/team/layered:1`]);
    const r = ok(['pull', `${reg.host}/team/layered:1`]);
    assert.equal((r.stdout.match(/: Already exists$/gm) ?? []).length, 1, r.stdout);
    assert.equal((r.stdout.match(/: Pull complete$/gm) ?? []).length, 1, r.stdout);
    assert.equal(ok(['run', '--rm', `${reg.host}/team/layered:1`, 'cat', '/two.txt']).stdout, 'two\n');
  });

  it('pulls a gzip layer through an image index, picking the host platform', async () => {
    const img = await pushGzipImage(reg.host, 'team/multi', 'v1', { index: true });
    const r = ok(['pull', `${reg.host}/team/multi:v1`]);
    assert.match(r.stdout, new RegExp(`Digest: ${img.index}`));
    assert.match(r.stdout, new RegExp(`^${img.layer.slice(7, 19)}: Pull complete$`, 'm'));
    const info = JSON.parse(ok(['image', 'inspect', `${reg.host}/team/multi:v1`]).stdout)[0];
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Id, img.config);
    assert.deepEqual(info.RootFS.Layers, [img.diffId]);
    assert.deepEqual(info.RepoDigests, [`${reg.host}/team/multi@${img.index}`]);
    // The same image loaded from an archive holds its layer uncompressed: a pull still completes.
    const tar = path.join(d.dir, 'multi.tar');
    ok(['save', '-o', tar, `${reg.host}/team/multi:v1`]);
    ok(['rmi', `${reg.host}/team/multi:v1`]);
    ok(['load', '-i', tar]);
    const again = ok(['pull', `${reg.host}/team/multi:v1`]);
    assert.match(again.stdout, /Status: (Image is up to date|Downloaded newer image) for/);
    assert.equal(JSON.parse(ok(['image', 'inspect', `${reg.host}/team/multi:v1`]).stdout)[0].Id, img.config);
    const wrong = barge(['pull', '--platform', 'linux/arm64', `${reg.host}/team/multi:v1`]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /platform/);
  });

  it('keeps a pulled gzip layer as files only: runs it, pulls it again, saves it, pushes it elsewhere as its plain tar', async () => {
    // A runnable image of one gzip layer (busybox's files) listed twice: the second copy is unpacked
    // from the first one's files, since the blob itself is not kept.
    const rootfs = path.join(d.dir, 'gz-rootfs.tar');
    ok(['pull', `${reg.host}/team/box:1`]);   // busybox, pushed by the first test (a test before may remove busybox:latest)
    ok(['create', '--name', 'gz-src', `${reg.host}/team/box:1`]);
    ok(['export', '-o', rootfs, 'gz-src']);
    ok(['rm', 'gz-src']);
    const tar = fs.readFileSync(rootfs);
    const gz = gzipSync(tar);
    const layer = await putBlob(reg.host, 'team/gz', gz);
    const diffId = sha256(tar);
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [diffId, diffId] } }));
    const config = await putBlob(reg.host, 'team/gz', cfg);
    const man = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: cfg.length },
      layers: [0, 1].map(() => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: gz.length })),
    }));
    const manifest = await putManifest(reg.host, 'team/gz', '1', 'application/vnd.docker.distribution.manifest.v2+json', man);
    const name = `${reg.host}/team/gz:1`;
    const blobFile = path.join(d.dataRoot, 'content/blobs/sha256', layer.slice(7));

    const r = ok(['pull', name]);
    assert.match(r.stdout, new RegExp(`^${layer.slice(7, 19)}: Pull complete$`, 'm'));
    assert.match(r.stdout, new RegExp(`Digest: ${manifest}`));
    assert.equal(fs.existsSync(blobFile), false, 'the gzip blob is not kept');
    assert.equal(ok(['run', '--rm', name, 'echo', 'from gzip']).stdout, 'from gzip\n');
    assert.match(ok(['pull', name]).stdout, /Status: Image is up to date for/);
    await d.restart();
    const again = ok(['pull', name]);
    assert.match(again.stdout, /Status: Image is up to date for/);
    assert.doesNotMatch(again.stdout, /Downloading|Pull complete/);

    // save rebuilds the layer's tar from the files; the archive loads into another daemon's image.
    const saved = path.join(d.dir, 'gz.tar');
    ok(['save', '-o', saved, name]);
    assert.ok(fs.statSync(saved).size > tar.length);

    // Another repository of the same registry: the blob is mounted, the manifest is the pulled one.
    ok(['tag', name, `${reg.host}/team/gz2:1`]);
    const m = ok(['push', `${reg.host}/team/gz2:1`]);
    assert.match(m.stdout, /: Mounted from team\/gz\n/);
    assert.match(m.stdout, new RegExp(`digest: ${manifest} `));
    ok(['rmi', `${reg.host}/team/gz2:1`]);

    // Another registry lacks the blob: the layer goes as its plain tar, under a new manifest.
    const other = await startRegistry();
    try {
      const there = `${other.host}/copy/gz:1`;
      ok(['tag', name, there]);
      const p = ok(['push', there]);
      assert.equal((p.stdout.match(/: Pushed$/gm) ?? []).length, 1, p.stdout);
      const pushed = p.stdout.match(/digest: (sha256:[a-f0-9]{64})/)![1]!;
      assert.notEqual(pushed, manifest);
      assert.equal(fs.existsSync(other.blobFile(diffId)), true, 'the plain tar is in the other registry');
      ok(['rmi', there, name]);
      ok(['pull', there]);
      assert.equal(JSON.parse(ok(['image', 'inspect', there]).stdout)[0].Id, config);
      assert.equal(ok(['run', '--rm', there, 'echo', 'from the copy']).stdout, 'from the copy\n');
    } finally {
      await other.stop();
    }
    // The archive saved from the pulled image (its tars rebuilt from the files) loads and runs.
    ok(['rmi', '-f', config]);
    assert.match(ok(['load', '-i', saved]).stdout, new RegExp(`Loaded image: ${name.replace(/[.]/g, '\\.')}`));
    assert.equal(JSON.parse(ok(['image', 'inspect', name]).stdout)[0].Id, config);
    assert.equal(ok(['run', '--rm', name, 'echo', 'from the archive']).stdout, 'from the archive\n');
  });

  it('pulls every tag with -a', async () => {
    await pushGzipImage(reg.host, 'team/many', 'a', { data: Buffer.from('a\n') });
    await pushGzipImage(reg.host, 'team/many', 'b', { data: Buffer.from('b\n') });
    const r = ok(['pull', '-a', `${reg.host}/team/many`]);
    assert.match(r.stdout, /^a: Pulling from team\/many$/m);
    assert.match(r.stdout, /^b: Pulling from team\/many$/m);
    assert.match(r.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/team/many\n`));
    ok(['image', 'inspect', `${reg.host}/team/many:a`]);
    ok(['image', 'inspect', `${reg.host}/team/many:b`]);
  });

  it('refuses a corrupted blob and stores nothing', async () => {
    const img = await pushGzipImage(reg.host, 'team/bad', 'v1', { data: Buffer.from('x'.repeat(5000)) });
    const file = reg.blobFile(img.layer);
    const buf = fs.readFileSync(file);
    buf[buf.length - 12] = buf[buf.length - 12]! ^ 0xff;
    fs.writeFileSync(file, buf);
    const before = blobCount();
    const r = barge(['pull', `${reg.host}/team/bad:v1`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`filesystem layer verification failed for digest ${img.layer}`));
    assert.equal(blobCount(), before, 'no blob kept');
    assert.equal(barge(['image', 'inspect', `${reg.host}/team/bad:v1`]).code, 1);
    assert.equal(fs.readdirSync(path.join(d.dataRoot, 'content/ingest')).length, 0);
    assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'snapshots')).filter((n) => n.startsWith('.tmp')), [], 'no half-unpacked layer left');
  });

  it('a push of a layer whose files changed on disk fails, naming the layer, and the registry keeps nothing', async () => {
    // A layer kept as files only (pulled gzip): a push rebuilds its tar from them, which the
    // registry checks against the digest; the push then says which copy is wrong.
    const img = await pushGzipImage(reg.host, 'team/rot', 'v1', { file: 'rot-me.txt', data: Buffer.from('y'.repeat(3000)) });
    ok(['pull', `${reg.host}/team/rot:v1`]);
    const snaps = path.join(d.dataRoot, 'snapshots');
    const file = fs.readdirSync(snaps).map((n) => path.join(snaps, n, 'fs', 'rot-me.txt')).find((f) => fs.existsSync(f))!;
    assert.ok(file, 'the pulled layer\'s file');
    fs.writeFileSync(file, 'z'.repeat(3000));   // same size: only the bytes differ
    const other = await startRegistry();
    try {
      ok(['tag', `${reg.host}/team/rot:v1`, `${other.host}/copy/rot:v1`]);
      const r = barge(['push', `${other.host}/copy/rot:v1`]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr + r.stdout, new RegExp(`layer ${img.diffId} does not match its digest`));
      assert.equal(fs.existsSync(other.blobFile(img.diffId)), false, 'no blob under that digest');
    } finally {
      await other.stop();
      ok(['rmi', '-f', `${other.host}/copy/rot:v1`, `${reg.host}/team/rot:v1`]);
    }
  });

  it('pushes a pulled layer with a big file (read around the page cache, ahead of the socket) byte for byte', async () => {
    // 12 MiB: written directly by the pull, read directly by the push (lentread.ts).
    const data = randomBytes((12 << 20) + 4321);
    const img = await pushGzipImage(reg.host, 'team/bigfile', 'v1', { file: 'big.bin', data });
    ok(['pull', `${reg.host}/team/bigfile:v1`]);
    const other = await startRegistry();
    try {
      ok(['tag', `${reg.host}/team/bigfile:v1`, `${other.host}/copy/bigfile:v1`]);
      const p = ok(['push', `${other.host}/copy/bigfile:v1`]);
      assert.match(p.stdout, /: Pushed$/m);
      // The reference registry checked the digest too: the bytes are the layer's tar.
      assert.equal(sha256(fs.readFileSync(other.blobFile(img.diffId))), img.diffId);
    } finally {
      await other.stop();
      ok(['rmi', '-f', `${other.host}/copy/bigfile:v1`, `${reg.host}/team/bigfile:v1`]);
    }
  });

  it('says what a missing repository or tag is', () => {
    const r = barge(['pull', `${reg.host}/team/box:nope`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`Error response from daemon: manifest for ${reg.host}/team/box:nope not found: manifest unknown`));
    const p = barge(['push', `${reg.host}/team/none:1`]);
    assert.equal(p.code, 1);
    assert.match(p.stderr, new RegExp(`An image does not exist locally with the tag: ${reg.host}/team/none`));
  });

  it('denies anonymous access to an htpasswd registry; login, push, pull, logout', () => {
    const name = `${sec.host}/sec/box:1`;
    ok(['tag', `${reg.host}/team/box:1`, name]);
    const denied = barge(['push', name]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /unauthorized: authentication required/);
    const pull = barge(['pull', name]);
    assert.match(pull.stderr, new RegExp(`pull access denied for ${sec.host}/sec/box, repository does not exist or may require 'docker login'`));
    const bad = barge(['login', '-u', 'alice', '-p', 'wrong', sec.host]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`login attempt to http://${sec.host}/v2/ failed with status: 401 Unauthorized`));
    assert.equal(fs.existsSync(path.join(cfg, 'config.json')), false, 'nothing stored for a failed login');
    const good = ok(['login', '-u', 'alice', '--password-stdin', sec.host], { input: 's3cret\n' });
    assert.match(good.stdout, /Login Succeeded/);
    const file = path.join(cfg, 'config.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const conf = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.deepEqual(conf.auths[sec.host], { auth: Buffer.from('alice:s3cret').toString('base64') });
    assert.match(ok(['push', name]).stdout, /1: digest: sha256:/);
    ok(['rmi', name]);
    assert.match(ok(['pull', name]).stdout, /Status: (Downloaded newer image|Image is up to date) for/);
    assert.equal(ok(['logout', sec.host]).stdout, `Removing login credentials for ${sec.host}\n`);
    assert.equal(ok(['logout', sec.host]).stdout, `Not logged in to ${sec.host}\n`);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).auths, {});
    assert.equal(barge(['push', name]).code, 1);
  });

  it('serves the docker CLI: pull, push and login through barged', () => {
    const dk = (args: string[]) => d.docker(args, { timeoutMs: 120_000 });
    const name = `${reg.host}/team/dockercli:1`;
    assert.equal(dk(['tag', `${reg.host}/team/box:1`, name]).code, 0);
    const p = dk(['push', name]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /1: digest: sha256:[a-f0-9]{64} size: \d+/);
    assert.equal(dk(['rmi', name]).code, 0);
    const r = dk(['pull', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Status: (Downloaded newer image|Image is up to date) for/);
    const l = dk(['login', '-u', 'alice', '-p', 's3cret', sec.host]);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /Login Succeeded/);
    const pulled = dk(['pull', `${sec.host}/sec/box:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const bad = dk(['login', '-u', 'alice', '-p', 'nope', sec.host]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /401 Unauthorized/);
  });

  it('run pulls a missing image, unless --pull never', () => {
    const name = `${reg.host}/team/box:1`;
    barge(['rmi', '-f', name]);
    const never = barge(['run', '--rm', '--pull', 'never', name, 'true']);
    assert.equal(never.code, 125);
    assert.match(never.stderr, /No such image/);
    const r = ok(['run', '--rm', name, 'echo', 'auto']);
    assert.equal(r.stdout, 'auto\n');
    assert.match(r.stderr, new RegExp(`Unable to find image '${reg.host}/team/box:1' locally`));
    assert.match(r.stderr, /Pulling from team\/box/);
    const always = ok(['run', '--rm', '--pull', 'always', name, 'true']);
    assert.match(always.stderr, /Image is up to date/);
  });
});
