// .dockerignore: which files of a build context are left out, with moby/patternmatcher's semantics.
//  - One pattern a line; "#" starts a comment line; blank lines are skipped; surrounding whitespace is
//    trimmed. A leading "!" makes an exception (re-include). Patterns are cleaned like Go's
//    filepath.Clean and taken relative to the context root (a leading "/" is dropped).
//  - Matching is Go's filepath.Match (`*` any run of non-separators, `?` one non-separator, `[a-z]`
//    and `[^a-z]` classes, `\` escapes) plus `**`, any number of directories (zero included).
//  - A path is excluded when the last pattern matching it, or matching one of its parent
//    directories, is not an exception.
// This module has no dependencies so the CLI can filter the context before sending it.

export interface IgnorePattern {
  text: string;
  exclusion: boolean;
  re: RegExp;
  /** Path components of the cleaned pattern (to tell whether a directory may hold exceptions). */
  dirs: string[];
}

export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  for (let line of text.split(/\r?\n/)) {
    if (line.startsWith('#')) continue;
    line = line.trim();
    if (!line) continue;
    let neg = false;
    if (line.startsWith('!')) { neg = true; line = line.slice(1).trim(); }
    if (!line) continue;
    let p = cleanPath(line);
    if (p.startsWith('/')) p = p.slice(1) || '.';
    if (p === '') continue;
    out.push((neg ? '!' : '') + p);
  }
  return out;
}

/** Go's path.Clean for slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(c);
  }
  const s = out.join('/');
  return rooted ? '/' + s : s || '.';
}

function compile(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // "**/" matches zero or more directories; a trailing "**" matches everything.
        if (pattern[i + 1] === '/') { i++; re += '(?:.*/)?'; }
        else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (pattern[j] === '^' || pattern[j] === '!') { cls += '^'; j++; }
      let closed = false;
      for (; j < pattern.length; j++) {
        const d = pattern[j]!;
        if (d === ']' && cls.replace(/^\^/, '').length > 0) { closed = true; break; }
        if (d === '\\' && j + 1 < pattern.length) { cls += '\\' + pattern[++j]; continue; }
        cls += d === '[' ? '\\[' : d;
      }
      if (!closed) throw new Error(`syntax error in pattern: ${pattern}`);
      re += `[${cls}]`;
      i = j;
    } else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else re += escapeRe(c);
  }
  return new RegExp(re + '$');
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

export class IgnoreMatcher {
  readonly patterns: IgnorePattern[];
  readonly hasExceptions: boolean;

  constructor(lines: string[]) {
    this.patterns = lines.map((l) => {
      const exclusion = l.startsWith('!');
      const text = exclusion ? l.slice(1) : l;
      return { text, exclusion, re: compile(text), dirs: text.split('/') };
    });
    this.hasExceptions = this.patterns.some((p) => p.exclusion);
  }

  static fromText(text: string): IgnoreMatcher {
    return new IgnoreMatcher(parseDockerignore(text));
  }

  /** Whether the context path `rel` ("a/b.txt", slash-separated, relative) is excluded. */
  excluded(rel: string): boolean {
    if (this.patterns.length === 0) return false;
    const file = cleanPath(rel);
    const parents: string[] = [];
    const comps = file.split('/');
    for (let i = 1; i < comps.length; i++) parents.push(comps.slice(0, i).join('/'));
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue; // only a pattern that can change the verdict matters
      let m = p.re.test(file);
      if (!m) for (const d of parents) if (p.re.test(d)) { m = true; break; }
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Whether a walk must descend into an excluded directory `rel` because an exception may re-include
   * something below it.
   */
  mayIncludeBelow(rel: string): boolean {
    if (!this.hasExceptions) return false;
    const dir = cleanPath(rel).split('/');
    return this.patterns.some((p) => {
      if (!p.exclusion) return false;
      if (p.text.includes('**')) return true;
      // The exception's leading components must be able to match the directory's.
      const n = Math.min(dir.length, p.dirs.length);
      for (let i = 0; i < n; i++) if (!compile(p.dirs[i]!).test(dir[i]!)) return false;
      return true;
    });
  }
}

/**
 * Go's filepath.Match of a whole slash path (COPY source wildcards): `*` stays within a component.
 * With `doubleStar` (COPY --parents), `**` matches any number of directories, as in .dockerignore.
 */
export function globRegExp(pattern: string, o: { doubleStar?: boolean } = {}): RegExp {
  return compile(o.doubleStar ? pattern : pattern.replace(/\*\*+/g, '*'));
}
