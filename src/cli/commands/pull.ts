// barge pull: download an image from a registry (POST /images/create?fromImage=), with Docker's
// progress display, then print the reference pulled.
import { Cli } from '../cli.js';
import { parseNormalizedNamed, referenceString, withDefaultTag, type Reference } from '../../image/reference.js';
import { pullImage } from '../lib/imagepull.js';

export default async function pull(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NAME[:TAG|@DIGEST]', description: 'Download an image from a registry', aliases: ['barge image pull', 'barge pull'], flags: [
    { name: 'all-tags', short: 'a', type: 'bool', description: 'Download all tagged images in the repository' },
    { name: 'disable-content-trust', type: 'bool', default: true, description: 'Skip image verification' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
  ] }, argv, { exact: 1 });
  const name = args[0]!;
  let ref: Reference;
  try { ref = parseNormalizedNamed(name); } catch (e) { cli.err(`${(e as Error).message}\n`); return 1; }
  const all = flags.bool('all-tags');
  if (all && (ref.tag !== undefined || ref.digest !== undefined)) { cli.err('tag can\'t be used with --all-tags/-a\n'); return 1; }
  if (!all && ref.tag === undefined && ref.digest === undefined) {
    ref = withDefaultTag(ref);
    if (!flags.bool('quiet')) cli.out(`Using default tag: ${ref.tag}\n`);
  }
  const quiet = flags.bool('quiet');
  try {
    await pullImage(cli, ref, { platform: flags.string('platform'), tty: !!process.stdout.isTTY, ...(quiet ? {} : { write: (s: string) => cli.out(s) }) });
  } catch (e) {
    cli.err(`${Cli.message(e)}\n`);
    return 1;
  }
  cli.out(referenceString(ref) + '\n');
  return 0;
}
