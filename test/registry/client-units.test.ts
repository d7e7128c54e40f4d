// Units of the registry client: challenge parsing, X-Registry-Auth, insecure registries, platform
// strings, Docker's progress rendering (terminal and plain), config.json credentials; an upload
// redirected before its body was read.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { decodeAuthHeader, encodeAuthHeader, parseChallenges } from '../../src/registry/client/auth.js';
import { InsecureRegistries, registryHost } from '../../src/registry/client/endpoint.js';
import { domainOfServer } from '../../src/registry/client/service.js';
import { BlobSources } from '../../src/registry/client/blobsources.js';
import { displayJsonMessages, humanSize, progressString, type JsonMessage } from '../../src/cli/lib/progress.js';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { LentBody, Registry } from '../../src/registry/client/client.js';
import { ReadBlocks, lendFile, type Lent } from '../../src/lib/lentread.js';

async function* from(ms: JsonMessage[]): AsyncGenerator<JsonMessage> { for (const m of ms) yield m; }

async function render(ms: JsonMessage[], tty: boolean): Promise<{ out: string; error?: string; aux: unknown[] }> {
  let out = '';
  const r = await displayJsonMessages(from(ms), (s) => { out += s; }, { tty, width: 200 });
  return { out, ...r };
}

describe('registry client units', () => {
  it('parses WWW-Authenticate challenges', () => {
    const [b] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"');
    assert.deepEqual(b, { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } });
    const two = parseChallenges('Basic realm="Registry Realm", Bearer realm="https://x/t",service=reg');
    assert.deepEqual(two.map((c) => c.scheme), ['basic', 'bearer']);
    assert.equal(two[1]!.params['service'], 'reg');
    assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\" realm"')[0]!.params, { realm: 'a "quoted" realm' });
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it('decodes X-Registry-Auth (base64url or base64) and treats {} as anonymous', () => {
    const h = encodeAuthHeader({ username: 'u?>', password: 'p~~~', serveraddress: 'h:5000' });
    assert.deepEqual(decodeAuthHeader(h), { username: 'u?>', password: 'p~~~', serveraddress: 'h:5000' });
    assert.deepEqual(decodeAuthHeader(Buffer.from('{"username":"a","password":"b"}').toString('base64')), { username: 'a', password: 'b' });
    assert.equal(decodeAuthHeader('e30='), undefined);
    assert.equal(decodeAuthHeader(''), undefined);
    assert.deepEqual(decodeAuthHeader(Buffer.from(JSON.stringify({ auth: Buffer.from('x:y:z').toString('base64') })).toString('base64')),
      { auth: Buffer.from('x:y:z').toString('base64'), username: 'x', password: 'y:z' });
    assert.throws(() => decodeAuthHeader(Buffer.from('[1]').toString('base64')), /X-Registry-Auth/);
  });

  it('knows insecure registries: loopback by default, names and CIDRs from the config', () => {
    const r = new InsecureRegistries(['myreg:5000', '10.20.0.0/16', 'http://other.example/']);
    for (const h of ['127.0.0.1:5000', '127.9.9.9', 'localhost:5000', '[::1]:5000', 'myreg:5000', '10.20.3.4:443', 'other.example']) assert.equal(r.isInsecure(h), true, h);
    for (const h of ['myreg:5001', '10.21.0.1:5000', 'registry-1.docker.io', '[::2]:5000', 'example.com']) assert.equal(r.isInsecure(h), false, h);
    assert.deepEqual(r.describe().cidrs.slice(0, 1), ['127.0.0.0/8']);
    assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryHost('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(domainOfServer('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(domainOfServer('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
  });

  it('remembers where blobs were seen, per registry, most recent first', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-bs-'));
    try {
      const d = 'sha256:' + 'a'.repeat(64);
      const s = new BlobSources(dir);
      s.add(d, 'h:5000', 'team/a');
      s.add(d, 'h:5000', 'team/b');
      s.add(d, 'other:5000', 'team/c');
      s.save();
      assert.equal(fs.statSync(path.join(dir, 'blob-sources.json')).mode & 0o777, 0o600);
      const again = new BlobSources(dir);
      assert.deepEqual(again.repos(d, 'h:5000', 'team/x'), ['team/b', 'team/a']);
      assert.deepEqual(again.repos(d, 'h:5000', 'team/b'), ['team/a']);
      assert.deepEqual(again.repos('sha256:' + 'b'.repeat(64), 'h:5000', ''), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats sizes and bars as go-units and jsonmessage do', () => {
    assert.equal(humanSize(527), '527B');
    assert.equal(humanSize(1024), '1.024kB');
    assert.equal(humanSize(12_345_678), '12.35MB');
    assert.equal(humanSize(45_600_000), '45.6MB');
    assert.equal(progressString(0, 0, 200), '');
    assert.equal(progressString(50, 100, 200), `[${'='.repeat(25)}>${' '.repeat(25)}]      50B/100B`);
    assert.equal(progressString(100, 100, 200), `[${'='.repeat(50)}>]     100B/100B`);
    assert.equal(progressString(50, 100, 80), '     50B/100B', 'no bar on a narrow terminal');
  });

  it('renders plain lines off a terminal: no bars, no cursor movement', async () => {
    const r = await render([
      { status: 'Pulling from team/box', id: '1' },
      { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' },
      { status: 'Downloading', progressDetail: { current: 10, total: 100 }, progress: '[=>  ] 10B/100B', id: 'aaa' },
      { status: 'Download complete', progressDetail: {}, id: 'aaa' },
      { status: 'Digest: sha256:abc' },
      { progressDetail: {}, aux: { Tag: '1', Digest: 'sha256:abc', Size: 5 } },
    ], false);
    assert.equal(r.out, '1: Pulling from team/box\naaa: Pulling fs layer\naaa: Download complete\nDigest: sha256:abc\n');
    assert.deepEqual(r.aux, [{ Tag: '1', Digest: 'sha256:abc', Size: 5 }]);
  });

  it('redraws one line per layer in place on a terminal', async () => {
    const r = await render([
      { status: 'Pulling from team/box', id: '1' },
      { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' },
      { status: 'Pulling fs layer', progressDetail: {}, id: 'bbb' },
      { status: 'Downloading', progressDetail: { current: 50, total: 100 }, id: 'aaa' },
      { status: 'Pull complete', progressDetail: {}, id: 'bbb' },
    ], true);
    const bar = `[${'='.repeat(25)}>${' '.repeat(25)}]      50B/100B`;
    assert.equal(r.out,
      '1: Pulling from team/box\n' +
      '\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B' +
      '\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B' +
      `\x1b[2A\x1b[2K\raaa: Downloading ${bar}\r\x1b[2B` +
      '\x1b[1A\x1b[2K\rbbb: Pull complete \r\x1b[1B');
  });

  it('stops at an error message and returns it', async () => {
    const r = await render([{ status: 'Preparing', progressDetail: {}, id: 'a' }, { errorDetail: { message: 'denied: no' }, error: 'denied: no' }, { status: 'never' }], false);
    assert.equal(r.error, 'denied: no');
    assert.equal(r.out, 'a: Preparing\n');
  });
});

describe('registry client uploads', () => {
  it('an upload redirected before its body was read goes again to the new place, and the first body stops', async () => {
    const data = randomBytes(24 << 20);   // more than the sockets' buffers hold: the first body blocks
    const digest = 'sha256:' + createHash('sha256').update(data).digest('hex');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-upload-redirect-'));
    const file = path.join(dir, 'blob');
    fs.writeFileSync(file, data);
    let received: string | undefined;
    const server = http.createServer((req, res) => {
      if (req.url === '/v2/') { res.end('{}'); return; }
      if (req.method === 'POST') { res.writeHead(202, { Location: '/upload/1', 'Content-Length': 0 }); res.end(); return; }
      if (req.url!.startsWith('/upload/1')) {   // answered at once; its body is never read
        res.writeHead(307, { Location: `/upload/2?digest=${digest}`, 'Content-Length': 0 });
        res.end();
        return;
      }
      const h = createHash('sha256');
      req.on('data', (c: Buffer) => h.update(c));
      req.on('end', () => { received = 'sha256:' + h.digest('hex'); res.writeHead(201, { 'Content-Length': 0 }); res.end(); });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const reg = new Registry(`127.0.0.1:${(server.address() as AddressInfo).port}`, { insecure: true });
    const fd = fs.openSync(file, 'r');
    let opened = 0;
    let stopped = 0;
    async function* body(): AsyncGenerator<Lent> {
      opened++;
      try { yield* lendFile(new ReadBlocks(), fd, 0, data.length, () => new Error('short')); } finally { stopped++; }
    }
    try {
      await reg.repository('r', ['push', 'pull']).uploadBlob(digest, data.length, () => new LentBody(body()));
      assert.equal(received, digest, 'the whole body reached the new place');
      assert.equal(opened, 2);
      for (let i = 0; i < 60 && stopped < 2; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(stopped, 2, 'the body sent to the first place stopped (its connection was dropped)');
    } finally {
      reg.close();
      fs.closeSync(fd);
      server.closeAllConnections();
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
