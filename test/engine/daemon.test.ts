// barged itself: its flags and config file, sockets, system endpoints, events, and the three
// network modes of the engine core (none, host, the default bridge with NAT).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as http from 'node:http';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;
let second: string;
before(async () => {
  // The config file gives a second socket and a log size; the flags give the rest.
  const dir = fs.mkdtempSync('/tmp/btc-');
  second = path.join(dir, 'second.sock');
  const cfg = path.join(dir, 'daemon.json');
  fs.writeFileSync(cfg, JSON.stringify({ hosts: [], 'log-opts': { 'max-size': '1k', 'max-file': '2' } }));
  d = await startDaemon({ extraArgs: ['-H', `unix://${second}`, '--config-file', cfg] });
});
after(async () => { await d?.cleanup(); fs.rmSync(path.dirname(second), { recursive: true, force: true }); });

function get(sock: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: p }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('-H is repeatable; sockets are mode 0660; version and info describe the daemon', async () => {
  assert.equal((await get(second, '/_ping')).body, 'OK');
  for (const s of [d.sock, second]) assert.equal(fs.statSync(s).mode & 0o777, 0o660);
  const v = d.barge(['version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /Server: barge\n Engine:\n  Version:\s+\d+\.\d+\.\d+\n  API version:\s+1\.47 \(minimum version 1\.24\)/);
  const info = JSON.parse((await get(d.sock, '/info')).body);
  assert.equal(info.DockerRootDir, d.dataRoot);
  assert.equal(info.Images, 1);
  assert.match(info.CgroupVersion, /^[12]$/);
  assert.equal(d.barge(['info', '--format', '{{.Driver}} {{.OSType}}']).stdout, 'overlay2 linux\n');
  const dv = d.docker(['version', '--format', '{{.Server.APIVersion}}']);
  assert.equal(dv.stdout.trim(), '1.47', dv.stderr);
});

test('the daemon\'s log options rotate container logs', async () => {
  const id = d.barge(['run', '-d', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo "line $i of the log"; i=$((i+1)); done']).stdout.trim();
  d.barge(['wait', id]);
  const dir = path.join(d.dataRoot, 'containers', id);
  const logs = fs.readdirSync(dir).filter((f) => f.includes('-json.log')).sort();
  assert.deepEqual(logs, [`${id}-json.log`, `${id}-json.log.1`]);
  for (const f of logs) assert.ok(fs.statSync(path.join(dir, f)).size <= 1024);
  const out = d.barge(['logs', id]).stdout.trim().split('\n');
  assert.equal(out[out.length - 1], 'line 199 of the log', 'the newest lines are kept');
  assert.ok(out.length < 200, 'old lines rotated away');
  d.barge(['rm', id]);
});

test('events stream with filters, and since/until replay', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const id = d.barge(['run', '--name', 'evt', 'busybox', 'true']).stdout;
  void id;
  d.barge(['rm', 'evt']);
  const until = Math.floor(Date.now() / 1000) + 1;
  const r = d.barge(['events', '--since', String(since), '--until', String(until), '--filter', 'container=evt', '--format', '{{.Action}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['create', 'attach', 'start', 'die', 'destroy'].filter((a) => r.stdout.includes(a)));
  assert.match(r.stdout, /^create\n(attach\n)?start\ndie\ndestroy\n$/);
  const bad = d.barge(['events', '--filter', 'nonsense=1', '--until', String(until)]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid filter 'nonsense'/);
});

test('network none has only lo; host shares the host\'s interfaces', () => {
  const none = d.barge(['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']);
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(none.stdout.trim().split('\n').map((l) => l.split(':')[1]!.trim()), ['lo']);
  const host = d.barge(['run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link']);
  assert.match(host.stdout, new RegExp(`: ${d.bridge}:`), 'the host network shows the host bridge');
  const hn = d.barge(['run', '--rm', '--network', 'host', 'busybox', 'hostname']).stdout.trim();
  assert.equal(hn, fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
  const bad = d.barge(['run', '--rm', '--network', 'no-such-net', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /network no-such-net not found/);
});

test('the default bridge: an address in --bip, a default route, and the host reachable through it', async () => {
  const gw = d.bip.split('/')[0]!;
  const prefix = gw.split('.').slice(0, 3).join('.');
  // A TCP server on the bridge address answers the container.
  const server = net.createServer((s) => s.end('hello from the host\n'));
  await new Promise<void>((r) => server.listen(0, gw, r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    // bargeAsync: the server lives in this process, so its event loop must keep running.
    const r = await d.bargeAsync(['run', '--rm', 'busybox', 'sh', '-c', `ip -4 -o addr show eth0; ip route; nc ${gw} ${port} </dev/null`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`inet ${prefix.replace(/\./g, '\\.')}\\.\\d+/24`));
    assert.match(r.stdout, new RegExp(`default via ${gw.replace(/\./g, '\\.')} dev eth0`));
    assert.match(r.stdout, /hello from the host/);
  } finally {
    server.close();
  }
  // NAT for the subnet is installed in barge's own chains.
  const nat = spawnSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' }).stdout;
  assert.match(nat, new RegExp(`-A BARGE-POST-${d.bridge} -s ${prefix.replace(/\./g, '\\.')}\\.0/24 .*MASQUERADE`));
  const ipv4fwd = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  assert.equal(ipv4fwd, '1');
  // inspect reports the address the container had while running.
  const id = d.barge(['run', '-d', 'busybox', 'sleep', '60']).stdout.trim();
  const ip = d.barge(['inspect', '-f', '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Networks.bridge.Gateway}}', id]).stdout.trim();
  assert.match(ip, new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.\\d+ ${gw.replace(/\./g, '\\.')}$`));
  d.barge(['rm', '-f', id]);
});

// bargehelper does barged's mounts, network namespaces and program runs. One that dies (killed,
// crashed) must cost nothing but its restart: the next operation starts a new one.
test('a killed bargehelper is replaced: containers still start, mount and get their namespace', () => {
  const daemonPid = Number(fs.readFileSync(path.join(d.dir, 'barged.pid'), 'utf8').trim());
  const helpers = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      return m?.[1] === 'bargehelper' && Number(m[2]) === daemonPid;
    } catch { return false; }
  }).map(Number);
  assert.equal(d.barge(['run', '--rm', 'busybox', 'true']).code, 0);
  const before = helpers();
  assert.equal(before.length, 1, 'barged runs one helper');
  process.kill(before[0]!, 'SIGKILL');
  const r = d.barge(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ip -o link | wc -l; grep -c " / overlay " /proc/mounts']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '1\n1\n');
  const after = helpers();
  assert.equal(after.length, 1);
  assert.notEqual(after[0], before[0]);
});
