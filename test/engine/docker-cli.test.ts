// The real docker CLI (`docker -H unix://<sock>`) against barged: what a Docker user types works and
// prints what Docker prints — run, ps, logs, exec, inspect, cp, stats, attach, wait, kill, pause,
// rename, top, events, version — and the errors come with Docker's exit codes and messages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNothingLeft, runPty, until } from '../helpers/engine.js';

let d: TestDaemon;
before(async () => { d = await startDaemon(); });
after(async () => { await d?.cleanup(); });

const docker = (...args: string[]) => d.docker(args);
const dockerIn = (input: string, ...args: string[]) => d.docker(args, { input });

test('docker version negotiates API 1.47', () => {
  const r = docker('version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}}');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^1\.47 1\.47 1\.\d+\n$/);
  const text = docker('version').stdout;
  assert.match(text, /^Client:\n/);
  assert.match(text, /\n API version:\s+1\.47 \(downgraded from 1\.\d+\)\n/);
  assert.match(text, /\nServer: barge\n Engine:\n  Version:\s+\S+\n  API version:\s+1\.47 \(minimum version 1\.\d+\)\n/);
});

test('docker run --rm prints the output and leaves nothing', () => {
  const r = docker('run', '--rm', 'busybox', 'echo', 'hello', 'world');
  assert.equal(r.stdout, 'hello world\n');
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  assert.equal(docker('ps', '-aq').stdout, '');
  const code = docker('run', '--rm', 'busybox', 'sh', '-c', 'echo to-err >&2; exit 42');
  assert.equal(code.code, 42);
  assert.equal(code.stderr, 'to-err\n');
});

test('docker run -d, ps, logs, exec, inspect --format, stop, rm', async () => {
  const run = docker('run', '-d', '--name', 'web', 'busybox', 'sh', '-c', 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done');
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = docker('ps');
  assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
  assert.match(ps.stdout, new RegExp(`\\n${id.slice(0, 12)}\\s+busybox\\s+"sh -c 'echo started…"\\s+.+\\s+Up .+\\s+web\\n`));
  assert.equal(docker('ps', '-q', '--no-trunc').stdout, id + '\n');
  await until('the first log line', () => docker('logs', 'web').stdout === 'started\n');
  const ex = docker('exec', 'web', 'sh', '-c', 'echo in-exec; echo $HOSTNAME; exit 3');
  assert.equal(ex.code, 3);
  assert.equal(ex.stdout, `in-exec\n${id.slice(0, 12)}\n`);
  assert.equal(docker('exec', '-w', '/tmp', '-u', 'nobody', '-e', 'X=y', 'web', 'sh', '-c', 'echo $(pwd) $(id -u) $X').stdout, '/tmp 65534 y\n');
  const fmt = docker('inspect', '--format', '{{.State.Status}} {{.State.Running}} {{.Config.Image}} {{.Name}} {{json .Config.Cmd}}', 'web');
  assert.equal(fmt.stdout, 'running true busybox /web ["sh","-c","echo started; trap \\"echo bye; exit 0\\" TERM; while true; do sleep 0.1; done"]\n');
  const js = JSON.parse(docker('inspect', 'web').stdout);
  assert.equal(js[0].Id, id);
  assert.equal(js[0].State.Pid > 0, true);
  const stop = docker('stop', 'web');
  assert.equal(stop.stdout, 'web\n');
  assert.equal(docker('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'web').stdout, 'exited 0\n', 'the TERM trap ran');
  assert.equal(docker('logs', 'web').stdout, 'started\nbye\n');
  assert.match(docker('ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}').stdout, /^Exited \(0\) /);
  assert.equal(docker('rm', 'web').stdout, 'web\n');
  assert.equal(docker('ps', '-aq').stdout, '');
});

test('docker cp both ways', async (t) => {
  assert.equal(docker('run', '-d', '--name', 'cp', 'busybox', 'sleep', '300').code, 0);
  const probe = await d.api('HEAD', '/containers/cp/archive?path=/etc');
  if (probe.status === 404) {
    t.skip('the archive endpoint answers 404 (not there yet): docker cp cannot work');
    docker('rm', '-f', 'cp');
    return;
  }
  const src = path.join(d.dir, 'cp-in.txt');
  fs.writeFileSync(src, 'into the container\n');
  const into = docker('cp', src, 'cp:/tmp/in.txt');
  assert.equal(into.code, 0, into.stderr);
  assert.equal(docker('exec', 'cp', 'cat', '/tmp/in.txt').stdout, 'into the container\n');
  assert.equal(docker('exec', 'cp', 'sh', '-c', 'mkdir -p /data/sub && echo out > /data/sub/f && echo top > /data/g').code, 0);
  const dest = path.join(d.dir, 'cp-out');
  const out = docker('cp', 'cp:/data', dest);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(fs.readFileSync(path.join(dest, 'sub/f'), 'utf8'), 'out\n');
  assert.equal(fs.readFileSync(path.join(dest, 'g'), 'utf8'), 'top\n');
  const missing = docker('cp', 'cp:/no/such/file', dest);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^Error response from daemon: Could not find the file \/no\/such\/file in container (cp|[0-9a-f]{64})\n$/);
  assert.equal(docker('rm', '-f', 'cp').code, 0);
});

test('docker stats --no-stream', () => {
  const id = docker('run', '-d', '--name', 'st', '-m', '64m', 'busybox', 'sleep', '300').stdout.trim();
  const r = docker('stats', '--no-stream', 'st');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
  assert.match(lines[1]!, new RegExp(`^${id.slice(0, 12)}\\s+st\\s+[\\d.]+%\\s+[\\d.]+[KMG]?i?B / 64MiB\\s+[\\d.]+%\\s+\\S+ / \\S+\\s+\\S+ / \\S+\\s+1$`));
  assert.equal(docker('rm', '-f', 'st').code, 0);
});

test('stdin: run -i, exec -i and attach with piped input', () => {
  const run = dockerIn('piped text\nsecond line\n', 'run', '--rm', '-i', 'busybox', 'sh', '-c', 'tr a-z A-Z; echo done');
  assert.equal(run.stdout, 'PIPED TEXT\nSECOND LINE\ndone\n');
  assert.equal(run.code, 0);
  assert.equal(docker('run', '-d', '--name', 'bg', 'busybox', 'sleep', '300').code, 0);
  const ex = dockerIn('via exec\n', 'exec', '-i', 'bg', 'sh', '-c', 'cat; exit 5');
  assert.equal(ex.stdout, 'via exec\n');
  assert.equal(ex.code, 5);
  // A container waiting for a line: docker attach gives it one, and exits with its code.
  assert.equal(docker('run', '-d', '-i', '--name', 'reader', 'busybox', 'sh', '-c', 'read line; echo got:$line; exit 6').code, 0);
  const at = dockerIn('hello\n', 'attach', 'reader');
  assert.equal(at.stdout, 'got:hello\n');
  assert.equal(at.code, 6);
  assert.equal(docker('rm', '-f', 'bg', 'reader').stdout, 'bg\nreader\n');
});

test('docker run -it on a terminal', async () => {
  const r = await runPty(d, ['docker', '-H', d.host, 'run', '-it', '--rm', 'busybox', 'sh'], [
    { expect: '/ # ' },
    { send: 'echo $((6*7))\r' }, { expect: '\r\n42\r\n' },
    { send: 'stty size\r' }, { expect: '\r\n30 90\r\n' },
    { resize: [35, 95] },
    { expect: '\r\n35 95\r\n', poke: 'stty size\r', every: 0.5 },
    { send: 'exit 3\r' }, { wait: 15 },
  ], { rows: 30, cols: 90 });
  assert.ok(r.ok, `${r.error}: ${JSON.stringify(r.output)}`);
  assert.equal(r.exit, 3);
});

test('docker wait, kill -s, pause/unpause, rename, top', async () => {
  const w = docker('run', '-d', '--name', 'seven', 'busybox', 'sh', '-c', 'sleep 0.3; exit 7');
  assert.equal(w.code, 0);
  assert.equal(docker('wait', 'seven').stdout, '7\n');
  assert.equal(docker('rm', 'seven').code, 0);

  assert.equal(docker('run', '-d', '--name', 'sig', 'busybox', 'sh', '-c', 'trap "echo got-usr1" USR1; while true; do sleep 0.1; done').code, 0);
  assert.equal(docker('kill', '-s', 'USR1', 'sig').stdout, 'sig\n');
  await until('the trap to run', () => docker('logs', 'sig').stdout === 'got-usr1\n');
  assert.equal(docker('inspect', '-f', '{{.State.Running}}', 'sig').stdout, 'true\n');

  assert.equal(docker('pause', 'sig').stdout, 'sig\n');
  assert.equal(docker('inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'sig').stdout, 'paused true\n');
  assert.match(docker('ps', '--filter', 'name=sig', '--format', '{{.Names}} {{.Status}}').stdout, /^sig Up .* \(Paused\)\n$/);
  const exPaused = docker('exec', 'sig', 'true');
  assert.equal(exPaused.code, 1);
  assert.match(exPaused.stderr, /is paused, unpause the container before exec/);
  assert.equal(docker('unpause', 'sig').stdout, 'sig\n');
  assert.equal(docker('inspect', '-f', '{{.State.Status}}', 'sig').stdout, 'running\n');

  assert.equal(docker('rename', 'sig', 'sig2').code, 0);
  assert.equal(docker('inspect', '-f', '{{.Name}}', 'sig2').stdout, '/sig2\n');
  const gone = docker('inspect', 'sig');
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /No such object: sig|No such container: sig/);

  const top = docker('top', 'sig2');
  assert.equal(top.code, 0, top.stderr);
  const rows = top.stdout.trim().split('\n');
  assert.match(rows[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
  assert.ok(rows.some((l) => /^root\s+\d+\s+\d+\s+.*sh -c trap "echo got-usr1" USR1; while true; do sleep 0\.1; done$/.test(l)), top.stdout);
  const pids = docker('top', 'sig2', '-o', 'pid,comm').stdout;
  assert.match(pids, /^PID\s+COMMAND\n\d+\s+sh\n/);

  assert.equal(docker('kill', 'sig2').stdout, 'sig2\n');
  assert.equal(docker('wait', 'sig2').stdout, '137\n');
  const again = docker('kill', 'sig2');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is not running/);
  assert.equal(docker('rm', 'sig2').code, 0);
});

test('docker events --since/--until replays a container\'s life', () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const r = docker('run', '--rm', '--name', 'evt', 'busybox', 'true');
  assert.equal(r.code, 0, r.stderr);
  const until_ = Math.ceil(Date.now() / 1000) + 1;
  const ev = docker('events', '--since', String(since), '--until', String(until_), '--filter', 'container=evt', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.image}}');
  assert.equal(ev.code, 0, ev.stderr);
  const actions = ev.stdout.trim().split('\n').filter((l) => l.startsWith('container ')).map((l) => l.split(' ')[1]);
  for (const a of ['create', 'start', 'die', 'destroy']) assert.ok(actions.includes(a), `${a} in ${actions.join(',')}`);
  assert.ok(actions.indexOf('create') < actions.indexOf('start') && actions.indexOf('start') < actions.indexOf('die') && actions.indexOf('die') < actions.indexOf('destroy'), actions.join(','));
  assert.match(ev.stdout, /^container create evt busybox$/m);
  const plain = docker('events', '--since', String(since), '--until', String(until_), '--filter', 'event=die', '--filter', 'container=evt');
  assert.match(plain.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z container die [0-9a-f]{64} \(exitCode=0, image=busybox, name=evt\)\n$/);
  // A window before the daemon started holds nothing.
  const none = docker('events', '--since', String(since - 100), '--until', String(since - 50));
  assert.equal(none.code, 0);
  assert.equal(none.stdout, '');
});

test('create warnings reach docker: a clamped ulimit', () => {
  const hostHard = Number(/^Max open files\s+\d+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]);
  if (hostHard >= 99999) return;
  const r = docker('run', '--rm', '--ulimit', 'nofile=99999:99999', 'busybox', 'sh', '-c', 'ulimit -Hn');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${hostHard}\n`);
  assert.match(r.stderr, /^WARNING: ulimit nofile=99999:99999 exceeds this host's hard limit/m);
});

test('errors: docker\'s exit codes and messages', () => {
  const before = docker('ps', '-aq').stdout;
  assert.equal(docker('run', '-d', '--name', 'busy', 'busybox', 'sleep', '300').code, 0);
  const rm = docker('rm', 'busy');
  assert.equal(rm.code, 1);
  assert.equal(rm.stderr, 'Error response from daemon: cannot remove container "/busy": container is running: stop the container before removing or force remove\n');
  assert.equal(docker('rm', '-f', 'busy').stdout, 'busy\n');

  const noImage = docker('run', '--rm', 'nonexistent-image');
  assert.equal(noImage.code, 125);
  assert.match(noImage.stderr, /^Unable to find image 'nonexistent-image:latest' locally\n/);
  assert.match(noImage.stderr, /docker: Error response from daemon: .*(nonexistent-image|registry-1\.docker\.io)/);

  const noCmd = docker('run', '--rm', 'busybox', 'nonexistent-cmd');
  assert.equal(noCmd.code, 127);
  assert.match(noCmd.stderr, /exec: "nonexistent-cmd": executable file not found in \$PATH/);

  const notExec = docker('run', '--rm', 'busybox', '/etc');
  assert.equal(notExec.code, 126);
  assert.match(notExec.stderr, /permission denied|is a directory/);

  const user = docker('run', '--rm', '-u', 'foo', 'busybox', 'id');
  assert.equal(user.code, 125);
  assert.match(user.stderr, /docker: Error response from daemon: unable to find user foo: no matching entries in passwd file/);

  const noCtr = docker('logs', 'no-such-container');
  assert.equal(noCtr.code, 1);
  assert.equal(noCtr.stderr, 'Error response from daemon: No such container: no-such-container\n');

  const mem = docker('run', '--rm', '-m', '12x', 'busybox', 'true');
  assert.equal(mem.code, 125);
  assert.match(mem.stderr, /invalid argument "12x" for "-m, --memory" flag: invalid suffix: 'x'/);
  const cpus = docker('run', '--rm', '--cpus', '-1', 'busybox', 'true');
  assert.equal(cpus.code, 125);
  assert.match(cpus.stderr, /docker: Error response from daemon: Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/);
  assert.equal(docker('ps', '-aq').stdout, before, 'failed runs leave no container');
});

test('nothing is left on the host once every container is removed', async () => {
  await assertNothingLeft(d);
});
