// The blob reader (registry/client/rawget.ts): HTTP/1.1 bodies read off the socket into one reused
// buffer. Each framing a registry or blob store may use, split anywhere across reads; backpressure;
// and the errors a pull must see as transient (a connection cut) or as refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as http from 'node:http';
import * as https from 'node:https';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rawGet, type RawResponse } from '../../src/registry/client/rawget.js';

/** A TCP server answering every connection with `reply(request head)`, written in pieces of `piece` bytes. */
async function rawServer(reply: (head: string) => Buffer | { parts: Buffer[]; end?: boolean }, piece = 0): Promise<{ url: string; heads: string[]; close: () => Promise<void> }> {
  const heads: string[] = [];
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    let got = '';
    sock.on('data', async (d) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      heads.push(got);
      const r = reply(got);
      const parts = Buffer.isBuffer(r) ? [r] : r.parts;
      for (const p of parts) {
        if (piece > 0) {
          for (let i = 0; i < p.length; i += piece) { sock.write(p.subarray(i, i + piece)); await new Promise((res) => setImmediate(res)); }
        } else sock.write(p);
      }
      if (Buffer.isBuffer(r) || r.end !== false) sock.end(); else sock.destroy();
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, heads, close: () => new Promise((r) => { server.close(() => r()); for (const s of socks) s.destroy(); }) };
}

async function body(res: RawResponse, slow = false): Promise<Buffer> {
  const parts: Buffer[] = [];
  let paused = 0;
  await res.pipeTo({
    write: (v) => { parts.push(Buffer.from(v)); return !slow; },
    drained: () => { paused++; return new Promise((r) => setTimeout(r, 2)); },
  });
  if (slow) assert.ok(paused > 0);
  return Buffer.concat(parts);
}

const data = randomBytes(3 << 20);

function chunked(buf: Buffer, size: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) {
    const c = buf.subarray(i, i + size);
    out.push(Buffer.from(`${c.length.toString(16)};ext=1\r\n`), c, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('0\r\nX-Trailer: yes\r\n\r\n'));
  return Buffer.concat(out);
}

test('Content-Length, chunked and read-until-close bodies arrive whole, however the bytes are split', async () => {
  for (const piece of [0, 1, 7, 65_537]) {
    const big = piece === 1 ? data.subarray(0, 5000) : data;
    const cases: [string, Buffer][] = [
      ['length', Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\nDocker-Content-Digest: sha256:x\r\n\r\n`), big])],
      ['chunked', Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), chunked(big, 10_000)])],
      ['close', Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), big])],
      ['interim', Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ' + big.length + '\r\n\r\n'), big])],
    ];
    for (const [what, reply] of cases) {
      const srv = await rawServer(() => reply, piece);
      try {
        const res = await rawGet(new URL(`${srv.url}/v2/x/blobs/y?z=1`), { Authorization: 'Bearer t' }, { timeoutMs: 10_000 });
        assert.equal(res.statusCode, 200, what);
        const got = await body(res, what === 'length' && piece === 0);
        assert.equal(got.length, big.length, `${what}, pieces of ${piece}`);
        assert.ok(got.equals(big), `${what}, pieces of ${piece}`);
        assert.match(srv.heads[0]!, /^GET \/v2\/x\/blobs\/y\?z=1 HTTP\/1\.1\r\n/);
        assert.match(srv.heads[0]!, /\r\nAuthorization: Bearer t\r\n/);
        assert.match(srv.heads[0]!, /\r\nHost: 127\.0\.0\.1:\d+\r\n/);
        if (what === 'length') assert.equal(res.headers['docker-content-digest'], 'sha256:x');
      } finally {
        await srv.close();
      }
    }
  }
});

test('an error answer is read as a whole small body, by iteration', async () => {
  const err = JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] });
  const srv = await rawServer(() => Buffer.from(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${err.length}\r\nWWW-Authenticate: Bearer realm="a"\r\nWWW-Authenticate: Basic realm="b"\r\n\r\n${err}`), 3);
  try {
    const res = await rawGet(new URL(`${srv.url}/v2/`), {}, { timeoutMs: 10_000 });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="a", Basic realm="b"');
    const parts: Buffer[] = [];
    for await (const c of res) parts.push(c);
    assert.equal(Buffer.concat(parts).toString(), err);
  } finally {
    await srv.close();
  }
});

test('a connection cut before the body ends is an ECONNRESET (transient), not a short blob', async () => {
  const cases: [string, { parts: Buffer[]; end?: boolean }][] = [
    ['length', { parts: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), data.subarray(0, 5000)], end: false }],
    ['chunked', { parts: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n'), data.subarray(0, 100)] }],
    ['headers', { parts: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Le')] }],
  ];
  for (const [what, reply] of cases) {
    const srv = await rawServer(() => reply);
    try {
      const p = rawGet(new URL(`${srv.url}/b`), {}, { timeoutMs: 10_000 }).then((res) => body(res));
      const err = await p.then(() => undefined, (e: unknown) => e as NodeJS.ErrnoException);
      assert.ok(err, what);
      assert.equal(err.code, 'ECONNRESET', `${what}: ${err.message}`);
    } finally {
      await srv.close();
    }
  }
});

test('what a blob reader does not understand is refused with a clear error', async () => {
  for (const [reply, msg] of [
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', /unsupported Transfer-Encoding/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n', /invalid Content-Length/],
    ['SSH-2.0-OpenSSH\r\n\r\n', /not an HTTP\/1\.1 response/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /malformed chunk size/],
    [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}\r\n\r\n`, /headers longer than/],
  ] as const) {
    const srv = await rawServer(() => Buffer.from(reply));
    try {
      await assert.rejects(rawGet(new URL(`${srv.url}/b`), {}, { timeoutMs: 10_000 }).then((res) => body(res)), msg);
    } finally {
      await srv.close();
    }
  }
  // Nothing with a line break goes into a request.
  await assert.rejects(rawGet(new URL('http://127.0.0.1:9/b'), { Authorization: 'Bearer x\r\nEvil: 1' }, { timeoutMs: 1000 }), /invalid header Authorization/);
});

test('an answer that stops sending fails with ETIMEDOUT', async () => {
  // A server that sends 3 of the 10 bytes and holds the connection open.
  const conns: net.Socket[] = [];
  const held = net.createServer((s) => { conns.push(s); s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')); s.on('error', () => undefined); });
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  try {
    const res = await rawGet(new URL(`http://127.0.0.1:${(held.address() as net.AddressInfo).port}/b`), {}, { timeoutMs: 300 });
    const err = await body(res).then(() => undefined, (e: unknown) => e as NodeJS.ErrnoException);
    assert.equal(err?.code, 'ETIMEDOUT');
  } finally {
    held.close();
    for (const c of conns) c.destroy();
  }
});

test('over TLS, with the certificate checked unless the registry is insecure', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-rawget-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'Content-Length': data.length });
      res.end(data);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = new URL(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}/v2/b`);
    try {
      await assert.rejects(rawGet(url, {}, { timeoutMs: 10_000 }), /self[- ]signed|unable to verify/i);
      const res = await rawGet(url, {}, { timeoutMs: 10_000, insecure: true });
      assert.ok((await body(res)).equals(data));
    } finally {
      server.close();
      server.closeAllConnections();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a blob GET follows the registry\'s redirect to blob storage, without the registry\'s credentials', async () => {
  const { Registry } = await import('../../src/registry/client/client.js');
  const blob = randomBytes((2 << 20) + 3);
  let storeAuth: string | undefined = 'unset';
  let storeUrl = '';
  const store = http.createServer((req, res) => {
    storeAuth = req.headers.authorization;
    storeUrl = req.url ?? '';
    res.writeHead(200, { 'Content-Length': blob.length });
    res.end(blob);
  });
  await new Promise<void>((r) => store.listen(0, '127.0.0.1', r));
  const storePort = (store.address() as net.AddressInfo).port;
  let regAuth: string | undefined;
  const registry = http.createServer((req, res) => {
    if (req.url === '/v2/' && !req.headers.authorization) { res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }); res.end(); return; }
    if (req.url === '/v2/') { res.writeHead(200); res.end(); return; }
    regAuth = req.headers.authorization;
    res.writeHead(307, { Location: `http://127.0.0.1:${storePort}/bucket/layer?X-Sig=abc` });
    res.end();
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
  const r = new Registry(`127.0.0.1:${(registry.address() as net.AddressInfo).port}`, { insecure: true, auth: { username: 'alice', password: 's3cret' } });
  try {
    const { stream } = await r.repository('team/x', ['pull']).getBlob('sha256:' + 'a'.repeat(64));
    assert.ok((await body(stream)).equals(blob));
    assert.equal(regAuth, `Basic ${Buffer.from('alice:s3cret').toString('base64')}`, 'the registry gets the credentials');
    assert.equal(storeAuth, undefined, 'the blob store does not');
    assert.equal(storeUrl, '/bucket/layer?X-Sig=abc');
  } finally {
    r.close();
    registry.close();
    store.close();
    registry.closeAllConnections();
    store.closeAllConnections();
  }
});
