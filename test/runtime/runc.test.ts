// Specs from buildSpec, run for real by runc on a busybox rootfs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { busyboxRootfs, cleanup, deleteContainer, haveRunc, makeSpec, runContainer, runcState, startDetached, uniqueId } from './helpers.js';
import { probeHost } from '../../src/runtime/host.js';
import { capsToMask } from '../../src/runtime/capabilities.js';
import { readCgroupStats, readOomEvidence, listCgroupPids, allCgroupDirs } from '../../src/runtime/cgroups.js';
import { resolveUser } from '../../src/runtime/user.js';

const skip = haveRunc ? false : 'needs root and /usr/sbin/runc';
const MiB = 1024 * 1024;

after(cleanup);

async function run(tag: string, hostConfig: Parameters<typeof makeSpec>[0], script: string, extra: Parameters<typeof makeSpec>[2] = {}) {
  const id = uniqueId(tag);
  try {
    return await runContainer(id, makeSpec(hostConfig, ['sh', '-c', script], extra, id));
  } finally {
    await deleteContainer(id);
  }
}

test('default capabilities are exactly Docker\'s (CapEff a80425fb)', { skip }, async () => {
  const r = await run('caps', {}, 'grep -E "^Cap(Eff|Prm|Bnd|Inh|Amb)" /proc/self/status');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CapEff:\s*00000000a80425fb/);
  assert.match(r.stdout, /CapPrm:\s*00000000a80425fb/);
  assert.match(r.stdout, /CapBnd:\s*00000000a80425fb/);
  assert.match(r.stdout, /CapInh:\s*0000000000000000/);
});

test('--privileged runs on a host that lacks a capability (clamped, not failed)', { skip }, async () => {
  const id = uniqueId('priv');
  const res = makeSpec({ Privileged: true }, ['sh', '-c', 'grep CapEff /proc/self/status; ls /dev | grep -c . ; touch /sys/fs/cgroup/x 2>&1; true'], {}, id);
  try {
    const r = await runContainer(id, res);
    assert.equal(r.code, 0, r.stderr);
    const want = capsToMask(probeHost().capabilities).toString(16).padStart(16, '0');
    assert.match(r.stdout, new RegExp(`CapEff:\\s*${want}`));
    if (!probeHost().capabilities.includes('CAP_SYS_RESOURCE')) assert.equal(res.warnings.length, 1);
  } finally {
    await deleteContainer(id);
  }
});

test('a 32m memory limit OOM-kills a process that allocates more; the evidence is readable', { skip }, async () => {
  const id = uniqueId('oom');
  const res = makeSpec({ Memory: 32 * MiB }, ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived ${#x}'], {}, id);
  try {
    const r = await runContainer(id, res, { keep: true });
    assert.equal(r.code, 137, `expected a SIGKILL, got ${r.code}: ${r.stdout} ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /survived/);
    const ev = readOomEvidence(`/rttest/${id}`)!;
    assert.ok(ev, 'cgroup still there (runc run --keep)');
    assert.ok(ev.oomKills >= 1, JSON.stringify(ev));
    assert.ok(ev.limitHits >= 1);
  } finally {
    await deleteContainer(id);
  }
  assert.equal(readOomEvidence(`/rttest/${id}`), undefined);
});

test('the pids limit holds a (bounded) fork bomb', { skip }, async () => {
  const r = await run('pids', { PidsLimit: 10 }, 'for i in $(seq 40); do sleep 5 & echo started; done; echo all-started');
  const started = r.stdout.split('\n').filter((l) => l === 'started').length;
  assert.ok(started <= 9, `started ${started}`);
  assert.doesNotMatch(r.stdout, /all-started/);
  assert.match(r.stderr, /can't fork/);
});

test('seccomp: the default profile blocks unshare(CLONE_NEWUSER); unconfined allows it', { skip }, async () => {
  const confined = await run('seccomp', {}, 'unshare -U true && echo unshared');
  assert.notEqual(confined.code, 0);
  assert.match(confined.stderr, /Operation not permitted/);
  const unconfined = await run('seccomp-unconfined', { SecurityOpt: ['seccomp=unconfined'] }, 'unshare -U true && echo unshared');
  assert.equal(unconfined.code, 0, unconfined.stderr);
  assert.match(unconfined.stdout, /unshared/);
});

test('masked and read-only /proc paths', { skip }, async () => {
  const host = fs.readFileSync('/proc/timer_list').length;
  assert.ok(host > 0);
  const r = await run('masked', {}, [
    'for f in /proc/timer_list /proc/keys /proc/interrupts /proc/kcore; do [ -e $f ] && echo "$f $(wc -c < $f)"; done',
    'ls /sys/firmware | wc -l',
    'echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable',
    'echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable',
    'true',
  ].join('; '));
  assert.equal(r.code, 0, r.stderr);
  for (const line of r.stdout.trim().split('\n').slice(0, -1)) assert.match(line, / 0$/, line);
  assert.match(r.stdout, /\/proc\/timer_list 0/);
  assert.equal(r.stdout.trim().split('\n').at(-1), '0');
  assert.doesNotMatch(r.stdout, /writable/);
});

test('ReadonlyRootfs: / is read-only, /dev/shm and --tmpfs are not', { skip }, async () => {
  const r = await run('ro', { ReadonlyRootfs: true, Tmpfs: { '/run': '' } },
    'touch /x 2>&1; touch /dev/shm/y && echo shm-ok; touch /run/z && echo run-ok');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /shm-ok/);
  assert.match(r.stdout, /run-ok/);
  assert.ok(!fs.existsSync(`${busyboxRootfs()}/x`));
});

test('rlimits: the default open-files limit is the host\'s hard limit; --ulimit applies', { skip }, async () => {
  const hard = probeHost().rlimits.RLIMIT_NOFILE!.hard;
  const r = await run('nofile', {}, 'ulimit -n; ulimit -Hn');
  assert.equal(r.code, 0, r.stderr);
  const want = Math.min(hard, 1048576);
  assert.deepEqual(r.stdout.trim().split('\n'), [String(want), String(want)]);
  const asked = await run('nofile2', { Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }, { Name: 'nproc', Soft: 5000, Hard: 6000 }] }, 'ulimit -n; ulimit -Hn; ulimit -u');
  assert.equal(asked.code, 0, asked.stderr);
  assert.deepEqual(asked.stdout.trim().split('\n'), ['100', '200', '5000']);
  // More than the host allows: clamped, and runc no longer fails with "error setting rlimit type 7".
  const big = await run('nofile3', { Ulimits: [{ Name: 'nofile', Soft: hard + 1000, Hard: hard + 1000 }] }, 'ulimit -Hn');
  assert.equal(big.code, 0, big.stderr);
  assert.equal(big.stdout.trim(), String(hard));
});

test('--init runs docker-init (tini) as pid 1; -u resolves against the image', { skip }, async () => {
  const init = await run('init', { Init: true }, 'tr "\\0" " " < /proc/1/cmdline; echo; id -u');
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /^\/sbin\/docker-init -- sh -c /);
  const user = resolveUser(busyboxRootfs(), 'nobody');
  const r = await run('user', {}, 'id -u; id -g; id -G', { user });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['65534', '65534', '65534']);
});

test('cgroup stats of a running container; pids; cleanup of the cgroup', { skip }, async () => {
  const id = uniqueId('stats');
  const cg = `/rttest/${id}`;
  const res = makeSpec({ Memory: 64 * MiB, PidsLimit: 50 },
    ['sh', '-c', 'x=$(head -c 4000000 /dev/zero | tr "\\0" a); i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 1000 & wait'],
    {}, id);
  try {
    startDetached(id, res);
    const pid = runcState(id).pid;
    const deadline = Date.now() + 10000;
    const comm = (p: number) => { try { return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return ''; } };
    // Ready once the shell has done its work and sits in `wait` with one `sleep` child.
    while (!(listCgroupPids(cg).length === 2 && listCgroupPids(cg).some((p) => comm(p) === 'sleep')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const pids = listCgroupPids(cg);
    assert.ok(pids.includes(pid), `${pids} has ${pid}`);
    assert.equal(pids.length, 2);
    const s = readCgroupStats(cg);
    assert.ok(s.memory_stats.usage! > 1 * MiB, `usage ${s.memory_stats.usage}`);
    assert.equal(s.memory_stats.limit, 64 * MiB);
    assert.ok(s.memory_stats.stats!['rss'] !== undefined || s.memory_stats.stats!['anon'] !== undefined);
    assert.ok(s.cpu_stats.cpu_usage.total_usage > 1_000_000, `cpu ${s.cpu_stats.cpu_usage.total_usage}`);
    assert.ok(s.cpu_stats.cpu_usage.usage_in_usermode + s.cpu_stats.cpu_usage.usage_in_kernelmode > 0);
    assert.ok(s.cpu_stats.system_cpu_usage > 0);
    assert.equal(s.cpu_stats.online_cpus, probeHost().ncpu);
    if (probeHost().cgroupVersion === 1) assert.equal(s.cpu_stats.cpu_usage.percpu_usage!.length >= 1, true);
    assert.deepEqual(s.pids_stats, { current: 2, limit: 50 });
    assert.equal(readOomEvidence(cg)!.oomKills, 0);
    assert.ok(!Number.isNaN(Date.parse(s.read)));
  } finally {
    await deleteContainer(id);
  }
  for (const dir of allCgroupDirs(cg)) assert.ok(!fs.existsSync(dir), dir);
  const gone = readCgroupStats(cg);
  assert.deepEqual(gone.memory_stats, {});
  assert.equal(gone.pids_stats.current, undefined);
});
