// Tar archives of directory trees, streamed: `docker export` (a whole rootfs), `docker cp` out of a
// container (one path), and the diff layer of a container's writable layer (`docker commit`).
//
// The trees are hostile (see scoped.ts): the walk holds a descriptor for each directory it is in and
// reaches every entry through /proc/self/fd/<dir>/<name> without following it, so a container that swaps
// a directory for a symlink mid-walk makes barge archive the symlink, never what it points to. Files are
// opened O_NOFOLLOW and archived with the size fstat gives at open; a file that shrinks meanwhile is
// padded with zeros, one that grows is cut, so the archive is always well-formed.
import * as fs from 'node:fs';
import { O_CLOEXEC, fdPath, openDirAt } from './scoped.js';
import { TAR_END, tarHeader, tarPadding, type TarEntry } from '../lib/tarwriter.js';

const CHUNK = 1024 * 1024;
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

export interface WalkOptions {
  /**
   * Convert overlayfs's whiteouts to the OCI layer format (diff layers): a character device 0/0 becomes
   * an empty ".wh.<name>" file, and a directory in `opaque` gets a ".wh..wh..opq" entry.
   */
  whiteouts?: boolean;
  /** Archive names ("etc", "etc/passwd") of opaque directories (with `whiteouts`). */
  opaque?: Set<string>;
  /** Extended attributes to record, by archive name (security.capability of diff layers). */
  xattrs?: Map<string, Record<string, string>>;
  /** Told about entries that cannot be archived (sockets, unreadable files). */
  onWarning?: (message: string) => void;
  /** Counts entries written (to tell an empty diff). */
  counter?: { entries: number };
  /** No time later than this (unix seconds): SOURCE_DATE_EPOCH, for reproducible layers. */
  clampMtime?: number;
}

function entryFor(st: fs.Stats, name: string, clamp?: number): Omit<TarEntry, 'data' | 'type'> {
  const mtime = Math.floor(st.mtimeMs / 1000);
  return { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: clamp !== undefined ? Math.min(mtime, clamp) : mtime };
}

/** Linux's dev_t split into major and minor numbers (glibc's gnu_dev_major/minor). */
function devParts(rdev: number): { devmajor: number; devminor: number } {
  const lo = rdev % 2 ** 32;
  const hi = Math.floor(rdev / 2 ** 32);
  return { devmajor: ((lo >>> 8) & 0xfff) + (hi & ~0xfff), devminor: ((lo & 0xff) | ((lo >>> 12) & 0xfff00)) >>> 0 };
}

class Walker {
  private readonly links = new Map<string, string>();

  constructor(private readonly o: WalkOptions) {}

  /** One entry `name` of directory `dirFd`, archived as `as`; directories recursively. */
  async *entry(dirFd: number, name: string, as: string): AsyncGenerator<Buffer> {
    let st: fs.Stats;
    try { st = name === '' ? fs.fstatSync(dirFd) : fs.lstatSync(fdPath(dirFd, name)); } catch { return; } // vanished
    const base = entryFor(st, as, this.o.clampMtime);
    if (st.isDirectory()) {
      let fd: number;
      try { fd = name === '' ? fs.openSync(fdPath(dirFd), O_RDONLY | O_CLOEXEC) : openDirAt(dirFd, name); } catch { return; }
      try {
        if (as !== '') {
          yield this.count(tarHeader({ ...base, type: 'dir' }, 0));
          if (this.o.whiteouts && this.o.opaque?.has(as)) {
            yield this.count(tarHeader({ name: `${as}/.wh..wh..opq`, type: 'file', mode: 0, mtime: base.mtime }, 0));
          }
        }
        const children = fs.readdirSync(fdPath(fd)).sort();
        for (const child of children) yield* this.entry(fd, child, as === '' ? child : `${as}/${child}`);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try { target = fs.readlinkSync(fdPath(dirFd, name)); } catch { return; }
      yield this.count(tarHeader({ ...base, type: 'symlink', linkname: target }, 0));
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      if (this.o.whiteouts && st.isCharacterDevice() && st.rdev === 0) {
        const slash = as.lastIndexOf('/');
        const wh = slash < 0 ? `.wh.${as}` : `${as.slice(0, slash)}/.wh.${as.slice(slash + 1)}`;
        yield this.count(tarHeader({ name: wh, type: 'file', mode: 0, mtime: base.mtime }, 0));
        return;
      }
      yield this.count(tarHeader({ ...base, type: st.isCharacterDevice() ? 'char' : 'block', ...devParts(st.rdev) }, 0));
      return;
    }
    if (st.isFIFO()) {
      yield this.count(tarHeader({ ...base, type: 'fifo' }, 0));
      return;
    }
    if (!st.isFile()) {
      this.o.onWarning?.(`skipped ${as}: sockets cannot be archived`);
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (st.nlink > 1) {
      const first = this.links.get(key);
      if (first !== undefined) {
        yield this.count(tarHeader({ ...base, type: 'hardlink', linkname: first }, 0));
        return;
      }
    }
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(fdPath(dirFd, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    } catch (e) {
      this.o.onWarning?.(`skipped ${as}: ${(e as Error).message}`);
      return;
    }
    try {
      const fst = await fh.stat();
      if (!fst.isFile()) return; // swapped for something else since the lstat
      if (st.nlink > 1) this.links.set(key, as);
      const size = fst.size;
      yield this.count(tarHeader({ ...entryFor(fst, as, this.o.clampMtime), type: 'file', xattrs: this.o.xattrs?.get(as) }, size));
      let done = 0;
      while (done < size) {
        const want = Math.min(CHUNK, size - done);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, done);
        if (bytesRead === 0) { buf.fill(0); yield buf; done += want; continue; } // shrank: pad
        yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
        done += bytesRead;
      }
      yield tarPadding(size);
    } finally {
      await fh.close();
    }
  }

  private count(b: Buffer): Buffer {
    if (this.o.counter) this.o.counter.entries++;
    return b;
  }
}

/**
 * A tar of entry `name` in directory `dirFd` (the directory itself when `name` is ""), named `as` in the
 * archive; a directory is followed by its contents, as "<as>/...". With `as` = "" a directory's contents
 * are archived at the top level without an entry for the directory itself (`docker export`).
 * Closes nothing: the caller owns `dirFd`.
 */
export async function* packAt(dirFd: number, name: string, as: string, o: WalkOptions = {}): AsyncGenerator<Buffer> {
  yield* new Walker(o).entry(dirFd, name, as);
  yield TAR_END;
}

/** A tar of the contents of directory `dir` (a trusted path), at the top level. */
export async function* packDir(dir: string, o: WalkOptions = {}): AsyncGenerator<Buffer> {
  const fd = fs.openSync(dir, O_RDONLY | fs.constants.O_DIRECTORY | O_CLOEXEC);
  try {
    yield* packAt(fd, '', '', o);
  } finally {
    fs.closeSync(fd);
  }
}

/** Relative names of every directory and regular file under `dir` (for batched attribute reads). */
export function listTree(dir: string): { dirs: string[]; files: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  const walk = (fd: number, prefix: string) => {
    for (const name of fs.readdirSync(fdPath(fd)).sort()) {
      const rel = prefix === '' ? name : `${prefix}/${name}`;
      let st: fs.Stats;
      try { st = fs.lstatSync(fdPath(fd, name)); } catch { continue; }
      if (st.isDirectory()) {
        dirs.push(rel);
        let sub: number;
        try { sub = openDirAt(fd, name); } catch { continue; }
        try { walk(sub, rel); } finally { fs.closeSync(sub); }
      } else if (st.isFile()) {
        files.push(rel);
      }
    }
  };
  const fd = fs.openSync(dir, O_RDONLY | fs.constants.O_DIRECTORY | O_CLOEXEC);
  try { walk(fd, ''); } finally { fs.closeSync(fd); }
  return { dirs, files };
}
