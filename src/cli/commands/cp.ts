// barge cp: copy files between a container and the host, both ways, with docker cp's rules (moby's
// pkg/archive CopyInfo / PrepareArchiveCopy / CopyTo, as docker/cli uses them):
//   - SRC a file:      DEST missing -> created as DEST; DEST missing and ending in "/" -> "no such
//                      directory"; DEST a file -> overwritten; DEST a directory -> SRC's name inside it.
//   - SRC a directory: DEST missing -> created as DEST (SRC's contents under DEST's name); DEST a file ->
//                      "cannot copy directory"; DEST a directory -> SRC inside it, or with SRC ending in
//                      "/." its contents merged into it.
//   - "-" as DEST writes the container's tar to stdout; "-" as SRC extracts a tar from stdin into DEST,
//     which must be a directory.
// The archive's root entry is renamed on this side (RebaseArchiveEntries); a directory is never replaced
// by a file or the reverse (noOverwriteDirNonDir). Host files keep their owners in the tar (the daemon
// keeps them, unless -a asks it to use the container's user).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';
import { tarHeader, tarPadding, TAR_END, type TarEntryType } from '../../lib/tarwriter.js';

const FLAGS = [
  { name: 'archive', short: 'a', type: 'bool' as const, description: 'Archive mode (copy all uid/gid information)' },
  { name: 'follow-link', short: 'L', type: 'bool' as const, description: 'Always follow symbol link in SRC_PATH' },
  { name: 'quiet', short: 'q', type: 'bool' as const, description: 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached' },
];

// Go's os.FileMode type bits, as X-Docker-Container-Path-Stat carries them.
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
const MODE_DEVICE = 2 ** 26;
const MODE_IRREGULAR = 2 ** 19;
const hasBit = (mode: number, bit: number) => Math.floor(mode / bit) % 2 === 1;

/** A plain error printed as is (docker's client-side errors have no "Error response from daemon"). */
class CopyError extends Error {}

interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

/** docker's splitCpArg: an absolute path or "./x:y" is local; otherwise "container:path". */
function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/')) return { path: arg };
  const i = arg.indexOf(':');
  if (i < 0 || arg.startsWith('.')) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

const hasTrailingSeparator = (p: string) => p.length > 1 && p.endsWith('/');
const specifiesCurrentDir = (p: string) => p === '.' || p.endsWith('/.');
/** The path asserts a directory: it ends with "/" or "/.". */
const assertsDirectory = (p: string) => hasTrailingSeparator(p) || specifiesCurrentDir(p);

/** moby's SplitPathDirEntry: ("/a/b/", ) -> ["/a", "b"]; "/a/b/." -> ["/a/b", "."]. */
function splitPathDirEntry(p: string): [string, string] {
  let cleaned = path.posix.normalize(p);
  if (cleaned.length > 1) cleaned = cleaned.replace(/\/+$/, '');
  if (specifiesCurrentDir(p) && cleaned !== '.' && !cleaned.endsWith('/.')) cleaned = cleaned === '/' ? '/.' : cleaned + '/.';
  return [path.posix.dirname(cleaned), path.posix.basename(cleaned) || '/'];
}

/** docker's resolveLocalPath: absolute, keeping a trailing "/" or "/." (they mean something here). */
function resolveLocalPath(p: string): string {
  let abs = path.resolve(p);
  if (specifiesCurrentDir(p)) abs = abs === '/' ? '/.' : abs + '/.';
  else if (hasTrailingSeparator(p) && abs !== '/') abs += '/';
  return abs;
}

/** moby's GetRebaseName: the name to give back to an entry reached through a symlink. */
function getRebaseName(p: string, resolved: string): [string, string] {
  if (specifiesCurrentDir(p) && !specifiesCurrentDir(resolved)) resolved += '/.';
  if (hasTrailingSeparator(p) && !hasTrailingSeparator(resolved)) resolved += '/';
  const base = (s: string) => path.posix.basename(s.replace(/\/+$/, '')) || '/';
  return [resolved, base(p) !== base(resolved) ? base(p) : ''];
}

function errnoMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const text: Record<string, string> = { ENOENT: 'no such file or directory', ENOTDIR: 'not a directory', EACCES: 'permission denied', ELOOP: 'too many levels of symbolic links' };
  if (err?.code && err.syscall && err.path !== undefined && text[err.code]) return `${err.syscall} ${err.path}: ${text[err.code]}`;
  return err instanceof Error ? err.message : String(e);
}

export default async function cp(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tbarge cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH', description: 'Copy files/folders between a container and the local filesystem', flags: FLAGS }, argv, { exact: 2 });
  const src = splitCpArg(args[0]!);
  const dst = splitCpArg(args[1]!);
  try {
    if (src.container !== undefined && dst.container !== undefined) throw new CopyError('copying between containers is not supported');
    if (src.container === undefined && dst.container === undefined) throw new CopyError('must specify at least one container source');
    if (src.container === '' || dst.container === '') throw new CopyError('container name must not be empty');
    if (src.path === '') throw new CopyError('source can not be empty');
    if (dst.path === '') throw new CopyError('destination can not be empty');
    if (src.container !== undefined) await copyFrom(cli, src.container, src.path, dst.path, flags.bool('follow-link'));
    else await copyTo(cli, src.path, dst.container!, dst.path, { followLink: flags.bool('follow-link'), copyUIDGID: flags.bool('archive') });
    return 0;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    cli.err(errnoMessage(e) + '\n');
    return 1;
  }
}

// ---- container -> host ----

async function statPath(cli: Cli, container: string, p: string): Promise<PathStat | null> {
  try {
    const head = await cli.client.raw('HEAD', `/containers/${encodeURIComponent(container)}/archive`, { query: { path: p } });
    head.resume();
    return decodeStat(head.headers['x-docker-container-path-stat']);
  } catch (e) {
    if (e instanceof ApiError) return null;
    throw e;
  }
}

function decodeStat(h: string | string[] | undefined): PathStat {
  const raw = Buffer.from(String(h ?? ''), 'base64').toString('utf8');
  const st = (raw ? JSON.parse(raw) : {}) as Partial<PathStat>;
  return { name: st.name ?? '', size: st.size ?? 0, mode: st.mode ?? 0, mtime: st.mtime ?? '', linkTarget: st.linkTarget ?? '' };
}

/** command.ValidateOutputPath: the destination's parent must exist; an existing one must be a file or directory. */
function validateOutputPath(p: string): void {
  const dir = path.dirname(path.normalize(p));
  if (dir !== '' && dir !== '.' && !fs.existsSync(dir)) throw new CopyError(`invalid output path: directory ${JSON.stringify(dir)} does not exist`);
  let st: fs.Stats | undefined;
  try { st = fs.statSync(p, { throwIfNoEntry: false }); } catch { st = undefined; }
  if (st && !st.isDirectory() && !st.isFile()) throw new CopyError(`invalid output path: ${JSON.stringify(p)} must be a directory or a regular file`);
}

interface DestInfo { path: string; exists: boolean; isDir: boolean }

/** moby's CopyInfoDestinationPath: a symlink is followed (even dangling); a missing path needs its parent. */
function hostDestination(p: string): DestInfo {
  let cur = p;
  let st = fs.lstatSync(cur, { throwIfNoEntry: false });
  for (let n = 0; st?.isSymbolicLink(); n++) {
    if (n > 10) throw new CopyError(`too many symlinks in ${p}`);
    let target = fs.readlinkSync(cur);
    if (!target.startsWith('/')) target = path.join(splitPathDirEntry(cur)[0], target);
    cur = target;
    st = fs.lstatSync(cur, { throwIfNoEntry: false });
  }
  if (st) return { path: cur, exists: true, isDir: st.isDirectory() };
  const parent = splitPathDirEntry(cur)[0];
  const pst = fs.statSync(parent);   // throws "stat /x: no such file or directory"
  if (!pst.isDirectory()) throw new CopyError('not a directory');
  return { path: cur, exists: false, isDir: false };
}

interface CopyPlan { dir: string; rebase: { from: string; to: string } | null }

/**
 * moby's PrepareArchiveCopy: where to extract an archive whose root entry is `srcBase` (renamed
 * `rebaseName` if set), and what to rename that root entry to.
 */
function prepareCopy(src: { base: string; isDir: boolean; rebaseName: string }, dst: DestInfo): CopyPlan {
  const [dstDir, dstBase] = splitPathDirEntry(dst.path);
  const from = src.base;
  const keep = src.rebaseName ? { from, to: src.rebaseName } : null;
  if (dst.exists && dst.isDir) return { dir: dst.path.replace(/\/\.$/, '') || '/', rebase: keep };
  if (dst.exists && src.isDir) throw new CopyError('cannot copy directory');
  if (dst.exists || src.isDir) return { dir: path.posix.normalize(dstDir), rebase: { from, to: dstBase } };
  if (assertsDirectory(dst.path)) throw new CopyError('no such directory');
  return { dir: path.posix.normalize(dstDir), rebase: { from, to: dstBase } };
}

async function copyFrom(cli: Cli, container: string, srcArg: string, destArg: string, followLink: boolean): Promise<void> {
  const dest = destArg === '-' ? '-' : resolveLocalPath(destArg);
  if (dest !== '-') validateOutputPath(dest);
  let srcPath = srcArg;
  let rebaseName = '';
  if (followLink) {
    const st = await statPath(cli, container, srcPath);
    if (st && hasBit(st.mode, MODE_SYMLINK) && st.linkTarget) {
      let target = st.linkTarget;
      if (!target.startsWith('/')) target = path.posix.join(splitPathDirEntry(srcPath)[0], target);
      [srcPath, rebaseName] = getRebaseName(srcPath, target);
    }
  }
  const res = await cli.client.raw('GET', `/containers/${encodeURIComponent(container)}/archive`, { query: { path: srcPath } });
  if (dest === '-') { await pipeline(res, process.stdout); return; }
  const stat = decodeStat(res.headers['x-docker-container-path-stat']);
  let plan: CopyPlan;
  try {
    const base = splitPathDirEntry(srcPath)[1];
    plan = prepareCopy({ base: base === '/' ? '.' : base, isDir: hasBit(stat.mode, MODE_DIR), rebaseName }, hostDestination(dest));
  } catch (e) { res.resume(); throw e; }
  await extractHere(res, plan);
}

/**
 * Extracts the container's tar into plan.dir on the host (moby's Untar with NoOverwriteDirNonDir and
 * NoLchown): the root entry renamed as planned; nothing written outside plan.dir or through a symlink;
 * modes and times as archived (directories' times set last).
 */
async function extractHere(stream: Readable, plan: CopyPlan): Promise<void> {
  const root = path.resolve(plan.dir);
  const rename = (name: string): string[] => {
    const parts = name.split('/').filter((p) => p !== '');
    if (plan.rebase && parts[0] === plan.rebase.from) parts[0] = plan.rebase.to;
    const out = parts.filter((p) => p !== '.');
    if (out.some((p) => p === '..')) throw new CopyError(`invalid archive entry outside the destination: ${JSON.stringify(name)}`);
    return out;
  };
  const dirTimes: Array<[string, Date]> = [];
  const ex = tar.extract();
  ex.on('entry', (h, body, next) => {
    const finish = (e?: unknown) => { if (e) { body.resume(); ex.destroy(e as Error); } else next(); };
    const drained = () => { body.on('end', () => finish()); body.resume(); };
    try {
      const parts = rename(h.name);
      const out = path.join(root, ...parts);
      let cur = root;
      for (const p of parts.slice(0, -1)) {
        cur = path.join(cur, p);
        const st = fs.lstatSync(cur, { throwIfNoEntry: false });
        if (!st) fs.mkdirSync(cur, { mode: 0o755 });
        else if (!st.isDirectory()) throw new CopyError(`refusing to write through ${cur}: not a directory`);
      }
      const mode = (h.mode ?? 0o644) & 0o7777;
      const mtime = h.mtime ?? new Date();
      const isDir = h.type === 'directory';
      const existing = fs.lstatSync(out, { throwIfNoEntry: false });
      if (existing) {
        if (existing.isDirectory() && !isDir) throw new CopyError(`cannot overwrite directory ${JSON.stringify(out)} with non-directory ${JSON.stringify(root)}`);
        if (!existing.isDirectory() && isDir) throw new CopyError(`cannot overwrite non-directory ${JSON.stringify(out)} with directory ${JSON.stringify(root)}`);
        if (!isDir) fs.rmSync(out, { force: true });
      }
      switch (h.type) {
        case 'directory':
          if (!existing) fs.mkdirSync(out, { mode });
          fs.chmodSync(out, mode);
          dirTimes.push([out, mtime]);
          drained();
          return;
        case 'symlink':
          fs.symlinkSync(h.linkname ?? '', out);
          try { fs.lutimesSync(out, mtime, mtime); } catch { /* best effort */ }
          drained();
          return;
        case 'link': {
          const target = path.join(root, ...rename(h.linkname ?? ''));
          fs.linkSync(target, out);
          drained();
          return;
        }
        case 'file': case 'contiguous-file': {
          const ws = fs.createWriteStream(out, { mode, flags: 'wx' });
          body.pipe(ws);
          ws.on('error', finish);
          ws.on('finish', () => {
            try { fs.chmodSync(out, mode); fs.utimesSync(out, mtime, mtime); } catch (e) { finish(e); return; }
            finish();
          });
          return;
        }
        default:
          drained();   // devices, FIFOs: not recreated on the host
      }
    } catch (e) { finish(e); }
  });
  await pipeline(stream, ex);
  for (const [d, t] of dirTimes.reverse()) { try { fs.utimesSync(d, t, t); } catch { /* best effort */ } }
}

// ---- host -> container ----

async function copyTo(cli: Cli, srcArg: string, container: string, dstPath: string, o: { followLink: boolean; copyUIDGID: boolean }): Promise<void> {
  // The destination as the container sees it; a failed stat means "does not exist" (the PUT will say
  // what is wrong, e.g. no such container).
  const dst: DestInfo = { path: dstPath, exists: false, isDir: false };
  let st = await statPath(cli, container, dstPath);
  if (st && hasBit(st.mode, MODE_SYMLINK)) {
    let target = st.linkTarget;
    if (!target.startsWith('/')) target = path.posix.join(splitPathDirEntry(dstPath)[0], target);
    dst.path = target;
    st = await statPath(cli, container, target);
  }
  if (st && (hasBit(st.mode, MODE_DEVICE) || hasBit(st.mode, MODE_IRREGULAR))) {
    throw new CopyError(`destination "${container}:${dstPath}" must be a directory or a regular file: ${hasBit(st.mode, MODE_DEVICE) ? 'got a device' : 'got an irregular file'}`);
  }
  if (st) { dst.exists = true; dst.isDir = hasBit(st.mode, MODE_DIR); }

  let body: Readable;
  let target: string;
  if (srcArg === '-') {
    if (!dst.isDir) throw new CopyError(`destination "${container}:${dstPath}" must be a directory`);
    body = process.stdin;
    target = dst.path;
  } else {
    const src = hostSource(resolveLocalPath(srcArg), o.followLink);
    const plan = prepareCopy({ base: src.base, isDir: src.isDir, rebaseName: src.rebaseName }, dst);
    const rootName = plan.rebase ? plan.rebase.to : src.base;
    body = Readable.from(packHostPath(src.path, rootName));
    target = plan.dir;
  }
  const res = await cli.client.raw('PUT', `/containers/${encodeURIComponent(container)}/archive`, {
    body, query: { path: target, noOverwriteDirNonDir: true, copyUIDGID: o.copyUIDGID }, headers: { 'Content-Type': 'application/x-tar' },
  });
  res.resume();
}

/** moby's CopyInfoSourcePath: the parent's symlinks resolved; the last one only with -L. */
function hostSource(p: string, followLink: boolean): { path: string; base: string; isDir: boolean; rebaseName: string } {
  let resolved: string;
  let rebaseName = '';
  if (followLink) {
    [resolved, rebaseName] = getRebaseName(p, fs.realpathSync(p.replace(/\/\.$/, '') || '/'));
  } else {
    const cut = p.lastIndexOf('/');
    const dir = p.slice(0, cut + 1) || '.';
    const base = p.slice(cut + 1);
    let rdir: string;
    try { rdir = fs.realpathSync(dir); } catch (e) { throw Object.assign(e as Error, { syscall: 'lstat' }); }
    resolved = (rdir === '/' ? '' : rdir) + '/' + base;
    if (hasTrailingSeparator(p)) {
      const b = (s: string) => path.posix.basename(s.replace(/\/+$/, ''));
      if (b(p) !== b(resolved)) rebaseName = b(p);
    }
  }
  const st = fs.lstatSync(resolved.replace(/\/$/, '') || '/');
  const [, base] = splitPathDirEntry(resolved);
  return { path: resolved, base: base === '/' ? '.' : base, isDir: st.isDirectory(), rebaseName };
}

/**
 * A tar of a host path (moby's TarResourceRebase): its root entry named `rootName`, everything under it
 * ("./x" under a root "."), with owners, modes and times as on the host; hard links kept as links.
 */
async function* packHostPath(src: string, rootName: string): AsyncGenerator<Buffer> {
  const start = specifiesCurrentDir(src) ? src.slice(0, -2) || '/' : src.replace(/(.)\/+$/, '$1');
  const seen = new Map<string, string>();
  async function* walk(p: string, name: string): AsyncGenerator<Buffer> {
    const st = fs.lstatSync(p);
    const common = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    let type: TarEntryType | null = null;
    if (st.isDirectory()) type = 'dir';
    else if (st.isSymbolicLink()) type = 'symlink';
    else if (st.isFile()) type = 'file';
    else if (st.isFIFO()) type = 'fifo';
    else if (st.isCharacterDevice()) type = 'char';
    else if (st.isBlockDevice()) type = 'block';
    if (type === null) return;   // sockets are not archived
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = seen.get(key);
      if (first !== undefined) { yield tarHeader({ ...common, type: 'hardlink', linkname: first }, 0); return; }
      seen.set(key, name);
    }
    if (type === 'dir') {
      yield tarHeader({ ...common, type }, 0);
      for (const child of fs.readdirSync(p).sort()) yield* walk(path.join(p, child), `${name}/${child}`);
    } else if (type === 'symlink') {
      yield tarHeader({ ...common, type, linkname: fs.readlinkSync(p) }, 0);
    } else if (type === 'file') {
      yield tarHeader({ ...common, type }, st.size);
      // Exactly st.size bytes, even if the file changes meanwhile (the header is already out).
      let sent = 0;
      const fd = fs.openSync(p, 'r');
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        while (sent < st.size) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, st.size - sent), null);
          if (n === 0) break;
          sent += n;
          yield Buffer.from(buf.subarray(0, n));
        }
      } finally { fs.closeSync(fd); }
      if (sent < st.size) yield Buffer.alloc(st.size - sent);
      yield tarPadding(st.size);
    } else {
      const rdev = st.rdev;
      yield tarHeader({ ...common, type, devmajor: Math.floor(rdev / 256) & 0xfff, devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) }, 0);
    }
  }
  yield* walk(start, rootName);
  yield TAR_END;
}
