// Reading the json-file log the monitor writes (src/container/logs.ts): following must not lose what
// the monitor writes while the reader starts. A line written exactly between the reader's first
// look at the file and its follow loop was skipped: a build step's whole output went missing in CI.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { readLogs } from '../../src/container/logs.js';

const line = (log: string) => JSON.stringify({ log, stream: 'stdout', time: new Date().toISOString() }) + '\n';

/** Runs `fn` with the path of a log file in a fresh temp directory, removed afterwards. */
async function withLogFile(fn: (file: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barge-logs-'));
  try { await fn(path.join(dir, 'container.log')); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

async function collect(logPath: string, stopped: () => boolean): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readLogs(logPath, { stdout: true, stderr: true, follow: true }, stopped)) out.push(e.log);
  return out;
}

/** Runs `fn` while the first fs.openSync of `file` first appends `text` to it (the monitor's write, racing). */
async function withWriteOnOpen<T>(file: string, text: string, fn: () => Promise<T>): Promise<T> {
  const cjsFs = createRequire(import.meta.url)('node:fs') as typeof fs;
  const real = cjsFs.openSync;
  let done = false;
  cjsFs.openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
    if (!done && String(p) === file) { done = true; fs.appendFileSync(file, text); }
    return (real as (...a: unknown[]) => number)(p, ...rest);
  }) as typeof fs.openSync;
  syncBuiltinESMExports();
  try {
    return await fn();
  } finally {
    cjsFs.openSync = real;
    syncBuiltinESMExports();
  }
}

test('follow: a line written while the reader starts is read, not skipped', () => withLogFile(async (file) => {
  fs.writeFileSync(file, line('before\n'));
  const got = await withWriteOnOpen(file, line('racing\n'), () => collect(file, () => true));
  assert.deepEqual(got, ['before\n', 'racing\n']);
}));

test('follow: a partly written last line is read whole once it is complete', () => withLogFile(async (file) => {
  const whole = line('split\n');
  fs.writeFileSync(file, line('first\n') + whole.slice(0, 10));
  let stopped = false;
  const reading = collect(file, () => stopped);
  await new Promise((r) => setTimeout(r, 50));
  fs.appendFileSync(file, whole.slice(10));
  stopped = true;
  assert.deepEqual(await reading, ['first\n', 'split\n']);
}));

test('follow: a log that appears only after the reader started is read from its start', () => withLogFile(async (file) => {
  let stopped = false;
  const reading = collect(file, () => stopped);
  await new Promise((r) => setTimeout(r, 50));
  fs.writeFileSync(file, line('late\n'));
  stopped = true;
  assert.deepEqual(await reading, ['late\n']);
}));
