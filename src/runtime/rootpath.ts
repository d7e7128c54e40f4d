// Reading files of a container's root filesystem from the host, safely. The rootfs is untrusted: any
// component of a path inside it may be a symlink, absolute or with "..", meant to lead the host to its own
// /etc/shadow. Paths are resolved here as if chrooted into the rootfs (the kernel's RESOLVE_IN_ROOT):
// absolute link targets restart at the rootfs, ".." stops at it, and every step is taken relative to a
// directory file descriptor already inside it, so swapping a directory for a link mid-walk cannot escape.
// The kernel never follows a link for us: every open uses O_NOFOLLOW on a single path component.
import * as fs from 'node:fs';

const MAX_LINKS = 40; // the kernel's MAXSYMLINKS

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const O_CLOEXEC = 0o2000000;

function fdPath(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/**
 * Open `file` (a path inside the container, absolute or relative to its root) within `rootfs`, resolving
 * symlinks as if chrooted. Returns an fd opened read-only and non-blocking (a FIFO cannot hang us), or
 * throws an errno-style error (ENOENT, ENOTDIR, ELOOP...). The caller closes the fd.
 */
export function openInRoot(rootfs: string, file: string): number {
  const root = fs.openSync(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  // stack[0] is the root; ".." never pops it.
  const stack: number[] = [root];
  let links = 0;
  let pending = file.split('/').filter((c) => c !== '' && c !== '.');
  try {
    while (pending.length) {
      const name = pending.shift()!;
      if (name === '..') {
        if (stack.length > 1) fs.closeSync(stack.pop()!);
        continue;
      }
      const dir = stack[stack.length - 1]!;
      const last = pending.length === 0;
      let fd: number;
      try {
        fd = fs.openSync(fdPath(dir, name), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // ELOOP: the component is a symlink (O_NOFOLLOW). ENOTDIR with O_DIRECTORY may also be a symlink.
        if (code !== 'ELOOP' && code !== 'ENOTDIR') throw e;
        let target: string;
        try { target = fs.readlinkSync(fdPath(dir, name)); } catch { throw e; }
        if (++links > MAX_LINKS) throw errno('ELOOP', `too many levels of symbolic links resolving ${file} in the container`);
        const parts = target.split('/').filter((c) => c !== '' && c !== '.');
        if (target.startsWith('/')) while (stack.length > 1) fs.closeSync(stack.pop()!);
        pending = [...parts, ...pending];
        continue;
      }
      if (last) {
        while (stack.length) fs.closeSync(stack.pop()!);
        return fd;
      }
      stack.push(fd);
    }
    // The path named the root itself (or resolved to it).
    const fd = fs.openSync(fdPath(stack[stack.length - 1]!, '.'), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    return fd;
  } finally {
    while (stack.length) fs.closeSync(stack.pop()!);
  }
}

/**
 * Read a regular file of the container's rootfs (see openInRoot), at most `maxBytes` of it. Returns
 * undefined if it does not exist; throws if it is not a regular file or is larger than maxBytes.
 */
export function readFileInRoot(rootfs: string, file: string, maxBytes = 16 * 1024 * 1024): Buffer | undefined {
  let fd: number;
  try {
    fd = openInRoot(rootfs, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw errno('EINVAL', `${file} in the container is not a regular file`);
    if (st.size > maxBytes) throw errno('EFBIG', `${file} in the container is too large (${st.size} bytes)`);
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const r = fs.readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
