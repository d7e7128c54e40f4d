// barge network inspect: low-level information on networks.
import type { Cli } from '../cli.js';
import { printInspect } from '../lib/inspect.js';

export default async function networkInspect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NETWORK [NETWORK...]', description: 'Display detailed information on one or more networks', flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ] }, argv, { min: 1 });
  return printInspect(cli, args, flags.string('format'), (ref) => cli.client.get(`/networks/${encodeURIComponent(ref)}`));
}
