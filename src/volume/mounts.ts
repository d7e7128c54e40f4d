// A container's mounts: from what a create request asks (HostConfig.Binds, Mounts, VolumesFrom,
// Tmpfs and the image's and Config's Volumes) to the container's *mount points* (kept in its record,
// shown by inspect as Mounts), and at each start from mount points to the runtime's mounts.
//
// Order and precedence follow moby's registerMountPoints: VolumesFrom first, then Binds (replace a
// volumes-from mount at the same destination; two binds at one destination are an error), then
// Mounts (an error at a destination already taken), then one anonymous volume per Config.Volumes path
// no mount covers. Volumes named here are created at container create; their data is copied up from
// the image at the first start that finds them empty (not for nocopy, never for binds).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { invalid, internal } from '../lib/errors.js';
import { mergeTmpfsOptions, type ExtraMount } from '../runtime/spec.js';
import { openInRoot } from '../runtime/rootpath.js';
import { checkDriver, validateVolumeName, type VolumeService } from './service.js';

/** A container's mount point as stored in its record (the first eight fields are Docker's inspect Mounts). */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** barge: copy the image's content at Destination into the volume when it is empty at a start. */
  CopyData?: boolean;
  /** barge: a -v host path that is created when missing (Docker does it for Binds, not for Mounts). */
  CreateSource?: boolean;
  /** barge: tmpfs options (size=, mode=). */
  TmpfsData?: string[];
  /** barge: an anonymous volume this container made (removed by rm -v and --rm). */
  Anonymous?: boolean;
}

/** HostConfig.Mounts entry (the API's Mount object). */
export interface MountSpec {
  Type?: string; Source?: string; Target?: string; ReadOnly?: boolean; Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> }; Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] };
}

const PROPAGATION = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);
const DEFAULT_PROPAGATION = 'rprivate';

function cleanDest(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, '$1');
}

function checkDest(dest: string, type: string): string {
  if (!dest) throw invalid(`invalid mount config for type "${type}": field Target must not be empty`);
  if (!dest.startsWith('/')) throw invalid(`invalid mount config for type "${type}": invalid mount path: '${dest}' mount path must be absolute`);
  const d = cleanDest(dest);
  if (d === '/') throw invalid(`invalid specification: destination can't be '/'`);
  return d;
}

interface ModeInfo { rw?: boolean; propagation?: string; nocopy?: boolean }

/** moby's linuxValidMountMode: ro|rw, z|Z, nocopy, one propagation, consistency; at most one of each. */
function parseMode(mode: string): ModeInfo | null {
  if (mode === '') return {};
  const info: ModeInfo = {};
  let label = 0; let copy = 0; let cons = 0;
  for (const o of mode.split(',')) {
    if (o === 'rw' || o === 'ro') { if (info.rw !== undefined) return null; info.rw = o === 'rw'; }
    else if (o === 'z' || o === 'Z') { if (label++) return null; }
    else if (o === 'nocopy') { if (copy++) return null; info.nocopy = true; }
    else if (PROPAGATION.has(o)) { if (info.propagation) return null; info.propagation = o; }
    else if (o === 'consistent' || o === 'cached' || o === 'delegated') { if (cons++) return null; }
    else return null;
  }
  return info;
}

/** One HostConfig.Binds entry ("src:dst[:mode]", "dst", "dst:mode"), moby's linux parser. */
export function parseBind(raw: string): MountPoint & { volumeSpec?: true } {
  const arr = raw.split(':');
  let src = ''; let dst = ''; let mode = '';
  if (arr.length === 1) dst = arr[0]!;
  else if (arr.length === 2) {
    if (parseMode(arr[1]!) && arr[1] !== '') { dst = arr[0]!; mode = arr[1]!; } else { src = arr[0]!; dst = arr[1]!; }
  } else if (arr.length === 3) { [src, dst, mode] = arr as [string, string, string]; }
  else throw invalid(`invalid volume specification: '${raw}'`);
  const m = parseMode(mode);
  if (!m) throw invalid(`invalid mode: ${mode}`);
  const type = src.startsWith('/') ? 'bind' : 'volume';
  if (!dst) throw invalid(`invalid volume specification: '${raw}'`);
  if (!dst.startsWith('/')) throw invalid(`invalid volume specification: '${raw}': invalid mount config for type "${type}": invalid mount path: '${dst}' mount path must be absolute`);
  const dest = cleanDest(dst);
  if (dest === '/') throw invalid(`invalid volume specification: '${raw}': invalid specification: destination can't be '/'`);
  if (type === 'bind') {
    if (m.nocopy) throw invalid(`invalid mode: ${mode}`);
    return { Type: 'bind', Source: path.posix.normalize(src), Destination: dest, Mode: mode, RW: m.rw ?? true, Propagation: m.propagation ?? DEFAULT_PROPAGATION, CreateSource: true };
  }
  if (m.propagation) throw invalid(`invalid mode: ${mode}`);
  if (src) validateVolumeName(src);
  return { Type: 'volume', Name: src, Source: '', Destination: dest, Driver: 'local', Mode: mode, RW: m.rw ?? true, Propagation: '', CopyData: !m.nocopy };
}

/** One HostConfig.Mounts entry, validated as moby's validateMountConfig. */
export function parseMountSpec(s: MountSpec): MountPoint & { labels?: Record<string, string>; opts?: Record<string, string> } {
  const type = s.Type ?? '';
  const err = (msg: string) => invalid(`invalid mount config for type "${type}": ${msg}`);
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw err('mount type unknown');
  const dest = checkDest(s.Target ?? '', type);
  const rw = !s.ReadOnly;
  if (type === 'bind') {
    if (s.VolumeOptions) throw err('field VolumeOptions must not be specified');
    if (s.TmpfsOptions) throw err('field TmpfsOptions must not be specified');
    const src = s.Source ?? '';
    if (!src) throw err('field Source must not be empty');
    if (!src.startsWith('/')) throw err(`invalid mount path: '${src}' mount path must be absolute`);
    const create = !!s.BindOptions?.CreateMountpoint;
    if (!create && !fs.existsSync(src)) throw err(`bind source path does not exist: ${src}`);
    const prop = s.BindOptions?.Propagation || DEFAULT_PROPAGATION;
    if (!PROPAGATION.has(prop)) throw err(`invalid propagation mode: ${prop}`);
    return { Type: 'bind', Source: src, Destination: dest, Mode: '', RW: rw, Propagation: prop, CreateSource: create };
  }
  if (type === 'volume') {
    if (s.BindOptions) throw err('field BindOptions must not be specified');
    if (s.TmpfsOptions) throw err('field TmpfsOptions must not be specified');
    const name = s.Source ?? '';
    if (!name && s.ReadOnly) throw err('must not set ReadOnly mode when using anonymous volumes');
    if (name) validateVolumeName(name);
    if (s.VolumeOptions?.Subpath) throw err('volume subpaths are not supported by this engine');
    checkDriver(s.VolumeOptions?.DriverConfig?.Name, name);
    return {
      Type: 'volume', Name: name, Source: '', Destination: dest, Driver: 'local', Mode: '', RW: rw, Propagation: '',
      CopyData: !s.VolumeOptions?.NoCopy, labels: s.VolumeOptions?.Labels, opts: s.VolumeOptions?.DriverConfig?.Options,
    };
  }
  if (s.BindOptions) throw err('field BindOptions must not be specified');
  if (s.VolumeOptions) throw err('field VolumeOptions must not be specified');
  if (s.Source) throw err('field Source must not be specified');
  return { Type: 'tmpfs', Source: '', Destination: dest, Mode: '', RW: rw, Propagation: '', TmpfsData: tmpfsData(s.TmpfsOptions, err) };
}

/** moby ConvertTmpfsOptions: size with the largest exact suffix, mode in octal. */
function tmpfsData(o: MountSpec['TmpfsOptions'], err: (m: string) => Error): string[] {
  const out: string[] = [];
  const size = o?.SizeBytes ?? 0;
  if (size < 0) throw err(`invalid tmpfs size: ${size}`);
  if (size) {
    let v = size; let suffix = '';
    for (const [s, d] of [['g', 1 << 30], ['m', 1 << 20], ['k', 1 << 10]] as const) if (size % d === 0) { v = size / d; suffix = s; break; }
    out.push(`size=${v}${suffix}`);
  }
  if (o?.Mode) out.push(`mode=${(o.Mode & 0o7777).toString(8)}`);
  return out;
}

export interface RegisterInput {
  binds?: string[] | null;
  mounts?: MountSpec[] | null;
  volumesFrom?: string[] | null;
  /** Config.Volumes merged with the image's VOLUMEs. */
  volumes?: Record<string, object> | null;
  tmpfs?: Record<string, string> | null;
  volumeDriver?: string;
  /** The mount points of another container (for VolumesFrom); throws notFound. */
  mountsOf: (ref: string) => MountPoint[];
}

/**
 * The mount points of a new container, creating the volumes it names (checks everything first, so a
 * refused request creates nothing). Throws Docker's errors.
 */
export function registerMountPoints(volumes: VolumeService, i: RegisterInput): MountPoint[] {
  checkDriver(i.volumeDriver, '');
  const byDest = new Map<string, MountPoint & { labels?: Record<string, string>; opts?: Record<string, string> }>();
  for (const spec of i.volumesFrom ?? []) {
    const colon = spec.lastIndexOf(':');
    let ref = spec; let mode = '';
    if (colon > 0) { ref = spec.slice(0, colon); mode = spec.slice(colon + 1); }
    if (mode && mode !== 'ro' && mode !== 'rw') throw invalid(`invalid mode: ${mode}`);
    for (const mp of i.mountsOf(ref)) {
      if (mp.Type === 'tmpfs') continue;
      byDest.set(mp.Destination, { ...mp, RW: mode ? mode === 'rw' : mp.RW, Mode: mode || mp.Mode, Anonymous: false, CopyData: false });
    }
  }
  const fromBinds = new Set<string>();
  for (const raw of i.binds ?? []) {
    const mp = parseBind(raw);
    if (fromBinds.has(mp.Destination)) throw invalid(`Duplicate mount point: ${mp.Destination}`);
    fromBinds.add(mp.Destination);
    byDest.set(mp.Destination, mp);
  }
  for (const s of i.mounts ?? []) {
    const mp = parseMountSpec(s);
    if (fromBinds.has(mp.Destination)) throw invalid(`Duplicate mount point: ${mp.Destination}`);
    fromBinds.add(mp.Destination);
    byDest.set(mp.Destination, mp);
  }
  const tmpfs = new Set(Object.keys(i.tmpfs ?? {}).map(cleanDest));
  for (const d of tmpfs) if (fromBinds.has(d)) throw invalid(`Duplicate mount point: ${d}`);
  for (const key of Object.keys(i.volumes ?? {})) {
    // The CLI leaves "-v /path:ro" (no source) here as it was written.
    const mp = parseBind(key);
    if (mp.Type !== 'volume' || mp.Name) continue;
    if (byDest.has(mp.Destination) || tmpfs.has(mp.Destination)) continue;
    byDest.set(mp.Destination, mp);
  }
  // Everything is valid: create the volumes (anonymous ones get their random name now).
  const out: MountPoint[] = [];
  for (const mp of byDest.values()) {
    const { labels, opts, ...point } = mp as MountPoint & { labels?: Record<string, string>; opts?: Record<string, string>; volumeSpec?: true };
    if (point.Type === 'volume') {
      const anonymous = !point.Name;
      const v = volumes.create({ Name: point.Name || undefined, Labels: labels, DriverOpts: opts });
      point.Name = v.Name;
      point.Source = v.Mountpoint;
      point.Driver = v.Driver;
      if (anonymous) point.Anonymous = true;
    }
    out.push(point);
  }
  return out.sort((a, b) => a.Destination.localeCompare(b.Destination));
}

/** Docker's inspect `Mounts` (and /containers/json Mounts) for mount points. */
export function publicMounts(mps: readonly MountPoint[]): Record<string, unknown>[] {
  return mps.map((m) => {
    const o: Record<string, unknown> = { Type: m.Type };
    if (m.Type === 'volume') o.Name = m.Name;
    o.Source = m.Source;
    o.Destination = m.Destination;
    if (m.Type === 'volume') o.Driver = m.Driver ?? 'local';
    o.Mode = m.Mode;
    o.RW = m.RW;
    o.Propagation = m.Propagation;
    return o;
  });
}

/** The volume names a container refers to. */
export function volumeNames(mps: readonly MountPoint[] | undefined): string[] {
  return (mps ?? []).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name!);
}

/**
 * At a start: activate the container's volumes (mounting devices), copy image content into empty
 * volumes, create missing -v host directories, and give the runtime's mounts. On failure, whatever
 * was activated is deactivated again.
 */
export async function setupMounts(volumes: VolumeService, containerId: string, mps: readonly MountPoint[], rootfs: string): Promise<ExtraMount[]> {
  const out: ExtraMount[] = [];
  const activated: string[] = [];
  try {
    for (const m of mps) {
      if (m.Type === 'tmpfs') {
        out.push({ destination: m.Destination, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', DEFAULT_PROPAGATION, ...(m.TmpfsData ?? []), ...(m.RW ? [] : ['ro'])]) });
        continue;
      }
      let source = m.Source;
      if (m.Type === 'volume') {
        source = await volumes.activate(m.Name!, containerId);
        activated.push(m.Name!);
        if (m.CopyData) await copyUp(rootfs, m.Destination, source);
      } else if (!fs.existsSync(source)) {
        if (!m.CreateSource) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
        fs.mkdirSync(source, { recursive: true, mode: 0o755 });
      }
      out.push({ destination: m.Destination, type: 'bind', source, options: ['rbind', m.Propagation || DEFAULT_PROPAGATION, ...(m.RW ? [] : ['ro'])] });
    }
  } catch (e) {
    for (const n of activated) await volumes.deactivate(n, containerId).catch(() => undefined);
    throw e;
  }
  return out;
}

/** At a stop: the container no longer uses its volumes. */
export async function releaseMounts(volumes: VolumeService, containerId: string, mps: readonly MountPoint[] | undefined): Promise<void> {
  for (const n of new Set(volumeNames(mps))) await volumes.deactivate(n, containerId).catch(() => undefined);
}

/**
 * Docker's copy-up: the image's files at `dest` into the volume at `volDir`, if the volume is empty.
 * `dest` is resolved inside the rootfs as if chrooted (a symlink in the image cannot lead to the host);
 * cp reads through the resolved directory's descriptor and copies links as links.
 */
async function copyUp(rootfs: string, dest: string, volDir: string): Promise<void> {
  if (fs.readdirSync(volDir).length) return;
  let fd: number;
  try { fd = openInRoot(rootfs, dest); } catch { return; }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isDirectory()) return;
    const src = `/proc/${process.pid}/fd/${fd}`;
    if (fs.readdirSync(src).length) {
      await new Promise<void>((resolve, reject) => {
        execFile('cp', ['-a', '--', `${src}/.`, `${volDir}/`], (err, _o, stderr) => err ? reject(internal(`copying the image's ${dest} into its volume: ${String(stderr).trim() || err.message}`)) : resolve());
      });
    }
    // The volume takes the image directory's owner and mode, as Docker does.
    fs.chownSync(volDir, st.uid, st.gid);
    fs.chmodSync(volDir, st.mode & 0o7777);
  } finally {
    fs.closeSync(fd);
  }
}

/** What the container service needs of volumes (container/deps.ts VolumeProvider), over a VolumeService. */
export function volumeProvider(volumes: VolumeService) {
  return {
    register: (i: RegisterInput) => registerMountPoints(volumes, i),
    setup: (cid: string, mps: readonly MountPoint[], rootfs: string) => setupMounts(volumes, cid, mps, rootfs),
    release: (cid: string, mps: readonly MountPoint[] | undefined) => releaseMounts(volumes, cid, mps),
    restore: (cid: string, mps: readonly MountPoint[] | undefined) => { for (const n of volumeNames(mps)) volumes.restoreActive(n, cid); },
    /** rm -v: the anonymous volumes the container made, unless another container uses them too. */
    removeAnonymous: async (mps: readonly MountPoint[] | undefined) => {
      for (const m of mps ?? []) {
        if (m.Type === 'volume' && m.Anonymous && m.Name) await volumes.remove(m.Name, { force: true }).catch(() => undefined);
      }
    },
  };
}
