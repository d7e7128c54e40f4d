// barge network ls: list networks.
import type { Cli } from '../cli.js';
import { renderFormat } from '../lib/format.js';
import { filterArgs } from '../lib/filters.js';

export default async function networkLs(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'List networks', aliases: ['barge network ls', 'barge network list'], flags: [
    { name: 'filter', short: 'f', type: 'list', typeName: 'filter', description: 'Provide filter values (e.g. "driver=bridge")' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'no-trunc', type: 'bool', description: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display network IDs' },
  ] }, argv, { max: 0 });
  const list = await cli.client.get<Array<{ Id: string; Name: string; Driver: string; Scope: string }>>('/networks', { filters: filterArgs(flags.list('filter')) });
  const noTrunc = flags.bool('no-trunc');
  const rows = list.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0)).map((n) => ({ ID: noTrunc ? n.Id : n.Id.slice(0, 12), Name: n.Name, Driver: n.Driver, Scope: n.Scope }));
  cli.out(renderFormat(rows, { format: flags.string('format'), defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE' }, quiet: flags.bool('quiet') }));
  return 0;
}
