// barge stop: stop running containers (SIGTERM, then SIGKILL after the grace period).
import type { Cli } from '../cli.js';

const FLAGS = [
  { name: 'signal', short: 's', type: 'string' as const, description: 'Signal to send to the container' },
  { name: 'timeout', short: 't', type: 'int' as const, default: undefined, defaultText: '', description: 'Seconds to wait before killing the container', aliases: ['time'] },
];

export default async function stop(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER [CONTAINER...]', description: 'Stop one or more running containers', flags: FLAGS }, argv, { min: 1 });
  const t = flags.changed('timeout') ? flags.number('timeout') : undefined;
  const signal = flags.string('signal') || undefined;
  return cli.forEach(args, (id) => cli.client.post(`/containers/${encodeURIComponent(id)}/stop`, undefined, { t, signal }));
}
