// barge volume inspect: detailed information on volumes.
import type { Cli } from '../cli.js';
import { printInspect } from '../lib/inspect.js';

export default async function volumeInspect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] VOLUME [VOLUME...]', description: 'Display detailed information on one or more volumes', flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ] }, argv, { min: 1 });
  return printInspect(cli, args, flags.string('format'), (ref) => cli.client.get(`/volumes/${encodeURIComponent(ref)}`));
}
