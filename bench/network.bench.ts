// Issue #4: user networks and published ports, barge vs Docker on the same host.
//   1. create+start+wait of `true` on a user-defined network with one published port (API), p50;
//   2. throughput of a published port from the host's loopback: curl of a 256 MiB file served by
//      busybox httpd in the container (barge forwards in the kernel; Docker 20.10 by default
//      copies 127.0.0.1 traffic through its userland docker-proxy), MB/s, best of n;
//   3. name resolution: 200 lookups of a container name from another container on the network.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { BenchContext } from './lib/context.js';
import type { Engine } from './lib/engine.js';
import { pickSubnet } from './lib/host.js';
import { percentile, sh, timeProcess } from './lib/util.js';

export const name = 'network';
export const description = 'user network: start with -p (API p50), published-port throughput from 127.0.0.1, DNS lookups';
export const order = 40;

const FILE_MIB = 256;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '0.0.0.0', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

async function cycle(e: Engine, network: string, port: number): Promise<number> {
  const t0 = performance.now();
  const c = await e.api.call('POST', '/containers/create', {
    Image: 'busybox', Cmd: ['true'], ExposedPorts: { '80/tcp': {} },
    HostConfig: { NetworkMode: network, PortBindings: { '80/tcp': [{ HostPort: String(port) }] } },
  });
  const id = String(c.Id);
  try {
    await e.api.call('POST', `/containers/${id}/start`);
    const w = await e.api.call('POST', `/containers/${id}/wait`);
    if (w?.StatusCode !== 0) throw new Error(`${e.label}: container exited with ${JSON.stringify(w)}`);
    return performance.now() - t0;
  } finally {
    await e.api.call('DELETE', `/containers/${id}?force=1`, undefined, [404]);
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const engines = await ctx.engines();
  const netName = `bench-net-${process.pid}`;
  const used: string[] = [];
  for (const e of engines) {
    const sub = pickSubnet(used).replace(/\.1\/24$/, '.0/24');
    used.push(sub);
    await e.api.call('POST', '/networks/create', { Name: netName, Driver: 'bridge', IPAM: { Config: [{ Subnet: sub }] } });
  }
  try {
    // 1. start latency with a published port on a user network.
    const n = ctx.n(30, 6);
    const samples = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    const port = await freePort();
    for (const e of engines) { ctx.check(); await cycle(e, netName, port); }
    for (let i = 0; i < n; i++) {
      for (const e of i % 2 ? [...engines].reverse() : engines) { ctx.check(); samples.get(e)!.push(await cycle(e, netName, port)); }
    }
    const p50 = (k: string) => { const e = engines.find((x) => x.kind === k); return e ? percentile(samples.get(e)!, 50) : null; };
    ctx.record({ metric: `create+start+wait \`true\` on a user network with -p: p50 (n=${n})`, unit: 'ms', barge: p50('barge'), docker: p50('docker') });

    // 2. published-port throughput from 127.0.0.1, and 3. DNS lookups.
    const mbps = new Map<string, number>();
    const dns = new Map<string, number>();
    for (const e of engines) {
      ctx.check();
      const hostPort = await freePort();
      const srv = await e.api.call('POST', '/containers/create?name=' + encodeURIComponent(`bench-srv-${process.pid}`), {
        Image: 'busybox', Cmd: ['sh', '-c', `mkdir /w && dd if=/dev/zero of=/w/big bs=1M count=${FILE_MIB} 2>/dev/null && exec httpd -f -p 80 -h /w`],
        ExposedPorts: { '80/tcp': {} }, HostConfig: { NetworkMode: netName, PortBindings: { '80/tcp': [{ HostPort: String(hostPort) }] } },
      });
      const id = String(srv.Id);
      try {
        await e.api.call('POST', `/containers/${id}/start`);
        let ready = false;
        for (let i = 0; i < 100 && !ready; i++) {
          ready = sh('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '2', `http://127.0.0.1:${hostPort}/big`, '-r', '0-0']).stdout.trim() === '206';
          if (!ready) await new Promise((r) => setTimeout(r, 200));
        }
        if (!ready) throw new Error(`${e.label}: the server container never answered on 127.0.0.1:${hostPort}`);
        let best = 0;
        for (let i = 0; i < ctx.n(5, 2); i++) {
          ctx.check();
          const r = sh('curl', ['-s', '-o', '/dev/null', '-w', '%{speed_download}', `http://127.0.0.1:${hostPort}/big`], { timeoutMs: 120_000 });
          best = Math.max(best, Number(r.stdout) / 1e6);
        }
        mbps.set(e.kind, best);
        ctx.log(`${e.label}: published port from 127.0.0.1: ${best.toFixed(0)} MB/s`);

        const cli = e.dockerCli ?? e.ownCli;
        const loop = 'i=0; while [ $i -lt 200 ]; do nslookup bench-srv-' + process.pid + ' >/dev/null || exit 1; i=$((i+1)); done';
        const t = await timeProcess([...cli.argv, 'run', '--rm', '--network', netName, 'busybox', 'sh', '-c', loop], cli.env, 120_000);
        if (t.code !== 0) throw new Error(`${e.label}: DNS loop failed: ${t.stderr.trim()}`);
        dns.set(e.kind, t.ms);
      } finally {
        await e.api.call('DELETE', `/containers/${id}?force=1`, undefined, [404]);
      }
    }
    // The limit: the same file from busybox httpd on the host itself, over plain loopback.
    const loop = await loopbackMBps(ctx);
    ctx.record({ metric: `plain loopback, host httpd → curl of ${FILE_MIB} MiB (best): the limit`, unit: 'MB/s', barge: loop, docker: null });
    const bp = mbps.get('barge') ?? 0;
    ctx.record({
      metric: `published port from 127.0.0.1: curl of ${FILE_MIB} MiB (best; barge ${(bp / loop).toFixed(2)}× loopback)`, unit: 'MB/s',
      barge: mbps.get('barge') ?? null, docker: mbps.get('docker') ?? null, target: { text: '≥ 0.8× loopback', min: 0.8 * loop },
    });
    ctx.record({ metric: '200 DNS lookups of a container name (one `run --rm`, docker CLI)', unit: 'ms', barge: dns.get('barge') ?? null, docker: dns.get('docker') ?? null });
  } finally {
    for (const e of engines) await e.api.call('DELETE', `/networks/${netName}`, undefined, [404, 403]).catch(() => undefined);
  }
}

async function loopbackMBps(ctx: BenchContext): Promise<number> {
  const dir = fs.mkdtempSync(path.join(ctx.run.dir, 'loop-'));
  fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(FILE_MIB << 20));
  const port = await freePort();
  const httpd = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', dir], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    let best = 0;
    for (let i = 0; i < ctx.n(5, 2); i++) {
      const r = sh('curl', ['-s', '-o', '/dev/null', '-w', '%{speed_download}', `http://127.0.0.1:${port}/big`], { timeoutMs: 120_000 });
      best = Math.max(best, Number(r.stdout) / 1e6);
    }
    return best;
  } finally {
    httpd.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
