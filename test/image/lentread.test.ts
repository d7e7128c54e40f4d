// Files read ahead into reused blocks lent to the reader (lib/lentread.ts): the exact bytes of any
// range; big files read around the page cache, buffered where the filesystem refuses O_DIRECT; no
// more than the blocks in flight while the reader holds them; a file that ends early is an error;
// and writeLent hands them to a real socket, giving every block back, also when the peer hangs up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ReadBlocks, kept, lendFile, writeLent, type Lent } from '../../src/lib/lentread.js';
import { DIRECT_MIN } from '../../src/lib/directio.js';

const big = randomBytes(DIRECT_MIN + 3 * (1 << 20) + 12_345);   // not a multiple of the blocks or of 4 KiB

function cached(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
}

/** `data` written to `file` around the page cache (dd), so that a buffered read would bring it in. */
function writeUncached(file: string, data: Buffer): void {
  fs.writeFileSync(file + '.src', data);
  execFileSync('dd', [`if=${file}.src`, `of=${file}`, 'bs=1M', 'oflag=direct', 'status=none']);
  fs.rmSync(file + '.src');
}

async function readAll(src: AsyncIterable<Lent>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) { parts.push(Buffer.from(c.bytes)); c.release?.(); }
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const short = () => new Error('ended early');

/**
 * Runs `fn` with `big` in a fresh file, open as `fd`: written around the page cache (so that a
 * buffered read would bring it in) unless `cachedWrite`; in a directory of `root` (the disk's
 * temporary directory by default).
 */
async function withBig(o: { cachedWrite?: boolean; root?: string }, fn: (fd: number, file: string, dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(o.root ?? os.tmpdir(), 'barge-lentread-'));
  const file = path.join(dir, 'big.bin');
  try {
    if (o.cachedWrite) fs.writeFileSync(file, big); else writeUncached(file, big);
    const fd = fs.openSync(file, 'r');
    try { await fn(fd, file, dir); } finally { fs.closeSync(fd); }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a big file is read whole and around the page cache; ranges from any offset are exact', () => withBig({}, async (fd, f) => {
  assert.equal(cached(f), 0);
  const blocks = new ReadBlocks();
  const got = await readAll(lendFile(blocks, fd, 0, big.length, short));
  assert.equal(sha(got), sha(big));
  assert.equal(cached(f), 0, 'read directly: no page-cache pages');
  assert.ok(blocks.idle(), 'every block back');
  // An unaligned start (buffered), a range ending mid-block, and an empty range.
  for (const [s, n] of [[4097, DIRECT_MIN + 1], [(2 << 20) - 3, (2 << 20) + 9], [big.length - 7, 7], [100, 0]] as const) {
    const part = await readAll(lendFile(blocks, fd, s, n, short));
    assert.ok(part.equals(big.subarray(s, s + n)), `bytes ${s}+${n}`);
  }
  assert.ok(blocks.idle());
  // A small range: one chunk of its own, not lent.
  const smallChunks: Lent[] = [];
  for await (const c of lendFile(blocks, fd, 5, 1000, short)) smallChunks.push(c);
  assert.equal(smallChunks.length, 1);
  assert.equal(smallChunks[0]!.release, undefined);
  assert.ok(smallChunks[0]!.bytes.equals(big.subarray(5, 1005)));
}));

test('a big file after a smaller one still lent waits for its blocks and is read directly; smaller blocks read the same bytes', () => withBig({}, async (fd, f, dir) => {
  const mid = path.join(dir, 'mid.bin');
  fs.writeFileSync(mid, big.subarray(0, 1 << 20));
  const blocks = new ReadBlocks();
  const fdMid = fs.openSync(mid, 'r');
  try {
    const it = lendFile(blocks, fdMid, 0, 1 << 20, short);
    const held = (await it.next()).value as Lent;
    assert.equal((await it.next()).done, true);
    const reading = readAll(lendFile(blocks, fd, 0, big.length, short));
    setTimeout(() => held.release!(), 50);   // the socket takes the last block of the smaller file
    assert.equal(sha(await reading), sha(big));
    assert.equal(cached(f), 0, 'read directly');
    const small = new ReadBlocks(2, 1 << 20);
    assert.equal(sha(await readAll(lendFile(small, fd, 0, big.length, short))), sha(big));
    assert.ok(small.idle() && blocks.idle());
  } finally {
    fs.closeSync(fdMid);
  }
}));

test('on tmpfs (no O_DIRECT) big files are read buffered, the same bytes', () => withBig({ cachedWrite: true, root: '/dev/shm' }, async (fd) => {
  assert.equal(sha(await readAll(lendFile(new ReadBlocks(), fd, 0, big.length, short))), sha(big));
}));

test('a reader holding every block stops the reads until it gives one back; kept() copies', () => withBig({ cachedWrite: true }, async (fd) => {
  const it = lendFile(new ReadBlocks(), fd, 0, big.length, short);
  const held: Lent[] = [];
  for (let i = 0; i < 4; i++) held.push((await it.next()).value as Lent);
  const next = it.next();
  const first = await Promise.race([next.then(() => 'read'), new Promise((r) => setTimeout(r, 100, 'waiting'))]);
  assert.equal(first, 'waiting', 'no fifth block while four are lent');
  const firstBytes = Buffer.from(held[0]!.bytes);
  held[0]!.release!();
  held[0]!.release!();   // twice: no harm
  const fifth = (await next).value as Lent;
  assert.ok(fifth.bytes.equals(big.subarray(4 * (2 << 20), 5 * (2 << 20))));
  assert.ok(firstBytes.equals(big.subarray(0, 2 << 20)));
  await it.return(undefined);
  // kept(): Buffers the reader may keep, all blocks given back as it goes.
  const copies: Buffer[] = [];
  for await (const b of kept(lendFile(new ReadBlocks(), fd, 0, big.length, short))) copies.push(b);
  assert.equal(sha(Buffer.concat(copies)), sha(big));
}));

test('a file shorter than asked for is an error, and its blocks come back', () => withBig({}, async (fd) => {
  const blocks = new ReadBlocks();
  await assert.rejects(readAll(lendFile(blocks, fd, 0, big.length + 5000, short)), /ended early/);
  await assert.rejects(readAll(lendFile(blocks, fd, 4096, big.length, short)), /ended early/);
  assert.ok(blocks.idle());
}));

/** A server that hashes what it is sent; or, with `hangUpAfter`, resets the connection once that many bytes came. */
async function sink(hangUpAfter?: number): Promise<{ port: number; got: Promise<{ bytes: number; sha: string }>; close(): void }> {
  let done!: (v: { bytes: number; sha: string }) => void;
  const got = new Promise<{ bytes: number; sha: string }>((r) => { done = r; });
  const server = http.createServer((req, res) => {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      n += c.length;
      if (hangUpAfter !== undefined && n >= hangUpAfter) { req.socket.resetAndDestroy(); done({ bytes: n, sha: '' }); }
    });
    req.on('end', () => { done({ bytes: n, sha: h.digest('hex') }); res.end('ok'); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, got, close: () => { server.closeAllConnections(); server.close(); } };
}

test('writeLent sends lent blocks and gathered small chunks to a socket, in order', () => withBig({}, async (fd) => {
  const s = await sink();
  try {
    const blocks = new ReadBlocks();
    const small = Array.from({ length: 300 }, (_, i) => Buffer.from(`header ${i}\n`));
    async function* body(): AsyncGenerator<Lent> {
      for (const b of small) yield { bytes: b };
      yield* lendFile(blocks, fd, 0, big.length, short);
      yield { bytes: Buffer.from('end\n') };
    }
    const expected = Buffer.concat([...small, big, Buffer.from('end\n')]);
    const req = http.request({ host: '127.0.0.1', port: s.port, method: 'PUT', headers: { 'Content-Length': String(expected.length) } });
    const answered = new Promise<number>((resolve, reject) => { req.on('response', (r) => { r.resume(); resolve(r.statusCode!); }); req.on('error', reject); });
    await writeLent(req, body());
    assert.ok(blocks.idle(), 'every block back once writeLent returns');
    req.end();
    assert.equal(await answered, 200);
    assert.deepEqual(await s.got, { bytes: expected.length, sha: sha(expected) });
  } finally {
    s.close();
  }
}));

test('writeLent to a peer that hangs up mid-body fails, and gives every block back', () => withBig({ cachedWrite: true }, async (fd) => {
  const s = await sink(3 << 20);
  try {
    const blocks = new ReadBlocks();
    const req = http.request({ host: '127.0.0.1', port: s.port, method: 'PUT', headers: { 'Content-Length': String(big.length) } });
    req.on('error', () => undefined);
    await assert.rejects(writeLent(req, lendFile(blocks, fd, 0, big.length, short)), /closed before the body was sent/);
    assert.ok((await s.got).bytes < big.length);
    assert.ok(blocks.idle(), 'blocks lent to the dead socket came back');
  } finally {
    s.close();
  }
}));
