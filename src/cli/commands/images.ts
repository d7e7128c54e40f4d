// barge images (image ls): list images.
import type { Cli } from '../cli.js';
import { renderFormat, timeAgo, humanSize } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';

const FLAGS = [
  { name: 'all', short: 'a', type: 'bool' as const, description: 'Show all images (default hides intermediate images)' },
  { name: 'digests', type: 'bool' as const, description: 'Show digests' },
  { name: 'filter', short: 'f', type: 'list' as const, typeName: 'filter', description: 'Filter output based on conditions provided' },
  { name: 'format', type: 'string' as const, description: 'Format output using a custom template' },
  { name: 'no-trunc', type: 'bool' as const, description: "Don't truncate output" },
  { name: 'quiet', short: 'q', type: 'bool' as const, description: 'Only show image IDs' },
];
const HEADERS = { Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE', Containers: 'CONTAINERS' };

export default async function images(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] [REPOSITORY[:TAG]]', description: 'List images', aliases: ['barge image ls', 'barge image list', 'barge images'], flags: FLAGS }, argv, { max: 1 });
  const filters = [...flags.list('filter')];
  if (args[0]) filters.push(`reference=${args[0]}`);
  const list = await cli.client.get<any[]>('/images/json', { all: flags.bool('all'), digests: flags.bool('digests'), filters: filterArgs(filters) });
  const noTrunc = flags.bool('no-trunc');
  const rows: Record<string, string>[] = [];
  for (const img of list.sort((a, b) => b.Created - a.Created)) {
    const id = noTrunc ? img.Id : img.Id.replace(/^sha256:/, '').slice(0, 12);
    const digest = (img.RepoDigests?.[0] ?? '').split('@')[1] ?? '<none>';
    const base = { ID: id, Digest: digest, CreatedSince: timeAgo(img.Created * 1000), CreatedAt: new Date(img.Created * 1000).toISOString(), Size: humanSize(img.Size), Containers: String(img.Containers ?? 'N/A') };
    const tags: string[] = img.RepoTags?.length ? img.RepoTags : ['<none>:<none>'];
    for (const t of tags) {
      const i = t.lastIndexOf(':');
      rows.push({ ...base, Repository: t.slice(0, i), Tag: t.slice(i + 1) });
    }
  }
  const defaultTable = flags.bool('digests') ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}' : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  if (flags.bool('quiet')) { cli.out([...new Set(rows.map((r) => r.ID))].map((i) => i + '\n').join('')); return 0; }
  cli.out(renderFormat(rows, { format: flags.string('format'), defaultTable, headers: HEADERS }));
  return 0;
}
