// barge events: real-time events from the daemon.
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';
import { compileFormat } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';

const FLAGS = [
  { name: 'filter', short: 'f', type: 'list' as const, typeName: 'filter', description: 'Filter output based on conditions provided' },
  { name: 'format', type: 'string' as const, description: 'Format output using a custom template' },
  { name: 'since', type: 'string' as const, description: 'Show all events created since timestamp' },
  { name: 'until', type: 'string' as const, description: 'Stream events until this timestamp' },
];

export default async function events(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Get real time events from the server', flags: FLAGS }, argv, { max: 0 });
  const res = await cli.client.raw('GET', '/events', { query: { since: flags.string('since') || undefined, until: flags.string('until') || undefined, filters: filterArgs(flags.list('filter')) } });
  const format = flags.string('format');
  const t = format && format !== 'json' ? compileFormat(format) : null;
  for await (const e of jsonLines<any>(res)) {
    if (format === 'json') { cli.out(JSON.stringify(e) + '\n'); continue; }
    if (t) { cli.out(t.execute(e) + '\n'); continue; }
    const ts = new Date(Math.floor(e.timeNano / 1e6)).toISOString().replace(/\.(\d{3})Z$/, (_m: string, ms: string) => `.${ms}${String(e.timeNano % 1e6).padStart(6, '0')}`).replace('Z', '') + 'Z';
    const attrs = Object.entries(e.Actor?.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(', ');
    cli.out(`${ts} ${e.Type} ${e.Action} ${e.Actor?.ID ?? ''}${attrs ? ` (${attrs})` : ''}\n`);
  }
  return 0;
}
