// barge import: a filesystem image from a tarball (a local file, or - for STDIN).
import * as fs from 'node:fs';
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';
import { parseNormalizedNamed } from '../../image/reference.js';
import { openInput } from './load.js';

export default async function importCmd(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]', description: 'Import the contents from a tarball to create a filesystem image', aliases: ['barge image import', 'barge import'], flags: [
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ] }, argv, { min: 1, max: 2 });
  const src = args[0]!;
  if (/^https?:\/\//.test(src)) { cli.err('barge import: importing from a URL is not supported: download the file and import it\n'); return 1; }
  const ref = args[1] ?? '';
  let body: NodeJS.ReadableStream;
  if (src === '-') body = process.stdin;
  else {
    const opened = openInput(src);
    if (typeof opened === 'string') { cli.err(opened + '\n'); return 1; }
    body = fs.createReadStream('', { fd: opened });
  }
  // Checked here, as docker's client does, before anything is sent.
  if (ref) { try { parseNormalizedNamed(ref); } catch (e) { cli.err(`${(e as Error).message}\n`); return 1; } }
  const q = new URLSearchParams({ fromSrc: '-' });
  if (ref) q.set('repo', ref);
  if (flags.string('message')) q.set('message', flags.string('message'));
  if (flags.string('platform')) q.set('platform', flags.string('platform'));
  for (const c of flags.list('change')) q.append('changes', c);
  const res = await cli.client.raw('POST', `/images/create?${q.toString()}`, { body, headers: { 'Content-Type': 'application/x-tar' } });
  for await (const m of jsonLines<{ status?: string; error?: string }>(res)) {
    if (m.error) { cli.err(`${m.error}\n`); return 1; }
    if (m.status) cli.out(m.status + '\n');
  }
  return 0;
}
