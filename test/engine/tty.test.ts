// Interactive containers through a real pseudo-terminal, as a user at a terminal sees them: `barge run
// -it`, `barge exec -it`, `barge attach`; line editing and job control in the container's shell, Ctrl-C,
// window size changes, exit codes, and the detach keys. The terminal is driven by test/helpers/pty.py.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { assertNothingLeft, BARGE_CMD, runPty, type PtyResult, type PtyStep } from '../helpers/engine.js';

let d: TestDaemon;
before(async () => { d = await startDaemon(); });
after(async () => { await d?.cleanup(); });

const BARGE = BARGE_CMD;
const PROMPT = '/ # ';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function ok(r: PtyResult): void {
  assert.ok(r.ok, `terminal session failed at step ${r.step}: ${r.error}\n--- output ---\n${JSON.stringify(r.output)}`);
}

/** Steps: a command typed at the prompt, and its output on a line of its own. */
const typed = (cmd: string, answer: string): PtyStep[] => [
  { send: cmd + '\r' }, { expect: esc(cmd) + '\r\n' + esc(answer) + '\r\n' },
];

/** Steps: start `sleep 100`, wait until it really runs in container `ref`, Ctrl-C it, check $? is 130. */
const interrupt = (ref: string): PtyStep[] => [
  { send: 'sleep 100\r' }, { expect: 'sleep 100\r\n' },
  { until: [...BARGE, 'exec', ref, 'sh', '-c', 'ps -o comm | grep -qx sleep'] },
  { send: '\x03' }, { expect: '\\^C\r\n' + esc(PROMPT) },
  ...typed('echo rc=$?', 'rc=130'),
];

test('run -it: a shell on a terminal; Ctrl-C, window size, and its exit code', async () => {
  const r = await runPty(d, [...BARGE, 'run', '-it', '--rm', '--name', 'it1', 'busybox', 'sh'], [
    { expect: esc(PROMPT) },
    ...typed('echo $((6*7))', '42'),
    ...typed('tty', '/dev/pts/0'),
    ...typed('echo $TERM', 'xterm'),
    ...typed('stty size', '30 100'),
    { resize: [40, 120] },
    { expect: '\r\n40 120\r\n', poke: 'stty size\r', every: 0.5 },
    ...interrupt('it1'),
    { send: 'exit 3\r' }, { wait: 15 },
  ], { rows: 30, cols: 100 });
  ok(r);
  assert.equal(r.exit, 3, 'barge exits with the shell\'s code');
  assert.doesNotMatch(r.output, /\r\r\n/, 'the terminal is raw: lines end in \\r\\n as the container wrote them');
  assert.equal(d.barge(['ps', '-aq', '--filter', 'name=it1']).stdout, '', '--rm removed it');
});

test('exec -it: a second shell in a running container', async () => {
  assert.equal(d.barge(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '300']).code, 0);
  const r = await runPty(d, [...BARGE, 'exec', '-it', 'ex', 'sh'], [
    { expect: esc(PROMPT) },
    ...typed('echo $((6*7))', '42'),
    ...typed('stty size', '20 60'),
    ...typed('ps -o pid,comm | grep -c sleep', '1'),
    { resize: [33, 77] },
    { expect: '\r\n33 77\r\n', poke: 'stty size\r', every: 0.5 },
    ...interrupt('ex'),
    { send: 'exit 4\r' }, { wait: 15 },
  ], { rows: 20, cols: 60 });
  ok(r);
  assert.equal(r.exit, 4, 'barge exec exits with the command\'s code');
  assert.equal(d.barge(['inspect', '-f', '{{.State.Running}}', 'ex']).stdout, 'true\n', 'the container runs on');
  assert.equal(d.barge(['rm', '-f', 'ex']).code, 0);
});

test('ctrl-p ctrl-q detaches and leaves the container running; attach comes back to it', async () => {
  const r = await runPty(d, [...BARGE, 'run', '-it', '--name', 'det', 'busybox', 'sh'], [
    { expect: esc(PROMPT) },
    ...typed('echo before-detach', 'before-detach'),
    { send: '\x10\x11' }, { wait: 15 },
  ]);
  ok(r);
  assert.equal(r.exit, 0);
  assert.equal(d.barge(['inspect', '-f', '{{.State.Status}}', 'det']).stdout, 'running\n');
  assert.match(d.barge(['ps', '--filter', 'name=det', '--format', '{{.Status}}']).stdout, /^Up /);

  // Reattach: the shell is where it was; a fresh prompt comes on Enter.
  const a = await runPty(d, [...BARGE, 'attach', 'det'], [
    { expect: esc(PROMPT), poke: '\r', every: 0.5 },
    ...typed('echo back-$((2*3))', 'back-6'),
    ...typed('stty size', '25 70'),
    { send: 'exit 5\r' }, { wait: 15 },
  ], { rows: 25, cols: 70 });
  ok(a);
  assert.equal(a.exit, 5, 'attach exits with the container\'s code');
  assert.equal(d.barge(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'det']).stdout, 'exited 5\n');
  assert.equal(d.barge(['logs', 'det']).stdout.includes('before-detach'), true, 'a tty container\'s output is logged');
  assert.equal(d.barge(['rm', 'det']).code, 0);
});

test('--detach-keys: a custom sequence detaches, the default one is then passed through', async () => {
  const r = await runPty(d, [...BARGE, 'run', '-it', '--name', 'dk', '--detach-keys', 'ctrl-a,d', 'busybox', 'sh'], [
    { expect: esc(PROMPT) },
    { send: 'cat -v\r' }, { expect: 'cat -v\r\n' },
    // (the container's terminal may take ctrl-q as XON: what matters is that ctrl-p got through)
    { send: '\x10\x11\r' }, { expect: '\\^P(\\^Q)?\r\n' },
    { send: '\x04' }, { expect: esc(PROMPT) },
    { send: '\x01d' }, { wait: 15 },
  ]);
  ok(r);
  assert.equal(r.exit, 0);
  assert.equal(d.barge(['inspect', '-f', '{{.State.Running}}', 'dk']).stdout, 'true\n');
  assert.equal(d.barge(['rm', '-f', 'dk']).code, 0);
});

test('-it without a terminal is refused as Docker refuses it', () => {
  const r = d.barge(['run', '-it', '--rm', 'busybox', 'true'], { input: '' });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'the input device is not a TTY\n');
  assert.equal(d.barge(['ps', '-aq']).stdout, '', 'no container was made');
  assert.equal(d.barge(['run', '-d', '--name', 'bg', 'busybox', 'sleep', '300']).code, 0);
  const e = d.barge(['exec', '-it', 'bg', 'sh'], { input: '' });
  assert.equal(e.code, 1);
  assert.equal(e.stderr, 'the input device is not a TTY\n');
  // -t alone, without -i, runs with a terminal but no input.
  const t = d.barge(['exec', '-t', 'bg', 'tty']);
  assert.equal(t.code, 0);
  assert.match(t.stdout, /^\/dev\/pts\/\d+\r?\n$/);
  assert.equal(d.barge(['rm', '-f', 'bg']).code, 0);
});

test('nothing is left on the host once every container is removed', async () => {
  await assertNothingLeft(d);
});
