// User-defined networks end to end, on a real barged: DNS by name and alias, published ports
// (from the host's loopback and other addresses, and from containers through the host address),
// connect/disconnect while running, isolation, internal networks, container:<name>, --ip, the
// IPAM across restarts, errors with Docker's statuses, and nothing left on the host afterwards.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { spawnSync } from 'node:child_process';
import { startDaemon, pickSubnet, userBridges, type TestDaemon } from '../helpers/daemon.js';
import { until, ok } from '../helpers/engine.js';

/** A /24 no route of this host uses, e.g. 10.123.45.0/24. */
const subnet = () => pickSubnet().replace(/\.1\/24$/, '.0/24');

/** A TCP port free on the host right now. */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '0.0.0.0', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/** GET http://host:port/ with curl (a refused or timed-out connection gives the curl exit code). */
function curl(host: string, port: number): { code: number; body: string } {
  const r = spawnSync('curl', ['-s', '-m', '3', `http://${host}:${port}/`], { encoding: 'utf8' });
  return { code: r.status ?? 1, body: r.stdout };
}

/** An address of this host other than loopback. */
function hostAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('10.1')) return a.address;
  }
  throw new Error('no non-loopback IPv4 address on this host');
}


const HTTPD = (text: string) => ['sh', '-c', `echo ${text} > /index.html; exec httpd -f -p 80`];

describe('user-defined networks', () => {
  let d: TestDaemon;
  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  test('containers resolve each other by name, alias and short id; names go when containers go', async () => {
    const sub = subnet();
    const netId = ok(d.barge(['network', 'create', '--subnet', sub, '--label', 'team=a', 'appnet']), 'network create');
    assert.match(netId, /^[0-9a-f]{64}$/);
    const db = ok(d.barge(['run', '-d', '--name', 'db', '--network', 'appnet', '--network-alias', 'database', 'busybox', ...HTTPD('from-db')]), 'run db');
    for (const name of ['db', 'database', db.slice(0, 12), 'DB']) {
      const r = d.barge(['run', '--rm', '--network', 'appnet', 'busybox', 'wget', '-qO-', `http://${name}/`]);
      assert.equal(r.stdout.trim(), 'from-db', `${name}: ${r.stderr}`);
    }
    // resolv.conf points at the network's DNS server; other names are forwarded (a name that
    // does not exist anywhere gets an answer, not a timeout).
    const resolv = ok(d.barge(['run', '--rm', '--network', 'appnet', 'busybox', 'cat', '/etc/resolv.conf']), 'resolv');
    const gw = sub.replace(/0\/24$/, '1');
    assert.match(resolv, new RegExp(`^nameserver ${gw.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(resolv, /ndots:0/);
    const nx = d.barge(['run', '--rm', '--network', 'appnet', 'busybox', 'nslookup', 'no-such-name.invalid'], { timeoutMs: 30_000 });
    assert.notEqual(nx.code, 0);

    const insp = JSON.parse(ok(d.barge(['network', 'inspect', 'appnet']), 'inspect'))[0];
    assert.equal(insp.Id, netId);
    assert.deepEqual(insp.IPAM.Config, [{ Subnet: sub, Gateway: gw }]);
    assert.equal(insp.Labels.team, 'a');
    assert.equal(insp.Containers[db].Name, 'db');
    assert.match(insp.Containers[db].IPv4Address, new RegExp(`^${sub.replace(/0\/24$/, '').replace(/\./g, '\\.')}\\d+/24$`));
    const ep = JSON.parse(ok(d.barge(['inspect', 'db']), 'inspect db'))[0].NetworkSettings.Networks.appnet;
    assert.deepEqual(ep.Aliases, ['database']);
    assert.ok(ep.DNSNames.includes('db') && ep.DNSNames.includes(db.slice(0, 12)));
    assert.equal(ep.NetworkID, netId);

    // The default bridge has no name resolution (as Docker).
    assert.notEqual(d.barge(['run', '--rm', 'busybox', 'nslookup', 'db'], { timeoutMs: 30_000 }).code, 0);

    // A rm while in use: 403 with Docker's text; after the container stops, its name is gone.
    const rm = d.barge(['network', 'rm', 'appnet']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /has active endpoints/);
    assert.equal((await d.api('DELETE', '/networks/appnet')).status, 403);
    ok(d.barge(['rm', '-f', 'db']), 'rm db');
    const gone = d.barge(['run', '--rm', '--network', 'appnet', 'busybox', 'nslookup', 'db']);
    assert.notEqual(gone.code, 0, gone.stdout);

    const bridge = insp.Options['com.docker.network.bridge.name'] ?? `br-${netId.slice(0, 12)}`;
    assert.ok(fs.existsSync(`/sys/class/net/${bridge}`));
    assert.equal(ok(d.barge(['network', 'rm', 'appnet']), 'network rm'), 'appnet');
    assert.equal(fs.existsSync(`/sys/class/net/${bridge}`), false, 'the bridge is removed');
    const rules = spawnSync('sh', ['-c', 'iptables-save'], { encoding: 'utf8' }).stdout;
    assert.ok(!rules.includes(bridge), 'no iptables rule mentions the bridge');
  });

  test('published ports: host loopback, host address, from containers, port and inspect; released on stop', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const id = ok(d.barge(['run', '-d', '--name', 'web', '-p', `${p1}:80`, '-p', `127.0.0.1:${p2}:80`, '-p', '9000', '-p', '53/udp', 'busybox', ...HTTPD('from-web')]), 'run web');
    await until('httpd answers', () => curl('127.0.0.1', p1).body.trim() === 'from-web', 10_000);
    assert.equal(curl(hostAddress(), p1).body.trim(), 'from-web');
    assert.equal(curl('127.0.0.1', p2).body.trim(), 'from-web');
    assert.notEqual(curl(hostAddress(), p2).code, 0, 'a port bound to 127.0.0.1 is not published on other addresses');

    const port = ok(d.barge(['port', 'web']), 'port');
    const random = Number(/9000\/tcp -> 0\.0\.0\.0:(\d+)/.exec(port)?.[1]);
    assert.ok(random >= 49153 && random <= 60999, port);
    assert.match(port, new RegExp(`80/tcp -> 0\\.0\\.0\\.0:${p1}`));
    assert.match(port, new RegExp(`80/tcp -> 127\\.0\\.0\\.1:${p2}`));
    assert.match(port, /53\/udp -> 0\.0\.0\.0:\d+/);
    assert.equal(ok(d.barge(['port', 'web', '80/tcp']), 'port 80').split('\n').length, 2);
    const ports = JSON.parse(ok(d.barge(['inspect', 'web']), 'inspect')).at(0).NetworkSettings.Ports;
    assert.deepEqual(ports['9000/tcp'], [{ HostIp: '0.0.0.0', HostPort: String(random) }]);
    assert.match(ok(d.barge(['ps', '--format', '{{.Ports}}']), 'ps'), new RegExp(`0\\.0\\.0\\.0:${p1}->80/tcp`));

    // From containers, through the host's address: on the default bridge, on a user network, and itself.
    ok(d.barge(['network', 'create', '--subnet', subnet(), 'other']), 'create other');
    for (const args of [['--network', 'bridge'], ['--network', 'other']]) {
      const r = d.barge(['run', '--rm', ...args, 'busybox', 'wget', '-qO-', `http://${hostAddress()}:${p1}/`]);
      assert.equal(r.stdout.trim(), 'from-web', `${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal(ok(d.barge(['exec', 'web', 'wget', '-qO-', `http://${hostAddress()}:${p1}/`]), 'hairpin'), 'from-web');

    // The port is taken: a second container asking for it fails with Docker's error and leaves nothing.
    const clash = d.barge(['run', '-d', '--name', 'clash', '-p', `${p1}:80`, 'busybox', 'true']);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${p1} failed: port is already allocated`));
    assert.equal(JSON.parse(ok(d.barge(['inspect', 'clash']), 'inspect clash'))[0].State.Running, false);
    ok(d.barge(['rm', 'clash']), 'rm clash');

    ok(d.barge(['stop', '-t', '1', 'web']), 'stop');
    assert.notEqual(curl('127.0.0.1', p1).code, 0, 'released on stop');
    assert.deepEqual(JSON.parse(ok(d.barge(['inspect', 'web']), 'inspect')).at(0).NetworkSettings.Ports, {});
    const dnat = spawnSync('iptables', ['-t', 'nat', '-S', `BARGE-DNAT-${d.bridge}`], { encoding: 'utf8' }).stdout;
    assert.deepEqual(dnat.trim().split('\n'), [`-N BARGE-DNAT-${d.bridge}`]);
    // The port is free again for anyone.
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(p1, '0.0.0.0', () => resolve()); });
    srv.close();
    ok(d.barge(['start', 'web']), 'start again');
    await until('published again', () => curl('127.0.0.1', p1).body.trim() === 'from-web', 10_000);
    ok(d.barge(['rm', '-f', 'web']), 'rm');
    ok(d.barge(['network', 'rm', 'other']), 'rm other');

    // A published UDP port: a datagram from the host reaches the container's listener.
    const up = await freePort();
    // (busybox has no UDP listener: the host's node, its /usr and /lib mounted read-only, is one.)
    const listener = "require('dgram').createSocket('udp4').on('message', (m) => require('fs').appendFileSync('/got', m)).bind(5353)";
    ok(d.barge(['run', '-d', '--name', 'udp', '-p', `${up}:5353/udp`, '-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro',
      'busybox', process.execPath, '-e', listener]), 'run udp');
    const dgram = await import('node:dgram');
    await until('a datagram sent to the published UDP port reaches the container', async () => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => s.send('hello-udp\n', up, '127.0.0.1', () => { s.close(); resolve(); }));
      await new Promise((r) => setTimeout(r, 250));
      return (await d.bargeAsync(['exec', 'udp', 'cat', '/got'])).stdout.includes('hello-udp');
    }, 15_000);
    ok(d.barge(['rm', '-f', 'udp']), 'rm udp');

    // -P publishes every exposed port on a random one.
    ok(d.barge(['run', '-d', '--name', 'pall', '-P', '--expose', '7000', '--expose', '7001/udp', 'busybox', 'sleep', '60']), 'run -P');
    const pp = ok(d.barge(['port', 'pall']), 'port pall');
    assert.match(pp, /^7000\/tcp -> 0\.0\.0\.0:\d+$/m);
    assert.match(pp, /^7001\/udp -> 0\.0\.0\.0:\d+$/m);
    ok(d.barge(['rm', '-f', 'pall']), 'rm pall');
  });

  test('connect and disconnect while running and while stopped; --ip; isolation; internal', async () => {
    const sub = subnet();
    ok(d.barge(['network', 'create', '--subnet', sub, 'n1']), 'create n1');
    const prefix = sub.replace(/0\/24$/, '');
    ok(d.barge(['run', '-d', '--name', 'srv', '--network', 'n1', '--ip', `${prefix}200`, 'busybox', ...HTTPD('from-srv')]), 'run srv');
    assert.equal(ok(d.barge(['inspect', '-f', '{{.NetworkSettings.Networks.n1.IPAddress}}', 'srv']), 'ip'), `${prefix}200`);
    // The address is taken: another container asking for it gets a conflict.
    const taken = d.barge(['run', '--rm', '--network', 'n1', '--ip', `${prefix}200`, 'busybox', 'true']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /Address already in use/);
    const outside = d.barge(['create', '--network', 'n1', '--ip', '192.0.2.77', 'busybox']);
    assert.equal(outside.code, 125);
    assert.match(outside.stderr, /does not belong to any of this network's subnets/);

    // A container on the default bridge cannot reach the user network (isolation) ...
    ok(d.barge(['run', '-d', '--name', 'cli', 'busybox', 'sleep', '300']), 'run cli');
    const iso = d.barge(['exec', 'cli', 'timeout', '3', 'wget', '-qO-', `http://${prefix}200/`]);
    assert.notEqual(iso.code, 0, 'isolated');
    // ... until it is connected: eth1, the name resolves, then disconnect removes it again.
    ok(d.barge(['network', 'connect', '--alias', 'client', 'n1', 'cli']), 'connect');
    assert.match(ok(d.barge(['exec', 'cli', 'ip', 'addr', 'show', 'eth1']), 'eth1'), new RegExp(`inet ${prefix.replace(/\./g, '\\.')}\\d+/24`));
    assert.equal(ok(d.barge(['exec', 'cli', 'wget', '-qO-', 'http://srv/']), 'wget srv'), 'from-srv');
    assert.equal(ok(d.barge(['exec', 'srv', 'nslookup', 'client']), 'alias').includes('Address'), true);
    const nets = JSON.parse(ok(d.barge(['inspect', 'cli']), 'inspect')).at(0).NetworkSettings.Networks;
    assert.deepEqual(Object.keys(nets).sort(), ['bridge', 'n1']);
    const again = d.barge(['network', 'connect', 'n1', 'cli']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists in network n1/);
    ok(d.barge(['network', 'disconnect', 'n1', 'cli']), 'disconnect');
    assert.notEqual(d.barge(['exec', 'cli', 'ip', 'addr', 'show', 'eth1']).code, 0, 'eth1 is gone');
    assert.deepEqual(Object.keys(JSON.parse(ok(d.barge(['inspect', 'cli']), 'inspect')).at(0).NetworkSettings.Networks), ['bridge']);
    assert.match(d.barge(['network', 'disconnect', 'n1', 'cli']).stderr, /is not connected to network n1/);

    // Stopped: connect is remembered and applied at the next start.
    ok(d.barge(['create', '--name', 'later', 'busybox', 'sh', '-c', 'wget -qO- http://srv/']), 'create later');
    ok(d.barge(['network', 'connect', 'n1', 'later']), 'connect stopped');
    assert.equal(ok(d.barge(['start', '-a', 'later']), 'start later'), 'from-srv');

    // --internal: no route out of the host, but containers on it still talk.
    ok(d.barge(['network', 'create', '--internal', '--subnet', subnet(), 'inside']), 'create internal');
    ok(d.barge(['network', 'connect', 'inside', 'srv']), 'connect srv inside');
    const r = d.barge(['run', '--rm', '--network', 'inside', 'busybox', 'sh', '-c', `ip route; wget -qO- http://srv/; ping -c1 -W1 ${hostAddress()} >/dev/null 2>&1 && echo reached || echo unreachable`]);
    assert.ok(!/default/.test(r.stdout), `no default route: ${r.stdout}`);
    assert.match(r.stdout, /from-srv/);
    assert.match(r.stdout, /unreachable/);
    for (const c of ['srv', 'cli', 'later']) ok(d.barge(['rm', '-f', c]), `rm ${c}`);
    ok(d.barge(['network', 'rm', 'n1', 'inside']), 'rm networks');
  });

  test('container:<name> shares the network namespace; host and none', async () => {
    ok(d.barge(['run', '-d', '--name', 'base', 'busybox', ...HTTPD('from-base')]), 'run base');
    const r = d.barge(['run', '--rm', '--network', 'container:base', 'busybox', 'sh', '-c', 'hostname; wget -qO- http://127.0.0.1/']);
    const base = JSON.parse(ok(d.barge(['inspect', 'base']), 'inspect')).at(0);
    assert.equal(r.stdout.trim(), `${base.Config.Hostname}\nfrom-base`, r.stderr);
    const conflict = d.barge(['run', '--rm', '--network', 'container:base', '-p', '80', 'busybox', 'true']);
    assert.equal(conflict.code, 125);
    assert.match(conflict.stderr, /conflicting options: port publishing and the container type network mode/);
    ok(d.barge(['stop', '-t', '1', 'base']), 'stop base');
    const notRunning = d.barge(['run', '--rm', '--network', 'container:base', 'busybox', 'true']);
    assert.notEqual(notRunning.code, 0);
    assert.match(notRunning.stderr, /non running container/);
    ok(d.barge(['rm', 'base']), 'rm base');
    assert.equal(ok(d.barge(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net']), 'none'), 'lo');
    assert.match(ok(d.barge(['run', '--rm', '--network', 'host', 'busybox', 'ls', '/sys/class/net']), 'host'), new RegExp(d.bridge));
  });

  test('errors: names, overlapping subnets, predefined networks, unknown drivers (Docker statuses)', async () => {
    const sub = subnet();
    ok(d.barge(['network', 'create', '--subnet', sub, 'taken']), 'create');
    const cases: [unknown, number, RegExp][] = [
      [{ Name: 'taken' }, 409, /already exists/],
      [{ Name: '../x' }, 400, /invalid network name/],
      [{ Name: '' }, 400, /name is required/],
      [{ Name: 'bridge' }, 403, /pre-defined/],
      [{ Name: 'o1', IPAM: { Config: [{ Subnet: sub.replace(/\/24$/, '/25') }] } }, 403, /Pool overlaps/],
      [{ Name: 'o2', IPAM: { Config: [{ Subnet: '10.1.2.3/24' }] } }, 400, /host bits set/],
      [{ Name: 'o3', IPAM: { Config: [{ Subnet: 'nonsense' }] } }, 400, /invalid subnet/],
      [{ Name: 'o4', IPAM: { Config: [{ Subnet: subnet(), Gateway: '192.0.2.1' }] } }, 400, /invalid gateway/],
      [{ Name: 'o5', Driver: 'overlay' }, 404, /plugin "overlay" not found/],
    ];
    for (const [body, status, msg] of cases) {
      const r = await d.api('POST', '/networks/create', body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.body.message, msg);
    }
    assert.equal((await d.api('DELETE', '/networks/bridge')).status, 403);
    assert.equal((await d.api('DELETE', '/networks/nope')).status, 404);
    const unknown = d.barge(['run', '--rm', '--network', 'nope', 'busybox', 'true']);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /network nope not found/);
    const alias = d.barge(['create', '--network-alias', 'x', 'busybox']);
    assert.match(alias.stderr, /network-scoped alias is supported only for containers in user defined networks/);
    // Only the networks that exist: nothing half-made by the failures.
    const names = (await d.api('GET', '/networks')).body.map((n: { Name: string }) => n.Name).sort();
    assert.deepEqual(names, ['bridge', 'host', 'none', 'taken']);
    assert.equal(userBridges(d.dataRoot).length, 1);
    ok(d.barge(['network', 'rm', 'taken']), 'rm');
    ok(d.barge(['network', 'create', 'auto']), 'create without subnet');
    const auto = JSON.parse(ok(d.barge(['network', 'inspect', 'auto']), 'inspect auto'))[0];
    assert.match(auto.IPAM.Config[0].Subnet, /^(172\.(1[7-9]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20)$/);
    assert.deepEqual(JSON.parse(ok(d.barge(['network', 'ls', '--filter', 'type=custom', '--format', '{{json .Name}}']), 'ls')), 'auto');
    assert.equal(ok(d.barge(['network', 'prune', '-f']), 'prune'), 'Deleted Networks:\nauto');
  });

  test('a daemon restart keeps networks, addresses, names and ports of running containers', async () => {
    const port = await freePort();
    ok(d.barge(['network', 'create', '--subnet', subnet(), 'keep']), 'create');
    ok(d.barge(['run', '-d', '--name', 'k1', '--network', 'keep', '-p', `${port}:80`, 'busybox', ...HTTPD('kept')]), 'run k1');
    const ip1 = ok(d.barge(['inspect', '-f', '{{.NetworkSettings.Networks.keep.IPAddress}}', 'k1']), 'ip');
    await until('answers', () => curl('127.0.0.1', port).body.trim() === 'kept', 10_000);
    await d.kill9();
    await d.restart();
    assert.equal(curl('127.0.0.1', port).body.trim(), 'kept');
    assert.equal(ok(d.barge(['run', '--rm', '--network', 'keep', 'busybox', 'wget', '-qO-', 'http://k1/']), 'dns after restart'), 'kept');
    ok(d.barge(['run', '-d', '--name', 'k2', '--network', 'keep', 'busybox', 'sleep', '60']), 'run k2');
    const ip2 = ok(d.barge(['inspect', '-f', '{{.NetworkSettings.Networks.keep.IPAddress}}', 'k2']), 'ip2');
    assert.notEqual(ip2, ip1, 'an address is never handed out twice');
    ok(d.barge(['rm', '-f', 'k1', 'k2']), 'rm');
    assert.notEqual(curl('127.0.0.1', port).code, 0);
    ok(d.barge(['network', 'rm', 'keep']), 'network rm');
    // Nothing of ours left: no veth on our bridges, no namespace files, no DNAT rule.
    assert.deepEqual(fs.readdirSync(`${d.execRoot}/netns`), []);
    assert.equal(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`master ${d.bridge} `)).length, 0);
    assert.equal(spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('DNAT') && l.includes(`BARGE-DNAT-${d.bridge}`) && l.startsWith('-A BARGE')).length, 0);
  });

  test('the docker CLI drives networks and ports through barged', async () => {
    const port = await freePort();
    ok(d.docker(['network', 'create', '--subnet', subnet(), 'dnet']), 'docker network create');
    ok(d.docker(['run', '-d', '--name', 'dweb', '--network', 'dnet', '--network-alias', 'site', '-p', `${port}:80`, 'busybox', ...HTTPD('via-docker')]), 'docker run');
    await until('answers', () => curl('127.0.0.1', port).body.trim() === 'via-docker', 10_000);
    assert.equal(ok(d.docker(['run', '--rm', '--network', 'dnet', 'busybox', 'wget', '-qO-', 'http://site/']), 'docker run wget'), 'via-docker');
    assert.equal(ok(d.docker(['port', 'dweb', '80']), 'docker port'), `0.0.0.0:${port}`);
    ok(d.docker(['network', 'connect', 'bridge', 'dweb']), 'docker network connect');
    ok(d.docker(['network', 'disconnect', 'bridge', 'dweb']), 'docker network disconnect');
    assert.match(ok(d.docker(['network', 'ls']), 'docker network ls'), /dnet\s+bridge\s+local/);
    ok(d.docker(['rm', '-f', 'dweb']), 'docker rm');
    ok(d.docker(['network', 'rm', 'dnet']), 'docker network rm');
  });
});

describe('docker-compose against barged', () => {
  let d: TestDaemon;
  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  test('up: two services on two networks, DNS between them, a published port; down removes it all', async (t) => {
    if (spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status !== 0) {
      t.skip('docker-compose is not installed (scripts/test installs it)');
      return;
    }
    const port = await freePort();
    const dir = fs.mkdtempSync('/tmp/bt-compose-');
    try {
      fs.writeFileSync(`${dir}/docker-compose.yml`, [
        'version: "3.8"',
        'services:',
        '  db:',
        '    image: busybox',
        `    command: sh -c 'echo compose-db > /index.html; exec httpd -f -p 80'`,
        '    networks: [back]',
        '  web:',
        '    image: busybox',
        `    command: sh -c 'until wget -qO /index.html http://db/; do sleep 0.2; done; exec httpd -f -p 80'`,
        `    ports: ["${port}:80"]`,
        '    networks: [back, front]',
        '    depends_on: [db]',
        'networks:',
        '  back: {}',
        '  front: {}',
        '',
      ].join('\n'));
      const env = { ...process.env, DOCKER_HOST: d.host, COMPOSE_PROJECT_NAME: 'bt' + process.pid };
      const up = spawnSync('docker-compose', ['up', '-d'], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
      assert.equal(up.status, 0, up.stderr);
      await until('web serves db\'s page', () => curl('127.0.0.1', port).body.trim() === 'compose-db', 20_000);
      const down = spawnSync('docker-compose', ['down'], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
      assert.equal(down.status, 0, down.stderr);
      assert.deepEqual((await d.api('GET', '/containers/json?all=1')).body, []);
      assert.deepEqual((await d.api('GET', '/networks')).body.map((n: { Name: string }) => n.Name).sort(), ['bridge', 'host', 'none']);
      assert.deepEqual(userBridges(d.dataRoot), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
