// Container filesystems: export, changes (docker diff), archive (docker cp), commit.
// Thin handlers: the image service mounts a stopped container's rootfs when needed (withRootfs); the
// snapshot package does the hostile-path-safe reading and writing.
import * as fs from 'node:fs';
import type { ImageService } from '../../image/service.js';
import type { ContainerService } from '../../container/service.js';
import type { ContainerRecord } from '../../container/types.js';
import type { EventBus } from '../../lib/events.js';
import { conflict, forbidden, invalid } from '../../lib/errors.js';
import { applyChanges, imageDefaults, mergeCommitConfig } from '../../image/changes.js';
import { parseNormalizedNamed } from '../../image/reference.js';
import type { ContainerDefaults } from '../../image/oci.js';
import { resolveInRoot, pathError, splitPath } from '../../snapshot/scoped.js';
import { packAt } from '../../snapshot/tarfs.js';
import { extractInRoot } from '../../snapshot/extract.js';
import { readFileInRoot } from '../../runtime/rootpath.js';
import { sendTar } from './images.js';
import { type Router, sendJson, qBool, readBody } from '../router.js';

export interface ArchiveRouteDeps {
  images: ImageService;
  containers: ContainerService;
  events: EventBus;
}

/** Go's os.FileMode bits for a Unix mode (what X-Docker-Container-Path-Stat carries). */
export function goFileMode(st: fs.Stats): number {
  let m = st.mode & 0o777;
  if (st.mode & 0o4000) m += 2 ** 23; // ModeSetuid
  if (st.mode & 0o2000) m += 2 ** 22; // ModeSetgid
  if (st.mode & 0o1000) m += 2 ** 20; // ModeSticky
  if (st.isDirectory()) m += 2 ** 31;
  else if (st.isSymbolicLink()) m += 2 ** 27;
  else if (st.isFIFO()) m += 2 ** 25;
  else if (st.isSocket()) m += 2 ** 24;
  else if (st.isCharacterDevice()) m += 2 ** 26 + 2 ** 21;
  else if (st.isBlockDevice()) m += 2 ** 26;
  return m;
}

/** Go's time.Time JSON: RFC 3339 with nanoseconds, trailing zeros dropped. */
function goTime(st: fs.Stats): string {
  const ns = BigInt(Math.round(st.mtimeMs * 1e6));
  const secs = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return new Date(Number(secs) * 1000).toISOString().replace(/\.\d{3}Z$/, frac ? `.${frac}Z` : 'Z');
}

/** Docker's PreserveTrailingDotOrSeparator + filepath.Join("/", p): the container path a request names. */
function containerPath(p: string): string {
  const joined = '/' + splitPath(p).join('/');
  const clean = joined.split('/').reduce<string[]>((acc, c) => { if (c === '..') acc.pop(); else if (c) acc.push(c); return acc; }, []);
  let abs = '/' + clean.join('/');
  if (/\/\.$/.test(p) || p === '.') abs = abs === '/' ? '/.' : abs + '/.';
  else if (p.endsWith('/') && abs !== '/') abs += '/';
  return abs;
}

/** The uid and gid a container's Config.User names, looked up in its /etc/passwd and /etc/group. */
function userIds(root: string, user: string): { uid: number; gid: number } {
  const [u, g] = user.split(':');
  const table = (file: string) => (readFileInRoot(root, file)?.toString('utf8') ?? '').split('\n').map((l) => l.split(':'));
  let uid: number;
  let gid = 0;
  if (/^\d+$/.test(u!)) {
    uid = Number(u);
    const row = table('/etc/passwd').find((r) => r[2] === u);
    if (row) gid = Number(row[3]);
  } else {
    const row = table('/etc/passwd').find((r) => r[0] === u);
    if (!row) throw invalid(`unable to find user ${u}: no matching entries in passwd file`);
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = table('/etc/group').find((r) => r[0] === g);
      if (!row) throw invalid(`unable to find group ${g}: no matching entries in group file`);
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
}

export function archiveRoutes(r: Router, d: ArchiveRouteDeps): void {
  const { images, containers: cs, events } = d;
  const event = (c: ContainerRecord, action: string, extra: Record<string, string> = {}) =>
    events.publish('container', action, c.Id, { image: c.Config.Image ?? '', name: c.Name.slice(1), ...extra });
  // Where a running container's rootfs is mounted; withRootfs uses it if it is mounted, else mounts its own.
  const mountedAt = (c: ContainerRecord) => cs.rootfsDir(c.Id);
  const usable = (c: ContainerRecord) => {
    if (c.State.Status === 'removing') throw conflict(`container ${c.Id} is marked for removal`);
    if (c.State.Dead) throw conflict(`container ${c.Id} is dead`);
  };

  r.get('/containers/{id}/changes', async ({ res, params }) => {
    const c = cs.find(params.id!);
    sendJson(res, 200, await images.changes(c.Id));
  });

  r.get('/containers/{id}/export', async ({ req, res, params }) => {
    const c = cs.find(params.id!);
    usable(c);
    await images.withRootfs(c.Id, mountedAt(c), async (root) => {
      const top = resolveInRoot(root, '/');
      try {
        await sendTar(req, res, packAt(top.dirFd, '', ''));
      } finally {
        top.close();
      }
    });
    event(c, 'export');
  });

  /**
   * Stat of `p` in the container as Docker reports it; also the resolved entry for archiving. `name` is
   * the container as the request named it (Docker's "Could not find the file /x in container NAME").
   */
  const statPath = (root: string, name: string, p: string) => {
    const abs = containerPath(p);
    let res;
    // As Docker's ResolvePath: a trailing "/" or "/." follows a final symlink (ctr:/link-to-dir/ is the directory).
    const follow = abs !== '/' && (abs.endsWith('/') || abs.endsWith('/.'));
    try { res = resolveInRoot(root, abs, { followLast: follow }); } catch (e) { throw pathError(e, p, name); }
    const st = res.lstat();
    if (!st) { res.close(); throw pathError(Object.assign(new Error('enoent'), { code: 'ENOENT' }), p, name); }
    if (abs.endsWith('/') && abs !== '/' && !st.isDirectory()) { res.close(); throw pathError(Object.assign(new Error('enotdir'), { code: 'ENOTDIR' }), p, name); }
    let linkTarget = '';
    if (st.isSymbolicLink()) {
      try {
        const t = resolveInRoot(root, abs, { followLast: true });
        linkTarget = t.path;
        t.close();
      } catch { linkTarget = ''; }
    }
    const base = abs.endsWith('/.') ? '.' : abs === '/' ? '/' : splitPath(abs).pop()!;
    const stat = { name: base, size: st.size, mode: goFileMode(st), mtime: goTime(st), linkTarget };
    return { res, st, stat, abs };
  };
  const statHeader = (stat: object) => Buffer.from(JSON.stringify(stat)).toString('base64');
  const pathParam = (q: URLSearchParams) => {
    const p = q.get('path');
    if (p === null || p === '') throw invalid('path parameter is required and must not be empty');
    return p;
  };

  r.head('/containers/{id}/archive', async ({ res, params, query }) => {
    const c = cs.find(params.id!);
    const p = pathParam(query);
    const stat = await images.withRootfs(c.Id, mountedAt(c), async (root) => {
      const s = statPath(root, params.id!, p);
      s.res.close();
      return s.stat;
    });
    res.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/json' });
    res.end();
  });

  r.get('/containers/{id}/archive', async ({ req, res, params, query }) => {
    const c = cs.find(params.id!);
    usable(c);
    const p = pathParam(query);
    await images.withRootfs(c.Id, mountedAt(c), async (root) => {
      const s = statPath(root, params.id!, p);
      try {
        // A directory is archived with its contents under the name the path ends with ("etc/...", or
        // "./..." for "dir/."); anything else as one entry (a symlink is not followed).
        const as = s.abs === '/' ? '/' : s.stat.name;
        await sendTar(req, res, packAt(s.res.dirFd, s.res.name, as === '/' ? '.' : as), { 'X-Docker-Container-Path-Stat': statHeader(s.stat) });
      } finally {
        s.res.close();
      }
    });
    event(c, 'archive-path');
  });

  r.put('/containers/{id}/archive', async ({ req, res, params, query }) => {
    const c = cs.find(params.id!);
    usable(c);
    const p = pathParam(query);
    if (c.HostConfig.ReadonlyRootfs) { req.resume(); throw forbidden('container rootfs is marked read-only'); }
    const noOverwrite = qBool(query, 'noOverwriteDirNonDir');
    const copyUIDGID = qBool(query, 'copyUIDGID');
    try {
      await images.withRootfs(c.Id, mountedAt(c), async (root) => {
        const chown = copyUIDGID && c.Config.User ? userIds(root, c.Config.User) : undefined;
        try {
          await extractInRoot(root, containerPath(p), req, { noOverwriteDirNonDir: noOverwrite, ...(chown ? { chown } : {}) });
        } catch (e) {
          throw pathError(e, p, params.id!);
        }
      });
    } finally {
      req.resume();
    }
    event(c, 'extract-to-dir');
    res.writeHead(200);
    res.end();
  });

  r.post('/commit', async ({ req, res, query }) => {
    const ref = query.get('container');
    if (!ref) throw invalid('container parameter is required');
    const c = cs.find(ref);
    if (c.State.Dead) throw conflict(`You cannot commit container ${c.Id} which is Dead`);
    if (c.State.Status === 'removing') throw conflict(`You cannot commit container ${c.Id} which is being removed`);
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    let target: string | undefined;
    if (repo) {
      const parsed = parseNormalizedNamed(repo);
      if (parsed.digest !== undefined) throw invalid('refusing to create a tag with a digest reference');
      target = tag ? `${repo}:${tag}` : repo;
    } else if (tag) {
      throw invalid('tag requires repo');
    }
    const raw = (await readBody(req)).toString('utf8').trim();
    let body: Record<string, unknown> | null = null;
    if (raw !== '' && raw !== 'null') {
      try { body = JSON.parse(raw) as Record<string, unknown>; } catch (e) { throw invalid(`invalid JSON in request body: ${(e as Error).message}`); }
      if (typeof body !== 'object' || Array.isArray(body)) throw invalid('invalid JSON in request body: not an object');
    }
    const containerDefaults = imageDefaults(c.Config as Record<string, unknown>);
    const userConfig: ContainerDefaults = body ? imageDefaults(body) : containerDefaults;
    const config = mergeCommitConfig(applyChanges(userConfig, query.getAll('changes')), containerDefaults);
    const pause = qBool(query, 'pause', true) && c.State.Running && !c.State.Paused;
    if (pause) await cs.pause(c.Id);
    let img;
    try {
      img = await images.commit(c.Id, {
        imageId: c.Image, config, tags: target ? [target] : [],
        author: query.get('author') ?? '', comment: query.get('comment') ?? '',
        createdBy: (c.Config.Cmd ?? []).join(' '),
      });
    } finally {
      if (pause) await cs.unpause(c.Id).catch(() => undefined);
    }
    event(c, 'commit', { comment: query.get('comment') ?? '', imageID: img.id, imageRef: target ?? '' });
    sendJson(res, 201, { Id: img.id });
  });
}
