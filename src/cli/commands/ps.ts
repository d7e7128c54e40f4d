// barge ps (container ls): list containers.
import type { Cli } from '../cli.js';
import { renderFormat, timeAgo, truncateId, formatCommand, formatNames, formatLabels, displayablePorts, humanSize, type PortSummary } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';

const FLAGS = [
  { name: 'all', short: 'a', type: 'bool' as const, description: 'Show all containers (default shows just running)' },
  { name: 'filter', short: 'f', type: 'list' as const, typeName: 'filter', description: 'Filter output based on conditions provided' },
  { name: 'format', type: 'string' as const, description: 'Format output using a custom template:\n\'table\':            Print output in table format with column headers (default)\n\'table TEMPLATE\':   Print output in table format using the given Go template\n\'json\':             Print in JSON format\n\'TEMPLATE\':         Print output using the given Go template' },
  { name: 'last', short: 'n', type: 'int' as const, default: -1, description: 'Show n last created containers (includes all states)' },
  { name: 'latest', short: 'l', type: 'bool' as const, description: 'Show the latest created container (includes all states)' },
  { name: 'no-trunc', type: 'bool' as const, description: "Don't truncate output" },
  { name: 'quiet', short: 'q', type: 'bool' as const, description: 'Only display container IDs' },
  { name: 'size', short: 's', type: 'bool' as const, description: 'Display total file sizes' },
];

const HEADERS = { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES', Label: 'LABEL' };

export default async function ps(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'List containers', aliases: ['barge container ls', 'barge container list', 'barge container ps', 'barge ps'], flags: FLAGS }, argv, { max: 0 });
  const noTrunc = flags.bool('no-trunc');
  let limit = flags.number('last');
  if (flags.bool('latest')) limit = 1;
  const list = await cli.client.get<any[]>('/containers/json', { all: flags.bool('all'), limit: limit > 0 ? limit : undefined, size: flags.bool('size'), filters: filterArgs(flags.list('filter')) });
  const rows = list.map((c) => ({
    ID: noTrunc ? c.Id : truncateId(c.Id),
    Image: noTrunc ? c.Image : (c.Image.startsWith('sha256:') ? truncateId(c.Image) : c.Image),
    Command: formatCommand(c.Command, !noTrunc),
    CreatedAt: new Date(c.Created * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
    RunningFor: timeAgo(c.Created * 1000),
    Ports: displayablePorts(c.Ports as PortSummary[]),
    State: c.State,
    Status: c.Status,
    Size: c.SizeRw !== undefined ? `${humanSize(c.SizeRw ?? 0)} (virtual ${humanSize(c.SizeRootFs ?? 0)})` : '0B',
    Names: formatNames(c.Names, !noTrunc),
    Labels: formatLabels(c.Labels),
    Label: (k: string) => c.Labels?.[k] ?? '',
    Mounts: (c.Mounts ?? []).map((m: any) => m.Name ?? m.Source).join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).join(','),
    LocalVolumes: String((c.Mounts ?? []).filter((m: any) => m.Driver === 'local').length),
  }));
  const defaultTable = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}' + (flags.bool('size') ? '\t{{.Size}}' : '');
  const format = flags.string('format');
  if (format === 'json') { for (const r of rows) cli.out(JSON.stringify({ ...r, Label: undefined }) + '\n'); return 0; }
  cli.out(renderFormat(rows, { format, defaultTable, headers: HEADERS, quiet: flags.bool('quiet') }));
  return 0;
}
