// barge load: images from a tar archive (docker-archive or OCI layout).
import * as fs from 'node:fs';
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';

export default async function load(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Load an image from a tar archive or STDIN', flags: [
    { name: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
  ] }, argv, { max: 0 });
  const input = flags.string('input');
  if (!input && process.stdin.isTTY) { cli.err('requested load from stdin, but stdin is empty\n'); return 1; }
  const body = input ? fs.createReadStream(input) : process.stdin;
  const res = await cli.client.raw('POST', '/images/load', { body, query: { quiet: flags.bool('quiet') }, headers: { 'Content-Type': 'application/x-tar' } });
  for await (const m of jsonLines<{ stream?: string; error?: string; errorDetail?: { message: string } }>(res)) {
    if (m.error) { cli.err(`${m.error}\n`); return 1; }
    if (m.stream && !flags.bool('quiet')) cli.out(m.stream);
  }
  return 0;
}
