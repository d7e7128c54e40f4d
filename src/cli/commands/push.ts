// barge push: upload an image to a registry (POST /images/{name}/push), with Docker's progress display.
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';
import { fullName, parseNormalizedNamed, referenceString, withDefaultTag, type Reference } from '../../image/reference.js';
import { authHeaderFor } from '../lib/imagepull.js';
import { displayJsonMessages, type JsonMessage } from '../lib/progress.js';

export default async function push(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NAME[:TAG]', description: 'Upload an image to a registry', aliases: ['barge image push', 'barge push'], flags: [
    { name: 'all-tags', short: 'a', type: 'bool', description: 'Push all tags of an image to the repository' },
    { name: 'disable-content-trust', type: 'bool', default: true, description: 'Skip image signing' },
    { name: 'platform', type: 'string', description: 'Push a platform-specific manifest as a single-platform image to the registry' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
  ] }, argv, { exact: 1 });
  let ref: Reference;
  try { ref = parseNormalizedNamed(args[0]!); } catch (e) { cli.err(`${(e as Error).message}\n`); return 1; }
  const all = flags.bool('all-tags');
  const quiet = flags.bool('quiet');
  if (ref.digest !== undefined) { cli.err('cannot push a digest reference\n'); return 1; }
  if (all && ref.tag !== undefined) { cli.err('tag can\'t be used with --all-tags/-a\n'); return 1; }
  if (!all && ref.tag === undefined) {
    ref = withDefaultTag(ref);
    if (!quiet) cli.out(`Using default tag: ${ref.tag}\n`);
  }
  const res = await cli.client.raw('POST', `/images/${fullName(ref)}/push`, {
    query: { tag: ref.tag ?? '' },
    headers: { 'X-Registry-Auth': authHeaderFor(ref.domain) },
  });
  const r = await displayJsonMessages(jsonLines<JsonMessage>(res), quiet ? () => undefined : (s) => cli.out(s), { tty: !!process.stdout.isTTY, width: process.stdout.columns ?? 80 });
  if (r.error !== undefined) { cli.err(r.error + '\n'); return 1; }
  if (quiet) cli.out(referenceString(ref) + '\n');
  return 0;
}
