// Overlay mounts, through bargehelper (mount(2) with no spawn; mount(8) without it). The mount runs
// with the snapshots root as working directory, so lowerdir entries can be short relative paths
// ("12/fs:7/fs"): the kernel resolves them against the caller's cwd, and the whole option string
// must fit in one page.
import * as fs from 'node:fs';
import { mountFs, unmountFs } from '../host/helper.js';

/** Largest option string the kernel takes (one page, less the room mount(8) adds when it is used). */
export const MAX_MOUNT_OPTIONS = 4000;

export async function mountOverlay(cwd: string, options: string, target: string): Promise<void> {
  await mountFs({ cwd, source: 'overlay', target, fstype: 'overlay', data: options });
}

/** Unmounts `target`; a target that is not mounted is fine. Falls back to a lazy unmount when busy. */
export async function unmount(target: string): Promise<void> {
  await unmountFs(target);
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo, octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try { text = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return []; }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(dir.endsWith('/') ? dir : dir + '/')) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Whether `dir` is itself a mount point. */
export function isMountPoint(dir: string): boolean {
  return mountsUnder(dir).includes(dir);
}
