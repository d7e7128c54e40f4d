// barge container inspect: low-level information on containers.
import type { Cli } from '../cli.js';
import { printInspect } from '../lib/inspect.js';

export default async function containerInspect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER [CONTAINER...]', description: 'Display detailed information on one or more containers', flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
    { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' },
  ] }, argv, { min: 1 });
  return printInspect(cli, args, flags.string('format'), (ref) => cli.client.get(`/containers/${encodeURIComponent(ref)}/json`, { size: flags.bool('size') }));
}
