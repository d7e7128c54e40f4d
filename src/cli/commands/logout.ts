// barge logout: forget the credentials stored for a registry.
import type { Cli } from '../cli.js';
import { HUB_KEY, removeAuth, serverKey } from '../lib/credentials.js';

export default async function logout(cli: Cli, argv: string[]): Promise<number> {
  const { args } = cli.parse({ usage: '[SERVER]', description: 'Log out from a registry.\nIf no server is specified, the default is defined by the daemon.', aliases: ['barge logout'] }, argv, { max: 1 });
  const key = serverKey(args[0] ?? HUB_KEY);
  if (!removeAuth(key)) { cli.out(`Not logged in to ${key}\n`); return 0; }
  cli.out(`Removing login credentials for ${key}\n`);
  return 0;
}
