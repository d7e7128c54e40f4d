// barge export: a container's filesystem as a tar archive.
import type { Cli } from '../cli.js';
import { writeOutput, outputAllowed } from '../lib/output.js';

export default async function exportCmd(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER', description: "Export a container's filesystem as a tar archive", aliases: ['barge container export', 'barge export'], flags: [
    { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
  ] }, argv, { exact: 1 });
  const out = flags.string('output');
  if (!outputAllowed(cli, out, 'failed to export container')) return 1;
  const res = await cli.client.raw('GET', `/containers/${encodeURIComponent(args[0]!)}/export`);
  await writeOutput(res, out);
  return 0;
}
