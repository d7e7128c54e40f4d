// The Dockerfile parser, substitution and .dockerignore matching, table-driven from the Dockerfile
// reference's examples (moby/buildkit frontend/dockerfile/docs/reference.md) and moby/patternmatcher's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile, parseFlags, splitKeyValues } from '../../src/build/parser.js';
import { ShellLex } from '../../src/build/shellwords.js';
import { IgnoreMatcher, parseDockerignore } from '../../src/build/dockerignore.js';
import { destPath } from '../../src/build/context.js';
import { parseChmod } from '../../src/build/copy.js';

describe('Dockerfile parser', () => {
  test('instructions, case-insensitive keywords, comments and blank lines', () => {
    const df = parseDockerfile('# comment\nFROM busybox\n\n  # indented comment\nrun echo hi\nCMD ["sh", "-c", "echo"]\n');
    assert.deepEqual(df.instructions.map((i) => [i.cmd, i.rest, i.startLine]), [['from', 'busybox', 2], ['run', 'echo hi', 5], ['cmd', '["sh", "-c", "echo"]', 6]]);
    assert.deepEqual(df.instructions[2]!.json, ['sh', '-c', 'echo']);
    assert.equal(df.instructions[1]!.json, undefined);
  });

  test('parser directives only at the top; escape changes the continuation character', () => {
    let df = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo a `\n  b\n');
    assert.equal(df.directives.syntax, 'docker/dockerfile:1');
    assert.equal(df.directives.escape, '`');
    assert.equal(df.instructions[1]!.rest, 'echo a   b');
    // After a comment that is not a directive, "escape=" is only a comment.
    df = parseDockerfile('# about\n# escape=`\nFROM busybox\n');
    assert.equal(df.directives.escape, '\\');
    // Case-insensitive keys, spaces around "=".
    df = parseDockerfile('#  ESCAPE = `\nFROM x\n');
    assert.equal(df.directives.escape, '`');
    assert.throws(() => parseDockerfile('# escape=\\\n# escape=`\nFROM x\n'), /only one escape/);
    assert.throws(() => parseDockerfile('# escape=x\nFROM x\n'), /invalid escape token/);
    // An unknown directive is a comment and ends the directives.
    df = parseDockerfile('# unknowndirective=value\n# syntax=x\nFROM x\n');
    assert.equal(df.directives.syntax, undefined);
  });

  test('continuations skip comment and empty lines (reference example)', () => {
    const df = parseDockerfile('RUN echo hello \\\n# comment\nworld\n');
    assert.equal(df.instructions[0]!.rest, 'echo hello world');
    const df2 = parseDockerfile('RUN echo a \\\n\n  b\n');
    assert.equal(df2.instructions[0]!.rest, 'echo a   b');
    assert.equal(df2.warnings.length, 1);
  });

  test('flags, exec form, unknown instruction', () => {
    const df = parseDockerfile('COPY --from=build --chmod=755 --link /a /b\nRUN --network=none ["true"]\n');
    assert.deepEqual(df.instructions[0]!.flags, ['from=build', 'chmod=755', 'link']);
    assert.equal(df.instructions[0]!.rest, '/a /b');
    const fl = parseFlags(df.instructions[0]!, { from: 'string', chmod: 'string', link: 'bool' });
    assert.equal(fl.get('from'), 'build');
    assert.equal(fl.get('link'), true);
    assert.throws(() => parseFlags(df.instructions[0]!, { from: 'string' }), /unknown flag: --chmod/);
    assert.deepEqual(df.instructions[1]!.json, ['true']);
    assert.throws(() => parseDockerfile('FROM x\nFOO bar\n'), /unknown instruction: FOO/);
    // A malformed JSON array is the shell form, as Docker does.
    assert.equal(parseDockerfile('CMD [ "a", b ]\n').instructions[0]!.json, undefined);
  });

  test('heredocs (RUN, COPY, several, <<- and quoted delimiters)', () => {
    const df = parseDockerfile([
      'FROM busybox',
      'RUN <<EOF',
      'echo hello',
      'echo world',
      'EOF',
      'COPY <<-"A" <<B /dest/',
      '\tno $expansion',
      '\tA',
      'b $X',
      'B',
      'CMD ["sh"]',
    ].join('\n'));
    const run = df.instructions[1]!;
    assert.equal(run.heredocs.length, 1);
    assert.deepEqual(run.heredocs[0], { name: 'EOF', content: 'echo hello\necho world\n', expand: true, chomp: false });
    const copy = df.instructions[2]!;
    assert.deepEqual(copy.heredocs.map((h) => [h.name, h.content, h.expand]), [['A', 'no $expansion\n', false], ['B', 'b $X\n', true]]);
    assert.equal(df.instructions[3]!.cmd, 'cmd');
    assert.throws(() => parseDockerfile('RUN <<EOF\necho\n'), /unterminated heredoc/);
    // A quoted "<<EOF" is no heredoc.
    assert.deepEqual(parseDockerfile('RUN echo "<<EOF" \'<<X\'\nCMD ["sh"]\n').instructions.map((i) => i.heredocs.length), [0, 0]);
  });

  test('ENV and LABEL pairs, legacy form', () => {
    assert.deepEqual(splitKeyValues('MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy', '\\', true, 'ENV'),
      [{ key: 'MY_NAME', value: '"John Doe"' }, { key: 'MY_DOG', value: 'Rex\\ The\\ Dog' }, { key: 'MY_CAT', value: 'fluffy' }]);
    assert.deepEqual(splitKeyValues('MY_VAR my-value with spaces', '\\', true, 'ENV'), [{ key: 'MY_VAR', value: 'my-value with spaces' }]);
    assert.deepEqual(splitKeyValues('A B=2', '\\', false, 'ARG'), [{ key: 'A', value: undefined }, { key: 'B', value: '2' }]);
    assert.throws(() => splitKeyValues('ONLY', '\\', true, 'ENV'), /ENV must have two arguments/);
    assert.throws(() => splitKeyValues('=x', '\\', true, 'LABEL'), /LABEL names can not be blank/);
  });
});

describe('variable substitution (Environment replacement)', () => {
  const env = new Map([['FOO', '/bar'], ['EMPTY', ''], ['NAME', 'archive.tar.gz'], ['P', '/usr/local/bin/python']]);
  const lookup = (n: string) => env.get(n);
  const lex = new ShellLex('\\');
  const cases: [string, string][] = [
    ['$FOO', '/bar'],
    ['${FOO}', '/bar'],
    ['${FOO}/baz', '/bar/baz'],
    ['$FOO/baz', '/bar/baz'],
    ['\\$FOO', '$FOO'],
    ['\\${FOO}', '${FOO}'],
    ["'$FOO'", '$FOO'],
    ['"$FOO"', '/bar'],
    ['"\\$FOO"', '$FOO'],
    ['${UNSET}', ''],
    ['${UNSET:-word}', 'word'],
    ['${EMPTY:-word}', 'word'],
    ['${EMPTY-word}', ''],
    ['${UNSET-word}', 'word'],
    ['${FOO:-word}', '/bar'],
    ['${FOO:+word}', 'word'],
    ['${EMPTY:+word}', ''],
    ['${EMPTY+word}', 'word'],
    ['${UNSET:+word}', ''],
    ['${UNSET:-$FOO/x}', '/bar/x'],
    ['${NAME#*.}', 'tar.gz'],
    ['${NAME##*.}', 'gz'],
    ['${NAME%.*}', 'archive.tar'],
    ['${NAME%%.*}', 'archive'],
    ['${P##*/}', 'python'],
    ['${P%/*}', '/usr/local/bin'],
    ['${NAME/tar/zip}', 'archive.zip.gz'],
    ['${P//\\//:}', ':usr:local:bin:python'],
    ['a\\ b', 'a b'],
    ['$', '$'],
    // A positional parameter is its digits only, a special parameter one character (BuildKit's lexer).
    ['$1x', 'x'],
    ['$12-$-$$', '-'],
    ['${1}y', 'y'],
  ];
  for (const [input, want] of cases) {
    test(`${input} -> ${JSON.stringify(want)}`, () => assert.equal(lex.processWord(input, lookup), want));
  }

  test('errors: ${V:?msg}, unterminated quotes and braces', () => {
    assert.throws(() => lex.processWord('${UNSET:?must be set}', lookup), /UNSET: must be set/);
    assert.throws(() => lex.processWord('${EMPTY:?x}', lookup), /EMPTY: x/);
    assert.equal(lex.processWord('${EMPTY?x}', lookup), '');
    assert.throws(() => lex.processWord('"abc', lookup), /double-quote/);
    assert.throws(() => lex.processWord('${FOO', lookup), /missing '}'/);
  });

  test('words: split on unquoted whitespace, also inside unquoted expansions', () => {
    const e2 = (n: string) => (n === 'L' ? 'a b' : undefined);
    assert.deepEqual(lex.processWords('x "y z" \'w\'', e2), ['x', 'y z', 'w']);
    assert.deepEqual(lex.processWords('$L "$L"', e2), ['a', 'b', 'a b']);
    assert.deepEqual(lex.processWords('"" x', e2), ['', 'x']);
  });

  test('the backtick escape', () => {
    const bt = new ShellLex('`');
    assert.equal(bt.processWord('`$FOO', lookup), '$FOO');
    assert.equal(bt.processWord('c:\\path', lookup), 'c:\\path');
  });

  test('heredoc bodies expand variables but keep quotes', () => {
    assert.equal(lex.expandHeredoc('say "$FOO" \'${NAME%%.*}\' \\$X\n', lookup), 'say "/bar" \'archive\' $X\n');
  });
});

describe('.dockerignore (moby/patternmatcher semantics)', () => {
  test('parsing: comments, blank lines, cleaning, leading slash', () => {
    assert.deepEqual(parseDockerignore('# comment\n\n  *.md  \n/dir/../tmp//x\n!keep.md\n./a/\n'), ['*.md', 'tmp/x', '!keep.md', 'a']);
  });

  // [patterns, path, excluded]
  const cases: [string, string, boolean][] = [
    // The reference's example .dockerignore.
    ['*/temp*', 'somedir/temporary.txt', true],
    ['*/temp*', 'somedir/temp', true],
    ['*/temp*', 'temp', false],
    ['*/*/temp*', 'somedir/subdir/temporary.txt', true],
    ['*/*/temp*', 'somedir/temporary.txt', false],
    ['temp?', 'tempa', true],
    ['temp?', 'tempab', false],
    ['**/*.go', 'a/b/c.go', true],
    ['**/*.go', 'c.go', true],
    ['*.md\n!README.md', 'README.md', false],
    ['*.md\n!README.md', 'CHANGES.md', true],
    ['*.md\n!README*.md\nREADME-secret.md', 'README-secret.md', true],
    ['*.md\n!README*.md\nREADME-secret.md', 'README-public.md', false],
    ['*.md\nREADME-secret.md\n!README*.md', 'README-secret.md', false],
    // A directory pattern excludes everything below it.
    ['node_modules', 'node_modules/x/y.js', true],
    ['build/', 'build/out/a', true],
    ['dir\n!dir/keep', 'dir/keep', false],
    ['dir\n!dir/keep', 'dir/other', true],
    ['[a-c].txt', 'b.txt', true],
    ['[^a-c].txt', 'b.txt', false],
    ['[^a-c].txt', 'd.txt', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['**', 'anything/at/all', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['.git', '.git/HEAD', true],
  ];
  for (const [patterns, p, want] of cases) {
    test(`${patterns.replace(/\n/g, ' | ')} : ${p} -> ${want ? 'excluded' : 'included'}`, () => {
      assert.equal(IgnoreMatcher.fromText(patterns).excluded(p), want);
    });
  }

  test('walks descend into excluded directories only when an exception may apply', () => {
    assert.equal(IgnoreMatcher.fromText('dir\n!dir/keep').mayIncludeBelow('dir'), true);
    assert.equal(IgnoreMatcher.fromText('dir\n!other/keep').mayIncludeBelow('dir'), false);
    assert.equal(IgnoreMatcher.fromText('dir').mayIncludeBelow('dir'), false);
  });
});

describe('COPY destinations', () => {
  test('relative to WORKDIR, trailing slash kept', () => {
    assert.equal(destPath('.', '/src'), '/src/');
    assert.equal(destPath('x', '/src'), '/src/x');
    assert.equal(destPath('x/', '/src'), '/src/x/');
    assert.equal(destPath('/abs/y', '/src'), '/abs/y');
    assert.equal(destPath('../up', '/a/b'), '/a/up');
    assert.equal(destPath('x', ''), '/x');
  });
});

describe('COPY --chmod modes', () => {
  // [spec, mode, isDir, want]
  const cases: [string, number, boolean, number][] = [
    ['755', 0o600, false, 0o755],
    ['07777', 0o600, false, 0o7777],
    ['u=rwX,go=rX', 0o644, false, 0o644],
    ['u=rwX,go=rX', 0o744, false, 0o755],
    ['u=rwX,go=rX', 0o700, true, 0o755],
    ['+x', 0o644, false, 0o755],
    ['go=u-w', 0o754, false, 0o755],
    ['g=u', 0o640, false, 0o660],
    ['go=', 0o777, false, 0o700],
    ['u+s', 0o755, false, 0o4755],
    ['g+s,+t', 0o755, false, 0o3755],
    ['o+s', 0o755, false, 0o755],
    ['a-w', 0o666, false, 0o444],
    ['=r', 0o4777, false, 0o444],
  ];
  for (const [spec, mode, isDir, want] of cases) {
    test(`${spec} on ${mode.toString(8)}${isDir ? ' (dir)' : ''} -> ${want.toString(8)}`, () => {
      const c = parseChmod(spec);
      assert.equal(typeof c === 'number' ? c : c(mode, isDir), want);
    });
  }
  test('bad modes are refused', () => {
    for (const bad of ['', 'u+q', 'z=r', '17777', 'u', '8']) assert.throws(() => parseChmod(bad), /invalid chmod parameter/, bad);
  });
});
