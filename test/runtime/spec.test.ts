import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  buildSpec, checkHostConfig, specToJson, mergeTmpfsOptions, parseSecurityOpts, DEFAULT_NOFILE, type BuildSpecInput, type DockerHostConfig,
  type HostFacts, type OciSeccomp,
} from '../../src/runtime/spec.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capsToMask } from '../../src/runtime/capabilities.js';
import { convertSeccompProfile, defaultSeccomp, DEFAULT_SECCOMP_PROFILE } from '../../src/runtime/seccomp.js';
import { probeHost, parseProcLimits } from '../../src/runtime/host.js';
import { BargeError } from '../../src/lib/errors.js';

const NO_SYS_RESOURCE = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');

// A host like this one: no CAP_SYS_RESOURCE, a 20000 open-files hard limit, cgroup v1.
const HOST: HostFacts = {
  capabilities: NO_SYS_RESOURCE,
  rlimits: { RLIMIT_NOFILE: { soft: 20000, hard: 20000 }, RLIMIT_CORE: { soft: 0, hard: Infinity }, RLIMIT_MEMLOCK: { soft: 8388608, hard: 8388608 } },
  cgroupVersion: 1, arch: 'amd64', kernel: '6.1.0-13-amd64', ncpu: 2, seccomp: true,
};

function build(hostConfig: DockerHostConfig = {}, extra: Partial<BuildSpecInput> = {}) {
  return buildSpec({
    config: {}, hostConfig, rootfs: '/var/lib/barge/c/rootfs', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], args: ['sh'],
    cwd: '/', hostname: 'abc', network: { mode: 'new' }, cgroupsPath: '/barge/abc', host: HOST,
    devices: { hostDevices: () => [{ path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }] },
    ...extra,
  });
}

function throwsInvalid(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof BargeError && e.kind === 'invalid' && re.test(e.message));
}

const allowedNames = (s: OciSeccomp | undefined) =>
  new Set((s?.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));

test('default capabilities are exactly Docker\'s, in bounding/effective/permitted only', () => {
  const { spec, warnings } = build();
  const caps = spec.process.capabilities!;
  assert.deepEqual(caps.bounding, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(caps.effective, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(caps.permitted, [...DEFAULT_CAPABILITIES]);
  assert.equal(caps.inheritable, undefined);
  assert.equal(caps.ambient, undefined);
  assert.equal(capsToMask(caps.effective!).toString(16), 'a80425fb');
  assert.deepEqual(warnings, []);
});

test('cap-add / cap-drop: case-insensitive, CAP_ prefix optional, ALL', () => {
  let caps = build({ CapAdd: ['net_admin', 'CAP_SYS_PTRACE'], CapDrop: ['chown', 'Cap_Kill'] }).spec.process.capabilities!.bounding!;
  assert.ok(caps.includes('CAP_NET_ADMIN') && caps.includes('CAP_SYS_PTRACE'));
  assert.ok(!caps.includes('CAP_CHOWN') && !caps.includes('CAP_KILL'));
  assert.equal(caps.length, DEFAULT_CAPABILITIES.length);

  caps = build({ CapDrop: ['ALL'], CapAdd: ['chown', 'NET_BIND_SERVICE'] }).spec.process.capabilities!.bounding!;
  assert.deepEqual(caps, ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE']);

  caps = build({ CapDrop: ['all'] }).spec.process.capabilities!.bounding!;
  assert.deepEqual(caps, []);

  const r = build({ CapAdd: ['ALL'], CapDrop: ['NET_ADMIN'] });
  caps = r.spec.process.capabilities!.bounding!;
  assert.deepEqual(caps, NO_SYS_RESOURCE.filter((c) => c !== 'CAP_NET_ADMIN'));
  assert.match(r.warnings.join('\n'), /CAP_SYS_RESOURCE/);

  // Asking for a capability the host lacks: left out with a warning, not a failure.
  const sr = build({ CapAdd: ['SYS_RESOURCE'] });
  assert.ok(!sr.spec.process.capabilities!.bounding!.includes('CAP_SYS_RESOURCE'));
  assert.match(sr.warnings.join('\n'), /CAP_SYS_RESOURCE/);

  throwsInvalid(() => build({ CapAdd: ['FOO'] }), /invalid CapAdd: unknown capability: "CAP_FOO"/);
  throwsInvalid(() => build({ CapDrop: ['cap_bar'] }), /invalid CapDrop: unknown capability: "CAP_BAR"/);
});

test('privileged: every capability the host has, no seccomp, no masked paths, rw /sys, all devices', () => {
  const { spec, warnings } = build({ Privileged: true, ReadonlyRootfs: true });
  assert.deepEqual(spec.process.capabilities!.bounding, NO_SYS_RESOURCE);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /CAP_SYS_RESOURCE/);
  assert.equal(spec.linux.seccomp, undefined);
  assert.equal(spec.linux.maskedPaths, undefined);
  assert.equal(spec.linux.readonlyPaths, undefined);
  const sys = spec.mounts.find((m) => m.destination === '/sys')!;
  assert.ok(!sys.options!.includes('ro'));
  assert.ok(!spec.mounts.find((m) => m.destination === '/sys/fs/cgroup')!.options!.includes('ro'));
  assert.deepEqual(spec.linux.resources!.devices, [{ allow: true, access: 'rwm' }]);
  assert.deepEqual(spec.linux.devices!.map((d) => d.path), ['/dev/sda']);
  // A custom profile still applies when privileged, as in Docker.
  const custom = build({ Privileged: true, SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_LOG"}'] });
  assert.equal(custom.spec.linux.seccomp!.defaultAction, 'SCMP_ACT_LOG');
});

test('default mounts, masked and read-only paths, namespaces, sysctls', () => {
  const { spec } = build({ ShmSize: 128 * 1024 * 1024 });
  assert.deepEqual(spec.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
  assert.deepEqual(spec.mounts[2]!.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  assert.deepEqual(spec.mounts[6]!.options, ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=134217728']);
  assert.ok(spec.mounts[3]!.options!.includes('ro') && spec.mounts[4]!.options!.includes('ro'));
  assert.ok(spec.linux.maskedPaths!.includes('/proc/kcore') && spec.linux.maskedPaths!.includes('/sys/firmware'));
  assert.deepEqual(spec.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.deepEqual(spec.linux.namespaces, [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }]);
  assert.deepEqual(spec.linux.sysctl, { 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.ip_unprivileged_port_start': '0' });
  assert.equal(spec.hostname, 'abc');
  assert.equal(spec.linux.cgroupsPath, '/barge/abc');
  assert.equal(build().spec.mounts[6]!.options!.at(-1), 'size=67108864');

  const v2 = build({}, { host: { ...HOST, cgroupVersion: 2 } }).spec;
  assert.deepEqual(v2.linux.namespaces.at(-1), { type: 'cgroup' });
  const hostNet = build({ Sysctls: { 'kernel.shmmax': '1' } }, { network: { mode: 'host' } }).spec;
  assert.ok(!hostNet.linux.namespaces.some((n) => n.type === 'network'));
  assert.deepEqual(hostNet.linux.sysctl, { 'kernel.shmmax': '1' });
  throwsInvalid(() => build({ Sysctls: { 'net.ipv4.ip_forward': '1' } }, { network: { mode: 'host' } }), /not allowed in host network namespace/);
  const joined = build({}, { network: { mode: 'path', path: '/run/netns/x' } }).spec;
  assert.deepEqual(joined.linux.namespaces[1], { type: 'network', path: '/run/netns/x' });
  const hostNs = build({ PidMode: 'host', IpcMode: 'host', UTSMode: 'host' }).spec;
  assert.deepEqual(hostNs.linux.namespaces.map((n) => n.type), ['mount', 'network']);
  assert.equal(hostNs.hostname, '');
  assert.equal(hostNs.mounts.find((m) => m.destination === '/dev/shm')!.source, '/dev/shm');
  assert.ok(!build({ IpcMode: 'none' }).spec.mounts.some((m) => m.destination === '/dev/shm'));
  throwsInvalid(() => build({ IpcMode: 'bogus' }), /invalid IPC mode/);
  const over = build({ Sysctls: { 'net.ipv4.ping_group_range': '1 1' }, MaskedPaths: [], ReadonlyPaths: ['/proc/x'] }).spec;
  assert.equal(over.linux.sysctl!['net.ipv4.ping_group_range'], '1 1');
  assert.deepEqual(over.linux.maskedPaths, []);
  assert.deepEqual(over.linux.readonlyPaths, ['/proc/x']);
  assert.equal(build({ SecurityOpt: ['systempaths=unconfined'] }).spec.linux.maskedPaths, undefined);
});

test('user mounts: network files, --tmpfs, volumes sorted by depth, overrides, read-only rootfs, --init', () => {
  const { spec } = build(
    { ReadonlyRootfs: true, Tmpfs: { '/run': 'rw,exec,size=65536k', '/dev/shm': 'size=1m' } },
    {
      etcFiles: { hosts: '/c/hosts', hostname: '/c/hostname', resolvConf: '/c/resolv.conf' },
      mounts: [
        { destination: '/data/sub', type: 'bind', source: '/v2', options: ['rbind', 'ro'] },
        { destination: '/data', type: 'bind', source: '/v1', options: ['rbind'] },
      ],
    },
  );
  assert.equal(spec.root.readonly, true);
  const dests = spec.mounts.map((m) => m.destination);
  assert.deepEqual(dests, ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue',
    '/data', '/run', '/data/sub', '/dev/shm', '/etc/resolv.conf', '/etc/hostname', '/etc/hosts']);
  const byDest = (d: string) => spec.mounts.find((m) => m.destination === d)!;
  assert.deepEqual(byDest('/run').options, ['nosuid', 'nodev', 'rprivate', 'rw', 'exec', 'size=65536k']);
  assert.deepEqual(byDest('/dev/shm').options, ['noexec', 'nosuid', 'nodev', 'rprivate', 'size=1m']);
  assert.deepEqual(byDest('/etc/hosts').options, ['rbind', 'ro', 'rprivate']);
  assert.ok(byDest('/dev/mqueue').options!.every((o) => o !== 'ro'));
  throwsInvalid(() => build({ Tmpfs: { '/data': '' } }, { mounts: [{ destination: '/data/', type: 'bind', source: '/x', options: [] }] }), /Duplicate mount point: \/data/);
  throwsInvalid(() => build({ Tmpfs: { '/x': 'bogus' } }), /invalid tmpfs option/);

  const init = build({ Init: true }, { initPath: '/usr/bin/tini-static' }).spec;
  assert.deepEqual(init.process.args, ['/sbin/docker-init', '--', 'sh']);
  assert.deepEqual(init.mounts.find((m) => m.destination === '/sbin/docker-init'),
    { destination: '/sbin/docker-init', type: 'bind', source: '/usr/bin/tini-static', options: ['bind', 'ro'] });
  assert.deepEqual(build({ Init: true, PidMode: 'host' }).spec.process.args, ['sh']);
  assert.deepEqual(mergeTmpfsOptions(['noexec', 'exec', 'size=1', 'size=2', 'ro', 'rw']), ['exec', 'size=2', 'rw']);
});

test('resources: memory, swap, cpus, shares, cpuset, pids, blkio, oom', () => {
  const MiB = 1024 * 1024;
  let r = build({ Memory: 32 * MiB, MemoryReservation: 16 * MiB, OomKillDisable: true }).spec.linux.resources!;
  assert.deepEqual(r.memory, { limit: 32 * MiB, reservation: 16 * MiB, swap: 64 * MiB, disableOOMKiller: true });
  r = build({ Memory: 32 * MiB, MemorySwap: -1 }).spec.linux.resources!;
  assert.deepEqual(r.memory, { limit: 32 * MiB, disableOOMKiller: false });
  r = build({ Memory: 32 * MiB, MemorySwap: 100 * MiB, MemorySwappiness: 10 }).spec.linux.resources!;
  assert.deepEqual(r.memory, { limit: 32 * MiB, swap: 100 * MiB, swappiness: 10, disableOOMKiller: false });
  throwsInvalid(() => build({ Memory: MiB }), /Minimum memory limit allowed is 6MB/);
  throwsInvalid(() => build({ Memory: 32 * MiB, MemorySwap: 16 * MiB }), /Minimum memoryswap limit/);
  throwsInvalid(() => build({ MemorySwap: 16 * MiB }), /always set the Memory limit/);

  r = build({ NanoCpus: 1.5e9, CpuShares: 512, CpusetCpus: '0-1', CpusetMems: '0' }).spec.linux.resources!;
  assert.deepEqual(r.cpu, { shares: 512, cpus: '0-1', mems: '0', period: 100000, quota: 150000 });
  r = build({ CpuPeriod: 50000, CpuQuota: 25000 }).spec.linux.resources!;
  assert.deepEqual(r.cpu, { period: 50000, quota: 25000 });
  throwsInvalid(() => build({ NanoCpus: 1e9, CpuQuota: 50000 }), /Nano CPUs and CPU Quota/);
  throwsInvalid(() => build({ NanoCpus: 3e9 }), /Range of CPUs is from 0.01 to 2.00/);

  assert.deepEqual(build({ PidsLimit: 100 }).spec.linux.resources!.pids, { limit: 100 });
  assert.deepEqual(build({ PidsLimit: 0 }).spec.linux.resources!.pids, { limit: -1 });
  assert.deepEqual(build({ PidsLimit: -1 }).spec.linux.resources!.pids, { limit: -1 });
  assert.equal(build({ PidsLimit: null }).spec.linux.resources!.pids, undefined);
  assert.deepEqual(build({ BlkioWeight: 300 }).spec.linux.resources!.blockIO, { weight: 300 });
  throwsInvalid(() => build({ BlkioWeight: 5 }), /Range of blkio weight is from 10 to 1000/);

  // cgroup v2: no swappiness / OOM-killer switch there; Docker discards them with a warning.
  const v2 = build({ Memory: 32 * MiB, OomKillDisable: true, MemorySwappiness: 5 }, { host: { ...HOST, cgroupVersion: 2 } });
  assert.deepEqual(v2.spec.linux.resources!.memory, { limit: 32 * MiB, swap: 64 * MiB });
  assert.equal(v2.warnings.length, 2);
});

test('devices: default rules, --device-cgroup-rule', () => {
  const r = build({ DeviceCgroupRules: ['c 13:* rwm', 'b *:* m'] }).spec.linux.resources!.devices!;
  assert.deepEqual(r[0], { allow: false, access: 'rwm' });
  assert.deepEqual(r.slice(-3), [
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
    { allow: true, type: 'c', major: 13, minor: -1, access: 'rwm' },
    { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  ]);
  throwsInvalid(() => build({ DeviceCgroupRules: ['c 1:2'] }), /invalid device cgroup rule format/);
  const withDev = build({ Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rw' }] }).spec.linux;
  assert.deepEqual(withDev.devices![0]!, { path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 });
  assert.deepEqual(withDev.resources!.devices!.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
});

test('process: user, tty, no-new-privileges, oom score, security options', () => {
  const { spec, stopSignal } = build(
    { OomScoreAdj: 500, SecurityOpt: ['no-new-privileges'], ConsoleSize: [24, 80] },
    { config: { Tty: true, StopSignal: 'SIGQUIT', Domainname: 'example.com' }, user: { uid: 1000, gid: 100, additionalGids: [100, 27] } },
  );
  assert.deepEqual(spec.process.user, { uid: 1000, gid: 100, additionalGids: [100, 27] });
  assert.equal(spec.process.terminal, true);
  assert.deepEqual(spec.process.consoleSize, { height: 24, width: 80 });
  assert.equal(spec.process.noNewPrivileges, true);
  assert.equal(spec.process.oomScoreAdj, 500);
  assert.equal(spec.domainname, 'example.com');
  assert.equal(stopSignal, 'SIGQUIT');
  assert.equal(build().stopSignal, 'SIGTERM');
  assert.equal(parseSecurityOpts(['no-new-privileges=false']).noNewPrivileges, false);
  assert.equal(parseSecurityOpts(['no-new-privileges:true']).noNewPrivileges, true);
  throwsInvalid(() => build({ SecurityOpt: ['bogus'] }), /invalid --security-opt 1/);
  throwsInvalid(() => build({ SecurityOpt: ['foo=bar'] }), /invalid --security-opt 2/);
  throwsInvalid(() => build({ OomScoreAdj: 2000 }), /range for oom score adj/);
});

test('rlimits: Docker\'s default RLIMIT_NOFILE and --ulimit, clamped to the host hard limits', () => {
  let r = build();
  assert.deepEqual(r.spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
  assert.deepEqual(r.warnings, []); // the default is clamped silently
  r = build({ Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 4096 }] });
  assert.deepEqual(r.spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }]);
  r = build({ Ulimits: [{ Name: 'nofile', Soft: 30000, Hard: 50000 }, { Name: 'memlock', Soft: -1, Hard: -1 }] });
  assert.deepEqual(r.spec.process.rlimits, [
    { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }, { type: 'RLIMIT_MEMLOCK', soft: 8388608, hard: 8388608 },
  ]);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0]!, /nofile=30000:50000 .*20000/);
  r = build({ Ulimits: [{ Name: 'core', Soft: -1, Hard: -1 }] });
  assert.deepEqual(r.spec.process.rlimits![0], { type: 'RLIMIT_CORE', soft: Infinity, hard: Infinity });
  const json = specToJson(r.spec);
  assert.match(json, /"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615/);
  throwsInvalid(() => build({ Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] }), /invalid ulimit type: bogus/);
  throwsInvalid(() => build({ Ulimits: [{ Name: 'nproc', Soft: 10, Hard: 5 }] }), /soft limit must be less than or equal to hard limit/);
});

test('rlimits against the real host: RLIMIT_NOFILE is clamped to `ulimit -Hn`', () => {
  const hard = Number(execFileSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
  const host = probeHost();
  assert.equal(host.rlimits.RLIMIT_NOFILE!.hard, hard);
  const { spec } = build({}, { host });
  const nofile = spec.process.rlimits!.find((r) => r.type === 'RLIMIT_NOFILE')!;
  assert.equal(nofile.hard, Math.min(hard, DEFAULT_NOFILE.hard));
  assert.equal(nofile.soft, Math.min(hard, DEFAULT_NOFILE.soft));
  assert.deepEqual(parseProcLimits('Limit Soft Hard Units\nMax open files            1024                 4096                 files\n'),
    { RLIMIT_NOFILE: { soft: 1024, hard: 4096 } });
});

test('seccomp: Docker\'s default profile for the default capabilities on x86_64', () => {
  const s = build().spec.linux.seccomp!;
  assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(s.defaultErrnoRet, 1);
  assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const allowed = allowedNames(s);
  for (const name of ['read', 'write', 'execve', 'arch_prctl', 'socket', 'chroot']) assert.ok(allowed.has(name), name);
  // Blocked by the default action: not allowed by any rule.
  for (const name of ['kexec_load', 'mount', 'umount2', 'unshare', 'setns', 'reboot', 'init_module', 'bpf', 'ptrace_nope']) {
    assert.ok(!allowed.has(name), name);
  }
  // clone only without namespace flags; clone3 → ENOSYS so libc falls back to clone.
  const clone = s.syscalls!.find((r) => r.names.includes('clone'))!;
  assert.deepEqual(clone.args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }]);
  const clone3 = s.syscalls!.find((r) => r.names.includes('clone3'))!;
  assert.deepEqual(clone3, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  // ptrace is allowed from kernel 4.8 on.
  assert.ok(allowed.has('ptrace'));
  assert.ok(!s.syscalls!.some((r) => 'comment' in r || 'includes' in r));
});

test('seccomp: capabilities, arches and kernel versions select rules', () => {
  const admin = build({ CapAdd: ['SYS_ADMIN'] }).spec.linux.seccomp!;
  const allowed = allowedNames(admin);
  assert.ok(allowed.has('mount') && allowed.has('unshare') && allowed.has('setns'));
  assert.ok(!allowed.has('kexec_load'));
  const clones = admin.syscalls!.filter((r) => r.names.includes('clone'));
  assert.ok(clones.every((r) => !r.args)); // unconditional clone with CAP_SYS_ADMIN
  assert.ok(!admin.syscalls!.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'));

  const arm = build({}, { host: { ...HOST, arch: 'aarch64' } }).spec.linux.seccomp!;
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.ok(allowedNames(arm).has('arm_fadvise64_64'));
  assert.ok(!allowedNames(arm).has('arch_prctl'));

  const old = convertSeccompProfile(DEFAULT_SECCOMP_PROFILE, { capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernel: '4.4.0' })!;
  assert.ok(!allowedNames(old).has('ptrace'));

  // The default conversion is computed once per relevant capability set.
  const a = defaultSeccomp({ capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernel: '6.1.0' });
  const b = defaultSeccomp({ capabilities: [...DEFAULT_CAPABILITIES, 'CAP_NET_ADMIN'], arch: 'x86_64', kernel: '6.1.9' });
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  assert.notEqual(a, defaultSeccomp({ capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], arch: 'amd64', kernel: '6.1.0' }));
  assert.equal(build().spec.linux.seccomp, build().spec.linux.seccomp);
});

test('seccomp: unconfined, custom profiles (JSON and file), errors', () => {
  assert.equal(build({ SecurityOpt: ['seccomp=unconfined'] }).spec.linux.seccomp, undefined);
  assert.equal(build({ SecurityOpt: ['seccomp:unconfined'] }).spec.linux.seccomp, undefined);
  const profile = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [
      { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      { names: ['chmod'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } },
    ],
  };
  const inline = build({ SecurityOpt: [`seccomp=${JSON.stringify(profile)}`] }).spec.linux.seccomp!;
  assert.deepEqual(inline, {
    defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rttest-seccomp-'));
  try {
    const file = path.join(dir, 'profile.json');
    fs.writeFileSync(file, JSON.stringify(profile));
    assert.deepEqual(build({ SecurityOpt: [`seccomp=${file}`] }).spec.linux.seccomp, inline);
    fs.writeFileSync(file, '{ nope');
    throwsInvalid(() => build({ SecurityOpt: [`seccomp=${file}`] }), /Decoding seccomp profile failed/);
    throwsInvalid(() => build({ SecurityOpt: [`seccomp=${path.join(dir, 'missing.json')}`] }), /opening seccomp profile/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  throwsInvalid(() => build({ SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW","architectures":["x"],"archMap":[{"architecture":"x","subArchitectures":[]}]}'] }),
    /both 'architectures' and 'archMap'/);
  assert.equal(build({ SecurityOpt: ['seccomp={}'] }).spec.linux.seccomp, undefined);
});

test('checkHostConfig: create-time errors and the warnings docker create prints', () => {
  assert.deepEqual(checkHostConfig({}, HOST), []);
  assert.deepEqual(checkHostConfig({ Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }] }, HOST), []);
  assert.deepEqual(checkHostConfig({ Ulimits: [{ Name: 'nofile', Soft: 99999, Hard: 99999 }] }, HOST),
    ["ulimit nofile=99999:99999 exceeds this host's hard limit (20000): using 20000:20000"]);
  assert.deepEqual(checkHostConfig({ Privileged: true }, HOST),
    ['This host cannot grant CAP_SYS_RESOURCE (not in its capability bounding set): the container runs without it']);
  throwsInvalid(() => checkHostConfig({ NanoCpus: -1 }, HOST), /^Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available$/);
  throwsInvalid(() => checkHostConfig({ CapAdd: ['NOPE'] }, HOST), /unknown capability: "CAP_NOPE"/);
  throwsInvalid(() => checkHostConfig({ SecurityOpt: ['bogus'] }, HOST), /invalid --security-opt/);
  throwsInvalid(() => checkHostConfig({ Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 5 }] }, HOST), /soft limit must be less than or equal to hard limit/);
  const cpus = { ...HOST, cpusetCpus: '0-1', cpusetMems: '0' };
  assert.deepEqual(checkHostConfig({ CpusetCpus: '0,1', CpusetMems: '0' }, cpus), []);
  throwsInvalid(() => checkHostConfig({ CpusetCpus: 'abc' }, cpus), /^Invalid value abc for cpuset cpus: invalid format: abc$/);
  throwsInvalid(() => checkHostConfig({ CpusetCpus: '1-3' }, cpus), /^Requested CPUs are not available - requested 1-3, available: 0-1$/);
  throwsInvalid(() => checkHostConfig({ CpusetMems: '1' }, cpus), /^Requested memory nodes are not available - requested 1, available: 0$/);
});

test('seccomp: sub-architectures the kernel cannot run are left out of the filter', async () => {
  const { x32FromConfig } = await import('../../src/runtime/host.js');
  const { defaultSeccomp } = await import('../../src/runtime/seccomp.js');
  assert.equal(x32FromConfig('# CONFIG_X86_X32_ABI is not set\n', ''), false);
  assert.equal(x32FromConfig('CONFIG_X86_X32_ABI=y\n', ''), true);
  assert.equal(x32FromConfig('CONFIG_X86_X32_ABI=y\nCONFIG_X86_X32_DISABLED=y\n', 'ro quiet'), false, 'Debian: built in, off by default');
  assert.equal(x32FromConfig('CONFIG_X86_X32_ABI=y\nCONFIG_X86_X32_DISABLED=y\n', 'ro syscall.x32=y quiet'), true);
  assert.equal(x32FromConfig('CONFIG_X86_X32_ABI=y\n', 'syscall.x32=n'), false);
  const target = { capabilities: ['CAP_CHOWN'], arch: 'amd64', kernel: '6.1.0' };
  assert.deepEqual(defaultSeccomp(target).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.deepEqual(defaultSeccomp({ ...target, skipArches: ['SCMP_ARCH_X32'] }).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assert.deepEqual(defaultSeccomp({ ...target, skipArches: ['SCMP_ARCH_X86_64'] }).architectures?.[0], 'SCMP_ARCH_X86_64', 'the native one stays');
});
