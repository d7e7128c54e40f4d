// bargemon against the real runc with a busybox rootfs. Run as root.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  spawnMonitor, MonitorConnection, readExitFile, encodeFrame, FrameDecoder, FrameType,
  type MonitorOptions, type ExitInfo, MonitorStartError,
} from '../../src/monitor/client.js';

const BIN = fileURLToPath(new URL('../../bin/bargemon', import.meta.url));
const RUNC = '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';

let root = '';
let runcRoot = '';
let rootfs = '';
let template: Record<string, any> = {};
const ids: string[] = [];
let seq = 0;

before(() => {
  root = fs.mkdtempSync('/tmp/bmtest-');
  runcRoot = path.join(root, 'runc');
  rootfs = path.join(root, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfs, d));
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'cat', 'echo', 'sleep', 'tty', 'stty', 'head', 'tr', 'printf', 'seq', 'true', 'read'])
    fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  const specDir = path.join(root, 'spec');
  fs.mkdirSync(specDir);
  execFileSync(RUNC, ['spec', '--bundle', specDir]);
  template = JSON.parse(fs.readFileSync(path.join(specDir, 'config.json'), 'utf8'));
});

after(() => {
  for (const id of ids) {
    try { execFileSync(RUNC, ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' }); } catch { /* gone */ }
  }
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function newId(): string {
  const id = `bmtest-${process.pid}-${Date.now().toString(36)}-${seq++}`;
  ids.push(id);
  return id;
}

function processSpec(args: string[], tty: boolean): Record<string, any> {
  const p = structuredClone(template.process);
  p.args = args;
  p.terminal = tty;
  return p;
}

function makeBundle(id: string, args: string[], tty = false): string {
  const dir = path.join(root, id, 'bundle');
  fs.mkdirSync(dir, { recursive: true });
  const cfg = structuredClone(template);
  cfg.process = processSpec(args, tty);
  cfg.root = { path: rootfs, readonly: true };
  cfg.hostname = 'bmtest';
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 1));
  return dir;
}

function options(id: string, extra: Partial<MonitorOptions>, name = 'mon'): MonitorOptions {
  const dir = path.join(root, id);
  fs.mkdirSync(dir, { recursive: true });
  return {
    binary: BIN, runtime: RUNC, runtimeRoot: runcRoot, id,
    socketPath: path.join(dir, `${name}.sock`), exitFile: path.join(dir, `${name}.exit`),
    pidFile: path.join(dir, `${name}.pid`), tty: false, stdin: false,
    debugLog: path.join(dir, `${name}.debug`), ...extra,
  };
}

interface Running { conn: MonitorConnection; out: () => Buffer; err: () => Buffer; exit: Promise<ExitInfo> }

/** Connects, records the output and the exit, subscribes to both streams. */
async function attach(socketPath: string, subscribe = true): Promise<Running> {
  const conn = await MonitorConnection.connect(socketPath);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  conn.on('stdout', (b: Buffer) => out.push(b));
  conn.on('stderr', (b: Buffer) => err.push(b));
  const exit = new Promise<ExitInfo>((resolve, reject) => {
    conn.on('exit', resolve);
    conn.on('close', () => reject(new Error('closed without EXIT')));
  });
  exit.catch(() => { /* observed by the tests that care */ });
  if (subscribe) conn.subscribe(true, true);
  return { conn, out: () => Buffer.concat(out), err: () => Buffer.concat(err), exit };
}

async function runMonitor(o: MonitorOptions): Promise<Running & { pid: number }> {
  await spawnMonitor(o);
  const r = await attach(o.socketPath);
  const { pid } = await r.conn.start();
  return { ...r, pid };
}

async function waitFor(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const exists = (p: string) => fs.existsSync(p);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ppidOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

const LINE = /^\{"log":"((?:[^"\\]|\\.)*)","stream":"(stdout|stderr)","time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{0,8}[1-9])?Z)"\}$/;

function logEntries(file: string): { raw: string; log: string; stream: string; time: string }[] {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'log ends with a newline');
  return text.split('\n').filter((l) => l !== '').map((raw) => {
    const m = LINE.exec(raw);
    assert.ok(m, `log line in Docker's shape: ${raw.slice(0, 200)}`);
    const v = JSON.parse(raw) as { log: string; stream: string; time: string };
    return { raw, ...v };
  });
}

test('frame encoder and streaming decoder', () => {
  const a = encodeFrame(FrameType.Stdout, 'hello');
  assert.deepEqual([...a.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 5]);
  const b = encodeFrame(FrameType.CloseStdin);
  const all = Buffer.concat([a, b, encodeFrame(FrameType.Stderr, Buffer.alloc(70000, 7))]);
  const d = new FrameDecoder();
  const frames = [];
  for (let i = 0; i < all.length; i += 3) frames.push(...d.push(all.subarray(i, i + 3)));
  assert.equal(frames.length, 3);
  assert.equal(frames[0]!.payload.toString(), 'hello');
  assert.equal(frames[1]!.type, FrameType.CloseStdin);
  assert.equal(frames[1]!.payload.length, 0);
  assert.equal(frames[2]!.payload.length, 70000);
  assert.equal(d.pending, 0);
});

test('output reaches the json-file log exactly and a subscribed client', { timeout: 30_000 }, async () => {
  const id = newId();
  const script = `echo hello; echo oops >&2; printf '<a&b>\\t"q" \\\\ \\001\\r\\n'; printf '\\377 \\342\\200\\250\\n'; ` +
    `printf '%20000s\\n' | tr ' ' a; printf tail`;
  const o = options(id, { bundle: makeBundle(id, ['sh', '-c', script]), logFile: path.join(root, id, 'json.log') });
  const t0 = Date.now();
  const r = await runMonitor(o);
  assert.ok(r.pid > 0);
  const exit = await r.exit;
  assert.equal(exit.exitCode, 0);
  assert.equal(exit.signal, 0);

  const stdout = Buffer.concat([Buffer.from('hello\n<a&b>\t"q" \\ \x01\r\n'), Buffer.from([0xff]),
    Buffer.from(' \u2028\n' + 'a'.repeat(20000) + '\ntail')]);
  assert.ok(r.out().equals(stdout), 'the client got the bytes as written');
  assert.equal(r.err().toString(), 'oops\n');

  const entries = logEntries(o.logFile!);
  const out = entries.filter((e) => e.stream === 'stdout');
  const err = entries.filter((e) => e.stream === 'stderr');
  assert.deepEqual(err.map((e) => e.log), ['oops\n']);
  assert.deepEqual(out.map((e) => e.log), [
    'hello\n', '<a&b>\t"q" \\ \x01\r\n', '\ufffd \u2028\n', 'a'.repeat(16384), 'a'.repeat(20000 - 16384) + '\n', 'tail',
  ]);
  // byte-exact escaping, as Go's encoding/json and Docker's json-file writer do it
  assert.ok(out[0]!.raw.startsWith('{"log":"hello\\n","stream":"stdout","time":"'));
  assert.ok(out[1]!.raw.startsWith('{"log":"\\u003ca\\u0026b\\u003e\\t\\"q\\" \\\\ \\u0001\\r\\n","stream":"stdout"'), out[1]!.raw);
  assert.ok(out[2]!.raw.startsWith('{"log":"\\ufffd \\u2028\\n","stream"'), out[2]!.raw);
  for (const e of entries) {
    const t = Date.parse(e.time);
    assert.ok(t >= t0 - 1000 && t <= Date.now() + 1000, `time ${e.time}`);
  }
  assert.deepEqual(readExitFile(o.exitFile), exit);
  await waitFor('socket removal', () => !exists(o.socketPath));
});

test('exit codes: 0, 3, and killed by SIGKILL is 137', { timeout: 30_000 }, async () => {
  const cases: [string[], number][] = [[['true'], 0], [['sh', '-c', 'exit 3'], 3]];
  for (const [args, code] of cases) {
    const id = newId();
    const o = options(id, { bundle: makeBundle(id, args) });
    const r = await runMonitor(o);
    const exit = await r.exit;
    assert.equal(exit.exitCode, code);
    assert.equal(exit.signal, 0);
    assert.match(exit.finishedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.deepEqual(readExitFile(o.exitFile), exit);
  }
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['sleep', '100']) });
  const r = await runMonitor(o);
  assert.deepEqual(await r.conn.status(), { pid: r.pid, running: true });
  assert.equal(readExitFile(o.exitFile), null);
  execFileSync(RUNC, ['--root', runcRoot, 'kill', id, 'KILL']);
  const exit = await r.exit;
  assert.equal(exit.exitCode, 137);
  assert.equal(exit.signal, 9);
  assert.deepEqual(readExitFile(o.exitFile), exit);
});

test('stdin round trip through cat; CLOSE_STDIN gives EOF', { timeout: 30_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['cat']), stdin: true });
  const r = await runMonitor(o);
  r.conn.writeStdin(Buffer.from('hello\n'));
  await waitFor('echo of the first line', () => r.out().toString() === 'hello\n');
  const big = Buffer.alloc(300_000, 'x');
  r.conn.writeStdin(big);
  r.conn.writeStdin(Buffer.from('world\n'));
  r.conn.closeStdin();
  const exit = await r.exit;
  assert.equal(exit.exitCode, 0);
  assert.equal(r.out().toString(), 'hello\n' + big.toString() + 'world\n');
});

test('stdin sent before START is delivered', { timeout: 30_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['cat']), stdin: true });
  await spawnMonitor(o);
  const r = await attach(o.socketPath);
  r.conn.writeStdin(Buffer.from('early\n'));
  r.conn.closeStdin();
  await r.conn.start();
  assert.equal((await r.exit).exitCode, 0);
  assert.equal(r.out().toString(), 'early\n');
});

test('TTY: the process has a pty, resize reaches it', { timeout: 30_000 }, async () => {
  const id = newId();
  const o = options(id, {
    bundle: makeBundle(id, ['sh', '-c', 'tty; read x; stty size; echo err >&2'], true), tty: true, stdin: true,
    logFile: path.join(root, id, 'json.log'),
  });
  await spawnMonitor(o);
  const r = await attach(o.socketPath);
  r.conn.resize(40, 132);   // before the pty exists: applied once runc hands it over
  await r.conn.start();
  await waitFor('tty output', () => r.out().toString().includes('\n'));
  assert.match(r.out().toString(), /^\/dev\/pts\/\d+\r\n/);
  r.conn.resize(33, 101);
  r.conn.writeStdin(Buffer.from('go\n'));
  const exit = await r.exit;
  assert.equal(exit.exitCode, 0);
  const text = r.out().toString();
  assert.match(text, /33 101\r\n/);
  assert.match(text, /err\r\n/);        // with a TTY everything is stdout
  assert.equal(r.err().length, 0);
  const entries = logEntries(o.logFile!);
  assert.ok(entries.every((e) => e.stream === 'stdout'));
  assert.ok(entries.some((e) => e.log === '33 101\r\n'));
});

test('runc failure: STARTED carries runc\'s error, no exit file, the monitor leaves', { timeout: 30_000 }, async () => {
  for (const withLog of [false, true]) {
    const id = newId();
    const o = options(id, {
      bundle: makeBundle(id, ['nonexistent-cmd']), logFile: path.join(root, id, 'json.log'),
      ...(withLog ? { runtimeLog: path.join(root, id, 'runc.log') } : {}),
    });
    await spawnMonitor(o);
    const r = await attach(o.socketPath);
    const e = await r.conn.start().then(() => null, (err: unknown) => err);
    assert.ok(e instanceof MonitorStartError, String(e));
    assert.match(e.runtimeMessage, /^runc run failed: .*"nonexistent-cmd": executable file not found in \$PATH$/);
    await waitFor('socket removal', () => !exists(o.socketPath));
    await waitFor('the monitor hanging up', () => r.conn.isClosed);
    assert.equal(exists(o.exitFile), false);
    assert.equal(fs.readFileSync(o.logFile!, 'utf8'), '', 'runc\'s error is not container output');
  }
});

test('TTY runc failure is reported too', { timeout: 30_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['nonexistent-cmd'], true), tty: true });
  await spawnMonitor(o);
  const r = await attach(o.socketPath);
  await assert.rejects(r.conn.start(), (e: MonitorStartError) => /executable file not found/.test(e.runtimeMessage));
  await waitFor('socket removal', () => !exists(o.socketPath) && !exists(o.socketPath + '.console'));
});

test('log rotation keeps max-files files under max-size', { timeout: 30_000 }, async () => {
  const id = newId();
  const logFile = path.join(root, id, 'json.log');
  const o = options(id, { bundle: makeBundle(id, ['seq', '1', '300']), logFile, logMaxSize: 1000, logMaxFiles: 3 });
  const r = await runMonitor(o);
  assert.equal((await r.exit).exitCode, 0);
  assert.ok(exists(logFile) && exists(logFile + '.1') && exists(logFile + '.2'));
  assert.equal(exists(logFile + '.3'), false);
  const files = [logFile + '.2', logFile + '.1', logFile];
  for (const f of files) assert.ok(fs.statSync(f).size <= 1000, `${f} is ${fs.statSync(f).size} bytes`);
  for (const f of files.slice(0, 2)) assert.ok(fs.statSync(f).size > 1000 - 80, `${f} was filled before rotating`);
  const nums = files.flatMap((f) => logEntries(f).map((e) => Number(e.log)));
  assert.equal(nums[nums.length - 1], 300);
  nums.forEach((n, i) => assert.equal(n, nums[0]! + i, 'consecutive lines across the rotated files'));
});

test('max-files 1 truncates and starts over', { timeout: 30_000 }, async () => {
  const id = newId();
  const logFile = path.join(root, id, 'json.log');
  const o = options(id, { bundle: makeBundle(id, ['seq', '1', '100']), logFile, logMaxSize: 500, logMaxFiles: 1 });
  const r = await runMonitor(o);
  assert.equal((await r.exit).exitCode, 0);
  assert.equal(exists(logFile + '.1'), false);
  assert.ok(fs.statSync(logFile).size <= 500);
  assert.equal(logEntries(logFile).at(-1)!.log, '100\n');
});

test('the container outlives its starter; a later client gets output and EXIT', { timeout: 30_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['sh', '-c', 'read x; echo got $x; exit 5']), stdin: true });
  const a = await runMonitor(o);
  // the monitor is nobody's child but a reaper's: not ours (we are barged here)
  const monitorPid = ppidOf(a.pid);
  assert.notEqual(monitorPid, process.pid);
  assert.notEqual(ppidOf(monitorPid), process.pid);
  a.conn.close();
  await waitFor('close', () => a.conn.isClosed);
  await sleep(200);
  process.kill(a.pid, 0);   // still running

  const b = await attach(o.socketPath);
  assert.deepEqual(await b.conn.status(), { pid: a.pid, running: true });
  const again = await b.conn.start();   // a second START: the existing pid
  assert.equal(again.pid, a.pid);
  const c = await attach(o.socketPath, false);   // never subscribes: gets no output, but EXIT
  b.conn.writeStdin(Buffer.from('hi\n'));
  const exit = await b.exit;
  assert.equal(exit.exitCode, 5);
  assert.equal(b.out().toString(), 'got hi\n');
  assert.deepEqual(await c.exit, exit);
  assert.equal(c.out().length, 0);
  assert.deepEqual(readExitFile(o.exitFile), exit);
});

test('a client that stops reading is dropped; the container is not held up', { timeout: 60_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['sh', '-c', 'head -c 20000000 /dev/zero; echo done']) });
  await spawnMonitor(o);
  // a raw client that subscribes and then never reads
  const stuck = net.createConnection({ path: o.socketPath });
  await new Promise((res) => stuck.once('connect', res));
  stuck.write(encodeFrame(FrameType.Subscribe, Buffer.from([3])));
  stuck.pause();
  const r = await attach(o.socketPath, false);
  await sleep(50);
  await r.conn.start();
  const exit = await r.exit;
  assert.equal(exit.exitCode, 0);
  // the stuck client's stream ends without an EXIT frame: it was disconnected
  const d = new FrameDecoder();
  let bytes = 0;
  let sawExit = false;
  stuck.on('data', (b: Buffer) => { for (const f of d.push(b)) { bytes += f.payload.length; sawExit ||= f.type === FrameType.Exit; } });
  stuck.resume();
  await new Promise((res) => stuck.once('close', res));
  assert.equal(sawExit, false);
  assert.ok(bytes < 20_000_000, `got ${bytes} bytes`);
});

test('no START within --start-timeout: the monitor leaves, nothing started', { timeout: 30_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['true']), startTimeout: 1 });
  await spawnMonitor(o);
  assert.ok(exists(o.socketPath));
  await waitFor('socket removal', () => !exists(o.socketPath), 5000);
  assert.equal(exists(o.exitFile), false);
  assert.equal(exists(o.pidFile), false);
});

test('spawnMonitor reports errors before the fork', { timeout: 10_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['true']), runtime: '/nonexistent/runc' });
  await assert.rejects(spawnMonitor(o), /runtime \/nonexistent\/runc: No such file or directory/);
  const long = options(id, { bundle: makeBundle(id, ['true']), socketPath: '/tmp/' + 'x'.repeat(120) });
  await assert.rejects(spawnMonitor(long), /--socket: path longer than/);
});

test('exec mode: a process in a running container, with and without a TTY', { timeout: 30_000 }, async () => {
  const id = newId();
  const o = options(id, { bundle: makeBundle(id, ['sleep', '1000']) });
  const main = await runMonitor(o);

  const procFile = path.join(root, id, 'exec1.json');
  fs.writeFileSync(procFile, JSON.stringify(processSpec(['sh', '-c', 'echo from exec; echo err >&2; exit 7'], false)));
  const x = await runMonitor(options(id, { execProcessFile: procFile }, 'exec1'));
  assert.notEqual(x.pid, main.pid);
  const exit = await x.exit;
  assert.equal(exit.exitCode, 7);
  assert.equal(x.out().toString(), 'from exec\n');
  assert.equal(x.err().toString(), 'err\n');

  const ttyFile = path.join(root, id, 'exec2.json');
  fs.writeFileSync(ttyFile, JSON.stringify(processSpec(['tty'], true)));
  const y = await runMonitor(options(id, { execProcessFile: ttyFile, tty: true }, 'exec2'));
  assert.equal((await y.exit).exitCode, 0);
  assert.match(y.out().toString(), /^\/dev\/pts\/\d+\r\n$/);

  // a background child keeps the pipes open: the monitor stops draining after about a second
  const bgFile = path.join(root, id, 'exec4.json');
  fs.writeFileSync(bgFile, JSON.stringify(processSpec(['sh', '-c', 'sleep 100 & echo bg; exit 2'], false)));
  const t0 = Date.now();
  const z = await runMonitor(options(id, { execProcessFile: bgFile }, 'exec4'));
  assert.equal((await z.exit).exitCode, 2);
  assert.ok(Date.now() - t0 < 5000, `exec drain took ${Date.now() - t0} ms`);
  assert.equal(z.out().toString(), 'bg\n');

  // a failing exec: runc's message
  const badFile = path.join(root, id, 'exec3.json');
  fs.writeFileSync(badFile, JSON.stringify(processSpec(['nonexistent-cmd'], false)));
  const bo = options(id, { execProcessFile: badFile }, 'exec3');
  await spawnMonitor(bo);
  const b = await attach(bo.socketPath);
  await assert.rejects(b.conn.start(), (e: MonitorStartError) => /executable file not found/.test(e.runtimeMessage));

  assert.deepEqual(await main.conn.status(), { pid: main.pid, running: true });
  execFileSync(RUNC, ['--root', runcRoot, 'kill', id, 'KILL']);
  assert.equal((await main.exit).exitCode, 137);
});

test('memory of an idle monitor', { timeout: 30_000 }, async (t) => {
  const id = newId();
  const o = options(id, {
    bundle: makeBundle(id, ['sh', '-c', 'echo started; exec sleep 1000']), stdin: true,
    logFile: path.join(root, id, 'json.log'), logMaxSize: 10_000_000, logMaxFiles: 3,
  });
  delete o.debugLog;
  const r = await runMonitor(o);
  await waitFor('output', () => r.out().toString() === 'started\n');
  const monitorPid = ppidOf(r.pid);
  await sleep(300);
  const rollup = fs.readFileSync(`/proc/${monitorPid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN);
  const priv = kb('Private_Clean') + kb('Private_Dirty');
  const msg = `idle bargemon (pid ${monitorPid}): Rss ${kb('Rss')} kB, Pss ${kb('Pss')} kB, ` +
    `Private ${priv} kB (clean ${kb('Private_Clean')}, dirty ${kb('Private_Dirty')}), ` +
    `Anonymous ${kb('Anonymous')} kB`;
  t.diagnostic(msg);
  console.log(msg);
  execFileSync(RUNC, ['--root', runcRoot, 'kill', id, 'KILL']);
  assert.equal((await r.exit).exitCode, 137);
});
