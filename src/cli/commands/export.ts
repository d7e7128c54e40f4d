// barge export: a container's filesystem as a tar archive.
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Cli } from '../cli.js';

export default async function exportCmd(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER', description: "Export a container's filesystem as a tar archive", flags: [
    { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
  ] }, argv, { exact: 1 });
  const out = flags.string('output');
  if (!out && process.stdout.isTTY) { cli.err('cowardly refusing to save to a terminal. Use the -o flag or redirect\n'); return 1; }
  const res = await cli.client.raw('GET', `/containers/${encodeURIComponent(args[0]!)}/export`);
  await pipeline(res, out ? fs.createWriteStream(out) : process.stdout);
  return 0;
}
