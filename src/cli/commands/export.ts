// barge export: a container's filesystem as a tar archive.
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

export default async function exportCmd(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER', description: "Export a container's filesystem as a tar archive", aliases: ['barge container export', 'barge export'], flags: [
    { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
  ] }, argv, { exact: 1 });
  const out = flags.string('output');
  if (!out && process.stdout.isTTY) { cli.err('cowardly refusing to save to a terminal. Use the -o flag or redirect\n'); return 1; }
  const bad = out ? validateOutputPath(out) : null;
  if (bad) { cli.err(`failed to export container: ${bad}\n`); return 1; }
  const res = await cli.client.raw('GET', `/containers/${encodeURIComponent(args[0]!)}/export`);
  await writeOutput(res, out);
  return 0;
}
