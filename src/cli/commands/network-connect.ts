// barge network connect: connect a container to a network.
import type { Cli } from '../cli.js';

export default async function networkConnect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NETWORK CONTAINER', description: 'Connect a container to a network', flags: [
    { name: 'alias', type: 'stringSlice', description: 'Add network-scoped alias for the container' },
    { name: 'driver-opt', type: 'stringSlice', description: 'driver options for the network' },
    { name: 'ip', type: 'string', description: 'IPv4 address (e.g., "172.30.100.104")' },
    { name: 'ip6', type: 'string', description: 'IPv6 address (e.g., "2001:db8::33")' },
    { name: 'link', type: 'list', description: 'Add link to another container' },
    { name: 'link-local-ip', type: 'stringSlice', description: 'Add a link-local address for the container' },
  ] }, argv, { min: 2, max: 2 });
  const aliases = flags.list('alias');
  const ip = flags.string('ip');
  await cli.client.post(`/networks/${encodeURIComponent(args[0]!)}/connect`, {
    Container: args[1],
    EndpointConfig: { Aliases: aliases.length ? aliases : undefined, IPAMConfig: ip ? { IPv4Address: ip } : undefined },
  });
  return 0;
}
