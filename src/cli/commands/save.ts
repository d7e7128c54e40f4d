// barge save: images to a tar archive (docker-archive, with an OCI layout inside).
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Cli } from '../cli.js';

export default async function save(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [IMAGE...]', description: 'Save one or more images to a tar archive (streamed to STDOUT by default)', flags: [
    { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
    { name: 'format', type: 'string', description: 'Archive format: "docker" (default) or "oci"' },
  ] }, argv, { min: 1 });
  const out = flags.string('output');
  if (!out && process.stdout.isTTY) { cli.err('cowardly refusing to save to a terminal. Use the -o flag or redirect\n'); return 1; }
  const q = new URLSearchParams();
  for (const a of args) q.append('names', a);
  if (flags.string('format')) q.set('format', flags.string('format'));
  const res = await cli.client.raw('GET', `/images/get?${q.toString()}`);
  if (out) {
    const tmp = `${out}.tmp-${process.pid}`;
    await pipeline(res, fs.createWriteStream(tmp));
    fs.renameSync(tmp, out);
  } else {
    await pipeline(res, process.stdout);
  }
  return 0;
}
