// barge cp: copy files between a container and the host, both ways (docker cp's rules: copying
// onto an existing directory puts the source inside it; otherwise the copy takes the new name).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';

const FLAGS = [
  { name: 'archive', short: 'a', type: 'bool' as const, description: 'Archive mode (copy all uid/gid information)' },
  { name: 'follow-link', short: 'L', type: 'bool' as const, description: 'Always follow symbol link in SRC_PATH' },
  { name: 'quiet', short: 'q', type: 'bool' as const, description: 'Suppress progress output during copy' },
];

function splitContainerPath(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

export default async function cp(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tbarge cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH', description: 'Copy files/folders between a container and the local filesystem', flags: FLAGS }, argv, { exact: 2 });
  const src = splitContainerPath(args[0]!);
  const dst = splitContainerPath(args[1]!);
  if (src.container && dst.container) { cli.err('copying between containers is not supported\n'); return 1; }
  if (!src.container && !dst.container) { cli.err('must specify at least one container source\n'); return 1; }
  if (src.container) return copyFrom(cli, src.container, src.path, dst.path);
  return copyTo(cli, src.path, dst.container!, dst.path, flags.bool('archive'));
}

async function copyFrom(cli: Cli, container: string, srcPath: string, dest: string): Promise<number> {
  const res = await cli.client.raw('GET', `/containers/${encodeURIComponent(container)}/archive`, { query: { path: srcPath } });
  if (dest === '-') { await pipeline(res, process.stdout); return 0; }
  const stat = JSON.parse(Buffer.from(String(res.headers['x-docker-container-path-stat'] ?? ''), 'base64').toString('utf8') || '{}') as { name?: string };
  const srcBase = stat.name ?? path.basename(srcPath);
  let target: string;   // host path of the copied root entry
  const destExists = fs.existsSync(dest);
  if (destExists && fs.statSync(dest).isDirectory() && !srcPath.endsWith('/.')) target = path.join(dest, srcBase);
  else if (srcPath.endsWith('/.') && destExists) target = dest;
  else {
    if (dest.endsWith('/') && !destExists) { cli.err(`Error: no such directory: ${dest}\n`); res.resume(); return 1; }
    if (!fs.existsSync(path.dirname(path.resolve(dest)))) { cli.err(`Error: no such directory: ${path.dirname(dest)}\n`); res.resume(); return 1; }
    target = dest;
  }
  await extract(res, srcBase, path.resolve(target));
  return 0;
}

/** Extract a tar whose entries start with `base`, renaming that first component to `target`; nothing outside target. */
async function extract(stream: Readable, base: string, target: string): Promise<void> {
  const ex = tar.extract();
  const root = path.resolve(target);
  ex.on('entry', (h, body, next) => {
    const done = (e?: unknown) => { if (e) ex.destroy(e as Error); else next(); };
    try {
      const parts = h.name.split('/').filter((p) => p && p !== '.');
      if (parts.some((p) => p === '..')) throw new Error(`refusing archive entry outside the destination: ${h.name}`);
      if (parts[0] === base) parts.shift();
      const out = path.join(root, ...parts);
      // Never write through a symlink: every parent must be a real directory inside root.
      let cur = root;
      for (const p of parts.slice(0, -1)) {
        cur = path.join(cur, p);
        const st = fs.lstatSync(cur, { throwIfNoEntry: false });
        if (st && !st.isDirectory()) throw new Error(`refusing to write through ${cur}: not a directory`);
      }
      const mode = (h.mode ?? 0o644) & 0o7777;
      if (h.type === 'directory') {
        fs.mkdirSync(out, { recursive: true, mode });
        body.resume(); body.on('end', () => done());
      } else if (h.type === 'symlink') {
        fs.rmSync(out, { force: true });
        fs.symlinkSync(h.linkname ?? '', out);
        body.resume(); body.on('end', () => done());
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        fs.mkdirSync(path.dirname(out), { recursive: true });
        const st = fs.lstatSync(out, { throwIfNoEntry: false });
        if (st?.isSymbolicLink()) fs.rmSync(out);
        const ws = fs.createWriteStream(out, { mode });
        body.pipe(ws);
        ws.on('finish', () => { try { if (h.mtime) fs.utimesSync(out, h.mtime, h.mtime); } catch { /* best effort */ } done(); });
        ws.on('error', done);
      } else if (h.type === 'link') {
        const lp = (h.linkname ?? '').split('/').filter((p) => p && p !== '.');
        if (lp.some((p) => p === '..')) throw new Error(`refusing hard link outside the destination: ${h.linkname}`);
        if (lp[0] === base) lp.shift();
        fs.rmSync(out, { force: true });
        fs.linkSync(path.join(root, ...lp), out);
        body.resume(); body.on('end', () => done());
      } else {
        body.resume(); body.on('end', () => done());
      }
    } catch (e) { body.resume(); done(e); }
  });
  await pipeline(stream, ex);
}

async function copyTo(cli: Cli, src: string, container: string, dest: string, archive: boolean): Promise<number> {
  const id = encodeURIComponent(container);
  let body: Readable;
  let targetDir = dest;
  if (src === '-') {
    body = process.stdin;
  } else {
    if (!fs.existsSync(src)) { cli.err(`lstat ${path.resolve(src)}: no such file or directory\n`); return 1; }
    // Where does it go: into dest if dest is a directory in the container, else as dest.
    let name = path.basename(path.resolve(src));
    try {
      const head = await cli.client.raw('HEAD', `/containers/${id}/archive`, { query: { path: dest } });
      head.resume();
      const st = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat'] ?? ''), 'base64').toString('utf8') || '{}') as { mode?: number };
      const isDir = st.mode !== undefined && (st.mode & 0x80000000) !== 0;   // Go's os.ModeDir bit
      if (!isDir) { targetDir = path.posix.dirname(dest); name = path.posix.basename(dest); }
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      if (dest.endsWith('/')) { cli.err(`Error response from daemon: Could not find the file ${dest} in container ${container}\n`); return 1; }
      targetDir = path.posix.dirname(dest);
      name = path.posix.basename(dest);
    }
    body = packPath(path.resolve(src), name, archive);
  }
  await cli.client.json('PUT', `/containers/${id}/archive`, { body, query: { path: targetDir, copyUIDGID: archive }, headers: { 'Content-Type': 'application/x-tar' } });
  return 0;
}

/** A tar of a host path, its root entry renamed to `name`. */
function packPath(src: string, name: string, keepOwner: boolean): Readable {
  const pack = tar.pack();
  const walk = async (p: string, rel: string): Promise<void> => {
    const st = fs.lstatSync(p);
    const common = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime, uid: keepOwner ? st.uid : 0, gid: keepOwner ? st.gid : 0 };
    if (st.isDirectory()) {
      pack.entry({ ...common, type: 'directory' });
      for (const n of fs.readdirSync(p).sort()) await walk(path.join(p, n), `${rel}/${n}`);
    } else if (st.isSymbolicLink()) {
      pack.entry({ ...common, type: 'symlink', linkname: fs.readlinkSync(p) });
    } else if (st.isFile()) {
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ ...common, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
        fs.createReadStream(p).on('error', reject).pipe(entry);
      });
    }
  };
  walk(src, name).then(() => pack.finalize(), (e) => pack.destroy(e));
  return pack as unknown as Readable;
}
