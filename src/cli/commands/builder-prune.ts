// barge builder prune: removes the build cache (its entries and the intermediate images only it kept).
import type { Cli } from '../cli.js';
import { humanSizeWithPrecision } from '../lib/format.js';
import { confirm } from './container-prune.js';
import { filterArgs } from '../lib/filters.js';

export default async function builderPrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove build cache', flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused build cache, not just dangling ones' },
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "until=24h")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'keep-storage', type: 'string', description: 'Amount of disk space to keep for cache' },
  ] }, argv, { max: 0 });
  const warning = flags.bool('all') ? 'WARNING! This will remove all build cache.' : 'WARNING! This will remove all dangling build cache.';
  if (!flags.bool('force') && !(await confirm(cli, `${warning}\nAre you sure you want to continue?`))) return 0;
  const r = await cli.client.post<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>('/build/prune', undefined, { all: flags.bool('all') || undefined, filters: filterArgs(flags.list('filter')) });
  if (r.CachesDeleted?.length) cli.out(`Deleted build cache objects:\n${r.CachesDeleted.map((id) => id.replace(/^sha256:/, '')).join('\n')}\n\n`);
  cli.out(`Total reclaimed space: ${humanSizeWithPrecision(r.SpaceReclaimed ?? 0, 4)}\n`);
  return 0;
}
