// Variable substitution in Dockerfile arguments, as the Dockerfile reference defines it ("Environment
// replacement"): $VAR and ${VAR}, with the modifiers
//   ${V:-word} ${V-word}   word if V is unset or empty (":") / unset
//   ${V:+word} ${V+word}   word if V is set and not empty (":") / set, else ""
//   ${V:?msg}  ${V?msg}    error with msg if V is unset or empty / unset
//   ${V#pat} ${V##pat}     V without the shortest / longest prefix matching the glob pat
//   ${V%pat} ${V%%pat}     V without the shortest / longest suffix matching the glob pat
//   ${V/pat/rep} ${V//pat/rep}  first / every match of pat replaced
// and the quoting rules of a POSIX shell word: '...' is literal, "..." expands variables, the escape
// character (\ or ` per the escape directive) makes the next character literal. `word` parts are
// themselves expanded. Undefined variables expand to "".
import { invalid } from '../lib/errors.js';

export type Env = (name: string) => string | undefined;

export function envFromList(list: string[]): Env {
  const m = new Map<string, string>();
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq > 0) m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return (n) => m.get(n);
}

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}
  peek(): string { return this.s[this.pos] ?? ''; }
  next(): string { return this.s[this.pos++] ?? ''; }
  get eof(): boolean { return this.pos >= this.s.length; }
}

/** A piece of output: literal text, or expanded text that unquoted may be split into words. */
interface Piece { text: string; split: boolean }

export class ShellLex {
  constructor(readonly escape = '\\') {}

  /** Expands and unquotes one word (ENV values, COPY paths, WORKDIR...). */
  processWord(word: string, env: Env): string {
    return this.process(word, env, '').map((p) => p.text).join('');
  }

  /** Expands and unquotes, then splits into words on unquoted whitespace (COPY/ADD args, VOLUME, EXPOSE). */
  processWords(text: string, env: Env): string[] {
    const pieces = this.process(text, env, '', true);
    const words: string[] = [];
    let cur = '';
    let any = false;
    for (const p of pieces) {
      if (!p.split) { cur += p.text; any = true; continue; }
      for (const ch of p.text) {
        if (ch === ' ' || ch === '\t' || ch === '\n') {
          if (any) { words.push(cur); cur = ''; any = false; }
        } else { cur += ch; any = true; }
      }
    }
    if (any) words.push(cur);
    return words;
  }

  /** Expands variables in a heredoc body: quotes are literal, the escape character only protects "$". */
  expandHeredoc(text: string, env: Env): string {
    const sc = new Scanner(text);
    let out = '';
    while (!sc.eof) {
      const c = sc.next();
      if (c === this.escape && (sc.peek() === '$' || sc.peek() === this.escape)) { out += sc.next(); continue; }
      if (c === '$') { out += this.dollar(sc, env); continue; }
      out += c;
    }
    return out;
  }

  /**
   * Scans `s` until an unquoted, unescaped character in `stop` (for ${...} words). With `words`,
   * unquoted literal whitespace is reported as splittable.
   */
  private process(s: string, env: Env, stop: string, words = false): Piece[] {
    const sc = new Scanner(s);
    return this.scan(sc, env, stop, words);
  }

  private scan(sc: Scanner, env: Env, stop: string, words: boolean): Piece[] {
    const out: Piece[] = [];
    const lit = (t: string) => out.push({ text: t, split: false });
    while (!sc.eof) {
      const c = sc.peek();
      if (stop && stop.includes(c)) break;
      if (c === "'") {
        sc.next();
        let t = '';
        while (!sc.eof && sc.peek() !== "'") t += sc.next();
        if (sc.eof) throw invalid('unexpected end of statement while looking for matching single-quote');
        sc.next();
        // An empty '' still makes a word in processWords.
        out.push({ text: t, split: false });
        continue;
      }
      if (c === '"') {
        sc.next();
        let t = '';
        for (;;) {
          if (sc.eof) throw invalid('unexpected end of statement while looking for matching double-quote');
          const d = sc.next();
          if (d === '"') break;
          if (d === this.escape) {
            const e = sc.peek();
            if (e === '"' || e === '$' || e === this.escape) { t += sc.next(); continue; }
            t += d;
            continue;
          }
          if (d === '$') { t += this.dollar(sc, env); continue; }
          t += d;
        }
        lit(t);
        continue;
      }
      if (c === this.escape) {
        sc.next();
        if (sc.eof) { lit(c); break; }
        lit(sc.next());
        continue;
      }
      if (c === '$') {
        sc.next();
        const v = this.dollar(sc, env);
        out.push({ text: v, split: words });
        continue;
      }
      sc.next();
      out.push({ text: c, split: words && (c === ' ' || c === '\t' || c === '\n') });
    }
    return out;
  }

  /** After a "$": a name, ${...}, or a lone "$". */
  private dollar(sc: Scanner, env: Env): string {
    const c = sc.peek();
    if (c === '{') {
      sc.next();
      return this.braced(sc, env);
    }
    const name = readName(sc);
    if (!name) return '$';
    return env(name) ?? '';
  }

  private braced(sc: Scanner, env: Env): string {
    const name = readName(sc);
    if (!name) throw invalid(`bad substitution: missing variable name after \${`);
    const value = env(name);
    const c = sc.next();
    if (c === '}') return value ?? '';
    if (c === '') throw invalid(`missing '}' in substitution of ${name}`);
    const word = () => {
      const w = this.scan(sc, env, '}', false).map((p) => p.text).join('');
      if (sc.next() !== '}') throw invalid(`missing '}' in substitution of ${name}`);
      return w;
    };
    if (c === ':') {
      const m = sc.next();
      const w = word();
      if (m === '-') return value ? value : w;
      if (m === '+') return value ? w : '';
      if (m === '?') { if (!value) throw invalid(`${name}: ${w || 'parameter null or not set'}`); return value; }
      throw invalid(`unsupported modifier (:${m}) in substitution`);
    }
    if (c === '-') { const w = word(); return value !== undefined ? value : w; }
    if (c === '+') { const w = word(); return value !== undefined ? w : ''; }
    if (c === '?') { const w = word(); if (value === undefined) throw invalid(`${name}: ${w || 'parameter not set'}`); return value; }
    if (c === '#' || c === '%') {
      const longest = sc.peek() === c;
      if (longest) sc.next();
      const pat = word();
      return trimPattern(value ?? '', pat, c === '#' ? 'prefix' : 'suffix', longest);
    }
    if (c === '/') {
      const all = sc.peek() === '/';
      if (all) sc.next();
      const pat = this.scan(sc, env, '/}', false).map((p) => p.text).join('');
      let rep = '';
      if (sc.peek() === '/') { sc.next(); rep = this.scan(sc, env, '}', false).map((p) => p.text).join(''); }
      if (sc.next() !== '}') throw invalid(`missing '}' in substitution of ${name}`);
      return replacePattern(value ?? '', pat, rep, all);
    }
    throw invalid(`unsupported modifier (${c}) in substitution`);
  }
}

/**
 * A variable name after "$" or "${", as the shell (and BuildKit's lexer) reads it: a run of digits
 * (a positional parameter: `$1abc` is `$1` then "abc"), one special parameter character (`$-`, `$$`,
 * `$@`...: never set in a build, so empty), or letters, digits and "_". "" when there is none.
 */
function readName(sc: Scanner): string {
  const c = sc.peek();
  let n = '';
  if (/[0-9]/.test(c)) {
    while (!sc.eof && /[0-9]/.test(sc.peek())) n += sc.next();
    return n;
  }
  if (c !== '' && '@*#?-$!'.includes(c)) return sc.next();
  while (!sc.eof && /[\p{L}\p{Nd}_]/u.test(sc.peek())) n += sc.next();
  return n;
}

/** A shell glob (*, ?, [...], \x) as an anchored-free regex source. */
export function globToRegex(pat: string): string {
  let re = '';
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const end = pat.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let cls = pat.slice(i + 1, end);
      if (cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else if (c === '\\' && i + 1 < pat.length) re += escapeRe(pat[++i]!);
    else re += escapeRe(c);
  }
  return re;
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function trimPattern(v: string, pat: string, where: 'prefix' | 'suffix', longest: boolean): string {
  const re = new RegExp(`^(?:${globToRegex(pat)})$`);
  if (where === 'prefix') {
    if (longest) { for (let i = v.length; i >= 0; i--) if (re.test(v.slice(0, i))) return v.slice(i); }
    else { for (let i = 0; i <= v.length; i++) if (re.test(v.slice(0, i))) return v.slice(i); }
  } else {
    if (longest) { for (let i = 0; i <= v.length; i++) if (re.test(v.slice(i))) return v.slice(0, i); }
    else { for (let i = v.length; i >= 0; i--) if (re.test(v.slice(i))) return v.slice(0, i); }
  }
  return v;
}

function replacePattern(v: string, pat: string, rep: string, all: boolean): string {
  if (pat === '') return v;
  const re = new RegExp(`^(?:${globToRegex(pat)})$`);
  let out = '';
  let i = 0;
  while (i < v.length) {
    let matched = -1;
    for (let j = v.length; j > i; j--) if (re.test(v.slice(i, j))) { matched = j; break; }
    if (matched < 0) { out += v[i]; i++; continue; }
    out += rep;
    i = matched;
    if (!all) return out + v.slice(i);
  }
  return out;
}
