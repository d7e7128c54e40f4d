// COPY and ADD: writing a step's sources into the layer being built (the merged root filesystem of a
// private writable layer, see builder.ts), and fetching ADD's URLs.
//
// Everything is written through extractInRoot (snapshot/extract.ts): the destination and every
// parent are resolved inside the layer's root as if chrooted there, so neither a source's names nor a
// symlink in the image can make a write land outside the layer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { invalid, messageOf, notFound } from '../lib/errors.js';
import { extractInRoot } from '../snapshot/extract.js';
import { resolveInRoot, splitPath } from '../snapshot/scoped.js';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { collectSources, copyTar, type CopyItem, type SourceSet } from './context.js';
import { cleanPath, globRegExp } from './dockerignore.js';

/** A URL fetched for ADD, in a private temporary file. */
export interface Download { file: string; name: string; digest: string; mtime?: number }

export async function writeSources(root: string, dest: string, set: SourceSet, o: {
  /** --chmod: octal bits, or a symbolic mode computed from each file's own (see parseChmod). */
  chmod?: Chmod; owner: { uid: number; gid: number }; keepOwner: boolean;
  /** ADD: local archives are unpacked (unless --unpack=false). */
  unpack: boolean;
  /** ADD --unpack=true: downloaded archives too. */
  unpackDownloads?: boolean;
  inline: { name: string; content: string }[];
  downloads: { file: string; name: string; mtime?: number }[];
}): Promise<void> {
  // A single file to a path not ending in "/" that is not an existing directory: that path is the file.
  let destDir = dest;
  let rename: string | undefined;
  const singleTarget = !dest.endsWith('/') && (set.singleFile ? 1 : 0) + o.inline.length + o.downloads.length === 1 && set.items.length <= 1;
  if (singleTarget) {
    let isDir = false;
    try {
      const r = resolveInRoot(root, dest, { followLast: true });
      try { isDir = !!r.lstat()?.isDirectory(); } finally { r.close(); }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
    }
    if (!isDir) { destDir = path.posix.dirname(dest); rename = path.posix.basename(dest); }
  }
  // The directories the copy creates belong to --chown's owner (root without it), as with Docker.
  mkdirAllInRoot(root, destDir, o.owner, `cannot copy to ${destDir}`);
  const chown = o.owner;
  // ADD: tar archives are unpacked into the destination, always a directory then (`ADD x.tar /d`
  // fills /d, as `tar -x -C /d` would), whatever the single-file rule above made of it.
  const unpack = async (tar: AsyncIterable<Uint8Array>) => {
    mkdirAllInRoot(root, dest, o.owner, `cannot unpack into ${dest}`);
    await extractInRoot(root, dest, tar, o.owner.uid || o.owner.gid ? { chown } : {});
  };
  const plain: CopyItem[] = [];
  for (const it of set.items) {
    const tar = o.unpack && it.named && it.st.isFile() ? await openArchive(it.abs) : undefined;
    if (tar) {
      await unpack(tar);
      continue;
    }
    plain.push(it);
  }
  const inline = o.inline.map((i) => ({ name: rename ?? i.name, content: i.content }));
  // A symbolic mode goes into each item's own mode (copyTar writes an item's mode as it is given).
  const symbolic = typeof o.chmod === 'function' ? o.chmod : undefined;
  const octal = typeof o.chmod === 'number' ? o.chmod : undefined;
  const items = symbolic ? plain.map((it) => withMode(it, symbolic(it.st.mode & 0o7777, it.st.isDirectory()))) : plain;
  if (inline.length) {
    await extractInRoot(root, destDir, copyTar([], { chmod: symbolic ? symbolic(0o644, false) : octal, inline }), { chown });
  }
  if (items.length) {
    await extractInRoot(root, destDir, copyTar(items, { chmod: octal, keepOwner: o.keepOwner }, rename), o.keepOwner ? {} : { chown });
  }
  for (const dl of o.downloads) {
    const tar = o.unpackDownloads ? await openArchive(dl.file) : undefined;
    if (tar) {
      await unpack(tar);
      continue;
    }
    const st = fs.statSync(dl.file);
    const item: CopyItem = { abs: dl.file, name: rename ?? dl.name, st };
    await extractInRoot(root, destDir, copyTar([item], { chmod: symbolic ? symbolic(0o600, false) : octal ?? 0o600 }), { chown });
  }
}

/** --chmod: octal bits for everything, or a function of a file's mode (and whether it is a directory). */
export type Chmod = number | ((mode: number, isDir: boolean) => number);

/** The item with other permission bits (its file type kept: fs.Stats' is* methods read `mode`). */
function withMode(it: CopyItem, perm: number): CopyItem {
  const st = Object.assign(Object.create(Object.getPrototypeOf(it.st) as object) as fs.Stats, it.st, { mode: (it.st.mode & ~0o7777) | perm });
  return { ...it, st };
}

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007 };
const RWX: Record<string, number> = { u: 0o700, g: 0o070, o: 0o007 };

/**
 * --chmod's value: an octal mode ("755", up to 07777), or a symbolic one as chmod(1) takes it
 * (Dockerfile 1.14), with no umask: comma-separated clauses of who (u, g, o, a; none is a), then
 * one or more operators (+, -, =) each with permissions (r, w, x, X: x for directories and files
 * already executable by someone, s, t) or a class to copy (u, g, o). "u=rwX,go=rX" makes
 * directories 755 and files 644 or 755.
 */
export function parseChmod(spec: string): Chmod {
  if (/^[0-7]+$/.test(spec)) {
    const n = parseInt(spec, 8);
    if (n > 0o7777) throw invalid(`invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`);
    return n;
  }
  const bad = () => invalid(`invalid chmod parameter: '${spec}': not an octal or symbolic mode (such as 755 or u=rwX,go=rX)`);
  const clauses = spec.split(',').map((c) => {
    const m = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/.exec(c);
    if (!m) throw bad();
    const who = m[1]!.replace(/a/g, 'ugo') || 'ugo';
    const actions = [...m[2]!.matchAll(/([-+=])([ugo]|[rwxXst]*)/g)].map((a) => ({ op: a[1]!, perm: a[2]! }));
    return { who, actions };
  });
  return (mode: number, isDir: boolean) => {
    let cur = mode & 0o7777;
    for (const { who, actions } of clauses) {
      // The bits this clause may touch: rwx of each class, setuid/setgid of u/g, sticky of o.
      let mask = 0;
      for (const w of new Set(who)) mask |= WHO[w]!;
      for (const { op, perm } of actions) {
        let bits = 0;
        if (/^[ugo]$/.test(perm)) {
          // Copy a class's rwx bits to the clause's classes.
          const shift = { u: 6, g: 3, o: 0 }[perm as 'u' | 'g' | 'o'];
          const rwx = (cur >> shift) & 7;
          for (const w of new Set(who)) bits |= rwx << { u: 6, g: 3, o: 0 }[w as 'u' | 'g' | 'o'];
        } else {
          let cls = 0;
          for (const w of new Set(who)) cls |= RWX[w]!;
          for (const p of perm) {
            if (p === 'r') bits |= cls & 0o444;
            else if (p === 'w') bits |= cls & 0o222;
            else if (p === 'x') bits |= cls & 0o111;
            else if (p === 'X') { if (isDir || (cur & 0o111)) bits |= cls & 0o111; }
            else if (p === 's') bits |= mask & 0o6000;
            else if (p === 't') bits |= mask & 0o1000;
          }
        }
        if (op === '+') cur |= bits;
        else if (op === '-') cur &= ~bits;
        else cur = (cur & ~mask) | (bits & mask);
      }
    }
    return cur;
  };
}

/**
 * Creates the directory `dir` of the layer and its missing parents (mode 755, owned by `owner`),
 * resolving each in the layer's root; existing directories are left as they are.
 */
export function mkdirAllInRoot(root: string, dir: string, owner: { uid: number; gid: number }, what: string): void {
  const parts = splitPath(dir);
  for (let i = 1; i <= parts.length; i++) {
    const r = resolveInRoot(root, '/' + parts.slice(0, i).join('/'), { followLast: true });
    try {
      const st = r.lstat();
      if (!st) {
        fs.mkdirSync(r.proc, 0o755);
        fs.chownSync(r.proc, owner.uid, owner.gid);
      } else if (!st.isDirectory()) throw invalid(`${what}: ${r.path} is not a directory`);
    } finally {
      r.close();
    }
  }
}

export async function download(url: string, o: { tmpRoot: string; checksum?: string; out: (s: string) => void }): Promise<Download> {
  o.out(`Downloading ${url}\n`);
  let res: Response;
  try { res = await fetch(url, { redirect: 'follow' }); } catch (e) {
    throw invalid(`failed to download ${url}: ${messageOf((e as { cause?: unknown }).cause ?? e)}`);
  }
  if (!res.ok || !res.body) throw invalid(`failed to download ${url}: HTTP ${res.status} ${res.statusText}`);
  fs.mkdirSync(o.tmpRoot, { recursive: true, mode: 0o700 });
  const file = path.join(o.tmpRoot, `dl-${randomBytes(8).toString('hex')}`);
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) { h.update(chunk); fs.writeSync(fd, chunk); }
  } finally {
    fs.closeSync(fd);
  }
  const digest = 'sha256:' + h.digest('hex');
  if (o.checksum && o.checksum !== digest) {
    fs.rmSync(file, { force: true });
    throw invalid(`ADD --checksum: digest mismatch for ${url}: expected ${o.checksum}, got ${digest}`);
  }
  const lm = res.headers.get('last-modified');
  const mtime = lm ? Date.parse(lm) / 1000 : undefined;
  if (mtime) fs.utimesSync(file, mtime, mtime);
  const base = path.posix.basename(new URL(url).pathname) || 'index.html';
  return { file, name: base, digest, mtime };
}

/**
 * ADD's local archives: a tar, plain or compressed with gzip, bzip2 or xz, is unpacked; anything else
 * (a gzipped text file included) is copied as it is. Returns the tar stream, or undefined.
 */
async function openArchive(file: string): Promise<AsyncIterable<Uint8Array> | undefined> {
  const fd = fs.openSync(file, 'r');
  const magic = Buffer.alloc(6);
  try { fs.readSync(fd, magic, 0, 6, 0); } finally { fs.closeSync(fd); }
  let stream: Readable;
  let child: ChildProcess | undefined;
  if (magic[0] === 0x1f && magic[1] === 0x8b) stream = fs.createReadStream(file).pipe(createGunzip());
  else if (magic.subarray(0, 3).toString('latin1') === 'BZh' || magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    child = spawn(magic[0] === 0x42 ? 'bzip2' : 'xz', ['-dc', file], { stdio: ['ignore', 'pipe', 'ignore'] });
    stream = child.stdout!;
  } else stream = fs.createReadStream(file);
  // Read the first block: a tar has "ustar" at offset 257.
  const it = stream[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let done = false;
  try {
    while (head.length < 512) {
      const r = await it.next();
      if (r.done) { done = true; break; }
      head = Buffer.concat([head, r.value as Buffer]);
    }
  } catch {
    head = Buffer.alloc(0); // not really compressed: a plain file
  }
  if (head.length < 512 || head.subarray(257, 262).toString('latin1') !== 'ustar') {
    stream.destroy();
    child?.kill();
    return undefined;
  }
  return (async function* () {
    yield head;
    while (!done) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  })();
}

/** --chown=user[:group] with names looked up in the image's /etc/passwd and /etc/group. */
export function resolveOwner(root: string, spec: string): { uid: number; gid: number } {
  const [u, g] = spec.split(':');
  const lookup = (file: string, name: string, what: string): { id: number; gid?: number } => {
    if (/^\d+$/.test(name)) return { id: Number(name) };
    let text = '';
    try {
      const r = resolveInRoot(root, file, { followLast: true });
      try { text = fs.readFileSync(r.proc, 'utf8'); } finally { r.close(); }
    } catch { text = ''; }
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f[2] !== undefined) return { id: Number(f[2]), gid: f[3] !== undefined && what === 'user' ? Number(f[3]) : undefined };
    }
    throw invalid(`unable to convert uid/gid chown string to host mapping: can't find ${what === 'user' ? 'uid' : 'gid'} for ${what} ${name}: no such ${what}: ${name}`);
  };
  if (!u) throw invalid(`invalid chown string: ${spec}`);
  const user = lookup('/etc/passwd', u, 'user');
  const gid = g !== undefined && g !== '' ? lookup('/etc/group', g, 'group').id : (/^\d+$/.test(u) ? user.id : user.gid ?? user.id);
  return { uid: user.id, gid };
}

/**
 * The sources of COPY --parents, where two things go beyond collectSources: a "/./" in a source is a
 * pivot (only the directories after it are kept under the destination: `x/./y/*.txt` gives `y/...`),
 * and `**` matches any number of directories (`src/**` then `/*.txt` matches `src/a.txt` and
 * `src/x/y/b.txt`). Each source is collected on its own (a `**` pattern as the list of paths it
 * matches) and its names are cut at the pivot.
 */
export function collectParents(root: string, srcs: string[], o: { excludes?: string[]; fromContext: boolean }): SourceSet {
  const items: CopyItem[] = [];
  let multiple = srcs.length > 1;
  for (const src of srcs) {
    const cut = src.indexOf('/./');
    const full = cut < 0 ? src : `${src.slice(0, cut)}/${src.slice(cut + 3)}`;
    const pivot = cut < 0 ? '.' : cleanPath(src.slice(0, cut).replace(/^\/+/, '') || '.');
    const prefix = pivot === '.' ? '' : `${pivot}/`;
    let paths = [full];
    if (full.includes('**')) {
      paths = matchDoubleStar(root, full);
      multiple = true;
    }
    for (const p of paths) {
      const set = collectSources(root, [p], { ...o, parents: true });
      if (set.multiple) multiple = true;
      for (const it of set.items) {
        if (!prefix) items.push(it);
        else if (it.name.startsWith(prefix)) items.push({ ...it, name: it.name.slice(prefix.length) });
      }
    }
  }
  return { items, multiple, singleFile: false };
}

/** The paths under `root` (not following symlinks) that a pattern with `**` matches, glob characters escaped. */
function matchDoubleStar(root: string, pattern: string): string[] {
  const re = globRegExp(cleanPath(pattern.replace(/^\/+/, '')), { doubleStar: true });
  const out: string[] = [];
  const walk = (rel: string) => {
    let ents: fs.Dirent[];
    try { ents = fs.readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true }); } catch { return; }
    for (const e of ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      // A name with glob characters is escaped, so that collectSources matches it and nothing else.
      if (re.test(r)) out.push(/[*?[]/.test(r) ? r.replace(/[*?[\]\\]/g, '\\$&') : r);
      if (e.isDirectory()) walk(r);
    }
  };
  walk('');
  if (out.length === 0) throw notFound(`lstat ${pattern}: no source files were specified`);
  return out;
}
