// barge run: create a container from an image, start it, and attach to it (or print its ID with -d).
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';
import { CONTAINER_FLAGS, containerBody } from '../lib/containeropts.js';
import { attachAndWait } from '../lib/attach.js';
import { createContainer } from './create.js';

const FLAGS = [
  ...CONTAINER_FLAGS,
  { name: 'detach', short: 'd', type: 'bool' as const, description: 'Run container in background and print container ID' },
  { name: 'detach-keys', type: 'string' as const, description: 'Override the key sequence for detaching a container' },
  { name: 'sig-proxy', type: 'bool' as const, default: true, description: 'Proxy received signals to the process' },
].sort((a, b) => (a.name < b.name ? -1 : 1));   // not localeCompare: ICU's collator costs ~12 ms of start-up

export default async function run(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]', description: 'Create and run a new container from an image', aliases: ['barge container run', 'barge run'], flags: FLAGS, interspersed: false }, argv, { min: 1 });
  let spec;
  try { spec = containerBody(flags, args); } catch (e) { return usageFail(cli, e); }
  const detach = flags.bool('detach');
  const body = spec.body;
  if (detach) {
    body.AttachStdin = false; body.AttachStdout = false; body.AttachStderr = false; body.StdinOnce = false;
  } else {
    body.StdinOnce = !!body.AttachStdin;
    if (body.Tty && body.AttachStdin && !process.stdin.isTTY) {
      cli.err('the input device is not a TTY\n');
      return 1;
    }
  }
  let id: string;
  try {
    id = await createContainer(cli, spec);
  } catch (e) {
    return runFailure(cli, e);
  }
  if (detach) {
    try { await cli.client.post(`/containers/${id}/start`); } catch (e) { return runFailure(cli, e); }
    cli.out(id + '\n');
    return 0;
  }
  try {
    return await attachAndWait(cli, { Id: id, Config: { Tty: !!body.Tty, OpenStdin: !!body.OpenStdin } }, {
      stdin: !!body.AttachStdin, detachKeys: flags.string('detach-keys') || undefined, start: true,
      autoRemove: !!body.HostConfig.AutoRemove, sigProxy: flags.bool('sig-proxy') && !body.Tty,
      stdout: !!body.AttachStdout, stderr: !!body.AttachStderr,
    });
  } catch (e) {
    return runFailure(cli, e);
  }
}

function usageFail(cli: Cli, e: unknown): number {
  const msg = e instanceof Error ? e.message : String(e);
  if ((e as { exitCode?: number }).exitCode !== undefined && msg.includes('Usage:')) { cli.err(msg + '\n'); return 125; }
  cli.err(`barge: ${msg}\n\nRun 'barge run --help' for more information\n`);
  return 125;
}

/** Docker's exit codes for a failed run: 127 command not found, 126 not executable, 125 anything else. */
function runFailure(cli: Cli, e: unknown): number {
  const msg = e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message ?? String(e);
  cli.err(`barge: ${msg}\n`);
  if (/executable file not found|no such file or directory/.test(msg)) return 127;
  if (/permission denied|exec format error/.test(msg)) return 126;
  return 125;
}

