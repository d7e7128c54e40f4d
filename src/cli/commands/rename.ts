// barge rename: rename a container.
import type { Cli } from '../cli.js';

export default async function rename(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'CONTAINER NEW_NAME', description: 'Rename a container' }, argv, { exact: 2 });
  const [oldName, newName] = [args[0]!.trim(), args[1]!.trim()];
  if (!oldName || !newName) { cli.err('Error: Neither old nor new names may be empty\n'); return 1; }
  try {
    await cli.client.post(`/containers/${encodeURIComponent(oldName)}/rename`, undefined, { name: newName });
  } catch (e) {
    cli.err(`Error response from daemon: ${(e as Error).message}\nError: failed to rename container named ${oldName}\n`);
    return 1;
  }
  return 0;
}
