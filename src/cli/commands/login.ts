// barge login: check credentials with the registry through the daemon (POST /auth) and store them in
// the CLI's config.json, as docker login does.
import type { Cli } from '../cli.js';
import { HUB_KEY, configPath, getAuth, serverKey, setAuth } from '../lib/credentials.js';

/** Reads one line from the terminal; without echo for passwords. */
function prompt(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let buf = '';
    const raw = hidden && stdin.isTTY;
    if (raw) stdin.setRawMode(true);
    stdin.resume();
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') { done(); return; }
        if (ch === '\u0003') { cleanup(); reject(new Error('interrupted')); return; }
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1); else buf += ch;
      }
    };
    const cleanup = () => { stdin.off('data', onData); if (raw) stdin.setRawMode(false); stdin.pause(); };
    const done = () => { cleanup(); if (hidden) process.stderr.write('\n'); resolve(buf); };
    stdin.on('data', onData);
  });
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const c of process.stdin) s += c;
  return s;
}

export default async function login(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] [SERVER]', description: 'Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.', aliases: ['barge login'], flags: [
    { name: 'password', short: 'p', type: 'string', description: 'Password or Personal Access Token (PAT)' },
    { name: 'password-stdin', type: 'bool', description: 'Take the Password or Personal Access Token (PAT) from stdin' },
    { name: 'username', short: 'u', type: 'string', description: 'Username' },
  ] }, argv, { max: 1 });
  const server = args[0] ?? HUB_KEY;
  let username = flags.string('username').trim();
  let password = flags.string('password');
  if (password && flags.bool('password-stdin')) { cli.err('--password and --password-stdin are mutually exclusive\n'); return 1; }
  if (flags.bool('password-stdin')) {
    if (!username) { cli.err('Must provide --username with --password-stdin\n'); return 1; }
    password = (await readStdin()).replace(/\r?\n$/, '');
  } else if (password) {
    cli.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (!username || !password) {
    const stored = getAuth(server);
    if (!username && !password && stored?.username && stored.password) {
      username = stored.username;
      password = stored.password;
    } else {
      if (!process.stdin.isTTY) { cli.err('Error: Cannot perform an interactive login from a non TTY device\n'); return 1; }
      if (!username) username = (await prompt(`Username${stored?.username ? ` (${stored.username})` : ''}: `, false)).trim() || stored?.username || '';
      if (!username) { cli.err('Error: Non-null Username Required\n'); return 1; }
      if (!password) password = await prompt('Password: ', true);
      if (!password) { cli.err('Error: Password Required\n'); return 1; }
    }
  }
  const r = await cli.client.post<{ Status: string; IdentityToken?: string }>('/auth', { username, password, serveraddress: server });
  setAuth(serverKey(server), { username, password, ...(r.IdentityToken ? { identitytoken: r.IdentityToken } : {}) });
  cli.err(`WARNING! Your password will be stored unencrypted in ${configPath()}.\n\n`);
  cli.out(`${r.Status || 'Login Succeeded'}\n`);
  return 0;
}
