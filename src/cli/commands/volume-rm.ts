// barge volume rm: remove volumes.
import type { Cli } from '../cli.js';

export default async function volumeRm(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] VOLUME [VOLUME...]', description: 'Remove one or more volumes. You cannot remove a volume that is in use by a container.', aliases: ['barge volume rm', 'barge volume remove'], flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force the removal of one or more volumes' },
  ] }, argv, { min: 1 });
  return cli.forEach(args, async (v) => {
    await cli.client.delete(`/volumes/${encodeURIComponent(v)}`, { force: flags.bool('force') });
  });
}
