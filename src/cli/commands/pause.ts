// barge pause: pause all processes within containers (freezer cgroup).
import type { Cli } from '../cli.js';

export default async function pause(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'CONTAINER [CONTAINER...]', description: 'Pause all processes within one or more containers' }, argv, { min: 1 });
  return cli.forEach(args, (id) => cli.client.post(`/containers/${encodeURIComponent(id)}/pause`));
}
