// mount(8)/umount(8) for overlay filesystems. The mount runs as a child process whose working
// directory is the snapshots root, so lowerdir entries can be short relative paths ("12/fs:7/fs"):
// the kernel resolves them against the caller's cwd, and the whole option string must fit in one page.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { internal } from '../lib/errors.js';

function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err) reject(Object.assign(internal(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`), { stderr }));
      else resolve();
    });
  });
}

/** Largest option string the kernel takes (one page, less the room mount(8) adds). */
export const MAX_MOUNT_OPTIONS = 4000;

export async function mountOverlay(cwd: string, options: string, target: string): Promise<void> {
  await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], cwd);
}

/** Unmounts `target`; a target that is not mounted is fine. Falls back to a lazy unmount when busy. */
export async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch (e) {
    const msg = String((e as { stderr?: string }).stderr ?? (e as Error).message);
    if (/not mounted|no mount point specified|not found/i.test(msg)) return;
    if (/busy/i.test(msg)) { await run('umount', ['-l', target]); return; }
    throw e;
  }
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
