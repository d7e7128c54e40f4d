// barge version: client and server versions.
import type { Cli } from '../cli.js';
import { renderFormat } from '../lib/format.js';

const FLAGS = [{ name: 'format', short: 'f', type: 'string' as const, description: 'Format output using a custom template' }];

export default async function version(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Show the barge version information', flags: FLAGS }, argv, { max: 0 });
  const client = { Version: '0.1.0', ApiVersion: '1.47', GoVersion: `node${process.versions.node}`, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch };
  let server: Record<string, unknown> | null = null;
  let serverErr: unknown = null;
  try { server = await cli.client.get('/version'); } catch (e) { serverErr = e; }
  const format = flags.string('format');
  if (format) {
    cli.out(renderFormat([{ Client: client, Server: server }], { format, defaultTable: '', headers: {} }));
  } else {
    cli.out(`Client:\n Version:           ${client.Version}\n API version:       ${client.ApiVersion}\n Node version:      ${client.GoVersion}\n OS/Arch:           ${client.Os}/${client.Arch}\n`);
    if (server) {
      cli.out(`\nServer: barge\n Engine:\n  Version:          ${server.Version}\n  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n  Node version:     ${server.GoVersion}\n  OS/Arch:          ${server.Os}/${server.Arch}\n  Kernel:           ${server.KernelVersion}\n`);
    }
  }
  if (serverErr) throw serverErr;
  return 0;
}
