// A pull interrupted by the registry dying (kill -9 mid-download): a clear error naming the registry,
// no image, no partial download or half-unpacked layer left, and the same pull works once the
// registry is back. The registry (`barge registry serve`) is reached through a throttling TCP proxy
// so that the kill lands mid-download whatever the machine's speed.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { BARGE, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TarWriter } from '../../src/lib/tarwriter.js';
import { freePort, putBlob, putManifest, sha256 } from './regclient-helpers.js';

const MiB = 1 << 20;
const REPO = 'team/big';

async function startRegistry(root: string, port: number): Promise<ChildProcess> {
  const child = spawn(BARGE, ['registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', root], { stdio: 'ignore' });
  for (const t0 = Date.now(); ;) {
    try { const r = await fetch(`http://127.0.0.1:${port}/v2/`); await r.arrayBuffer(); return child; } catch { /* not yet */ }
    if (child.exitCode !== null || Date.now() - t0 > 15_000) throw new Error('barge registry serve did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP proxy to `port` that passes at most `bytesPerTick` bytes per 10 ms downstream. */
function throttlingProxy(port: number, bytesPerTick: number): Promise<{ port: number; close(): void }> {
  const server = net.createServer((client) => {
    const up = net.connect(port, '127.0.0.1');
    client.pipe(up);
    up.on('data', (b: Buffer) => {
      up.pause();
      let off = 0;
      const step = () => {
        if (client.destroyed) return;
        client.write(b.subarray(off, off + bytesPerTick));
        off += bytesPerTick;
        if (off < b.length) setTimeout(step, 10); else up.resume();
      };
      step();
    });
    const end = () => { client.destroy(); up.destroy(); };
    up.on('close', end); up.on('error', end); client.on('close', end); client.on('error', end);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() })));
}

describe('pull interrupted by the registry dying', () => {
  let d: TestDaemon;
  let registry: ChildProcess | undefined;
  let proxy: { port: number; close(): void } | undefined;
  const layerDigests: string[] = [];
  // Three tries of each layer (Docker's default is five): the failing pull below ends sooner. Two
  // downloads at a time (Docker's default is three): the other two of the four layers wait.
  before(async () => { d = await startDaemon({ extraArgs: ['--max-download-attempts', '3', '--max-concurrent-downloads', '2'] }); });
  after(async () => {
    registry?.kill('SIGKILL');
    proxy?.close();
    await d.cleanup();
  });

  it('fails clearly, leaves nothing behind, and succeeds once the registry is back', async () => {
    const root = path.join(d.dir, 'registry');
    const port = await freePort();
    registry = await startRegistry(root, port);
    // An image: busybox in the first layer, 3 × 24 MiB of incompressible data above it.
    const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
    const tars = [new TarWriter().add({ name: 'bin/busybox', type: 'file', mode: 0o755, data: fs.readFileSync('/bin/busybox') }).finish()];
    for (let i = 1; i <= 3; i++) tars.push(new TarWriter().add({ name: `big${i}.bin`, type: 'file', data: cipher.update(Buffer.alloc(24 * MiB)) }).finish());
    const host = `127.0.0.1:${port}`;
    const descs = [];
    for (const t of tars) {
      const gz = gzipSync(t, { level: 0 });
      layerDigests.push(await putBlob(host, REPO, gz));
      descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(gz), size: gz.length });
    }
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/busybox', 'true'] }, rootfs: { type: 'layers', diff_ids: tars.map(sha256) } }));
    await putBlob(host, REPO, cfg);
    const mt = 'application/vnd.oci.image.manifest.v1+json';
    await putManifest(host, REPO, 'v1', mt, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length }, layers: descs })));

    // ~3 MB/s a connection through the proxy: 72 MiB take several seconds, the kill comes after the first megabytes.
    proxy = await throttlingProxy(port, 32 * 1024);
    const ref = `127.0.0.1:${proxy.port}/${REPO}:v1`;
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.request({ socketPath: d.sock, method: 'POST', path: `/v1.47/images/create?fromImage=${encodeURIComponent(`127.0.0.1:${proxy!.port}/${REPO}`)}&tag=v1` }, (res) => {
        let out = '';
        let killed = false;
        res.on('data', (b: Buffer) => {
          out += b.toString();
          for (const m of b.toString().matchAll(/"status":"Downloading","progressDetail":\{"current":(\d+)/g)) {
            if (!killed && Number(m[1]) > 2 * MiB) { killed = true; registry!.kill('SIGKILL'); }
          }
        });
        res.on('end', () => resolve(out));
      });
      req.on('error', reject);
      req.end();
    });
    assert.match(text, /Downloading/, 'the download had started');
    assert.equal(text.match(/"status":"Waiting"/g)?.length, 2, 'four layers, two downloaded at a time');
    const last = JSON.parse(text.trim().split('\n').pop()!) as { error?: string; errorDetail?: { message: string } };
    assert.ok(last.error, `the pull ends with an error: ${text.slice(-1500)} LOG ${d.log().slice(-2000)}`);
    assert.match(last.error!, new RegExp(`127\\.0\\.0\\.1:${proxy.port}|connection|socket|closed|reset|aborted|terminated`, 'i'), last.error);
    // Each layer was tried --max-download-attempts times, with the waits its messages announce.
    const retries = new Map<string, string[]>();
    for (const line of text.trim().split('\n')) {
      const m = JSON.parse(line) as { id?: string; status?: string };
      if (m.id && m.status?.startsWith('Retrying in')) retries.set(m.id, [...(retries.get(m.id) ?? []), m.status]);
    }
    assert.ok(retries.size > 0, 'the pull retried');
    // (A layer may stop short of its last try when another fails first; none goes beyond it.)
    const full = ['Retrying in 1 second', 'Retrying in 2 seconds'];
    for (const [, r] of retries) assert.deepEqual(r, full.slice(0, r.length), JSON.stringify([...retries]));
    assert.ok([...retries.values()].some((r) => r.length === full.length), JSON.stringify([...retries]));

    // Through the CLI (the registry still down): an exit code and a message naming the registry.
    const cli = d.barge(['pull', `127.0.0.1:${port}/${REPO}:v1`], { timeoutMs: 120_000 });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`), cli.stderr);

    // Nothing half-made: no image, no blob of the image, no ingest or staging left.
    assert.notEqual(d.barge(['image', 'inspect', ref]).code, 0, 'no image');
    const blobs = fs.readdirSync(path.join(d.dataRoot, 'content', 'blobs', 'sha256'));
    for (const l of layerDigests) assert.ok(!blobs.includes(l.slice(7)), `layer blob ${l} not kept`);
    assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'content', 'ingest')), [], 'no partial download');
    assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'snapshots')).filter((n) => n.startsWith('.tmp')), [], 'no half-unpacked layer');

    // The registry comes back: the same pull works and the image runs.
    registry = await startRegistry(root, port);
    const again = await d.bargeAsync(['pull', ref], { timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    const run = d.barge(['run', '--rm', '--network', 'none', ref, '/bin/busybox', 'wc', '-c', '/big3.bin']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^${24 * MiB} /big3.bin`));
  });
});
