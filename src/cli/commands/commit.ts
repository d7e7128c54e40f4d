// barge commit: a new image from a container's changes.
import type { Cli } from '../cli.js';

export default async function commit(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]', description: "Create a new image from a container's changes", flags: [
    { name: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', default: true, description: 'Pause container during commit' },
  ] }, argv, { min: 1, max: 2 });
  const ref = args[1] ?? '';
  const at = ref.lastIndexOf(':');
  const [repo, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, ''];
  const q = new URLSearchParams({ container: args[0]! });
  if (repo) q.set('repo', repo);
  if (tag) q.set('tag', tag);
  if (flags.string('message')) q.set('comment', flags.string('message'));
  if (flags.string('author')) q.set('author', flags.string('author'));
  q.set('pause', flags.bool('pause') ? '1' : '0');
  for (const c of flags.list('change')) q.append('changes', c);
  const r = await cli.client.json<{ Id: string }>('POST', `/commit?${q.toString()}`, { body: {} });
  cli.out(r.Id + '\n');
  return 0;
}
