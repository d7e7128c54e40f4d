// barge image inspect: low-level information on images.
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';
import { printInspect } from '../lib/inspect.js';

export default async function imageInspect(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [IMAGE...]', description: 'Display detailed information on one or more images', aliases: ['barge image inspect'], flags: [
    { name: 'format', short: 'f', type: 'string', description: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template" },
  ] }, argv, { min: 1 });
  // docker image inspect reports a missing image as the daemon said it ("Error response from daemon:
  // No such image: x:latest"), unlike the generic inspect's "Error: No such object: x".
  const get = (ref: string) => cli.client.get(`/images/${ref.split('/').map(encodeURIComponent).join('/')}/json`).catch((e: unknown) => {
    throw e instanceof ApiError ? new Error(`Error response from daemon: ${e.message}`) : e;
  });
  const format = flags.string('format');
  if (format !== 'json') return printInspect(cli, args, format, get);
  // --format json: every object in one compact JSON array (docker's jsonInspector).
  const found: unknown[] = [];
  let failed = false;
  for (const ref of args) {
    try { found.push(await get(ref)); } catch (e) { failed = true; cli.err((e as Error).message + '\n'); }
  }
  cli.out(JSON.stringify(found) + '\n');
  return failed ? 1 : 0;
}
