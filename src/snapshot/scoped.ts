// Paths inside a container's root filesystem, resolved from the host as if chrooted into it.
//
// A container's files are hostile: any directory in a path may be a symlink ("/tmp/x" -> "/etc", or
// "../../.."), and a running container can swap a directory for a symlink between two of barge's system
// calls. So nothing here ever hands the kernel a multi-component path inside the rootfs. Every step is
// taken from a directory file descriptor already inside it, through the /proc/self/fd/<fd>/<name> magic
// link, with O_NOFOLLOW: a symlink met on the way is read and followed *by this code*, in scope (an
// absolute target restarts at the root, ".." stops at the root), the way the kernel's RESOLVE_IN_ROOT
// and moby's FollowSymlinkInScope do. What the caller gets is a descriptor of the parent directory and a
// single name in it, which it then creates, opens (O_NOFOLLOW), links or removes: the final component
// is only followed when asked to.
import * as fs from 'node:fs';
import { invalid, notFound } from '../lib/errors.js';

const MAX_LINKS = 40;
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
export const O_CLOEXEC = 0o2000000;

/** `/proc/self/fd/<fd>/<name>`, or the directory itself when `name` is empty. */
export function fdPath(dirFd: number, name = ''): string {
  return name === '' ? `/proc/self/fd/${dirFd}` : `/proc/self/fd/${dirFd}/${name}`;
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/** Opens a directory entry `name` of `dirFd` as a directory, never following a symlink. */
export function openDirAt(dirFd: number, name: string): number {
  return fs.openSync(fdPath(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/** The cleaned components of a path ("/a/./b/" -> ["a", "b"]); ".." is kept for the resolver. */
export function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * A resolved path: the open parent directory and the final name in it. `name` is "" when the path is the
 * root itself, and then `dirFd` is the root. `path` is the resolved path inside the root ("/etc/hosts").
 * The caller must `close()` it.
 */
export class Resolved {
  constructor(readonly dirFd: number, readonly name: string, readonly path: string) {}

  /** The magic-link path of the entry, usable with any *at-style call that does not follow it. */
  get proc(): string {
    return fdPath(this.dirFd, this.name);
  }

  /** lstat of the entry (stat of the directory for the root); undefined if it does not exist. */
  lstat(): fs.Stats | undefined {
    try {
      return this.name === '' ? fs.fstatSync(this.dirFd) : fs.lstatSync(this.proc);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  /** Opens the entry as a directory (O_NOFOLLOW); the caller closes the fd. */
  openDir(): number {
    return this.name === '' ? fs.openSync(fdPath(this.dirFd), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : openDirAt(this.dirFd, this.name);
  }

  close(): void {
    try { fs.closeSync(this.dirFd); } catch { /* already closed */ }
  }
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (default false: the link itself is named). */
  followLast?: boolean;
  /** Create missing directories on the way (0755, owned by root), as `mkdir -p` would in the chroot. */
  mkdirs?: boolean;
}

/**
 * Resolves `p` (a path inside the root, absolute or not) within the directory `root`, as if chrooted
 * there. Missing intermediate directories fail with ENOENT unless `mkdirs`; a missing final component
 * is fine (the caller may create it). Throws errno-style errors (ENOENT, ENOTDIR, ELOOP).
 */
export function resolveInRoot(root: string, p: string, opts: ResolveOptions = {}): Resolved {
  const rootFd = fs.openSync(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const stack: { fd: number; name: string }[] = [{ fd: rootFd, name: '' }];
  let pending = splitPath(p);
  let links = 0;
  const here = () => '/' + stack.slice(1).map((s) => s.name).join('/');
  const child = (name: string) => (stack.length > 1 ? `${here()}/${name}` : `/${name}`);
  try {
    for (;;) {
      // Drop "." and a trailing ".." run before deciding whether the next component is the last one.
      while (pending.length && pending[0] === '..') {
        pending.shift();
        if (stack.length > 1) fs.closeSync(stack.pop()!.fd);
      }
      if (pending.length === 0) {
        // The path is a directory we hold (the root or one reached through "..").
        if (stack.length === 1) return new Resolved(stack.pop()!.fd, '', '/');
        const top = stack.pop()!;
        fs.closeSync(top.fd);
        const where = child(top.name);
        return new Resolved(stack.pop()!.fd, top.name, where);
      }
      const name = pending.shift()!;
      const dir = stack[stack.length - 1]!.fd;
      const last = pending.every((c) => c === '..') && pending.length === 0;
      let st: fs.Stats | undefined;
      try { st = fs.lstatSync(fdPath(dir, name)); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (st === undefined) {
        if (last) {
          const where = child(name);
          return new Resolved(stack.pop()!.fd, name, where);
        }
        if (!opts.mkdirs) throw errno('ENOENT', `${here()}/${name}: no such file or directory`);
        try { fs.mkdirSync(fdPath(dir, name), 0o755); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
        pending.unshift(name);
        continue;
      }
      if (st.isSymbolicLink() && (!last || opts.followLast)) {
        if (++links > MAX_LINKS) throw errno('ELOOP', `too many levels of symbolic links in ${p}`);
        const target = fs.readlinkSync(fdPath(dir, name));
        if (target.startsWith('/')) while (stack.length > 1) fs.closeSync(stack.pop()!.fd);
        pending = [...splitPath(target), ...pending];
        continue;
      }
      if (last) {
        const where = child(name);
        return new Resolved(stack.pop()!.fd, name, where);
      }
      if (!st.isDirectory()) throw errno('ENOTDIR', `${here()}/${name}: not a directory`);
      let fd: number;
      try {
        fd = openDirAt(dir, name);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Swapped for a symlink (or removed) since the lstat: look again.
        if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') { pending.unshift(name); if (++links > MAX_LINKS) throw e; continue; }
        throw e;
      }
      stack.push({ fd, name });
    }
  } finally {
    for (const s of stack) { try { fs.closeSync(s.fd); } catch { /* closed */ } }
  }
}

/** Maps errno-style errors of a path inside a container to barge's typed errors. */
export function pathError(e: unknown, p: string, container: string): Error {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFound(`Could not find the file ${p} in container ${container}`);
  if (code === 'ELOOP') return invalid(`${p}: too many levels of symbolic links`);
  return e as Error;
}

/** Removes `name` in `dirFd` and, for a directory, everything under it, without following symlinks. */
export function removeAt(dirFd: number, name: string): void {
  const p = fdPath(dirFd, name);
  let st: fs.Stats;
  try { st = fs.lstatSync(p); } catch { return; }
  if (!st.isDirectory()) { fs.unlinkSync(p); return; }
  const fd = openDirAt(dirFd, name);
  try {
    for (const child of fs.readdirSync(fdPath(fd))) removeAt(fd, child);
  } finally {
    fs.closeSync(fd);
  }
  fs.rmdirSync(p);
}
