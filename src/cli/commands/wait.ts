// barge wait: block until containers stop, then print their exit codes.
import type { Cli } from '../cli.js';

export default async function wait(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'CONTAINER [CONTAINER...]', description: 'Block until one or more containers stop, then print their exit codes' }, argv, { min: 1 });
  return cli.forEach(args, async (id) => {
    const r = await cli.client.post<{ StatusCode: number }>(`/containers/${encodeURIComponent(id)}/wait`);
    cli.out(`${r.StatusCode}\n`);
  }, false);
}
