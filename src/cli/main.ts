// barge: the command-line client. Parses the global options, finds the command and loads only
// that command's module (start-up time matters: every command pays it).
import { Cli } from './cli.js';

// command name -> module in ./commands (one file per command). Management commands map their
// subcommands to the same modules (docker container ls == docker ps).
const TOP: Record<string, string> = {
  attach: 'attach', build: 'build', commit: 'commit', cp: 'cp', create: 'create', diff: 'diff', events: 'events', exec: 'exec',
  export: 'export', history: 'history', images: 'images', import: 'import', info: 'info', inspect: 'inspect',
  kill: 'kill', load: 'load', login: 'login', logout: 'logout', logs: 'logs', pause: 'pause', port: 'port', ps: 'ps', pull: 'pull', push: 'push', rename: 'rename',
  restart: 'restart', rm: 'rm', rmi: 'rmi', run: 'run', save: 'save', start: 'start', stats: 'stats',
  stop: 'stop', tag: 'tag', top: 'top', unpause: 'unpause', version: 'version', wait: 'wait',
};

const MANAGEMENT: Record<string, { description: string; commands: Record<string, string> }> = {
  container: {
    description: 'Manage containers',
    commands: {
      attach: 'attach', commit: 'commit', cp: 'cp', create: 'create', diff: 'diff', exec: 'exec', export: 'export',
      inspect: 'container-inspect', kill: 'kill', logs: 'logs', ls: 'ps', list: 'ps', ps: 'ps', pause: 'pause', port: 'port',
      prune: 'container-prune', rename: 'rename', restart: 'restart', rm: 'rm', remove: 'rm', run: 'run', start: 'start',
      stats: 'stats', stop: 'stop', top: 'top', unpause: 'unpause', wait: 'wait',
    },
  },
  image: {
    description: 'Manage images',
    commands: {
      bootstrap: 'image-bootstrap', build: 'build', history: 'history', import: 'import', inspect: 'image-inspect', load: 'load',
      ls: 'images', list: 'images', prune: 'image-prune', pull: 'pull', push: 'push', rm: 'rmi', remove: 'rmi', save: 'save', tag: 'tag',
    },
  },
  system: {
    description: 'Manage barge',
    commands: { df: 'system-df', events: 'events', info: 'info', prune: 'system-prune' },
  },
  builder: {
    description: 'Manage builds',
    commands: { build: 'build', prune: 'builder-prune' },
  },
  volume: {
    description: 'Manage volumes',
    commands: {
      create: 'volume-create', inspect: 'volume-inspect', ls: 'volume-ls', list: 'volume-ls', prune: 'volume-prune',
      rm: 'volume-rm', remove: 'volume-rm',
    },
  },
  network: {
    description: 'Manage networks',
    commands: {
      connect: 'network-connect', create: 'network-create', disconnect: 'network-disconnect', inspect: 'network-inspect',
      ls: 'network-ls', list: 'network-ls', prune: 'network-prune', rm: 'network-rm', remove: 'network-rm',
    },
  },
  registry: {
    description: 'Run an OCI registry',
    commands: { serve: 'registry-serve', gc: 'registry-gc' },
  },
};


type CommandModule = { default: (cli: Cli, argv: string[]) => Promise<number> };
// Static imports (one per command) so a bundler can split each command into its own chunk.
const LOAD: Record<string, () => Promise<CommandModule>> = {
  'attach': () => import('./commands/attach.js'),
  'build': () => import('./commands/build.js'),
  'builder-prune': () => import('./commands/builder-prune.js'),
  'commit': () => import('./commands/commit.js'),
  'container-inspect': () => import('./commands/container-inspect.js'),
  'container-prune': () => import('./commands/container-prune.js'),
  'cp': () => import('./commands/cp.js'),
  'create': () => import('./commands/create.js'),
  'diff': () => import('./commands/diff.js'),
  'events': () => import('./commands/events.js'),
  'exec': () => import('./commands/exec.js'),
  'export': () => import('./commands/export.js'),
  'history': () => import('./commands/history.js'),
  'image-bootstrap': () => import('./commands/image-bootstrap.js'),
  'image-inspect': () => import('./commands/image-inspect.js'),
  'image-prune': () => import('./commands/image-prune.js'),
  'images': () => import('./commands/images.js'),
  'import': () => import('./commands/import.js'),
  'info': () => import('./commands/info.js'),
  'inspect': () => import('./commands/inspect.js'),
  'kill': () => import('./commands/kill.js'),
  'load': () => import('./commands/load.js'),
  'login': () => import('./commands/login.js'),
  'logout': () => import('./commands/logout.js'),
  'logs': () => import('./commands/logs.js'),
  'network-connect': () => import('./commands/network-connect.js'),
  'network-create': () => import('./commands/network-create.js'),
  'network-disconnect': () => import('./commands/network-disconnect.js'),
  'network-inspect': () => import('./commands/network-inspect.js'),
  'network-prune': () => import('./commands/network-prune.js'),
  'network-rm': () => import('./commands/network-rm.js'),
  'network-ls': () => import('./commands/network-ls.js'),
  'pause': () => import('./commands/pause.js'),
  'port': () => import('./commands/port.js'),
  'ps': () => import('./commands/ps.js'),
  'pull': () => import('./commands/pull.js'),
  'push': () => import('./commands/push.js'),
  'registry-gc': () => import('./commands/registry-gc.js'),
  'registry-serve': () => import('./commands/registry-serve.js'),
  'rename': () => import('./commands/rename.js'),
  'restart': () => import('./commands/restart.js'),
  'rm': () => import('./commands/rm.js'),
  'rmi': () => import('./commands/rmi.js'),
  'run': () => import('./commands/run.js'),
  'save': () => import('./commands/save.js'),
  'start': () => import('./commands/start.js'),
  'stats': () => import('./commands/stats.js'),
  'stop': () => import('./commands/stop.js'),
  'system-df': () => import('./commands/system-df.js'),
  'system-prune': () => import('./commands/system-prune.js'),
  'tag': () => import('./commands/tag.js'),
  'top': () => import('./commands/top.js'),
  'unpause': () => import('./commands/unpause.js'),
  'version': () => import('./commands/version.js'),
  'volume-create': () => import('./commands/volume-create.js'),
  'volume-inspect': () => import('./commands/volume-inspect.js'),
  'volume-ls': () => import('./commands/volume-ls.js'),
  'volume-prune': () => import('./commands/volume-prune.js'),
  'volume-rm': () => import('./commands/volume-rm.js'),
  'wait': () => import('./commands/wait.js'),
};

const GROUPS: Array<{ title: string; commands: string[] }> = [
  { title: 'Common Commands', commands: ['run', 'exec', 'ps', 'build', 'pull', 'push', 'images', 'login', 'logout', 'info', 'version'] },
  { title: 'Management Commands', commands: Object.keys(MANAGEMENT) },
  { title: 'Commands', commands: ['attach', 'commit', 'cp', 'create', 'diff', 'events', 'export', 'history', 'import', 'inspect', 'kill', 'load', 'logs', 'pause', 'port', 'rename', 'restart', 'rm', 'rmi', 'save', 'start', 'stats', 'stop', 'tag', 'top', 'unpause', 'wait'] },
];

const ROOT_HELP = `
Usage:  barge [OPTIONS] COMMAND

A container engine that does what Docker does: barge is its client, barged its daemon.

${GROUPS.map((g) => `${g.title}:\n${g.commands.map((c) => `  ${c}`).join('\n')}`).join('\n\n')}

Global Options:
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (default $BARGE_HOST or unix:///run/barge/barge.sock)
  -l, --log-level string   Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
  -v, --version            Print version information and quit

Run 'barge COMMAND --help' for more information on a command.
`;

async function main(argv: string[]): Promise<number> {
  let host: string | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-H' || a === '--host') { host = argv[++i]; if (host === undefined) return usageError('flag needs an argument: --host'); continue; }
    if (a.startsWith('--host=')) { host = a.slice(7); continue; }
    if (a.startsWith('-H') && a.length > 2) { host = a.slice(2).replace(/^=/, ''); continue; }
    if (a === '-D' || a === '--debug') { process.env.BARGE_DEBUG = '1'; continue; }
    if (a === '-l' || a === '--log-level') { i++; continue; }
    if (a.startsWith('--log-level=')) continue;
    if (a === '--config') { i++; continue; }
    if (a.startsWith('--config=')) continue;
    if (a === '-v' || a === '--version') { process.stdout.write('barge version 0.1.0\n'); return 0; }
    if (a === '-h' || a === '--help') { process.stdout.write(ROOT_HELP); return 0; }
    if (a.startsWith('-')) return usageError(`unknown flag: ${a}`);
    break;
  }
  const name = argv[i];
  if (name === undefined || name === 'help') { process.stdout.write(ROOT_HELP); return 0; }
  let rest = argv.slice(i + 1);
  let path = `barge ${name}`;
  let mod = TOP[name];
  const mgmt = MANAGEMENT[name];
  if (mgmt) {
    const sub = rest[0];
    if (sub === undefined || sub === '--help' || sub === '-h') {
      process.stdout.write(`\nUsage:  barge ${name} COMMAND\n\n${mgmt.description}\n\nCommands:\n${Object.keys(mgmt.commands).map((c) => `  ${c}`).join('\n')}\n\nRun 'barge ${name} COMMAND --help' for more information on a command.\n`);
      return sub === undefined ? 0 : 0;
    }
    mod = mgmt.commands[sub];
    if (!mod) return usageError(`barge: unknown command: barge ${name} ${sub}\n\nRun 'barge ${name} --help' for more information`);
    path = `barge ${name} ${sub}`;
    rest = rest.slice(1);
  }
  if (!mod) return usageError(`barge: unknown command: barge ${name}\n\nRun 'barge --help' for more information`);
  const cli = new Cli(host, path);
  const load = LOAD[mod];
  if (!load) return usageError(`barge: command ${path} is not available in this build`);
  const m = await load();
  try {
    return await m.default(cli, rest);
  } finally {
    cli.close();
  }
}

function usageError(msg: string): number {
  process.stderr.write(msg + '\n');
  return 125;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.exitCode = Cli.report(err); },
);
