import * as fs from 'node:fs';
import * as path from 'node:path';

/** Resolve a program name against PATH (plus the sbin directories root usually has). */
export function findExecutable(name: string): string {
  if (name.includes('/')) {
    if (!isExecutable(name)) throw new Error(`${name}: not found or not executable`);
    return path.resolve(name);
  }
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    if (isExecutable(p)) return p;
  }
  throw new Error(`${name} not found in PATH: install it (Debian: apt-get install ${name}) or pass its path`);
}

function isExecutable(p: string): boolean {
  try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; }
}
