import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ramInBytes, fromHumanSize, memSwapBytes, parseDuration, nonNegativeDuration, parseCpus, parseCpusFlag, parseUlimit, parseUlimits,
  validateEnv, parseKeyValueLines, readEnvFiles, readLabels, validateLabel, kvToMap, parseRestartPolicy, parsePortSpecs,
  parsePortSpec, parsePortRange, splitProtoPort, parseMount, parseVolumeSpec, splitVolumes, parseTmpfs, parseSecurityOpts,
  parseSystemPaths, parseDetachKeys, parseFilters, filtersToJSON, filtersFromJSON, readCSVRecord,
} from '../../src/cli/lib/units.js';

const KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;

test('RAMInBytes (go-units)', () => {
  const ok: [string, number][] = [
    ['32', 32], ['32b', 32], ['32B', 32], ['32k', 32 * KiB], ['32K', 32 * KiB], ['32kb', 32 * KiB], ['32Kib', 32 * KiB],
    ['32KIB', 32 * KiB], ['64m', 64 * MiB], ['1g', GiB], ['1.5g', 1.5 * GiB], ['512k', 512 * KiB], ['100', 100],
    ['32Pb', 32 * 2 ** 50], ['32P', 32 * 2 ** 50], ['32.3', 32], ['32.3 mb', Math.trunc(32.3 * MiB)], ['0.3MB', Math.trunc(0.3 * MiB)],
  ];
  for (const [s, n] of ok) assert.equal(ramInBytes(s), n, s);
  assert.throws(() => ramInBytes('12x'), { message: "invalid suffix: 'x'" });
  assert.throws(() => ramInBytes('hello'), { message: "invalid size: 'hello'" });
  assert.throws(() => ramInBytes(''), { message: "invalid size: ''" });
  assert.throws(() => ramInBytes('-32'), { message: "invalid size: '-32'" });
  assert.throws(() => ramInBytes('1.2.3m'), { message: 'strconv.ParseFloat: parsing "1.2.3": invalid syntax' });
  for (const bad of [' 32 ', '32m b', '32bm', '32kbb']) assert.throws(() => ramInBytes(bad), Error, bad);
  assert.equal(memSwapBytes('-1'), -1);
  assert.equal(memSwapBytes('1g'), GiB);
});

test('FromHumanSize (go-units)', () => {
  const ok: [string, number][] = [
    ['0', 0], ['0b', 0], ['0 B', 0], ['32', 32], ['32k', 32e3], ['32Kb', 32e3], ['32Mb', 32e6], ['32Gb', 32e9],
    ['32.5kB', 32500], ['32.5 kB', 32500], ['32.5 B', 32], ['0.3 K', 300], ['.3kB', 300], ['0.', 0], ['0. ', 0],
    ['-0', 0], ['-0 B', 0], ['32.', 32], ['32. B', 32], ['0 ', 0],
  ];
  for (const [s, n] of ok) assert.equal(fromHumanSize(s), n, s);
  for (const bad of [' 0', '0b ', '', 'hello', '.', ' ', '-32', '-32 B', '32b.', '32 bb', '32 b b', '32  b', '32m b', '32bm']) {
    assert.throws(() => fromHumanSize(bad), Error, bad);
  }
});

test('Go durations; negatives refused where docker does', () => {
  assert.equal(parseDuration('10s'), 10e9);
  assert.equal(parseDuration('1m30s'), 90e9);
  assert.equal(parseDuration('1h'), 3600e9);
  assert.equal(parseDuration('500ms'), 5e8);
  assert.equal(parseDuration('-1s'), -1e9);
  assert.throws(() => nonNegativeDuration('-1s', '--health-interval'), { message: '--health-interval cannot be negative' });
  assert.equal(nonNegativeDuration('30s', '--health-interval'), 30e9);
});

test('--cpus to NanoCPUs', () => {
  assert.equal(parseCpus('0.5'), 500000000);
  assert.equal(parseCpus('1.5'), 1500000000);
  assert.equal(parseCpus('2'), 2e9);
  assert.equal(parseCpus('0.000000001'), 1);
  assert.equal(parseCpus('1/4'), 250000000);
  assert.equal(parseCpus('1e-1'), 100000000);
  assert.equal(parseCpus('-1'), -1e9);
  assert.throws(() => parseCpus('abc'), { message: 'failed to parse abc as a rational number' });
  assert.throws(() => parseCpus('0.0000000001'), { message: 'value is too precise' });
  assert.equal(parseCpusFlag('2', 4), 2e9);
  assert.equal(parseCpusFlag('0', 4), 0);
  assert.throws(() => parseCpusFlag('-1', 4), { message: 'range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available' });
  assert.throws(() => parseCpusFlag('5', 4), { message: 'range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available' });
});

test('--ulimit (go-units ParseUlimit)', () => {
  assert.deepEqual(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Soft: 1024, Hard: 2048 });
  assert.deepEqual(parseUlimit('nproc=512'), { Name: 'nproc', Soft: 512, Hard: 512 });
  assert.deepEqual(parseUlimit('nofile=-1'), { Name: 'nofile', Soft: -1, Hard: -1 });
  assert.deepEqual(parseUlimit('nofile=1024:-1'), { Name: 'nofile', Soft: 1024, Hard: -1 });
  assert.throws(() => parseUlimit('notarealtype=1024:1024'), { message: 'invalid ulimit type: notarealtype' });
  assert.throws(() => parseUlimit('nofile:1024:1024'), { message: 'invalid ulimit argument: nofile:1024:1024' });
  assert.throws(() => parseUlimit('nofile=1024:1'), { message: 'ulimit soft limit must be less than or equal to hard limit: 1024 > 1' });
  assert.throws(() => parseUlimit('nofile=-1:1024'), { message: 'ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 1024' });
  assert.throws(() => parseUlimit('nofile=x'), { message: 'strconv.ParseInt: parsing "x": invalid syntax' });
  for (const bad of ['nofile', 'nofile=', 'nofile=:', 'nofile=:1024', 'nofile=1024=512', 'nofile=1024:512=extra']) {
    assert.throws(() => parseUlimit(bad), Error, bad);
  }
  assert.deepEqual(parseUlimits(['nofile=1', 'nproc=2', 'nofile=3']), [{ Name: 'nproc', Soft: 2, Hard: 2 }, { Name: 'nofile', Soft: 3, Hard: 3 }]);
});

test('env and label files follow docker kvfile rules', () => {
  const env: Record<string, string> = { HOME: '/root', EMPTY: '' };
  const lookup = (k: string) => env[k];
  const content = '\uFEFF# comment\n  A=1\nB= spaced value \n\nHOME\nMISSING\nEMPTY\n   # indented comment\nC=x=y\r\n';
  assert.deepEqual(parseKeyValueLines(content, lookup), ['A=1', 'B= spaced value ', 'HOME=/root', 'EMPTY=', 'C=x=y']);
  assert.deepEqual(parseKeyValueLines('A=1\nB\n'), ['A=1']); // label files: bare keys are dropped
  assert.throws(() => parseKeyValueLines('A B=1\n'), { message: "variable 'A B' contains whitespaces" });
  assert.throws(() => parseKeyValueLines('=x\n'), { message: "no variable name on line '=x'" });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-kv-'));
  try {
    const f = path.join(dir, 'env');
    fs.writeFileSync(f, 'A=1\nHOME\n');
    assert.deepEqual(readEnvFiles([f], ['A=2', 'HOME', 'NOPE'], lookup), ['A=1', 'HOME=/root', 'A=2', 'HOME=/root', 'NOPE']);
    const bad = path.join(dir, 'bad');
    fs.writeFileSync(bad, 'A=1\nB C=2\n');
    assert.throws(() => readEnvFiles([bad], [], lookup), { message: `invalid env file (${bad}): variable 'B C' contains whitespaces` });
    const bin = path.join(dir, 'bin');
    fs.writeFileSync(bin, Buffer.from([0x41, 0x3d, 0x31, 0x0a, 0x42, 0x3d, 0xff, 0x0a]));
    assert.throws(() => readEnvFiles([bin], [], lookup), { message: `invalid env file (${bin}): invalid utf8 bytes at line 2: [66 61 255]` });
    const lf = path.join(dir, 'labels');
    fs.writeFileSync(lf, 'com.x=1\nbare\n');
    assert.deepEqual(readLabels([lf], ['com.x=2', 'y']), { 'com.x': '2', y: '' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(validateEnv('A=1'), 'A=1');
  assert.equal(validateEnv('HOME', lookup), 'HOME=/root');
  assert.equal(validateEnv('NOPE', lookup), 'NOPE');
  assert.throws(() => validateEnv('=x'), { message: 'invalid environment variable: =x' });
  assert.equal(validateLabel('a=b'), 'a=b');
  assert.throws(() => validateLabel('=b'), { message: "invalid label '=b': empty name" });
  assert.throws(() => validateLabel('a b=c'), { message: "label 'a b' contains whitespaces" });
  assert.deepEqual(kvToMap(['a=1', 'b', 'c=x=y']), { a: '1', b: '', c: 'x=y' });
});

test('--restart policies', () => {
  assert.deepEqual(parseRestartPolicy('no'), { Name: 'no', MaximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('always'), { Name: 'always', MaximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('unless-stopped'), { Name: 'unless-stopped', MaximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('on-failure'), { Name: 'on-failure', MaximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('on-failure:5'), { Name: 'on-failure', MaximumRetryCount: 5 });
  assert.deepEqual(parseRestartPolicy(''), { Name: '', MaximumRetryCount: 0 });
  assert.throws(() => parseRestartPolicy(':3'), { message: 'invalid restart policy format: no policy provided before colon' });
  assert.throws(() => parseRestartPolicy('on-failure:x'), { message: 'invalid restart policy format: maximum retry count must be an integer' });
  assert.throws(() => parseRestartPolicy('always:3'), { message: "invalid restart policy: maximum retry count can only be used with 'on-failure'" });
  assert.throws(() => parseRestartPolicy('always:-1'), { message: "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative" });
  assert.throws(() => parseRestartPolicy('on-failure:-1'), { message: 'invalid restart policy: maximum retry count cannot be negative' });
  assert.throws(() => parseRestartPolicy('sometimes'), { message: "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'" });
});

test('port specs into ExposedPorts and PortBindings', () => {
  assert.deepEqual(parsePortSpecs(['8080:80']), {
    exposedPorts: { '80/tcp': {} }, portBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
  });
  assert.deepEqual(parsePortSpecs(['80']), { exposedPorts: { '80/tcp': {} }, portBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] } });
  assert.deepEqual(parsePortSpecs(['127.0.0.1:5353:53/UDP']).portBindings, { '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }] });
  assert.deepEqual(parsePortSpecs(['127.0.0.1::53']).portBindings, { '53/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  assert.deepEqual(parsePortSpecs(['[::1]:8080:80']).portBindings, { '80/tcp': [{ HostIp: '::1', HostPort: '8080' }] });
  assert.deepEqual(parsePortSpecs(['::1:8080:80']).portBindings, { '80/tcp': [{ HostIp: '::1', HostPort: '8080' }] });
  assert.deepEqual(parsePortSpecs(['9000-9001:8000-8001/sctp']).portBindings, {
    '8000/sctp': [{ HostIp: '', HostPort: '9000' }], '8001/sctp': [{ HostIp: '', HostPort: '9001' }],
  });
  assert.deepEqual(parsePortSpecs(['3000-3005:80']).portBindings, { '80/tcp': [{ HostIp: '', HostPort: '3000-3005' }] });
  assert.deepEqual(parsePortSpecs(['8080:80', '0.0.0.0:8081:80']).portBindings, {
    '80/tcp': [{ HostIp: '', HostPort: '8080' }, { HostIp: '0.0.0.0', HostPort: '8081' }],
  });
  assert.deepEqual(parsePortSpecs(['target=80,published=8080,protocol=udp']).portBindings, { '80/udp': [{ HostIp: '', HostPort: '8080' }] });
  assert.deepEqual(parsePortSpecs([], ['7000-7001/udp', '22']).exposedPorts, { '7000/udp': {}, '7001/udp': {}, '22/tcp': {} });
  assert.throws(() => parsePortSpecs(['8080:']), { message: 'no port specified: 8080:<empty>' });
  assert.throws(() => parsePortSpecs(['80/xyz']), { message: 'invalid proto: xyz' });
  assert.throws(() => parsePortSpecs(['1.2.3:80:80']), { message: 'invalid IP address: 1.2.3' });
  assert.throws(() => parsePortSpecs(['abc']), { message: 'invalid containerPort: abc' });
  assert.throws(() => parsePortSpecs(['70000']), { message: 'invalid containerPort: 70000' });
  assert.throws(() => parsePortSpecs(['x:80']), { message: 'invalid hostPort: x' });
  assert.throws(() => parsePortSpecs(['1-3:4-5']), { message: 'invalid ranges specified for container and host Ports: 4-5 and 1-3' });
  assert.throws(() => parsePortSpecs(['target=80,oops']), { message: "invalid publish opts format (should be name=value but got 'oops')" });
  assert.throws(() => parsePortSpecs([], ['abc']), { message: "invalid range format for --expose: invalid start port 'abc': invalid syntax" });
  assert.deepEqual(parsePortRange('8000-9000'), [8000, 9000]);
  assert.throws(() => parsePortRange('9000-8000'), { message: 'invalid port range: 9000-8000' });
  assert.deepEqual(splitProtoPort('53/udp'), ['udp', '53']);
  assert.deepEqual(splitProtoPort('53'), ['tcp', '53']);
  assert.equal(parsePortSpec('1-3').length, 3);
});

test('--mount CSV', () => {
  assert.deepEqual(parseMount('type=bind,source=/src,target=/dst,readonly,bind-propagation=rshared'), {
    Type: 'bind', Source: '/src', Target: '/dst', ReadOnly: true, BindOptions: { Propagation: 'rshared' },
  });
  assert.deepEqual(parseMount('src=./data,dst=/data', '/home/u'), { Type: 'volume', Source: '/home/u/data', Target: '/data' });
  assert.deepEqual(parseMount('type=volume,source=vol,destination=/v,volume-nocopy,volume-label=a=b,volume-driver=local,volume-opt=o=v'), {
    Type: 'volume', Source: 'vol', Target: '/v', VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { o: 'v' } } },
  });
  assert.deepEqual(parseMount('type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770'), {
    Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 64 * MiB, Mode: 0o1770 },
  });
  assert.deepEqual(parseMount('"type=bind","src=/a,b",dst=/c,ro=false'), { Type: 'bind', Source: '/a,b', Target: '/c', ReadOnly: false });
  assert.throws(() => parseMount(''), { message: 'value is empty' });
  assert.throws(() => parseMount('type=bind,bogus=1,dst=/x'), { message: "unknown option 'bogus' in 'bogus=1'" });
  assert.throws(() => parseMount('type=bind,nope'), { message: "invalid field 'nope' must be a key=value pair" });
  assert.throws(() => parseMount('type=tmpfs,dst=/t,volume-nocopy'), { message: "cannot mix 'volume-*' options with mount type 'tmpfs'" });
  assert.throws(() => parseMount('type=volume,dst=/t,bind-propagation=shared'), { message: "cannot mix 'bind-*' options with mount type 'volume'" });
  assert.throws(() => parseMount('type=bind,dst=/t,tmpfs-size=1m'), { message: "cannot mix 'tmpfs-*' options with mount type 'bind'" });
  assert.throws(() => parseMount('type=tmpfs,dst=/t,tmpfs-size=big'), { message: 'invalid value for tmpfs-size: big' });
  assert.throws(() => parseMount('type=tmpfs,dst=/t,tmpfs-mode=999'), { message: 'invalid value for tmpfs-mode: 999' });
  assert.throws(() => parseMount('type=bind,dst=/t,ro=maybe'), { message: 'invalid value for \'ro\': invalid boolean value ("maybe"): must be one of "true", "1", "false", or "0" (default "true")' });
  assert.throws(() => parseMount('type=bind,dst=/t,src='), { message: "invalid value for 'src': value is empty" });
  assert.throws(() => parseMount('type=bind,dst=/t,bind-recursive=readonly'), { message: "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction" });
  assert.throws(() => parseMount('type=bind,src=/a"b,dst=/t'), { message: 'parse error on line 1, column 17: bare " in non-quoted-field' });
  assert.deepEqual(readCSVRecord('a,"b,c",,"d""e"'), ['a', 'b,c', '', 'd"e']);
});

test('-v specs, binds and anonymous volumes, --tmpfs', () => {
  assert.deepEqual(parseVolumeSpec('/host:/ctr:ro'), { Type: 'bind', Source: '/host', Target: '/ctr', ReadOnly: true, Mode: 'ro' });
  assert.deepEqual(parseVolumeSpec('data:/ctr'), { Type: 'volume', Source: 'data', Target: '/ctr', ReadOnly: false, Mode: '' });
  assert.deepEqual(parseVolumeSpec('/ctr'), { Type: 'volume', Source: '', Target: '/ctr', ReadOnly: false, Mode: '' });
  assert.deepEqual(parseVolumeSpec('/a:/b:rw,rshared,nocopy'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: false, Mode: 'rw,rshared,nocopy', Propagation: 'rshared', NoCopy: true });
  assert.deepEqual(parseVolumeSpec('~/x:/y').Type, 'bind');
  assert.throws(() => parseVolumeSpec(''), { message: 'invalid empty volume spec' });
  assert.throws(() => parseVolumeSpec('/a::/b'), { message: 'invalid spec: /a::/b: empty section between colons' });
  assert.throws(() => parseVolumeSpec('/a:/b:ro:x'), { message: 'invalid spec: /a:/b:ro:x: too many colons' });
  assert.deepEqual(splitVolumes(['./src:/src:ro', 'data:/data', '/anon', '/anon'], '/home/u'), {
    binds: ['/home/u/src:/src:ro', 'data:/data'], volumes: { '/anon': {} },
  });
  assert.deepEqual(parseTmpfs(['/run:rw,noexec,size=64m', '/tmp']), { '/run': 'rw,noexec,size=64m', '/tmp': '' });
});

test('--security-opt and systempaths=unconfined', () => {
  assert.deepEqual(parseSecurityOpts(['no-new-privileges', 'label=disable', 'apparmor:unconfined', 'seccomp=unconfined']),
    ['no-new-privileges', 'label=disable', 'apparmor:unconfined', 'seccomp=unconfined']);
  const files: Record<string, string> = { '/p.json': '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "names": ["a b"]\n}\n' };
  const read = (p: string) => { if (!(p in files)) throw new Error(`open ${p}: no such file or directory`); return files[p]!; };
  assert.deepEqual(parseSecurityOpts(['seccomp=/p.json'], read), ['seccomp={"defaultAction":"SCMP_ACT_ALLOW","names":["a b"]}']);
  assert.throws(() => parseSecurityOpts(['seccomp=/nope.json'], read), { message: 'opening seccomp profile (/nope.json) failed: open /nope.json: no such file or directory' });
  files['/bad.json'] = '{nope';
  assert.throws(() => parseSecurityOpts(['seccomp=/bad.json'], read), /^Error: compacting json for seccomp profile \(\/bad.json\) failed/);
  assert.throws(() => parseSecurityOpts(['label']), { message: 'Invalid --security-opt: "label"' });
  assert.throws(() => parseSecurityOpts(['label=']), { message: 'Invalid --security-opt: "label="' });
  assert.deepEqual(parseSystemPaths(['systempaths=unconfined', 'label=disable']), { securityOpts: ['label=disable'], maskedPaths: [], readonlyPaths: [] });
  assert.deepEqual(parseSystemPaths(['label=disable']), { securityOpts: ['label=disable'] });
});

test('--detach-keys (moby/term ToBytes)', () => {
  assert.deepEqual(parseDetachKeys('ctrl-p,ctrl-q'), [16, 17]);
  assert.deepEqual(parseDetachKeys('ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_'), [0, 1, 26, 27, 28, 29, 30, 31]);
  assert.deepEqual(parseDetachKeys('a,DEL,ctrl-x'), [97, 127, 24]);
  assert.throws(() => parseDetachKeys('ctrl-P'), { message: "Unknown character: 'ctrl-P'" });
  assert.throws(() => parseDetachKeys('foo'), { message: "Unknown character: 'foo'" });
});

test('--filter into the API filters JSON', () => {
  const f = parseFilters(['status=running', 'Label=a=b', ' label = c ', 'status=running', '']);
  assert.deepEqual(f, { status: ['running'], label: ['a=b', 'c'] });
  assert.equal(filtersToJSON(f), '{"status":["running"],"label":["a=b","c"]}');
  assert.equal(filtersToJSON({}), '');
  assert.throws(() => parseFilters(['dangling']), { message: 'bad format of filter (expected name=value)' });
  assert.deepEqual(filtersFromJSON('{"status":{"running":true,"exited":false},"id":["x"]}'), { status: ['running'], id: ['x'] });
  assert.deepEqual(filtersFromJSON(''), {});
});
