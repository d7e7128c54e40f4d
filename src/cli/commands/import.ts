// barge import: a filesystem image from a tarball (file, URL-less local path, or - for STDIN).
import * as fs from 'node:fs';
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';

export default async function importCmd(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]', description: 'Import the contents from a tarball to create a filesystem image', flags: [
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ] }, argv, { min: 1, max: 2 });
  const src = args[0]!;
  if (/^https?:\/\//.test(src)) { cli.err('barge import: importing from a URL is not supported: download the file and import it\n'); return 1; }
  const body = src === '-' ? process.stdin : fs.createReadStream(src);
  const ref = args[1] ?? '';
  const at = ref.lastIndexOf(':');
  const [repo, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, ''];
  const q = new URLSearchParams({ fromSrc: '-' });
  if (repo) q.set('repo', repo);
  if (tag) q.set('tag', tag);
  if (flags.string('message')) q.set('message', flags.string('message'));
  for (const c of flags.list('change')) q.append('changes', c);
  const res = await cli.client.raw('POST', `/images/create?${q.toString()}`, { body, headers: { 'Content-Type': 'application/x-tar' } });
  for await (const m of jsonLines<{ status?: string; error?: string }>(res)) {
    if (m.error) { cli.err(`${m.error}\n`); return 1; }
    if (m.status) cli.out(m.status + '\n');
  }
  return 0;
}
