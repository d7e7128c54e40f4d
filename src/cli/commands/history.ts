// barge history: the layers of an image, as docker/cli's history formatter shows them.
import type { Cli } from '../cli.js';
import { renderFormat, timeAgo, humanSize, ellipsis } from '../lib/format.js';
import { goJSON } from '../lib/gofmt.js';

const FLAGS = [
  { name: 'format', type: 'string' as const, description: 'Format output using a custom template:\n\'table\':            Print output in table format with column headers (default)\n\'table TEMPLATE\':   Print output in table format using the given Go template\n\'json\':             Print in JSON format\n\'TEMPLATE\':         Print output using the given Go template' },
  { name: 'human', short: 'H', type: 'bool' as const, default: true, description: 'Print sizes and dates in human readable format' },
  { name: 'no-trunc', type: 'bool' as const, description: "Don't truncate output" },
  { name: 'quiet', short: 'q', type: 'bool' as const, description: 'Only show image IDs' },
];
const HEADERS = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };

/** Go's time.Unix(s, 0).Format(time.RFC3339), in the local time zone. */
export function rfc3339(seconds: number): string {
  const d = new Date(seconds * 1000);
  const off = -d.getTimezoneOffset();
  const t = new Date(d.getTime() + off * 60000).toISOString().replace(/\.\d{3}Z$/, '');
  if (off === 0) return t + 'Z';
  const a = Math.abs(off);
  return `${t}${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

interface HistoryEntry { Id: string; Created: number; CreatedBy?: string; Size: number; Comment?: string; Tags?: string[] | null }

export default async function history(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE', description: 'Show the history of an image', flags: FLAGS }, argv, { exact: 1 });
  const list = await cli.client.get<HistoryEntry[]>(`/images/${args[0]}/history`);
  const human = flags.bool('human');
  const trunc = !flags.bool('no-trunc');
  const rows = list.map((h) => {
    const createdBy = String(h.CreatedBy ?? '').replace(/\t/g, ' ');
    return {
      Comment: h.Comment ?? '',
      CreatedAt: rfc3339(h.Created),
      CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
      CreatedSince: human ? timeAgo(h.Created * 1000) : rfc3339(h.Created),
      ID: trunc && h.Id !== '<missing>' ? h.Id.replace(/^sha256:/, '').slice(0, 12) : h.Id,
      Size: human ? humanSize(h.Size) : String(h.Size),
    };
  });
  const format = flags.string('format');
  if (format === 'json' && !flags.bool('quiet')) {
    for (const r of rows) cli.out(goJSON(r, { escapeHTML: true }) + '\n');
    return 0;
  }
  const defaultTable = human
    ? 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}'
    : 'table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
  cli.out(renderFormat(rows, { format, defaultTable, headers: HEADERS, quiet: flags.bool('quiet') }));
  return 0;
}
