// barge image prune: remove unused images.
import type { Cli } from '../cli.js';
import { humanSize } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';
import { confirm } from './container-prune.js';

export default async function imagePrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove unused images', flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ] }, argv, { max: 0 });
  const all = flags.bool('all');
  const warning = all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.';
  if (!flags.bool('force') && !(await confirm(cli, `${warning}\nAre you sure you want to continue?`))) return 0;
  const filters = [...flags.list('filter')];
  if (!all) filters.push('dangling=true');
  const r = await cli.client.post<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }>('/images/prune', undefined, { filters: filterArgs(filters) });
  if (r.ImagesDeleted?.length) {
    cli.out('Deleted Images:\n');
    for (const e of r.ImagesDeleted) cli.out(e.Untagged ? `untagged: ${e.Untagged}\n` : `deleted: ${e.Deleted}\n`);
    cli.out('\n');
  }
  cli.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
  return 0;
}
