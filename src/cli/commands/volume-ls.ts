// barge volume ls: list volumes.
import type { Cli } from '../cli.js';
import { renderFormat } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';

export default async function volumeLs(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'List volumes', aliases: ['barge volume ls', 'barge volume list'], flags: [
    { name: 'filter', short: 'f', type: 'list', typeName: 'filter', description: "Provide filter values (e.g. 'dangling=true')" },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display volume names' },
  ] }, argv, { max: 0 });
  const r = await cli.client.get<{ Volumes: Array<{ Name: string; Driver: string; Scope: string; Mountpoint: string; Labels: Record<string, string> | null }> | null }>('/volumes', { filters: filterArgs(flags.list('filter')) });
  const rows = (r.Volumes ?? []).map((v) => ({
    Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint,
    Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(','),
  }));
  cli.out(renderFormat(rows, { format: flags.string('format'), defaultTable: 'table {{.Driver}}\t{{.Name}}', headers: { Driver: 'DRIVER', Name: 'VOLUME NAME', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS' }, quiet: flags.bool('quiet'), quietFormat: '{{.Name}}' }));
  return 0;
}
