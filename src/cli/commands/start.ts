// barge start: start stopped containers; -a attaches to the output, -i to the input.
import type { Cli } from '../cli.js';
import { attachAndWait } from '../lib/attach.js';

const FLAGS = [
  { name: 'attach', short: 'a', type: 'bool' as const, description: 'Attach STDOUT/STDERR and forward signals' },
  { name: 'detach-keys', type: 'string' as const, description: 'Override the key sequence for detaching a container' },
  { name: 'interactive', short: 'i', type: 'bool' as const, description: "Attach container's STDIN" },
];

export default async function start(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER [CONTAINER...]', description: 'Start one or more stopped containers', flags: FLAGS }, argv, { min: 1 });
  if (flags.bool('attach') || flags.bool('interactive')) {
    if (args.length > 1) { cli.err('you cannot start and attach multiple containers at once\n'); return 1; }
    const c = await cli.client.get<any>(`/containers/${encodeURIComponent(args[0]!)}/json`);
    return attachAndWait(cli, c, { stdin: flags.bool('interactive') && !!c.Config.OpenStdin, detachKeys: flags.string('detach-keys'), start: true, autoRemove: !!c.HostConfig?.AutoRemove });
  }
  return cli.forEach(args, (id) => cli.client.post(`/containers/${encodeURIComponent(id)}/start`));
}
