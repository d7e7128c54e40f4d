// The build context on the daemon's side: what the client sent (a tar, plain or gzip, or a Dockerfile
// alone), unpacked into a private temporary directory, with .dockerignore applied; the sources of a
// COPY/ADD looked up in it (never outside it), hashed for the build cache, and streamed as a tar for
// the layer.
//
// The context is hostile input: its tar is unpacked with the same defences as `docker cp` (extract.ts:
// no entry lands outside the directory), a source path that climbs out ("../etc/passwd") is refused,
// and symlinks met while resolving a source are followed inside the context only (scoped.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { invalid, notFound } from '../lib/errors.js';
import { extractInRoot } from '../snapshot/extract.js';
import { resolveInRoot, splitPath } from '../snapshot/scoped.js';
import { fileEntry, tarHeader, tarPadding, TAR_END, type TarEntry } from '../lib/tarwriter.js';
import { IgnoreMatcher, cleanPath, globRegExp } from './dockerignore.js';

export interface BuildContext {
  /** The unpacked context (a private directory). */
  dir: string;
  ignore: IgnoreMatcher;
  dockerfile: string;
  /** Known contents hashes of the context's files, by absolute path (a synced context's record). */
  hashOf?: (abs: string) => string | undefined;
  close(): void;
}

/**
 * Reads the request body into a context directory under `tmpRoot`. `dockerfileName` is the Dockerfile's
 * path inside the context ("Dockerfile"); `dockerfileText`, when given (`-f -` with a context), wins.
 */
export async function receiveContext(body: AsyncIterable<Uint8Array>, tmpRoot: string, dockerfileName: string): Promise<BuildContext> {
  fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const dir = path.join(tmpRoot, `ctx-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(dir, { mode: 0o700 });
  const close = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const it = body[Symbol.asyncIterator]();
    let head = Buffer.alloc(0);
    let done = false;
    while (head.length < 512) {
      const r = await it.next();
      if (r.done) { done = true; break; }
      head = Buffer.concat([head, Buffer.from(r.value)]);
    }
    const isGzip = head[0] === 0x1f && head[1] === 0x8b;
    const isTar = head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
    const isEmpty = head.length === 0;
    if (isGzip || isTar || (isEmpty && done)) {
      async function* all(): AsyncGenerator<Buffer> {
        if (head.length) yield head;
        while (!done) {
          const r = await it.next();
          if (r.done) return;
          yield Buffer.from(r.value);
        }
      }
      if (!isEmpty) await extractInRoot(dir, '/', all());
    } else {
      // A Dockerfile alone (docker build - < Dockerfile).
      const chunks = [head];
      while (!done) {
        const r = await it.next();
        if (r.done) break;
        chunks.push(Buffer.from(r.value));
      }
      fs.writeFileSync(path.join(dir, 'Dockerfile'), Buffer.concat(chunks));
      dockerfileName = 'Dockerfile';
    }
    return { ...contextFromDir(dir, dockerfileName), close };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * A context already in directory `dir` (received, or a synced copy): its Dockerfile read, and what
 * .dockerignore excludes removed. `close` does nothing: the caller owns the directory.
 */
export function contextFromDir(dir: string, dockerfileName: string, hashOf?: (abs: string) => string | undefined): BuildContext {
  const name = cleanPath(dockerfileName.replace(/^\.?\//, ''));
  if (name.startsWith('../')) throw invalid(`the Dockerfile (${dockerfileName}) must be within the build context`);
  const dockerfile = readInContext(dir, name);
  if (dockerfile === undefined) {
    throw invalid(`Cannot locate specified Dockerfile: ${dockerfileName}`);
  }
  // <Dockerfile>.dockerignore next to the Dockerfile wins over the context's .dockerignore.
  const ignoreText = readInContext(dir, `${name}.dockerignore`) ?? readInContext(dir, '.dockerignore') ?? '';
  const ignore = IgnoreMatcher.fromText(ignoreText);
  pruneIgnored(dir, '', ignore);
  return { dir, ignore, dockerfile, hashOf, close: () => undefined };
}

function readInContext(dir: string, rel: string): string | undefined {
  let r;
  try { r = resolveInRoot(dir, rel, { followLast: true }); } catch { return undefined; }
  try {
    const st = r.lstat();
    if (!st?.isFile()) return undefined;
    return fs.readFileSync(r.proc, 'utf8');
  } finally {
    r.close();
  }
}

/** Removes what .dockerignore excludes (the client usually did already; the docker CLI does too). */
function pruneIgnored(root: string, rel: string, ignore: IgnoreMatcher): void {
  if (ignore.patterns.length === 0) return;
  const abs = rel ? path.join(root, rel) : root;
  for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (ignore.excluded(r)) {
      if (e.isDirectory() && ignore.mayIncludeBelow(r)) { pruneIgnored(root, r, ignore); continue; }
      fs.rmSync(path.join(root, r), { recursive: true, force: true });
      continue;
    }
    if (e.isDirectory()) pruneIgnored(root, r, ignore);
  }
}

/** A file to copy: where it is on the host and its name relative to the copy's destination. */
export interface CopyItem {
  abs: string;
  /** Name relative to the destination directory ("" for the destination itself: a single file). */
  name: string;
  st: fs.Stats;
  /** A source named in the instruction (not a file found inside a source directory). */
  named?: boolean;
}

export interface SourceSet {
  items: CopyItem[];
  /** Whether the sources are several (or a wildcard): the destination must then be a directory. */
  multiple: boolean;
  /** Each named source's top-level entries, for the "dest is a file" case. */
  singleFile: boolean;
}

const hasGlob = (s: string) => /[*?[]/.test(s);

/**
 * Looks up the sources of a COPY/ADD in `root` (the context or a stage's rootfs). A source must not
 * climb out of `root` (`COPY ../x` is refused) and symlinks on its way are followed inside `root`
 * only. A directory source contributes its contents; a file its own entry. `excludes` are
 * `COPY --exclude` patterns. `fromContext` selects Docker's wording of errors.
 */
export function collectSources(root: string, srcs: string[], o: { excludes?: string[]; parents?: boolean; fromContext: boolean }): SourceSet {
  const items: CopyItem[] = [];
  const excl = o.excludes?.length ? new IgnoreMatcher(o.excludes) : undefined;
  let multiple = srcs.length > 1;
  let singleFile = false;
  for (const src of srcs) {
    let cleaned = cleanPath(src.startsWith('/') ? src.slice(1) || '.' : src);
    // In an image, ".." stops at its root (as in a chroot); in the context it is refused.
    if (!o.fromContext) cleaned = cleanPath('/' + cleaned).slice(1) || '.';
    if (cleaned === '..' || cleaned.startsWith('../')) {
      throw invalid(`forbidden path outside the build context: ${src} ()`);
    }
    const matches: string[] = [];
    if (hasGlob(cleaned)) {
      multiple = true;
      const re = globRegExp(cleaned);
      walkNames(root, '', (rel) => { if (re.test(rel)) matches.push(rel); return true; });
      if (matches.length === 0) throw notFound(`lstat ${src}: no source files were specified`);
    } else {
      matches.push(cleaned);
    }
    for (const m of matches) {
      const missing = () => notFound(o.fromContext
        ? `COPY failed: file not found in build context or excluded by .dockerignore: stat ${m}: file does not exist`
        : `COPY failed: stat ${m}: file does not exist`);
      let resolved;
      try { resolved = resolveInRoot(root, m, { followLast: true }); } catch (e) {
        if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes((e as NodeJS.ErrnoException).code ?? '')) throw missing();
        throw e;
      }
      let st: fs.Stats | undefined;
      let inRoot: string;
      try {
        st = resolved.lstat();
        inRoot = resolved.path;
      } finally {
        resolved.close();
      }
      if (!st) throw missing();
      const abs = path.join(root, inRoot);
      const base = o.parents ? m.split('/').slice(0, -1) : [];
      const prefix = base.length ? base.join('/') + '/' : '';
      if (st.isDirectory()) {
        const topName = o.parents && m !== '.' ? m : '';
        if (topName) items.push({ abs, name: topName, st });
        walkTree(abs, '', (rel, est, eabs) => {
          const full = topName ? `${topName}/${rel}` : rel;
          if (excl?.excluded(full) || excl?.excluded(rel)) return false;
          items.push({ abs: eabs, name: full, st: est });
          return true;
        });
      } else {
        if (excl?.excluded(m)) continue;
        if (!multiple && !o.parents) singleFile = true;
        items.push({ abs, name: prefix + path.posix.basename(m === '.' ? inRoot : m), st, named: true });
      }
    }
  }
  return { items, multiple, singleFile: singleFile && !multiple };
}

function walkNames(root: string, rel: string, fn: (rel: string) => boolean): void {
  let ents: fs.Dirent[];
  try { ents = fs.readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true }); } catch { return; }
  for (const e of ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (fn(r) && e.isDirectory()) walkNames(root, r, fn);
  }
}

/** Walks a directory (not following symlinks), in name order; `fn` returns false to skip a subtree. */
function walkTree(abs: string, rel: string, fn: (rel: string, st: fs.Stats, abs: string) => boolean): void {
  const names = fs.readdirSync(abs).sort();
  for (const n of names) {
    const a = path.join(abs, n);
    const r = rel ? `${rel}/${n}` : n;
    const st = fs.lstatSync(a);
    if (fn(r, st, a) && st.isDirectory()) walkTree(a, r, fn);
  }
}

/**
 * The cache checksum of a source set: names, types, modes, owners, sizes, link targets and file
 * contents (not times: touching a file does not invalidate the cache, as with Docker). `known` gives
 * the contents hash of a file already hashed (a synced context's record), so it is not read again.
 */
export function hashSources(set: SourceSet, known?: (abs: string) => string | undefined): string {
  const h = createHash('sha256');
  for (const it of set.items) {
    const st = it.st;
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
    h.update(`${kind} ${it.name} ${st.mode & 0o7777} ${st.uid}:${st.gid} ${st.size}\0`);
    if (kind === 'l') h.update(fs.readlinkSync(it.abs) + '\0');
    if (kind === 'f') h.update(known?.(it.abs) ?? fileHash(it.abs));
  }
  return 'sha256:' + h.digest('hex');
}

/** The sha256 (hex) of a file's contents. */
function fileHash(abs: string): string {
  const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const h = createHash('sha256');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export interface CopyTarOptions {
  /** --chmod: mode bits for files and directories. */
  chmod?: number;
  /** Inline files (COPY <<EOF): name -> content. */
  inline?: { name: string; content: string }[];
  /** Write each file's own owner (COPY --from keeps the owners of the stage's files). */
  keepOwner?: boolean;
  /** Owner written in the headers (extractInRoot's chown overrides it anyway). */
  uid?: number;
  gid?: number;
}

/**
 * Streams `items` as a tar whose names are relative to the destination directory; `rename` gives a
 * single file its destination name. Devices, FIFOs and sockets are skipped.
 */
export async function* copyTar(items: CopyItem[], o: CopyTarOptions = {}, rename?: string): AsyncGenerator<Buffer> {
  const uid = o.uid ?? 0;
  const gid = o.gid ?? 0;
  for (const f of o.inline ?? []) {
    const data = Buffer.from(f.content);
    yield tarHeader({ name: f.name, type: 'file', mode: o.chmod ?? 0o644, uid, gid, mtime: Math.floor(Date.now() / 1000) }, data.length);
    yield data;
    yield tarPadding(data.length);
  }
  for (const it of items) {
    const name = rename ?? it.name;
    if (!name) continue;
    const st = it.st;
    const base: Omit<TarEntry, 'type'> = { name, uid: o.keepOwner ? st.uid : uid, gid: o.keepOwner ? st.gid : gid, mtime: Math.floor(st.mtimeMs / 1000), mode: o.chmod ?? (st.mode & 0o7777) };
    if (st.isDirectory()) yield tarHeader({ ...base, type: 'dir' }, 0);
    else if (st.isSymbolicLink()) yield tarHeader({ ...base, type: 'symlink', mode: 0o777, linkname: fs.readlinkSync(it.abs) }, 0);
    else if (st.isFile()) {
      const fd = fs.openSync(it.abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        yield* fileEntry(base, fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  yield TAR_END;
}

/** Joins a COPY destination onto the working directory, as Docker does. */
export function destPath(dest: string, workdir: string): string {
  const trailing = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  let p = dest.startsWith('/') ? dest : path.posix.join(workdir || '/', dest);
  p = path.posix.normalize(p);
  if (trailing && !p.endsWith('/')) p += '/';
  return p;
}

export { splitPath };
