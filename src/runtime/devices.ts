// Device nodes for containers: --device mappings (HostConfig.Devices), --device-cgroup-rule, and the host's
// whole /dev for --privileged. These read the host's /dev, so buildSpec() takes a lookup function for them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../lib/errors.js';
import type { OciDevice, OciDeviceCgroup } from './oci.js';

function majorMinor(rdev: bigint): { major: number; minor: number } {
  // glibc's gnu_dev_major/minor encoding.
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** The OCI device for one device node, or undefined if `p` is not a block or character device. */
export function deviceAt(p: string, pathInContainer = p): (OciDevice & { type: 'c' | 'b'; major: number; minor: number }) | undefined {
  let st: fs.BigIntStats;
  try { st = fs.statSync(p, { bigint: true }); } catch { return undefined; }
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  const { major, minor } = majorMinor(st.rdev);
  return { path: pathInContainer, type, major, minor, fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/**
 * Docker's DevicesFromPath: a device node, or every device node under a directory, mapped into the
 * container with cgroup permissions (`rwm` subset). Errors read like Docker's.
 */
export function devicesFromPath(pathOnHost: string, pathInContainer: string, permissions: string): { devices: OciDevice[]; rules: OciDeviceCgroup[] } {
  if (!/^[rwm]{1,3}$/.test(permissions || 'rwm')) throw invalid(`invalid device cgroup permissions: ${permissions}`);
  const access = permissions || 'rwm';
  const resolved = (() => { try { return fs.realpathSync(pathOnHost); } catch { return pathOnHost; } })();
  const d = deviceAt(resolved, pathInContainer || pathOnHost);
  if (d) return { devices: [d], rules: [{ allow: true, type: d.type, major: d.major, minor: d.minor, access }] };
  let st: fs.Stats;
  try { st = fs.statSync(resolved); } catch {
    throw invalid(`error gathering device information while adding custom device "${pathOnHost}": no such file or directory`);
  }
  if (!st.isDirectory()) throw invalid(`error gathering device information while adding custom device "${pathOnHost}": not a device node`);
  const devices: OciDevice[] = [];
  const rules: OciDeviceCgroup[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) { walk(full); continue; }
      const dev = deviceAt(full, path.join(pathInContainer || pathOnHost, path.relative(resolved, full)));
      if (dev) { devices.push(dev); rules.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access }); }
    }
  };
  walk(resolved);
  return { devices, rules };
}

const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Every device node of the host's /dev, for --privileged (as containerd's HostDevices). */
export function listHostDevices(root = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) { if (!SKIP_DIRS.has(e.name)) walk(full); continue; }
      if (e.name === 'console' || e.isSymbolicLink()) continue;
      if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
      const d = deviceAt(full);
      if (d) out.push(d);
    }
  };
  walk(root);
  return out;
}

const RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** Parse --device-cgroup-rule values ("c 13:* rwm") into cgroup device rules (Docker's format and errors). */
export function parseDeviceCgroupRules(rules: readonly string[] | null | undefined): OciDeviceCgroup[] {
  const out: OciDeviceCgroup[] = [];
  for (const r of rules ?? []) {
    const m = RULE.exec(r);
    if (!m) throw invalid(`invalid device cgroup rule format: '${r}'`);
    out.push({
      allow: true, type: m[1] as 'a' | 'b' | 'c',
      major: m[2] === '*' ? -1 : Number(m[2]), minor: m[3] === '*' ? -1 : Number(m[3]), access: m[4]!,
    });
  }
  return out;
}
