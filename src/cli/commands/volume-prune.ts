// barge volume prune: remove unused volumes (anonymous ones; all with -a).
import type { Cli } from '../cli.js';
import { filterArgs } from '../lib/filters.js';
import { humanSizeWithPrecision } from '../lib/format.js';
import { confirm } from './container-prune.js';

export default async function volumePrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove unused local volumes', flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused volumes, not just anonymous ones' },
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "label=<label>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ] }, argv, { max: 0 });
  const warning = flags.bool('all') ? 'WARNING! This will remove all local volumes not used by at least one container.' : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
  if (!flags.bool('force') && !(await confirm(cli, `${warning}\nAre you sure you want to continue?`))) return 0;
  const filters = [...flags.list('filter'), ...(flags.bool('all') ? ['all=true'] : [])];
  const r = await cli.client.post<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('/volumes/prune', undefined, { filters: filterArgs(filters) });
  if (r.VolumesDeleted?.length) cli.out(`Deleted Volumes:\n${r.VolumesDeleted.join('\n')}\n\n`);
  cli.out(`Total reclaimed space: ${humanSizeWithPrecision(r.SpaceReclaimed ?? 0, 4)}\n`);
  return 0;
}
