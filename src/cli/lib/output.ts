// Writing an archive (save, export) to stdout or a file, as docker does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Cli } from '../cli.js';

/** docker's command.ValidateOutputPath (as docker save/export word it): null if `file` can be written, else why not. */
export function validateOutputPath(file: string): string | null {
  const dir = path.dirname(path.normalize(file));
  if (dir !== '' && dir !== '.' && !fs.existsSync(dir)) return `invalid output path: stat ${dir}: no such file or directory`;
  let st: fs.Stats | undefined;
  try { st = fs.statSync(file, { throwIfNoEntry: false }); } catch { st = undefined; }
  if (st && !st.isDirectory() && !st.isFile()) return `invalid output path: ${JSON.stringify(file)} must be a directory or a regular file`;
  return null;
}

/**
 * Streams `res` to stdout, or to `file` through a temporary file renamed into place once complete
 * (docker's CopyToFile): an interrupted or failed transfer leaves no half-written archive. Like
 * docker's, the file is private to its owner (mode 0600, that of the temporary file).
 */
export async function writeOutput(res: NodeJS.ReadableStream, file: string): Promise<void> {
  if (!file) { await pipeline(res, process.stdout); return; }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.barge-tmp-${process.pid}`);
  try {
    await pipeline(res, fs.createWriteStream(tmp, { mode: 0o600 }));
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** The checks docker makes before a transfer to `file` (or to stdout); false after printing why. */
export function outputAllowed(cli: Cli, file: string, failure: string): boolean {
  if (!file && process.stdout.isTTY) { cli.err('cowardly refusing to save to a terminal. Use the -o flag or redirect\n'); return false; }
  const bad = file ? validateOutputPath(file) : null;
  if (bad) { cli.err(`${failure}: ${bad}\n`); return false; }
  return true;
}
