// Debian base images made on this host with debootstrap (`barge image bootstrap debian:bookworm`).
//
// Model: a *bootstrap* runs `debootstrap --variant=<variant> <suite> <dir> <mirror>` into a private
// temporary directory under `<dataRoot>/bootstrap`, trims what a container image does not need
// (device nodes, apt lists, logs), and hands the directory to the image service, which packs it as one
// layer and records the image; the directory is then removed. The .debs debootstrap fetches are kept
// in `<dataRoot>/bootstrap/cache/<suite>` (`--cache-dir`), so a second bootstrap does not download.
//
// Crash safety: work directories are `<dataRoot>/bootstrap/tmp-*`; debootstrap mounts /proc and /sys
// inside them while it configures packages, so removal first unmounts whatever is below. `clean()`
// (at daemon start) removes every leftover work directory; a failed bootstrap removes its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { invalid, internal, BargeError } from '../lib/errors.js';
import { log } from '../lib/log.js';
import { mountsUnder } from '../snapshot/mount.js';

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
export const VARIANTS = ['minbase', 'buildd', 'standard'] as const;
export type Variant = typeof VARIANTS[number];

export interface BootstrapRequest {
  /** Debian suite or codename: "bookworm", "trixie", "bullseye", "stable"... */
  suite: string;
  /** Archive URL; default: the first Debian mirror of the host's apt sources. */
  mirror?: string;
  /** debootstrap --variant ("standard": debootstrap's default set of packages). Default minbase. */
  variant?: Variant;
}

/** Stops a bootstrap whose client went away. */
export interface Cancel { cancelled: boolean; onCancel?: () => void }

/**
 * The Debian mirror the host's apt uses (deb822 `.sources` or one-line `sources.list`), so that
 * bootstraps go where apt already goes; Debian's CDN otherwise.
 */
export function hostMirror(etc = '/etc/apt'): string {
  const files: string[] = [];
  try { files.push(...fs.readdirSync(path.join(etc, 'sources.list.d')).filter((f) => /\.(sources|list)$/.test(f)).sort().map((f) => path.join(etc, 'sources.list.d', f))); } catch { /* none */ }
  files.unshift(path.join(etc, 'sources.list'));
  for (const f of files) {
    let text: string;
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    const uris = f.endsWith('.sources')
      ? [...text.matchAll(/^URIs:\s*(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/))
      : [...text.matchAll(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)].map((m) => m[1]!);
    // The main archive, not the security one (it has no full suites).
    const u = uris.find((x) => /^https?:\/\//.test(x) && !/security/.test(x));
    if (u) return u.replace(/\/+$/, '');
  }
  return DEFAULT_MIRROR;
}

/** Checks a request and fills in the defaults. */
export function checkRequest(r: BootstrapRequest): Required<BootstrapRequest> {
  if (!/^[a-z][a-z0-9.-]{0,63}$/.test(r.suite ?? '')) throw invalid(`invalid suite ${JSON.stringify(r.suite)}: want a Debian suite such as bookworm, trixie or bullseye`);
  const mirror = (r.mirror || hostMirror()).replace(/\/+$/, '');
  let u: URL;
  try { u = new URL(mirror); } catch { throw invalid(`invalid mirror ${JSON.stringify(mirror)}: want an http:// or https:// URL of a Debian archive`); }
  if (!['http:', 'https:', 'file:'].includes(u.protocol) || /[\s'"\\]/.test(mirror)) {
    throw invalid(`invalid mirror ${JSON.stringify(mirror)}: want an http:// or https:// URL of a Debian archive`);
  }
  const variant = r.variant ?? 'minbase';
  if (!VARIANTS.includes(variant)) throw invalid(`invalid variant ${JSON.stringify(variant)}: want one of ${VARIANTS.join(', ')}`);
  return { suite: r.suite, mirror, variant };
}

/** The command line a request runs, also written into the image's history. */
export function commandLine(r: Required<BootstrapRequest>): string[] {
  return [...(r.variant === 'standard' ? [] : [`--variant=${r.variant}`]), r.suite, r.mirror];
}

export class Bootstrapper {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly root: string) {}

  /** Removes work directories a crash left behind (at daemon start, before any bootstrap). */
  clean(): void {
    let names: string[];
    try { names = fs.readdirSync(this.root); } catch { return; }
    for (const n of names) if (n.startsWith('tmp-')) this.remove(path.join(this.root, n));
  }

  /**
   * Runs debootstrap for `req` and calls `use(dir)` with the finished root filesystem; the directory is
   * removed afterwards, whatever happens. Bootstraps run one at a time (they share the .deb cache).
   * `onLine` hears debootstrap's output, line by line.
   */
  run<T>(req: Required<BootstrapRequest>, onLine: (line: string) => void, cancel: Cancel, use: (dir: string) => Promise<T>): Promise<T> {
    const next = this.queue.then(() => this.runOne(req, onLine, cancel, use));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runOne<T>(req: Required<BootstrapRequest>, onLine: (line: string) => void, cancel: Cancel, use: (dir: string) => Promise<T>): Promise<T> {
    if (cancel.cancelled) throw invalid('bootstrap cancelled');
    const bin = findDebootstrap();
    const cache = path.join(this.root, 'cache', req.suite);
    fs.mkdirSync(cache, { recursive: true, mode: 0o700 });
    const dir = path.join(this.root, `tmp-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    try {
      const args = [...commandLine(req).slice(0, -2), `--cache-dir=${cache}`, req.suite, dir, req.mirror];
      onLine(`debootstrap ${args.join(' ')}`);
      await runDebootstrap(bin, args, dir, onLine, cancel);
      trim(dir);
      return await use(dir);
    } finally {
      this.remove(dir);
    }
  }

  /** Unmounts whatever debootstrap left mounted under `dir` (proc, sys), then deletes it. */
  private remove(dir: string): void {
    for (const m of mountsUnder(dir)) {
      try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch (e) { log.warn('cannot unmount in a bootstrap directory', { m, err: (e as Error).message }); }
    }
    if (mountsUnder(dir).length > 0) { log.warn('bootstrap directory still has mounts: kept', { dir }); return; }
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch (e) { log.warn('bootstrap directory not removed', { dir, err: (e as Error).message }); }
  }
}

function findDebootstrap(): string {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = path.join(d, 'debootstrap');
    if (fs.existsSync(p)) return p;
  }
  throw invalid('debootstrap is not installed on the daemon\'s host: install Debian\'s debootstrap package (apt-get install debootstrap)');
}

/** Runs debootstrap, passing its output on; a failure carries the lines that say why. */
function runDebootstrap(bin: string, args: string[], dir: string, onLine: (line: string) => void, cancel: Cancel): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' } });
    const tail: string[] = [];
    const lines = (buf: { rest: string }) => (chunk: Buffer) => {
      const parts = (buf.rest + chunk.toString('utf8')).split('\n');
      buf.rest = parts.pop()!;
      for (const l of parts) {
        if (!l.trim()) continue;
        tail.push(l);
        if (tail.length > 20) tail.shift();
        onLine(l);
      }
    };
    child.stdout.on('data', lines({ rest: '' }));
    child.stderr.on('data', lines({ rest: '' }));
    cancel.onCancel = () => { child.kill('SIGTERM'); };
    child.on('error', (e) => reject(internal(`cannot run debootstrap: ${e.message}`)));
    child.on('close', (code, signal) => {
      cancel.onCancel = undefined;
      if (code === 0) { resolve(); return; }
      if (cancel.cancelled) { reject(invalid('bootstrap cancelled')); return; }
      const errors = tail.filter((l) => /^E:|^W: Failure/.test(l));
      let logTail = '';
      try { logTail = fs.readFileSync(path.join(dir, 'debootstrap', 'debootstrap.log'), 'utf8').trim().split('\n').slice(-3).join('; '); } catch { /* none */ }
      const why = (errors.length ? errors : tail.slice(-3)).join('; ') + (logTail && !errors.length ? ` (debootstrap.log: ${logTail})` : '');
      const hint = /Release|resolve|connect|404|Failed getting/i.test(why) ? ': check that the mirror is reachable and has this suite (--mirror)' : '';
      reject(new BargeError('internal', `debootstrap failed (${signal ?? `exit status ${code}`}): ${why || 'no output'}${hint}`));
    });
  });
}

/**
 * Trims a fresh root filesystem into an image: no device nodes (the runtime makes /dev), no apt
 * lists or downloaded .debs (`apt-get update` fetches them), no logs or host-specific files.
 */
function trim(dir: string): void {
  const empty = (rel: string) => {
    const p = path.join(dir, rel);
    let names: string[];
    try { names = fs.readdirSync(p); } catch { return; }
    for (const n of names) fs.rmSync(path.join(p, n), { recursive: true, force: true });
  };
  empty('dev');
  empty('var/lib/apt/lists');
  empty('var/cache/apt/archives');
  fs.mkdirSync(path.join(dir, 'var/cache/apt/archives/partial'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'var/lib/apt/lists/partial'), { recursive: true });
  for (const f of ['var/cache/apt/pkgcache.bin', 'var/cache/apt/srcpkgcache.bin', 'etc/hostname', 'etc/resolv.conf']) {
    fs.rmSync(path.join(dir, f), { force: true });
  }
  for (const f of ['var/log/dpkg.log', 'var/log/alternatives.log', 'var/log/bootstrap.log']) fs.rmSync(path.join(dir, f), { force: true });
  empty('var/log/apt');
  fs.rmSync(path.join(dir, 'debootstrap'), { recursive: true, force: true });
}
