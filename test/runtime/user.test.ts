import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { resolveUser, resolveUserSpec, withHome } from '../../src/runtime/user.js';
import { openInRoot, readFileInRoot } from '../../src/runtime/rootpath.js';
import { BargeError } from '../../src/lib/errors.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
alice:x:1000:1000:Alice:/home/alice:/bin/sh
broken:x:notanumber:1::/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
wheel:x:10:root,alice
audio:x:29:alice
alice:x:1000:
staff:x:50:
nogroup:x:65534:
`;

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rttest-user-'));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function rejects(fn: () => unknown, message: string) {
  assert.throws(fn, (e: unknown) => e instanceof BargeError && e.kind === 'invalid' && e.message === message);
}

test('user specs resolve like runc/Docker', () => {
  assert.deepEqual(resolveUserSpec('', PASSWD, GROUP), { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root', name: 'root' });
  assert.deepEqual(resolveUserSpec('alice', PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/alice', name: 'alice' });
  assert.deepEqual(resolveUserSpec('1000', PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/alice', name: 'alice' });
  // Numeric without an entry: taken as is, gid 0, home /.
  assert.deepEqual(resolveUserSpec('4242', PASSWD, GROUP), { uid: 4242, gid: 0, additionalGids: [0], home: '/' });
  // Explicit group: no supplementary groups.
  assert.deepEqual(resolveUserSpec('alice:staff', PASSWD, GROUP), { uid: 1000, gid: 50, additionalGids: [50], home: '/home/alice', name: 'alice' });
  assert.deepEqual(resolveUserSpec('nobody:29', PASSWD, GROUP).gid, 29);
  assert.deepEqual(resolveUserSpec('0:4242', PASSWD, GROUP).additionalGids, [4242]);
  assert.deepEqual(resolveUserSpec('daemon', PASSWD, GROUP, ['audio', '777', 'audio']).additionalGids, [1, 29, 777]);
  rejects(() => resolveUserSpec('foo', PASSWD, GROUP), 'unable to find user foo: no matching entries in passwd file');
  rejects(() => resolveUserSpec('alice:bar', PASSWD, GROUP), 'unable to find group bar: no matching entries in group file');
  rejects(() => resolveUserSpec('broken', PASSWD, GROUP), 'unable to find user broken: no matching entries in passwd file');
  rejects(() => resolveUserSpec('root', PASSWD, GROUP, ['nosuch']), 'Unable to find group nosuch: no matching entries in group file');
  rejects(() => resolveUserSpec('-1', PASSWD, GROUP), 'uids and gids must be in range 0-2147483647');
  rejects(() => resolveUserSpec('99999999999', PASSWD, GROUP), 'uids and gids must be in range 0-2147483647');
  // No passwd/group files at all: names fail, ids work.
  assert.deepEqual(resolveUserSpec('', undefined, undefined), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
  assert.deepEqual(resolveUserSpec('12:34', undefined, undefined), { uid: 12, gid: 34, additionalGids: [34], home: '/' });
  rejects(() => resolveUserSpec('root', undefined, undefined), 'unable to find user root: no matching entries in passwd file');
  assert.deepEqual(withHome(['A=1'], '/root'), ['A=1', 'HOME=/root']);
  assert.deepEqual(withHome(['HOME=/x'], '/root'), ['HOME=/x']);
});

test('resolveUser reads the image\'s files, following links inside the rootfs', () => {
  const root = tmp();
  fs.mkdirSync(path.join(root, 'real-etc'));
  fs.mkdirSync(path.join(root, 'data'));
  fs.symlinkSync('real-etc', path.join(root, 'etc')); // relative directory link
  fs.writeFileSync(path.join(root, 'data/passwd'), PASSWD);
  fs.symlinkSync('/data/passwd', path.join(root, 'real-etc/passwd')); // absolute: means <rootfs>/data/passwd
  fs.writeFileSync(path.join(root, 'real-etc/group'), GROUP);
  const u = resolveUser(root, 'alice');
  assert.deepEqual(u, { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/alice', name: 'alice' });
  assert.equal(readFileInRoot(root, '/etc/../etc/./group')!.toString(), GROUP);
  assert.equal(readFileInRoot(root, 'nope/passwd'), undefined);
});

test('a hostile rootfs cannot make us read host files', () => {
  // The host's /etc/passwd has "daemon"; reading it through any of these links would resolve the user.
  assert.match(fs.readFileSync('/etc/passwd', 'utf8'), /^daemon:/m);

  const cases: [string, (root: string) => void][] = [
    ['absolute link to the host file', (r) => { fs.mkdirSync(path.join(r, 'etc')); fs.symlinkSync('/etc/passwd', path.join(r, 'etc/passwd')); }],
    ['dot-dot link', (r) => { fs.mkdirSync(path.join(r, 'etc')); fs.symlinkSync('../../../../../../../../etc/passwd', path.join(r, 'etc/passwd')); }],
    ['/etc is a link to the host /etc', (r) => { fs.symlinkSync('/etc', path.join(r, 'etc')); }],
    ['/etc is a dot-dot link', (r) => { fs.symlinkSync('../../../../../../../etc', path.join(r, 'etc')); }],
    ['link to /proc/self/root', (r) => { fs.mkdirSync(path.join(r, 'etc')); fs.symlinkSync('/proc/self/root/etc/passwd', path.join(r, 'etc/passwd')); }],
    ['link chain through a dot-dot dir', (r) => {
      fs.mkdirSync(path.join(r, 'a/b'), { recursive: true });
      fs.symlinkSync('../../..', path.join(r, 'a/b/up'));
      fs.mkdirSync(path.join(r, 'etc'));
      fs.symlinkSync('/a/b/up/../../etc/passwd', path.join(r, 'etc/passwd'));
    }],
  ];
  for (const [name, setup] of cases) {
    const root = tmp();
    setup(root);
    assert.throws(() => resolveUser(root, 'daemon'), /unable to find user daemon: no matching entries in passwd file/, name);
  }

  // The link to "/etc/shadow" is followed to the rootfs's own /etc/shadow, never the host's.
  const root = tmp();
  fs.mkdirSync(path.join(root, 'etc'));
  fs.symlinkSync('/etc/shadow', path.join(root, 'etc/passwd'));
  fs.writeFileSync(path.join(root, 'etc/shadow'), 'inside:x:7:7::/in:/bin/sh\n');
  assert.equal(resolveUser(root, 'inside').uid, 7);
  assert.throws(() => resolveUser(root, 'root'), /unable to find user root/);
});

test('hostile file types: loops, FIFOs, devices and directories are treated as missing', { timeout: 5000 }, () => {
  const loop = tmp();
  fs.mkdirSync(path.join(loop, 'etc'));
  fs.symlinkSync('passwd', path.join(loop, 'etc/passwd'));
  assert.throws(() => openInRoot(loop, '/etc/passwd'), (e: NodeJS.ErrnoException) => e.code === 'ELOOP');
  assert.deepEqual(resolveUser(loop, '0'), { uid: 0, gid: 0, additionalGids: [0], home: '/' });

  const fifo = tmp();
  fs.mkdirSync(path.join(fifo, 'etc'));
  execFileSync('mkfifo', [path.join(fifo, 'etc/passwd')]);
  rejects(() => resolveUser(fifo, 'root'), 'unable to find user root: no matching entries in passwd file'); // and does not hang

  const dev = tmp();
  fs.mkdirSync(path.join(dev, 'etc'));
  fs.symlinkSync('/dev/zero', path.join(dev, 'etc/passwd')); // <rootfs>/dev/zero: absent
  fs.mkdirSync(path.join(dev, 'dev'));
  execFileSync('mknod', [path.join(dev, 'dev/zero'), 'c', '1', '5']);
  rejects(() => resolveUser(dev, 'root'), 'unable to find user root: no matching entries in passwd file');

  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'etc/passwd'), { recursive: true });
  assert.equal(resolveUser(dir, '').uid, 0);
});
