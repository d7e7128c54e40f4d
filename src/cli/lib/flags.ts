// Declarative command-line flags with spf13/pflag semantics as the Docker CLI uses them (cobra commands,
// "docker run --help" style usage text, Docker's wording for flag and argument-count errors).
import { goQuote, parseBool, parseIntBig, parseUint, parseFloat64, parseDuration, durationString, readCSVRecord } from './gofmt.js';

export type FlagType =
  | 'bool'
  | 'string'
  | 'int'
  | 'uint'
  | 'float'
  | 'duration'     // Go duration ("10s", "1m30s"); value in nanoseconds
  | 'list'         // repeatable, one value per occurrence (Docker's opts.ListOpts); help type "list"
  | 'stringArray'  // repeatable, one value per occurrence (pflag StringArray)
  | 'stringSlice'; // repeatable, each occurrence is CSV-split (pflag StringSlice); help type "strings"

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  /** Default value: false, '', 0, [] unless given (duration: nanoseconds). */
  default?: unknown;
  description: string;
  hidden?: boolean;
  /** Extra long names accepted for the flag (never shown in help), e.g. "net" for "network". */
  aliases?: string[];
  /** Deprecation message: the flag is hidden and using it adds a warning. */
  deprecated?: string;
  /** The value name shown in help instead of the type's ("bytes", "decimal", "filter", "mount"...). */
  typeName?: string;
  /**
   * Converts/validates one value (each occurrence for repeatable types); a thrown Error's message becomes
   * `invalid argument "v" for "-m, --memory" flag: <message>`.
   */
  parse?: (value: string) => unknown;
  /** Overrides the "(default ...)" text in help; '' hides it. */
  defaultText?: string;
}

export interface ParseOptions {
  /** false: stop at the first positional argument (docker run/create/exec); the rest is returned as is. */
  interspersed?: boolean;
}

/** A command-line usage error; `exitCode` is what the CLI should exit with (125 for flag errors, as docker). */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 125) {
    super(message);
  }
}

/** The parsed flag values, by flag name (the primary long name). */
export class FlagValues {
  /** Names of flags given on the command line (pflag's Changed). */
  readonly set = new Set<string>();
  readonly values: Record<string, unknown> = Object.create(null);

  has(name: string): boolean { return name in this.values; }
  changed(name: string): boolean { return this.set.has(name); }
  get<T = unknown>(name: string): T {
    if (!(name in this.values)) throw new Error(`flag accessed but not defined: ${name}`);
    return this.values[name] as T;
  }
  bool(name: string): boolean { return this.get<boolean>(name); }
  string(name: string): string { return this.get<string>(name); }
  number(name: string): number { return this.get<number>(name); }
  list(name: string): string[] { return this.get<string[]>(name); }
}

export interface ParseResult {
  flags: FlagValues;
  /** Positional arguments (with interspersed: false, everything from the first positional on). */
  args: string[];
  /** Number of positional arguments before "--", or -1 when there was no "--" (cobra's ArgsLenAtDash). */
  argsLenAtDash: number;
  /** --help (or -h when no flag claims it) was given: print usage and exit 0. */
  help: boolean;
  /** Deprecation warnings to print on stderr ("Flag --x has been deprecated, ..."). */
  warnings: string[];
}

const REPEATABLE = new Set<FlagType>(['list', 'stringArray', 'stringSlice']);

function zeroOf(type: FlagType): unknown {
  switch (type) {
    case 'bool': return false;
    case 'string': return '';
    case 'int': case 'uint': case 'float': case 'duration': return 0;
    default: return [];
  }
}

export function flagDisplayName(f: FlagSpec): string {
  return f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
}


function convert(f: FlagSpec, raw: string): unknown {
  if (f.parse) return f.parse(raw);
  switch (f.type) {
    case 'bool': return parseBool(raw);
    case 'int': return Number(parseIntBig(raw, 0, 64));
    case 'uint': return parseUint(raw, 0, 64);
    case 'float': return parseFloat64(raw);
    case 'duration': return parseDuration(raw);
    default: return raw;
  }
}

class FlagSet {
  readonly byLong = new Map<string, FlagSpec>();
  readonly byShort = new Map<string, FlagSpec>();
  constructor(readonly specs: readonly FlagSpec[]) {
    for (const f of specs) {
      for (const n of [f.name, ...(f.aliases ?? [])]) {
        if (this.byLong.has(n)) throw new Error(`flag redefined: ${n}`);
        this.byLong.set(n, f);
      }
      if (f.short) {
        if (f.short.length !== 1) throw new Error(`flag shorthand must be one character: ${f.short}`);
        if (this.byShort.has(f.short)) throw new Error(`unable to redefine ${goQuote(f.short)} shorthand`);
        this.byShort.set(f.short, f);
      }
    }
  }
}

const setCache = new WeakMap<readonly FlagSpec[], FlagSet>();

/**
 * Parse argv (without the program and command names) against the flag specs, as pflag does.
 * Throws UsageError with pflag's message ("unknown flag: --foo") on errors.
 */
export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[], opts: ParseOptions = {}): ParseResult {
  let fs = setCache.get(specs);
  if (!fs) { fs = new FlagSet(specs); setCache.set(specs, fs); }
  const interspersed = opts.interspersed ?? true;
  const flags = new FlagValues();
  for (const f of specs) {
    const d = f.default ?? zeroOf(f.type);
    flags.values[f.name] = Array.isArray(d) ? [...d] : d;
  }
  const result: ParseResult = { flags, args: [], argsLenAtDash: -1, help: false, warnings: [] };
  const sliceTouched = new Set<string>();

  const setValue = (f: FlagSpec, raw: string): void => {
    let v: unknown;
    try {
      if (f.type === 'stringSlice') {
        const parts = readCSVRecord(raw);
        v = f.parse ? parts.map((p) => f.parse!(p)) : parts;
      } else {
        v = convert(f, raw);
      }
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new UsageError(`invalid argument ${goQuote(raw)} for ${goQuote(flagDisplayName(f))} flag: ${msg}`);
    }
    if (f.type === 'stringSlice') {
      const cur = sliceTouched.has(f.name) ? (flags.values[f.name] as unknown[]) : [];
      flags.values[f.name] = [...cur, ...(v as unknown[])];
      sliceTouched.add(f.name);
    } else if (REPEATABLE.has(f.type)) {
      const cur = flags.set.has(f.name) ? (flags.values[f.name] as unknown[]) : [];
      cur.push(v);
      flags.values[f.name] = cur;
    } else {
      flags.values[f.name] = v;
    }
    if (f.deprecated !== undefined && !flags.set.has(f.name)) {
      result.warnings.push(`Flag --${f.name} has been deprecated, ${f.deprecated}`);
    }
    flags.set.add(f.name);
  };

  let i = 0;
  const n = argv.length;
  while (i < n) {
    const s = argv[i++]!;
    if (s.length < 2 || s[0] !== '-') {
      if (!interspersed) { result.args.push(s, ...argv.slice(i)); return result; }
      result.args.push(s);
      continue;
    }
    if (s[1] === '-') {
      if (s.length === 2) { // "--" terminates the flags
        result.argsLenAtDash = result.args.length;
        result.args.push(...argv.slice(i));
        return result;
      }
      const body = s.slice(2);
      if (body[0] === '-' || body[0] === '=') throw new UsageError(`bad flag syntax: ${s}`);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const f = fs.byLong.get(name);
      if (!f) {
        if (name === 'help') { result.help = true; return result; }
        throw new UsageError(`unknown flag: --${name}`);
      }
      let value: string;
      if (eq >= 0) value = body.slice(eq + 1);
      else if (f.type === 'bool') value = 'true';
      else if (i < n) value = argv[i++]!;
      else throw new UsageError(`flag needs an argument: --${name}`);
      setValue(f, value);
      continue;
    }
    // One or more shorthands: -d, -dit, -e A=1, -eA=1, -d=false
    let shorts = s.slice(1);
    while (shorts.length > 0) {
      const c = String.fromCodePoint(shorts.codePointAt(0)!);
      const f = fs.byShort.get(c);
      if (!f) {
        if (c === 'h') { result.help = true; return result; }
        throw new UsageError(`unknown shorthand flag: ${quoteChar(c)} in -${shorts}`);
      }
      const rest = shorts.slice(c.length);
      let value: string;
      if (rest.length > 1 && rest[0] === '=') { value = rest.slice(1); shorts = ''; }
      else if (f.type === 'bool') { value = 'true'; shorts = rest; }
      else if (rest.length > 0) { value = rest; shorts = ''; }
      else if (i < n) { value = argv[i++]!; shorts = ''; }
      else throw new UsageError(`flag needs an argument: ${quoteChar(c)} in -${shorts}`);
      setValue(f, value);
    }
  }
  return result;
}

function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  return "'" + goQuote(c).slice(1, -1) + "'";
}

// ---------------------------------------------------------------------------------------------
// Commands: usage text, flag and argument-count errors worded as docker/cli does.

export interface CommandSummary { name: string; description: string }

export interface CommandSpec {
  /** Full command path: "barge run", "barge container ls". */
  path: string;
  /** What follows the path in the usage line: "[OPTIONS] IMAGE [COMMAND] [ARG...]". */
  usage?: string;
  /** One-line description (cobra Short). */
  description: string;
  /** Longer description shown in help instead of the short one (cobra Long). */
  long?: string;
  /** Full alias paths shown under "Aliases:", e.g. ["barge container run", "barge run"]. */
  aliases?: string[];
  examples?: string;
  flags?: readonly FlagSpec[];
  interspersed?: boolean;
  /** Subcommands (management commands such as "barge container"). */
  subcommands?: CommandSummary[];
  /** Command groups for the root command ("Common Commands:", "Management Commands:"...). */
  groups?: { title: string; commands: CommandSummary[] }[];
  /** Root command: its flags are listed as "Global Options:". */
  root?: boolean;
  /** Extra text at the end of help. */
  footer?: string;
}

export function useLine(cmd: CommandSpec): string {
  if (cmd.subcommands?.length && !cmd.usage) {
    return `${cmd.path}${cmd.flags?.some((f) => !f.hidden && f.deprecated === undefined) ? ' [OPTIONS]' : ''} COMMAND`;
  }
  return cmd.usage ? `${cmd.path} ${cmd.usage}` : cmd.path;
}

function binName(cmd: CommandSpec): string {
  return cmd.path.split(' ')[0]!;
}

/** Wrap a parse error as docker's FlagErrorFunc does (exit status 125). */
export function flagError(cmd: CommandSpec, err: Error): UsageError {
  return new UsageError(`${err.message}\n\nUsage:  ${useLine(cmd)}\n\nRun '${cmd.path} --help' for more information`, 125);
}

export interface ArgsRule { min?: number; max?: number; exact?: number }

function plural(n: number): string { return n === 1 ? 'argument' : 'arguments'; }

/**
 * Docker's argument-count checks (cli/required.go): NoArgs {max: 0}, RequiresMinArgs {min},
 * RequiresMaxArgs {max}, RequiresRangeArgs {min, max}, ExactArgs {exact}. Throws UsageError (exit 1).
 */
export function checkArgs(cmd: CommandSpec, args: readonly string[], rule: ArgsRule): void {
  const n = args.length;
  const bin = binName(cmd);
  const p = cmd.path;
  const tail = (verb: string) => `\n\nUsage:  ${useLine(cmd)}\n\n${verb} '${p} --help' for more information`;
  if (rule.exact !== undefined) {
    if (n !== rule.exact) throw new UsageError(`${bin}: '${p}' requires ${rule.exact} ${plural(rule.exact)}${tail('Run')}`, 1);
    return;
  }
  const { min, max } = rule;
  if (min !== undefined && max !== undefined && min !== max && max > 0) {
    if (n < min || n > max) throw new UsageError(`${bin}: '${p}' requires at least ${min} and at most ${max} ${plural(max)}${tail('Run')}`, 1);
    return;
  }
  if (max === 0) {
    if (n === 0) return;
    if (cmd.subcommands?.length) {
      throw new UsageError(`${bin}: unknown command: ${p} ${args[0]}\n\nUsage:  ${useLine(cmd)}\n\nRun '${p} --help' for more information`, 1);
    }
    throw new UsageError(`${bin}: '${p}' accepts no arguments${tail('Run')}`, 1);
  }
  if (min !== undefined && n < min) throw new UsageError(`${bin}: '${p}' requires at least ${min} ${plural(min)}${tail('See')}`, 1);
  if (max !== undefined && n > max) throw new UsageError(`${bin}: '${p}' requires at most ${max} ${plural(max)}${tail('Run')}`, 1);
}

/** Parse a command's arguments: flag errors become docker-worded UsageErrors; optional arg-count check. */
export function parseCommand(cmd: CommandSpec, argv: readonly string[], args?: ArgsRule): ParseResult {
  let r: ParseResult;
  try {
    r = parseFlags(cmd.flags ?? [], argv, { interspersed: cmd.interspersed ?? true });
  } catch (e) {
    if (e instanceof UsageError) throw flagError(cmd, e);
    throw e;
  }
  if (!r.help && args) checkArgs(cmd, r.args, args);
  return r;
}

// pflag's flag usage lines ------------------------------------------------------------------

function helpType(f: FlagSpec): [string, string] {
  let usage = f.description;
  const a = usage.indexOf('`');
  if (a >= 0) {
    const b = usage.indexOf('`', a + 1);
    if (b > a) {
      const name = usage.slice(a + 1, b);
      return [name, usage.slice(0, a) + name + usage.slice(b + 1)];
    }
  }
  if (f.typeName !== undefined) return [f.typeName, usage];
  switch (f.type) {
    case 'bool': return ['', usage];
    case 'stringSlice': return ['strings', usage];
    default: return [f.type, usage];
  }
}

function defaultText(f: FlagSpec): string {
  if (f.defaultText !== undefined) {
    const t = f.defaultText;
    return t === '' || t === '0' || t === 'false' || t === '<nil>' || t === '[]' ? '' : t;
  }
  const d = f.default;
  if (d === undefined || d === null) return '';
  if ((f.parse || f.typeName !== undefined) && !REPEATABLE.has(f.type)) {
    // A custom pflag Value: its String() is shown as is; "", "0", "false", "<nil>" count as zero.
    const t = String(d);
    return t === '' || t === '0' || t === 'false' || t === '<nil>' ? '' : t;
  }
  switch (f.type) {
    case 'bool': return d === true ? 'true' : '';
    case 'string': return d === '' ? '' : goQuote(String(d));
    case 'int': case 'uint': case 'float': return d === 0 ? '' : String(d);
    case 'duration': return d === 0 ? '' : durationString(d as number);
    case 'list': return Array.isArray(d) && d.length ? `[${d.join(' ')}]` : '';
    default: return Array.isArray(d) && d.length ? `[${d.join(',')}]` : '';
  }
}

function wrapN(i: number, slop: number, s: string): [string, string] {
  if (i + slop > s.length) return [s, ''];
  const head = s.slice(0, i);
  const w = Math.max(head.lastIndexOf(' '), head.lastIndexOf('\t'), head.lastIndexOf('\n'));
  if (w <= 0) return [s, ''];
  const nl = head.lastIndexOf('\n');
  if (nl > 0 && nl < w) return [s.slice(0, nl), s.slice(nl + 1)];
  return [s.slice(0, w), s.slice(w + 1)];
}

/** pflag's wrap: wrap s to width w with continuation lines indented by i; w = 0 only re-indents newlines. */
function wrap(i: number, w: number, s: string): string {
  if (w === 0) return s.replace(/\n/g, '\n' + ' '.repeat(i));
  let width = w - i;
  let r = '';
  if (width < 24) { i = 16; width = w - i; r += '\n' + ' '.repeat(i); }
  if (width < 24) return s.replace(/\n/g, r);
  const slop = 5;
  width -= slop;
  let l: string;
  [l, s] = wrapN(width, slop, s);
  r += l.replace(/\n/g, '\n' + ' '.repeat(i));
  while (s !== '') {
    [l, s] = wrapN(width, slop, s);
    r += '\n' + ' '.repeat(i) + l.replace(/\n/g, '\n' + ' '.repeat(i));
  }
  return r;
}

/** The "Options:" block as pflag's FlagUsagesWrapped(cols) prints it (cols 0: no wrapping). */
export function flagUsages(specs: readonly FlagSpec[], cols = 0): string {
  const lines: [string, string][] = [];
  let maxlen = 0;
  for (const f of specs) {
    if (f.hidden || f.deprecated !== undefined) continue;
    let line = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    const [varname, usage0] = helpType(f);
    if (varname) line += ' ' + varname;
    let usage = usage0;
    const d = defaultText(f);
    if (d) usage += ` (default ${d})`;
    if (line.length + 1 > maxlen) maxlen = line.length + 1;
    lines.push([line, usage]);
  }
  let out = '';
  for (const [left, usage] of lines) {
    const spacing = ' '.repeat(maxlen - left.length - 1);
    out += `${left}  ${spacing} ${wrap(maxlen + 2, cols, usage)}\n`;
  }
  return out;
}

function commandList(cmds: CommandSummary[], padTo: number): string {
  return cmds.map((c) => `\n  ${c.name.padEnd(padTo)} ${c.description}`).join('');
}

/**
 * Docker-style help text for a command (docker/cli's usage template), ending with a newline.
 * `cols` is the terminal width minus one (0 disables wrapping of flag descriptions).
 */
export function usage(cmd: CommandSpec, cols = 0): string {
  let s = `Usage:  ${useLine(cmd)}\n\n${(cmd.long ?? cmd.description).trim()}`;
  if (cmd.aliases?.length) s += `\n\nAliases:\n  ${cmd.aliases.join(', ')}`;
  if (cmd.examples) s += `\n\nExamples:\n${cmd.examples.replace(/\n+$/, '')}`;
  const visible = (cmd.flags ?? []).filter((f) => !f.hidden && f.deprecated === undefined);
  if (!cmd.root && visible.length) s += `\n\nOptions:\n${flagUsages(visible, cols).trimEnd()}`;
  const all = [...(cmd.groups ?? []).flatMap((g) => g.commands), ...(cmd.subcommands ?? [])];
  const padTo = Math.max(11, ...all.map((c) => c.name.length));
  for (const g of cmd.groups ?? []) {
    if (g.commands.length) s += `\n\n${g.title}:${commandList(g.commands, padTo)}`;
  }
  if (cmd.subcommands?.length) s += `\n\nCommands:${commandList(cmd.subcommands, padTo)}`;
  if (cmd.root && visible.length) s += `\n\nGlobal Options:\n${flagUsages(visible, cols).trimEnd()}`;
  if (cmd.subcommands?.length || cmd.groups?.length) s += `\n\nRun '${cmd.path} COMMAND --help' for more information on a command.`;
  if (cmd.footer) s += `\n\n${cmd.footer.replace(/\n+$/, '')}`;
  return s + '\n';
}
