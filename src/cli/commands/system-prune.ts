// barge system prune: remove stopped containers, unused networks, dangling images (with -a every
// unused image), as docker system prune does; each part as the matching `prune` command would.
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';
import { humanSizeWithPrecision } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';
import { confirm } from './container-prune.js';
import { pruneImages } from './image-prune.js';

/** A prune endpoint this daemon may not have yet (networks, volumes): null when it has no such route. */
async function optionalPrune<T>(cli: Cli, p: string, filters: string[]): Promise<T | null> {
  try { return await cli.client.post<T>(p, undefined, { filters: filterArgs(filters) }); } catch (e) {
    if (e instanceof ApiError && (e.status === 405 || (e.status === 404 && !/^No such/.test(e.message)))) return null;
    throw e;
  }
}

export default async function systemPrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove unused data', flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "label=<key>=<value>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
  ] }, argv, { max: 0 });
  const all = flags.bool('all');
  const volumes = flags.bool('volumes');
  const text = 'WARNING! This will remove:\n  - all stopped containers\n' +
    (volumes ? '  - all anonymous volumes not used by at least one container\n' : '') +
    '  - all networks not used by at least one container\n' +
    (all ? '  - all images without at least one container associated to them\n  - all build cache\n' : '  - all dangling images\n  - unused build cache\n') +
    '\nAre you sure you want to continue?';
  if (!flags.bool('force') && !(await confirm(cli, text))) return 0;
  const filters = flags.list('filter');
  let reclaimed = 0;

  const c = await cli.client.post<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('/containers/prune', undefined, { filters: filterArgs(filters) });
  if (c.ContainersDeleted?.length) cli.out(`Deleted Containers:\n${c.ContainersDeleted.join('\n')}\n\n`);
  reclaimed += c.SpaceReclaimed ?? 0;

  if (volumes) {
    const v = await optionalPrune<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(cli, '/volumes/prune', filters);
    if (v?.VolumesDeleted?.length) cli.out(`Deleted Volumes:\n${v.VolumesDeleted.join('\n')}\n\n`);
    reclaimed += v?.SpaceReclaimed ?? 0;
  }

  const n = await optionalPrune<{ NetworksDeleted: string[] | null }>(cli, '/networks/prune', filters);
  if (n?.NetworksDeleted?.length) cli.out(`Deleted Networks:\n${n.NetworksDeleted.join('\n')}\n\n`);

  const i = await pruneImages(cli, all, filters);
  if (i.output) cli.out(i.output + '\n');
  reclaimed += i.reclaimed;

  const b = await optionalPrune<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>(cli, '/build/prune', filters);
  if (b?.CachesDeleted?.length) cli.out(`Deleted build cache objects:\n${b.CachesDeleted.map((id) => id.replace(/^sha256:/, '')).join('\n')}\n\n`);
  reclaimed += b?.SpaceReclaimed ?? 0;

  cli.out(`Total reclaimed space: ${humanSizeWithPrecision(reclaimed, 4)}\n`);
  return 0;
}
