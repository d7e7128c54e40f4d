// A Go text/template engine for `--format`, with the functions Docker adds (json, join, split, lower,
// upper, title, pad, truncate). Templates are parsed and compiled to closures once, then executed many
// times. Values follow the mapping described in gofmt.ts (plain objects are Go maps; class instances and
// asStruct() objects are structs, whose function members are methods).
import {
  NO_VALUE, kindOf, typeName, formatValue, sprint, sprintln, sprintf, goJSON, goQuote, mapEntries,
  parseIntBig, parseFloat64,
} from './gofmt.js';

export { NO_VALUE, asMap, asStruct } from './gofmt.js';

/** A template function; minArgs/maxArgs (maxArgs Infinity: variadic) enable Go's arity errors. */
export type TemplateFunc = ((...args: any[]) => unknown) & { minArgs?: number; maxArgs?: number; lazy?: boolean };

export type MissingKey = 'default' | 'zero' | 'error';

export interface TemplateOptions {
  /** Template name used in error messages (Docker's is ""). */
  name?: string;
  /** Extra functions, available to the parser and at execution. */
  funcs?: Record<string, TemplateFunc>;
}

export interface ExecuteOptions {
  /** Functions replacing same-named ones for this execution (Docker's HeaderFunctions). */
  funcs?: Record<string, TemplateFunc>;
  /** Go's Option("missingkey=..."). */
  missingKey?: MissingKey;
}

/** A parse or execution error, worded as Go's; `output` holds what was written before an execution error. */
export class TemplateError extends Error {
  output = '';
}

// ---------------------------------------------------------------------------------------------
// Lexer

type TokType =
  | 'text' | 'ldelim' | 'rdelim' | 'space' | 'field' | 'var' | 'ident' | 'keyword' | 'string' | 'rawstring'
  | 'char' | 'number' | 'bool' | 'nil' | 'dot' | 'pipe' | 'lparen' | 'rparen' | 'comma' | 'declare' | 'assign'
  | 'eof' | 'error';

interface Tok { t: TokType; v: string; pos: number; line: number }

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}
function isAlnum(c: string | undefined): boolean {
  return c !== undefined && (c === '_' || /[\p{L}\p{Nd}]/u.test(c));
}

function lex(text: string): Tok[] {
  const toks: Tok[] = [];
  let pos = 0;
  let line = 1;
  const lineAt = (p: number) => { // line of position p, incrementally
    return line + countNL(text, lastLinePos, p);
  };
  let lastLinePos = 0;
  const emit = (t: TokType, v: string, p: number) => {
    line = lineAt(p);
    lastLinePos = p;
    toks.push({ t, v, pos: p, line });
  };
  const fail = (msg: string, p: number) => { emit('error', msg, p); };
  let trimNext = false;
  while (pos <= text.length) {
    const open = text.indexOf('{{', pos);
    let end = open < 0 ? text.length : open;
    let textStart = pos;
    if (trimNext) { while (textStart < end && isSpace(text[textStart])) textStart++; trimNext = false; }
    const trimLeft = open >= 0 && text[open + 2] === '-' && isSpace(text[open + 3]);
    if (trimLeft) { while (end > textStart && isSpace(text[end - 1])) end--; }
    if (end > textStart) emit('text', text.slice(textStart, end), textStart);
    if (open < 0) break;
    let p = open + 2 + (trimLeft ? 2 : 0);
    // Comments: {{/* ... */}}
    let q = p;
    while (trimLeft && isSpace(text[q])) q++;
    if (text.startsWith('/*', q) || text.startsWith('/*', p)) {
      const cs = text.startsWith('/*', p) ? p : q;
      const ce = text.indexOf('*/', cs + 2);
      if (ce < 0) { fail('unclosed comment', cs); return toks; }
      p = ce + 2;
      if (text.startsWith('}}', p)) { pos = p + 2; continue; }
      if (isSpace(text[p]) && text[p + 1] === '-' && text.startsWith('}}', p + 2)) { pos = p + 4; trimNext = true; continue; }
      fail('comment ends before closing delimiter', p);
      return toks;
    }
    emit('ldelim', '{{', open);
    let depth = 0;
    for (;;) {
      if (p >= text.length) { fail('unclosed action', p); return toks; }
      if (text.startsWith('}}', p)) {
        if (depth > 0) { fail('unclosed left paren', p); return toks; }
        emit('rdelim', '}}', p); p += 2; break;
      }
      const c = text[p]!;
      if (isSpace(c)) {
        const st = p;
        while (isSpace(text[p])) p++;
        if (text[p] === '-' && text.startsWith('}}', p + 1)) {
          if (depth > 0) { fail('unclosed left paren', p); return toks; }
          emit('rdelim', '}}', p + 1); p += 3; trimNext = true; break;
        }
        emit('space', text.slice(st, p), st);
        continue;
      }
      const st = p;
      switch (c) {
        case '|': emit('pipe', c, p++); continue;
        case '(': depth++; emit('lparen', c, p++); continue;
        case ')':
          if (--depth < 0) { fail(`unexpected right paren`, p); return toks; }
          emit('rparen', c, p++); continue;
        case ',': emit('comma', c, p++); continue;
        case '=': emit('assign', c, p++); continue;
        case ':':
          if (text[p + 1] !== '=') { fail('expected :=', p); return toks; }
          emit('declare', ':=', p); p += 2; continue;
        case '"': {
          p++;
          while (p < text.length && text[p] !== '"') {
            if (text[p] === '\\') p++;
            if (text[p] === '\n' || p >= text.length) { fail('unterminated quoted string', st); return toks; }
            p++;
          }
          if (p >= text.length) { fail('unterminated quoted string', st); return toks; }
          emit('string', text.slice(st, ++p), st); continue;
        }
        case '`': {
          const e = text.indexOf('`', p + 1);
          if (e < 0) { fail('unterminated raw quoted string', st); return toks; }
          p = e + 1;
          emit('rawstring', text.slice(st, p), st); continue;
        }
        case "'": {
          p++;
          while (p < text.length && text[p] !== "'") {
            if (text[p] === '\\') p++;
            if (text[p] === '\n' || p >= text.length) { fail('unterminated character constant', st); return toks; }
            p++;
          }
          if (p >= text.length) { fail('unterminated character constant', st); return toks; }
          emit('char', text.slice(st, ++p), st); continue;
        }
        case '$': {
          p++;
          while (isAlnum(text[p])) p++;
          emit('var', text.slice(st, p), st); continue;
        }
        case '.': {
          if (text[p + 1] !== undefined && text[p + 1]! >= '0' && text[p + 1]! <= '9') break; // a number
          p++;
          if (!isAlnum(text[p])) { emit('dot', '.', st); continue; }
          while (isAlnum(text[p])) p++;
          emit('field', text.slice(st, p), st); continue;
        }
      }
      if ((c >= '0' && c <= '9') || c === '.' || ((c === '+' || c === '-') && /[0-9.]/.test(text[p + 1] ?? ''))) {
        p++;
        while (p < text.length && /[0-9a-zA-Z_.+-]/.test(text[p]!)) {
          if ((text[p] === '+' || text[p] === '-') && !/[eEpP]/.test(text[p - 1]!)) break;
          p++;
        }
        emit('number', text.slice(st, p), st); continue;
      }
      if (isAlnum(c)) {
        while (isAlnum(text[p])) p++;
        const w = text.slice(st, p);
        if (KEYWORDS.has(w)) emit('keyword', w, st);
        else if (w === 'true' || w === 'false') emit('bool', w, st);
        else if (w === 'nil') emit('nil', w, st);
        else emit('ident', w, st);
        continue;
      }
      const cp = text.codePointAt(p)!;
      fail(`unrecognized character in action: U+${cp.toString(16).toUpperCase().padStart(4, '0')} ${quoteRune(cp)}`, p);
      return toks;
    }
    pos = p;
  }
  emit('eof', '', text.length);
  return toks;
}

function countNL(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

function quoteRune(c: number): string {
  return "'" + goQuote(String.fromCodePoint(c)).slice(1, -1).replace(/'/g, "\\'") + "'";
}

function tokString(t: Tok): string {
  switch (t.t) {
    case 'eof': return 'EOF';
    case 'error': return t.v;
    case 'keyword': return `<${t.v}>`;
    default: return t.v.length > 10 ? goQuote(t.v.slice(0, 10)) + '...' : goQuote(t.v);
  }
}

// ---------------------------------------------------------------------------------------------
// Parse tree

type Arg =
  | { t: 'field'; names: string[]; pos: number }
  | { t: 'var'; name: string; names: string[]; pos: number }
  | { t: 'chain'; node: Arg; names: string[]; pos: number }
  | { t: 'ident'; name: string; pos: number }
  | { t: 'dot'; pos: number }
  | { t: 'nil'; pos: number }
  | { t: 'bool'; v: boolean; pos: number }
  | { t: 'number'; v: number; text: string; pos: number }
  | { t: 'string'; v: string; text: string; pos: number }
  | { t: 'pipe'; pipe: Pipe; pos: number };

interface Cmd { args: Arg[]; pos: number }
interface Pipe { decl: string[]; isAssign: boolean; cmds: Cmd[]; pos: number }

type Node =
  | { t: 'text'; s: string }
  | { t: 'action'; pipe: Pipe; pos: number }
  | { t: 'if' | 'with' | 'range'; pipe: Pipe; list: Node[]; elseList: Node[] | null; pos: number }
  | { t: 'template'; name: string; pipe: Pipe | null; pos: number }
  | { t: 'break' | 'continue'; pos: number };

function argString(a: Arg): string {
  switch (a.t) {
    case 'field': return a.names.map((n) => '.' + n).join('');
    case 'var': return [a.name, ...a.names].join('.');
    case 'chain': return (a.node.t === 'pipe' ? '(' + pipeString(a.node.pipe) + ')' : argString(a.node)) + a.names.map((n) => '.' + n).join('');
    case 'ident': return a.name;
    case 'dot': return '.';
    case 'nil': return 'nil';
    case 'bool': return String(a.v);
    case 'number': return a.text;
    case 'string': return a.text;
    case 'pipe': return '(' + pipeString(a.pipe) + ')';
  }
}
function cmdString(c: Cmd): string { return c.args.map(argString).join(' '); }
function pipeString(p: Pipe): string {
  const d = p.decl.length ? p.decl.join(', ') + (p.isAssign ? ' = ' : ' := ') : '';
  return d + p.cmds.map(cmdString).join(' | ');
}
function listString(l: Node[]): string { return l.map(nodeString).join(''); }
function nodeString(n: Node): string {
  switch (n.t) {
    case 'text': return n.s;
    case 'action': return '{{' + pipeString(n.pipe) + '}}';
    case 'break': case 'continue': return `{{${n.t}}}`;
    case 'template': return `{{template ${goQuote(n.name)}${n.pipe ? ' ' + pipeString(n.pipe) : ''}}}`;
    default:
      return `{{${n.t} ${pipeString(n.pipe)}}}${listString(n.list)}${n.elseList ? '{{else}}' + listString(n.elseList) : ''}{{end}}`;
  }
}

class ParseError extends Error {}

class Parser {
  private i = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  readonly defs = new Map<string, Node[]>();

  constructor(private readonly toks: Tok[], private readonly name: string, private readonly hasFunc: (n: string) => boolean) {}

  private errorf(msg: string, tok?: Tok): never {
    const t = tok ?? this.toks[Math.min(this.i, this.toks.length - 1)]!;
    throw new ParseError(`template: ${this.name}:${t.line}: ${msg}`);
  }
  private next(): Tok {
    const t = this.toks[this.i]!;
    if (t.t === 'error') this.errorf(t.v, t);
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  private peek(): Tok {
    const t = this.toks[this.i]!;
    if (t.t === 'error') this.errorf(t.v, t);
    return t;
  }
  private nextNonSpace(): Tok {
    let t = this.next();
    while (t.t === 'space') t = this.next();
    return t;
  }
  private peekNonSpace(): Tok {
    const save = this.i;
    const t = this.nextNonSpace();
    this.i = save;
    return t;
  }
  private unexpected(t: Tok, context: string): never {
    this.errorf(`unexpected ${tokString(t)} in ${context}`, t);
  }
  private expect(type: TokType, context: string): Tok {
    const t = this.nextNonSpace();
    if (t.t !== type) this.unexpected(t, context);
    return t;
  }

  parse(): Node[] {
    const root: Node[] = [];
    for (;;) {
      const t = this.peek();
      if (t.t === 'eof') return root;
      if (t.t === 'ldelim') {
        const save = this.i;
        this.next();
        const k = this.nextNonSpace();
        if (k.t === 'keyword' && k.v === 'define') { this.parseDefinition(); continue; }
        this.i = save;
      }
      const n = this.textOrAction();
      if (n.t === 'end' || n.t === 'else') this.errorf(`unexpected ${n.str}`);
      root.push(n as Node);
    }
  }

  private parseDefinition(): void {
    const nameTok = this.nextNonSpace();
    if (nameTok.t !== 'string' && nameTok.t !== 'rawstring') this.unexpected(nameTok, 'define clause');
    const name = unquote(nameTok.v);
    this.expect('rdelim', 'define clause');
    const saveVars = this.vars;
    this.vars = ['$'];
    const [list, end] = this.itemList();
    if (end.t !== 'end') this.errorf(`unexpected ${end.str} in define clause`);
    this.vars = saveVars;
    this.defs.set(name, list);
  }

  private itemList(): [Node[], { t: 'end' | 'else'; str: string; elseKw?: string }] {
    const list: Node[] = [];
    for (;;) {
      if (this.peekNonSpace().t === 'eof') this.errorf('unexpected EOF');
      const n = this.textOrAction();
      if (n.t === 'end' || n.t === 'else') return [list, n as { t: 'end' | 'else'; str: string; elseKw?: string }];
      list.push(n as Node);
    }
  }

  private textOrAction(): Node | { t: 'end' | 'else'; str: string; elseKw?: string } {
    const t = this.nextNonSpace();
    if (t.t === 'text') return { t: 'text', s: t.v };
    if (t.t === 'ldelim') return this.action();
    return this.unexpected(t, 'input');
  }

  private action(): Node | { t: 'end' | 'else'; str: string; elseKw?: string } {
    const save = this.i;
    const t = this.nextNonSpace();
    if (t.t === 'keyword') {
      switch (t.v) {
        case 'end': this.expect('rdelim', 'end'); return { t: 'end', str: '{{end}}' };
        case 'else': {
          const p = this.peekNonSpace();
          if (p.t === 'keyword' && (p.v === 'if' || p.v === 'with')) return { t: 'else', str: '{{else}}', elseKw: p.v };
          this.expect('rdelim', 'else');
          return { t: 'else', str: '{{else}}' };
        }
        case 'if': return this.control('if', t);
        case 'with': return this.control('with', t);
        case 'range': return this.control('range', t);
        case 'break': case 'continue': {
          if (this.rangeDepth === 0) this.errorf(`{{${t.v}}} outside {{range}}`);
          this.expect('rdelim', t.v);
          return { t: t.v, pos: t.pos };
        }
        case 'template': case 'block': {
          const context = t.v === 'block' ? 'block clause' : 'template clause';
          const nameTok = this.nextNonSpace();
          if (nameTok.t !== 'string' && nameTok.t !== 'rawstring') this.unexpected(nameTok, context);
          const name = unquote(nameTok.v);
          let pipe: Pipe | null = null;
          if (t.v === 'block') pipe = this.pipeline(context, 'rdelim');
          else if (this.peekNonSpace().t !== 'rdelim') pipe = this.pipeline(context, 'rdelim');
          else this.nextNonSpace();
          if (t.v === 'block') {
            const saveVars = this.vars;
            this.vars = ['$'];
            const [list, end] = this.itemList();
            if (end.t !== 'end') this.errorf(`unexpected ${end.str} in block clause`);
            this.vars = saveVars;
            this.defs.set(name, list);
          }
          return { t: 'template', name, pipe, pos: nameTok.pos };
        }
        case 'define': this.errorf('unexpected <define> in command');
      }
    }
    this.i = save;
    const pos = this.peekNonSpace().pos;
    return { t: 'action', pipe: this.pipeline('command', 'rdelim'), pos };
  }

  private control(kind: 'if' | 'with' | 'range', _kw: Tok): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(kind, 'rdelim');
    if (kind === 'range') this.rangeDepth++;
    let [list, next] = this.itemList();
    if (kind === 'range') this.rangeDepth--;
    let elseList: Node[] | null = null;
    if (next.t === 'else') {
      if (next.elseKw && (kind === 'if' || kind === 'with') && next.elseKw === kind) {
        // {{else if ...}} is {{else}}{{if ...}}...{{end}}{{end}} with a single {{end}}.
        const kwTok = this.nextNonSpace();
        elseList = [this.control(kind, kwTok)];
      } else {
        if (next.elseKw) this.errorf(`expected end; found {{else ${next.elseKw}}}`);
        [elseList, next] = this.itemList();
        if (next.t !== 'end') this.errorf(`expected end; found ${next.str}`);
      }
    }
    this.vars.length = mark;
    return { t: kind, pipe, list, elseList, pos: pipe.pos };
  }

  private pipeline(context: string, end: 'rdelim' | 'rparen'): Pipe {
    const first = this.peekNonSpace();
    const pipe: Pipe = { decl: [], isAssign: false, cmds: [], pos: first.pos };
    // Declarations: $x := ..., $i, $v := ..., $x = ...
    for (;;) {
      const save = this.i;
      const v = this.nextNonSpace();
      if (v.t !== 'var') { this.i = save; break; }
      const nx = this.nextNonSpace();
      if (nx.t === 'declare' || nx.t === 'assign') {
        pipe.isAssign = nx.t === 'assign';
        pipe.decl.push(v.v);
        if (pipe.isAssign) { if (!this.vars.includes(v.v)) this.errorf(`undefined variable ${goQuote(v.v)}`); }
        else this.vars.push(v.v);
        break;
      }
      if (nx.t === 'comma' && context === 'range' && pipe.decl.length === 0) {
        pipe.decl.push(v.v);
        this.vars.push(v.v);
        const p = this.peekNonSpace();
        if (p.t !== 'var') this.errorf('range can only initialize variables');
        continue;
      }
      if (nx.t === 'comma') this.errorf(`too many declarations in ${context}`);
      this.i = save;
      break;
    }
    for (;;) {
      const t = this.peekNonSpace();
      if (t.t === end) {
        this.nextNonSpace();
        if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
        for (let k = 1; k < pipe.cmds.length; k++) {
          const a0 = pipe.cmds[k]!.args[0]!;
          if (a0.t === 'bool' || a0.t === 'dot' || a0.t === 'nil' || a0.t === 'number' || a0.t === 'string') {
            this.errorf(`non executable command in pipeline stage ${k + 1}`);
          }
        }
        return pipe;
      }
      switch (t.t) {
        case 'bool': case 'char': case 'dot': case 'field': case 'ident': case 'number': case 'nil':
        case 'rawstring': case 'string': case 'var': case 'lparen':
          pipe.cmds.push(this.command());
          break;
        case 'rdelim': case 'rparen':
          this.unexpected(this.nextNonSpace(), context);
          break;
        default:
          this.unexpected(this.nextNonSpace(), context);
      }
    }
  }

  private command(): Cmd {
    const cmd: Cmd = { args: [], pos: this.peekNonSpace().pos };
    for (;;) {
      this.peekNonSpace();
      while (this.toks[this.i]!.t === 'space') this.i++;
      const op = this.operand();
      if (op) cmd.args.push(op);
      const t = this.next();
      if (t.t === 'space') continue;
      if (t.t === 'rdelim' || t.t === 'rparen') { this.i--; break; }
      if (t.t === 'pipe') break;
      this.unexpected(t, 'operand');
    }
    if (cmd.args.length === 0) this.errorf('empty command');
    return cmd;
  }

  private operand(): Arg | null {
    const node = this.term();
    if (!node) return null;
    if (this.peek().t !== 'field') return node;
    const names: string[] = [];
    while (this.peek().t === 'field') names.push(this.next().v.slice(1));
    switch (node.t) {
      case 'field': return { t: 'field', names: [...node.names, ...names], pos: node.pos };
      case 'var': return { t: 'var', name: node.name, names: [...node.names, ...names], pos: node.pos };
      case 'bool': case 'string': case 'number': case 'nil': case 'dot':
        return this.errorf(`unexpected . after term ${goQuote(argString(node))}`);
      default: return { t: 'chain', node, names, pos: node.pos };
    }
  }

  private term(): Arg | null {
    const save = this.i;
    const t = this.nextNonSpace();
    switch (t.t) {
      case 'ident':
        if (!this.hasFunc(t.v)) this.errorf(`function ${goQuote(t.v)} not defined`, t);
        return { t: 'ident', name: t.v, pos: t.pos };
      case 'dot': return { t: 'dot', pos: t.pos };
      case 'nil': return { t: 'nil', pos: t.pos };
      case 'var':
        if (!this.vars.includes(t.v)) this.errorf(`undefined variable ${goQuote(t.v)}`, t);
        return { t: 'var', name: t.v, names: [], pos: t.pos };
      case 'field': return { t: 'field', names: [t.v.slice(1)], pos: t.pos };
      case 'bool': return { t: 'bool', v: t.v === 'true', pos: t.pos };
      case 'char': {
        const s = unquoteWith(t.v, "'");
        if (s === null || [...s].length !== 1) this.errorf(`malformed character constant: ${t.v}`, t);
        return { t: 'number', v: s.codePointAt(0)!, text: t.v, pos: t.pos };
      }
      case 'number': return { t: 'number', v: this.number(t), text: t.v, pos: t.pos };
      case 'lparen': return { t: 'pipe', pipe: this.pipeline('parenthesized pipeline', 'rparen'), pos: t.pos };
      case 'string': case 'rawstring': {
        const s = unquote(t.v);
        if (s === null) this.errorf('invalid syntax', t);
        return { t: 'string', v: s, text: t.v, pos: t.pos };
      }
    }
    this.i = save;
    return null;
  }

  private number(t: Tok): number {
    const s = t.v;
    if (/[iI]$/.test(s)) this.errorf(`illegal number syntax: ${goQuote(s)}`, t);
    try { return Number(parseIntBig(s, 0, 64)); } catch { /* not an integer */ }
    try {
      if (/^[+-]?0[bBoO]/.test(s)) throw new Error();
      return parseFloat64(s);
    } catch {
      return this.errorf(`bad number syntax: ${goQuote(s)}`, t);
    }
  }
}

function unquote(lit: string): string {
  if (lit[0] === '`') return lit.slice(1, -1).replace(/\r/g, '');
  const s = unquoteWith(lit, '"');
  if (s === null) throw new ParseError('invalid syntax');
  return s;
}

/** strconv.Unquote for "..." and '...' literals; null when malformed. */
function unquoteWith(lit: string, q: string): string | null {
  if (lit.length < 2 || lit[0] !== q || lit[lit.length - 1] !== q) return null;
  const body = lit.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') { if (c === q) return null; out += c; continue; }
    const e = body[++i];
    switch (e) {
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': case "'": if (e !== q) return null; out += e; break;
      case 'x': case 'u': case 'U': {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const h = body.slice(i + 1, i + 1 + n);
        if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== n) return null;
        const v = parseInt(h, 16);
        if (e === 'x') out += Buffer.from([v]).toString('latin1'); else { if (v > 0x10ffff) return null; out += String.fromCodePoint(v); }
        i += n;
        break;
      }
      default: {
        if (e !== undefined && e >= '0' && e <= '7') {
          const o = body.slice(i, i + 3);
          if (!/^[0-7]{3}$/.test(o)) return null;
          out += String.fromCharCode(parseInt(o, 8));
          i += 2;
          break;
        }
        return null;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Execution

const MISSING: unique symbol = Symbol('missing');
type Final = unknown | typeof MISSING;

class BreakSignal { }
class ContinueSignal { }
const BREAK = new BreakSignal();
const CONTINUE = new ContinueSignal();

interface State {
  out: string;
  vars: { name: string; value: unknown }[];
  funcs: Record<string, TemplateFunc>;
  missingKey: MissingKey;
  depth: number;
}

/** Go's truth: false, 0, nil, empty string/slice/map and missing values are false. */
export function truth(v: unknown): boolean {
  switch (kindOf(v)) {
    case 'invalid': case 'nil': return false;
    case 'bool': return v as boolean;
    case 'int': return v !== 0 && v !== 0n;
    case 'float': return v !== 0;
    case 'string': return (v as string).length > 0;
    case 'slice': return (v as ArrayLike<unknown>).length > 0;
    case 'map':
      if (v instanceof Map) return v.size > 0;
      for (const _ in v as object) return true;
      return false;
    default: return true;
  }
}

function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function structMember(o: object, k: string): boolean {
  for (let p: object | null = o; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (hasOwn(p, k)) return true;
  }
  return false;
}

/** The zero value of a map's element type, guessed from its values (Labels: ""). */
function mapZero(m: object): unknown {
  const it = m instanceof Map ? m.values() : Object.values(m)[Symbol.iterator]();
  const first = it.next();
  if (first.done) return '';
  switch (typeof first.value) {
    case 'string': return '';
    case 'number': case 'bigint': return 0;
    case 'boolean': return false;
    default: return null;
  }
}

class CompiledTemplate {
  constructor(
    readonly name: string,
    readonly text: string,
    private readonly root: Node[],
    private readonly defs: Map<string, Node[]>,
    private readonly funcs: Record<string, TemplateFunc>,
  ) {}

  execute(data: unknown, opts: ExecuteOptions = {}): string {
    const s: State = {
      out: '',
      vars: [{ name: '$', value: data }],
      funcs: opts.funcs ? { ...this.funcs, ...opts.funcs } : this.funcs,
      missingKey: opts.missingKey ?? 'default',
      depth: 0,
    };
    try {
      this.walkList(s, data, this.root);
    } catch (e) {
      if (e instanceof TemplateError) { e.output = s.out; throw e; }
      throw e;
    }
    return s.out;
  }

  private fail(pos: number, context: string, msg: string): never {
    const before = this.text.slice(0, pos);
    const nl = before.lastIndexOf('\n');
    const line = 1 + countNL(this.text, 0, pos);
    const col = nl < 0 ? pos : pos - nl - 1;
    throw new TemplateError(`template: ${this.name}:${line}:${col}: executing ${goQuote(this.name)} at <${context}>: ${msg}`);
  }

  private walkList(s: State, dot: unknown, list: Node[]): void {
    for (const n of list) this.walk(s, dot, n);
  }

  private walk(s: State, dot: unknown, n: Node): void {
    switch (n.t) {
      case 'text': s.out += n.s; return;
      case 'action': {
        const v = this.evalPipeline(s, dot, n.pipe);
        if (n.pipe.decl.length === 0) this.print(s, v, n);
        return;
      }
      case 'if': case 'with': {
        const mark = s.vars.length;
        const v = this.evalPipeline(s, dot, n.pipe);
        if (truth(v)) this.walkList(s, n.t === 'with' ? v : dot, n.list);
        else if (n.elseList) this.walkList(s, dot, n.elseList);
        s.vars.length = mark;
        return;
      }
      case 'range': return this.walkRange(s, dot, n);
      case 'break': throw BREAK;
      case 'continue': throw CONTINUE;
      case 'template': {
        const body = this.defs.get(n.name);
        if (!body) this.fail(n.pos, nodeString(n), `no such template ${goQuote(n.name)}`);
        const newDot = n.pipe ? this.evalPipeline(s, dot, n.pipe) : null;
        if (++s.depth > 10000) this.fail(n.pos, nodeString(n), 'exceeded maximum template depth (10000)');
        const saved = s.vars;
        s.vars = [{ name: '$', value: newDot }];
        try { this.walkList(s, newDot, body); } finally { s.vars = saved; s.depth--; }
        return;
      }
    }
  }

  private walkRange(s: State, dot: unknown, n: Extract<Node, { list: Node[] }>): void {
    const mark = s.vars.length;
    const pipe = n.pipe;
    const val = this.evalPipeline(s, dot, { ...pipe, decl: [] });
    const iterate = (key: unknown, elem: unknown): boolean => {
      if (pipe.decl.length === 1) this.declare(s, pipe, pipe.decl[0]!, elem);
      else if (pipe.decl.length === 2) { this.declare(s, pipe, pipe.decl[0]!, key); this.declare(s, pipe, pipe.decl[1]!, elem); }
      try {
        this.walkList(s, elem, n.list);
      } catch (e) {
        if (e === BREAK) return false;
        if (e !== CONTINUE) throw e;
      } finally {
        s.vars.length = mark;
      }
      return true;
    };
    let count = 0;
    switch (kindOf(val)) {
      case 'slice': {
        const a = val as ArrayLike<unknown>;
        for (let i = 0; i < a.length; i++) { count++; if (!iterate(i, a[i] === undefined ? null : a[i])) break; }
        break;
      }
      case 'map': {
        for (const [k, v] of mapEntries(val as object)) { count++; if (!iterate(k, v === undefined ? null : v)) break; }
        break;
      }
      case 'int': {
        const m = Number(val);
        for (let i = 0; i < m; i++) { count++; if (!iterate(i, i)) break; }
        break;
      }
      case 'invalid': case 'nil': break;
      default:
        this.fail(n.pos, nodeString(n), `range can't iterate over ${formatValue(val)}`);
    }
    if (count === 0 && n.elseList) this.walkList(s, dot, n.elseList);
    s.vars.length = mark;
  }

  private declare(s: State, pipe: Pipe, name: string, value: unknown): void {
    if (pipe.isAssign) this.setVar(s, name, value);
    else s.vars.push({ name, value });
  }

  private setVar(s: State, name: string, value: unknown): void {
    for (let i = s.vars.length - 1; i >= 0; i--) {
      if (s.vars[i]!.name === name) { s.vars[i]!.value = value; return; }
    }
  }

  private lookupVar(s: State, a: Extract<Arg, { t: 'var' }>): unknown {
    for (let i = s.vars.length - 1; i >= 0; i--) if (s.vars[i]!.name === a.name) return s.vars[i]!.value;
    return this.fail(a.pos, argString(a), `undefined variable: ${a.name}`);
  }

  private print(s: State, v: unknown, n: Extract<Node, { t: 'action' }>): void {
    if (typeof v === 'function') this.fail(n.pos, pipeString(n.pipe), `can't print ${pipeString(n.pipe)} of type func`);
    s.out += formatValue(v);
  }

  private evalPipeline(s: State, dot: unknown, pipe: Pipe): unknown {
    let v: unknown = MISSING;
    for (const c of pipe.cmds) v = this.evalCommand(s, dot, c, v);
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(s, name, v);
      else s.vars.push({ name, value: v });
    }
    return v;
  }

  private notAFunction(args: Arg[], final: Final): void {
    if (args.length > 1 || final !== MISSING) {
      const a = args[0]!;
      this.fail(a.pos, argString(a), `can't give argument to non-function ${argString(a)}`);
    }
  }

  private evalCommand(s: State, dot: unknown, c: Cmd, final: Final): unknown {
    const first = c.args[0]!;
    switch (first.t) {
      case 'field': return this.evalFieldChain(s, dot, dot, first, first.names, c.args, final);
      case 'chain': {
        const base = this.evalArg(s, dot, first.node);
        return this.evalFieldChain(s, dot, base, first, first.names, c.args, final);
      }
      case 'ident': return this.evalFunction(s, dot, first, c, c.args, final);
      case 'pipe': this.notAFunction(c.args, final); return this.evalPipeline(s, dot, first.pipe);
      case 'var': {
        const v = this.lookupVar(s, first);
        if (first.names.length === 0) { this.notAFunction(c.args, final); return v; }
        return this.evalFieldChain(s, dot, v, first, first.names, c.args, final);
      }
    }
    this.notAFunction(c.args, final);
    switch (first.t) {
      case 'dot': return dot;
      case 'nil': return this.fail(first.pos, 'nil', 'nil is not a command');
      case 'bool': case 'number': case 'string': return first.v;
    }
  }

  private evalArg(s: State, dot: unknown, a: Arg): unknown {
    switch (a.t) {
      case 'dot': return dot;
      case 'nil': return null;
      case 'bool': case 'number': case 'string': return a.v;
      case 'field': return this.evalFieldChain(s, dot, dot, a, a.names, null, MISSING);
      case 'var': {
        const v = this.lookupVar(s, a);
        return a.names.length ? this.evalFieldChain(s, dot, v, a, a.names, null, MISSING) : v;
      }
      case 'chain': return this.evalFieldChain(s, dot, this.evalArg(s, dot, a.node), a, a.names, null, MISSING);
      case 'pipe': return this.evalPipeline(s, dot, a.pipe);
      case 'ident': return this.evalFunction(s, dot, a, { args: [a], pos: a.pos }, [a], MISSING);
    }
  }

  private evalFieldChain(s: State, dot: unknown, recv: unknown, node: Arg, names: string[], args: Arg[] | null, final: Final): unknown {
    const n = names.length;
    for (let i = 0; i < n - 1; i++) recv = this.evalField(s, dot, names[i]!, node, null, MISSING, recv);
    return this.evalField(s, dot, names[n - 1]!, node, args, final, recv);
  }

  private evalField(s: State, dot: unknown, field: string, node: Arg, args: Arg[] | null, final: Final, recv: unknown): unknown {
    const hasArgs = (args !== null && args.length > 1) || final !== MISSING;
    const ctx = () => argString(node);
    const k = kindOf(recv);
    if (k === 'invalid') {
      if (s.missingKey === 'error') this.fail(node.pos, ctx(), `nil data; no entry for key ${goQuote(field)}`);
      return NO_VALUE;
    }
    if (k === 'nil') this.fail(node.pos, ctx(), `nil pointer evaluating interface {}.${field}`);
    if (k === 'map' || k === 'struct') {
      const o = recv as Record<string, unknown>;
      let present: boolean;
      let value: unknown;
      if (recv instanceof Map) { present = recv.has(field); value = recv.get(field); }
      else { present = k === 'struct' ? structMember(o, field) : hasOwn(o, field); value = present ? o[field] : undefined; }
      if (present) {
        if (typeof value === 'function') {
          const argv = this.evalArgs(s, dot, args, final);
          try {
            const r = (value as (...a: unknown[]) => unknown).apply(recv, argv);
            return r === undefined ? null : r;
          } catch (e) {
            if (e instanceof TemplateError || e === BREAK || e === CONTINUE) throw e;
            return this.fail(node.pos, ctx(), `error calling ${field}: ${errMsg(e)}`);
          }
        }
        if (hasArgs) {
          this.fail(node.pos, ctx(), k === 'map' ? `${field} is not a method but has arguments` : `${field} has arguments but cannot be invoked as function`);
        }
        return value === undefined ? null : value;
      }
      if (k === 'struct') this.fail(node.pos, ctx(), `can't evaluate field ${field} in type ${typeName(recv)}`);
      if (hasArgs) this.fail(node.pos, ctx(), `${field} is not a method but has arguments`);
      switch (s.missingKey) {
        case 'error': return this.fail(node.pos, ctx(), `map has no entry for key ${goQuote(field)}`);
        case 'zero': return mapZero(recv as object);
        default: return NO_VALUE;
      }
    }
    return this.fail(node.pos, ctx(), `can't evaluate field ${field} in type ${typeName(recv)}`);
  }

  private evalArgs(s: State, dot: unknown, args: Arg[] | null, final: Final): unknown[] {
    const argv: unknown[] = [];
    if (args) for (let i = 1; i < args.length; i++) argv.push(noValueToNil(this.evalArg(s, dot, args[i]!)));
    if (final !== MISSING) argv.push(noValueToNil(final));
    return argv;
  }

  private evalFunction(s: State, dot: unknown, id: Extract<Arg, { t: 'ident' }>, cmd: Cmd, args: Arg[], final: Final): unknown {
    const fn = s.funcs[id.name];
    if (!fn) return this.fail(id.pos, id.name, `${goQuote(id.name)} is not a defined function`);
    const nargs = args.length - 1 + (final !== MISSING ? 1 : 0);
    const min = fn.minArgs, max = fn.maxArgs;
    if (min !== undefined) {
      const maxv = max ?? min;
      if (nargs < min || nargs > maxv) {
        const want = maxv === Infinity ? `at least ${min}` : min === maxv ? String(min) : nargs < min ? `at least ${min}` : `at most ${maxv}`;
        this.fail(id.pos, id.name, `wrong number of args for ${id.name}: want ${want} got ${nargs}`);
      }
    }
    let argv: unknown[];
    if (fn.lazy) {
      // and/or: evaluate arguments only as needed.
      const thunks: (() => unknown)[] = [];
      for (let i = 1; i < args.length; i++) { const a = args[i]!; thunks.push(() => this.evalArg(s, dot, a)); }
      if (final !== MISSING) thunks.push(() => final);
      argv = thunks;
    } else {
      argv = this.evalArgs(s, dot, args, final);
    }
    try {
      const r = fn(...argv);
      return r === undefined ? null : r;
    } catch (e) {
      if (e instanceof TemplateError || e === BREAK || e === CONTINUE) throw e;
      return this.fail(cmd.pos, cmdString(cmd), `error calling ${id.name}: ${errMsg(e)}`);
    }
  }
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function noValueToNil(v: unknown): unknown {
  return v === NO_VALUE || v === undefined ? null : v;
}

// ---------------------------------------------------------------------------------------------
// Functions

function def(fn: (...args: any[]) => unknown, minArgs: number, maxArgs = minArgs, lazy = false): TemplateFunc {
  const f = fn as TemplateFunc;
  f.minArgs = minArgs;
  f.maxArgs = maxArgs;
  if (lazy) f.lazy = true;
  return f;
}

function wantString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) throw new Error('invalid value; expected string');
  throw new Error(`wrong type for value; expected string; got ${typeName(v)}`);
}

function wantInt(v: unknown): number {
  if (kindOf(v) === 'int') return Number(v);
  if (v === null || v === undefined) throw new Error('invalid value; expected int');
  throw new Error(`wrong type for value; expected int; got ${typeName(v)}`);
}

type Basic = 'bool' | 'number' | 'string' | 'nil' | 'other';
function basic(v: unknown): Basic {
  if (v === null || v === undefined || v === NO_VALUE) return 'nil';
  switch (typeof v) {
    case 'boolean': return 'bool';
    case 'number': case 'bigint': return 'number';
    case 'string': return 'string';
    default: return 'other';
  }
}

function eq1(a: unknown, b: unknown): boolean {
  const ka = basic(a), kb = basic(b);
  if (ka === 'nil' || kb === 'nil') return ka === kb;
  if (ka !== kb) throw new Error('incompatible types for comparison');
  // eslint-disable-next-line eqeqeq
  if (ka === 'number') return a == b;
  return a === b;
}

function lt1(a: unknown, b: unknown): boolean {
  const ka = basic(a), kb = basic(b);
  if (ka !== kb) throw new Error('incompatible types for comparison');
  if (ka === 'number' || ka === 'string') return (a as number) < (b as number);
  throw new Error('invalid type for comparison');
}

function evalArgsString(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args);
}

function indexOne(item: unknown, idx: unknown): unknown {
  const k = kindOf(item);
  if (k === 'nil') {
    if (typeof idx === 'string') return '';
    throw new Error('index of untyped nil');
  }
  if (k === 'slice' || k === 'string') {
    if (kindOf(idx) !== 'int') throw new Error(`cannot index slice/array with type ${typeName(idx)}`);
    const i = Number(idx);
    if (k === 'string') {
      const b = Buffer.from(item as string, 'utf8');
      if (i < 0 || i >= b.length) throw new Error(`index out of range: ${i}`);
      return b[i];
    }
    const a = item as ArrayLike<unknown>;
    if (i < 0 || i >= a.length) throw new Error(`index out of range: ${i}`);
    return a[i] === undefined ? null : a[i];
  }
  if (k === 'map') {
    if (item instanceof Map) return item.has(idx) ? item.get(idx) : mapZero(item);
    const key = String(idx);
    return hasOwn(item as object, key) ? (item as Record<string, unknown>)[key] ?? null : mapZero(item as object);
  }
  throw new Error(`can't index item of type ${typeName(item)}`);
}

function sliceFn(item: unknown, ...idx: unknown[]): unknown {
  const k = kindOf(item);
  if (k !== 'slice' && k !== 'string') throw new Error(`can't slice item of type ${typeName(item)}`);
  if (k === 'string' && idx.length > 2) throw new Error('cannot 3-index slice a string');
  const len = k === 'string' ? Buffer.byteLength(item as string) : (item as ArrayLike<unknown>).length;
  const ix = idx.map((x) => {
    if (kindOf(x) !== 'int') throw new Error(`cannot index slice/array with type ${typeName(x)}`);
    const n = Number(x);
    if (n < 0 || n > len) throw new Error(`index out of range: ${n}`);
    return n;
  });
  const i = ix[0] ?? 0, j = ix[1] ?? len;
  if (i > j) throw new Error(`invalid slice index: ${i} > ${j}`);
  if (k === 'string') return Buffer.from(item as string, 'utf8').subarray(i, j).toString('utf8');
  return Array.prototype.slice.call(item, i, j);
}

function lenFn(v: unknown): number {
  switch (kindOf(v)) {
    case 'string': return Buffer.byteLength(v as string);
    case 'slice': return (v as ArrayLike<unknown>).length;
    case 'map': return v instanceof Map ? v.size : Object.keys(v as object).length;
    case 'nil': case 'invalid': throw new Error('len of nil pointer');
    default: throw new Error(`len of type ${typeName(v)}`);
  }
}

function htmlEscape(s: string): string {
  return s.replace(/[<>&'"\0]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;', '\0': '\uFFFD' })[c]!);
}

function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '\\': out += '\\\\'; continue;
      case "'": out += "\\'"; continue;
      case '"': out += '\\"'; continue;
      case '<': out += '\\u003C'; continue;
      case '>': out += '\\u003E'; continue;
      case '&': out += '\\u0026'; continue;
      case '=': out += '\\u003D'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
    }
    out += c < 0x20 ? '\\u' + c.toString(16).toUpperCase().padStart(4, '0') : ch;
  }
  return out;
}

function urlQueryEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%20/g, '+');
}

/** Go's text/template builtin functions. */
export const builtinFuncs: Record<string, TemplateFunc> = {
  and: def((...args: (() => unknown)[]) => {
    let v: unknown = null;
    for (const a of args) { v = a(); if (!truth(v)) return v; }
    return v;
  }, 1, Infinity, true),
  or: def((...args: (() => unknown)[]) => {
    let v: unknown = null;
    for (const a of args) { v = a(); if (truth(v)) return v; }
    return v;
  }, 1, Infinity, true),
  not: def((v: unknown) => !truth(v), 1),
  len: def(lenFn, 1),
  index: def((item: unknown, ...idx: unknown[]) => idx.reduce(indexOne, item), 1, Infinity),
  slice: def(sliceFn, 1, 4),
  print: def((...args: unknown[]) => sprint(args), 0, Infinity),
  printf: def((format: unknown, ...args: unknown[]) => sprintf(wantString(format), args), 1, Infinity),
  println: def((...args: unknown[]) => sprintln(args), 0, Infinity),
  eq: def((a: unknown, ...bs: unknown[]) => {
    if (bs.length === 0) throw new Error('missing argument for comparison');
    for (const b of bs) if (eq1(a, b)) return true;
    return false;
  }, 1, Infinity),
  ne: def((a: unknown, b: unknown) => !eq1(a, b), 2),
  lt: def((a: unknown, b: unknown) => lt1(a, b), 2),
  le: def((a: unknown, b: unknown) => lt1(a, b) || eq1(a, b), 2),
  gt: def((a: unknown, b: unknown) => !lt1(a, b) && !eq1(a, b), 2),
  ge: def((a: unknown, b: unknown) => !lt1(a, b), 2),
  html: def((...args: unknown[]) => htmlEscape(evalArgsString(args)), 0, Infinity),
  js: def((...args: unknown[]) => jsEscape(evalArgsString(args)), 0, Infinity),
  urlquery: def((...args: unknown[]) => urlQueryEscape(evalArgsString(args)), 0, Infinity),
  call: def((fn: unknown, ...args: unknown[]) => {
    if (typeof fn !== 'function') throw new Error(`non-function of type ${typeName(fn)}`);
    return (fn as (...a: unknown[]) => unknown)(...args);
  }, 1, Infinity),
};

function isTitleSeparator(ch: string): boolean {
  if (ch.length === 1 && ch.charCodeAt(0) < 0x80) return !/[0-9A-Za-z_]/.test(ch);
  if (/[\p{L}\p{Nd}]/u.test(ch)) return false;
  return /\s/u.test(ch);
}

function title(s: string): string {
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    out += isTitleSeparator(prev) ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

/** The functions docker/cli adds to every --format template (templates.basicFunctions). */
export const dockerFuncs: Record<string, TemplateFunc> = {
  json: def((v: unknown) => goJSON(v, { escapeHTML: false }), 1),
  split: def((s: unknown, sep: unknown) => {
    const str = wantString(s), sp = wantString(sep);
    return sp === '' ? [...str] : str.split(sp);
  }, 2),
  join: def((elems: unknown, sep: unknown) => {
    const sp = wantString(sep);
    const k = kindOf(elems);
    if (k === 'nil') return '';
    if (k === 'slice') return Array.from(elems as ArrayLike<unknown>, (e) => formatValue(e)).join(sp);
    if (k === 'map') return (elems instanceof Map ? [...elems.values()] : Object.values(elems as object)).map((e) => formatValue(e)).sort().join(sp);
    throw new Error(`expected slice, got ${typeName(elems)}`);
  }, 2),
  title: def((s: unknown) => title(wantString(s)), 1),
  lower: def((s: unknown) => wantString(s).toLowerCase(), 1),
  upper: def((s: unknown) => wantString(s).toUpperCase(), 1),
  pad: def((s: unknown, prefix: unknown, suffix: unknown) => {
    const str = wantString(s);
    if (str === '') return str;
    return ' '.repeat(Math.max(0, wantInt(prefix))) + str + ' '.repeat(Math.max(0, wantInt(suffix)));
  }, 3),
  truncate: def((s: unknown, n: unknown) => {
    const str = wantString(s), len = wantInt(n);
    const b = Buffer.from(str, 'utf8');
    if (b.length < len) return str;
    return b.subarray(0, len).toString('utf8');
  }, 2),
};

/** Docker's HeaderFunctions: table headers stay intact (json/split/join/title/lower/upper/truncate return v). */
export const headerFuncs: Record<string, TemplateFunc> = {
  json: def((v: unknown) => wantString(v), 1),
  split: def((v: unknown) => wantString(v), 2),
  join: def((v: unknown) => wantString(v), 2),
  title: def((v: unknown) => wantString(v), 1),
  lower: def((v: unknown) => wantString(v), 1),
  upper: def((v: unknown) => wantString(v), 1),
  truncate: def((v: unknown) => wantString(v), 2),
};

const baseFuncs: Record<string, TemplateFunc> = { ...builtinFuncs, ...dockerFuncs };

export type Template = CompiledTemplate;

/**
 * Parse a template as docker's templates.Parse does (Go builtins plus Docker's functions).
 * Throws TemplateError with Go's message ("template: :1: function \"foo\" not defined").
 */
export function parseTemplate(text: string, opts: TemplateOptions = {}): Template {
  const name = opts.name ?? '';
  const funcs = opts.funcs ? { ...baseFuncs, ...opts.funcs } : baseFuncs;
  const parser = new Parser(lex(text), name, (n) => n in funcs);
  let root: Node[];
  try {
    root = parser.parse();
  } catch (e) {
    if (e instanceof ParseError) throw new TemplateError(e.message);
    throw e;
  }
  return new CompiledTemplate(name, text, root, parser.defs, funcs);
}

/** Parse and execute once. */
export function executeTemplate(text: string, data: unknown, opts: TemplateOptions & ExecuteOptions = {}): string {
  return parseTemplate(text, opts).execute(data, opts);
}
