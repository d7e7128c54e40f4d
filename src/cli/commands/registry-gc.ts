// barge registry gc: frees the blobs no manifest references, in a registry root whose server is
// stopped (as the reference registry's garbage-collect). See src/registry/server/gc.ts.
import type { Cli } from '../cli.js';
import * as path from 'node:path';

export default async function registryGc(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Free registry blobs that no manifest references (run with the registry stopped)', flags: [
    { name: 'root', type: 'string', default: '/var/lib/barge-registry', description: 'The registry\'s root directory' },
    { name: 'dry-run', short: 'd', type: 'bool', description: 'Only print what would be deleted' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Print only the summary' },
  ] }, argv, { exact: 0 });
  const { collectGarbage } = await import('../../registry/server/gc.js');

  try {
    const quiet = flags.bool('quiet');
    const r = collectGarbage(path.resolve(flags.string('root')), { dryRun: flags.bool('dry-run'), log: quiet ? undefined : (l) => cli.out(l + '\n') });
    cli.out(`${r.manifests} manifests, ${r.marked} blobs in use; ${r.swept.length} blobs ${flags.bool('dry-run') ? 'would be ' : ''}deleted, ${r.freed} bytes ${flags.bool('dry-run') ? 'would be ' : ''}freed\n`);
    return 0;
  } catch (e) {
    cli.err(`barge registry gc: ${(e as Error).message}\n`);
    return 1;
  }
}
