// The few filesystem calls Node.js lacks: mknod (overlay whiteouts are character devices 0/0, FIFOs) and
// extended attributes (the overlay "opaque" mark, file capabilities, user.* attributes).
//
// They are batched into one child process per layer or per diff, so a layer with thousands of
// whiteouts costs one fork. The child is Perl calling the system calls directly through `syscall`:
// perl-base is Essential in Debian (always installed), so this needs no extra package. Where Perl or
// the architecture's syscall numbers are unknown, the ops fall back to coreutils `mknod`/`mkfifo` and
// `setfattr`/`getfattr` from Debian's `attr` package, one process per op.
//
// Paths handed to these functions must already be resolved safely inside a directory only barge writes
// (see unpack.ts): the calls do not follow a final symlink (mknodat creates, lsetxattr/lgetxattr use
// the link itself), and every parent must be a real directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { internal } from '../lib/errors.js';

export type SysOp =
  | { op: 'whiteout'; path: string }                      // character device 0/0
  | { op: 'fifo'; path: string; mode: number }
  | { op: 'setxattr'; path: string; name: string; value: Buffer };

// Linux syscall numbers: x86_64 has its own table, arm64/riscv64/loongarch64 share the generic one.
const SYSCALLS: Record<string, { mknodat: number; lsetxattr: number; lgetxattr: number; syncfs: number }> = {
  x64: { mknodat: 259, lsetxattr: 189, lgetxattr: 192, syncfs: 306 },
  arm64: { mknodat: 33, lsetxattr: 6, lgetxattr: 9, syncfs: 267 },
  riscv64: { mknodat: 33, lsetxattr: 6, lgetxattr: 9, syncfs: 267 },
  loong64: { mknodat: 33, lsetxattr: 6, lgetxattr: 9, syncfs: 267 },
};

// Reads NUL-terminated fields from stdin: W path | F path octal-mode | X path name hex-value | G path name.
// For G it prints the attribute's value in hex, or "-" if absent, one line per query.
const PERL = String.raw`
use strict; use warnings;
my ($MKNODAT, $LSETXATTR, $LGETXATTR) = map { $_ + 0 } @ARGV;
local $/ = "\0";
my @f = <STDIN>; chomp @f;
my $i = 0; my $out = '';
while ($i < @f) {
  my $op = $f[$i++];
  if ($op eq 'W') {
    my $p = $f[$i++];
    syscall($MKNODAT, -100, $p, 0020000, 0) == 0 or die "mknod $p: $!\n";
  } elsif ($op eq 'F') {
    my $p = $f[$i++]; my $m = oct($f[$i++]);
    syscall($MKNODAT, -100, $p, 0010000 | $m, 0) == 0 or die "mkfifo $p: $!\n";
  } elsif ($op eq 'X') {
    my ($p, $n, $v) = @f[$i .. $i + 2]; $i += 3; $v = pack('H*', $v);
    syscall($LSETXATTR, $p, $n, $v, length($v), 0) == 0 or die "setxattr $n $p: $!\n";
  } elsif ($op eq 'G') {
    my ($p, $n) = @f[$i .. $i + 1]; $i += 2;
    my $buf = "\0" x 4096;
    my $r = syscall($LGETXATTR, $p, $n, $buf, 4096);
    $out .= ($r < 0 ? '-' : unpack('H*', substr($buf, 0, $r))) . "\n";
  } else { die "bad op $op\n"; }
}
print $out;
`;

let perlPath: string | null | undefined;
function perl(): string | null {
  if (perlPath === undefined) {
    perlPath = ['/usr/bin/perl', '/bin/perl'].find((p) => fs.existsSync(p)) ?? null;
  }
  return SYSCALLS[process.arch] && perlPath ? perlPath : null;
}

function runPerl(input: Buffer): Promise<string> {
  const nums = SYSCALLS[process.arch]!;
  return new Promise((resolve, reject) => {
    const child = spawn(perl()!, ['-e', PERL, String(nums.mknodat), String(nums.lsetxattr), String(nums.lgetxattr)],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(internal(`filesystem helper failed: ${Buffer.concat(err).toString().trim() || `exit ${code}`}`));
    });
    child.stdin.on('error', () => { /* reported through close */ });
    child.stdin.end(input);
  });
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(internal(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function field(s: string): Buffer {
  if (s.includes('\0')) throw internal('NUL byte in a path or attribute name');
  return Buffer.concat([Buffer.from(s), Buffer.from([0])]);
}

/** Performs the ops in order; rejects on the first failure. */
export async function applySysOps(ops: SysOp[]): Promise<void> {
  if (ops.length === 0) return;
  if (perl()) {
    const parts: Buffer[] = [];
    for (const o of ops) {
      if (o.op === 'whiteout') parts.push(field('W'), field(o.path));
      else if (o.op === 'fifo') parts.push(field('F'), field(o.path), field((o.mode & 0o7777).toString(8)));
      else parts.push(field('X'), field(o.path), field(o.name), field(o.value.toString('hex')));
    }
    await runPerl(Buffer.concat(parts));
    return;
  }
  for (const o of ops) {
    if (o.op === 'whiteout') await run('mknod', [o.path, 'c', '0', '0']);
    else if (o.op === 'fifo') await run('mkfifo', ['-m', (o.mode & 0o7777).toString(8), o.path]);
    else await run('setfattr', ['-h', '-n', o.name, '-v', '0x' + o.value.toString('hex'), o.path]);
  }
}

/** Reads one extended attribute of each path (not following symlinks); null where absent. */
export async function getXattrs(paths: string[], name: string): Promise<(Buffer | null)[]> {
  if (paths.length === 0) return [];
  if (perl()) {
    const parts: Buffer[] = [];
    for (const p of paths) parts.push(field('G'), field(p), field(name));
    const lines = (await runPerl(Buffer.concat(parts))).split('\n');
    return paths.map((_, i) => (lines[i] === '-' || lines[i] === undefined ? null : Buffer.from(lines[i]!, 'hex')));
  }
  const out: (Buffer | null)[] = [];
  for (const p of paths) {
    try {
      const text = await run('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', name, p]);
      const m = /=0x([0-9a-f]*)/.exec(text);
      out.push(m ? Buffer.from(m[1]!, 'hex') : null);
    } catch {
      out.push(null);
    }
  }
  return out;
}

/** The overlay mark of a directory whose lower-layer contents are hidden. */
export const OPAQUE_XATTR = 'trusted.overlay.opaque';

// ---- syncfs ----
//
// Flushing a filesystem (syncfs) happens every 128 MiB a pull writes, and again before an image is
// recorded. Node has no syncfs, and starting coreutils' `sync -f` forks barged: its page tables are
// copied, and every page barged writes afterwards takes a copy-on-write fault (measured: ~0.2 s of
// CPU over a 1 GiB pull). So one small Perl process, started once, makes the calls: it reads
// NUL-terminated directory paths and answers each with a line, 0 or the errno.
const SYNCER = String.raw`
use strict; use warnings;
my $SYNCFS = $ARGV[0] + 0;
$| = 1;
local $/ = "\0";
while (my $dir = <STDIN>) {
  chomp $dir;
  my $r = 0;
  if (open(my $fh, '<', $dir)) { $r = syscall($SYNCFS, fileno($fh)) == 0 ? 0 : $! + 0; close($fh); } else { $r = $! + 0; }
  print "$r\n";
}
`;

interface SyncRequest { dir: string; done: Promise<string | undefined>; resolve: (err: string | undefined) => void }
let syncer: ChildProcess | undefined;
let syncQueue: SyncRequest[] = [];      // [0] is in flight when syncer is running
let syncOut = '';

function startSyncer(): ChildProcess | undefined {
  const p = perl();
  if (!p) return undefined;
  const child = spawn(p, ['-e', SYNCER, String(SYSCALLS[process.arch]!.syncfs)], { stdio: ['pipe', 'pipe', 'ignore'] });
  // Idle, it does not keep barged's process alive (holdSyncer); it exits when barged closes its stdin.
  (child.stdin as unknown as { unref(): void }).unref();
  child.stdin!.on('error', () => undefined);
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    syncOut += d;
    for (let nl = syncOut.indexOf('\n'); nl >= 0; nl = syncOut.indexOf('\n')) {
      const code = Number(syncOut.slice(0, nl));
      syncOut = syncOut.slice(nl + 1);
      const r = syncQueue.shift();
      r?.resolve(code === 0 ? undefined : `syncfs: errno ${code}`);
      if (syncQueue.length) child.stdin!.write(syncQueue[0]!.dir + '\0');
    }
    holdSyncer(child, syncQueue.length > 0);
  });
  child.on('error', () => undefined);
  child.on('exit', () => {
    if (syncer !== child) return;
    syncer = undefined;
    syncOut = '';
    // What was asked of it is done the slow way.
    const q = syncQueue;
    syncQueue = [];
    for (const r of q) void syncWithCoreutils(r.dir).then(r.resolve);
  });
  holdSyncer(child, false);
  return child;
}

/** The syncer keeps the process alive only while it has work. */
function holdSyncer(child: ChildProcess, busy: boolean): void {
  const out = child.stdout as unknown as { ref(): void; unref(): void };
  if (busy) { child.ref(); out.ref(); } else { child.unref(); out.unref(); }
}

function syncWithCoreutils(dir: string): Promise<string | undefined> {
  return new Promise((resolve) => execFile('sync', ['-f', dir], (err) => resolve(err ? err.message : undefined)));
}

/**
 * Flushes the filesystem holding `dir` to disk. Never fails: a failure is told to `warn` and the
 * caller goes on (the flush is for durability across a power cut, not for correctness now).
 * Requests wait in line; one for a directory already waiting shares that one's flush.
 */
export async function syncFilesystem(dir: string, warn: (message: string, err: string) => void): Promise<void> {
  if (dir.includes('\0')) throw internal('NUL byte in a path');
  syncer ??= startSyncer();
  let err: string | undefined;
  if (!syncer) err = await syncWithCoreutils(dir);
  else {
    const waiting = syncQueue.find((r, i) => i > 0 && r.dir === dir);
    if (waiting) err = await waiting.done;
    else {
      let resolve!: (e: string | undefined) => void;
      const done = new Promise<string | undefined>((r) => { resolve = r; });
      syncQueue.push({ dir, done, resolve });
      if (syncQueue.length === 1) { holdSyncer(syncer, true); syncer.stdin!.write(dir + '\0'); }
      err = await done;
    }
  }
  if (err) warn('sync -f failed', err);
}
