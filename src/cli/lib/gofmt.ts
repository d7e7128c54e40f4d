// Go's value printing (fmt), strconv parsing/quoting and encoding/json output, as the Docker CLI shows
// them. Shared by the template engine, the flag parser and the unit parsers.
//
// JS values stand for Go values this way:
//   string → string, boolean → bool, integral number/bigint → int, other number → float64,
//   null/undefined → nil, array/typed array → slice, Map → map, Date → time.Time,
//   plain object → map (a JSON object), class instance or asStruct(obj) → struct.
// NO_VALUE is Go's "invalid value" (a missing map key): it prints as "<no value>".

export const NO_VALUE: unique symbol = Symbol('<no value>');

const GO_STRUCT = Symbol.for('barge.go.struct');
const GO_MAP = Symbol.for('barge.go.map');

export type Kind = 'invalid' | 'nil' | 'bool' | 'int' | 'float' | 'string' | 'slice' | 'map' | 'struct' | 'func' | 'time';

/** Mark an object as a Go struct: missing fields are errors, it prints as {v1 v2}. */
export function asStruct<T extends object>(obj: T, typeName?: string): T {
  Object.defineProperty(obj, GO_STRUCT, { value: typeName ?? obj.constructor?.name ?? 'struct', configurable: true });
  return obj;
}

/** Mark an object as a Go map: missing keys give <no value>, it prints as map[k:v] with sorted keys. */
export function asMap<T extends object>(obj: T): T {
  Object.defineProperty(obj, GO_MAP, { value: true, configurable: true });
  return obj;
}

export function kindOf(v: unknown): Kind {
  switch (typeof v) {
    case 'string': return 'string';
    case 'number': return Number.isInteger(v) && Math.abs(v as number) < 2 ** 63 ? 'int' : 'float';
    case 'bigint': return 'int';
    case 'boolean': return 'bool';
    case 'undefined': return 'nil';
    case 'function': return 'func';
    case 'symbol': return v === NO_VALUE ? 'invalid' : 'string';
    default: {
      if (v === null) return 'nil';
      if (Array.isArray(v) || ArrayBuffer.isView(v)) return 'slice';
      if (v instanceof Map) return 'map';
      if (v instanceof Date) return 'time';
      const o = v as Record<symbol, unknown>;
      if (o[GO_MAP]) return 'map';
      if (o[GO_STRUCT] !== undefined) return 'struct';
      const proto = Object.getPrototypeOf(v);
      return proto === Object.prototype || proto === null ? 'map' : 'struct';
    }
  }
}

/**
 * Whether an object prints (and JSON-encodes) like a Go struct: explicit structs, class instances, and
 * plain objects whose keys all look like exported Go field names (API objects: {"Id":..,"State":..}).
 */
export function looksLikeStruct(v: object): boolean {
  const o = v as Record<symbol, unknown>;
  if (v instanceof Map || o[GO_MAP]) return false;
  if (kindOf(v) === 'struct') return true;
  let n = 0;
  for (const k in v) {
    const c = k.charCodeAt(0);
    if (!(c >= 65 && c <= 90)) return false;
    n++;
  }
  return n > 0;
}

/** Go's %T, approximately: "string", "int", "float64", "[]string", "map[string]interface {}"... */
export function typeName(v: unknown): string {
  switch (kindOf(v)) {
    case 'invalid': return '<no value>';
    case 'nil': return '<nil>';
    case 'bool': return 'bool';
    case 'int': return 'int';
    case 'float': return 'float64';
    case 'string': return 'string';
    case 'func': return 'func';
    case 'time': return 'time.Time';
    case 'slice': {
      if (v instanceof Uint8Array) return '[]uint8';
      const a = v as unknown[];
      return a.length > 0 && a.every((e) => typeof e === 'string') ? '[]string' : '[]interface {}';
    }
    case 'map': {
      const vals = v instanceof Map ? [...v.values()] : Object.values(v as object);
      return vals.length > 0 && vals.every((e) => typeof e === 'string') ? 'map[string]string' : 'map[string]interface {}';
    }
    case 'struct': {
      const t = (v as Record<symbol, unknown>)[GO_STRUCT];
      return typeof t === 'string' ? t : ((v as object).constructor?.name ?? 'struct');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Maps

export function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a), y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A map's entries, keys sorted as Go's fmt and text/template do. */
export function mapEntries(m: object): [unknown, unknown][] {
  const entries: [unknown, unknown][] = m instanceof Map ? [...m.entries()] : Object.entries(m);
  return entries.sort((p, q) => compareKeys(p[0], q[0]));
}

/** Own enumerable fields of a struct-like object, in declaration (insertion) order. */
export function structFields(o: object): [string, unknown][] {
  return Object.entries(o);
}

// ---------------------------------------------------------------------------------------------
// Floats: strconv.FormatFloat with Go's exact rounding (round half to even on the exact binary value).

interface Digits { d: string; dp: number } // value = 0.d × 10^dp; d has no trailing zeros; zero is d=''

function shortestDigits(x: number): Digits {
  if (x === 0) return { d: '', dp: 0 };
  const s = x.toExponential(); // shortest round-trip digits, as Go's shortest mode
  const e = s.indexOf('e');
  const d = (s[0] + s.slice(2, e)).replace(/0+$/, '');
  return { d, dp: Number(s.slice(e + 1)) + 1 };
}

function exactDigits(x: number): Digits {
  if (x === 0) return { d: '', dp: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0), lo = view.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (bexp === 0) e = -1074; else { mant |= 1n << 52n; e = bexp - 1075; }
  let s: string, dp: number;
  if (e >= 0) { s = (mant << BigInt(e)).toString(); dp = s.length; }
  else { s = (mant * 5n ** BigInt(-e)).toString(); dp = s.length + e; }
  const t = s.replace(/0+$/, '');
  return { d: t, dp };
}

/** Round to nd significant digits (nd may be ≤ 0), half to even on exact ties. */
function roundDigits(g: Digits, nd: number): Digits {
  const { d } = g;
  if (nd >= d.length) return g;
  if (nd < 0) return { d: '', dp: 0 };
  const c = d.charCodeAt(nd) - 48;
  let up: boolean;
  if (c > 5) up = true;
  else if (c < 5) up = false;
  else if (nd + 1 < d.length) up = true; // digits after the 5: above half (d has no trailing zeros)
  else up = nd > 0 && (d.charCodeAt(nd - 1) - 48) % 2 === 1;
  if (!up) return { d: d.slice(0, nd).replace(/0+$/, ''), dp: nd === 0 ? 0 : g.dp };
  let i = nd - 1;
  while (i >= 0 && d[i] === '9') i--;
  if (i < 0) return { d: '1', dp: g.dp + 1 };
  return { d: d.slice(0, i) + String.fromCharCode(d.charCodeAt(i) + 1), dp: g.dp };
}

function digitAt(g: Digits, i: number): string {
  return i >= 0 && i < g.d.length ? g.d[i]! : '0';
}

function fmtE(g: Digits, prec: number, e: string): string {
  let s = g.d.length === 0 ? '0' : g.d[0]!;
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) s += digitAt(g, i);
  }
  const exp = g.d.length === 0 ? 0 : g.dp - 1;
  const a = Math.abs(exp);
  return s + e + (exp < 0 ? '-' : '+') + (a < 10 ? '0' + a : String(a));
}

function fmtF(g: Digits, prec: number): string {
  let s = '';
  if (g.dp > 0) { for (let i = 0; i < g.dp; i++) s += digitAt(g, i); } else s = '0';
  if (prec > 0) {
    s += '.';
    for (let i = 0; i < prec; i++) s += digitAt(g, g.dp + i);
  }
  return s;
}

/** strconv.FormatFloat(x, fmt, prec, 64) for fmt e, E, f, F, g, G; prec -1 is "shortest". */
export function formatFloat(x: number, fmt: 'e' | 'E' | 'f' | 'F' | 'g' | 'G', prec = -1): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  const neg = x < 0 || Object.is(x, -0);
  const ax = Math.abs(x);
  const shortest = prec < 0;
  let g: Digits;
  if (shortest) {
    g = shortestDigits(ax);
    if (fmt === 'e' || fmt === 'E') prec = Math.max(g.d.length - 1, 0);
    else if (fmt === 'f' || fmt === 'F') prec = Math.max(g.d.length - g.dp, 0);
    else prec = g.d.length;
  } else {
    const exact = exactDigits(ax);
    if (fmt === 'e' || fmt === 'E') g = roundDigits(exact, prec + 1);
    else if (fmt === 'f' || fmt === 'F') g = roundDigits(exact, exact.dp + prec);
    else { if (prec === 0) prec = 1; g = roundDigits(exact, prec); }
  }
  let s: string;
  if (fmt === 'e' || fmt === 'E') s = fmtE(g, prec, fmt);
  else if (fmt === 'f' || fmt === 'F') s = fmtF(g, prec);
  else {
    let eprec = prec;
    if (eprec > g.d.length && g.d.length >= g.dp) eprec = g.d.length;
    if (shortest) eprec = 6;
    const exp = g.dp - 1;
    if (g.d.length !== 0 && (exp < -4 || exp >= eprec)) {
      if (prec > g.d.length) prec = g.d.length;
      s = fmtE(g, prec - 1, fmt === 'g' ? 'e' : 'E');
    } else {
      if (prec > g.dp) prec = g.d.length;
      s = fmtF(g, Math.max(prec - g.dp, 0));
    }
  }
  return neg ? '-' + s : s;
}

// ---------------------------------------------------------------------------------------------
// strconv

const PRINTABLE_EXCLUDED = /[\p{C}\p{Z}]/u;

/** strconv.Quote: a double-quoted Go string literal. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c < 0x80 || (c >= 0xd800 && c < 0xe000) || (c !== 0x20 && PRINTABLE_EXCLUDED.test(ch))) {
      switch (c) {
        case 7: out += '\\a'; break;
        case 8: out += '\\b'; break;
        case 9: out += '\\t'; break;
        case 10: out += '\\n'; break;
        case 11: out += '\\v'; break;
        case 12: out += '\\f'; break;
        case 13: out += '\\r'; break;
        default:
          if (c < 0x80) out += '\\x' + c.toString(16).padStart(2, '0');
          else if (c >= 0xd800 && c < 0xe000) out += '\\ufffd';
          else if (c < 0x10000) out += '\\u' + c.toString(16).padStart(4, '0');
          else out += '\\U' + c.toString(16).padStart(8, '0');
      }
    } else out += ch;
  }
  return out + '"';
}

/** A strconv.NumError-style error: `strconv.ParseInt: parsing "x": invalid syntax`. */
export class NumError extends Error {
  constructor(readonly func: string, readonly num: string, readonly reason: 'invalid syntax' | 'value out of range') {
    super(`strconv.${func}: parsing ${goQuote(num)}: ${reason}`);
  }
}

/** Whether underscores in a number literal are only between digits or after a base prefix. */
function underscoreOK(s: string): boolean {
  let saw = '^';
  let i = 0;
  if (s.length >= 1 && (s[0] === '-' || s[0] === '+')) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === '0' && 'bBoOxX'.includes(s[1]!)) { i = 2; saw = '0'; hex = s[1] === 'x' || s[1] === 'X'; }
  for (; i < s.length; i++) {
    const c = s[i]!;
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) { saw = '0'; continue; }
    if (c === '_') { if (saw !== '0') return false; saw = '_'; continue; }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

function parseUintBig(func: string, orig: string, s: string, base: number, bitSize: number): bigint {
  if (s === '') throw new NumError(func, orig, 'invalid syntax');
  let allowUnderscore = false;
  if (base === 0) {
    base = 10;
    allowUnderscore = true;
    if (s[0] === '0') {
      if (s.length >= 3 && (s[1] === 'b' || s[1] === 'B')) { base = 2; s = s.slice(2); }
      else if (s.length >= 3 && (s[1] === 'o' || s[1] === 'O')) { base = 8; s = s.slice(2); }
      else if (s.length >= 3 && (s[1] === 'x' || s[1] === 'X')) { base = 16; s = s.slice(2); }
      else { base = 8; s = s.slice(1); if (s === '') return 0n; }
    }
  }
  let n = 0n;
  const b = BigInt(base);
  let underscores = false;
  for (const c of s) {
    if (c === '_' && allowUnderscore) { underscores = true; continue; }
    const d = parseInt(c, 36);
    if (Number.isNaN(d) || d >= base) throw new NumError(func, orig, 'invalid syntax');
    n = n * b + BigInt(d);
  }
  if (underscores && !underscoreOK(orig)) throw new NumError(func, orig, 'invalid syntax');
  if (n >= 1n << BigInt(bitSize)) throw new NumError(func, orig, 'value out of range');
  return n;
}

/** strconv.ParseInt(s, base, bitSize) as a bigint. */
export function parseIntBig(s: string, base = 10, bitSize = 64, func = 'ParseInt'): bigint {
  let body = s;
  let neg = false;
  if (body[0] === '+' || body[0] === '-') { neg = body[0] === '-'; body = body.slice(1); }
  let u: bigint;
  try { u = parseUintBig(func, s, body, base, bitSize); } catch (e) {
    if (e instanceof NumError && e.reason === 'value out of range') throw new NumError(func, s, 'value out of range');
    throw e;
  }
  const cutoff = 1n << BigInt(bitSize - 1);
  if (!neg && u >= cutoff) throw new NumError(func, s, 'value out of range');
  if (neg && u > cutoff) throw new NumError(func, s, 'value out of range');
  return neg ? -u : u;
}

/** strconv.ParseInt as a number (exact up to 2^53). */
export function parseInt64(s: string, base = 10, bitSize = 64): number {
  return Number(parseIntBig(s, base, bitSize));
}

/** strconv.ParseUint. */
export function parseUint(s: string, base = 10, bitSize = 64): number {
  return Number(parseUintBig('ParseUint', s, s, base, bitSize));
}

/** strconv.Atoi. */
export function atoi(s: string): number {
  return Number(parseIntBig(s, 10, 64, 'Atoi'));
}

/** strconv.ParseBool. */
export function parseBool(s: string): boolean {
  switch (s) {
    case '1': case 't': case 'T': case 'true': case 'TRUE': case 'True': return true;
    case '0': case 'f': case 'F': case 'false': case 'FALSE': case 'False': return false;
  }
  throw new NumError('ParseBool', s, 'invalid syntax');
}

const DEC_FLOAT = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const HEX_FLOAT = /^([+-]?)0[xX]((?:_?[0-9a-fA-F])*)(?:\.([0-9a-fA-F_]*))?[pP]([+-]?\d+)$/;

/** strconv.ParseFloat(s, 64). */
export function parseFloat64(s: string): number {
  const low = s.toLowerCase();
  const unsigned = low[0] === '+' || low[0] === '-' ? low.slice(1) : low;
  if (unsigned === 'inf' || unsigned === 'infinity') return low[0] === '-' ? -Infinity : Infinity;
  if (low === 'nan') return NaN;
  if (DEC_FLOAT.test(s)) {
    const v = Number(s.replace(/_/g, ''));
    if (!Number.isFinite(v)) throw new NumError('ParseFloat', s, 'value out of range');
    return v;
  }
  const m = HEX_FLOAT.exec(s);
  if (m && underscoreOK(s.replace(/[pP].*$/, ''))) {
    const int = (m[2] ?? '').replace(/_/g, ''), frac = (m[3] ?? '').replace(/_/g, '');
    if (int === '' && frac === '') throw new NumError('ParseFloat', s, 'invalid syntax');
    const mant = parseInt(int + frac || '0', 16);
    const v = mant * 2 ** (Number(m[4]) - 4 * frac.length);
    if (!Number.isFinite(v)) throw new NumError('ParseFloat', s, 'value out of range');
    return m[1] === '-' ? -v : v;
  }
  throw new NumError('ParseFloat', s, 'invalid syntax');
}

// ---------------------------------------------------------------------------------------------
// fmt

/** Go's %v of a value (fmt.Sprint of one operand); `plus` is %+v (struct field names). */
export function formatValue(v: unknown, plus = false, depth = 0): string {
  switch (kindOf(v)) {
    case 'invalid': return '<no value>';
    case 'nil': return '<nil>';
    case 'string': return v as string;
    case 'bool': return v ? 'true' : 'false';
    case 'int': return formatInt(v as number | bigint);
    case 'float': return formatFloat(v as number, 'g', -1);
    case 'time': return goTimeString(v as Date);
    case 'func': return depth === 0 ? '<func>' : '0x0';
    case 'slice': {
      const a = v as ArrayLike<unknown>;
      let s = '[';
      for (let i = 0; i < a.length; i++) s += (i ? ' ' : '') + formatValue(a[i], plus, depth + 1);
      return s + ']';
    }
    case 'map':
      if (looksLikeStruct(v as object)) return formatStruct(v as object, plus, depth);
      return 'map[' + mapEntries(v as object).map(([k, x]) => formatValue(k, plus, depth + 1) + ':' + formatValue(x, plus, depth + 1)).join(' ') + ']';
    case 'struct':
      return formatStruct(v as object, plus, depth);
  }
}

function formatStruct(o: object, plus: boolean, depth: number): string {
  return '{' + structFields(o).map(([k, x]) => (plus ? k + ':' : '') + formatValue(x, plus, depth + 1)).join(' ') + '}';
}

function formatInt(n: number | bigint): string {
  return typeof n === 'number' && Math.abs(n) >= 1e21 ? BigInt(n).toString() : String(n);
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function sprint(args: unknown[]): string {
  let s = '';
  for (let i = 0; i < args.length; i++) {
    if (i > 0 && typeof args[i] !== 'string' && typeof args[i - 1] !== 'string') s += ' ';
    s += formatValue(args[i]);
  }
  return s;
}

/** fmt.Sprintln: spaces between all operands, newline at the end. */
export function sprintln(args: unknown[]): string {
  return args.map((a) => formatValue(a)).join(' ') + '\n';
}

interface Spec { minus: boolean; plus: boolean; sharp: boolean; zero: boolean; space: boolean; width: number; prec: number }

function runeLen(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

function pad(s: string, f: Spec, zeroOK = false): string {
  if (f.width < 0) return s;
  const n = f.width - runeLen(s);
  if (n <= 0) return s;
  if (f.minus) return s + ' '.repeat(n);
  if (zeroOK && f.zero) {
    const sign = s[0] === '-' || s[0] === '+' || s[0] === ' ' ? s[0] : '';
    return sign + '0'.repeat(n) + s.slice(sign.length);
  }
  return ' '.repeat(n) + s;
}

function badVerb(verb: string, v: unknown): string {
  if (v === null || v === undefined || v === NO_VALUE) return `%!${verb}(<nil>)`;
  return `%!${verb}(${typeName(v)}=${formatValue(v)})`;
}

function truncRunes(s: string, n: number): string {
  if (n < 0) return s;
  let out = '', i = 0;
  for (const ch of s) { if (i++ >= n) break; out += ch; }
  return out;
}

function fmtIntVerb(v: number | bigint, verb: string, f: Spec): string {
  let n = typeof v === 'bigint' ? v : BigInt(v);
  const neg = n < 0n;
  if (neg) n = -n;
  let digits: string;
  let prefix = '';
  switch (verb) {
    case 'x': digits = n.toString(16); if (f.sharp) prefix = '0x'; break;
    case 'X': digits = n.toString(16).toUpperCase(); if (f.sharp) prefix = '0X'; break;
    case 'o': digits = n.toString(8); if (f.sharp) prefix = '0'; break;
    case 'O': digits = n.toString(8); prefix = '0o'; break;
    case 'b': digits = n.toString(2); if (f.sharp) prefix = '0b'; break;
    default: digits = n.toString(10);
  }
  if (f.prec >= 0) {
    if (f.prec === 0 && n === 0n) digits = '';
    digits = digits.padStart(f.prec, '0');
  } else if (f.zero && !f.minus && f.width > 0) {
    digits = digits.padStart(f.width - (neg || f.plus || f.space ? 1 : 0), '0');
  }
  if (prefix === '0' && digits[0] === '0') prefix = '';
  const sign = neg ? '-' : f.plus ? '+' : f.space ? ' ' : '';
  return pad(sign + prefix + digits, { ...f, zero: false });
}

function fmtFloatVerb(x: number, verb: string, f: Spec): string {
  let s: string;
  if (verb === 'v') s = formatFloat(x, 'g', f.prec);
  else {
    const fmtc = verb as 'e' | 'E' | 'f' | 'F' | 'g' | 'G';
    const prec = f.prec >= 0 ? f.prec : fmtc === 'g' || fmtc === 'G' ? -1 : 6;
    s = formatFloat(x, fmtc, prec);
  }
  if (s[0] !== '-' && s[0] !== '+') { if (f.plus) s = '+' + s; else if (f.space) s = ' ' + s; }
  else if (s === '+Inf' && !f.plus) s = f.space ? ' Inf' : '+Inf';
  const special = s.endsWith('Inf') || s === 'NaN';
  return pad(s, f, !special);
}

function fmtArg(arg: unknown, verb: string, f: Spec): string {
  const k = kindOf(arg);
  if (k === 'invalid') arg = null;
  switch (verb) {
    case 'v':
      if (k === 'float') return fmtFloatVerb(arg as number, 'v', f);
      if (k === 'int') return fmtIntVerb(arg as number, 'd', f);
      return pad(formatValue(arg, f.plus), f);
    case 's':
      if (k === 'string') return pad(truncRunes(arg as string, f.prec), f);
      if (arg instanceof Uint8Array) return pad(truncRunes(Buffer.from(arg).toString('utf8'), f.prec), f);
      break;
    case 'q':
      if (k === 'string') return pad(goQuote(truncRunes(arg as string, f.prec)), f);
      if (k === 'int') return pad(quoteRune(Number(arg)), f);
      break;
    case 'd': case 'o': case 'O': case 'b':
      if (k === 'int') return fmtIntVerb(arg as number, verb, f);
      break;
    case 'x': case 'X':
      if (k === 'int') return fmtIntVerb(arg as number, verb, f);
      if (k === 'string' || arg instanceof Uint8Array) {
        let bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : Buffer.from(arg as Uint8Array);
        if (f.prec >= 0) bytes = bytes.subarray(0, f.prec);
        let h = bytes.toString('hex');
        if (verb === 'X') h = h.toUpperCase();
        if (f.sharp && h) h = (verb === 'X' ? '0X' : '0x') + h;
        return pad(h, f);
      }
      break;
    case 'c':
      if (k === 'int') return pad(String.fromCodePoint(Number(arg)), f);
      break;
    case 'U':
      if (k === 'int') return pad('U+' + Number(arg).toString(16).toUpperCase().padStart(4, '0'), f);
      break;
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
      if (k === 'float' || k === 'int') return fmtFloatVerb(Number(arg), verb, f);
      break;
    case 't':
      if (k === 'bool') return pad(arg ? 'true' : 'false', f);
      break;
    default:
      return badVerb(verb, arg);
  }
  // Composite values apply the verb to their elements.
  if (k === 'slice') {
    const a = arg as ArrayLike<unknown>;
    const parts: string[] = [];
    for (let i = 0; i < a.length; i++) parts.push(fmtArg(a[i], verb, { ...f, width: -1 }));
    return pad('[' + parts.join(' ') + ']', f);
  }
  if (k === 'map' || k === 'struct') {
    const o = arg as object;
    if (k === 'struct' || looksLikeStruct(o)) {
      return pad('{' + structFields(o).map(([n, x]) => (f.plus ? n + ':' : '') + fmtArg(x, verb, { ...f, width: -1 })).join(' ') + '}', f);
    }
    return pad('map[' + mapEntries(o).map(([n, x]) => fmtArg(n, verb, { ...f, width: -1 }) + ':' + fmtArg(x, verb, { ...f, width: -1 })).join(' ') + ']', f);
  }
  return badVerb(verb, arg);
}

function quoteRune(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  const q = goQuote(String.fromCodePoint(c));
  return "'" + q.slice(1, -1) + "'";
}

/** fmt.Sprintf with Go's verbs, flags, width and precision (no explicit argument indexes). */
export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  const n = format.length;
  const intArg = (): number | undefined => {
    if (argi >= args.length) return undefined;
    const a = args[argi++];
    return kindOf(a) === 'int' ? Number(a) : undefined;
  };
  while (i < n) {
    const pct = format.indexOf('%', i);
    if (pct < 0) { out += format.slice(i); break; }
    out += format.slice(i, pct);
    i = pct + 1;
    const f: Spec = { minus: false, plus: false, sharp: false, zero: false, space: false, width: -1, prec: -1 };
    for (; i < n; i++) {
      const c = format[i];
      if (c === '-') { f.minus = true; f.zero = false; }
      else if (c === '+') f.plus = true;
      else if (c === '#') f.sharp = true;
      else if (c === '0') f.zero = !f.minus;
      else if (c === ' ') f.space = true;
      else break;
    }
    if (format[i] === '*') {
      i++;
      const w = intArg();
      if (w === undefined) out += '%!(BADWIDTH)';
      else if (w < 0) { f.minus = true; f.zero = false; f.width = -w; } else f.width = w;
    } else {
      const st = i;
      while (i < n && format[i]! >= '0' && format[i]! <= '9') i++;
      if (i > st) f.width = Number(format.slice(st, i));
    }
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const p = intArg();
        if (p === undefined) out += '%!(BADPREC)';
        else f.prec = p < 0 ? -1 : p;
      } else {
        const st = i;
        while (i < n && format[i]! >= '0' && format[i]! <= '9') i++;
        f.prec = i > st ? Number(format.slice(st, i)) : 0;
      }
    }
    if (i >= n) { out += '%!(NOVERB)'; break; }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') { out += '%'; continue; }
    if (argi >= args.length) { out += `%!${verb}(MISSING)`; continue; }
    out += fmtArg(args[argi++], verb, f);
  }
  if (argi < args.length) {
    out += '%!(EXTRA ' + args.slice(argi).map((a) => (a === null || a === undefined ? '<nil>' : `${typeName(a)}=${formatValue(a)}`)).join(', ') + ')';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// time

let zoneFormatter: Intl.DateTimeFormat | undefined;

function zoneName(d: Date, offsetMin: number): string {
  const tz = process.env.TZ;
  if (offsetMin === 0 && (tz === undefined || tz === '' || tz === 'UTC' || tz === 'Etc/UTC' || tz === ':UTC')) return 'UTC';
  try {
    zoneFormatter ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    const name = zoneFormatter.formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
    if (/^[A-Z]{2,5}$/.test(name)) return name;
  } catch { /* fall through to the numeric form */ }
  if (offsetMin === 0) return 'UTC';
  const a = Math.abs(offsetMin);
  const hm = String(Math.floor(a / 60)).padStart(2, '0') + (a % 60 ? String(a % 60).padStart(2, '0') : '');
  return (offsetMin < 0 ? '-' : '+') + hm;
}

/** time.Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST", in local time (or UTC). */
export function goTimeString(d: Date, utc = false): string {
  const off = utc ? 0 : -d.getTimezoneOffset();
  const t = new Date(d.getTime() + off * 60000);
  const p2 = (x: number) => String(x).padStart(2, '0');
  let s = `${String(t.getUTCFullYear()).padStart(4, '0')}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())} ` +
    `${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}`;
  const ms = t.getUTCMilliseconds();
  if (ms) s += '.' + String(ms).padStart(3, '0').replace(/0+$/, '');
  const a = Math.abs(off);
  s += ` ${off < 0 ? '-' : '+'}${p2(Math.floor(a / 60))}${p2(a % 60)} ${utc ? 'UTC' : zoneName(d, off)}`;
  return s;
}

// ---------------------------------------------------------------------------------------------
// encoding/json

export interface JSONOptions {
  /** Escape <, > and & as \u003c, \u003e, \u0026 (Go's json.Marshal default; Docker's --format json turns it off). */
  escapeHTML?: boolean;
  /** Indent string per level (json.MarshalIndent); compact when empty. */
  indent?: string;
}

function jsonString(s: string, escapeHTML: boolean): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20) {
      rep = c === 10 ? '\\n' : c === 13 ? '\\r' : c === 9 ? '\\t' : c === 8 ? '\\b' : c === 12 ? '\\f' : '\\u00' + c.toString(16).padStart(2, '0');
    } else if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = '\\\\';
    else if (escapeHTML && (c === 0x3c || c === 0x3e || c === 0x26)) rep = '\\u00' + c.toString(16);
    else if (c === 0x2028 || c === 0x2029) rep = '\\u' + c.toString(16);
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c < 0xdc00 && next >= 0xdc00 && next <= 0xdfff) { i++; continue; }
      rep = '\\ufffd';
    }
    if (rep !== undefined) { out += s.slice(start, i) + rep; start = i + 1; }
  }
  return out + s.slice(start) + '"';
}

/** Go's encoding/json output: struct-like objects keep their field order, maps get sorted keys. */
export function goJSON(v: unknown, opts: JSONOptions = {}): string {
  return encodeJSON(v, opts.escapeHTML ?? true, opts.indent ?? '', '');
}

function encodeJSON(v: unknown, esc: boolean, indent: string, cur: string): string {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function' && !(v instanceof Date)) {
    v = (v as { toJSON: () => unknown }).toJSON();
  }
  switch (kindOf(v)) {
    case 'invalid': case 'nil': case 'func': return 'null';
    case 'bool': return v ? 'true' : 'false';
    case 'string': return jsonString(v as string, esc);
    case 'int': return formatInt(v as number | bigint);
    case 'float': {
      if (!Number.isFinite(v as number)) throw new Error(`json: unsupported value: ${formatFloat(v as number, 'g')}`);
      return String(v);
    }
    case 'time': return jsonString((v as Date).toISOString(), esc);
    case 'slice': {
      if (v instanceof Uint8Array) return '"' + Buffer.from(v).toString('base64') + '"';
      const a = v as ArrayLike<unknown>;
      if (a.length === 0) return '[]';
      const inner = cur + indent;
      const parts: string[] = [];
      for (let i = 0; i < a.length; i++) parts.push(encodeJSON(a[i] === undefined ? null : a[i], esc, indent, inner));
      return indent ? '[\n' + inner + parts.join(',\n' + inner) + '\n' + cur + ']' : '[' + parts.join(',') + ']';
    }
    case 'map': case 'struct': {
      const o = v as object;
      const entries = looksLikeStruct(o) ? structFields(o) : mapEntries(o);
      const inner = cur + indent;
      const parts: string[] = [];
      for (const [k, x] of entries) {
        if (x === undefined || typeof x === 'function') continue;
        parts.push(jsonString(String(k), esc) + (indent ? ': ' : ':') + encodeJSON(x, esc, indent, inner));
      }
      if (parts.length === 0) return '{}';
      return indent ? '{\n' + inner + parts.join(',\n' + inner) + '\n' + cur + '}' : '{' + parts.join(',') + '}';
    }
  }
}

// ---------------------------------------------------------------------------------------------
// time.Duration

const DURATION_UNITS: Record<string, bigint> = {
  ns: 1n, us: 1000n, 'µs': 1000n, 'μs': 1000n, ms: 1000000n, s: 1000000000n, m: 60000000000n, h: 3600000000000n,
};
const MAX_DURATION = (1n << 63n) - 1n;

/** time.ParseDuration: "300ms", "-1.5h", "2h45m"; the result is in nanoseconds. */
export function parseDuration(orig: string): number {
  const invalid = () => new Error(`time: invalid duration ${goQuote(orig)}`);
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) { neg = s[0] === '-'; s = s.slice(1); }
  if (s === '0') return 0;
  if (s === '') throw invalid();
  let total = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || (s[0]! >= '0' && s[0]! <= '9'))) throw invalid();
    let j = 0;
    while (j < s.length && s[j]! >= '0' && s[j]! <= '9') j++;
    const intPart = s.slice(0, j);
    s = s.slice(j);
    let frac = '';
    let post = false;
    if (s[0] === '.') {
      s = s.slice(1);
      let k = 0;
      while (k < s.length && s[k]! >= '0' && s[k]! <= '9') k++;
      frac = s.slice(0, k);
      post = k > 0;
      s = s.slice(k);
    }
    if (intPart === '' && !post) throw invalid();
    let u = 0;
    while (u < s.length && s[u] !== '.' && !(s[u]! >= '0' && s[u]! <= '9')) u++;
    if (u === 0) throw new Error(`time: missing unit in duration ${goQuote(orig)}`);
    const unitName = s.slice(0, u);
    s = s.slice(u);
    const unit = DURATION_UNITS[unitName];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(unitName)} in duration ${goQuote(orig)}`);
    let v = BigInt(intPart || '0') * unit;
    if (frac) v += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    total += v;
    if (total > MAX_DURATION + (neg ? 1n : 0n)) throw invalid();
  }
  return Number(neg ? -total : total);
}

function fracDigits(v: number, prec: number): [string, number] {
  // The fractional part of v / 10^prec, without trailing zeros, and the integer part.
  let frac = '';
  let print = false;
  for (let i = 0; i < prec; i++) {
    const digit = v % 10;
    print = print || digit !== 0;
    if (print) frac = String(digit) + frac;
    v = Math.floor(v / 10);
  }
  return [frac ? '.' + frac : '', v];
}

/** time.Duration.String(): "1h2m3.5s", "1m0s", "500ms", "0s" (input in nanoseconds). */
export function durationString(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(Math.trunc(ns));
  let s: string;
  if (u < 1e9) {
    if (u < 1e3) s = `${u}ns`;
    else if (u < 1e6) { const [f, i] = fracDigits(u, 3); s = `${i}${f}µs`; }
    else { const [f, i] = fracDigits(u, 6); s = `${i}${f}ms`; }
  } else {
    const [f, secs] = fracDigits(u, 9);
    u = secs;
    s = `${u % 60}${f}s`;
    u = Math.floor(u / 60);
    if (u > 0) {
      s = `${u % 60}m` + s;
      u = Math.floor(u / 60);
      if (u > 0) s = `${u}h` + s;
    }
  }
  return neg ? '-' + s : s;
}

/** Go's encoding/csv for a single record. */
export function readCSVRecord(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      const col = i + 1;
      i++;
      for (;;) {
        const q = s.indexOf('"', i);
        if (q < 0) throw new Error(`parse error on line 1, column ${col}: extraneous or missing " in quoted-field`);
        field += s.slice(i, q);
        i = q + 1;
        if (s[i] === '"') { field += '"'; i++; continue; }
        break;
      }
      if (i < s.length && s[i] !== ',') throw new Error(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
    } else {
      const c = s.indexOf(',', i);
      field = c < 0 ? s.slice(i) : s.slice(i, c);
      const q = field.indexOf('"');
      if (q >= 0) throw new Error(`parse error on line 1, column ${i + q + 1}: bare " in non-quoted-field`);
      i = c < 0 ? s.length : c;
    }
    out.push(field);
    if (i >= s.length) return out;
    i++;
    if (i === s.length) { out.push(''); return out; }
  }
}
