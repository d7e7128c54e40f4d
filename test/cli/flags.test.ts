import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseFlags, parseCommand, checkArgs, usage, flagUsages, useLine, UsageError, type FlagSpec, type CommandSpec,
} from '../../src/cli/lib/flags.js';
import { ramInBytes } from '../../src/cli/lib/units.js';

const runFlags: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', description: 'Run container in background and print container ID' },
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { name: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host" },
  { name: 'name', type: 'string', description: 'Assign a name to the container' },
  { name: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { name: 'network', type: 'string', aliases: ['net'], description: 'Connect a container to a network' },
  { name: 'memory', short: 'm', type: 'string', typeName: 'bytes', parse: ramInBytes, default: 0, description: 'Memory limit' },
  { name: 'stop-timeout', type: 'int', description: 'Timeout (in seconds) to stop a container' },
  { name: 'health-interval', type: 'duration', description: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { name: 'link', type: 'list', deprecated: 'use user-defined networks', description: 'Add link to another container' },
];
const run: CommandSpec = {
  path: 'barge run', usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]', description: 'Create and run a new container from an image',
  aliases: ['barge container run', 'barge run'], flags: runFlags, interspersed: false,
};

const flagErr = (argv: string[], specs: FlagSpec[] = runFlags) => {
  try { parseFlags(specs, argv); } catch (e) { assert.ok(e instanceof UsageError); return (e as Error).message; }
  assert.fail(`no error for ${argv.join(' ')}`);
};

test('bool flags: short, long, combined, =value', () => {
  const r = parseFlags(runFlags, ['-dit', 'alpine']);
  assert.equal(r.flags.bool('detach'), true);
  assert.equal(r.flags.bool('interactive'), true);
  assert.equal(r.flags.bool('tty'), true);
  assert.deepEqual(r.args, ['alpine']);
  assert.equal(parseFlags(runFlags, ['--detach=false']).flags.bool('detach'), false);
  assert.equal(parseFlags(runFlags, ['-d=false']).flags.bool('detach'), false);
  assert.equal(parseFlags(runFlags, ['--detach=1']).flags.bool('detach'), true);
  const none = parseFlags(runFlags, []);
  assert.equal(none.flags.bool('detach'), false);
  assert.equal(none.flags.changed('detach'), false);
  assert.equal(parseFlags(runFlags, ['--detach=false']).flags.changed('detach'), true);
});

test('value flags: -e A=1, -eA=1, -p8080:80, --name x, --name=x, -e=A', () => {
  const r = parseFlags(runFlags, ['-e', 'A=1', '-eB=2', '-e=C', '--env', 'D', '--env=E=5', '-p8080:80', '--name', 'x', '--hostname=h']);
  assert.deepEqual(r.flags.list('env'), ['A=1', 'B=2', 'C', 'D', 'E=5']);
  assert.deepEqual(r.flags.list('publish'), ['8080:80']);
  assert.equal(r.flags.string('name'), 'x');
  assert.equal(r.flags.string('hostname'), 'h');
  assert.equal(parseFlags(runFlags, ['--name=']).flags.string('name'), '');
  assert.equal(parseFlags(runFlags, ['--name', '--detach']).flags.string('name'), '--detach');
  assert.equal(parseFlags(runFlags, ['-dh', 'box']).flags.string('hostname'), 'box');
  assert.equal(parseFlags(runFlags, ['--name', 'a', '--name', 'b']).flags.string('name'), 'b');
});

test('typed values: int, duration, custom parse, aliases', () => {
  const r = parseFlags(runFlags, ['--stop-timeout', '0x10', '--health-interval', '1m30s', '-m', '1g', '--net', 'host']);
  assert.equal(r.flags.number('stop-timeout'), 16);
  assert.equal(r.flags.number('health-interval'), 90e9);
  assert.equal(r.flags.number('memory'), 1024 ** 3);
  assert.equal(r.flags.string('network'), 'host');
  assert.equal(r.flags.changed('network'), true);
});

test('-- ends flags; positionals may be interspersed unless disabled', () => {
  const r = parseFlags(runFlags, ['a', '-d', '--', '-t', 'b']);
  assert.deepEqual(r.args, ['a', '-t', 'b']);
  assert.equal(r.argsLenAtDash, 1);
  assert.equal(r.flags.bool('detach'), true);
  assert.equal(r.flags.bool('tty'), false);
  assert.deepEqual(parseFlags(runFlags, ['-', '']).args, ['-', '']);
});

test('interspersed: false stops at the first positional (docker run IMAGE CMD...)', () => {
  const r = parseFlags(runFlags, ['-d', 'alpine', 'sh', '-c', 'ls -l', '--name', 'x'], { interspersed: false });
  assert.deepEqual(r.args, ['alpine', 'sh', '-c', 'ls -l', '--name', 'x']);
  assert.equal(r.flags.bool('detach'), true);
  assert.equal(r.flags.string('name'), '');
  const p = parseCommand(run, ['busybox', '-d']);
  assert.deepEqual(p.args, ['busybox', '-d']);
});

test('help: --help, and -h only when no flag claims it', () => {
  assert.equal(parseFlags(runFlags, ['--help']).help, true);
  assert.equal(parseFlags(runFlags, ['-h', 'x']).help, false);
  assert.equal(parseFlags([{ name: 'all', short: 'a', type: 'bool', description: '' }], ['-ah']).help, true);
  assert.equal(parseCommand(run, ['--help'], { min: 1 }).help, true); // no argument-count error with --help
  assert.equal(parseFlags(runFlags, ['alpine', '--help'], { interspersed: false }).help, false);
});

test('deprecated flags warn once and are hidden from help', () => {
  const r = parseFlags(runFlags, ['--link', 'a:b', '--link', 'c']);
  assert.deepEqual(r.flags.list('link'), ['a:b', 'c']);
  assert.deepEqual(r.warnings, ['Flag --link has been deprecated, use user-defined networks']);
  assert.ok(!usage(run).includes('--link'));
});

test('stringSlice and stringArray semantics', () => {
  const specs: FlagSpec[] = [
    { name: 'cap-add', type: 'stringSlice', default: ['X'], description: '' },
    { name: 'arr', type: 'stringArray', default: ['d'], description: '' },
  ];
  const r = parseFlags(specs, ['--cap-add', 'A,B', '--cap-add', '"C,D"', '--arr', 'a,b', '--arr', 'c']);
  assert.deepEqual(r.flags.list('cap-add'), ['A', 'B', 'C,D']);
  assert.deepEqual(r.flags.list('arr'), ['a,b', 'c']);
  assert.deepEqual(parseFlags(specs, []).flags.list('arr'), ['d']);
});

test("errors are pflag's", () => {
  assert.equal(flagErr(['--foo']), 'unknown flag: --foo');
  assert.equal(flagErr(['--foo=bar']), 'unknown flag: --foo');
  assert.equal(flagErr(['-z']), "unknown shorthand flag: 'z' in -z");
  assert.equal(flagErr(['-dz']), "unknown shorthand flag: 'z' in -z");
  assert.equal(flagErr(['--name']), 'flag needs an argument: --name');
  assert.equal(flagErr(['-e']), "flag needs an argument: 'e' in -e");
  assert.equal(flagErr(['-de']), "flag needs an argument: 'e' in -e");
  assert.equal(flagErr(['---x']), 'bad flag syntax: ---x');
  assert.equal(flagErr(['--stop-timeout', 'abc']), 'invalid argument "abc" for "--stop-timeout" flag: strconv.ParseInt: parsing "abc": invalid syntax');
  assert.equal(flagErr(['-d=maybe']), 'invalid argument "maybe" for "-d, --detach" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
  assert.equal(flagErr(['-m', '12x']), 'invalid argument "12x" for "-m, --memory" flag: invalid suffix: \'x\'');
  assert.equal(flagErr(['--health-interval', '5']), 'invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5"');
});

test('parseCommand wraps flag errors as docker (exit 125)', () => {
  try { parseCommand(run, ['--foo']); assert.fail('no error'); } catch (e) {
    assert.ok(e instanceof UsageError);
    assert.equal(e.exitCode, 125);
    assert.equal(e.message, "unknown flag: --foo\n\nUsage:  barge run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'barge run --help' for more information");
  }
});

test('argument-count checks worded as docker/cli (exit 1)', () => {
  const ps: CommandSpec = { path: 'barge ps', usage: '[OPTIONS]', description: 'List containers' };
  const stop: CommandSpec = { path: 'barge stop', usage: '[OPTIONS] CONTAINER [CONTAINER...]', description: 'Stop one or more running containers' };
  const msg = (c: CommandSpec, args: string[], rule: Parameters<typeof checkArgs>[2]) => {
    try { checkArgs(c, args, rule); return 'ok'; } catch (e) { assert.equal((e as UsageError).exitCode, 1); return (e as Error).message; }
  };
  assert.equal(msg(run, [], { min: 1 }), "barge: 'barge run' requires at least 1 argument\n\nUsage:  barge run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'barge run --help' for more information");
  assert.equal(msg(stop, [], { min: 1 }).split('\n')[0], "barge: 'barge stop' requires at least 1 argument");
  assert.equal(msg(ps, ['x'], { max: 0 }), "barge: 'barge ps' accepts no arguments\n\nUsage:  barge ps [OPTIONS]\n\nRun 'barge ps --help' for more information");
  assert.equal(msg(ps, ['a', 'b'], { exact: 1 }).split('\n')[0], "barge: 'barge ps' requires 1 argument");
  assert.equal(msg(ps, ['a', 'b', 'c'], { max: 2 }).split('\n')[0], "barge: 'barge ps' requires at most 2 arguments");
  assert.equal(msg(ps, [], { min: 1, max: 2 }).split('\n')[0], "barge: 'barge ps' requires at least 1 and at most 2 arguments");
  assert.equal(msg(ps, ['a'], { min: 1, max: 2 }), 'ok');
  assert.equal(msg(ps, [], { min: 2 }).split('\n')[0], "barge: 'barge ps' requires at least 2 arguments");
});

test('usage text matches docker ps --help layout', () => {
  const ps: CommandSpec = {
    path: 'barge ps', usage: '[OPTIONS]', description: 'List containers',
    aliases: ['barge container ls', 'barge container list', 'barge container ps', 'barge ps'],
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
      { name: 'filter', short: 'f', type: 'list', typeName: 'filter', description: 'Filter output based on conditions provided' },
      { name: 'format', type: 'string', description: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'json':             Print in JSON format" },
      { name: 'last', short: 'n', type: 'int', default: -1, description: 'Show n last created containers (includes all states)' },
      { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
      { name: 'secret', type: 'bool', hidden: true, description: 'x' },
    ],
  };
  assert.equal(usage(ps), [
    'Usage:  barge ps [OPTIONS]',
    '',
    'List containers',
    '',
    'Aliases:',
    '  barge container ls, barge container list, barge container ps, barge ps',
    '',
    'Options:',
    '  -a, --all             Show all containers (default shows just running)',
    '  -f, --filter filter   Filter output based on conditions provided',
    '      --format string   Format output using a custom template:',
    "                        'table':            Print output in table format with column headers (default)",
    "                        'json':             Print in JSON format",
    '  -n, --last int        Show n last created containers (includes all states) (default -1)',
    "      --no-trunc        Don't truncate output",
    '',
  ].join('\n'));
});

test('flag usage defaults and value names follow pflag', () => {
  const text = flagUsages([
    { name: 'restart', type: 'string', default: 'no', description: 'Restart policy' },
    { name: 'memory', short: 'm', type: 'string', typeName: 'bytes', parse: ramInBytes, default: 0, description: 'Memory limit' },
    { name: 'cpus', type: 'string', typeName: 'decimal', description: 'Number of CPUs' },
    { name: 'timeout', type: 'duration', default: 10e9, description: 'Wait `time` before killing' },
    { name: 'init', type: 'bool', default: true, description: 'Run an init' },
    { name: 'caps', type: 'stringSlice', default: ['a', 'b'], description: 'Caps' },
  ]);
  assert.equal(text, [
    '      --restart string   Restart policy (default "no")',
    '  -m, --memory bytes     Memory limit',
    '      --cpus decimal     Number of CPUs',
    '      --timeout time     Wait time before killing (default 10s)',
    '      --init             Run an init (default true)',
    '      --caps strings     Caps (default [a,b])',
    '',
  ].join('\n'));
});

test('usage wraps long descriptions to the terminal width like pflag', () => {
  const text = flagUsages([
    { name: 'detach', short: 'd', type: 'bool', description: 'Run container in background and print container ID' },
  ], 50);
  // pflag: wrap at width - indent - slop (50 - 17 - 5 = 28 columns) on the last space.
  assert.equal(text, '  -d, --detach   Run container in background\n                 and print container ID\n');
});

test('management command usage lists subcommands', () => {
  const c: CommandSpec = {
    path: 'barge container', description: 'Manage containers',
    subcommands: [{ name: 'attach', description: 'Attach local standard input, output, and error streams to a running container' }, { name: 'ls', description: 'List containers' }],
  };
  assert.equal(useLine(c), 'barge container COMMAND');
  assert.equal(usage(c), [
    'Usage:  barge container COMMAND',
    '',
    'Manage containers',
    '',
    'Commands:',
    '  attach      Attach local standard input, output, and error streams to a running container',
    '  ls          List containers',
    '',
    "Run 'barge container COMMAND --help' for more information on a command.",
    '',
  ].join('\n'));
  try { checkArgs(c, ['bogus'], { max: 0 }); assert.fail('no error'); } catch (e) {
    assert.equal((e as Error).message.split('\n')[0], 'barge: unknown command: barge container bogus');
  }
});

test('root usage: command groups and global options', () => {
  const root: CommandSpec = {
    path: 'barge', usage: '[OPTIONS] COMMAND', description: 'A self-sufficient runtime for containers', root: true,
    groups: [{ title: 'Common Commands', commands: [{ name: 'run', description: 'Create and run a new container from an image' }] }],
    flags: [{ name: 'debug', short: 'D', type: 'bool', description: 'Enable debug mode' }],
  };
  assert.equal(usage(root), [
    'Usage:  barge [OPTIONS] COMMAND',
    '',
    'A self-sufficient runtime for containers',
    '',
    'Common Commands:',
    '  run         Create and run a new container from an image',
    '',
    'Global Options:',
    '  -D, --debug   Enable debug mode',
    '',
    "Run 'barge COMMAND --help' for more information on a command.",
    '',
  ].join('\n'));
});
