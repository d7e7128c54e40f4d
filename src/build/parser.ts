// The Dockerfile parser: text -> parser directives + a list of instructions, nothing evaluated yet.
//
// Model (the Dockerfile reference, "Format" and "Parser directives"):
//  - *Parser directives* (`# syntax=...`, `# escape=\``, `# check=...`) are comments of the form
//    `# key=value` at the very top; the first comment that is not one, blank line or instruction ends
//    them. `syntax` is recorded and ignored (barge has one frontend), `escape` picks the escape
//    character (`\` or `` ` ``), `check` is recorded.
//  - A *logical line* is a physical line plus the lines that follow while it ends with the escape
//    character; comment lines and empty lines inside a continuation are dropped.
//  - An *instruction* is its keyword (case-insensitive), leading `--flags` (for the instructions that
//    take them), and its arguments, either the *exec form* (a JSON array of strings) or the *shell form*
//    (the rest of the line). RUN, COPY and ADD may carry *heredocs* (`<<EOF` ... `EOF`): the lines that
//    follow the instruction up to the delimiter are its heredoc bodies, in order.
// Variable substitution happens later (shellwords.ts), when the build knows the variables in scope.
import { invalid } from '../lib/errors.js';

export interface Heredoc {
  /** The delimiter word ("EOF"). */
  name: string;
  /** The body, lines joined with "\n" and ending with "\n" (as the shell gives it). */
  content: string;
  /** Unquoted delimiter: the body is subject to expansion. */
  expand: boolean;
  /** `<<-`: leading tabs were stripped from the body. */
  chomp: boolean;
}

export interface Instruction {
  /** Lower-case keyword ("run"). */
  cmd: string;
  /** The keyword as written ("RUN"). */
  keyword: string;
  /** Leading flags as written, without the "--" ("from=build", "link"). */
  flags: string[];
  /** The arguments after the flags, as written (continuations joined). */
  rest: string;
  /** Exec form: the JSON array's strings; undefined for the shell form. */
  json?: string[];
  heredocs: Heredoc[];
  /** The line as written (keyword, flags, arguments), for error messages and "Step n/m : ...". */
  original: string;
  /** 1-based line numbers of the instruction's start and end. */
  startLine: number;
  endLine: number;
}

export interface Dockerfile {
  directives: { syntax?: string; escape: string; check?: string };
  instructions: Instruction[];
  /** Non-fatal remarks (empty continuation lines...), shown as warnings. */
  warnings: string[];
}

export const INSTRUCTIONS = new Set([
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label', 'maintainer',
  'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
]);

/** Instructions whose arguments may start with --flags. */
const TAKES_FLAGS = new Set(['add', 'copy', 'from', 'run', 'healthcheck']);
/** Instructions whose arguments may be a JSON array. */
const TAKES_JSON = new Set(['add', 'cmd', 'copy', 'entrypoint', 'run', 'shell', 'volume']);
const TAKES_HEREDOC = new Set(['add', 'copy', 'run']);

const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

/** A heredoc marker in an argument string: `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`. */
const HEREDOC_RE = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\2/g;

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const directives: Dockerfile['directives'] = { escape: '\\' };
  const seen = new Set<string>();
  const warnings: string[] = [];
  let i = 0;
  // Directives: only at the very top.
  for (; i < lines.length; i++) {
    const m = DIRECTIVE_RE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(key)) break; // an unknown directive is a comment, and ends the directives
    if (seen.has(key)) throw invalid(`only one ${key} parser directive can be used`);
    seen.add(key);
    const value = m[2]!;
    if (key === 'escape') {
      if (value !== '\\' && value !== '`') throw invalid(`invalid escape token '${value}' does not match ` + '` or \\');
      directives.escape = value;
    } else if (key === 'syntax') directives.syntax = value;
    else directives.check = value;
  }
  const esc = directives.escape;
  const contRe = new RegExp(`${esc === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  const isComment = (l: string) => /^[ \t]*#/.test(l);
  const instructions: Instruction[] = [];

  while (i < lines.length) {
    const first = lines[i]!;
    if (first.trim() === '' || isComment(first)) { i++; continue; }
    const startLine = i + 1;
    // Join continuation lines into one logical line.
    let logical = '';
    let line = first;
    i++;
    for (;;) {
      if (contRe.test(line)) {
        logical += line.replace(contRe, '');
        // Skip comment and empty lines inside a continuation.
        let joinedAny = false;
        while (i < lines.length) {
          const next = lines[i]!;
          if (isComment(next)) { i++; continue; }
          if (next.trim() === '') { warnings.push(`empty continuation line at line ${i + 1}`); i++; continue; }
          joinedAny = true;
          break;
        }
        if (!joinedAny) break;
        line = lines[i++]!;
        continue;
      }
      logical += line;
      break;
    }
    const endLineBeforeHeredoc = i;
    const ins = parseLine(logical.trim(), esc, startLine);
    // Heredoc bodies follow the logical line.
    if (TAKES_HEREDOC.has(ins.cmd) && !ins.json) {
      HEREDOC_RE.lastIndex = 0;
      const markers: { name: string; expand: boolean; chomp: boolean }[] = [];
      for (const m of ins.rest.matchAll(HEREDOC_RE)) {
        if (insideQuotes(ins.rest, m.index!)) continue; // echo "<<EOF" is no heredoc
        markers.push({ chomp: m[1] === '-', expand: m[2] === '', name: m[3]! });
      }
      for (const mk of markers) {
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          let l = lines[i++]!;
          if (mk.chomp) l = l.replace(/^\t+/, '');
          if (l === mk.name) { closed = true; break; }
          body.push(l);
        }
        if (!closed) throw invalid(`dockerfile parse error on line ${startLine}: unterminated heredoc ${mk.name}`);
        ins.heredocs.push({ name: mk.name, content: body.length ? body.join('\n') + '\n' : '', expand: mk.expand, chomp: mk.chomp });
      }
    }
    ins.endLine = Math.max(endLineBeforeHeredoc, i);
    instructions.push(ins);
  }
  return { directives, instructions, warnings };
}

/** Whether position `at` of `s` is inside a '...' or "..." string. */
function insideQuotes(s: string, at: number): boolean {
  let quote = '';
  for (let i = 0; i < at; i++) {
    const c = s[i]!;
    if (quote) { if (c === quote) quote = ''; else if (c === '\\' && quote === '"') i++; continue; }
    if (c === '\\') { i++; continue; }
    if (c === '"' || c === "'") quote = c;
  }
  return quote !== '';
}

function parseLine(line: string, esc: string, lineNo: number): Instruction {
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(line)!;
  const keyword = m[1]!;
  const cmd = keyword.toLowerCase();
  if (!INSTRUCTIONS.has(cmd)) throw invalid(`dockerfile parse error on line ${lineNo}: unknown instruction: ${keyword}`);
  let rest = (m[2] ?? '').trim();
  const flags: string[] = [];
  if (TAKES_FLAGS.has(cmd)) {
    for (;;) {
      const f = /^--([^\s=]+(?:=(?:"[^"]*"|'[^']*'|\S)*)?)\s*/.exec(rest);
      if (!f) break;
      flags.push(f[1]!);
      rest = rest.slice(f[0].length);
    }
  }
  const ins: Instruction = { cmd, keyword, flags, rest, heredocs: [], original: line, startLine: lineNo, endLine: lineNo };
  if (TAKES_JSON.has(cmd) && rest.startsWith('[')) {
    const arr = parseJsonArray(rest);
    if (arr) ins.json = arr;
  }
  return ins;
}

/** The exec form: a JSON array of strings, or undefined (then it is the shell form, as Docker does). */
export function parseJsonArray(s: string): string[] | undefined {
  try {
    const v: unknown = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch { /* shell form */ }
  return undefined;
}

/** Parses `--name=value` flags against the allowed names; booleans may be given without a value. */
export function parseFlags(ins: Instruction, allowed: Record<string, 'string' | 'bool' | 'list'>): Map<string, string | string[] | boolean> {
  const out = new Map<string, string | string[] | boolean>();
  for (const f of ins.flags) {
    const eq = f.indexOf('=');
    const name = eq < 0 ? f : f.slice(0, eq);
    let value = eq < 0 ? undefined : f.slice(eq + 1);
    const kind = allowed[name];
    if (!kind) throw invalid(`dockerfile parse error on line ${ins.startLine}: unknown flag: --${name}`);
    if (value !== undefined && /^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    if (kind === 'bool') {
      if (value === undefined || value === '' || value === 'true') out.set(name, true);
      else if (value === 'false') out.set(name, false);
      else throw invalid(`dockerfile parse error on line ${ins.startLine}: expecting boolean value for flag ${name}, not: ${value}`);
    } else {
      if (value === undefined) throw invalid(`dockerfile parse error on line ${ins.startLine}: missing a value on flag: --${name}`);
      if (kind === 'list') out.set(name, [...((out.get(name) as string[] | undefined) ?? []), value]);
      else out.set(name, value);
    }
  }
  return out;
}

/**
 * Splits `KEY=VALUE KEY2="a b"` (ENV, LABEL, ARG) or the legacy `KEY VALUE` form (ENV, LABEL only)
 * into raw pairs, quotes still in place; substitution and quote removal come later.
 */
export function splitKeyValues(rest: string, esc: string, legacy: boolean, what: string): { key: string; value: string | undefined }[] {
  const words = splitRawWords(rest, esc);
  if (words.length === 0) throw invalid(`${what} requires at least one argument`);
  if (legacy && !words[0]!.includes('=')) {
    // ENV KEY value with spaces
    const key = words[0]!;
    const value = rest.slice(rest.indexOf(key) + key.length).trim();
    if (!value) throw invalid(`${what} must have two arguments`);
    return [{ key, value }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) {
      if (what === 'ARG') return { key: w, value: undefined };
      throw invalid(`${what} must have two arguments`);
    }
    if (eq === 0) throw invalid(`${what} names can not be blank`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

/** Words separated by unquoted whitespace, quotes and escapes kept as written. */
export function splitRawWords(s: string, esc: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      cur += c;
      if (c === esc && quote === '"' && i + 1 < s.length) { cur += s[++i]; continue; }
      if (c === quote) quote = '';
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) { words.push(cur); cur = ''; inWord = false; }
      continue;
    }
    inWord = true;
    if (c === esc && i + 1 < s.length) { cur += c + s[++i]; continue; }
    if (c === '"' || c === "'") quote = c;
    cur += c;
  }
  if (inWord) words.push(cur);
  return words;
}
