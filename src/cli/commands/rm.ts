// barge rm: remove containers.
import type { Cli } from '../cli.js';

const FLAGS = [
  { name: 'force', short: 'f', type: 'bool' as const, description: 'Force the removal of a running container (uses SIGKILL)' },
  { name: 'link', short: 'l', type: 'bool' as const, description: 'Remove the specified link' },
  { name: 'volumes', short: 'v', type: 'bool' as const, description: 'Remove anonymous volumes associated with the container' },
];

export default async function rm(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER [CONTAINER...]', description: 'Remove one or more containers', aliases: ['barge container rm', 'barge container remove', 'barge rm'], flags: FLAGS }, argv, { min: 1 });
  const force = flags.bool('force');
  return cli.forEach(args, async (id) => {
    try {
      await cli.client.delete(`/containers/${encodeURIComponent(id.replace(/^\//, ''))}`, { force, v: flags.bool('volumes'), link: flags.bool('link') });
    } catch (e) {
      // docker rm -f of a container that does not exist is not an error.
      if (force && (e as { status?: number }).status === 404) return;
      throw e;
    }
  });
}
