// The container lifecycle through the barge CLI, as a user types it: run, ps, logs, exec, top,
// stats, pause/unpause, stop/start/restart, rename, wait, kill, rm — and the errors of bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, hostLeftovers, type TestDaemon } from '../helpers/daemon.js';
import { sleep, until } from '../helpers/engine.js';

let d: TestDaemon;
before(async () => { d = await startDaemon(); });
after(async () => { await d?.cleanup(); });

test('run --rm prints the output and leaves no container', () => {
  const r = d.barge(['run', '--rm', 'busybox', 'echo', 'hello', 'world']);
  assert.equal(r.stdout, 'hello world\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(d.barge(['ps', '-aq']).stdout, '');
});

test('exit codes are the container\'s own; 127 for a missing command, 125 for a barge error', () => {
  assert.equal(d.barge(['run', '--rm', 'busybox', 'sh', '-c', 'exit 7']).code, 7);
  const nf = d.barge(['run', '--rm', 'busybox', 'no-such-command']);
  assert.equal(nf.code, 127);
  assert.match(nf.stderr, /executable file not found in \$PATH/);
  const ni = d.barge(['run', '--rm', 'no-such-image-x']);
  assert.equal(ni.code, 125);
  assert.match(ni.stderr, /No such image|Unable to find image/);
  assert.equal(d.barge(['ps', '-aq']).stdout, '', 'a failed run --rm leaves nothing');
});

test('stdout and stderr stay apart; stdin is passed with -i', () => {
  const r = d.barge(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const c = d.barge(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'tr a-z A-Z'], { input: 'piped text\n' });
  assert.equal(c.stdout, 'PIPED TEXT\n');
});

test('a detached container: ps, logs, exec, top, stats, inspect', async () => {
  const run = d.barge(['run', '-d', '--name', 'web', '-m', '64m', '--cpus', '0.5', '--pids-limit', '50', 'busybox', 'sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = d.barge(['ps']);
  assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
  assert.match(ps.stdout, new RegExp(`${id.slice(0, 12)}\\s+busybox\\s+"sh -c 'i=0; while t…"\\s+.*Up .*\\s+web\\n`));
  await until('two log lines', () => (d.barge(['logs', 'web']).stdout.split('\n').length > 2 ? true : undefined));
  const logs = d.barge(['logs', '--tail', '1', 'web']);
  assert.match(logs.stdout, /^tick \d+\n$/);
  const ts = d.barge(['logs', '-t', '--tail', '1', 'web']);
  assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+\n$/);
  const ex = d.barge(['exec', 'web', 'sh', '-c', 'echo in-exec; echo $HOSTNAME; exit 4']);
  assert.equal(ex.code, 4);
  assert.equal(ex.stdout, `in-exec\n${id.slice(0, 12)}\n`);
  const exi = d.barge(['exec', '-i', 'web', 'cat'], { input: 'via exec\n' });
  assert.equal(exi.stdout, 'via exec\n');
  assert.equal(d.barge(['exec', 'web', 'nope']).code, 127);
  const top = d.barge(['top', 'web']);
  assert.match(top.stdout, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n/);
  assert.match(top.stdout, /sh -c i=0; while true/);
  const stats = d.barge(['stats', '--no-stream', 'web']);
  assert.match(stats.stdout, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS\n/);
  assert.match(stats.stdout, new RegExp(`${id.slice(0, 12)}\\s+web\\s+[\\d.]+%\\s+[\\d.]+[KMG]?i?B / 64MiB`));
  const f = d.barge(['inspect', '-f', '{{.State.Status}} {{.State.Running}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.Name}}', 'web']);
  assert.equal(f.stdout, 'running true 67108864 500000000 /web\n');
  const pid = Number(d.barge(['inspect', '-f', '{{.State.Pid}}', 'web']).stdout.trim());
  assert.ok(pid > 1 && fs.existsSync(`/proc/${pid}`), 'State.Pid is a live host process');
  const js = JSON.parse(d.barge(['inspect', 'web']).stdout);
  assert.equal(js[0].Id, id);
  assert.deepEqual(js[0].Config.Cmd, ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']);
});

test('logs -f follows until the container stops', async () => {
  const id = d.barge(['run', '-d', 'busybox', 'sh', '-c', 'echo one; sleep 1; echo two']).stdout.trim();
  const r = await d.bargeAsync(['logs', '-f', id]);
  assert.equal(r.stdout, 'one\ntwo\n');
  d.barge(['rm', id]);
});

test('pause and unpause freeze the processes', async () => {
  assert.equal(d.barge(['pause', 'web']).stdout, 'web\n');
  const ps = d.barge(['ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}']);
  assert.match(ps.stdout, /\(Paused\)/, `ps: ${ps.stderr}\n${d.log().slice(-3000)}`);
  assert.equal(d.barge(['inspect', '-f', '{{.State.Status}}', 'web']).stdout, 'paused\n');
  const before = d.barge(['logs', 'web']).stdout;
  await sleep(700);
  assert.equal(d.barge(['logs', 'web']).stdout, before, 'no output while frozen');
  const ex = d.barge(['exec', 'web', 'true']);
  assert.equal(ex.code, 1);
  assert.match(ex.stderr, /paused/);
  assert.equal(d.barge(['unpause', 'web']).stdout, 'web\n');
  await until('output after unpause', () => d.barge(['logs', 'web']).stdout !== before);
});

test('stop, start, restart, rename, wait, kill', async () => {
  const stop = d.barge(['stop', '-t', '1', 'web']);
  assert.equal(stop.stdout, 'web\n');
  // sh as pid 1 ignores SIGTERM, so stop ends with SIGKILL after the timeout, as in Docker.
  assert.equal(d.barge(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'web']).stdout, 'exited 137\n');
  assert.match(d.barge(['ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}']).stdout, /^Exited \(137\) /);
  assert.equal(d.barge(['start', 'web']).stdout, 'web\n');
  assert.equal(d.barge(['inspect', '-f', '{{.State.Running}}', 'web']).stdout, 'true\n');
  assert.equal(d.barge(['restart', '-t', '0', 'web']).stdout, 'web\n');
  assert.equal(d.barge(['inspect', '-f', '{{.State.Running}}', 'web']).stdout, 'true\n');
  assert.equal(d.barge(['rename', 'web', 'web2']).code, 0);
  assert.equal(d.barge(['inspect', '-f', '{{.Name}}', 'web2']).stdout, '/web2\n');
  const waiting = d.bargeAsync(['wait', 'web2']);
  await sleep(200);
  assert.equal(d.barge(['kill', '-s', 'TERM', 'web2']).stdout, 'web2\n', 'kill prints the name');
  assert.equal(d.barge(['inspect', '-f', '{{.State.Running}}', 'web2']).stdout, 'true\n', 'pid 1 ignores TERM');
  assert.equal(d.barge(['kill', 'web2']).code, 0);
  const w = await waiting;
  assert.equal(w.stdout, '137\n');
  const k = d.barge(['kill', 'web2']);
  assert.equal(k.code, 1);
  assert.match(k.stderr, /is not running/);
});

test('a container that exits on its own keeps its exit code and logs', async () => {
  const id = d.barge(['run', '-d', 'busybox', 'sh', '-c', 'echo bye; exit 3']).stdout.trim();
  assert.equal(d.barge(['wait', id]).stdout, '3\n');
  assert.equal(d.barge(['logs', id]).stdout, 'bye\n');
  assert.match(d.barge(['ps', '-a', '--filter', `id=${id}`, '--format', '{{.Status}}']).stdout, /^Exited \(3\) /);
  assert.equal(d.barge(['ps', '-a', '--filter', 'exited=3', '-q']).stdout, id.slice(0, 12) + '\n');
  const a = d.barge(['start', '-a', id]);
  assert.equal(a.stdout, 'bye\n');
  assert.equal(a.code, 3);
  d.barge(['rm', id]);
});

test('restart policies: on-failure retries, always restarts, rm -f stops it', async () => {
  const id = d.barge(['run', '-d', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo try; exit 1']).stdout.trim();
  await until('two restarts', () => d.barge(['inspect', '-f', '{{.RestartCount}} {{.State.Running}}', id]).stdout === '2 false\n', 15_000);
  assert.equal(d.barge(['logs', id]).stdout, 'try\ntry\ntry\n');
  d.barge(['rm', id]);
  const a = d.barge(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 0']).stdout.trim();
  await until('a restart', () => Number(d.barge(['inspect', '-f', '{{.RestartCount}}', a]).stdout) >= 1, 15_000);
  assert.equal(d.barge(['rm', '-f', a]).code, 0);
  assert.equal(d.barge(['ps', '-aq', '--filter', `id=${a}`]).stdout, '');
});

test('bad input gets docker\'s status and message, and leaves nothing behind', () => {
  const before = d.barge(['ps', '-aq']).stdout;
  const mem = d.barge(['run', '-m', '12x', 'busybox', 'true']);
  assert.equal(mem.code, 125);
  assert.match(mem.stderr, /invalid argument "12x" for "-m, --memory" flag/);
  const cpus = d.barge(['run', '--cpus', '-1', 'busybox', 'true']);
  assert.equal(cpus.code, 125);
  assert.match(cpus.stderr, /--cpus/);
  const flag = d.barge(['run', '--no-such-flag', 'busybox']);
  assert.equal(flag.code, 125);
  assert.match(flag.stderr, /unknown flag: --no-such-flag/);
  assert.equal(d.barge(['ps', '-aq']).stdout, before, 'no container was made');

  d.barge(['create', '--name', 'taken', 'busybox']);
  const dup = d.barge(['create', '--name', 'taken', 'busybox']);
  assert.equal(dup.code, 125);
  assert.match(dup.stderr, /Conflict. The container name "\/taken" is already in use/);
  const bad = d.barge(['create', '--name', 'bad name!', 'busybox']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /Invalid container name/);

  const id = d.barge(['run', '-d', 'busybox', 'sleep', '100']).stdout.trim();
  const rm = d.barge(['rm', id]);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /container is running: stop the container before removing or force remove/);
  assert.equal(d.barge(['rm', '-f', id]).code, 0);

  const nf = d.barge(['logs', 'no-such-container']);
  assert.equal(nf.code, 1);
  assert.match(nf.stderr, /No such container: no-such-container/);
  const st = d.barge(['start', 'no-such-container']);
  assert.equal(st.code, 1);
  assert.match(st.stderr, /No such container/);
  d.barge(['rm', 'taken']);
});

test('the API answers with Docker\'s status codes', async () => {
  assert.equal((await d.api('GET', '/containers/nope/json')).status, 404);
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '30'] });
  assert.equal(c.status, 201);
  const id = c.body.Id as string;
  assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
  assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 304);
  assert.equal((await d.api('DELETE', `/containers/${id}`)).status, 409);
  assert.equal((await d.api('POST', `/containers/${id}/stop?t=0`)).status, 204);
  assert.equal((await d.api('POST', `/containers/${id}/stop`)).status, 304);
  assert.equal((await d.api('POST', '/containers/create', { Image: 'busybox', HostConfig: { Memory: -5 } })).status, 400);
  assert.equal((await d.api('POST', '/containers/create', 'not json')).status, 400);
  assert.equal((await d.api('POST', '/containers/create', { Image: 'nope:1' })).status, 404);
  assert.equal((await d.api('DELETE', `/containers/${id}`)).status, 204);
  const v = await d.api('GET', '/v1.47/version');
  assert.equal(v.body.ApiVersion, '1.47');
  assert.equal((await d.api('GET', '/v1.12/version')).status, 400);
  const ping = await d.api('GET', '/_ping');
  assert.equal(ping.text, 'OK');
  assert.equal(ping.headers['api-version'], '1.47');
});

test('container prune, and nothing is left on the host once everything is removed', async () => {
  d.barge(['create', 'busybox']);
  d.barge(['run', 'busybox', 'true']);
  const p = d.barge(['container', 'prune', '-f']);
  assert.match(p.stdout, /Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n/);
  for (const id of d.barge(['ps', '-aq']).stdout.split('\n').filter(Boolean)) d.barge(['rm', '-f', id]);
  assert.equal(d.barge(['ps', '-aq']).stdout, '');
  await until('no veths on the bridge', () => hostLeftovers(d).links.length === 0 || undefined);
  const left = hostLeftovers(d);
  assert.deepEqual(left.mounts.filter((m) => !m.includes('/netns')), []);
  assert.deepEqual(left.netns, []);
  assert.deepEqual(fs.readdirSync(path.join(d.execRoot, 'c')), []);
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'containers')), []);
});
