// barge registry serve: runs an OCI distribution registry in the foreground (its own process; barged
// is not needed). Stops on SIGINT/SIGTERM. See src/registry/server/server.ts.
import type { Cli } from '../cli.js';
import * as path from 'node:path';

export default async function registryServe(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Run an OCI distribution registry (in the foreground)', flags: [
    { name: 'addr', type: 'string', default: '127.0.0.1:5000', description: 'Address to listen on (HOST:PORT; ":5000" for every interface, port 0 for any free port)' },
    { name: 'root', type: 'string', default: '/var/lib/barge-registry', description: 'Directory where the registry keeps its content' },
    { name: 'auth', type: 'string', default: '', description: 'Authentication: "none", "basic" (htpasswd) or "token" (bearer tokens issued at /token) (default "basic" with --htpasswd, else "none")' },
    { name: 'htpasswd', type: 'string', description: 'htpasswd file of bcrypt entries (htpasswd -B) for basic auth and for the token endpoint' },
    { name: 'tls-cert', type: 'string', description: 'TLS certificate (PEM): serve HTTPS' },
    { name: 'tls-key', type: 'string', description: 'TLS private key (PEM)' },
    { name: 'token-realm', type: 'string', description: 'Token realm URL announced to clients (default: this server\'s /token)' },
    { name: 'token-service', type: 'string', default: 'barge-registry', description: 'Service name in tokens and challenges' },
    { name: 'token-key', type: 'string', description: 'File with the HMAC key that signs tokens (default ROOT/token.key, made if missing)' },
    { name: 'token-ttl', type: 'duration', default: 300e9, description: 'Lifetime of issued tokens' },
    { name: 'acl', type: 'string', description: 'File of "USER REPOSITORY-PATTERN ACTIONS" lines limiting what users may do (default: known users may do everything)' },
    { name: 'anonymous-pull', type: 'bool', description: 'Let anyone pull without credentials (with --auth basic or token)' },
    { name: 'upload-max-age', type: 'duration', default: 24 * 3600e9, description: 'Remove uploads left unfinished for this long' },
  ] }, argv, { exact: 0 });
  const htpasswd = flags.string('htpasswd') || undefined;
  let auth = flags.string('auth') || (htpasswd ? 'basic' : 'none');
  if (auth !== 'none' && auth !== 'basic' && auth !== 'token') { cli.err(`invalid --auth ${JSON.stringify(auth)}: use none, basic or token\n`); return 125; }
  if (auth === 'basic' && !htpasswd) { cli.err('--auth basic needs --htpasswd FILE (make one with: htpasswd -Bc FILE USER)\n'); return 125; }
  const { serveRegistry } = await import('../../registry/server/server.js');

  let reg;
  try {
    reg = await serveRegistry({
      addr: flags.string('addr'), root: path.resolve(flags.string('root')), auth: auth as 'none' | 'basic' | 'token', htpasswd,
      tlsCert: flags.string('tls-cert') || undefined, tlsKey: flags.string('tls-key') || undefined,
      tokenRealm: flags.string('token-realm') || undefined, tokenService: flags.string('token-service'),
      tokenKeyFile: flags.string('token-key') || undefined, tokenTtlSec: Math.max(1, Math.round(flags.number('token-ttl') / 1e9)),
      anonymousPull: flags.bool('anonymous-pull'), acl: flags.string('acl') || undefined, uploadMaxAgeMs: Math.max(1000, flags.number('upload-max-age') / 1e6),
    });
  } catch (e) {
    cli.err(`barge registry serve: ${(e as Error).message}\n`);
    return 1;
  }
  const sig = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.stderr.write(`registry: ${sig}: stopping\n`);
  await reg.close();
  return 0;
}
