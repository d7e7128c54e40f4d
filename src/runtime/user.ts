// Resolving `docker run -u` (Config.User) against the image's /etc/passwd and /etc/group, as runc's
// (moby/sys/user) GetExecUser does, with Docker's error messages. Both files are read from the
// container's rootfs through readFileInRoot(): the rootfs is untrusted, links in it cannot lead out of it.
import { invalid } from '../lib/errors.js';
import { readFileInRoot } from './rootpath.js';

export interface PasswdEntry { name: string; uid: number; gid: number; home: string; shell: string }
export interface GroupEntry { name: string; gid: number; members: string[] }

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** For the OCI spec's process.user.additionalGids: the primary gid, then supplementary ones, as Docker. */
  additionalGids: number[];
  /** Home directory from passwd ("/" if the user has no entry): the default HOME. */
  home: string;
  /** The matched passwd name, if any. */
  name?: string;
}

const MAX_ID = 2147483647;

function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function lines(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    out.push(line.split(':'));
  }
  return out;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (uid === undefined || gid === undefined) continue; // malformed line: skipped, as runc does
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = parseId(f[2]);
    if (gid === undefined) continue;
    out.push({ name: f[0] ?? '', gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/**
 * Resolve a user spec — `""`, `name`, `uid`, `name:group`, `uid:gid`, ... — given the contents of passwd and
 * group (undefined when the file does not exist). `groupAdd` is HostConfig.GroupAdd (names or gids).
 */
export function resolveUserSpec(spec: string, passwd: string | undefined, group: string | undefined, groupAdd: readonly string[] = []): ResolvedUser {
  const [userArg = '', groupArg = ''] = splitOnce(spec.trim(), ':');
  const users = passwd === undefined ? [] : parsePasswd(passwd);
  const groups = group === undefined ? [] : parseGroup(group);
  const out: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };

  // A numeric argument is always an id, never a name (moby/sys/user semantics); no argument means uid 0.
  const uidArg = numeric(userArg);
  const match = users.find((u) => (userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  if (match) {
    out.uid = match.uid;
    out.gid = match.gid;
    out.home = match.home || '/';
    out.name = match.name;
  } else if (userArg !== '') {
    if (uidArg === undefined) throw invalid(`unable to find user ${userArg}: no matching entries in passwd file`);
    out.uid = inRange(uidArg);
  }

  const sgids: number[] = [];
  if (groupArg !== '') {
    const gidArg = numeric(groupArg);
    const g = groups.find((x) => (gidArg !== undefined ? x.gid === gidArg : x.name === groupArg));
    if (g) {
      out.gid = g.gid;
    } else {
      if (gidArg === undefined) throw invalid(`unable to find group ${groupArg}: no matching entries in group file`);
      out.gid = inRange(gidArg);
    }
  } else if (out.name !== undefined) {
    // Supplementary groups only in the implicit form: every group listing the user as a member.
    for (const g of groups) if (g.members.includes(out.name)) sgids.push(g.gid);
  }

  const added = new Set<number>();
  for (const ag of groupAdd) {
    const g = groups.find((x) => x.name === ag || String(x.gid) === ag);
    if (g) { added.add(g.gid); continue; }
    const gid = numeric(ag);
    if (gid === undefined) throw invalid(`Unable to find group ${ag}: no matching entries in group file`);
    added.add(inRange(gid));
  }
  out.additionalGids = [out.gid, ...sgids, ...added];
  return out;
}

function numeric(s: string): number | undefined {
  return /^-?\d+$/.test(s) ? Number(s) : undefined;
}

function inRange(id: number): number {
  if (!(id >= 0 && id <= MAX_ID)) throw invalid('uids and gids must be in range 0-2147483647');
  return id;
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

/**
 * Resolve Config.User for a container whose root filesystem is at `rootfs`, reading its /etc/passwd and
 * /etc/group safely (see rootpath.ts). Errors are invalid-argument errors worded as Docker's.
 */
export function resolveUser(rootfs: string, spec: string | undefined, groupAdd: readonly string[] = []): ResolvedUser {
  const read = (p: string): string | undefined => {
    try {
      return readFileInRoot(rootfs, p, 64 * 1024 * 1024)?.toString('utf8');
    } catch {
      // A passwd that is a directory, a device, a link loop...: as if absent.
      return undefined;
    }
  };
  const s = spec ?? '';
  // Numeric uid:gid needs no files, but Docker still reads them (for HOME and supplementary groups).
  return resolveUserSpec(s, read('/etc/passwd'), read('/etc/group'), groupAdd);
}

/** Add HOME=<home> to an environment that has none (runc's behaviour, which Docker containers see). */
export function withHome(env: readonly string[], home: string): string[] {
  return env.some((e) => e.startsWith('HOME=')) ? [...env] : [...env, `HOME=${home}`];
}
