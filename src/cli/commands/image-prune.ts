// barge image prune: remove dangling images, or with -a every image no container uses.
import type { Cli } from '../cli.js';
import { humanSizeWithPrecision } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';
import { confirm } from './container-prune.js';

export interface ImagePruneReport { ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }

/** POST /images/prune with docker's filters: dangling=true, or dangling=false for --all. */
export async function pruneImages(cli: Cli, all: boolean, filters: string[]): Promise<{ output: string; reclaimed: number }> {
  const f = filters.filter((s) => !/^dangling=/i.test(s));
  f.push(`dangling=${all ? 'false' : 'true'}`);
  const r = await cli.client.post<ImagePruneReport>('/images/prune', undefined, { filters: filterArgs(f) });
  if (!r.ImagesDeleted?.length) return { output: '', reclaimed: r.SpaceReclaimed ?? 0 };
  let output = 'Deleted Images:\n';
  for (const e of r.ImagesDeleted) output += e.Untagged ? `untagged: ${e.Untagged}\n` : `deleted: ${e.Deleted}\n`;
  return { output, reclaimed: r.SpaceReclaimed ?? 0 };
}

export default async function imagePrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove unused images', flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ] }, argv, { max: 0 });
  const all = flags.bool('all');
  const warning = all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.';
  if (!flags.bool('force') && !(await confirm(cli, `${warning}\nAre you sure you want to continue?`))) return 0;
  const { output, reclaimed } = await pruneImages(cli, all, flags.list('filter'));
  if (output) cli.out(output + '\n');
  cli.out(`Total reclaimed space: ${humanSizeWithPrecision(reclaimed, 4)}\n`);
  return 0;
}
