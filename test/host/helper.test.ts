// Host operations (src/host/helper.ts) with bargehelper and without it (the tools' fallback):
// both paths must give the same results, errors included. Real mounts and namespaces, as root.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, mountFs, runProgram, stopHelper, unmountFs, useHelper } from '../../src/host/helper.js';
import { isMountPoint } from '../../src/snapshot/mount.js';

const HELPER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/bargehelper');

for (const mode of ['bargehelper', 'tools'] as const) {
  describe(`host operations through ${mode}`, () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bhelper-'));
      if (mode === 'bargehelper') useHelper(HELPER); else stopHelper();
    });
    after(async () => {
      stopHelper();
      for (const m of ['mnt', 'ns']) await unmountFs(path.join(dir, m)).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('mount, unmount, unmount again (not mounted), a bad mount named in its error', async () => {
      const mnt = path.join(dir, 'mnt');
      fs.mkdirSync(mnt);
      await mountFs({ cwd: dir, source: 'tmpfs', target: mnt, fstype: 'tmpfs', data: 'size=1m' });
      assert.equal(isMountPoint(mnt), true);
      assert.equal(await unmountFs(mnt), true);
      assert.equal(isMountPoint(mnt), false);
      assert.equal(await unmountFs(mnt), false);
      assert.equal(await unmountFs(path.join(dir, 'gone')), false);
      await assert.rejects(mountFs({ cwd: dir, source: 'x', target: mnt, fstype: 'nosuchfs', data: '' }), (e: Error) => e.message.includes(mnt));
      assert.equal(isMountPoint(mnt), false);
    });

    test('a busy mount is detached lazily', async () => {
      const mnt = path.join(dir, 'mnt');
      fs.mkdirSync(mnt, { recursive: true });
      await mountFs({ cwd: dir, source: 'tmpfs', target: mnt, fstype: 'tmpfs', data: 'size=1m' });
      const fd = fs.openSync(path.join(mnt, 'held'), 'w');
      try {
        assert.equal(await unmountFs(mnt), true);
        assert.equal(isMountPoint(mnt), false);
      } finally {
        fs.closeSync(fd);
      }
    });

    test('a new network namespace has lo, up, and nothing else; programs run inside it', async () => {
      const ns = path.join(dir, 'ns');
      fs.closeSync(fs.openSync(ns, 'wx', 0o444));
      await createNetns(ns);
      const r = await runProgram(['ip', '-o', 'link'], { netns: ns });
      assert.equal(r.code, 0, r.stderr);
      const links = r.stdout.trim().split('\n');
      assert.equal(links.length, 1, r.stdout);
      assert.match(links[0]!, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
      assert.equal(await unmountFs(ns), true);
    });

    test('programs: stdin, stdout, stderr and the exit status; a missing one is 127', async () => {
      const r = await runProgram(['sh', '-c', 'cat; echo oops >&2; exit 3'], { input: 'line one\nline two\n' });
      assert.deepEqual(r, { code: 3, stdout: 'line one\nline two\n', stderr: 'oops\n' });
      const big = await runProgram(['sh', '-c', `yes abcdefg | head -c ${3 << 20}`]);
      assert.equal(big.code, 0);
      assert.equal(big.stdout.length, 3 << 20, 'output past 64 KiB comes whole');
      assert.equal(big.stdout.slice(0, 16), 'abcdefg\nabcdefg\n');
      const missing = await runProgram(['barge-no-such-program']);
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /barge-no-such-program/);
      const own = await runProgram(['sh', '-c', 'ps -o sid= -p $$; ps -o sid= -p $PPID'], { setsid: true });
      const [sid, parentSid] = own.stdout.trim().split(/\s+/);
      assert.notEqual(sid, parentSid, 'setsid: a session of its own');
    });
  });
}
