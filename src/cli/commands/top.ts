// barge top: the running processes of a container.
import type { Cli } from '../cli.js';
import { tabwrite } from '../lib/format.js';

export default async function top(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'CONTAINER [ps OPTIONS]', description: 'Display the running processes of a container', interspersed: false }, argv, { min: 1 });
  const r = await cli.client.get<{ Titles: string[]; Processes: string[][] }>(`/containers/${encodeURIComponent(args[0]!)}/top`, { ps_args: args.slice(1).join(' ') || undefined });
  cli.out(tabwrite([r.Titles.join('\t'), ...r.Processes.map((p) => p.join('\t'))].join('\n') + '\n', { minwidth: 20, padding: 3 }));
  return 0;
}
