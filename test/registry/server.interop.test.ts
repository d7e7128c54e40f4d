// The registry server with real clients: skopeo copies to and from it (Docker schema 2 and OCI), and
// Debian's Docker Engine (dockerd 20.10, private) pushes to it, pulls from it and runs what it
// pulled; `docker login` against htpasswd basic auth and against the token flow. busybox comes from
// a test barged (`barge save busybox`). Each part is skipped, with the reason, where its tool is missing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { startRegistry, which, type Registry } from './helpers.js';

describe('registry server interop: skopeo and Docker Engine', () => {
  let d: TestDaemon;
  let dk: Dockerd | string;
  let reg: Registry;
  let regBasic: Registry;
  let regToken: Registry;
  let tar: string;
  const work = fs.mkdtempSync('/tmp/bregio-');
  before(async () => {
    d = await startDaemon();
    tar = path.join(work, 'busybox.tar');
    const s = d.barge(['save', '-o', tar, 'busybox']);
    assert.equal(s.code, 0, s.stderr);
    const htpasswd = path.join(work, 'htpasswd');
    fs.writeFileSync(htpasswd, `dora:${bcrypt.hashSync('explorer', 5).replace(/^\$2b\$/, '$2y$')}\n`);
    reg = await startRegistry();
    regBasic = await startRegistry(['--htpasswd', htpasswd]);
    regToken = await startRegistry(['--auth', 'token', '--htpasswd', htpasswd]);
    dk = await startDockerd([reg, regBasic, regToken].flatMap((r) => ['--insecure-registry', r.host]));
    if (typeof dk === 'string') console.log(`# dockerd tests skipped: ${dk}`);
  });
  after(async () => {
    if (typeof dk === 'object') await dk.stop();
    for (const r of [reg, regBasic, regToken]) if (r) { await r.stop(); fs.rmSync(r.root, { recursive: true, force: true }); fs.rmSync(`${r.root}.log`, { force: true }); }
    await d?.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });
  const skopeo = (args: string[]) => {
    const r = spawnSync('skopeo', args, { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `skopeo ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const dok = (args: string[], o: { input?: string; config?: string } = {}) => {
    const r = (dk as Dockerd).docker(args, o);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  test('skopeo copy to the registry and back (schema 2 and OCI), then barge loads and runs it', (t) => {
    if (!which('skopeo')) { t.skip('skopeo is not installed (apt-get install skopeo)'); return; }
    const diffIds = JSON.parse(skopeo(['inspect', '--config', `docker-archive:${tar}`])).rootfs.diff_ids as string[];
    skopeo(['copy', '--dest-tls-verify=false', `docker-archive:${tar}`, `docker://${reg.host}/sk/busybox:v2s2`]);
    skopeo(['copy', '--dest-tls-verify=false', '--format', 'oci', `docker-archive:${tar}`, `docker://${reg.host}/sk/busybox:oci`]);
    for (const tag of ['v2s2', 'oci']) {
      const cfg = JSON.parse(skopeo(['inspect', '--config', '--tls-verify=false', `docker://${reg.host}/sk/busybox:${tag}`]));
      assert.deepEqual(cfg.rootfs.diff_ids, diffIds, tag);
    }
    const raw = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/sk/busybox:oci`]));
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(JSON.parse(skopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/sk/busybox`])).Tags, ['oci', 'v2s2']);
    const layout = path.join(work, 'layout');
    skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/sk/busybox:oci`, `oci:${layout}:back`]);
    assert.ok(fs.existsSync(path.join(layout, 'index.json')));
    // From the OCI layout to another repository: the layer is stored once.
    skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:back`, `docker://${reg.host}/sk/again:1`]);
    const out = path.join(work, 'back.tar');
    skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/sk/busybox:v2s2`, `docker-archive:${out}:busybox:fromregistry`]);
    const l = d.barge(['load', '-i', out]);
    assert.equal(l.code, 0, l.stderr);
    const r = d.barge(['run', '--rm', '--network', 'none', 'busybox:fromregistry', 'echo', 'pulled through the registry']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pulled through the registry\n');
  });

  test('docker push, pull and run through the registry; a second repository mounts the layer', (t) => {
    if (typeof dk === 'string') { t.skip(dk); return; }
    dok(['load', '-i', tar]);
    const ref = `${reg.host}/dk/busybox:v1`;
    dok(['tag', 'busybox:latest', ref]);
    assert.match(dok(['push', ref]), /v1: digest: sha256:[a-f0-9]{64} size: \d+/);
    dok(['tag', 'busybox:latest', `${reg.host}/dk/copy:v1`]);
    dok(['push', `${reg.host}/dk/copy:v1`]);
    assert.match(reg.log(), /POST \/v2\/dk\/copy\/blobs\/uploads\/\?from=dk%2Fbusybox&mount=sha256%3A[a-f0-9]{64} 201/, 'cross-repository mount used');
    dok(['rmi', ref, `${reg.host}/dk/copy:v1`, 'busybox:latest']);
    dok(['pull', ref]);
    assert.equal(dok(['run', '--rm', '--network', 'none', ref, 'sh', '-c', 'echo ran from $0']), 'ran from sh\n');
    assert.equal(dok(['run', '--rm', '--network', 'none', ref, 'true']), '');
  });

  test('docker login against htpasswd basic auth; push denied without it', (t) => {
    if (typeof dk === 'string') { t.skip(dk); return; }
    const cfg = fs.mkdtempSync(path.join(work, 'cfg-'));
    dok(['load', '-i', tar]);
    const ref = `${regBasic.host}/private/busybox:1`;
    dok(['tag', 'busybox:latest', ref]);
    const denied = (dk as Dockerd).docker(['push', ref], { config: cfg });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr + denied.stdout, /no basic auth credentials|unauthorized|authentication required/);
    const wrong = (dk as Dockerd).docker(['login', regBasic.host, '-u', 'dora', '--password-stdin'], { input: 'nope\n', config: cfg });
    assert.notEqual(wrong.code, 0);
    assert.match(dok(['login', regBasic.host, '-u', 'dora', '--password-stdin'], { input: 'explorer\n', config: cfg }), /Login Succeeded/);
    dok(['push', ref], { config: cfg });
    dok(['rmi', ref]);
    dok(['pull', ref], { config: cfg });
    dok(['logout', regBasic.host], { config: cfg });
    dok(['rmi', ref]);
    const anon = (dk as Dockerd).docker(['pull', ref], { config: cfg });
    assert.notEqual(anon.code, 0, 'no anonymous pull');
  });

  test('docker login, push and pull with bearer tokens from the registry\'s /token', (t) => {
    if (typeof dk === 'string') { t.skip(dk); return; }
    const cfg = fs.mkdtempSync(path.join(work, 'cfgt-'));
    dok(['load', '-i', tar]);
    const ref = `${regToken.host}/tok/busybox:1`;
    dok(['tag', 'busybox:latest', ref]);
    const denied = (dk as Dockerd).docker(['push', ref], { config: cfg });
    assert.notEqual(denied.code, 0, 'anonymous push refused');
    assert.match(dok(['login', regToken.host, '-u', 'dora', '--password-stdin'], { input: 'explorer\n', config: cfg }), /Login Succeeded/);
    dok(['push', ref], { config: cfg });
    assert.match(regToken.log(), /GET \/token\?account=dora&scope=repository%3Atok%2Fbusybox%3Apush%2Cpull&service=barge-registry 200/);
    dok(['rmi', ref]);
    dok(['pull', ref], { config: cfg });
    assert.equal(dok(['run', '--rm', '--network', 'none', ref, 'true']), '');
  });
});
