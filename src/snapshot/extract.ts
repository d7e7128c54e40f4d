// Extracting a tar into a directory of a container's root filesystem (`docker cp` into a container,
// PUT /containers/{id}/archive), as moby's chrooted Untar does, but without a chroot:
//  - the destination and every entry's parent are resolved inside the rootfs as if chrooted there
//    (scoped.ts): symlinks, the container's own included, are followed within the rootfs only;
//  - an entry whose name climbs above the destination ("../x") fails the extraction ("breakout"), and so
//    does a relative symlink or a hardlink that points above it (absolute symlinks are fine: the
//    container resolves them in its own root);
//  - an entry's own last component is never followed: whatever is in the way is removed (or refused with
//    noOverwriteDirNonDir), files are created O_EXCL|O_NOFOLLOW, and modes, owners and times are set on
//    descriptors, so a racing container cannot redirect a chmod or a write to another file.
// Entries are applied in order; an error stops the extraction where it is (as Docker's does).
import * as fs from 'node:fs';
import { invalid } from '../lib/errors.js';
import { O_CLOEXEC, fdPath, openDirAt, removeAt, resolveInRoot, splitPath } from './scoped.js';
import { forEachTarEntry, headerIds, type TarHeader } from './tarread.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

export interface ExtractOptions {
  /** Refuse to replace a directory by a non-directory or the reverse (Docker's default for cp). */
  noOverwriteDirNonDir?: boolean;
  /** Owner of everything extracted; default: the owners the archive records. */
  chown?: { uid: number; gid: number };
  /** Told about entries that were skipped (device nodes, FIFOs). */
  onWarning?: (message: string) => void;
}

/** Lexically cleans `comps` (with ".."), failing if it climbs above the start. */
function clean(comps: string[], what: string): string[] {
  const out: string[] = [];
  for (const c of comps) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw invalid(`invalid archive: ${what} points outside the extraction directory (breakout)`);
      out.pop();
    } else {
      if (c.includes('\0')) throw invalid('invalid archive: NUL byte in a name');
      out.push(c);
    }
  }
  return out;
}

/**
 * Extracts the tar (plain or gzip) in `source` into directory `dest` (a path inside the container) of
 * the root filesystem mounted at `root`. Throws `notFound` if `dest` does not exist, `invalid` if it is not
 * a directory or the archive is hostile or malformed.
 */
export async function extractInRoot(root: string, dest: string, source: AsyncIterable<Uint8Array>, o: ExtractOptions = {}): Promise<void> {
  const d = resolveInRoot(root, dest, { followLast: true });
  let destComps: string[];
  try {
    const st = d.lstat();
    if (!st) throw Object.assign(new Error(`${dest}: no such file or directory`), { code: 'ENOENT' });
    if (!st.isDirectory()) throw invalid('extraction point is not a directory');
    destComps = splitPath(d.path);
  } finally {
    d.close();
  }
  const dirTimes: { comps: string[]; mtime: number }[] = [];

  await forEachTarEntry(source, async (h: TarHeader, body) => {
    const rel = clean(splitPath(h.name ?? ''), JSON.stringify(h.name));
    if (rel.length === 0) return; // the destination itself
    const type = h.type ?? 'file';
    const mode = (h.mode ?? 0o644) & 0o7777;
    const ids = headerIds(h);
    const owner = o.chown ?? { uid: ids.uid, gid: ids.gid };
    const full = [...destComps, ...rel];
    const parent = resolveInRoot(root, full.slice(0, -1).join('/'), { followLast: true, mkdirs: true });
    let dirFd: number;
    try {
      if (!parent.lstat()) fs.mkdirSync(parent.proc, 0o755);
      dirFd = parent.openDir();
    } catch (e) {
      parent.close();
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR' || (e as NodeJS.ErrnoException).code === 'ELOOP') {
        throw invalid(`cannot extract ${h.name}: its parent is not a directory`);
      }
      throw e;
    }
    parent.close();
    try {
      const name = full[full.length - 1]!;
      const p = fdPath(dirFd, name);
      const shown = '/' + full.join('/');
      let existing: fs.Stats | undefined;
      try { existing = fs.lstatSync(p); } catch { existing = undefined; }
      if (existing) {
        const isDir = type === 'directory';
        if (o.noOverwriteDirNonDir && existing.isDirectory() && !isDir) throw invalid(`cannot overwrite directory "${shown}" with non-directory "${h.name}"`);
        if (o.noOverwriteDirNonDir && !existing.isDirectory() && isDir) throw invalid(`cannot overwrite non-directory "${shown}" with directory "${h.name}"`);
        if (!(existing.isDirectory() && isDir)) removeAt(dirFd, name);
      }
      switch (type) {
        case 'directory': {
          if (!existing?.isDirectory()) fs.mkdirSync(p, 0o700);
          const fd = openDirAt(dirFd, name);
          try { fs.fchownSync(fd, owner.uid, owner.gid); fs.fchmodSync(fd, mode); } finally { fs.closeSync(fd); }
          dirTimes.push({ comps: full, mtime: ids.mtime });
          break;
        }
        case 'file':
        case 'contiguous-file': {
          const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600);
          try {
            for await (const chunk of body) {
              let off = 0;
              while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
            }
            fs.fchownSync(fd, owner.uid, owner.gid);
            fs.fchmodSync(fd, mode);
            fs.futimesSync(fd, ids.mtime, ids.mtime);
          } finally {
            fs.closeSync(fd);
          }
          break;
        }
        case 'symlink': {
          const target = h.linkname ?? '';
          if (target === '' || target.includes('\0')) throw invalid(`invalid archive: bad symlink target for ${h.name}`);
          // A relative target must stay under the destination (absolute ones resolve in the container's root).
          if (!target.startsWith('/')) clean([...rel.slice(0, -1), ...target.split('/')], `symlink ${JSON.stringify(h.name)} -> ${JSON.stringify(target)}`);
          fs.symlinkSync(target, p);
          fs.lchownSync(p, owner.uid, owner.gid);
          fs.lutimesSync(p, ids.mtime, ids.mtime);
          break;
        }
        case 'link': {
          const lrel = clean(splitPath(h.linkname ?? ''), `hardlink ${JSON.stringify(h.name)} -> ${JSON.stringify(h.linkname)}`);
          if (lrel.length === 0) throw invalid(`invalid archive: hardlink ${h.name} to a directory`);
          const src = resolveInRoot(root, [...destComps, ...lrel].join('/'));
          try {
            const st = src.lstat();
            if (!st) throw invalid(`invalid archive: hardlink ${h.name} to ${h.linkname}, which does not exist`);
            if (st.isDirectory()) throw invalid(`invalid archive: hardlink ${h.name} to a directory`);
            fs.linkSync(src.proc, p);
          } finally {
            src.close();
          }
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo':
          o.onWarning?.(`skipped ${h.name}: ${type} entries are not extracted`);
          break;
        case 'pax-global-header':
          break;
        default:
          throw invalid(`invalid archive: unsupported entry type ${String(type)} for ${h.name}`);
      }
    } finally {
      fs.closeSync(dirFd);
    }
  });

  // Directory times last: creating entries inside a directory changes its mtime.
  for (const t of dirTimes.reverse()) {
    let r;
    try { r = resolveInRoot(root, t.comps.join('/')); } catch { continue; }
    try {
      const st = r.lstat();
      if (!st?.isDirectory()) continue;
      const fd = r.openDir();
      try { fs.futimesSync(fd, t.mtime, t.mtime); } finally { fs.closeSync(fd); }
    } catch { /* gone or swapped: leave it */ } finally {
      r.close();
    }
  }
}
