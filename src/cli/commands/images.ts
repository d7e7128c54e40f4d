// barge images (image ls): list images, one row per repository:tag (and per digest with --digests), as
// docker/cli's image formatter lays them out.
import type { Cli } from '../cli.js';
import { renderFormat, timeAgo, humanSize, humanSizeWithPrecision, goTimeString } from '../lib/format.js';
import { goJSON } from '../lib/gofmt.js';
import { filterArgs } from '../lib/filters.js';

const FLAGS = [
  { name: 'all', short: 'a', type: 'bool' as const, description: 'Show all images (default hides intermediate images)' },
  { name: 'digests', type: 'bool' as const, description: 'Show digests' },
  { name: 'filter', short: 'f', type: 'list' as const, typeName: 'filter', description: 'Filter output based on conditions provided' },
  { name: 'format', type: 'string' as const, description: 'Format output using a custom template:\n\'table\':            Print output in table format with column headers (default)\n\'table TEMPLATE\':   Print output in table format using the given Go template\n\'json\':             Print in JSON format\n\'TEMPLATE\':         Print output using the given Go template' },
  { name: 'no-trunc', type: 'bool' as const, description: "Don't truncate output" },
  { name: 'quiet', short: 'q', type: 'bool' as const, description: 'Only show image IDs' },
];
const HEADERS = {
  Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE',
  Containers: 'CONTAINERS', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE',
};

interface ImageSummary { Id: string; RepoTags?: string[] | null; RepoDigests?: string[] | null; Created: number; Size: number; SharedSize?: number; Containers?: number }

/** "busybox:latest" -> ["busybox", "latest"]; "host:5000/a@sha256:..." -> ["host:5000/a", "sha256:..."]. */
function splitRef(ref: string, sep: '@' | ':'): [string, string] | null {
  const i = sep === '@' ? ref.indexOf('@') : ref.lastIndexOf(':');
  if (i <= 0 || (sep === ':' && ref.indexOf('/', i) >= 0)) return null;
  return [ref.slice(0, i), ref.slice(i + 1)];
}

const isDangling = (img: ImageSummary) => {
  const tags = img.RepoTags ?? [];
  const digests = img.RepoDigests ?? [];
  return (tags.length === 0 && digests.length === 0) ||
    (tags.length === 1 && tags[0] === '<none>:<none>' && digests.length === 1 && digests[0] === '<none>@<none>');
};

/** docker/cli's imageFormat: the (repository, tag, digest) rows of one image. */
export function imageRows(img: ImageSummary, showDigests: boolean): Array<{ repo: string; tag: string; digest: string }> {
  if (isDangling(img)) return [{ repo: '<none>', tag: '<none>', digest: '<none>' }];
  const repoTags = new Map<string, string[]>();
  const repoDigests = new Map<string, string[]>();
  for (const t of img.RepoTags ?? []) {
    const p = splitRef(t, ':');
    if (p && p[0] !== '<none>') repoTags.set(p[0], [...(repoTags.get(p[0]) ?? []), p[1]]);
  }
  for (const d of img.RepoDigests ?? []) {
    const p = splitRef(d, '@');
    if (p && p[0] !== '<none>') repoDigests.set(p[0], [...(repoDigests.get(p[0]) ?? []), p[1]]);
  }
  const rows: Array<{ repo: string; tag: string; digest: string }> = [];
  for (const [repo, tags] of repoTags) {
    const digests = showDigests ? repoDigests.get(repo) ?? [] : [];
    repoDigests.delete(repo);
    for (const tag of tags) {
      if (digests.length === 0) rows.push({ repo, tag, digest: '<none>' });
      for (const digest of digests) rows.push({ repo, tag, digest });
    }
  }
  for (const [repo, digests] of repoDigests) {
    if (showDigests) for (const digest of digests) rows.push({ repo, tag: '<none>', digest });
    else rows.push({ repo, tag: '<none>', digest: '' });
  }
  return rows;
}

export default async function images(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] [REPOSITORY[:TAG]]', description: 'List images', aliases: ['barge image ls', 'barge image list', 'barge images'], flags: FLAGS }, argv, { max: 1 });
  const filters = [...flags.list('filter')];
  if (args[0]) filters.push(`reference=${args[0]}`);
  const list = await cli.client.get<ImageSummary[]>('/images/json', { all: flags.bool('all'), digests: flags.bool('digests'), filters: filterArgs(filters) });
  const noTrunc = flags.bool('no-trunc');
  const digests = flags.bool('digests');
  const rows: Record<string, string>[] = [];
  for (const img of [...list].sort((a, b) => b.Created - a.Created)) {
    const shared = img.SharedSize ?? -1;
    const base = {
      Containers: img.Containers === undefined || img.Containers === -1 ? 'N/A' : String(img.Containers),
      CreatedAt: goTimeString(new Date(img.Created * 1000)),
      CreatedSince: timeAgo(img.Created * 1000),
      ID: noTrunc ? img.Id : img.Id.replace(/^sha256:/, '').slice(0, 12),
      SharedSize: shared === -1 ? 'N/A' : humanSizeWithPrecision(shared, 4),
      Size: humanSize(img.Size),
      UniqueSize: shared === -1 || img.Size === -1 ? 'N/A' : humanSizeWithPrecision(img.Size - shared, 4),
      VirtualSize: humanSizeWithPrecision(img.Size, 4),
    };
    for (const r of imageRows(img, digests)) rows.push({ ...base, Digest: r.digest, Repository: r.repo, Tag: r.tag });
  }
  const format = flags.string('format');
  if (format === 'json' && !flags.bool('quiet')) {
    for (const r of rows) cli.out(goJSON(Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1))), { escapeHTML: true }) + '\n');
    return 0;
  }
  const defaultTable = digests ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}' : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  cli.out(renderFormat(rows, { format, defaultTable, headers: HEADERS, quiet: flags.bool('quiet') }));
  return 0;
}
