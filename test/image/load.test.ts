// POST /images/load against a real barged: OCI image layouts, corrupt and hostile archives (400 and
// nothing stored), and kill -9 in the middle of a large load (nothing visible, no debris after restart).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TarWriter, tarHeader, tarPadding, TAR_END, type TarEntry } from '../../src/lib/tarwriter.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const hex = (d: string) => d.slice(7);

function tarOf(entries: TarEntry[]): Buffer {
  const w = new TarWriter();
  for (const e of entries) w.add(e);
  return w.finish();
}

/** The busybox binary layer: a working image for `docker run`. */
function busyboxLayer(extra: TarEntry[] = []): Buffer {
  return tarOf([
    { name: 'bin', type: 'dir' },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: fs.readFileSync('/bin/busybox') },
    { name: 'bin/sh', type: 'hardlink', linkname: 'bin/busybox' },
    { name: 'bin/cat', type: 'hardlink', linkname: 'bin/busybox' },
    ...extra,
  ]);
}

function config(diffIds: string[], cmd: string[]): Buffer {
  return Buffer.from(JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux', created: '2024-02-02T00:00:00Z',
    config: { Cmd: cmd, Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: diffIds },
  }));
}

function load(d: TestDaemon, body: Buffer | fs.ReadStream, query = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.sock, method: 'POST', path: `/images/load${query}`, headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body); else body.pipe(req);
  });
}

function blobs(d: TestDaemon): string[] {
  return fs.readdirSync(path.join(d.dataRoot, 'content', 'blobs', 'sha256')).sort();
}

function debris(d: TestDaemon): string[] {
  const out: string[] = [];
  out.push(...fs.readdirSync(path.join(d.dataRoot, 'content', 'ingest')).map((n) => `ingest/${n}`));
  out.push(...fs.readdirSync(path.join(d.dataRoot, 'snapshots')).filter((n) => n.startsWith('.tmp-')).map((n) => `snapshots/${n}`));
  out.push(...fs.readdirSync(path.join(d.dataRoot, 'image')).filter((n) => n.startsWith('.tmp-')).map((n) => `image/${n}`));
  return out;
}

describe('docker load', () => {
  let d: TestDaemon;
  const ok = (args: string[], o?: { input?: string | Buffer }) => {
    const r = d.docker(args, o);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  test('an OCI image layout with gzip layers and a nested index loads and runs', async () => {
    const l0 = busyboxLayer();
    const l1 = tarOf([{ name: 'msg', type: 'file', data: 'from an OCI layout\n' }]);
    const g0 = gzipSync(l0);
    const g1 = gzipSync(l1);
    const cfg = config([sha(l0), sha(l1)], ['cat', '/msg']);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length },
      layers: [g0, g1].map((g) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(g), size: g.length })),
    }));
    const platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };
    const inner = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, platform },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha('other'), size: 5, platform: { os: 'linux', architecture: 's390x' } },
      ],
    }));
    const index = JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha(inner), size: inner.length,
        annotations: { 'io.containerd.image.name': 'docker.io/library/ocitest:1.0', 'org.opencontainers.image.ref.name': '1.0' } }],
    });
    const archive = tarOf([
      { name: 'oci-layout', type: 'file', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', type: 'file', data: index },
      ...[g0, g1, cfg, manifest, inner].map((b): TarEntry => ({ name: `blobs/sha256/${hex(sha(b))}`, type: 'file', data: b })),
    ]);
    const r = await load(d, gzipSync(archive), '?quiet=0');
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /"status":"Loading layer"/);
    assert.match(r.text, /\{"stream":"Loaded image: ocitest:1.0\\n"\}/);
    assert.equal(ok(['run', '--rm', '--network', 'none', 'ocitest:1.0']), 'from an OCI layout\n');
    assert.equal(ok(['image', 'inspect', '-f', '{{.Id}}', 'ocitest:1.0']).trim(), sha(cfg));
    // Saved again by barge, it keeps its layers (as uncompressed tars, named by diffID).
    const saved = path.join(d.dir, 'oci-again.tar');
    ok(['save', '-o', saved, 'ocitest:1.0']);
    ok(['rmi', 'ocitest:1.0']);
    assert.match(ok(['load', '-i', saved]), /Loaded image: ocitest:1.0/);
    assert.equal(ok(['run', '--rm', '--network', 'none', 'ocitest:1.0']), 'from an OCI layout\n');
  });

  test('corrupt and hostile archives: 400, no image, no blobs left', async () => {
    const before = blobs(d);
    const images = ok(['images', '-q', '-a']);
    const l0 = busyboxLayer();
    const cfg = config([sha(l0)], ['sh']);
    const good = (over: { layerName?: string; layer?: Buffer; cfg?: Buffer; manifest?: unknown; extra?: TarEntry[] } = {}) => tarOf([
      { name: `blobs/sha256/${hex(sha(over.cfg ?? cfg))}`, type: 'file', data: over.cfg ?? cfg },
      { name: over.layerName ?? `blobs/sha256/${hex(sha(l0))}`, type: 'file', data: over.layer ?? l0 },
      ...(over.extra ?? []),
      { name: 'manifest.json', type: 'file', data: JSON.stringify(over.manifest ?? [{ Config: `blobs/sha256/${hex(sha(over.cfg ?? cfg))}`, RepoTags: ['bad:1'], Layers: [over.layerName ?? `blobs/sha256/${hex(sha(l0))}`] }]) },
    ]);
    const flipped = Buffer.from(l0);
    flipped[flipped.length - 2000] ^= 0xff;
    const cases: [string, Buffer, RegExp][] = [
      // Unpacked as it streams, a layer whose bytes were flipped is refused as a bad tar or by its digest.
      ['a blob whose bytes do not match its name', good({ layer: flipped }), /does not match its digest|layer blobs\/sha256\/\w+: invalid layer tar/],
      ['a layer that does not match the config diffID', good({ layerName: 'layer.tar', layer: busyboxLayer([{ name: 'extra', type: 'file', data: 'x' }]) }), /diffID mismatch/],
      ['layers count mismatch', good({ manifest: [{ Config: `blobs/sha256/${hex(sha(cfg))}`, RepoTags: ['bad:1'], Layers: [] }] }), /layers length mismatch/],
      ['a missing layer', good({ manifest: [{ Config: `blobs/sha256/${hex(sha(cfg))}`, RepoTags: ['bad:1'], Layers: ['nope.tar'] }] }), /not in the archive/],
      ['a name climbing out', good({ extra: [{ name: '../../etc/evil', type: 'file', data: 'x' }] }), /outside the archive/],
      ['a bad tag', good({ manifest: [{ Config: `blobs/sha256/${hex(sha(cfg))}`, RepoTags: ['Bad Tag'], Layers: [`blobs/sha256/${hex(sha(l0))}`] }] }), /invalid reference format/],
      ['no manifest at all', tarOf([{ name: 'hello', type: 'file', data: 'x' }]), /does not contain a manifest\.json/],
      ['not a tar', Buffer.from('garbage'.repeat(300)), /invalid archive/],
      ['a hostile layer', good({ layerName: 'layer.tar', layer: tarOf([{ name: '../../../x', type: 'file', data: 'x' }]),
        cfg: config([sha(tarOf([{ name: '../../../x', type: 'file', data: 'x' }]))], ['sh']) }), /points outside the layer/],
    ];
    for (const [what, body, re] of cases) {
      const r = await load(d, body);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.match(JSON.parse(r.text).message, re, what);
      assert.equal(ok(['images', '-q', '-a']), images, `${what}: no image`);
      assert.deepEqual(blobs(d), before, `${what}: no blob left`);
      assert.deepEqual(debris(d), [], `${what}: no temporary files`);
    }
    // Through the CLI, the error is Docker's "Error response from daemon".
    const cli = d.docker(['load'], { input: cases[0]![1] });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /Error response from daemon: invalid archive/);
  });

  test('kill -9 during the load of a large archive: after restart no half image, no temp files', async () => {
    const file = path.join(d.dir, 'large.tar');
    const fd = fs.openSync(file, 'w');
    const size = 160 * 1024 * 1024;
    // The layer: busybox plus a big random file, written straight to disk.
    const bb = fs.readFileSync('/bin/busybox');
    const h = createHash('sha256');
    const parts: Buffer[] = [];
    const chunk = randomBytes(1 << 20);
    const layerChunks = function* (): Generator<Buffer> {
      yield tarHeader({ name: 'bin/busybox', type: 'file', mode: 0o755 }, bb.length); yield bb; yield tarPadding(bb.length);
      yield tarHeader({ name: 'big', type: 'file' }, size);
      for (let i = 0; i < size; i += chunk.length) yield chunk;
      yield TAR_END;
    };
    let layerSize = 0;
    for (const c of layerChunks()) { h.update(c); layerSize += c.length; }
    const diffId = 'sha256:' + h.digest('hex');
    const cfg = config([diffId], ['sh']);
    parts.push(tarHeader({ name: `blobs/sha256/${hex(sha(cfg))}`, type: 'file' }, cfg.length), cfg, tarPadding(cfg.length));
    parts.push(tarHeader({ name: `blobs/sha256/${hex(diffId)}`, type: 'file' }, layerSize));
    for (const b of parts) fs.writeSync(fd, b);
    for (const c of layerChunks()) fs.writeSync(fd, c);
    fs.writeSync(fd, tarPadding(layerSize));
    const mf = Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hex(sha(cfg))}`, RepoTags: ['large:1'], Layers: [`blobs/sha256/${hex(diffId)}`] }]));
    fs.writeSync(fd, Buffer.concat([tarHeader({ name: 'manifest.json', type: 'file' }, mf.length), mf, tarPadding(mf.length), TAR_END]));
    fs.closeSync(fd);

    const before = blobs(d);
    // The layer is unpacked as the archive streams in (into a .tmp-import directory): kill early and late in it.
    for (const [phase, at] of [['early', 20 << 20], ['late', 120 << 20]] as const) {
      const pending = load(d, fs.createReadStream(file, { highWaterMark: 256 * 1024 })).catch(() => ({ status: 0, text: 'connection cut' }));
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (Date.now() > deadline) throw new Error(`never saw the ${phase} phase: ${JSON.stringify(await Promise.race([pending, Promise.resolve('still loading')]))}`);
        const unpack = fs.readdirSync(path.join(d.dataRoot, 'snapshots')).filter((n) => n.startsWith('.tmp-import'));
        const big = (n: string) => fs.statSync(path.join(d.dataRoot, 'snapshots', n, 'fs', 'big'), { throwIfNoEntry: false })?.size ?? 0;
        if (unpack.some((n) => big(n) > at)) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await d.kill9();
      await pending;
      await d.restart();
      assert.equal(d.docker(['image', 'inspect', 'large:1']).code, 1, `${phase}: no image`);
      assert.deepEqual(debris(d), [], `${phase}: no temporary files`);
      assert.deepEqual(blobs(d), before, `${phase}: no blob left`);
      const snaps = JSON.parse(fs.readFileSync(path.join(d.dataRoot, 'snapshots', 'db.json'), 'utf8')).snapshots;
      assert.ok(!Object.values(snaps).some((s) => (s as { diffId?: string }).diffId === diffId), `${phase}: no snapshot of the layer`);
    }
    // And the same archive, left alone, loads.
    const r = await load(d, fs.createReadStream(file));
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /Loaded image: large:1/);
    fs.rmSync(file);
  });
});
