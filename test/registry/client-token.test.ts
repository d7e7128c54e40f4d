// The bearer token flow against the reference registry configured for token auth: a small token
// server here (the registry's realm) signs JWTs (RS256, x5c) with a throwaway certificate the
// registry trusts. Anonymous clients get pull access to public/*; alice gets pull and push anywhere,
// and a refresh token (Docker's identity token) when she logs in.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { REGISTRY_BIN, freePort, pushGzipImage, startRegistry, type TestRegistry } from './regclient-helpers.js';

const skip = fs.existsSync(REGISTRY_BIN) && spawnSync('openssl', ['version']).error === undefined ? false : 'docker-registry or openssl is missing';
const SERVICE = 'barge-test-registry';
const ISSUER = 'barge-test-issuer';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

interface TokenServer { url: string; requests: { scope: string[]; user: string; grant: string }[]; close(): Promise<void> }

async function startTokenServer(dir: string): Promise<TokenServer> {
  const key = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '1', '-subj', '/CN=barge-token'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const der = new X509Certificate(fs.readFileSync(certFile)).raw;
  const pem = fs.readFileSync(key);
  const refresh = new Map<string, string>();
  const requests: TokenServer['requests'] = [];
  const grant = (user: string, scopes: string[]) => scopes.flatMap((s) => {
    const [type, name, actions] = [s.split(':')[0], s.split(':').slice(1, -1).join(':'), s.split(':').pop()!.split(',')];
    if (type !== 'repository' || !name) return [];
    const allowed = actions.filter((a) => user === 'alice' ? ['pull', 'push'].includes(a) : a === 'pull' && name.startsWith('public/'));
    return allowed.length ? [{ type, name, actions: allowed }] : [];
  });
  const sign = (user: string, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] }));
    const body = b64url(JSON.stringify({ iss: ISSUER, sub: user, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access: grant(user, scopes) }));
    const s = createSign('RSA-SHA256').update(`${head}.${body}`).sign(pem);
    return `${head}.${body}.${b64url(s)}`;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const deny = () => { res.writeHead(401, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }] })); };
      let user = '';
      let scopes: string[];
      let kind: string;
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        kind = form.get('grant_type') ?? '';
        const u = refresh.get(form.get('refresh_token') ?? '');
        if (kind !== 'refresh_token' || !u) return deny();
        user = u;
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      } else {
        kind = 'get';
        scopes = url.searchParams.getAll('scope');
        const a = req.headers.authorization;
        if (a) {
          const [u, p] = Buffer.from(a.replace(/^Basic /, ''), 'base64').toString().split(':');
          if (u !== 'alice' || p !== 's3cret') return deny();
          user = 'alice';
        }
      }
      requests.push({ scope: scopes, user, grant: kind });
      const out: Record<string, unknown> = { token: sign(user, scopes), expires_in: 300 };
      if (user && url.searchParams.get('offline_token') === 'true') {
        const t = randomBytes(16).toString('hex');
        refresh.set(t, user);
        out['refresh_token'] = t;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/token`, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('registry client: bearer tokens', { skip }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let tokens: TokenServer;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync('/tmp/bt-tok-');
    process.env.BARGE_CONFIG = path.join(dir, 'cli');
    tokens = await startTokenServer(dir);
    reg = await startRegistry({ token: { realm: tokens.url, service: SERVICE, issuer: ISSUER, certFile: path.join(dir, 'cert.pem') } });
    d = await startDaemon();
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    await tokens?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pulls a public repository with an anonymous token; refuses anonymous pushes', async () => {
    // Seed the registry as alice would (straight through the API needs a token: push with barge after login instead).
    const login = await d.bargeAsync(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 's3cret\n' });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const conf = JSON.parse(fs.readFileSync(path.join(dir, 'cli/config.json'), 'utf8'));
    assert.match(conf.auths[reg.host].identitytoken, /^[a-f0-9]{32}$/, 'the refresh token is kept as the identity token');
    assert.equal(tokens.requests.at(-1)?.user, 'alice');

    assert.equal((await d.bargeAsync(['tag', 'busybox', `${reg.host}/public/box:1`])).code, 0);
    const push = await d.bargeAsync(['push', `${reg.host}/public/box:1`]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, /1: digest: sha256:/);
    assert.ok(tokens.requests.some((t) => t.grant === 'refresh_token' && t.user === 'alice' && t.scope.includes('repository:public/box:pull,push')), JSON.stringify(tokens.requests));

    assert.equal((await d.bargeAsync(['logout', reg.host])).code, 0);
    assert.equal((await d.bargeAsync(['rmi', `${reg.host}/public/box:1`])).code, 0);
    const before = tokens.requests.length;
    const pull = await d.bargeAsync(['pull', `${reg.host}/public/box:1`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(tokens.requests.slice(before).some((t) => t.user === '' && t.scope.includes('repository:public/box:pull')), 'anonymous token');

    assert.equal((await d.bargeAsync(['tag', 'busybox', `${reg.host}/private/box:1`])).code, 0);
    const denied = await d.bargeAsync(['push', `${reg.host}/private/box:1`]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /unauthorized|denied/);
    const nopull = await d.bargeAsync(['pull', `${reg.host}/private/box:1`]);
    assert.match(nopull.stderr, new RegExp(`pull access denied for ${reg.host}/private/box, repository does not exist or may require 'docker login'`));
  });

  it('refuses a wrong password at login, with the token server\'s reason', async () => {
    const r = await d.bargeAsync(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 'nope\n' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /incorrect username or password/);
  });

  it('pulls with basic credentials turned into a token (X-Registry-Auth from the API)', async () => {
    await assert.rejects(pushGzipImage(reg.host, 'private/raw', 'v1'), /401/, 'the registry wants a token');
    const auth = Buffer.from(JSON.stringify({ username: 'alice', password: 's3cret', serveraddress: reg.host })).toString('base64url');
    const r = await d.api('POST', `/images/create?fromImage=${encodeURIComponent(`${reg.host}/private/box`)}&tag=1`, undefined, { 'X-Registry-Auth': auth });
    assert.equal(r.status, 404, 'nothing was pushed to private/box');
    assert.match(r.text, /manifest unknown|pull access denied/);
    const ok = await d.api('POST', `/images/create?fromImage=${encodeURIComponent(`${reg.host}/public/box`)}&tag=1`, undefined, { 'X-Registry-Auth': auth });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /Status: Image is up to date/);
    const bad = await d.api('POST', '/auth', { username: 'alice', password: 'x', serveraddress: reg.host });
    assert.equal(bad.status, 401);
    const good = await d.api('POST', '/auth', { username: 'alice', password: 's3cret', serveraddress: `http://${reg.host}/v2/` });
    assert.equal(good.status, 200);
    assert.equal(good.body.Status, 'Login Succeeded');
    assert.match(good.body.IdentityToken, /^[a-f0-9]{32}$/);
  });
});
