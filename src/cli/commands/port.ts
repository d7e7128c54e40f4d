// barge port: the public ports of a container.
import type { Cli } from '../cli.js';

export default async function port(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]', description: 'List port mappings or a specific mapping for the container' }, argv, { min: 1, max: 2 });
  const c = await cli.client.get<any>(`/containers/${encodeURIComponent(args[0]!)}/json`);
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = c.NetworkSettings?.Ports ?? {};
  const fmt = (b: { HostIp: string; HostPort: string }) => (b.HostIp.includes(':') ? `[${b.HostIp}]:${b.HostPort}` : `${b.HostIp || '0.0.0.0'}:${b.HostPort}`);
  if (args[1]) {
    const key = args[1].includes('/') ? args[1] : `${args[1]}/tcp`;
    const binds = ports[key];
    if (!binds?.length) { cli.err(`Error: No public port '${key}' published for ${args[0]}\n`); return 1; }
    for (const b of binds) cli.out(fmt(b) + '\n');
    return 0;
  }
  for (const [k, binds] of Object.entries(ports).sort()) for (const b of binds ?? []) cli.out(`${k} -> ${fmt(b)}\n`);
  return 0;
}
