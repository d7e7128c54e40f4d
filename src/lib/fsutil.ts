// Small filesystem helpers. Every metadata write in barge goes through writeFileAtomic so that a
// kill -9 at any moment leaves either the old or the new content, never a torn file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export function tmpName(target: string): string {
  return path.join(path.dirname(target), `.tmp-${path.basename(target)}-${randomBytes(4).toString('hex')}`);
}

/**
 * Write-to-temp, fsync, rename, fsync the directory. durable=false skips the fsyncs: still never
 * torn, but may be lost in a power cut — for files regenerated at every start.
 */
export function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644, durable = true): void {
  const tmp = tmpName(target);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (durable) fsyncDir(path.dirname(target));
}

export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* best effort: some filesystems refuse fsync on directories */ }
}

/** fsyncDir by the thread pool (the event loop goes on meanwhile). */
export function fsyncDirAsync(dir: string): Promise<void> {
  return new Promise((resolve) => fs.open(dir, 'r', (e, fd) => {
    if (e) { resolve(); return; }
    fs.fsync(fd, () => fs.close(fd, () => resolve()));   // best effort, as fsyncDir
  }));
}

/** durable=false: see writeFileAtomic; for records of state that does not outlive a power cut anyway. */
export function writeJsonAtomic(target: string, value: unknown, mode = 0o644, durable = true): void {
  writeFileAtomic(target, JSON.stringify(value, null, 1) + '\n', mode, durable);
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

export function readJsonOr<T>(file: string, fallback: T): T {
  try { return readJson<T>(file); } catch { return fallback; }
}

export function exists(p: string): boolean {
  try { fs.lstatSync(p); return true; } catch { return false; }
}

/** Remove leftovers of interrupted atomic writes (".tmp-*") in a directory. */
export function cleanTempFiles(dir: string): number {
  let n = 0;
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return 0; }
  for (const name of names) {
    if (name.startsWith('.tmp-')) { fs.rmSync(path.join(dir, name), { recursive: true, force: true }); n++; }
  }
  return n;
}
