// Inspect output as docker prints it: an indented JSON array, or each object through --format.
import { Cli } from '../cli.js';
import { compileFormat } from './format.js';

export async function printInspect(cli: Cli, refs: string[], format: string, get: (ref: string) => Promise<unknown>): Promise<number> {
  const found: unknown[] = [];
  let failed = false;
  for (const ref of refs) {
    try { found.push(await get(ref)); } catch (e) {
      failed = true;
      const msg = Cli.message(e);
      cli.err((/^Error/.test(msg) ? msg : `Error: ${msg.replace(/^Error response from daemon: /, '')}`) + '\n');
    }
  }
  if (format) {
    const t = compileFormat(format);
    for (const o of found) cli.out(t.execute(o) + '\n');
  } else {
    cli.out(JSON.stringify(found, null, 4).replace(/[<>&]/g, (c) => ({ '<': '\\u003c', '>': '\\u003e', '&': '\\u0026' })[c]!) + '\n');
  }
  return failed ? 1 : 0;
}

