// Containers outlive barged: SIGKILL the daemon while containers run, start it again, and the
// containers are still running, their logs intact, and wait/stop/exec work on them. Containers
// that exited while barged was away are settled with their real exit code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;
before(async () => { d = await startDaemon(); });
after(async () => { await d?.cleanup(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('kill -9 of barged leaves containers running; a restart finds them again', async () => {
  const ticker = d.barge(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done']).stdout.trim();
  const quitter = d.barge(['run', '-d', '--name', 'quitter', 'busybox', 'sh', '-c', 'sleep 1; echo done; exit 5']).stdout.trim();
  const stdin = d.barge(['run', '-d', '-i', '--name', 'reader', 'busybox', 'cat']).stdout.trim();
  const pid = Number(d.barge(['inspect', '-f', '{{.State.Pid}}', 'ticker']).stdout);
  assert.ok(ticker && quitter && stdin && pid > 0);
  await sleep(300);

  await d.kill9();
  // While barged is gone: the containers keep going, and one of them exits.
  process.kill(pid, 0);
  await sleep(1500);
  process.kill(pid, 0);
  await d.restart();

  const st = d.barge(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', 'ticker']);
  assert.equal(st.stdout, `running ${pid}\n`);
  const logs = d.barge(['logs', 'ticker']).stdout.trim().split('\n');
  assert.ok(logs.length >= 15, `logs kept growing while barged was away (${logs.length} lines)`);
  logs.forEach((l, i) => assert.equal(l, `tick ${i}`, 'no line lost or duplicated'));

  assert.equal(d.barge(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'quitter']).stdout, 'exited 5\n');
  assert.equal(d.barge(['logs', 'quitter']).stdout, 'done\n');

  // exec, attach's stdin, stop and wait work on the recovered containers.
  assert.equal(d.barge(['exec', 'ticker', 'echo', 'still here']).stdout, 'still here\n');
  const waiting = d.bargeAsync(['wait', 'ticker']);
  await sleep(200);
  assert.equal(d.barge(['stop', '-t', '0', 'ticker']).stdout, 'ticker\n');
  assert.equal((await waiting).stdout, '137\n');
  assert.equal(d.barge(['stop', '-t', '0', 'reader']).code, 0);
  assert.equal(d.barge(['inspect', '-f', '{{.State.Running}}', 'reader']).stdout, 'false\n');
  assert.match(d.log(), /reattached to running container/);
});

test('a graceful stop of barged keeps containers too, and unless-stopped ones come back', async () => {
  const id = d.barge(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000']).stdout.trim();
  const stopped = d.barge(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000']).stdout.trim();
  d.barge(['stop', '-t', '0', stopped]);
  const pid = d.barge(['inspect', '-f', '{{.State.Pid}}', id]).stdout;
  await d.stop();
  await d.restart();
  assert.equal(d.barge(['inspect', '-f', '{{.State.Pid}}', id]).stdout, pid, 'same process, not restarted');
  assert.equal(d.barge(['inspect', '-f', '{{.State.Running}}', stopped]).stdout, 'false\n', 'stopped by hand stays stopped');
  d.barge(['rm', '-f', id, stopped]);
});

test('a second barged on the same socket is refused', async () => {
  const r = d.barge([], {});
  assert.equal(r.code, 0);
  const { spawnSync } = await import('node:child_process');
  const { BARGED } = await import('../helpers/daemon.js');
  const second = spawnSync(BARGED, ['--data-root', d.dataRoot + '-2', '--exec-root', d.execRoot + '-2', '-H', d.host, '--pidfile', d.dir + '/other.pid', '--bridge', d.bridge, '--bip', d.bip], { encoding: 'utf8', timeout: 20_000 });
  assert.notEqual(second.status, 0);
  assert.match(second.stderr, /in use by another daemon/);
});
