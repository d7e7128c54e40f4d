// barge image inspect: low-level information on images.
import type { Cli } from '../cli.js';
import { printInspect } from '../lib/inspect.js';

export default async function imageInspect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [IMAGE...]', description: 'Display detailed information on one or more images', flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ] }, argv, { min: 1 });
  return printInspect(cli, args, flags.string('format'), (ref) => cli.client.get(`/images/${ref}/json`));
}
