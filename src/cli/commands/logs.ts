// barge logs: fetch the logs of a container.
import type { Cli } from '../cli.js';
import { demux } from '../client.js';

const FLAGS = [
  { name: 'details', type: 'bool' as const, description: 'Show extra details provided to logs' },
  { name: 'follow', short: 'f', type: 'bool' as const, description: 'Follow log output' },
  { name: 'since', type: 'string' as const, description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  { name: 'tail', short: 'n', type: 'string' as const, default: 'all', description: 'Number of lines to show from the end of the logs' },
  { name: 'timestamps', short: 't', type: 'bool' as const, description: 'Show timestamps' },
  { name: 'until', type: 'string' as const, description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
];

export default async function logs(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER', description: 'Fetch the logs of a container', flags: FLAGS }, argv, { exact: 1 });
  const id = encodeURIComponent(args[0]!);
  const c = await cli.client.get<{ Config: { Tty?: boolean } }>(`/containers/${id}/json`);
  const res = await cli.client.raw('GET', `/containers/${id}/logs`, {
    query: { stdout: true, stderr: true, follow: flags.bool('follow'), since: flags.string('since') || undefined, until: flags.string('until') || undefined, timestamps: flags.bool('timestamps'), tail: flags.string('tail'), details: flags.bool('details') },
  });
  const onData = c.Config.Tty ? (b: Buffer) => { process.stdout.write(b); } : demux((s, d) => (s === 2 ? process.stderr : process.stdout).write(d));
  await new Promise<void>((resolve, reject) => { res.on('data', onData); res.on('end', resolve); res.on('error', reject); });
  return 0;
}
