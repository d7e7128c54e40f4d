import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { parseCgroupLayout, cgroupsPathFor, cgroupDir, allCgroupDirs, readSystemCpuUsage, detectCgroupLayout } from '../../src/runtime/cgroups.js';

const HYBRID = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,relatime shared:8 - tmpfs tmpfs rw,mode=755
27 26 0:25 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
28 26 0:26 / /sys/fs/cgroup/systemd rw,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
29 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
30 26 0:28 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
31 26 0:29 / /sys/fs/cgroup/pids rw,relatime shared:13 - cgroup cgroup rw,pids
`;
const V2 = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V1 = `26 25 0:24 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
29 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
30 26 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`;

test('cgroup layouts: v1, hybrid (driven as v1), v2', () => {
  const hybrid = parseCgroupLayout(HYBRID, () => []);
  assert.equal(hybrid.version, 1);
  assert.equal(hybrid.hybrid, true);
  assert.equal(hybrid.unified, '/sys/fs/cgroup/unified');
  assert.deepEqual(hybrid.controllers, ['cpu', 'cpuacct', 'memory', 'pids']);
  assert.equal(cgroupDir('/barge/abc', 'cpuacct', hybrid), '/sys/fs/cgroup/cpu,cpuacct/barge/abc');
  assert.equal(cgroupDir('/barge/abc', 'blkio', hybrid), undefined);
  assert.deepEqual(allCgroupDirs('/barge/abc', hybrid).sort(), [
    '/sys/fs/cgroup/cpu,cpuacct/barge/abc', '/sys/fs/cgroup/memory/barge/abc', '/sys/fs/cgroup/pids/barge/abc',
    '/sys/fs/cgroup/systemd/barge/abc', '/sys/fs/cgroup/unified/barge/abc',
  ]);

  const v2 = parseCgroupLayout(V2, () => ['cpuset', 'cpu', 'io', 'memory', 'pids']);
  assert.deepEqual(v2, { version: 2, hybrid: false, v1: {}, unified: '/sys/fs/cgroup', controllers: ['cpuset', 'cpu', 'io', 'memory', 'pids'] });
  assert.equal(cgroupDir('/barge/abc', 'memory', v2), '/sys/fs/cgroup/barge/abc');
  // A hostile cgroupsPath cannot climb out of the hierarchy.
  assert.equal(cgroupDir('../../etc', 'memory', v2), '/sys/fs/cgroup/etc');

  const v1 = parseCgroupLayout(V1, () => []);
  assert.equal(v1.version, 1);
  assert.equal(v1.hybrid, false);

  assert.equal(cgroupsPathFor('abc'), '/barge/abc');
  assert.equal(cgroupsPathFor('abc', 'custom/parent'), '/custom/parent/abc');
});

test('the real host layout is detected', () => {
  const layout = detectCgroupLayout();
  const fstype = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/sys/fs/cgroup')?.split(' - ')[1]?.split(' ')[0];
  assert.equal(layout.version, fstype === 'cgroup2' ? 2 : 1);
  if (layout.version === 1) assert.ok(layout.v1['memory'] && layout.v1['pids']);
});

test('system CPU usage from /proc/stat, in nanoseconds, and online CPUs', () => {
  const stat = 'cpu  100 5 50 1000 10 0 5 7 0 0\ncpu0 50 2 25 500 5 0 3 0 0 0\ncpu1 50 3 25 500 5 0 2 0 0 0\nintr 1 2 3\n';
  assert.deepEqual(readSystemCpuUsage(stat), { systemCpuUsage: 1170 * 10_000_000, onlineCpus: 2 });
  const real = readSystemCpuUsage();
  assert.ok(real.systemCpuUsage > 0);
  assert.ok(real.onlineCpus >= 1);
});
