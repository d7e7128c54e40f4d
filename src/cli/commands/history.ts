// barge history: the layers of an image.
import type { Cli } from '../cli.js';
import { renderFormat, timeAgo, humanSize, ellipsis } from '../lib/format.js';

const FLAGS = [
  { name: 'format', type: 'string' as const, description: 'Format output using a custom template' },
  { name: 'human', short: 'H', type: 'bool' as const, default: true, description: 'Print sizes and dates in human readable format' },
  { name: 'no-trunc', type: 'bool' as const, description: "Don't truncate output" },
  { name: 'quiet', short: 'q', type: 'bool' as const, description: 'Only show image IDs' },
];

export default async function history(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE', description: 'Show the history of an image', flags: FLAGS }, argv, { exact: 1 });
  const list = await cli.client.get<any[]>(`/images/${args[0]}/history`);
  const human = flags.bool('human');
  const noTrunc = flags.bool('no-trunc');
  const rows = list.map((h) => ({
    ID: h.Id === '<missing>' ? '<missing>' : noTrunc ? h.Id : h.Id.replace(/^sha256:/, '').slice(0, 12),
    CreatedSince: human ? timeAgo(h.Created * 1000) : new Date(h.Created * 1000).toISOString(),
    CreatedAt: new Date(h.Created * 1000).toISOString(),
    CreatedBy: noTrunc ? h.CreatedBy : ellipsis(String(h.CreatedBy ?? '').replace(/\t/g, ' '), 45),
    Size: human ? humanSize(h.Size) : String(h.Size), Comment: h.Comment ?? '',
  }));
  cli.out(renderFormat(rows, { format: flags.string('format'), defaultTable: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}', headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' }, quiet: flags.bool('quiet') }));
  return 0;
}
