// barge network prune: remove the networks no container uses.
import type { Cli } from '../cli.js';
import { filterArgs } from '../lib/filters.js';
import { confirm } from './container-prune.js';

export default async function networkPrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove all unused networks', flags: [
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ] }, argv, { max: 0 });
  if (!flags.bool('force') && !(await confirm(cli, 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?'))) return 0;
  const r = await cli.client.post<{ NetworksDeleted: string[] | null }>('/networks/prune', undefined, { filters: filterArgs(flags.list('filter')) });
  if (r.NetworksDeleted?.length) cli.out(`Deleted Networks:\n${r.NetworksDeleted.join('\n')}\n`);
  return 0;
}
