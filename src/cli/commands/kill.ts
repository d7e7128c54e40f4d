// barge kill: send a signal (default SIGKILL) to running containers.
import type { Cli } from '../cli.js';

const FLAGS = [{ name: 'signal', short: 's', type: 'string' as const, description: 'Signal to send to the container' }];

export default async function kill(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER [CONTAINER...]', description: 'Kill one or more running containers', flags: FLAGS }, argv, { min: 1 });
  return cli.forEach(args, (id) => cli.client.post(`/containers/${encodeURIComponent(id)}/kill`, undefined, { signal: flags.string('signal') || undefined }));
}
