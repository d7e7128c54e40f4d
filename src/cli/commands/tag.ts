// barge tag: give an image another name.
import type { Cli } from '../cli.js';

export default async function tag(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]', description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE' }, argv, { exact: 2 });
  const target = args[1]!;
  const at = target.lastIndexOf(':');
  const slash = target.lastIndexOf('/');
  const [repo, t] = at > slash ? [target.slice(0, at), target.slice(at + 1)] : [target, 'latest'];
  await cli.client.post(`/images/${args[0]}/tag`, undefined, { repo, tag: t });
  return 0;
}
