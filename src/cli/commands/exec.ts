// barge exec: run a command in a running container.
import type { Cli } from '../cli.js';
import { demux } from '../client.js';
import { detachSequence, makeRaw } from '../lib/attach.js';
import { readEnvFiles } from '../lib/units.js';

const FLAGS = [
  { name: 'detach', short: 'd', type: 'bool' as const, description: 'Detached mode: run command in the background' },
  { name: 'detach-keys', type: 'string' as const, description: 'Override the key sequence for detaching a container' },
  { name: 'env', short: 'e', type: 'list' as const, description: 'Set environment variables' },
  { name: 'env-file', type: 'list' as const, description: 'Read in a file of environment variables' },
  { name: 'interactive', short: 'i', type: 'bool' as const, description: 'Keep STDIN open even if not attached' },
  { name: 'privileged', type: 'bool' as const, description: 'Give extended privileges to the command' },
  { name: 'tty', short: 't', type: 'bool' as const, description: 'Allocate a pseudo-TTY' },
  { name: 'user', short: 'u', type: 'string' as const, description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
  { name: 'workdir', short: 'w', type: 'string' as const, description: 'Working directory inside the container' },
];

export default async function exec(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER COMMAND [ARG...]', description: 'Execute a command in a running container', flags: FLAGS, interspersed: false }, argv, { min: 2 });
  const [container, ...cmd] = args as [string, ...string[]];
  const tty = flags.bool('tty');
  const interactive = flags.bool('interactive');
  const detach = flags.bool('detach');
  if (tty && interactive && !process.stdin.isTTY && !detach) { cli.err('the input device is not a TTY\n'); return 1; }
  const client = cli.client;
  const { Id } = await client.post<{ Id: string }>(`/containers/${encodeURIComponent(container)}/exec`, {
    User: flags.string('user') || undefined, Privileged: flags.bool('privileged'), Tty: tty,
    AttachStdin: interactive && !detach, AttachStdout: !detach, AttachStderr: !detach,
    DetachKeys: flags.string('detach-keys') || undefined, Env: readEnvFiles(flags.list('env-file'), flags.list('env')),
    WorkingDir: flags.string('workdir') || undefined, Cmd: cmd,
    ConsoleSize: tty && process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : undefined,
  });
  if (detach) {
    await client.post(`/exec/${Id}/start`, { Detach: true, Tty: tty });
    return 0;
  }
  const { socket } = await client.hijack(`/exec/${Id}/start`, { body: { Detach: false, Tty: tty, ConsoleSize: tty && process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : undefined } });
  const done = new Promise<void>((resolve) => { socket.on('end', resolve); socket.on('close', resolve); socket.on('error', resolve); });
  if (tty) socket.on('data', (b: Buffer) => { process.stdout.write(b); });
  else socket.on('data', demux((s, d) => (s === 2 ? process.stderr : process.stdout).write(d)));
  let restore = () => {};
  if (tty && interactive && process.stdin.isTTY) restore = makeRaw();
  if (tty && process.stdout.isTTY) {
    const resize = () => void client.post(`/exec/${Id}/resize`, undefined, { h: process.stdout.rows, w: process.stdout.columns }).catch(() => undefined);
    process.stdout.on('resize', resize);
  }
  let detached = false;
  if (interactive) {
    const keys = detachSequence(flags.string('detach-keys') || undefined);
    let matched = 0;
    process.stdin.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte === keys[matched]) { if (++matched === keys.length) { detached = true; socket.destroy(); return; } } else matched = byte === keys[0] ? 1 : 0;
      }
      socket.write(chunk);
    });
    process.stdin.on('end', () => socket.end());
    process.stdin.resume();
  }
  await done;
  restore();
  process.stdin.pause();
  if (detached) return 0;
  const info = await client.get<{ ExitCode: number | null; Running: boolean }>(`/exec/${Id}/json`);
  return info.ExitCode ?? 0;
}
