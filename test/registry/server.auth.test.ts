// The registry server's authorization: htpasswd basic auth (bcrypt), bearer tokens issued by its own
// /token endpoint with per-repository scopes (pull / push / delete), anonymous pull, and TLS.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { startRegistry, pushBlob, sha256, type Registry } from './helpers.js';

const basic = (u: string, p: string) => ({ Authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') });
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const errCode = (r: { json: any }) => r.json?.errors?.[0]?.code;

describe('registry server auth', () => {
  const dir = fs.mkdtempSync('/tmp/bregauth-');
  const htpasswd = path.join(dir, 'htpasswd');
  const regs: Registry[] = [];
  before(() => {
    // As `htpasswd -B` writes it ($2y$), and as bcryptjs does ($2b$).
    fs.writeFileSync(htpasswd, `alice:${bcrypt.hashSync('wonderland', 5).replace(/^\$2b\$/, '$2y$')}\nbob:${bcrypt.hashSync('builder', 5)}\n# comment\nmd5user:$apr1$abc$def\n`);
  });
  after(async () => {
    for (const r of regs) { await r.stop(); fs.rmSync(r.root, { recursive: true, force: true }); fs.rmSync(`${r.root}.log`, { force: true }); }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const start = async (args: string[]) => { const r = await startRegistry(args); regs.push(r); return r; };

  test('basic auth: challenge, wrong and right credentials, users added without a restart', async () => {
    const reg = await start(['--htpasswd', htpasswd]);
    const anon = await reg.req('GET', '/v2/');
    assert.equal(anon.status, 401);
    assert.equal(errCode(anon), 'UNAUTHORIZED');
    assert.match(String(anon.headers['www-authenticate']), /^Basic realm="barge-registry"/);
    assert.equal((await reg.req('GET', '/v2/', { headers: basic('alice', 'wrong') })).status, 401);
    assert.equal((await reg.req('GET', '/v2/', { headers: basic('nobody', 'wonderland') })).status, 401);
    assert.equal((await reg.req('GET', '/v2/', { headers: basic('md5user', 'x') })).status, 401, 'non-bcrypt entries are ignored');
    assert.equal((await reg.req('GET', '/v2/', { headers: basic('alice', 'wonderland') })).status, 200);
    const d = await pushBlob(reg, 'team/box', 'secret layer', basic('bob', 'builder'));
    assert.equal((await reg.req('GET', `/v2/team/box/blobs/${d}`)).status, 401, 'no anonymous pull');
    assert.equal((await reg.req('GET', `/v2/team/box/blobs/${d}`, { headers: basic('alice', 'wonderland') })).status, 200);
    assert.equal((await reg.req('POST', '/v2/team/box/blobs/uploads/')).status, 401);
    fs.appendFileSync(htpasswd, `carol:${bcrypt.hashSync('c4rol', 5)}\n`);
    assert.equal((await reg.req('GET', '/v2/', { headers: basic('carol', 'c4rol') })).status, 200);
    assert.match(reg.log(), /md5user.*not a bcrypt hash/);
    assert.doesNotMatch(reg.log(), /wonderland|builder/, 'no secrets in the log');
  });

  test('basic auth with --anonymous-pull: reads open, writes closed', async () => {
    const reg = await start(['--htpasswd', htpasswd, '--anonymous-pull']);
    const d = await pushBlob(reg, 'pub/img', 'public layer', basic('alice', 'wonderland'));
    assert.equal((await reg.req('GET', `/v2/pub/img/blobs/${d}`)).status, 200);
    assert.equal((await reg.req('POST', '/v2/pub/img/blobs/uploads/')).status, 401);
    assert.equal((await reg.req('DELETE', `/v2/pub/img/blobs/${d}`)).status, 401);
  });

  test('token auth: challenge, token endpoint, scopes per repository and action', async () => {
    const reg = await start(['--auth', 'token', '--htpasswd', htpasswd, '--token-service', 'test-registry']);
    const realm = `http://${reg.host}/token`;
    const ping = await reg.req('GET', '/v2/');
    assert.equal(ping.status, 401);
    assert.equal(ping.headers['www-authenticate'], `Bearer realm="${realm}",service="test-registry"`);
    const pull = await reg.req('GET', '/v2/team/box/manifests/latest');
    assert.equal(pull.status, 401);
    assert.equal(pull.headers['www-authenticate'], `Bearer realm="${realm}",service="test-registry",scope="repository:team/box:pull"`);
    const push = await reg.req('POST', '/v2/team/box/blobs/uploads/');
    assert.equal(push.headers['www-authenticate'], `Bearer realm="${realm}",service="test-registry",scope="repository:team/box:pull,push"`);

    const token = async (scope: string[], cred?: Record<string, string>) => {
      const q = new URLSearchParams({ service: 'test-registry' });
      for (const s of scope) q.append('scope', s);
      const r = await reg.req('GET', `/token?${q}`, { headers: cred ?? {} });
      return r;
    };
    assert.equal((await token(['repository:team/box:pull,push'], basic('alice', 'bad'))).status, 401);
    const t = await token(['repository:team/box:pull,push'], basic('alice', 'wonderland'));
    assert.equal(t.status, 200);
    assert.equal(t.json.token, t.json.access_token);
    assert.equal(t.json.expires_in, 300);
    const claims = JSON.parse(Buffer.from(t.json.token.split('.')[1], 'base64url').toString());
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/box', actions: ['pull', 'push'] }]);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'test-registry');
    assert.equal((await reg.req('GET', '/v2/', { headers: bearer(t.json.token) })).status, 200);
    const d = await pushBlob(reg, 'team/box', 'tokened layer', bearer(t.json.token));
    assert.equal((await reg.req('GET', `/v2/team/box/blobs/${d}`, { headers: bearer(t.json.token) })).status, 200);
    // The token is for team/box only.
    const other = await reg.req('GET', `/v2/team/other/blobs/${d}`, { headers: bearer(t.json.token) });
    assert.equal(other.status, 401);
    assert.match(String(other.headers['www-authenticate']), /scope="repository:team\/other:pull",error="insufficient_scope"/);
    // A pull-only token cannot push, and is told which scope it lacks.
    const ro = await token(['repository:team/box:pull'], basic('bob', 'builder'));
    const denied = await reg.req('POST', '/v2/team/box/blobs/uploads/', { headers: bearer(ro.json.token) });
    assert.equal(denied.status, 401);
    assert.equal(errCode(denied), 'UNAUTHORIZED');
    assert.match(String(denied.headers['www-authenticate']), /scope="repository:team\/box:pull,push",error="insufficient_scope"/);
    assert.equal((await reg.req('DELETE', `/v2/team/box/blobs/${d}`, { headers: bearer(ro.json.token) })).status, 401);
    // An anonymous token grants nothing here.
    const anon = await token(['repository:team/box:pull']);
    assert.equal(anon.status, 200);
    assert.deepEqual(JSON.parse(Buffer.from(anon.json.token.split('.')[1], 'base64url').toString()).access, []);
    assert.equal((await reg.req('GET', `/v2/team/box/blobs/${d}`, { headers: bearer(anon.json.token) })).status, 401);
    // Tampered and foreign tokens.
    const [h, p] = t.json.token.split('.');
    const forgedClaims = Buffer.from(JSON.stringify({ ...claims, access: [{ type: 'repository', name: 'team/other', actions: ['pull', 'push'] }] })).toString('base64url');
    const tampered = `${h}.${forgedClaims}.${t.json.token.split('.')[2]}`;
    const bad = await reg.req('GET', `/v2/team/other/tags/list`, { headers: bearer(tampered) });
    assert.equal(bad.status, 401);
    assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);
    const foreign = `${h}.${p}.${createHmac('sha256', 'another key').update(`${h}.${p}`).digest('base64url')}`;
    assert.equal((await reg.req('GET', `/v2/team/box/blobs/${d}`, { headers: bearer(foreign) })).status, 401);
    assert.equal((await reg.req('GET', `/v2/team/box/blobs/${d}`, { headers: basic('alice', 'wonderland') })).status, 401, 'basic credentials are for /token only');
    // DELETE needs delete (or push).
    const del = await token(['repository:team/box:delete'], basic('bob', 'builder'));
    assert.equal((await reg.req('DELETE', `/v2/team/box/blobs/${d}`, { headers: bearer(del.json.token) })).status, 202);
    // The catalog needs registry:catalog:*.
    assert.equal((await reg.req('GET', '/v2/_catalog', { headers: bearer(t.json.token) })).status, 401);
    const cat = await token(['registry:catalog:*'], basic('alice', 'wonderland'));
    const c = await reg.req('GET', '/v2/_catalog', { headers: bearer(cat.json.token) });
    assert.equal(c.status, 200);
    assert.deepEqual(c.json.repositories, ['team/box']);
    // OAuth2 password grant (POST).
    const form = new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'wonderland', service: 'test-registry', scope: 'repository:team/box:pull', client_id: 'test' });
    const pt = await reg.req('POST', '/token', { body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(pt.status, 200);
    assert.equal((await reg.req('HEAD', `/v2/team/box/blobs/${sha256('x')}`, { headers: bearer(pt.json.access_token) })).status, 404, 'authorized, blob unknown');
    // The signing key is kept, so tokens survive a restart of the server.
    const key = path.join(reg.root, 'token.key');
    assert.equal((fs.statSync(key).mode & 0o777).toString(8), '600');
  });

  test('token auth with --anonymous-pull', async () => {
    const reg = await start(['--auth', 'token', '--htpasswd', htpasswd, '--anonymous-pull']);
    const q = (s: string) => `/token?service=barge-registry&scope=${encodeURIComponent(s)}`;
    const push = await reg.req('GET', q('repository:open/img:pull,push'), { headers: basic('alice', 'wonderland') });
    const d = await pushBlob(reg, 'open/img', 'open layer', bearer(push.json.token));
    const anon = await reg.req('GET', q('repository:open/img:pull,push'));
    const claims = JSON.parse(Buffer.from(anon.json.token.split('.')[1], 'base64url').toString());
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'open/img', actions: ['pull'] }]);
    assert.equal((await reg.req('GET', `/v2/open/img/blobs/${d}`, { headers: bearer(anon.json.token) })).status, 200);
    assert.equal((await reg.req('POST', '/v2/open/img/blobs/uploads/', { headers: bearer(anon.json.token) })).status, 401);
  });

  test('ACL: basic mode answers 403 DENIED beyond a user\'s rights; token mode grants only what it allows', async () => {
    const acl = path.join(dir, 'acl');
    fs.writeFileSync(acl, '# user repositories actions\nalice * pull,push,delete\nbob team/* pull\n* public/* pull\nanonymous open/* pull\n');
    const reg = await start(['--htpasswd', htpasswd, '--acl', acl]);
    const d = await pushBlob(reg, 'team/app', 'acl layer', basic('alice', 'wonderland'));
    await pushBlob(reg, 'public/app', 'acl layer', basic('alice', 'wonderland'));
    await pushBlob(reg, 'open/app', 'acl layer', basic('alice', 'wonderland'));
    assert.equal((await reg.req('GET', `/v2/team/app/blobs/${d}`, { headers: basic('bob', 'builder') })).status, 200);
    const denied = await reg.req('POST', '/v2/team/app/blobs/uploads/', { headers: basic('bob', 'builder') });
    assert.equal(denied.status, 403);
    assert.equal(errCode(denied), 'DENIED');
    assert.equal((await reg.req('DELETE', `/v2/team/app/blobs/${d}`, { headers: basic('bob', 'builder') })).status, 403);
    assert.equal((await reg.req('GET', `/v2/other/app/blobs/${d}`, { headers: basic('bob', 'builder') })).status, 403);
    assert.equal((await reg.req('GET', `/v2/public/app/blobs/${d}`, { headers: basic('bob', 'builder') })).status, 200, '"*" is any known user');
    assert.equal((await reg.req('GET', `/v2/public/app/blobs/${d}`)).status, 401, '"*" is not anonymous');
    assert.equal((await reg.req('GET', `/v2/open/app/blobs/${d}`)).status, 200, 'anonymous rule');
    assert.equal((await reg.req('POST', '/v2/open/app/blobs/uploads/')).status, 401);

    const tok = await start(['--auth', 'token', '--htpasswd', htpasswd, '--acl', acl]);
    const t = await tok.req('GET', '/token?service=barge-registry&scope=repository:team/app:pull,push&scope=repository:secret/x:pull', { headers: basic('bob', 'builder') });
    const claims = JSON.parse(Buffer.from(t.json.token.split('.')[1], 'base64url').toString());
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    const push = await tok.req('POST', '/v2/team/app/blobs/uploads/', { headers: bearer(t.json.token) });
    assert.equal(push.status, 401);
    assert.match(String(push.headers['www-authenticate']), /insufficient_scope/);
    const bad = path.join(dir, 'bad-acl');
    fs.writeFileSync(bad, 'alice * fly\n');
    const r = spawnSync(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), '../../../bin/barge'), 'registry', 'serve', '--addr', '127.0.0.1:0', '--root', path.join(dir, 'y'), '--htpasswd', htpasswd, '--acl', bad], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad-acl:1: unknown action "fly"/);
  });

  test('TLS with --tls-cert and --tls-key', async (t) => {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    if (r.status !== 0) { t.skip(`openssl failed: ${r.stderr}`); return; }
    const reg = await start(['--tls-cert', cert, '--tls-key', key, '--auth', 'token', '--htpasswd', htpasswd]);
    assert.equal(reg.scheme, 'https');
    const ping = await reg.req('GET', '/v2/');
    assert.equal(ping.status, 401);
    assert.match(String(ping.headers['www-authenticate']), new RegExp(`realm="https://${reg.host}/token"`));
    const tok = await reg.req('GET', '/token?service=barge-registry&scope=repository:tls/img:pull,push', { headers: basic('alice', 'wonderland') });
    const d = await pushBlob(reg, 'tls/img', 'over tls', bearer(tok.json.token));
    assert.equal((await reg.req('GET', `/v2/tls/img/blobs/${d}`, { headers: bearer(tok.json.token) })).body.toString(), 'over tls');
    const half = spawnSync(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), '../../../bin/barge'), 'registry', 'serve', '--addr', '127.0.0.1:0', '--root', path.join(dir, 'x'), '--tls-cert', cert], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(half.status, 1);
    assert.match(half.stderr, /TLS needs both --tls-cert and --tls-key/);
  });
});
