// barge image bootstrap: a Debian base image made on the daemon's host with debootstrap from a
// Debian mirror (barge's own command: there is no Docker Hub to pull debian:bookworm from).
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';
import { parseNormalizedNamed } from '../../image/reference.js';

interface Message { stream?: string; aux?: { ID: string; Existed: boolean }; error?: string; errorDetail?: { message: string } }

export default async function imageBootstrap(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] debian:SUITE', description: 'Make a Debian base image with debootstrap (debian:bookworm, debian:trixie...)', aliases: ['barge image bootstrap'], flags: [
    { name: 'mirror', type: 'string', description: 'Debian archive to install from (default: the daemon host\'s apt mirror)' },
    { name: 'variant', type: 'string', description: 'debootstrap variant: minbase, buildd or standard', default: 'minbase' },
    { name: 'tag', short: 't', type: 'string', description: 'Name and optionally a tag for the image (default: the argument)' },
    { name: 'force', type: 'bool', description: 'Rebuild even if the image exists' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Print only the image ID' },
  ] }, argv, { exact: 1 });
  const arg = args[0]!;
  // "debian:bookworm" or the suite alone ("bookworm").
  const m = /^(?:(?:docker\.io\/)?(?:library\/)?debian:)?([a-z][a-z0-9.-]*)$/.exec(arg);
  if (!m) { cli.err(`barge image bootstrap: ${JSON.stringify(arg)} does not name a Debian suite: want debian:SUITE (debian:bookworm, debian:trixie...)\n`); return 1; }
  const suite = m[1]!;
  const tag = flags.string('tag') || `debian:${suite}`;
  try { parseNormalizedNamed(tag); } catch (e) { cli.err(`invalid tag ${JSON.stringify(tag)}: ${(e as Error).message}\n`); return 1; }
  const query: Record<string, string | boolean> = { suite, tag, variant: flags.string('variant') || 'minbase' };
  if (flags.string('mirror')) query['mirror'] = flags.string('mirror');
  if (flags.bool('force')) query['force'] = true;
  const quiet = flags.bool('quiet');
  const res = await cli.client.raw('POST', '/barge/images/bootstrap', { query });
  for await (const msg of jsonLines<Message>(res)) {
    if (msg.error) { cli.err(`${msg.errorDetail?.message ?? msg.error}\n`); return 1; }
    if (msg.aux && quiet) cli.out(msg.aux.ID + '\n');
    if (msg.stream && !quiet) cli.out(msg.stream);
  }
  return 0;
}
