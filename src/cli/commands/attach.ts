// barge attach: attach the terminal's input and output to a running container.
import type { Cli } from '../cli.js';
import { attachAndWait } from '../lib/attach.js';

const FLAGS = [
  { name: 'detach-keys', type: 'string' as const, description: 'Override the key sequence for detaching a container' },
  { name: 'no-stdin', type: 'bool' as const, description: 'Do not attach STDIN' },
  { name: 'sig-proxy', type: 'bool' as const, default: true, description: 'Proxy all received signals to the process' },
];

export default async function attach(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER', description: 'Attach local standard input, output, and error streams to a running container', flags: FLAGS }, argv, { exact: 1 });
  const c = await cli.client.get<any>(`/containers/${encodeURIComponent(args[0]!)}/json`);
  if (!c.State.Running) { cli.err('You cannot attach to a stopped container, start it first\n'); return 1; }
  if (c.State.Paused) { cli.err('You cannot attach to a paused container, unpause it first\n'); return 1; }
  const stdin = !flags.bool('no-stdin') && !!c.Config.OpenStdin;
  if (stdin && c.Config.Tty && !process.stdin.isTTY) { cli.err('the input device is not a TTY\n'); return 1; }
  return attachAndWait(cli, c, { stdin, detachKeys: flags.string('detach-keys') || undefined, start: false, autoRemove: false, sigProxy: flags.bool('sig-proxy') && !c.Config.Tty });
}
