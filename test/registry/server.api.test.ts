// The registry server's API (OCI distribution spec v1.1) over raw HTTP against a real
// `barge registry serve` on a free port and a temp root: ping, blob uploads (monolithic, POST+PUT,
// chunked, out-of-order chunks, status, cancel), blob reads (HEAD, GET, Range), cross-repository
// mounts, manifests (OCI, Docker schema 2, index, validation), tags and catalog pagination,
// referrers, the spec's error bodies, hostile names and digests, crash-safe uploads, gc.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BARGE } from '../helpers/daemon.js';
import { until } from '../helpers/engine.js';
import { startRegistry, pushBlob, pushImage, sha256, listTree, type Registry } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

function errCode(r: { json: any }): string { return r.json?.errors?.[0]?.code; }

describe('registry server API', () => {
  let reg: Registry;
  const dirs: string[] = [];
  before(async () => { reg = await startRegistry(); dirs.push(reg.root); });
  after(async () => {
    await reg?.stop();
    for (const d of dirs) { fs.rmSync(d, { recursive: true, force: true }); fs.rmSync(`${d}.log`, { force: true }); }
  });

  test('ping answers with the API version header', async () => {
    const r = await reg.req('GET', '/v2/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal((await reg.req('GET', '/v2')).status, 200);
  });

  test('monolithic upload, HEAD, GET, Range and a 416', async () => {
    const data = Buffer.from('0123456789abcdefghij');
    const d = sha256(data);
    const r = await reg.req('POST', `/v2/mono/blobs/uploads/?digest=${d}`, { body: data });
    assert.equal(r.status, 201, r.body.toString());
    assert.equal(r.headers['location'], `/v2/mono/blobs/${d}`);
    assert.equal(r.headers['docker-content-digest'], d);
    const h = await reg.req('HEAD', `/v2/mono/blobs/${d}`);
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], '20');
    assert.equal(h.headers['docker-content-digest'], d);
    assert.equal(h.body.length, 0);
    const g = await reg.req('GET', `/v2/mono/blobs/${d}`);
    assert.equal(g.status, 200);
    assert.deepEqual(g.body, data);
    const p = await reg.req('GET', `/v2/mono/blobs/${d}`, { headers: { Range: 'bytes=5-9' } });
    assert.equal(p.status, 206);
    assert.equal(p.body.toString(), '56789');
    assert.equal(p.headers['content-range'], 'bytes 5-9/20');
    assert.equal((await reg.req('GET', `/v2/mono/blobs/${d}`, { headers: { Range: 'bytes=15-' } })).body.toString(), 'fghij');
    assert.equal((await reg.req('GET', `/v2/mono/blobs/${d}`, { headers: { Range: 'bytes=-3' } })).body.toString(), 'hij');
    const bad = await reg.req('GET', `/v2/mono/blobs/${d}`, { headers: { Range: 'bytes=20-30' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], 'bytes */20');
    // Stored once by digest, under blobs/, nowhere else.
    assert.deepEqual(listTree(path.join(reg.root, 'blobs')), [`sha256/${d.slice(7, 9)}/${d.slice(7)}`]);
  });

  test('unknown blobs and wrong digests get the spec error bodies', async () => {
    const missing = sha256('nothing');
    const r = await reg.req('GET', `/v2/mono/blobs/${missing}`);
    assert.equal(r.status, 404);
    assert.equal(errCode(r), 'BLOB_UNKNOWN');
    assert.equal(typeof r.json.errors[0].message, 'string');
    assert.ok('detail' in r.json.errors[0]);
    const h = await reg.req('HEAD', `/v2/mono/blobs/${missing}`);
    assert.equal(h.status, 404);
    const wrong = await reg.req('POST', `/v2/mono/blobs/uploads/?digest=${sha256('other')}`, { body: 'data' });
    assert.equal(wrong.status, 400);
    assert.equal(errCode(wrong), 'DIGEST_INVALID');
    assert.equal((await reg.req('GET', `/v2/mono/blobs/${sha256('data')}`)).status, 404, 'nothing stored for a wrong digest');
    assert.deepEqual(fs.readdirSync(path.join(reg.root, 'uploads')), [], 'the failed upload is gone');
    for (const bad of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'A'.repeat(64), 'nodigest']) {
      const b = await reg.req('GET', `/v2/mono/blobs/${bad}`);
      assert.equal(b.status, 400, bad);
      assert.equal(errCode(b), 'DIGEST_INVALID', bad);
    }
  });

  test('sha512 digests are verified too', async () => {
    const { createHash } = await import('node:crypto');
    const data = Buffer.from('sha512 content');
    const d = 'sha512:' + createHash('sha512').update(data).digest('hex');
    const r = await reg.req('POST', `/v2/mono/blobs/uploads/?digest=${d}`, { body: data });
    assert.equal(r.status, 201, r.body.toString());
    assert.deepEqual((await reg.req('GET', `/v2/mono/blobs/${d}`)).body, data);
  });

  test('POST then PUT with the body', async () => {
    const s = await reg.req('POST', '/v2/two/step/blobs/uploads/');
    assert.equal(s.status, 202);
    const loc = s.headers['location']!;
    assert.match(loc, /^\/v2\/two\/step\/blobs\/uploads\/[a-f0-9]{32}$/);
    assert.equal(s.headers['docker-upload-uuid'], loc.split('/').pop());
    assert.equal(s.headers['range'], '0-0');
    const data = Buffer.from('put in one go');
    const p = await reg.req('PUT', `${loc}?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(p.status, 201);
    assert.equal(p.headers['location'], `/v2/two/step/blobs/${sha256(data)}`);
    assert.deepEqual((await reg.req('GET', `/v2/two/step/blobs/${sha256(data)}`)).body, data);
    assert.equal((await reg.req('GET', loc)).status, 404, 'a finished upload is gone');
  });

  test('chunked upload: PATCH with Content-Range, status, out-of-order 416, final PUT', async () => {
    const data = Buffer.from('a'.repeat(1000) + 'b'.repeat(1000) + 'c'.repeat(500));
    const s = await reg.req('POST', '/v2/chunky/blobs/uploads/');
    const loc = s.headers['location']!;
    const p1 = await reg.req('PATCH', loc, { body: data.subarray(0, 1000), headers: { 'Content-Range': '0-999', 'Content-Type': 'application/octet-stream' } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers['range'], '0-999');
    assert.equal(p1.headers['location'], loc);
    // A chunk that does not start where the upload ends.
    const ooo = await reg.req('PATCH', loc, { body: data.subarray(1500, 2000), headers: { 'Content-Range': '1500-1999' } });
    assert.equal(ooo.status, 416);
    assert.equal(ooo.headers['range'], '0-999');
    const st = await reg.req('GET', loc);
    assert.equal(st.status, 204);
    assert.equal(st.headers['range'], '0-999');
    assert.equal(st.headers['docker-upload-uuid'], loc.split('/').pop());
    // Content-Range and Content-Length that disagree.
    const lie = await reg.req('PATCH', loc, { body: data.subarray(1000, 1500), headers: { 'Content-Range': '1000-1999' } });
    assert.equal(lie.status, 416);
    assert.equal((await reg.req('GET', loc)).headers['range'], '0-999', 'nothing of the bad chunk kept');
    // A streamed chunk (no Content-Range, chunked transfer encoding).
    const p2 = await reg.req('PATCH', loc, { chunks: [data.subarray(1000, 1500), data.subarray(1500, 2000)] });
    assert.equal(p2.status, 202);
    assert.equal(p2.headers['range'], '0-1999');
    const fin = await reg.req('PUT', `${loc}?digest=${sha256(data)}`, { body: data.subarray(2000), headers: { 'Content-Range': '2000-2499' } });
    assert.equal(fin.status, 201, fin.body.toString());
    assert.deepEqual((await reg.req('GET', `/v2/chunky/blobs/${sha256(data)}`)).body, data);
  });

  test('a chunk longer than the writeback interval (64 MiB) is stored whole, with an ordinary file mode', async () => {
    const { randomBytes } = await import('node:crypto');
    const data = randomBytes(70 << 20);
    const loc = (await reg.req('POST', '/v2/big/chunk/blobs/uploads/')).headers['location']!;
    // Streamed in 1 MiB pieces, as a client sends a layer.
    const pieces: Buffer[] = [];
    for (let off = 0; off < 66 << 20; off += 1 << 20) pieces.push(data.subarray(off, off + (1 << 20)));
    const p = await reg.req('PATCH', loc, { chunks: pieces });
    assert.equal(p.status, 202);
    assert.equal(p.headers['range'], `0-${(66 << 20) - 1}`);
    const fin = await reg.req('PUT', `${loc}?digest=${sha256(data)}`, { body: data.subarray(66 << 20), headers: { 'Content-Range': `${66 << 20}-${data.length - 1}` } });
    assert.equal(fin.status, 201, fin.body.toString());
    const hexOf = sha256(data).slice(7);
    const blob = path.join(reg.root, 'blobs', 'sha256', hexOf.slice(0, 2), hexOf);
    // Its whole blocks went around the page cache (where the filesystem allows it: /tmp here).
    const cached = Number(spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', blob], { encoding: 'utf8' }).stdout.trim());
    assert.ok(cached < (1 << 20), `page-cache bytes of the uploaded blob: ${cached}`);
    const got = await reg.req('GET', `/v2/big/chunk/blobs/${sha256(data)}`);
    assert.equal(sha256(got.body), sha256(data));
    // The mode any new file of this process gets (0666 less the umask we share with the server).
    const probe = path.join(reg.root, 'mode-probe');
    fs.writeFileSync(probe, '');
    const want = fs.statSync(probe).mode & 0o777;
    fs.rmSync(probe);
    const hex = sha256(data).slice(7);
    assert.equal(fs.statSync(path.join(reg.root, 'blobs', 'sha256', hex.slice(0, 2), hex)).mode & 0o777, want);
  });

  test('uploads side by side past the writeback interval are all stored whole', async () => {
    const { randomBytes } = await import('node:crypto');
    const blobs = [randomBytes(140 << 20), randomBytes(70 << 20), randomBytes(70 << 20)];
    await Promise.all(blobs.map(async (data, i) => {
      const loc = (await reg.req('POST', `/v2/side/${i}/blobs/uploads/`)).headers['location']!;
      const pieces: Buffer[] = [];
      for (let off = 0; off < data.length; off += 1 << 20) pieces.push(data.subarray(off, off + (1 << 20)));
      const p = await reg.req('PATCH', loc, { chunks: pieces });
      assert.equal(p.status, 202);
      const fin = await reg.req('PUT', `${loc}?digest=${sha256(data)}`);
      assert.equal(fin.status, 201, fin.body.toString());
    }));
    for (const [i, data] of blobs.entries()) {
      const got = await reg.req('GET', `/v2/side/${i}/blobs/${sha256(data)}`);
      assert.equal(sha256(got.body), sha256(data), `blob ${i}`);
    }
  });

  test('blobs sent side by side, and after a client went away mid-blob, arrive whole (the read blocks are reused); big ones read around the page cache', async () => {
    const { randomBytes } = await import('node:crypto');
    // The first is big enough to be read directly (lentread.ts), the second is not.
    const blobs = [randomBytes((9 << 20) + 5), randomBytes((2 << 20) + 77)];
    const digests = await Promise.all(blobs.map((b) => pushBlob(reg, 'sendbuf/x', b)));
    // A client that reads a little of a big blob and hangs up.
    await new Promise<void>((resolve) => {
      const r = http.get({ host: '127.0.0.1', port: reg.port, path: `/v2/sendbuf/x/blobs/${digests[0]}` }, (res) => {
        res.once('data', () => { r.destroy(); resolve(); });
      });
      r.on('error', () => resolve());
    });
    for (let round = 0; round < 2; round++) {
      const got = await Promise.all([0, 1, 0, 1].map((i) => reg.req('GET', `/v2/sendbuf/x/blobs/${digests[i]}`)));
      got.forEach((g, j) => assert.equal(sha256(g.body), digests[j % 2], `blob ${j % 2}, round ${round}`));
      if (round === 0) {
        // Stored and served whole around the page cache: at most its last, partial page is cached.
        // (A range from an unaligned offset, below, is read buffered.)
        const file = path.join(reg.root, 'blobs', 'sha256', digests[0]!.slice(7, 9), digests[0]!.slice(7));
        const res = Number(spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).stdout.trim());
        assert.ok(res <= 4096, `${res} bytes of the big blob in the page cache`);
      }
      const part = await reg.req('GET', `/v2/sendbuf/x/blobs/${digests[0]}`, { headers: { Range: `bytes=${(1 << 20) - 3}-${(2 << 20) + 9}` } });
      assert.equal(part.status, 206);
      assert.ok(part.body.equals(blobs[0]!.subarray((1 << 20) - 3, (2 << 20) + 10)));
      const aligned = await reg.req('GET', `/v2/sendbuf/x/blobs/${digests[0]}`, { headers: { Range: `bytes=4096-` } });
      assert.ok(aligned.body.equals(blobs[0]!.subarray(4096)));
    }
  });

  test('a chunk cut off mid-stream: the upload keeps what arrived and resumes from there', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
    const s = await reg.req('POST', '/v2/cut/blobs/uploads/');
    const loc = s.headers['location']!;
    const id = String(s.headers['docker-upload-uuid']);
    const file = path.join(reg.root, 'uploads', id, 'data');
    const req = http.request({ host: '127.0.0.1', port: reg.port, method: 'PATCH', path: loc, headers: { 'Content-Type': 'application/octet-stream' } });
    req.on('error', () => { /* destroyed on purpose */ });
    req.write(data.subarray(0, 100_000));
    await until('the first bytes to reach the disk', () => fs.statSync(file).size === 100_000);
    req.destroy();
    let st = await reg.req('GET', loc);
    for (let i = 0; i < 50 && st.status !== 204; i++) { await new Promise((r) => setTimeout(r, 50)); st = await reg.req('GET', loc); }
    assert.equal(st.status, 204);
    const have = Number(String(st.headers['range']).split('-')[1]) + 1;
    assert.equal(have, 100_000);
    // Wait until the cut-off request is finished on the server side (the upload is no longer busy).
    let p2 = await reg.req('PATCH', loc, { body: data.subarray(have), headers: { 'Content-Range': `${have}-${data.length - 1}` } });
    for (let i = 0; i < 50 && p2.status === 416; i++) { await new Promise((r) => setTimeout(r, 50)); p2 = await reg.req('PATCH', loc, { body: data.subarray(have), headers: { 'Content-Range': `${have}-${data.length - 1}` } }); }
    assert.equal(p2.status, 202, p2.body.toString());
    const fin = await reg.req('PUT', `${loc}?digest=${sha256(data)}`);
    assert.equal(fin.status, 201, fin.body.toString());
    assert.deepEqual((await reg.req('GET', `/v2/cut/blobs/${sha256(data)}`)).body, data);
  });

  test('a second writer to a busy upload gets 416; a bad --addr is refused', async () => {
    const s = await reg.req('POST', '/v2/busy/blobs/uploads/');
    const loc = s.headers['location']!;
    const id = String(s.headers['docker-upload-uuid']);
    const first = http.request({ host: '127.0.0.1', port: reg.port, method: 'PATCH', path: loc, headers: { 'Content-Type': 'application/octet-stream' } });
    const done = new Promise<number>((resolve, reject) => { first.on('response', (r) => { r.resume(); resolve(r.statusCode ?? 0); }); first.on('error', reject); });
    first.write(Buffer.alloc(1000, 1));
    await until('the first writer to be under way', () => fs.statSync(path.join(reg.root, 'uploads', id, 'data')).size === 1000);
    const second = await reg.req('PATCH', loc, { body: 'intruder', headers: { 'Content-Range': '1000-1007' } });
    assert.equal(second.status, 416);
    first.end(Buffer.alloc(1000, 2));
    assert.equal(await done, 202);
    assert.equal((await reg.req('GET', loc)).headers['range'], '0-1999');
    const bad = spawnSync(process.execPath, [BARGE, 'registry', 'serve', '--addr', 'localhost', '--root', reg.root + '-never'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid --addr "localhost": want HOST:PORT/);
    fs.rmSync(reg.root + '-never', { recursive: true, force: true });
  });

  test('PUT without a digest, wrong final digest, cancelled and unknown uploads', async () => {
    const s = await reg.req('POST', '/v2/cancel/blobs/uploads/');
    const loc = s.headers['location']!;
    const nod = await reg.req('PUT', loc, { body: '' });
    assert.equal(nod.status, 400);
    assert.equal(errCode(nod), 'DIGEST_INVALID');
    await reg.req('PATCH', loc, { body: 'some bytes' });
    const del = await reg.req('DELETE', loc);
    assert.equal(del.status, 204);
    const gone = await reg.req('GET', loc);
    assert.equal(gone.status, 404);
    assert.equal(errCode(gone), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(errCode(await reg.req('PATCH', '/v2/cancel/blobs/uploads/0123456789abcdef0123456789abcdef', { body: 'x' })), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(errCode(await reg.req('GET', '/v2/cancel/blobs/uploads/..%2f..%2fetc')), 'BLOB_UPLOAD_UNKNOWN');
    // An upload belongs to its repository.
    const other = await reg.req('POST', '/v2/owner/blobs/uploads/');
    const id = other.headers['docker-upload-uuid'];
    assert.equal((await reg.req('GET', `/v2/thief/blobs/uploads/${id}`)).status, 404);
    const s2 = await reg.req('POST', '/v2/cancel/blobs/uploads/');
    await reg.req('PATCH', s2.headers['location']!, { body: 'abc' });
    const bad = await reg.req('PUT', `${s2.headers['location']}?digest=${sha256('abd')}`);
    assert.equal(bad.status, 400);
    assert.equal(errCode(bad), 'DIGEST_INVALID');
  });

  test('cross-repository mount: 201 when the source has it, else an upload (202)', async () => {
    const d = await pushBlob(reg, 'src/repo', 'mount me');
    const m = await reg.req('POST', `/v2/dst/repo/blobs/uploads/?mount=${d}&from=src/repo`);
    assert.equal(m.status, 201);
    assert.equal(m.headers['location'], `/v2/dst/repo/blobs/${d}`);
    assert.equal(m.headers['docker-content-digest'], d);
    assert.equal((await reg.req('GET', `/v2/dst/repo/blobs/${d}`)).body.toString(), 'mount me');
    const miss = await reg.req('POST', `/v2/dst/repo/blobs/uploads/?mount=${sha256('not there')}&from=src/repo`);
    assert.equal(miss.status, 202);
    assert.match(miss.headers['location']!, /\/v2\/dst\/repo\/blobs\/uploads\//);
    const badFrom = await reg.req('POST', `/v2/dst/repo/blobs/uploads/?mount=${d}&from=../src`);
    assert.equal(badFrom.status, 202, 'an invalid source name is not mounted from');
    // Blob visibility is per repository: a blob pushed to src/repo is not readable in another repo.
    assert.equal((await reg.req('GET', `/v2/third/blobs/${d}`)).status, 404);
    // Deleting a blob removes the link only.
    assert.equal((await reg.req('DELETE', `/v2/dst/repo/blobs/${d}`)).status, 202);
    assert.equal((await reg.req('GET', `/v2/dst/repo/blobs/${d}`)).status, 404);
    assert.equal((await reg.req('GET', `/v2/src/repo/blobs/${d}`)).status, 200);
    assert.equal(errCode(await reg.req('DELETE', `/v2/dst/repo/blobs/${d}`)), 'BLOB_UNKNOWN');
  });

  test('manifests: OCI and Docker schema 2 by tag and digest, served as stored', async () => {
    const img = await pushImage(reg, 'man/oci', 'v1');
    assert.equal(img.res.headers['docker-content-digest'], img.digest);
    assert.equal(img.res.headers['location'], `/v2/man/oci/manifests/${img.digest}`);
    for (const ref of ['v1', img.digest]) {
      const g = await reg.req('GET', `/v2/man/oci/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(g.status, 200);
      assert.equal(g.headers['content-type'], OCI_MANIFEST);
      assert.equal(g.headers['docker-content-digest'], img.digest);
      assert.deepEqual(g.body, img.manifest);
      const h = await reg.req('HEAD', `/v2/man/oci/manifests/${ref}`);
      assert.equal(h.status, 200);
      assert.equal(Number(h.headers['content-length']), img.manifest.length);
    }
    const dk = await pushImage(reg, 'man/docker', 'latest', { mediaType: DOCKER_MANIFEST });
    const g = await reg.req('GET', '/v2/man/docker/manifests/latest');
    assert.equal(g.headers['content-type'], DOCKER_MANIFEST);
    assert.deepEqual(g.body, dk.manifest);
    // Accept that rules the stored type out (and does not when it lists it, a wildcard, or no manifest type).
    const ruled = await reg.req('GET', '/v2/man/oci/manifests/v1', { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(ruled.status, 404);
    assert.equal(errCode(ruled), 'MANIFEST_UNKNOWN');
    for (const accept of [`${DOCKER_MANIFEST}, ${OCI_MANIFEST};q=0.5`, `${DOCKER_MANIFEST}, */*`, 'application/json']) {
      assert.equal((await reg.req('GET', '/v2/man/oci/manifests/v1', { headers: { Accept: accept } })).status, 200, accept);
    }
    const u = await reg.req('GET', '/v2/man/oci/manifests/nope');
    assert.equal(u.status, 404);
    assert.equal(errCode(u), 'MANIFEST_UNKNOWN');
    const n = await reg.req('GET', '/v2/no/such/repo/manifests/latest');
    assert.equal(n.status, 404);
    assert.equal(errCode(n), 'NAME_UNKNOWN');
  });

  test('manifest validation: unknown blobs, bad JSON, wrong digest, schema 1, mismatched media type', async () => {
    const layer = await pushBlob(reg, 'val', 'a layer');
    const cfg = await pushBlob(reg, 'val', '{}');
    const mk = (o: Record<string, unknown>) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 7 }], ...o }));
    const put = (body: Buffer | string, ref = 't', ct = OCI_MANIFEST) => reg.req('PUT', `/v2/val/manifests/${ref}`, { body, headers: { 'Content-Type': ct } });
    assert.equal((await put(mk({}))).status, 201);
    const missing = sha256('missing layer');
    const r = await put(mk({ layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: missing, size: 13 }] }));
    assert.equal(r.status, 400);
    assert.equal(errCode(r), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(r.json.errors[0].detail.digest, missing);
    // A blob of another repository does not count.
    const foreign = await pushBlob(reg, 'elsewhere', 'foreign layer');
    assert.equal(errCode(await put(mk({ layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: foreign, size: 13 }] }))), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(errCode(await put('{not json')), 'MANIFEST_INVALID');
    assert.equal(errCode(await put(JSON.stringify({ schemaVersion: 1, name: 'val', tag: 't', fsLayers: [] }), 't', 'application/vnd.docker.distribution.manifest.v1+prettyjws')), 'MANIFEST_INVALID');
    assert.equal(errCode(await put(mk({}), 't', DOCKER_MANIFEST)), 'MANIFEST_INVALID', 'mediaType field and Content-Type disagree');
    assert.equal(errCode(await put(mk({ layers: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] }))), 'MANIFEST_INVALID');
    assert.equal(errCode(await put(mk({}), sha256('something else'))), 'DIGEST_INVALID');
    const byDigest = mk({ annotations: { by: 'digest' } });
    assert.equal((await put(byDigest, sha256(byDigest))).status, 201);
    assert.equal(errCode(await put(mk({}), 'bad:tag!')), 'DIGEST_INVALID');
    const longTag = await put(mk({}), 'x'.repeat(129));
    assert.equal(longTag.status, 400);
    assert.equal(errCode(longTag), 'TAG_INVALID');
    const big = await reg.req('PUT', '/v2/val/manifests/big', { body: Buffer.alloc(5 << 20, 32), headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(big.status, 413);
  });

  test('indexes and manifest lists need their children in the repository', async () => {
    const a = await pushImage(reg, 'idx', 'amd64', { layer: 'amd64 layer' });
    const b = await pushImage(reg, 'idx', 'arm64', { layer: 'arm64 layer' });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [
      { mediaType: OCI_MANIFEST, digest: a.digest, size: a.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: OCI_MANIFEST, digest: b.digest, size: b.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
    ] }));
    const r = await reg.req('PUT', '/v2/idx/manifests/multi', { body: index, headers: { 'Content-Type': OCI_INDEX } });
    assert.equal(r.status, 201, r.body.toString());
    const g = await reg.req('GET', '/v2/idx/manifests/multi');
    assert.equal(g.headers['content-type'], OCI_INDEX);
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [
      { mediaType: OCI_MANIFEST, digest: sha256('absent'), size: 10, platform: { os: 'linux', architecture: 'amd64' } },
    ] }));
    const bad = await reg.req('PUT', '/v2/idx/manifests/list', { body: list, headers: { 'Content-Type': DOCKER_LIST } });
    assert.equal(bad.status, 400);
    assert.equal(errCode(bad), 'MANIFEST_BLOB_UNKNOWN');
  });

  test('manifest DELETE: a tag, or a manifest and its tags', async () => {
    const img = await pushImage(reg, 'del', 'one');
    await reg.req('PUT', '/v2/del/manifests/two', { body: img.manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal((await reg.req('DELETE', '/v2/del/manifests/one')).status, 202);
    assert.deepEqual((await reg.req('GET', '/v2/del/tags/list')).json.tags, ['two']);
    assert.equal((await reg.req('GET', `/v2/del/manifests/${img.digest}`)).status, 200, 'the manifest outlives its tag');
    assert.equal((await reg.req('DELETE', `/v2/del/manifests/${img.digest}`)).status, 202);
    assert.equal((await reg.req('GET', `/v2/del/manifests/${img.digest}`)).status, 404);
    assert.deepEqual((await reg.req('GET', '/v2/del/tags/list')).json.tags, []);
    assert.equal(errCode(await reg.req('DELETE', `/v2/del/manifests/${img.digest}`)), 'MANIFEST_UNKNOWN');
    assert.equal(errCode(await reg.req('DELETE', '/v2/del/manifests/never')), 'MANIFEST_UNKNOWN');
  });

  test('tags list and catalog paginate with n, last and Link', async () => {
    const img = await pushImage(reg, 'pages/a', 'base');
    for (const t of ['t3', 't1', 't2', 't5', 't4']) {
      assert.equal((await reg.req('PUT', `/v2/pages/a/manifests/${t}`, { body: img.manifest, headers: { 'Content-Type': OCI_MANIFEST } })).status, 201);
    }
    const all = await reg.req('GET', '/v2/pages/a/tags/list');
    assert.deepEqual(all.json, { name: 'pages/a', tags: ['base', 't1', 't2', 't3', 't4', 't5'] });
    assert.equal(all.headers['link'], undefined);
    const p1 = await reg.req('GET', '/v2/pages/a/tags/list?n=2');
    assert.deepEqual(p1.json.tags, ['base', 't1']);
    assert.equal(p1.headers['link'], '</v2/pages/a/tags/list?n=2&last=t1>; rel="next"');
    const next = p1.headers['link']!.match(/<([^>]+)>/)![1]!;
    const p2 = await reg.req('GET', next);
    assert.deepEqual(p2.json.tags, ['t2', 't3']);
    const p3 = await reg.req('GET', '/v2/pages/a/tags/list?n=2&last=t3');
    assert.deepEqual(p3.json.tags, ['t4', 't5']);
    assert.equal(p3.headers['link'], undefined);
    assert.deepEqual((await reg.req('GET', '/v2/pages/a/tags/list?n=0')).json.tags, []);
    assert.equal(errCode(await reg.req('GET', '/v2/pages/a/tags/list?n=-1')), 'PAGINATION_NUMBER_INVALID');
    assert.equal(errCode(await reg.req('GET', '/v2/pages/none/tags/list')), 'NAME_UNKNOWN');
    await pushImage(reg, 'pages/b', 'x');
    await pushImage(reg, 'pages/a/nested', 'x');
    const cat = await reg.req('GET', '/v2/_catalog');
    assert.ok(cat.json.repositories.includes('pages/a'));
    assert.ok(cat.json.repositories.includes('pages/a/nested'));
    assert.deepEqual([...cat.json.repositories].sort(), cat.json.repositories);
    const c1 = await reg.req('GET', '/v2/_catalog?n=1&last=pages/a');
    assert.deepEqual(c1.json.repositories, ['pages/a/nested']);
    assert.equal(c1.headers['link'], `</v2/_catalog?n=1&last=${encodeURIComponent('pages/a/nested')}>; rel="next"`);
    const c2 = await reg.req('GET', c1.headers['link']!.match(/<([^>]+)>/)![1]!);
    assert.deepEqual(c2.json.repositories.slice(0, 1), ['pages/b']);
  });

  test('referrers: subject on PUT (OCI-Subject), listing, artifactType filter, delete', async () => {
    const subject = await pushImage(reg, 'refs', 'app');
    const emptyCfg = await pushBlob(reg, 'refs', '{}');
    const sig = Buffer.from('signature bytes');
    const sigD = await pushBlob(reg, 'refs', sig);
    const mk = (artifactType: string | undefined, note: string) => Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST, ...(artifactType ? { artifactType } : {}),
      config: { mediaType: artifactType ? 'application/vnd.oci.empty.v1+json' : 'application/vnd.example.config+json', digest: emptyCfg, size: 2 },
      layers: [{ mediaType: 'application/octet-stream', digest: sigD, size: sig.length }],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
      annotations: { note },
    }));
    const s1 = mk('application/vnd.example.sig', 'first');
    const r1 = await reg.req('PUT', `/v2/refs/manifests/${sha256(s1)}`, { body: s1, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(r1.status, 201);
    assert.equal(r1.headers['oci-subject'], subject.digest);
    const s2 = mk(undefined, 'second');
    await reg.req('PUT', '/v2/refs/manifests/sbom', { body: s2, headers: { 'Content-Type': OCI_MANIFEST } });
    const all = await reg.req('GET', `/v2/refs/referrers/${subject.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers['content-type'], OCI_INDEX);
    assert.equal(all.json.mediaType, OCI_INDEX);
    const byDigest = Object.fromEntries(all.json.manifests.map((d: any) => [d.digest, d]));
    assert.deepEqual(byDigest[sha256(s1)], { mediaType: OCI_MANIFEST, digest: sha256(s1), size: s1.length, artifactType: 'application/vnd.example.sig', annotations: { note: 'first' } });
    assert.equal(byDigest[sha256(s2)].artifactType, 'application/vnd.example.config+json', 'no artifactType: the config media type');
    const f = await reg.req('GET', `/v2/refs/referrers/${subject.digest}?artifactType=application/vnd.example.sig`);
    assert.equal(f.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual(f.json.manifests.map((d: any) => d.digest), [sha256(s1)]);
    const none = await reg.req('GET', `/v2/refs/referrers/${sha256('no subject')}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.json.manifests, []);
    assert.equal(errCode(await reg.req('GET', '/v2/refs/referrers/sha256:nothex')), 'DIGEST_INVALID');
    await reg.req('DELETE', `/v2/refs/manifests/${sha256(s1)}`);
    assert.deepEqual((await reg.req('GET', `/v2/refs/referrers/${subject.digest}`)).json.manifests.map((d: any) => d.digest), [sha256(s2)]);
  });

  test('hostile names and digests are refused and never reach outside the root', async () => {
    // A registry of its own, whose root sits in a private directory: other tests create files in
    // /tmp meanwhile, so only a private parent can show that nothing was written next to the root.
    const parent = fs.mkdtempSync('/tmp/bregs-hostile-');
    dirs.push(parent);
    const reg = await startRegistry([], path.join(parent, 'root'));
    try {
      const outside = path.join(parent, 'escape-root');
      const before = new Set(fs.readdirSync(parent));
      const data = Buffer.from('hostile');
      const d = sha256(data);
      const names = ['..', '../x', 'a/../../x', '..%2f..%2fx', '%2e%2e/x', 'a%2fb', 'A/b', 'a//b', '/abs', 'a/_layers', '_catalog/x', 'a\\b', 'a%00b', 'x'.repeat(300), '.hidden'];
      for (const n of names) {
        for (const [method, p, body] of [
          ['POST', `/v2/${n}/blobs/uploads/?digest=${d}`, data],
          ['POST', `/v2/${n}/blobs/uploads/`, undefined],
          ['PUT', `/v2/${n}/manifests/latest`, Buffer.from('{}')],
          ['GET', `/v2/${n}/tags/list`, undefined],
          ['GET', `/v2/${n}/blobs/${d}`, undefined],
        ] as const) {
          const r = await reg.req(method, p, body ? { body } : {});
          assert.ok(r.status === 400 || r.status === 404, `${method} ${p}: ${r.status}`);
          if (r.status === 400) assert.equal(errCode(r), 'NAME_INVALID', `${method} ${p}`);
        }
      }
      for (const dg of ['sha256:../../../../etc/passwd', 'sha256%3a..%2f..', '..', 'sha256:' + '0'.repeat(63) + '/', `sha256:${'a'.repeat(64)}/../x`]) {
        const r = await reg.req('GET', `/v2/ok/blobs/${dg}`);
        assert.ok(r.status === 400 || r.status === 404, `${dg}: ${r.status}`);
        const m = await reg.req('POST', `/v2/ok/blobs/uploads/?digest=${encodeURIComponent(dg)}`, { body: data });
        assert.equal(m.status, 400, dg);
      }
      const tagPut = await reg.req('PUT', '/v2/ok/manifests/..', { body: '{}' });
      assert.equal(tagPut.status, 400);
      assert.equal(fs.existsSync(outside), false);
      assert.deepEqual(new Set(fs.readdirSync(parent)), before, 'nothing new next to the root');
      for (const f of listTree(reg.root)) assert.ok(!f.includes('..'), f);
    } finally { await reg.stop(); }
  });

  test('unknown endpoints and methods', async () => {
    assert.equal((await reg.req('GET', '/v3/')).status, 404);
    const m = await reg.req('PATCH', '/v2/x/manifests/latest', { body: '{}' });
    assert.equal(m.status, 405);
    assert.equal(errCode(m), 'UNSUPPORTED');
    assert.equal((await reg.req('GET', '/token')).status, 404, 'no token endpoint without --auth token');
  });

  test('a chunked upload survives a server restart; abandoned uploads are purged at start', async () => {
    const root = reg.root + '-restart';
    dirs.push(root);
    let r2 = await startRegistry(['--upload-max-age', '1h'], root);
    const data = Buffer.from('x'.repeat(3000) + 'y'.repeat(3000));
    const s = await r2.req('POST', '/v2/resume/blobs/uploads/');
    const loc = s.headers['location']!;
    await r2.req('PATCH', loc, { body: data.subarray(0, 3000), headers: { 'Content-Range': '0-2999' } });
    const abandoned = (await r2.req('POST', '/v2/resume/blobs/uploads/')).headers['docker-upload-uuid'] as string;
    r2.child.kill('SIGKILL');
    await new Promise((r) => r2.child.once('exit', r));
    // The abandoned upload is made old; the other one is not.
    const old = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(path.join(root, 'uploads', abandoned, 'data'), old, old);
    fs.writeFileSync(path.join(root, 'uploads', '.tmp-info.json-1234'), 'torn');
    r2 = await startRegistry(['--upload-max-age', '1h'], root);
    try {
      assert.match(r2.log(), /removed 1 abandoned upload/);
      assert.deepEqual(fs.readdirSync(path.join(root, 'uploads')), [loc.split('/').pop()]);
      assert.equal((await r2.req('GET', loc)).headers['range'], '0-2999');
      const fin = await r2.req('PUT', `${loc}?digest=${sha256(data)}`, { body: data.subarray(3000), headers: { 'Content-Range': '3000-5999' } });
      assert.equal(fin.status, 201, fin.body.toString());
      assert.deepEqual((await r2.req('GET', `/v2/resume/blobs/${sha256(data)}`)).body, data);
      // A second server on the same root is refused.
      const second = spawnSync(process.execPath, [BARGE, 'registry', 'serve', '--addr', '127.0.0.1:0', '--root', root], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(second.status, 1);
      assert.match(second.stderr, /another barge registry serve \(pid \d+\) is using/);
    } finally { await r2.stop(); }
  });

  test('uploads left unfinished longer than --upload-max-age are purged while the server runs', async () => {
    const root = reg.root + '-purge';
    dirs.push(root);
    // 4 s: room for the two requests and the check below on a loaded machine (the sweep runs every 2 s).
    const r = await startRegistry(['--upload-max-age', '4s'], root);
    try {
      const s = await r.req('POST', '/v2/idle/blobs/uploads/');
      await r.req('PATCH', s.headers['location']!, { body: 'started, never finished' });
      assert.equal(fs.readdirSync(path.join(root, 'uploads')).length, 1);
      await until('the idle upload to be purged', () => fs.readdirSync(path.join(root, 'uploads')).length === 0, 20_000);
      assert.equal(errCode(await r.req('GET', s.headers['location']!)), 'BLOB_UPLOAD_UNKNOWN');
      assert.match(r.log(), /removed 1 abandoned upload/);
    } finally { await r.stop(); }
  });

  test('gc frees what no manifest references, refuses while the server runs; --dry-run deletes nothing', async () => {
    const root = reg.root + '-gc';
    dirs.push(root);
    const r = await startRegistry([], root);
    let keep, lone: string, base, gone;
    try {
      base = await pushImage(r, 'gc/app', 'v1', { layer: 'base layer' });
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: base.digest, size: base.manifest.length }] }));
      await r.req('PUT', '/v2/gc/app/manifests/multi', { body: index, headers: { 'Content-Type': OCI_INDEX } });
      // The index keeps the base manifest and its blobs after the base's tag goes.
      await r.req('DELETE', '/v2/gc/app/manifests/v1');
      keep = await pushImage(r, 'gc/other', 'v1', { layer: 'kept layer' });
      gone = await pushImage(r, 'gc/old', 'v1', { layer: 'deleted image layer' });
      await r.req('DELETE', `/v2/gc/old/manifests/${gone.digest}`);
      lone = await pushBlob(r, 'gc/other', 'never referenced');
      const refused = spawnSync(process.execPath, [BARGE, 'registry', 'gc', '--root', root], { encoding: 'utf8' });
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /is running on .*stop it before gc/);
    } finally { await r.stop(); }
    const blobs = () => listTree(path.join(root, 'blobs')).length;
    const n = blobs();
    const dry = spawnSync(process.execPath, [BARGE, 'registry', 'gc', '--root', root, '--dry-run'], { encoding: 'utf8' });
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /4 blobs would be deleted/);
    assert.equal(blobs(), n);
    const run = spawnSync(process.execPath, [BARGE, 'registry', 'gc', '--root', root], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /4 blobs deleted/);
    assert.equal(blobs(), n - 4);
    const r3 = await startRegistry([], root);
    try {
      for (const d of [base.digest, base.layer, base.config]) assert.equal((await r3.req('HEAD', `/v2/gc/app/blobs/${d}`)).status, 200, d);
      assert.equal((await r3.req('GET', '/v2/gc/app/manifests/multi')).status, 200);
      assert.equal((await r3.req('GET', '/v2/gc/other/manifests/v1')).status, 200);
      for (const d of [keep.layer, keep.config]) assert.equal((await r3.req('GET', `/v2/gc/other/blobs/${d}`)).status, 200);
      assert.equal((await r3.req('HEAD', `/v2/gc/other/blobs/${lone}`)).status, 404);
      assert.equal((await r3.req('HEAD', `/v2/gc/old/blobs/${gone.layer}`)).status, 404);
      assert.equal(fs.existsSync(path.join(root, 'repositories/gc/other/_layers', ...lone.split(':'))), false, 'dangling link removed');
    } finally { await r3.stop(); }
  });
});
