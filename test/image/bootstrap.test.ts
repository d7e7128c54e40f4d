// barge image bootstrap: a real Debian image made with debootstrap from the host's Debian mirror, run
// by a real barged. Slow (a minute or so: the .debs are downloaded once per data root), so this is the
// only test that bootstraps. Skipped, with the reason printed, when the mirror cannot be reached.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { hostMirror } from '../../src/image/bootstrap.js';

const HAVE_DEBOOTSTRAP = ['/usr/sbin/debootstrap', '/usr/bin/debootstrap'].some((p) => fs.existsSync(p));
const mirror = hostMirror();

/** Why the bootstrap test cannot run here, or undefined if it can. */
async function unreachable(): Promise<string | undefined> {
  if (!HAVE_DEBOOTSTRAP) return 'debootstrap is not installed (apt-get install debootstrap)';
  try {
    const r = await fetch(`${mirror}/dists/bookworm/Release`, { method: 'HEAD', signal: AbortSignal.timeout(15_000) });
    return r.ok ? undefined : `the Debian mirror ${mirror} answers ${r.status} for bookworm's Release file`;
  } catch (e) {
    return `the Debian mirror ${mirror} is unreachable (${(e as Error).message})`;
  }
}
const skip = await unreachable();
if (skip) console.log(`# barge image bootstrap tests skipped: ${skip}`);

describe('barge image bootstrap', { skip: skip ?? false }, () => {
  let d: TestDaemon;
  const ok = (args: string[], timeoutMs = 60_000) => {
    const r = d.barge(args, { timeoutMs });
    assert.equal(r.code, 0, `barge ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const leftovers = () => {
    let names: string[] = [];
    try { names = fs.readdirSync(path.join(d.dataRoot, 'bootstrap')); } catch { /* none */ }
    return names.filter((n) => n.startsWith('tmp-'));
  };

  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  test('bootstraps debian:bookworm (minbase), which runs cat and apt-get', () => {
    const out = ok(['image', 'bootstrap', 'debian:bookworm'], 900_000);
    assert.match(out, /debootstrap --variant=minbase .*bookworm/);
    assert.match(out, /Bootstrapped image: debian:bookworm\n$/);
    assert.deepEqual(leftovers(), []);
    assert.match(ok(['run', '--rm', '--network', 'none', 'debian:bookworm', 'cat', '/etc/debian_version']), /^12\.\d+\n$/);
    assert.match(ok(['run', '--rm', '--network', 'none', 'debian:bookworm', 'apt-get', '--version']), /^apt 2\./);
    // Its config and history say what it is and how it was made.
    const cfg = JSON.parse(ok(['image', 'inspect', '-f', '{{json .Config}}', 'debian:bookworm']));
    assert.deepEqual(cfg.Cmd, ['bash']);
    assert.ok(cfg.Env.some((e: string) => e.startsWith('PATH=/usr/local/sbin:')), cfg.Env);
    assert.match(ok(['history', '--no-trunc', '--format', '{{.Comment}}', 'debian:bookworm']), /debootstrap --variant=minbase bookworm http/);
    assert.equal(ok(['image', 'inspect', '-f', '{{len .RootFS.Layers}}', 'debian:bookworm']).trim(), '1');
    // The .debs stay cached for the next bootstrap of the suite.
    assert.ok(fs.readdirSync(path.join(d.dataRoot, 'bootstrap', 'cache', 'bookworm')).some((f) => f.startsWith('apt_')));
  });

  test('a second bootstrap reports the existing image and builds nothing', () => {
    const id = ok(['image', 'inspect', '-f', '{{.Id}}', 'debian:bookworm']).trim();
    const out = ok(['image', 'bootstrap', 'debian:bookworm']);
    assert.match(out, /debian:bookworm already exists/);
    assert.doesNotMatch(out, /debootstrap --variant/);
    assert.equal(ok(['image', 'bootstrap', '-q', 'bookworm']).trim(), id);
  });

  test('a Dockerfile on it installs a Debian package in RUN (slow: apt over the bridge\'s NAT)', () => {
    const ctx = fs.mkdtempSync('/tmp/bt-apt-');
    try {
      fs.writeFileSync(path.join(ctx, 'Dockerfile'), [
        'FROM debian:bookworm',
        'RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*',
        'CMD ["nginx", "-v"]',
        '',
      ].join('\n'));
      const out = ok(['build', '-t', 'apt-test:1', ctx], 900_000);
      assert.match(out, /Successfully tagged apt-test:1/);
      const r = d.barge(['run', '--rm', 'apt-test:1']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /nginx version: nginx\/1\./);
      assert.match(ok(['run', '--rm', 'apt-test:1', 'dpkg-query', '-W', '-f', '${Status}', 'nginx']), /install ok installed/);
    } finally {
      fs.rmSync(ctx, { recursive: true, force: true });
    }
  });

  test('an unreachable mirror fails clearly and leaves no image and no work directory', () => {
    const r = d.barge(['image', 'bootstrap', '--mirror', 'http://127.0.0.1:9/debian', '-t', 'broken:bookworm', 'debian:bookworm'], { timeoutMs: 120_000 });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /debootstrap failed .*Release.*check that the mirror is reachable/);
    assert.deepEqual(leftovers(), []);
    assert.notEqual(d.barge(['image', 'inspect', 'broken:bookworm']).code, 0);
  });

  test('bad arguments are refused before anything runs', () => {
    for (const [args, want] of [
      [['image', 'bootstrap', 'ubuntu:jammy'], /does not name a Debian suite/],
      [['image', 'bootstrap', '--variant', 'huge', 'debian:bookworm', '--force'], /invalid variant "huge"/],
      [['image', 'bootstrap', '--mirror', 'ftp://x/debian', 'debian:bookworm', '--force'], /invalid mirror/],
    ] as [string[], RegExp][]) {
      const r = d.barge(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, want);
    }
    assert.deepEqual(leftovers(), []);
  });
});
