// barge save: images to a tar archive. The archive is the one Docker 25+ writes: a docker-archive
// (manifest.json, repositories) that is also an OCI image layout (index.json, oci-layout, blobs/), so
// OCI tools read it as is; there is no format to choose (docker save has no --format either).
import type { Cli } from '../cli.js';
import { writeOutput, outputAllowed } from '../lib/output.js';

export default async function save(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [IMAGE...]', description: 'Save one or more images to a tar archive (streamed to STDOUT by default)', aliases: ['barge image save', 'barge save'], flags: [
    { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
  ] }, argv, { min: 1 });
  const out = flags.string('output');
  if (!outputAllowed(cli, out, 'failed to save image')) return 1;
  const q = new URLSearchParams();
  for (const a of args) q.append('names', a);
  const res = await cli.client.raw('GET', `/images/get?${q.toString()}`);
  await writeOutput(res, out);
  return 0;
}
