// barge diff: changes to files or directories on a container's filesystem.
import type { Cli } from '../cli.js';

export default async function diff(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'CONTAINER', description: "Inspect changes to files or directories on a container's filesystem" }, argv, { exact: 1 });
  const changes = await cli.client.get<Array<{ Path: string; Kind: number }> | null>(`/containers/${encodeURIComponent(args[0]!)}/changes`);
  for (const c of changes ?? []) cli.out(`${['C', 'A', 'D'][c.Kind] ?? '?'} ${c.Path}\n`);
  return 0;
}
