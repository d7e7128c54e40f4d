// barge network create: create a network.
import type { Cli } from '../cli.js';
import { UsageError } from '../lib/flags.js';

function keyValues(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`invalid ${what} "${kv}": want key=value`, 125);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export default async function networkCreate(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] NETWORK', description: 'Create a network', flags: [
    { name: 'attachable', type: 'bool', description: 'Enable manual container attachment' },
    { name: 'aux-address', type: 'list', typeName: 'map', description: 'Auxiliary IPv4 or IPv6 addresses used by Network driver' },
    { name: 'driver', short: 'd', type: 'string', default: 'bridge', description: 'Driver to manage the Network' },
    { name: 'gateway', type: 'stringSlice', description: 'IPv4 or IPv6 Gateway for the master subnet' },
    { name: 'internal', type: 'bool', description: 'Restrict external access to the network' },
    { name: 'ip-range', type: 'stringSlice', description: 'Allocate container ip from a sub-range' },
    { name: 'ipam-driver', type: 'string', default: 'default', description: 'IP Address Management Driver' },
    { name: 'ipam-opt', type: 'list', typeName: 'map', description: 'Set IPAM driver specific options' },
    { name: 'ipv6', type: 'bool', description: 'Enable or disable IPv6 networking' },
    { name: 'label', type: 'list', description: 'Set metadata on a network' },
    { name: 'opt', short: 'o', type: 'list', typeName: 'map', description: 'Set driver specific options' },
    { name: 'scope', type: 'string', description: "Control the network's scope" },
    { name: 'subnet', type: 'stringSlice', description: 'Subnet in CIDR format that represents a network segment' },
  ] }, argv, { min: 1, max: 1 });
  const subnets = flags.list('subnet'), gateways = flags.list('gateway'), ranges = flags.list('ip-range');
  if (gateways.length > subnets.length || ranges.length > subnets.length) throw new UsageError('every ip-range or gateway must have a corresponding subnet', 125);
  const labels: Record<string, string> = {};
  for (const l of flags.list('label')) { const i = l.indexOf('='); labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1); }
  const body = {
    Name: args[0], Driver: flags.string('driver'), Internal: flags.bool('internal'), Attachable: flags.bool('attachable'),
    EnableIPv6: flags.bool('ipv6'), Options: keyValues(flags.list('opt'), 'option'), Labels: labels,
    ...(flags.string('scope') ? { Scope: flags.string('scope') } : {}),
    IPAM: {
      Driver: flags.string('ipam-driver'), Options: keyValues(flags.list('ipam-opt'), 'IPAM option'),
      Config: subnets.map((s, i) => ({ Subnet: s, ...(ranges[i] ? { IPRange: ranges[i] } : {}), ...(gateways[i] ? { Gateway: gateways[i] } : {}) })),
    },
  };
  const r = await cli.client.post<{ Id: string }>('/networks/create', body);
  cli.out(r.Id + '\n');
  return 0;
}
