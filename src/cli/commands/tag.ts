// barge tag: give an image another name. Both names are checked here first, as docker/cli does
// ("Error parsing reference: ... is not a valid repository/tag: invalid reference format").
import type { Cli } from '../cli.js';
import { parseNormalizedNamed, fullName, type Reference } from '../../image/reference.js';

export default async function tag(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]', description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', aliases: ['barge image tag', 'barge tag'] }, argv, { exact: 2 });
  const [source, target] = [args[0]!, args[1]!];
  const invalid = (name: string, e: unknown) => {
    cli.err(`Error parsing reference: ${JSON.stringify(name)} is not a valid repository/tag: ${(e as Error).message}\n`);
    return 1;
  };
  // The source may also be an image ID (docker's ParseAnyReference).
  if (!/^(sha256:)?[a-f0-9]{64}$/.test(source)) {
    try { parseNormalizedNamed(source); } catch (e) { return invalid(source, e); }
  }
  let ref: Reference;
  try { ref = parseNormalizedNamed(target); } catch (e) { return invalid(target, e); }
  if (ref.digest !== undefined) { cli.err('refusing to create a tag with a digest reference\n'); return 1; }
  await cli.client.post(`/images/${source}/tag`, undefined, { repo: fullName(ref), tag: ref.tag ?? 'latest' });
  return 0;
}
