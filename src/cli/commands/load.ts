// barge load: images from a tar archive (docker-archive or OCI layout), from a file or STDIN.
import * as fs from 'node:fs';
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';

/** Opens a file to read, or returns Go's wording of why not ("open x: no such file or directory"). */
export function openInput(file: string): number | string {
  try {
    const fd = fs.openSync(file, 'r');
    if (fs.fstatSync(fd).isDirectory()) { fs.closeSync(fd); return `read ${file}: is a directory`; }
    return fd;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOTDIR: 'not a directory' };
    return `open ${file}: ${why[err.code ?? ''] ?? err.message}`;
  }
}

interface LoadMessage { stream?: string; status?: string; id?: string; progress?: string; error?: string; errorDetail?: { message: string } }

export default async function load(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Load an image from a tar archive or STDIN', aliases: ['barge image load', 'barge load'], flags: [
    { name: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
  ] }, argv, { max: 0 });
  const input = flags.string('input');
  if (!input && process.stdin.isTTY) { cli.err('requested load from stdin, but stdin is empty\n'); return 1; }
  let body: NodeJS.ReadableStream = process.stdin;
  if (input) {
    const fd = openInput(input);
    if (typeof fd === 'string') { cli.err(fd + '\n'); return 1; }
    body = fs.createReadStream('', { fd });
  }
  // Progress bars only for a terminal (docker turns them off otherwise).
  const tty = !!process.stdout.isTTY;
  const quiet = flags.bool('quiet') || !tty;
  const res = await cli.client.raw('POST', '/images/load', { body, query: { quiet }, headers: { 'Content-Type': 'application/x-tar' } });
  const lines: string[] = [];   // ids of the progress lines shown, top to bottom
  for await (const m of jsonLines<LoadMessage>(res)) {
    if (m.error) { cli.err(`${m.errorDetail?.message ?? m.error}\n`); return 1; }
    if (m.stream) cli.out(m.stream);
    else if (m.status && m.id && tty && !quiet) {
      // One line per layer, rewritten in place (docker's jsonmessage display).
      const text = `\x1b[2K\r${m.id}: ${m.status} ${m.progress ?? ''}`;
      let i = lines.indexOf(m.id);
      if (i < 0) { lines.push(m.id); i = lines.length - 1; cli.out('\n'); }
      const up = lines.length - i;
      cli.out(`\x1b[${up}A${text}\x1b[${up}B\r`);
    }
  }
  return 0;
}
