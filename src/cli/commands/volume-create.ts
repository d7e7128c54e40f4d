// barge volume create: create a volume.
import type { Cli } from '../cli.js';
import { UsageError } from '../lib/flags.js';

export default async function volumeCreate(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] [VOLUME]', description: 'Create a volume', flags: [
    { name: 'driver', short: 'd', type: 'string', default: 'local', description: 'Specify volume driver name' },
    { name: 'label', type: 'list', description: 'Set metadata for a volume' },
    { name: 'name', type: 'string', description: 'Specify volume name', hidden: true },
    { name: 'opt', short: 'o', type: 'list', typeName: 'map', description: 'Set driver specific options' },
  ] }, argv, { max: 1 });
  if (args[0] && flags.string('name') && args[0] !== flags.string('name')) throw new UsageError(`conflicting options: cannot specify a volume-name through both --name and as a positional arg`, 125);
  const kv = (list: string[], what: string) => {
    const out: Record<string, string> = {};
    for (const x of list) {
      const i = x.indexOf('=');
      if (what === 'opt' && i <= 0) throw new UsageError(`invalid argument "${x}" for "-o, --opt" flag: bad format: want key=value`, 125);
      out[i < 0 ? x : x.slice(0, i)] = i < 0 ? '' : x.slice(i + 1);
    }
    return out;
  };
  const v = await cli.client.post<{ Name: string }>('/volumes/create', {
    Name: args[0] ?? flags.string('name') ?? '', Driver: flags.string('driver'), DriverOpts: kv(flags.list('opt'), 'opt'), Labels: kv(flags.list('label'), 'label'),
  });
  cli.out(v.Name + '\n');
  return 0;
}
