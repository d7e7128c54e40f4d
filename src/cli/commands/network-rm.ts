// barge network rm: remove networks.
import type { Cli } from '../cli.js';

export default async function networkRm(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NETWORK [NETWORK...]', description: 'Remove one or more networks', aliases: ['barge network rm', 'barge network remove'], flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Do not error if the network does not exist' },
  ] }, argv, { min: 1 });
  return cli.forEach(args, async (n) => {
    try {
      await cli.client.delete(`/networks/${encodeURIComponent(n)}`);
    } catch (e) {
      if (flags.bool('force') && (e as { status?: number }).status === 404) return;
      throw e;
    }
  });
}
