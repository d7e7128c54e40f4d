// barge network disconnect: disconnect a container from a network.
import type { Cli } from '../cli.js';

export default async function networkDisconnect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NETWORK CONTAINER', description: 'Disconnect a container from a network', flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force the container to disconnect from a network' },
  ] }, argv, { min: 2, max: 2 });
  await cli.client.post(`/networks/${encodeURIComponent(args[0]!)}/disconnect`, { Container: args[1], Force: flags.bool('force') });
  return 0;
}
