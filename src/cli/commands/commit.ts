// barge commit: a new image from a container's changes.
import type { Cli } from '../cli.js';
import { parseNormalizedNamed, familiarName } from '../../image/reference.js';

export default async function commit(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]', description: "Create a new image from a container's changes", aliases: ['barge container commit', 'barge commit'], flags: [
    { name: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', default: true, description: 'Pause container during commit' },
  ] }, argv, { min: 1, max: 2 });
  const q = new URLSearchParams({ container: args[0]! });
  // The reference is checked here, as docker's client does ("invalid reference format: ...").
  if (args[1]) {
    let ref;
    try { ref = parseNormalizedNamed(args[1]); } catch (e) { cli.err(`${(e as Error).message}\n`); return 1; }
    if (ref.digest !== undefined) { cli.err('refusing to create a tag with a digest reference\n'); return 1; }
    q.set('repo', familiarName(ref));
    q.set('tag', ref.tag ?? 'latest');
  }
  if (flags.string('message')) q.set('comment', flags.string('message'));
  if (flags.string('author')) q.set('author', flags.string('author'));
  q.set('pause', flags.bool('pause') ? '1' : '0');
  for (const c of flags.list('change')) q.append('changes', c);
  // No body (JSON null): the container's own config is the base the changes apply to. An empty
  // object would instead replace it (Env, Cmd... lost under the changes).
  const r = await cli.client.json<{ Id: string }>('POST', `/commit?${q.toString()}`, { body: null });
  cli.out(r.Id + '\n');
  return 0;
}
