// The volume service: named and anonymous volumes of the "local" driver, as Docker keeps them.
//
// Model
//  - A *volume* is a directory the engine owns, `<dataRoot>/volumes/<name>/_data` (its *mountpoint*),
//    described by a record `<dataRoot>/volumes/<name>/volume.json` (Name, Driver, Mountpoint,
//    CreatedAt, Labels, Options, Scope). The record is written last and atomically: a directory
//    without one is a create that was interrupted, removed at the next `open`.
//  - A *name* matches `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so it is always one path component. An
//    *anonymous* volume has a random 64-hex name and the label com.docker.volume.anonymous="".
//  - *Options* of the local driver (type, device, o) describe a filesystem to mount at the mountpoint,
//    like a line of fstab: `-o type=tmpfs -o device=tmpfs -o o=size=10m`, or `-o o=bind -o device=/srv`.
//    It is mounted when the first container using the volume starts, and unmounted when the last one
//    stops: *active* users are counted per volume (container ids), rebuilt at start from the running
//    containers (`restoreActive`, then `settle` unmounts what no running container needs).
//  - A volume is *in use* while any container (running or not) refers to it; the container service
//    tells us which (`setUsers`). An in-use volume cannot be removed (409), and prune skips it.
//
// Lifecycle
//     volumes.create({ Name: 'data' })                  // docker volume create data (idempotent)
//     const dir = await volumes.activate('data', cid)    // container start: mount the device if any
//     await volumes.deactivate('data', cid)              // container stop: unmount after the last user
//     volumes.remove('data')                             // docker volume rm (409 while a container refers to it)
//     await volumes.prune({ all: false })                // docker volume prune: unused anonymous volumes
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { conflict, internal, invalid, notFound } from '../lib/errors.js';
import { writeJsonAtomic, readJson, cleanTempFiles, exists } from '../lib/fsutil.js';
import { log } from '../lib/log.js';
import type { EventBus } from '../lib/events.js';
import { mountsUnder, isMountPoint, unmount } from '../snapshot/mount.js';
import { KeyedLock } from '../lib/keyedlock.js';

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const LOCAL_OPTS = new Set(['type', 'device', 'o', 'size']);
const RECORD = 'volume.json';

/** Docker's Volume object (GET /volumes/{name}). */
export interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  Scope: 'local';
  Status?: Record<string, unknown>;
  UsageData?: { Size: number; RefCount: number } | null;
}

export interface CreateVolumeRequest { Name?: string; Driver?: string; DriverOpts?: Record<string, string> | null; Labels?: Record<string, string> | null }

export interface VolumeFilters { dangling?: boolean; name?: string[]; label?: string[]; labelNot?: string[]; driver?: string[] }

/** Docker's rule for names of local volumes; the message is dockerd's. */
export function validateVolumeName(name: string): void {
  if (name.length < 2 && /^[a-zA-Z0-9]?$/.test(name)) throw invalid(`volume name is too short, names should be at least two alphanumeric characters`);
  if (!NAME_RE.test(name)) {
    throw invalid(`"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
}

export function checkDriver(driver: string | undefined, name: string): void {
  if (driver && driver !== 'local') throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
}

/** The local driver's option checks (moby volume/local validateOpts). */
function validateOpts(opts: Record<string, string>): void {
  for (const k of Object.keys(opts)) if (!LOCAL_OPTS.has(k)) throw invalid(`invalid option: "${k}"`);
  if ('size' in opts) throw invalid('quota size requested but no quota support');
  const need: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device', 'type'] };
  for (const [k, req] of Object.entries(need)) {
    if (!(k in opts)) continue;
    for (const r of req) if (!(r in opts)) throw invalid(`missing required option: "${r}"`);
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, _o, stderr) => {
      if (err) reject(internal(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

/** Bytes of the regular files under dir (hard links counted once), as Docker's directory.Size. */
export function dirSize(dir: string): number {
  let total = 0;
  const seen = new Set<string>();
  const walk = (d: string) => {
    let ents: fs.Dirent[];
    try { ents = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const p = path.join(d, e.name);
      let st: fs.Stats;
      try { st = fs.lstatSync(p); } catch { continue; }
      if (st.isDirectory()) { walk(p); continue; }
      if (st.nlink > 1) { const k = `${st.dev}:${st.ino}`; if (seen.has(k)) continue; seen.add(k); }
      total += st.size;
    }
  };
  walk(dir);
  return total;
}

export class VolumeService {
  private readonly root: string;
  private readonly volumes = new Map<string, Volume>();
  /** Running containers using each volume. */
  private readonly active = new Map<string, Set<string>>();
  /** Serialises mount/unmount/remove per volume. */
  private readonly locks = new KeyedLock();
  private users: (name: string) => string[] = () => [];

  private constructor(dataRoot: string, private readonly events?: EventBus) {
    this.root = path.join(dataRoot, 'volumes');
  }

  /** Loads the records; removes half-made volumes and leftovers of interrupted writes. */
  static open(dataRoot: string, o: { events?: EventBus } = {}): VolumeService {
    const s = new VolumeService(dataRoot, o.events);
    fs.mkdirSync(s.root, { recursive: true, mode: 0o701 });
    cleanTempFiles(s.root);
    for (const name of fs.readdirSync(s.root)) {
      const dir = path.join(s.root, name);
      cleanTempFiles(dir);
      try {
        const v = readJson<Volume>(path.join(dir, RECORD));
        if (v.Name !== name) throw new Error('record names another volume');
        s.volumes.set(name, v);
      } catch {
        // A create interrupted before its record: nothing refers to it yet.
        if (mountsUnder(dir).length) { log.warn('half-made volume has mounts: left alone', { name }); continue; }
        log.warn('removing half-made volume', { name });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    return s;
  }

  /** Which containers refer to a volume (the container service knows). */
  setUsers(fn: (name: string) => string[]): void { this.users = fn; }

  private dir(name: string): string { return path.join(this.root, name); }

  get(name: string): Volume {
    const v = this.volumes.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  has(name: string): boolean { return this.volumes.has(name); }

  /** docker volume create: idempotent for an existing name with the same driver. */
  create(req: CreateVolumeRequest = {}): Volume {
    const anonymous = !req.Name;
    const name = req.Name || randomBytes(32).toString('hex');
    validateVolumeName(name);
    const driver = req.Driver || 'local';
    checkDriver(driver, name);
    const existing = this.volumes.get(name);
    if (existing) {
      if (existing.Driver !== driver) throw conflict(`create ${name}: volume name "${name}" already exists with the "${existing.Driver}" driver`);
      return existing;
    }
    const opts = req.DriverOpts ?? {};
    validateOpts(opts);
    const labels = anonymous ? { ...(req.Labels ?? {}), [ANONYMOUS_LABEL]: '' } : (req.Labels ?? null);
    const dir = this.dir(name);
    const v: Volume = {
      Name: name, Driver: driver, Mountpoint: path.join(dir, '_data'), CreatedAt: now(),
      Labels: labels, Options: Object.keys(opts).length ? { ...opts } : null, Scope: 'local',
    };
    fs.mkdirSync(dir, { recursive: true, mode: 0o701 });
    fs.mkdirSync(v.Mountpoint, { recursive: true, mode: 0o755 });
    writeJsonAtomic(path.join(dir, RECORD), v, 0o600);
    this.volumes.set(name, v);
    this.events?.publish('volume', 'create', name, { driver });
    return v;
  }

  list(f: VolumeFilters = {}): Volume[] {
    const out: Volume[] = [];
    for (const v of this.volumes.values()) {
      if (f.dangling !== undefined && (this.users(v.Name).length === 0) !== f.dangling) continue;
      if (f.name?.length && !f.name.some((n) => v.Name.includes(n))) continue;
      if (f.driver?.length && !f.driver.includes(v.Driver)) continue;
      if (f.label?.length && !f.label.every((l) => labelMatch(v.Labels, l))) continue;
      if (f.labelNot?.length && f.labelNot.some((l) => labelMatch(v.Labels, l))) continue;
      out.push(v);
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /** Volumes with Docker's UsageData (system df). */
  usage(): Volume[] {
    return this.list().map((v) => ({ ...v, UsageData: { Size: dirSize(v.Mountpoint), RefCount: this.users(v.Name).length } }));
  }

  /** docker volume rm: refused while a container refers to it; force ignores a missing volume. */
  async remove(name: string, o: { force?: boolean } = {}): Promise<void> {
    if (!this.volumes.has(name)) {
      if (o.force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    await this.locked(name, async () => {
      const v = this.volumes.get(name);
      if (!v) return;
      const users = this.users(name);
      if (users.length) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
      await this.removeLocked(v);
    });
  }

  private async removeLocked(v: Volume): Promise<void> {
    const dir = this.dir(v.Name);
    // Never delete through a mount: a bind-mounted device is someone's data.
    if (isMountPoint(v.Mountpoint)) await unmount(v.Mountpoint);
    const left = mountsUnder(dir);
    if (left.length) throw internal(`remove ${v.Name}: the volume still has mounts (${left.join(', ')}): unmount them and retry`);
    // The record goes first: a crash mid-delete leaves a half-made volume that open() removes.
    fs.rmSync(path.join(dir, RECORD), { force: true });
    this.volumes.delete(v.Name);
    this.active.delete(v.Name);
    fs.rmSync(dir, { recursive: true, force: true });
    this.events?.publish('volume', 'destroy', v.Name, { driver: v.Driver });
  }

  /** docker volume prune: unused volumes, anonymous ones only unless `all` (API >= 1.42). */
  async prune(f: { all?: boolean; label?: string[]; labelNot?: string[] } = {}): Promise<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of this.list({ label: f.label, labelNot: f.labelNot })) {
      if (!f.all && !(v.Labels && ANONYMOUS_LABEL in v.Labels)) continue;
      await this.locked(v.Name, async () => {
        if (!this.volumes.has(v.Name) || this.users(v.Name).length) return;
        const size = dirSize(v.Mountpoint);
        try { await this.removeLocked(v); } catch (e) { log.warn('prune: volume not removed', { name: v.Name, error: (e as Error).message }); return; }
        deleted.push(v.Name);
        reclaimed += size;
      });
    }
    if (deleted.length) this.events?.publish('volume', 'prune', '', { reclaimed: String(reclaimed) });
    return { VolumesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  // ---- use by containers ----

  /** A container that uses the volume starts: mount the device (first user) and give the host path. */
  async activate(name: string, containerId: string): Promise<string> {
    return this.locked(name, async () => {
      const v = this.get(name);
      let users = this.active.get(name);
      if (!users) { users = new Set(); this.active.set(name, users); }
      if (needsMount(v) && !isMountPoint(v.Mountpoint)) await this.mountDevice(v);
      users.add(containerId);
      return v.Mountpoint;
    });
  }

  /** A container stopped: unmount the device once no running container uses the volume. Idempotent. */
  async deactivate(name: string, containerId: string): Promise<void> {
    await this.locked(name, async () => {
      const users = this.active.get(name);
      users?.delete(containerId);
      if (users && users.size) return;
      this.active.delete(name);
      const v = this.volumes.get(name);
      if (v && needsMount(v) && isMountPoint(v.Mountpoint)) await unmount(v.Mountpoint);
    });
  }

  /** At daemon start: a running container still uses these volumes (their mounts survived us). */
  restoreActive(name: string, containerId: string): void {
    if (!this.volumes.has(name)) return;
    let users = this.active.get(name);
    if (!users) { users = new Set(); this.active.set(name, users); }
    users.add(containerId);
  }

  /** After recovery: unmount devices of volumes no running container uses (their users died while we were away). */
  async settle(): Promise<void> {
    for (const v of this.volumes.values()) {
      if (this.active.get(v.Name)?.size) continue;
      if (needsMount(v) && isMountPoint(v.Mountpoint)) {
        await this.locked(v.Name, () => unmount(v.Mountpoint)).catch((e) => log.warn('cannot unmount unused volume', { name: v.Name, error: (e as Error).message }));
      }
    }
  }

  private async mountDevice(v: Volume): Promise<void> {
    const o = v.Options ?? {};
    const args = ['-t', o.type!];
    let device = o.device!;
    const mo = o.o ?? '';
    // moby: a bind device is a host path; resolve it so the mount does not depend on our cwd.
    if (mo.split(',').includes('bind')) {
      device = path.resolve(device);
      if (!exists(device)) throw invalid(`error while mounting volume '${v.Mountpoint}': failed to mount local volume: mount ${device}:${v.Mountpoint}: no such file or directory`);
    }
    if (mo) args.push('-o', mo);
    args.push('--', device, v.Mountpoint);
    try { await run('mount', args); } catch (e) {
      throw internal(`error while mounting volume '${v.Mountpoint}': failed to mount local volume: ${(e as Error).message}`);
    }
  }

  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(name, fn);
  }
}

function needsMount(v: Volume): boolean {
  return !!(v.Options && v.Options.type && v.Options.device);
}

/** "key" or "key=value" against a label map. */
function labelMatch(labels: Record<string, string> | null, spec: string): boolean {
  const eq = spec.indexOf('=');
  const k = eq < 0 ? spec : spec.slice(0, eq);
  if (!labels || !(k in labels)) return false;
  return eq < 0 || labels[k] === spec.slice(eq + 1);
}
