// Resource limits as a user sets them on `barge run`: memory (and the OOM killer), swap, CPU quota,
// shares and cpuset, pids, ulimits (clamped to this host with a warning), stats, pause/unpause, and
// Docker's errors for values that make no sense. Containers see their own cgroup, read-only, at
// /sys/fs/cgroup, which is where the limits are read back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNothingLeft, sleep, until } from '../helpers/engine.js';

let d: TestDaemon;
before(async () => { d = await startDaemon(); });
after(async () => { await d?.cleanup(); });

/** cgroup v1 controllers (this host is a v1/v2 hybrid; a pure v2 host has none of these). */
const V1 = fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
const CG = V1
  ? { memLimit: 'memory/memory.limit_in_bytes', memSwap: 'memory/memory.memsw.limit_in_bytes', quota: 'cpu/cpu.cfs_quota_us', period: 'cpu/cpu.cfs_period_us', shares: 'cpu/cpu.shares', cpuset: 'cpuset/cpuset.cpus', pidsMax: 'pids/pids.max', pidsCur: 'pids/pids.current' }
  : { memLimit: 'memory.max', memSwap: 'memory.swap.max', quota: 'cpu.max', period: 'cpu.max', shares: 'cpu.weight', cpuset: 'cpuset.cpus', pidsMax: 'pids.max', pidsCur: 'pids.current' };

/** `barge run --rm [flags] busybox sh -c script`, expecting success; returns stdout. */
function sh(flags: string[], script: string): string {
  const r = d.barge(['run', '--rm', ...flags, 'busybox', 'sh', '-c', script]);
  assert.equal(r.code, 0, `run ${flags.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
const readCg = (flags: string[], ...files: string[]) => sh(flags, files.map((f) => `cat /sys/fs/cgroup/${f}`).join('; ')).trim().split('\n');

const inspect = (ref: string, fmt: string) => d.barge(['inspect', '-f', fmt, ref]).stdout.trim();

test('-m 32m and a memory hog: the OOM killer ends it, exit 137, inspect says OOMKilled', () => {
  const r = d.barge(['run', '--name', 'hog', '-m', '32m', 'busybox', 'sh', '-c', 'echo start; x=a; while true; do x=$x$x; done']);
  assert.equal(r.stdout, 'start\n');
  assert.equal(r.code, 137);
  assert.equal(inspect('hog', '{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}} {{.HostConfig.Memory}}'), 'true 137 exited 33554432');
  assert.match(d.barge(['ps', '-a', '--filter', 'name=hog', '--format', '{{.Status}}']).stdout, /^Exited \(137\) /);
  assert.equal(d.barge(['rm', 'hog']).code, 0);
  // A container killed by hand was not OOM-killed.
  assert.equal(d.barge(['run', '-d', '--name', 'killed', '-m', '32m', 'busybox', 'sleep', '300']).code, 0);
  assert.equal(d.barge(['kill', 'killed']).code, 0);
  assert.equal(d.barge(['wait', 'killed']).stdout, '137\n');
  assert.equal(inspect('killed', '{{.State.OOMKilled}} {{.State.ExitCode}}'), 'false 137');
  assert.equal(d.barge(['rm', 'killed']).code, 0);
});

test('-m and --memory-swap reach the cgroup; swap defaults to twice the memory, -1 is unlimited', () => {
  const [limit, swap] = readCg(['-m', '32m', '--memory-swap', '64m'], CG.memLimit, CG.memSwap);
  assert.equal(limit, '33554432');
  assert.equal(swap, V1 ? '67108864' : '33554432', 'v1: memory+swap; v2: swap alone');
  const [, dflt] = readCg(['-m', '32m'], CG.memLimit, CG.memSwap);
  assert.equal(dflt, V1 ? '67108864' : '33554432');
  const [, unlimited] = readCg(['-m', '32m', '--memory-swap', '-1'], CG.memLimit, CG.memSwap);
  assert.ok(unlimited === 'max' || Number(unlimited) > 2 ** 60, `unlimited swap, got ${unlimited}`);
  const id = d.barge(['create', '-m', '32m', 'busybox', 'true']).stdout.trim();
  assert.equal(inspect(id, '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}'), '33554432 67108864', 'stored as dockerd stores it');
  assert.equal(d.barge(['rm', id]).code, 0);
  const [none] = readCg([], CG.memLimit);
  assert.ok(none === 'max' || Number(none) > 2 ** 60, `no limit by default, got ${none}`);
});

test('--cpus 0.5 is a CFS quota of 50000 per 100000; --cpu-shares and --cpuset-cpus', () => {
  if (V1) {
    assert.deepEqual(readCg(['--cpus', '0.5'], CG.quota, CG.period), ['50000', '100000']);
    assert.deepEqual(readCg([], CG.quota), ['-1'], 'no quota by default');
    assert.deepEqual(readCg(['--cpu-shares', '512', '--cpuset-cpus', '0'], CG.shares, CG.cpuset), ['512', '0']);
    assert.deepEqual(readCg([], CG.shares), ['1024']);
  } else {
    assert.deepEqual(readCg(['--cpus', '0.5'], CG.quota), ['50000 100000']);
    assert.deepEqual(readCg(['--cpuset-cpus', '0'], CG.cpuset), ['0']);
  }
  assert.equal(sh(['--cpuset-cpus', '0'], 'grep Cpus_allowed_list /proc/self/status'), 'Cpus_allowed_list:\t0\n');
  const id = d.barge(['create', '--cpus', '0.5', '--cpu-shares', '512', '--cpuset-cpus', '0', 'busybox', 'true']).stdout.trim();
  assert.equal(inspect(id, '{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}}'), '500000000 512 0');
  assert.equal(d.barge(['rm', id]).code, 0);
});

test('--pids-limit 20 holds a fork bomb: forks fail, the container lives on', () => {
  // The bomb is a subshell that forks 40 sleepers; its forks fail past the limit and it gives up, while the
  // container's own shell (pid 1) goes on. Only builtins run after it: the pid budget is spent.
  const out = sh(['--pids-limit', '20'], [
    '(for i in $(seq 1 40); do sleep 3 & done) 2>/tmp/err; echo "bomb exit $?"',
    `read cur < /sys/fs/cgroup/${CG.pidsCur}; echo "current $cur"`,
    `read max < /sys/fs/cgroup/${CG.pidsMax}; echo "max $max"`,
    'read err < /tmp/err; echo "$err"',
    'echo alive',
  ].join('; '));
  const lines = out.trim().split('\n');
  assert.match(lines[0]!, /^bomb exit [1-9]\d*$/, 'the bomb failed');
  const cur = Number(/^current (\d+)$/.exec(lines[1]!)?.[1]);
  assert.ok(cur >= 15 && cur <= 20, `the bomb filled the budget but no more (${cur})`);
  assert.equal(lines[2], 'max 20');
  assert.match(lines[3]!, /can't fork: Resource temporarily unavailable/);
  assert.equal(lines[4], 'alive');
  assert.equal(inspect(d.barge(['create', '--pids-limit', '20', 'busybox']).stdout.trim(), '{{.HostConfig.PidsLimit}}'), '20');
});

test('--ulimit: applied as asked, clamped to the host\'s hard limit with a warning instead of failing', () => {
  const r = d.barge(['run', '--rm', '--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=300', 'busybox', 'sh', '-c', 'ulimit -Sn; ulimit -Hn; ulimit -u']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '1024\n2048\n300\n');
  assert.equal(r.stderr, '');
  const hostHard = Number(/^Max open files\s+\d+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]);
  const big = d.barge(['run', '--rm', '--ulimit', 'nofile=99999:99999', 'busybox', 'sh', '-c', 'ulimit -Sn; ulimit -Hn']);
  assert.equal(big.code, 0, big.stderr);
  if (hostHard < 99999) {
    assert.equal(big.stdout, `${hostHard}\n${hostHard}\n`);
    assert.equal(big.stderr, `WARNING: ulimit nofile=99999:99999 exceeds this host's hard limit (${hostHard}): using ${hostHard}:${hostHard}\n`);
  } else {
    assert.equal(big.stdout, '99999\n99999\n');
  }
  // Without --ulimit, Docker's default (1048576) is clamped quietly.
  const dflt = d.barge(['run', '--rm', 'busybox', 'sh', '-c', 'ulimit -Hn']);
  assert.equal(dflt.stdout, `${Math.min(hostHard, 1048576)}\n`);
  assert.equal(dflt.stderr, '');
  const bad = d.barge(['run', '--rm', '--ulimit', 'nofile=10:5', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /invalid argument "nofile=10:5" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 10 > 5/);
  const type = d.barge(['run', '--rm', '--ulimit', 'bogus=1', 'busybox', 'true']);
  assert.equal(type.code, 125);
  assert.match(type.stderr, /invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus/);
});

test('stats --no-stream: the 64MiB limit and real usage', () => {
  const id = d.barge(['run', '-d', '--name', 'st', '-m', '64m', 'busybox', 'sh', '-c', 'x=$(head -c 4000000 /dev/zero | tr "\\0" a); sleep 300']).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const r = d.barge(['stats', '--no-stream', 'st']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
  assert.equal(lines.length, 2);
  const m = new RegExp(`^${id.slice(0, 12)}\\s+st\\s+[\\d.]+%\\s+([\\d.]+)([KMG]i)?B / 64MiB\\s+([\\d.]+)%\\s+.*\\s+(\\d+)$`).exec(lines[1]!);
  assert.ok(m, `stats line: ${lines[1]}`);
  const usage = Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as 'Ki'] ?? 1);
  assert.ok(usage > 100 * 1024 && usage < 64 * 1024 * 1024, `real usage, got ${m[1]}${m[2] ?? ''}B`);
  assert.ok(Number(m[3]) > 0, 'MEM % above zero');
  assert.ok(Number(m[4]) >= 1, 'PIDS counts the processes');
  const fmt = d.barge(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', 'st']);
  assert.match(fmt.stdout, /^st [\d.]+[KMG]?i?B \/ 64MiB\n$/);
  assert.equal(d.barge(['rm', '-f', 'st']).code, 0);
});

/** The host path of the container's freezer state (v1) or cgroup.freeze (v2), from its pid. */
function freezerState(pid: number): string {
  const cg = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const v1 = /^\d+:freezer:(.*)$/m.exec(cg)?.[1];
  if (v1 !== undefined) return fs.readFileSync(`/sys/fs/cgroup/freezer${v1}/freezer.state`, 'utf8').trim();
  const v2 = /^0::(.*)$/m.exec(cg)![1];
  return fs.readFileSync(`/sys/fs/cgroup${v2}/cgroup.freeze`, 'utf8').trim() === '1' ? 'FROZEN' : 'THAWED';
}

test('pause freezes the container (FROZEN, a counter stops), unpause resumes it', async () => {
  const id = d.barge(['run', '-d', '--name', 'counter', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done']).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const pid = Number(inspect('counter', '{{.State.Pid}}'));
  assert.equal(freezerState(pid), 'THAWED');
  const count = () => d.barge(['logs', 'counter']).stdout.split('\n').filter(Boolean).length;
  await until('the counter to count', () => count() > 2);
  assert.equal(d.barge(['pause', 'counter']).stdout, 'counter\n');
  assert.equal(freezerState(pid), 'FROZEN');
  assert.equal(inspect('counter', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}'), 'paused true true');
  assert.match(d.barge(['ps', '--filter', 'name=counter', '--format', '{{.Status}}']).stdout, /^Up .* \(Paused\)\n$/);
  const frozenAt = count();
  await sleep(600);
  assert.equal(count(), frozenAt, 'no output while frozen');
  const again = d.barge(['pause', 'counter']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is already paused/);
  const rm = d.barge(['rm', 'counter']);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /container is paused and must be unpaused first/);
  assert.equal(d.barge(['unpause', 'counter']).stdout, 'counter\n');
  assert.equal(freezerState(pid), 'THAWED');
  await until('the counter to go on', () => count() > frozenAt);
  const un = d.barge(['unpause', 'counter']);
  assert.equal(un.code, 1);
  assert.match(un.stderr, /is not paused/);
  assert.equal(d.barge(['rm', '-f', 'counter']).code, 0);
});

test('invalid limits: exit 125 with Docker\'s messages, and no container is made', () => {
  const before = d.barge(['ps', '-aq']).stdout;
  const cases: [string[], RegExp][] = [
    [['-m', '12x'], /invalid argument "12x" for "-m, --memory" flag: invalid suffix: 'x'/],
    [['-m', '4m'], /Error response from daemon: Minimum memory limit allowed is 6MB/],
    [['-m', '32m', '--memory-swap', '16m'], /Minimum memoryswap limit should be larger than memory limit, see usage/],
    [['--memory-swap', '64m'], /You should always set the Memory limit when using Memoryswap limit, see usage/],
    // (barge checks the range in the CLI already, docker in the daemon: the message is the same)
    [['--cpus', '-1'], /[Rr]ange of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/],
    [['--cpus', '1000'], /[Rr]ange of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/],
    [['--cpus', 'abc'], /invalid argument "abc" for "--cpus" flag/],
    [['--pids-limit', 'abc'], /invalid argument "abc" for "--pids-limit" flag: strconv\.ParseInt: parsing "abc": invalid syntax/],
    [['--cpu-shares', 'x'], /invalid argument "x" for "-c, --cpu-shares" flag/],
    [['--cpuset-cpus', 'abc'], /Invalid value abc for cpuset cpus: invalid format: abc/],
    [['--cpuset-cpus', '4096'], /Requested CPUs are not available - requested 4096, available: [\d,-]+/],
    [['--memory-swappiness', '101'], /Invalid value: 101, valid memory swappiness range is 0-100/],
  ];
  for (const [flags, msg] of cases) {
    const r = d.barge(['run', '--rm', ...flags, 'busybox', 'true']);
    assert.equal(r.code, 125, `${flags.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, msg, flags.join(' '));
    assert.equal(r.stdout, '');
  }
  // create checks them too, before anything is made.
  const c = d.barge(['create', '--cpuset-cpus', '4096', 'busybox']);
  assert.equal(c.code, 125);
  assert.match(c.stderr, /Requested CPUs are not available/);
  assert.equal(d.barge(['ps', '-aq']).stdout, before, 'no container was left behind');
});

test('nothing is left on the host once every container is removed', async () => {
  await assertNothingLeft(d);
});
