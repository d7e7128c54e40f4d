// barge inspect: low-level information on containers, images (and networks).
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';
import { printInspect } from '../lib/inspect.js';

const FLAGS = [
  { name: 'format', short: 'f', type: 'string' as const, description: 'Format output using a custom template' },
  { name: 'size', short: 's', type: 'bool' as const, description: 'Display total file sizes if the type is container' },
  { name: 'type', type: 'string' as const, description: 'Only inspect objects of the given type' },
];

export default async function inspect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NAME|ID [NAME|ID...]', description: 'Return low-level information on barge objects', flags: FLAGS }, argv, { min: 1 });
  const type = flags.string('type');
  if (type && !['container', 'image', 'network'].includes(type)) { cli.err(`"${type}" is not a valid value for --type\n`); return 1; }
  return printInspect(cli, args, flags.string('format'), async (ref) => {
    const tries: Array<[string, () => Promise<unknown>]> = [
      ['container', () => cli.client.get(`/containers/${encodeURIComponent(ref)}/json`, { size: flags.bool('size') })],
      ['image', () => cli.client.get(`/images/${ref}/json`)],
      ['network', () => cli.client.get(`/networks/${encodeURIComponent(ref)}`)],
    ];
    for (const [t, f] of tries) {
      if (type && t !== type) continue;
      try { return await f(); } catch (e) { if (!(e instanceof ApiError && e.status === 404)) throw e; }
    }
    throw new Error(`Error: No such object: ${ref}`);
  });
}
