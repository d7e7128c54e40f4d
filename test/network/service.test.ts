// NetworkService against the real kernel: bridge, veths, namespaces, iptables. Each test uses its
// own bridge (bgt-<random>) and a random 10.213.x.0/24, and tears everything down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { listRules, chainNames } from '../../src/network/iptables.js';
import { bridgePorts, linkExists } from '../../src/network/hostinfo.js';
import { openFixture, sh, inNetns, newContainerId, mounts, links, PING } from './helpers.js';

test('open creates the bridge with its address, up, and installs the rules once', async () => {
  const f = await openFixture();
  try {
    const { bridge, bip } = f.opts;
    const addr = JSON.parse(sh('ip', ['-j', 'addr', 'show', 'dev', bridge]).out)[0];
    assert.equal(addr.ifname, bridge);
    assert.ok(fs.existsSync(`/sys/class/net/${bridge}/bridge`), 'is a bridge');
    assert.ok(addr.flags.includes('UP'));
    const v4 = addr.addr_info.filter((a: { family: string }) => a.family === 'inet');
    assert.deepEqual(v4.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`), [bip]);
    assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
    assert.equal(f.svc.gateway, bip.split('/')[0]);
    assert.equal(f.svc.subnet, bip.replace(/\.1\/24$/, '.0/24'));

    const c = chainNames(bridge);
    const rules = await listRules(bridge);
    const subnet = f.svc.subnet;
    for (const want of [
      `-A FORWARD -o ${bridge} -j ${c.in}`,
      `-A FORWARD -i ${bridge} -j ${c.out}`,
      `-A POSTROUTING -j ${c.post}`,
      `-A PREROUTING -m addrtype --dst-type LOCAL -j ${c.dnat}`,
      `-A OUTPUT -m addrtype --dst-type LOCAL -j ${c.dnat}`,
      `-A ${c.post} -s ${subnet} ! -o ${bridge} -j MASQUERADE`,
      `-A ${c.out} ! -o ${bridge} -j ACCEPT`,
      `-A ${c.in} -i ${bridge} -j ACCEPT`,
      `-A ${c.in} -j DROP`,
    ]) assert.ok(rules.includes(want), `missing rule: ${want}\n${rules.join('\n')}`);
    assert.ok(rules.some((r) => r.startsWith(`-A ${c.in} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`)));

    // Re-open twice: same rules, no duplicates, bridge address unchanged.
    await f.reopen();
    await f.reopen();
    const again = await listRules(bridge);
    assert.deepEqual(again.slice().sort(), rules.slice().sort());
    assert.equal(again.filter((r) => r === `-A FORWARD -o ${bridge} -j ${c.in}`).length, 1);
    const addr2 = JSON.parse(sh('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge]).out)[0];
    assert.equal(addr2.addr_info.length, 1);

    // Teardown removes bridge and rules.
    await f.svc.teardown();
    assert.equal(linkExists(bridge), false);
    assert.deepEqual(await listRules(bridge), []);
  } finally {
    await f.cleanup();
  }
});

test('two bridge containers reach each other and the gateway; detach leaves nothing', async () => {
  const f = await openFixture();
  try {
    const linksBefore = new Set(links());
    const a = newContainerId(), b = newContainerId();
    const A = await f.svc.attach(a, { mode: 'bridge' });
    const B = await f.svc.attach(b, { mode: 'bridge' });
    assert.equal(A.netnsPath, path.join(f.opts.execRoot, 'netns', a));
    const prefix = f.svc.subnet.replace(/0\/24$/, '');
    assert.equal(A.ipAddress, `${prefix}2`);
    assert.equal(B.ipAddress, `${prefix}3`);
    const x = Number(prefix.split('.')[2]);
    assert.equal(A.macAddress, `02:42:0a:d5:${x.toString(16).padStart(2, '0')}:02`);
    assert.deepEqual(bridgePorts(f.opts.bridge).sort(), [A.hostVeth, B.hostVeth].sort());

    // Inside: lo and eth0 up, the address, the MAC, the default route.
    const ifs = JSON.parse(inNetns(A.netnsPath!, ['ip', '-j', 'addr']).out) as { ifname: string; flags: string[]; address: string; addr_info: { local: string; prefixlen: number; family: string }[] }[];
    assert.deepEqual(ifs.map((i) => i.ifname).sort(), ['eth0', 'lo']);
    const eth0 = ifs.find((i) => i.ifname === 'eth0')!;
    assert.ok(eth0.flags.includes('UP') && ifs.find((i) => i.ifname === 'lo')!.flags.includes('UP'));
    assert.equal(eth0.address, A.macAddress);
    assert.ok(eth0.addr_info.some((i) => i.family === 'inet' && i.local === A.ipAddress && i.prefixlen === 24));
    assert.match(inNetns(A.netnsPath!, ['ip', 'route']).out, new RegExp(`^default via ${f.svc.gateway} dev eth0`, 'm'));

    for (const [from, to] of [[A, B.ipAddress], [B, A.ipAddress], [A, f.svc.gateway], [B, f.svc.gateway]] as const) {
      const r = inNetns(from.netnsPath!, [...PING, '-c1', '-W1', to!]);
      assert.equal(r.code, 0, `ping ${to} from ${from.ipAddress}: ${r.out}${r.err}`);
    }
    // The host reaches the container too.
    assert.equal(sh(PING[0]!, [...PING.slice(1), '-c1', '-W1', A.ipAddress!]).code, 0);

    await f.svc.detach(a);
    await f.svc.detach(b);
    await f.svc.detach(b);  // idempotent
    for (const att of [A, B]) {
      // The veth goes with its namespace, which the kernel destroys in the background.
      for (let i = 0; i < 60 && linkExists(att.hostVeth!); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(linkExists(att.hostVeth!), false, `${att.hostVeth} still exists`);
      assert.equal(fs.existsSync(att.netnsPath!), false);
      assert.ok(!sh('ip', ['-o', 'link']).out.includes(att.hostVeth!));
    }
    assert.deepEqual(bridgePorts(f.opts.bridge), []);
    assert.deepEqual(mounts().filter((m) => m.startsWith(f.root)), []);
    assert.deepEqual(links().filter((l) => !linksBefore.has(l) && l.startsWith('veth') && (l === A.hostVeth || l === B.hostVeth)), []);
    assert.deepEqual(fs.readdirSync(path.join(f.opts.execRoot, 'netns')), []);
    assert.deepEqual(fs.readdirSync(path.join(f.opts.dataRoot, 'network', 'endpoints')), []);
  } finally {
    await f.cleanup();
  }
});

test('none mode: a namespace with only lo, up; host mode: no namespace', async () => {
  const f = await openFixture();
  try {
    const id = newContainerId();
    const att = await f.svc.attach(id, { mode: 'none' });
    assert.ok(att.netnsPath && mounts().includes(att.netnsPath));
    const ifs = JSON.parse(inNetns(att.netnsPath, ['ip', '-j', 'link']).out) as { ifname: string; flags: string[] }[];
    assert.deepEqual(ifs.map((i) => i.ifname), ['lo']);
    assert.ok(ifs[0]!.flags.includes('UP'));
    assert.equal(inNetns(att.netnsPath, [...PING, '-c1', '-W1', '127.0.0.1']).code, 0);
    const s = f.svc.inspect(id);
    assert.deepEqual(Object.keys(s.Networks), ['none']);
    assert.equal(s.SandboxKey, att.netnsPath);
    assert.equal(s.IPAddress, '');
    await f.svc.detach(id);
    assert.equal(fs.existsSync(att.netnsPath), false);
    assert.ok(!mounts().includes(att.netnsPath));

    const h = newContainerId();
    const ha = await f.svc.attach(h, { mode: 'host' });
    assert.equal(ha.netnsPath, undefined);
    assert.deepEqual(Object.keys(f.svc.inspect(h).Networks), ['host']);
    assert.ok(h in f.svc.get('host').Containers);
    await f.svc.detach(h);
    assert.deepEqual(f.svc.get('host').Containers, {});
  } finally {
    await f.cleanup();
  }
});

test('IPAM hands addresses out serially, never twice, and survives re-open', async () => {
  const f = await openFixture();
  try {
    const p = f.svc.subnet.replace(/0\/24$/, '');
    const ids = [newContainerId(), newContainerId(), newContainerId()];
    // Concurrent attaches get distinct addresses.
    const atts = await Promise.all(ids.map((id) => f.svc.attach(id, { mode: 'bridge' })));
    assert.deepEqual(atts.map((a) => a.ipAddress).sort(), [`${p}2`, `${p}3`, `${p}4`]);
    await f.svc.detach(ids[0]!);
    const d = newContainerId();
    assert.equal((await f.svc.attach(d, { mode: 'bridge' })).ipAddress, `${p}5`, 'a released address is not reused at once');

    // Attaching again returns the same endpoint.
    assert.equal((await f.svc.attach(d, { mode: 'bridge' })).ipAddress, `${p}5`);

    // Re-open: the endpoints are adopted with their addresses; the next address continues after .5.
    await f.reopen();
    assert.equal(f.svc.attachmentOf(ids[1]!)?.ipAddress, atts[1]!.ipAddress);
    assert.equal(f.svc.inspect(d).IPAddress, `${p}5`);
    const e = newContainerId();
    assert.equal((await f.svc.attach(e, { mode: 'bridge' })).ipAddress, `${p}6`);
    const owned = [ids[1], ids[2], d, e].map((id) => f.svc.attachmentOf(id!)!.ipAddress);
    assert.equal(new Set(owned).size, 4);
    // Still working after the re-open.
    assert.equal(inNetns(f.svc.netnsPath(e), [...PING, '-c1', '-W1', f.svc.attachmentOf(d)!.ipAddress!]).code, 0);
  } finally {
    await f.cleanup();
  }
});

test('open removes the endpoints of containers that are gone, and stray leftovers', async () => {
  const f = await openFixture();
  try {
    const keep = newContainerId(), gone = newContainerId(), noneGone = newContainerId();
    const K = await f.svc.attach(keep, { mode: 'bridge' });
    const G = await f.svc.attach(gone, { mode: 'bridge' });
    const N = await f.svc.attach(noneGone, { mode: 'none' });
    // A stray namespace file and a stray port on the bridge, as an interrupted start leaves them.
    const stray = path.join(f.opts.execRoot, 'netns', 'stray');
    fs.writeFileSync(stray, '');
    assert.equal(sh('unshare', [`--net=${stray}`, 'true']).code, 0);
    const strayVeth = `vbgt${G.hostVeth!.slice(4, 10)}`;
    assert.equal(sh('ip', ['link', 'add', strayVeth, 'master', f.opts.bridge, 'type', 'veth', 'peer', 'name', strayVeth + 'p']).code, 0);

    // As the daemon does: open (adopts every endpoint whose sandbox exists, drops strays), then
    // recover() once the container store knows which containers still run.
    await f.reopen();
    assert.equal(fs.existsSync(stray), false);
    assert.equal(linkExists(strayVeth), false);
    assert.ok(f.svc.attachmentOf(gone));
    await f.svc.recover((id) => id === keep);
    assert.ok(linkExists(K.hostVeth!));
    assert.ok(mounts().includes(K.netnsPath!));
    for (const gonePath of [G.netnsPath!, N.netnsPath!, stray]) {
      assert.equal(fs.existsSync(gonePath), false, gonePath);
      assert.ok(!mounts().includes(gonePath));
    }
    for (let i = 0; i < 60 && linkExists(G.hostVeth!); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(linkExists(G.hostVeth!), false);
    assert.equal(linkExists(strayVeth), false);
    assert.deepEqual(bridgePorts(f.opts.bridge), [K.hostVeth]);
    assert.equal(f.svc.attachmentOf(gone), undefined);
    assert.equal(inNetns(K.netnsPath!, [...PING, '-c1', '-W1', f.svc.gateway]).code, 0);
    // G's address is free again (serial order: it comes round once the cursor wraps).
    assert.equal(f.svc.attachmentOf(gone), undefined);

    // recover() running while attaches are under way leaves them alone.
    const busy = [newContainerId(), newContainerId()];
    const [, ...atts] = await Promise.all([f.svc.recover((id) => id === keep), ...busy.map((id) => f.svc.attach(id, { mode: 'bridge' }))]);
    await f.svc.recover((id) => id === keep || busy.includes(id));
    for (const a of atts) {
      assert.ok(linkExists(a.hostVeth!) && mounts().includes(a.netnsPath!));
      assert.equal(inNetns(a.netnsPath!, [...PING, '-c1', '-W1', K.ipAddress!]).code, 0);
    }
  } finally {
    await f.cleanup();
  }
});

test('inspect, networks and stats have Docker\'s shapes', async () => {
  const f = await openFixture();
  let sleeper: ReturnType<typeof spawn> | undefined;
  try {
    const id = newContainerId();
    const att = await f.svc.attach(id, { mode: 'bridge', macAddress: '02:42:AA:BB:CC:DD' });
    assert.equal(att.macAddress, '02:42:aa:bb:cc:dd');
    const s = f.svc.inspect(id);
    const bridgeNet = f.svc.get('bridge', { nameOf: () => '/web' });
    assert.equal(s.IPAddress, att.ipAddress);
    assert.equal(s.IPPrefixLen, 24);
    assert.equal(s.Gateway, f.svc.gateway);
    assert.equal(s.MacAddress, '02:42:aa:bb:cc:dd');
    assert.equal(s.SandboxKey, att.netnsPath);
    assert.deepEqual(att.settings, s);
    const ep = s.Networks.bridge!;
    assert.equal(ep.NetworkID, bridgeNet.Id);
    assert.equal(ep.EndpointID, att.endpointId);
    assert.equal(ep.IPAddress, att.ipAddress);
    assert.match(ep.EndpointID, /^[0-9a-f]{64}$/);

    const list = f.svc.list();
    assert.deepEqual(list.map((n) => [n.Name, n.Driver, n.Scope]), [['bridge', 'bridge', 'local'], ['host', 'host', 'local'], ['none', 'null', 'local']]);
    assert.deepEqual(bridgeNet.IPAM.Config, [{ Subnet: f.svc.subnet, Gateway: f.svc.gateway }]);
    assert.equal(bridgeNet.Options['com.docker.network.bridge.name'], f.opts.bridge);
    assert.deepEqual(bridgeNet.Containers[id], {
      Name: 'web', EndpointID: att.endpointId, MacAddress: '02:42:aa:bb:cc:dd', IPv4Address: `${att.ipAddress}/24`, IPv6Address: '',
    });
    assert.equal(f.svc.get(bridgeNet.Id.slice(0, 12)).Name, 'bridge');
    assert.throws(() => f.svc.get('nope'), /network nope not found/);
    // Ids persist across re-open.
    await f.reopen();
    assert.equal(f.svc.get('bridge').Id, bridgeNet.Id);

    // A stopped container's settings: empty addresses.
    const never = f.svc.inspect(newContainerId());
    assert.equal(never.IPAddress, '');
    assert.equal(never.Networks.bridge!.EndpointID, '');

    // Traffic shows in the counters, from the host's end of the veth and from a pid inside.
    assert.equal(inNetns(att.netnsPath!, [...PING, '-c3', '-i0.2', '-W1', f.svc.gateway]).code, 0);
    const peer = f.svc.stats(id)!;
    assert.ok(peer.eth0!.rx_packets >= 3 && peer.eth0!.tx_packets >= 3, JSON.stringify(peer));
    sleeper = spawn('nsenter', [`--net=${att.netnsPath}`, 'sleep', '30'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    const inside = f.svc.stats(id, sleeper.pid)!;
    assert.deepEqual(Object.keys(inside), ['eth0']);
    for (const k of ['rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped', 'tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped']) {
      assert.equal(typeof (inside.eth0 as unknown as Record<string, unknown>)[k], 'number');
    }
    assert.ok(inside.eth0!.tx_packets >= 3);
  } finally {
    sleeper?.kill('SIGKILL');
    await f.cleanup();
  }
});

test('attach and detach are fast (measured)', async (t) => {
  const f = await openFixture();
  try {
    const att: number[] = [], det: number[] = [];
    for (let i = 0; i < 30; i++) {
      const id = newContainerId();
      let t0 = performance.now();
      await f.svc.attach(id, { mode: 'bridge' });
      att.push(performance.now() - t0);
      t0 = performance.now();
      await f.svc.detach(id);
      det.push(performance.now() - t0);
    }
    const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    t.diagnostic(`bridge attach median ${med(att).toFixed(1)} ms, detach median ${med(det).toFixed(1)} ms`);
    // Generous bound: the machine is shared with other test runs.
    assert.ok(med(att) < 40, `attach median ${med(att)} ms`);
  } finally {
    await f.cleanup();
  }
});

test('NAT: a container reaches a network the host routes to, masqueraded (all local: a second netns)', async () => {
  const f = await openFixture();
  const { freeSubnet } = await import('./helpers.js');
  const outerBip = freeSubnet();
  const hostAddr = outerBip;                               // 10.213.y.1/24 on the host end
  const outerIp = outerBip.replace(/\.1\/24$/, '.2');      // the "outside" host
  const outerNs = path.join(f.root, 'outer');
  const hostEnd = `bgto-${f.opts.bridge.slice(4, 12)}`;
  try {
    fs.writeFileSync(outerNs, '');
    const r = sh('unshare', [`--net=${outerNs}`, 'ip', '-batch', '-']);
    assert.equal(r.code, 0, r.err);
    const mk = sh('sh', ['-c', [
      `ip link add ${hostEnd} type veth peer name eth0 netns ${outerNs}`,
      `ip addr add ${hostAddr} dev ${hostEnd}`, `ip link set ${hostEnd} up`,
      `nsenter --net=${outerNs} ip addr add ${outerIp}/24 dev eth0`,
      `nsenter --net=${outerNs} ip link set eth0 up`, `nsenter --net=${outerNs} ip link set lo up`,
    ].join(' && ')]);
    assert.equal(mk.code, 0, mk.err);
    // The outside knows no route back to the bridge subnet: replies arrive only if NAT rewrote the source.
    const id = newContainerId();
    const att = await f.svc.attach(id, { mode: 'bridge' });
    const p = inNetns(att.netnsPath!, [...PING, '-c1', '-W2', outerIp]);
    assert.equal(p.code, 0, `ping through NAT: ${p.out}${p.err}`);
    // Without the rules, the same ping fails.
    const { remove } = await import('../../src/network/iptables.js');
    await remove(f.opts.bridge);
    assert.notEqual(inNetns(att.netnsPath!, [...PING, '-c1', '-W1', outerIp]).code, 0);
  } finally {
    sh('ip', ['link', 'del', hostEnd]);
    sh('umount', [outerNs]);
    await f.cleanup();
  }
});
