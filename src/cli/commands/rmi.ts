// barge rmi (image rm): remove images; prints what was untagged and deleted, as docker does. Errors
// come after, together; with -f, images that do not exist are reported but do not fail the command.
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';

const FLAGS = [
  { name: 'force', short: 'f', type: 'bool' as const, description: 'Force removal of the image' },
  { name: 'no-prune', type: 'bool' as const, description: 'Do not delete untagged parents' },
];

export default async function rmi(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [IMAGE...]', description: 'Remove one or more images', aliases: ['barge image rm', 'barge image remove', 'barge rmi'], flags: FLAGS }, argv, { min: 1 });
  const force = flags.bool('force');
  const errors: string[] = [];
  let fatal = false;
  for (const ref of args) {
    try {
      const r = await cli.client.delete<Array<{ Untagged?: string; Deleted?: string }>>(`/images/${ref}`, { force, noprune: flags.bool('no-prune') });
      for (const e of r ?? []) {
        if (e.Untagged) cli.out(`Untagged: ${e.Untagged}\n`);
        if (e.Deleted) cli.out(`Deleted: ${e.Deleted}\n`);
      }
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) fatal = true;
      errors.push(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
    }
  }
  if (errors.length) cli.err(errors.join('\n') + '\n');
  return errors.length && (!force || fatal) ? 1 : 0;
}
