// barge rmi (image rm): remove images.
import type { Cli } from '../cli.js';

const FLAGS = [
  { name: 'force', short: 'f', type: 'bool' as const, description: 'Force removal of the image' },
  { name: 'no-prune', type: 'bool' as const, description: 'Do not delete untagged parents' },
];

export default async function rmi(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [IMAGE...]', description: 'Remove one or more images', flags: FLAGS }, argv, { min: 1 });
  return cli.forEach(args, async (ref) => {
    const r = await cli.client.delete<Array<{ Untagged?: string; Deleted?: string }>>(`/images/${ref}`, { force: flags.bool('force'), noprune: flags.bool('no-prune') });
    for (const e of r ?? []) cli.out(e.Untagged ? `Untagged: ${e.Untagged}\n` : `Deleted: ${e.Deleted}\n`);
  }, false);
}
