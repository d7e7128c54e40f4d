// barge against barge: `barge push` to `barge registry serve`, `barge pull` back, run; with
// htpasswd auth through `barge login`, and with the server's own bearer tokens; and `registry gc`
// freeing what no manifest references once a tag is deleted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import { ok } from '../helpers/engine.js';
import { startDaemon, BARGE, type TestDaemon } from '../helpers/daemon.js';
import { spawnSync } from 'node:child_process';
import { startRegistry, type Registry } from './helpers.js';


describe('barge push/pull against barge registry serve', () => {
  let d: TestDaemon;
  const regs: Registry[] = [];
  before(async () => { d = await startDaemon(); });
  after(async () => {
    for (const r of regs) { await r.stop(); fs.rmSync(r.root, { recursive: true, force: true }); fs.rmSync(`${r.root}.log`, { force: true }); }
    await d?.cleanup();
  });

  test('push, rmi, pull by tag and by digest, run; gc after the tag is deleted', async () => {
    const reg = await startRegistry();
    regs.push(reg);
    const ref = `${reg.host}/team/box:1`;
    ok(d.barge(['tag', 'busybox', ref]), 'tag');
    const push = ok(d.barge(['push', ref]), 'push');
    const digest = /1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(push)?.[1];
    assert.ok(digest, push);
    ok(d.barge(['rmi', ref]), 'rmi');
    ok(d.barge(['rmi', 'busybox']), 'rmi busybox');
    const pull = ok(d.barge(['pull', ref]), 'pull');
    assert.match(pull, new RegExp(`Digest: ${digest}`));
    assert.match(pull, /Status: Downloaded newer image/);
    assert.equal(ok(d.barge(['run', '--rm', ref, 'echo', 'round', 'trip']), 'run'), 'round trip');
    ok(d.barge(['pull', `${reg.host}/team/box@${digest}`]), 'pull by digest');
    assert.match(ok(d.barge(['images', '--digests', '--format', '{{.Repository}} {{.Digest}}']), 'images'), new RegExp(`team/box ${digest}`));

    // Deleting the manifest and collecting garbage frees the blobs (the server stopped, as gc wants).
    const del = await reg.req('DELETE', `/v2/team/box/manifests/${digest}`);
    assert.equal(del.status, 202);
    await reg.stop();
    const blobsBefore = spawnSync('find', [reg.root, '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
    const gc = spawnSync(process.execPath, [BARGE, 'registry', 'gc', '--root', reg.root], { encoding: 'utf8' });
    assert.equal(gc.status, 0, gc.stderr);
    const blobsAfter = spawnSync('find', [reg.root, '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
    assert.ok(blobsAfter < blobsBefore, `gc freed nothing: ${blobsBefore} -> ${blobsAfter}\n${gc.stdout}`);
  });

  test('htpasswd: push denied until barge login; token auth with the server\'s own tokens', async () => {
    const dir = fs.mkdtempSync('/tmp/bt-htp-');
    try {
      const htpasswd = path.join(dir, 'htpasswd');
      fs.writeFileSync(htpasswd, `alice:${bcrypt.hashSync('s3cret', 8)}\n`);
      for (const mode of [['--htpasswd', htpasswd], ['--auth', 'token', '--htpasswd', htpasswd]]) {
        const reg = await startRegistry(mode);
        regs.push(reg);
        const ref = `${reg.host}/alice/box:1`;
        ok(d.barge(['tag', (await d.api('GET', '/images/json')).body.find((i: { RepoTags: string[] }) => i.RepoTags?.length).RepoTags[0], ref]), 'tag');
        const denied = d.barge(['push', ref]);
        assert.notEqual(denied.code, 0, `${mode.join(' ')}: push without login`);
        assert.match(denied.stderr, /unauthorized|authentication required|denied/i);
        const bad = d.barge(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 'wrong\n' });
        assert.notEqual(bad.code, 0);
        assert.match(ok(d.barge(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 's3cret\n' }), 'login'), /Login Succeeded/);
        ok(d.barge(['push', ref]), `${mode.join(' ')}: push after login`);
        ok(d.barge(['rmi', ref]), 'rmi');
        ok(d.barge(['pull', ref]), 'pull after login');
        ok(d.barge(['logout', reg.host]), 'logout');
        ok(d.barge(['rmi', ref]), 'rmi');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
