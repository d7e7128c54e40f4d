// Interoperability of barge's image archives with Docker itself and with skopeo:
//   barge save -> dockerd load -> run, and dockerd save -> barge load -> run (Debian's docker.io, started
//   on its own socket and roots, stopped after); skopeo inspect of docker-archive: and oci-archive:.
// Each part is skipped, with the reason printed, where the tool is missing or cannot run here.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

describe('interoperability with dockerd and skopeo', () => {
  let d: TestDaemon;
  let dk: Dockerd | string;
  before(async () => {
    d = await startDaemon();
    dk = await startDockerd();
    if (typeof dk === 'string') console.log(`# dockerd tests skipped: ${dk}`);
  });
  after(async () => {
    if (typeof dk === 'object') await dk.stop();
    await d?.cleanup();
  });
  const ok = (args: string[]) => {
    const r = d.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const dok = (args: string[]) => {
    const r = spawnSync('docker', ['-H', `unix://${(dk as Dockerd).sock}`, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
    assert.equal(r.status, 0, `dockerd: docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  test('barge save -> dockerd load -> run', (t) => {
    if (typeof dk === 'string') { t.skip(dk); return; }
    ok(['run', '--name', 'mk', '--network', 'none', 'busybox', 'sh', '-c', 'echo made by barge > /made; rm /etc/shadow']);
    ok(['commit', '-c', 'CMD ["cat", "/made"]', 'mk', 'frombarge:1']);
    const file = path.join(d.dir, 'frombarge.tar');
    ok(['save', '-o', file, 'frombarge:1', 'busybox']);
    const out = dok(['load', '-i', file]);
    assert.match(out, /Loaded image: frombarge:1/);
    assert.match(out, /Loaded image: busybox:latest/);
    assert.equal(dok(['run', '--rm', '--network', 'none', 'frombarge:1']), 'made by barge\n');
    assert.equal(dok(['run', '--rm', '--network', 'none', 'frombarge:1', 'sh', '-c', 'ls /etc/shadow 2>&1; true']).trim(), 'ls: /etc/shadow: No such file or directory');
    assert.equal(dok(['image', 'inspect', '-f', '{{.Id}}', 'frombarge:1']).trim(), ok(['image', 'inspect', '-f', '{{.Id}}', 'frombarge:1']).trim(), 'same image ID');
    ok(['rm', 'mk']);
  });

  test('dockerd save -> barge load -> run', (t) => {
    if (typeof dk === 'string') { t.skip(dk); return; }
    dok(['run', '--name', 'dkc', '--network', 'none', 'busybox', 'sh', '-c', 'mkdir -p /opt/d && echo made by docker > /opt/d/f; rm -rf /var/spool; mkdir /var/spool']);
    dok(['commit', '--change', 'CMD ["cat", "/opt/d/f"]', 'dkc', 'fromdocker:1']);
    const file = path.join(d.dir, 'fromdocker.tar');
    dok(['save', '-o', file, 'fromdocker:1']);
    assert.match(ok(['load', '-i', file]), /Loaded image: fromdocker:1/);
    assert.equal(ok(['run', '--rm', '--network', 'none', 'fromdocker:1']), 'made by docker\n');
    assert.equal(ok(['run', '--rm', '--network', 'none', '--entrypoint', 'ls', 'fromdocker:1', '-A', '/var/spool']), '');
    assert.equal(ok(['image', 'inspect', '-f', '{{.Id}}', 'fromdocker:1']).trim(), dok(['image', 'inspect', '-f', '{{.Id}}', 'fromdocker:1']).trim());
    dok(['rm', 'dkc']);
  });

  test('skopeo inspect docker-archive: and oci-archive: of what barge saves', (t) => {
    if (!which('skopeo')) { t.skip('skopeo is not installed (apt-get install skopeo)'); console.log('# skopeo tests skipped: not installed'); return; }
    const file = path.join(d.dir, 'skopeo.tar');
    ok(['save', '-o', file, 'busybox']);
    const diffIds = JSON.parse(ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'busybox']));
    for (const transport of ['docker-archive', 'oci-archive']) {
      const r = spawnSync('skopeo', ['inspect', `${transport}:${file}`], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${transport}: ${r.stderr}`);
      const info = JSON.parse(r.stdout);
      assert.deepEqual(info.Layers, diffIds, transport);
      assert.equal(info.Os, 'linux');
      const cfg = spawnSync('skopeo', ['inspect', '--config', `${transport}:${file}`], { encoding: 'utf8' });
      assert.equal(cfg.status, 0, cfg.stderr);
      assert.deepEqual(JSON.parse(cfg.stdout).config.Cmd, ['sh']);
    }
  });
});
