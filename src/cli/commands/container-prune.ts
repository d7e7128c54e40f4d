// barge container prune: remove all stopped containers.
import * as readline from 'node:readline/promises';
import type { Cli } from '../cli.js';
import { humanSize } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';

export async function confirm(cli: Cli, question: string): Promise<boolean> {
  cli.out(question + ' [y/N] ');
  if (!process.stdin.isTTY && process.stdin.readableEnded) return false;
  const rl = readline.createInterface({ input: process.stdin });
  const answer = await new Promise<string>((resolve) => { rl.once('line', resolve); rl.once('close', () => resolve('')); });
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

export default async function containerPrune(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Remove all stopped containers', flags: [
    { name: 'filter', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ] }, argv, { max: 0 });
  if (!flags.bool('force') && !(await confirm(cli, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))) return 0;
  const r = await cli.client.post<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('/containers/prune', undefined, { filters: filterArgs(flags.list('filter')) });
  if (r.ContainersDeleted?.length) cli.out(`Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n\n`);
  cli.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
  return 0;
}
