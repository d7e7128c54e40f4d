// Pure parts of the network subsystem: address arithmetic, IPAM, /etc files, counters, IpShell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ipam } from '../../src/network/ipam.js';
import { formatSubnet, intToIp, ipToInt, macFromIp, overlaps, parseCidr } from '../../src/network/ipv4.js';
import { hostsFile, resolvConf } from '../../src/network/etcfiles.js';
import { parseNetDev } from '../../src/network/stats.js';
import { chooseDefaultBip, hostRoutes } from '../../src/network/hostinfo.js';
import { IpShell } from '../../src/network/exec.js';

test('IPv4 helpers', () => {
  assert.equal(intToIp(ipToInt('172.17.0.2')), '172.17.0.2');
  assert.equal(formatSubnet(parseCidr('172.18.3.1/16')), '172.18.0.0/16');
  assert.equal(macFromIp('172.17.0.2'), '02:42:ac:11:00:02');
  assert.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.213.5.0/24')));
  assert.ok(!overlaps(parseCidr('172.17.0.0/16'), parseCidr('172.18.0.0/16')));
  assert.throws(() => parseCidr('1.2.3.4'), /invalid CIDR/);
  assert.throws(() => ipToInt('1.2.3.256'), /invalid IPv4/);
});

test('IPAM: serial, skips gateway and used addresses, wraps, refuses when full', () => {
  const ipam = new Ipam(parseCidr('10.9.9.1/29'));  // hosts .1-.6, .1 is the gateway
  assert.deepEqual(['a', 'b', 'c'].map((o) => ipam.allocate(o)), ['10.9.9.2', '10.9.9.3', '10.9.9.4']);
  ipam.release('10.9.9.2');
  assert.equal(ipam.allocate('d'), '10.9.9.5');
  assert.equal(ipam.allocate('e'), '10.9.9.6');
  assert.equal(ipam.allocate('f'), '10.9.9.2', 'wraps to the first free one');
  assert.throws(() => ipam.allocate('g'), /no available IPv4 addresses/);
  // The cursor carries over a restart; reserve() rebuilds the owners.
  const again = new Ipam(parseCidr('10.9.9.1/29'), '10.9.9.3');
  assert.ok(again.reserve('10.9.9.4', 'c'));
  assert.ok(!again.reserve('10.9.9.4', 'x'), 'an address has one owner');
  assert.ok(!again.reserve('10.9.9.1', 'x'), 'never the gateway');
  assert.ok(!again.reserve('10.9.8.4', 'x'), 'never outside the subnet');
  assert.equal(again.allocate('h'), '10.9.9.5');
});

test('default bip: Docker\'s pools, avoiding host routes', () => {
  const bip = chooseDefaultBip();
  const c = parseCidr(bip);
  assert.equal(intToIp(c.ip).split('.')[3], '1');
  assert.ok(!hostRoutes().some((r) => overlaps(r, c)), bip);
  assert.ok(/^172\.(1[7-9]|2\d|3[01])\.0\.1\/16$|^192\.168\.\d+\.1\/20$/.test(bip), bip);
});

test('resolv.conf as Docker adapts it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-resolv-'));
  try {
    const f = (name: string, text: string) => { fs.writeFileSync(path.join(dir, name), text); return path.join(dir, name); };
    const normal = f('a', '# comment\nsearch example.org\nnameserver 10.255.255.53\noptions ndots:2\n');
    assert.equal(resolvConf({ file: normal }), '# comment\nsearch example.org\nnameserver 10.255.255.53\noptions ndots:2\n');
    const loop = f('b', 'nameserver 127.0.0.1\nnameserver ::1\nsearch x\n');
    assert.equal(resolvConf({ file: loop }), 'search x\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    assert.equal(resolvConf({ file: loop, hostNetwork: true }), 'nameserver 127.0.0.1\nnameserver ::1\nsearch x\n');
    const mixed = f('c', 'nameserver 127.0.0.53\nnameserver 10.1.1.1\n');
    assert.equal(resolvConf({ file: mixed }), 'nameserver 10.1.1.1\n');
    assert.equal(resolvConf({ file: normal, dns: ['1.1.1.1'], dnsSearch: ['a.b'], dnsOptions: ['rotate'] }),
      '# comment\nsearch a.b\nnameserver 1.1.1.1\noptions rotate\n');
    // This host's own file keeps its working 10.x nameserver.
    const host = fs.readFileSync('/etc/resolv.conf', 'utf8');
    const servers = host.split('\n').filter((l) => /^nameserver\s+(?!127\.)\d/.test(l));
    if (servers.length) for (const s of servers) assert.ok(resolvConf().includes(s.trim()));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('/etc/hosts as Docker writes it', () => {
  assert.equal(hostsFile('abc123def456', '172.17.0.2'),
    '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n' +
    'ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n172.17.0.2\tabc123def456\n');
  const s = hostsFile('web', '172.17.0.3', { extraHosts: ['db:10.0.0.5', 'v6:fe80::1'], domainname: 'example.org' });
  assert.ok(s.endsWith('10.0.0.5\tdb\nfe80::1\tv6\n172.17.0.3\tweb.example.org web\n'), s);
  assert.ok(!hostsFile('x').includes('\tx\n'), 'no own line without an address (none network)');
});

test('/proc/net/dev parsing leaves lo out', () => {
  const text = 'Inter-|   Receive                                                |  Transmit\n' +
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n' +
    '    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n' +
    '  eth0:    1500      10    1    2    0     0          0         0      700       5    3    4    0     0       0          0\n';
  assert.deepEqual(parseNetDev(text), {
    eth0: { rx_bytes: 1500, rx_packets: 10, rx_errors: 1, rx_dropped: 2, tx_bytes: 700, tx_packets: 5, tx_errors: 3, tx_dropped: 4 },
  });
});

test('IpShell: results attributed per request; survives ip exiting', async () => {
  const sh = new IpShell();
  try {
    await sh.run(['link show dev lo']);
    await assert.rejects(sh.run(['link show dev lo', 'link set dev bgt-nonexist0 up']), /Cannot find device "bgt-nonexist0"/);
    await sh.run(['link show dev lo']);  // the failure did not leak into the next request
    // "master <missing>" makes ip exit: that request fails, the next gets a new ip.
    await assert.rejects(sh.run(['link set dev lo master bgt-nonexist1']));
    await sh.run(['link show dev lo']);
    await Promise.all([sh.run(['link show dev lo']), sh.run(['link show dev lo']), assert.rejects(sh.run(['link set dev bgt-nonexist2 up']))]);
  } finally {
    sh.close();
  }
});
