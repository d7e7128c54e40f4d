// What a container is isolated from, through `barge run --rm busybox …` as a user types it: its own
// namespaces and root filesystem, a minimal /dev, read-only and masked kernel files, Docker's default
// capabilities and seccomp profile, and the user, workdir, environment, entrypoint and init it asked for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNothingLeft } from '../helpers/engine.js';

let d: TestDaemon;
before(async () => { d = await startDaemon(); });
after(async () => { await d?.cleanup(); });

/** `barge run --rm [flags] busybox cmd...`, expecting success; returns stdout. */
function run(flags: string[], cmd: string[]): string {
  const r = d.barge(['run', '--rm', ...flags, 'busybox', ...cmd]);
  assert.equal(r.code, 0, `run ${[...flags, ...cmd].join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
const sh = (script: string, flags: string[] = []) => run(flags, ['sh', '-c', script]);

/** The capability sets of /proc/self/status text, as hex strings. */
function caps(status: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of status.matchAll(/^(Cap\w+|NoNewPrivs|Seccomp):\s*(\S+)$/gm)) out[m[1]!] = m[2]!;
  return out;
}
const hostStatus = caps(fs.readFileSync('/proc/self/status', 'utf8'));

test('a private pid namespace: the command is pid 1 and sees no host process', () => {
  const ps = run([], ['ps', '-o', 'pid,comm']);
  assert.equal(ps, 'PID   COMMAND\n    1 ps\n');
  assert.equal(sh('echo /proc/[0-9]*'), '/proc/1\n', 'the shell sees only itself');
});

test('uts, ipc, net, pid and mount namespaces are not the host\'s', () => {
  const kinds = ['uts', 'ipc', 'net', 'pid', 'mnt'];
  const inside = sh(kinds.map((k) => `readlink /proc/self/ns/${k}`).join('; ')).trim().split('\n');
  assert.equal(inside.length, kinds.length);
  kinds.forEach((k, i) => {
    const host = fs.readlinkSync(`/proc/self/ns/${k}`);
    assert.match(inside[i]!, new RegExp(`^${k}:\\[\\d+\\]$`));
    assert.notEqual(inside[i], host, `${k} namespace is the host's`);
  });
  // Two containers alive at once have namespaces of their own.
  const first = d.barge(['run', '-d', '--name', 'ns1', 'busybox', 'sleep', '300']);
  assert.equal(first.code, 0, first.stderr);
  const ns1 = d.barge(['exec', 'ns1', 'sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/uts']).stdout;
  const ns2 = sh('readlink /proc/self/ns/net; readlink /proc/self/ns/uts');
  assert.match(ns1, /^net:\[\d+\]\nuts:\[\d+\]\n$/);
  assert.match(ns2, /^net:\[\d+\]\nuts:\[\d+\]\n$/);
  const [n1, u1] = ns1.trim().split('\n');
  const [n2, u2] = ns2.trim().split('\n');
  assert.notEqual(n1, n2, 'two running containers share a network namespace');
  assert.notEqual(u1, u2, 'two running containers share a uts namespace');
  assert.equal(d.barge(['rm', '-f', 'ns1']).code, 0);
});

test('the hostname is the short container id, or -h; /etc/hostname and /etc/hosts agree', () => {
  const r = d.barge(['run', '--name', 'hn', 'busybox', 'sh', '-c', 'hostname; cat /etc/hostname']);
  assert.equal(r.code, 0, r.stderr);
  const id = d.barge(['inspect', '-f', '{{.Id}}', 'hn']).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(r.stdout, `${id.slice(0, 12)}\n${id.slice(0, 12)}\n`);
  assert.equal(d.barge(['rm', 'hn']).code, 0);

  const out = sh('hostname; cat /etc/hostname; grep -c myhost /etc/hosts', ['-h', 'myhost']);
  assert.equal(out, 'myhost\nmyhost\n1\n');
});

test('/etc/hosts, /etc/hostname and /etc/resolv.conf are generated for the container', () => {
  const id = d.barge(['run', '-d', '--name', 'etc', 'busybox', 'sleep', '300']).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ip = d.barge(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'etc']).stdout.trim();
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
  const hosts = d.barge(['exec', 'etc', 'cat', '/etc/hosts']).stdout;
  assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(hosts, /^::1\tlocalhost ip6-localhost ip6-loopback$/m);
  assert.match(hosts, new RegExp(`^${ip.replace(/\./g, '\\.')}\\t${id.slice(0, 12)}$`, 'm'));
  assert.equal(d.barge(['exec', 'etc', 'cat', '/etc/hostname']).stdout, `${id.slice(0, 12)}\n`);
  assert.match(d.barge(['exec', 'etc', 'cat', '/etc/resolv.conf']).stdout, /^nameserver \S+$/m);
  // They are the files inspect names, bind-mounted (the image's own /etc files are untouched).
  const paths = d.barge(['inspect', '-f', '{{.HostsPath}} {{.HostnamePath}} {{.ResolvConfPath}}', 'etc']).stdout.trim().split(' ');
  assert.equal(fs.readFileSync(paths[0]!, 'utf8'), hosts);
  assert.equal(fs.readFileSync(paths[1]!, 'utf8'), `${id.slice(0, 12)}\n`);
  const mounts = d.barge(['exec', 'etc', 'cat', '/proc/self/mountinfo']).stdout;
  for (const f of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) assert.match(mounts, new RegExp(` ${f} `), `${f} is a mount`);
  assert.equal(d.barge(['rm', '-f', 'etc']).code, 0);
});

test('an overlay root filesystem: writes stay in the container, the image does not change', () => {
  const r = d.barge(['run', '--name', 'writer', 'busybox', 'sh', '-c', 'echo secret > /etc/written; rm /bin/ls; cat /etc/written']);
  assert.equal(r.stdout, 'secret\n');
  assert.equal(r.code, 0, r.stderr);
  assert.match(sh('grep " / " /proc/mounts'), /^overlay \/ overlay /);
  const other = d.barge(['run', '--rm', 'busybox', 'sh', '-c', 'cat /etc/written; ls / >/dev/null && echo ls-still-there']);
  assert.match(other.stderr, /cat: can't open '\/etc\/written': No such file or directory/);
  assert.equal(other.stdout, 'ls-still-there\n');
  // The first container's layer keeps its change: start it again and look.
  const again = d.barge(['start', '-a', 'writer']);
  assert.equal(again.stdout, 'secret\n');
  assert.equal(d.barge(['rm', 'writer']).code, 0);
});

test('/proc/sys and /sys are read-only; /proc/keys, /proc/timer_list, /proc/acpi are masked', () => {
  const ro = d.barge(['run', '--rm', 'busybox', 'sh', '-c', 'echo 1 > /proc/sys/kernel/printk_ratelimit; echo rc=$?; mkdir /sys/x; echo rc=$?']);
  assert.equal(ro.stdout, 'rc=1\nrc=1\n');
  assert.match(ro.stderr, /can't create \/proc\/sys\/kernel\/printk_ratelimit: Read-only file system/);
  assert.match(ro.stderr, /mkdir: can't create directory '\/sys\/x': Read-only file system/);
  assert.ok(fs.readFileSync('/proc/timer_list').length > 0, 'the host has a /proc/timer_list to hide');
  assert.equal(sh('wc -c < /proc/keys; wc -c < /proc/timer_list; ls /proc/acpi | wc -l'), '0\n0\n0\n');
  if (fs.existsSync('/proc/kcore')) assert.equal(sh('wc -c < /proc/kcore'), '0\n');
  const mounts = sh('cat /proc/mounts');
  assert.match(mounts, /^proc \/proc\/sys proc ro,/m);
  assert.match(mounts, /^sysfs \/sys sysfs ro,/m);
  assert.match(mounts, /^cgroup \/sys\/fs\/cgroup\/\S+ cgroup ro,|^cgroup2? \/sys\/fs\/cgroup cgroup2? ro,/m);
});

test('/dev is minimal: the standard nodes, pts, shm and mqueue, no host disks', () => {
  assert.deepEqual(run([], ['ls', '/dev']).trim().split('\n'),
    ['fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
  const hostDisks = fs.readdirSync('/dev').filter((n) => /^(sd|vd|nvme|xvd|loop)/.test(n));
  assert.ok(hostDisks.length > 0, 'the host has disks to hide');
  assert.equal(sh(`for f in ${hostDisks.slice(0, 5).map((n) => '/dev/' + n).join(' ')}; do [ -e $f ] && echo $f; done; true`), '');
  assert.equal(sh('stat -c "%n %F %t,%T" /dev/null /dev/zero /dev/random /dev/urandom /dev/tty /dev/full'),
    '/dev/null character special file 1,3\n/dev/zero character special file 1,5\n/dev/random character special file 1,8\n' +
    '/dev/urandom character special file 1,9\n/dev/tty character special file 5,0\n/dev/full character special file 1,7\n');
  const full = d.barge(['run', '--rm', 'busybox', 'sh', '-c', 'echo x > /dev/full']);
  assert.notEqual(full.code, 0);
  assert.match(full.stderr, /No space left on device/);
  assert.match(sh('grep -E " /dev/(shm|pts|mqueue) " /proc/mounts'), /^devpts \/dev\/pts devpts .*\nmqueue \/dev\/mqueue mqueue .*\nshm \/dev\/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k/);
  // Device nodes the cgroup does not allow cannot be made or used.
  const mknod = d.barge(['run', '--rm', 'busybox', 'sh', '-c', 'mknod /tmp/sda b 8 0 && head -c1 /tmp/sda']);
  assert.notEqual(mknod.code, 0);
  assert.match(mknod.stderr, /Operation not permitted/);
});

test('capabilities: Docker\'s default set, --cap-drop ALL, --cap-add SYS_ADMIN', () => {
  const dflt = caps(run([], ['cat', '/proc/self/status']));
  assert.equal(dflt.CapEff, '00000000a80425fb');
  assert.equal(dflt.CapPrm, '00000000a80425fb');
  assert.equal(dflt.CapBnd, '00000000a80425fb');
  assert.equal(dflt.CapInh, '0000000000000000');
  const none = caps(run(['--cap-drop', 'ALL'], ['cat', '/proc/self/status']));
  assert.equal(none.CapEff, '0000000000000000');
  assert.equal(none.CapBnd, '0000000000000000');
  const admin = caps(run(['--cap-add', 'SYS_ADMIN'], ['cat', '/proc/self/status']));
  assert.equal(admin.CapEff, '00000000a82425fb', 'bit 21 (CAP_SYS_ADMIN) added');
  // Without CAP_CHOWN, root cannot chown a file it does not own.
  const chown = d.barge(['run', '--rm', '--cap-drop', 'CHOWN', 'busybox', 'sh', '-c', 'touch /tmp/f && chown 1000 /tmp/f']);
  assert.equal(chown.code, 1);
  assert.match(chown.stderr, /Operation not permitted/);
  const bad = d.barge(['run', '--rm', '--cap-add', 'NOT_A_CAP', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /unknown capability: "CAP_NOT_A_CAP"/);
});

test('--privileged runs, with every capability this host can grant, host devices and no masks', () => {
  const r = d.barge(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'cat /proc/self/status; echo ---; ls /dev; echo ---; wc -c < /proc/timer_list; grep " /sys " /proc/mounts']);
  assert.equal(r.code, 0, r.stderr);
  const [status, dev, rest] = r.stdout.split('---\n');
  const c = caps(status!);
  assert.equal(c.CapEff, hostStatus.CapBnd, 'clamped to the host\'s bounding set');
  assert.equal(c.CapBnd, hostStatus.CapBnd);
  assert.equal(c.Seccomp, '0', 'no seccomp filter');
  const hostBnd = BigInt('0x' + hostStatus.CapBnd);
  if ((hostBnd & (1n << 24n)) === 0n) {
    assert.match(r.stderr, /WARNING: This host cannot grant CAP_SYS_RESOURCE \(not in its capability bounding set\): the container runs without it/);
  } else {
    assert.equal(r.stderr, '');
  }
  const devs = dev!.trim().split('\n');
  for (const n of ['kmsg', 'mem'].filter((x) => fs.existsSync('/dev/' + x))) assert.ok(devs.includes(n), `/dev/${n} is there`);
  const [timerList, sysMount] = rest!.trim().split('\n');
  assert.ok(Number(timerList) > 0, '/proc/timer_list is not masked');
  assert.match(sysMount!, /^sysfs \/sys sysfs rw,/);
});

test('seccomp: Docker\'s default profile blocks unshare -U; seccomp=unconfined allows it', () => {
  const blocked = d.barge(['run', '--rm', 'busybox', 'unshare', '-U', 'true']);
  assert.equal(blocked.code, 1);
  assert.match(blocked.stderr, /unshare\(0x10000000\): Operation not permitted/);
  assert.equal(caps(run([], ['cat', '/proc/self/status'])).Seccomp, '2', 'filter mode');
  const free = d.barge(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'sh', '-c', 'unshare -U true && echo unshared; grep "^Seccomp:" /proc/self/status']);
  assert.equal(free.code, 0, free.stderr);
  assert.equal(free.stdout, 'unshared\nSeccomp:\t0\n');
  const bad = d.barge(['run', '--rm', '--security-opt', 'seccomp=/no/such/profile.json', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /\/no\/such\/profile\.json/);
});

test('--security-opt no-new-privileges sets NoNewPrivs', () => {
  assert.equal(caps(run([], ['cat', '/proc/self/status'])).NoNewPrivs, '0');
  assert.equal(caps(run(['--security-opt', 'no-new-privileges'], ['cat', '/proc/self/status'])).NoNewPrivs, '1');
  assert.equal(caps(run(['--security-opt', 'no-new-privileges:true'], ['cat', '/proc/self/status'])).NoNewPrivs, '1');
  const bad = d.barge(['run', '--rm', '--security-opt', 'bogus', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /Invalid --security-opt: "bogus"/);
});

test('--read-only: the root is read-only, --tmpfs gives a writable /tmp', () => {
  const r = d.barge(['run', '--rm', '--read-only', '--tmpfs', '/tmp', 'busybox', 'sh', '-c', 'touch /x; echo rc=$?; echo ok > /tmp/y && cat /tmp/y; grep " /tmp " /proc/mounts']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /touch: \/x: Read-only file system/);
  assert.match(r.stdout, /^rc=1\nok\ntmpfs \/tmp tmpfs rw,nosuid,nodev,noexec,/);
  const noTmp = d.barge(['run', '--rm', '--read-only', 'busybox', 'touch', '/tmp/z']);
  assert.equal(noTmp.code, 1);
  assert.match(noTmp.stderr, /Read-only file system/);
});

test('-u: a name, uid:gid, and an unknown name (Docker\'s error and exit code 125)', () => {
  assert.equal(run(['-u', 'nobody'], ['id']), 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n');
  assert.equal(run(['-u', '1000:1000'], ['id']), 'uid=1000 gid=1000 groups=1000\n');
  const denied = d.barge(['run', '--rm', '-u', 'nobody', 'busybox', 'touch', '/etc/x']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /Permission denied/);
  const before = d.barge(['ps', '-aq']).stdout;
  const unknown = d.barge(['run', '--rm', '-u', 'foo', 'busybox', 'id']);
  assert.equal(unknown.code, 125);
  assert.match(unknown.stderr, /unable to find user foo: no matching entries in passwd file/);
  assert.equal(unknown.stdout, '');
  assert.equal(d.barge(['ps', '-aq']).stdout, before, 'the failed --rm container is gone');
});

test('-w, -e, --env-file, --entrypoint', () => {
  assert.equal(run(['-w', '/tmp'], ['pwd']), '/tmp\n');
  assert.equal(run(['-w', '/made/for/you'], ['pwd']), '/made/for/you\n');
  const envFile = path.join(d.dir, 'env.list');
  fs.writeFileSync(envFile, '# a comment\nB=2\nC=from file\n');
  const env = run(['-e', 'A=1', '--env-file', envFile, '-e', 'C=flag wins'], ['env']).split('\n');
  for (const kv of ['A=1', 'B=2', 'C=flag wins', 'HOME=/root', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']) assert.ok(env.includes(kv), `${kv} in ${env.join(' ')}`);
  assert.ok(env.some((e) => /^HOSTNAME=[0-9a-f]{12}$/.test(e)));
  assert.equal(run(['--entrypoint', 'echo'], ['hi', 'there']), 'hi there\n');
  assert.equal(run(['--entrypoint', '/bin/sh'], ['-c', 'echo $0']), '/bin/sh\n');
});

test('--init: pid 1 is docker-init (tini), the command is its child', () => {
  const ps = run(['--init'], ['ps', '-o', 'pid,ppid,comm']);
  const rows = ps.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(rows[0], ['1', '0', 'docker-init']);
  assert.deepEqual(rows.find((r) => r[2] === 'ps')?.[1], '1', 'ps runs under the init');
  assert.match(run(['--init'], ['cat', '/proc/1/cmdline']).replace(/\0/g, ' '), /^\/sbin\/docker-init -- cat \/proc\/1\/cmdline $/);
});

test('nothing is left on the host once every container is removed', async () => {
  await assertNothingLeft(d);
});
