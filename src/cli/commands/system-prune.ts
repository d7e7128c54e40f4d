// barge system prune: remove stopped containers, unused networks, dangling images (and with -a unused ones).
import type { Cli } from '../cli.js';
import { humanSize } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';
import { confirm } from './container-prune.js';

export default async function systemPrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove unused data', flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "label=<key>=<value>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
  ] }, argv, { max: 0 });
  const all = flags.bool('all');
  const text = `WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n${all ? '  - all images without at least one container associated to them\n' : '  - all dangling images\n'}  - unused build cache\n\nAre you sure you want to continue?`;
  if (!flags.bool('force') && !(await confirm(cli, text))) return 0;
  const filters = flags.list('filter');
  let reclaimed = 0;
  const c = await cli.client.post<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('/containers/prune', undefined, { filters: filterArgs(filters) });
  if (c.ContainersDeleted?.length) cli.out(`Deleted Containers:\n${c.ContainersDeleted.join('\n')}\n\n`);
  reclaimed += c.SpaceReclaimed ?? 0;
  const imgFilters = all ? filters : [...filters, 'dangling=true'];
  const i = await cli.client.post<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }>('/images/prune', undefined, { filters: filterArgs(imgFilters) });
  if (i.ImagesDeleted?.length) {
    cli.out('Deleted Images:\n');
    for (const e of i.ImagesDeleted) cli.out(e.Untagged ? `untagged: ${e.Untagged}\n` : `deleted: ${e.Deleted}\n`);
    cli.out('\n');
  }
  reclaimed += i.SpaceReclaimed ?? 0;
  cli.out(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
  return 0;
}
