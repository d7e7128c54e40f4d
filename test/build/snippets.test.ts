// A table of Dockerfile snippets and the image each must produce: its config and the files a container
// of it sees (content, mode, owner), covering the Dockerfile reference (moby/buildkit
// frontend/dockerfile/docs/reference.md) section by section. One daemon builds them all, in order, from
// one context directory (rows may tag an image that a later row builds FROM).
//
// Where the reference (BuildKit) and Docker's classic builder differ, the table follows the reference
// and the row says so (`classic`). With SNIPPETS_DOCKER=1 the same table is also run against Docker
// Engine's classic builder (a private dockerd, DOCKER_BUILDKIT=0), to check the table itself.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { startDaemon, type TestDaemon, type RunResult } from '../helpers/daemon.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { TarWriter } from '../../src/lib/tarwriter.js';

interface Config {
  Env?: string[]; Cmd?: string[] | null; Entrypoint?: string[] | null; WorkingDir?: string; User?: string;
  ExposedPorts?: Record<string, object>; Volumes?: Record<string, object>; Labels?: Record<string, string>;
  StopSignal?: string; Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number };
  Shell?: string[]; OnBuild?: string[] | null; ArgsEscaped?: boolean;
}
/** What a path in the image must be; stat's %a (octal mode), %u:%g and, for files, the content. */
interface FileWant { content?: string; mode?: string; owner?: string; type?: 'file' | 'dir' | 'link'; link?: string; absent?: true }
interface Row {
  what: string;
  df: string;
  args?: string[];
  /** Checks on the image's config (and Author, and history's CreatedBy lines). */
  config?: (c: Config, img: { Author: string; History: string[] }) => void;
  /** Paths in the image and what they must be. */
  files?: Record<string, FileWant>;
  /** Shell command run in a container of the image, and its expected output. */
  sh?: [string, string | RegExp];
  /** The build must fail, with an error matching this. */
  fails?: RegExp;
  /** Tag the result (for later rows' FROM). */
  tag?: string;
  /** Docker's classic builder does otherwise (or cannot): why; the row is skipped against it. */
  classic?: string;
}

const env = (c: Config, k: string) => c.Env?.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
const D = (...lines: string[]) => lines.join('\n');
const ARCH = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
const BK = 'BuildKit only';

const ROWS: Row[] = [
  // ---- Format, parser directives, comments, continuations ----
  { what: 'instructions are case-insensitive', df: D('from busybox', 'run echo lower > /f', 'Env A=1'),
    config: (c) => assert.equal(env(c, 'A'), '1'), files: { '/f': { content: 'lower\n' } } },
  { what: 'escape directive, line continuations, comments inside', df: D('# escape=`', 'FROM busybox', 'RUN echo a `', '# a comment', '    b > /f'),
    files: { '/f': { content: 'a b\n' } } },
  { what: 'with escape=` a backslash is a plain character', df: D('# syntax=docker/dockerfile:1', '# escape=`', 'FROM busybox', 'ENV P=C:\\dir Q="a`"b"'),
    config: (c) => { assert.equal(env(c, 'P'), 'C:\\dir'); assert.equal(env(c, 'Q'), 'a"b'); } },
  { what: 'the check directive is a directive (what follows it still is)', df: D('# check=skip=all', '# escape=`', 'FROM busybox', 'RUN echo a `', '  b > /f'),
    files: { '/f': { content: 'a b\n' } }, classic: 'dockerd 20.10 does not know the check directive' },
  { what: 'directives are case-insensitive and may have spaces around "="', df: D('#ESCAPE = `', 'FROM busybox', 'RUN echo a `', '  b > /f'),
    files: { '/f': { content: 'a b\n' } } },
  { what: 'a directive after a comment is a comment', df: D('# hello', '# escape=`', 'FROM busybox', 'RUN echo a \\', '  b > /f'),
    files: { '/f': { content: 'a b\n' } } },
  { what: 'a blank line ends the directives', df: D('', '# escape=`', 'FROM busybox', 'RUN echo a \\', '  b > /f'),
    files: { '/f': { content: 'a b\n' } } },
  { what: 'an unknown directive is a comment, and ends the directives', df: D('# unknowndirective=value', '# escape=`', 'FROM busybox', 'RUN echo a \\', '  b > /f'),
    files: { '/f': { content: 'a b\n' } } },
  { what: 'empty and comment lines inside a continuation are dropped', df: D('FROM busybox', 'RUN echo a \\', '', '    # comment', '  b \\', '  c > /f'),
    files: { '/f': { content: 'a b c\n' } } },
  { what: 'a "#" is a comment only at the start of a line', df: D('FROM busybox', '   # indented comment', 'ENV A=1#2', 'RUN echo "#not a comment" > /f'),
    config: (c) => assert.equal(env(c, 'A'), '1#2'), files: { '/f': { content: '#not a comment\n' } } },
  { what: 'CRLF line endings', df: 'FROM busybox\r\nENV A=1\r\nRUN echo x \\\r\n  y > /f\r\nCOPY <<EOF /h\r\nhd\r\nEOF\r\n',
    config: (c) => assert.equal(env(c, 'A'), '1'), files: { '/f': { content: 'x y\n' }, '/h': { content: 'hd\n' } }, classic: BK },
  { what: 'unknown instruction', df: D('FROM busybox', 'FROOM busybox'), fails: /unknown instruction: FROOM/i },
  // Bad input: each stops the build with a message that says what is wrong.
  { what: 'an instruction before FROM', df: D('RUN true', 'FROM busybox'), fails: /no build stage in current context/ },
  { what: 'an unknown flag', df: D('FROM busybox', 'COPY --foo=1 a.txt /'), fails: /unknown flag: (--)?foo/i },
  { what: 'an unterminated heredoc', df: D('FROM busybox', 'RUN <<EOF', 'echo x'), fails: /heredoc|EOF/, classic: BK },
  { what: 'ENV without a value', df: D('FROM busybox', 'ENV A'), fails: /ENV must have two arguments/ },
  { what: 'LABEL with a blank name', df: D('FROM busybox', 'LABEL =x'), fails: /can ?not be blank/ },
  { what: 'EXPOSE of a bad port', df: D('FROM busybox', 'EXPOSE abc'), fails: /invalid (containerPort|port)|abc/i },
  { what: 'STOPSIGNAL of an unknown signal', df: D('FROM busybox', 'STOPSIGNAL SIGFOO'), fails: /Invalid signal|SIGFOO/ },
  { what: 'HEALTHCHECK with a bad duration', df: D('FROM busybox', 'HEALTHCHECK --interval=abc CMD true'), fails: /interval|duration|abc/i },
  { what: 'FROM with a stray AS', df: D('FROM busybox AS'), fails: /FROM requires either one or three arguments/ },
  { what: 'an empty WORKDIR, USER, MAINTAINER', df: D('FROM busybox', 'WORKDIR'), fails: /WORKDIR requires (exactly )?one argument|requires at least one argument/ },

  // ---- Environment replacement ----
  // One ENV instruction substitutes with the values from before it (the reference's abc/def example).
  { what: 'ENV, both forms, with substitution', df: 'FROM busybox\nENV A=1 B="two words" C=${A}x\nENV D ${B}!\nENV E=\\$NOPE\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc',
    config: (c) => { assert.equal(env(c, 'A'), '1'); assert.equal(env(c, 'B'), 'two words'); assert.equal(env(c, 'C'), 'x'); assert.equal(env(c, 'D'), 'two words!'); assert.equal(env(c, 'E'), '$NOPE'); assert.equal(env(c, 'abc'), 'bye'); assert.equal(env(c, 'def'), 'hello'); assert.equal(env(c, 'ghi'), 'bye'); } },
  { what: 'ENV quoting: single quotes literal, escaped space and quote, "=" in a value, ${x}_suffix', df: D('FROM busybox', 'ENV A=1', "ENV S='$A' E=a\\ b Q=\"x\\\"y\" EQ=k=v SUF=${A}_x ESC=\\${A}"),
    config: (c) => { assert.equal(env(c, 'S'), '$A'); assert.equal(env(c, 'E'), 'a b'); assert.equal(env(c, 'Q'), 'x"y'); assert.equal(env(c, 'EQ'), 'k=v'); assert.equal(env(c, 'SUF'), '1_x'); assert.equal(env(c, 'ESC'), '${A}'); } },
  { what: 'ENV legacy form keeps the rest of the line', df: D('FROM busybox', 'ENV L a b  c'),
    config: (c) => assert.equal(env(c, 'L'), 'a b  c') },
  { what: 'ENV across continuation lines', df: D('FROM busybox', 'ENV A=1 \\', '    B=2 \\', '    C="3 4"'),
    config: (c) => { assert.equal(env(c, 'A'), '1'); assert.equal(env(c, 'B'), '2'); assert.equal(env(c, 'C'), '3 4'); } },
  { what: 'ENV may extend a variable of the base image', df: D('FROM busybox', 'ENV PATH=/opt/bin:$PATH'),
    config: (c) => assert.equal(env(c, 'PATH'), '/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'), sh: ['echo $PATH', '/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n'] },
  { what: 'a lone or trailing $ is literal; $1 and special parameters ($-, $$) are empty', df: D('FROM busybox', 'ENV A=x$ B=$ C=a$-b D=$1abc E=[$$] F=$/'),
    config: (c) => { assert.deepEqual(['A', 'B', 'C', 'D', 'E', 'F'].map((k) => env(c, k)), ['x$', '$', 'ab', 'abc', '[]', '$/']); } },
  { what: 'substitution modifiers', df: 'FROM busybox\nARG V=def\nENV X=${V:-alt} Y=${V:+set} Z=${U:-unset} W=${U:+no}',
    config: (c) => { assert.equal(env(c, 'X'), 'def'); assert.equal(env(c, 'Y'), 'set'); assert.equal(env(c, 'Z'), 'unset'); assert.equal(env(c, 'W'), ''); } },
  { what: 'modifiers with and without ":" on an empty variable; nested words', df: D('FROM busybox', 'ENV EMPTY=', 'ENV R=${EMPTY:-d} S=${EMPTY-d} T=${EMPTY:+p} U=${EMPTY+p} N=${NOPE:-${EMPTY:-deep}}'),
    config: (c) => { assert.equal(env(c, 'R'), 'd'); assert.equal(env(c, 'S'), ''); assert.equal(env(c, 'T'), ''); assert.equal(env(c, 'U'), 'p'); assert.equal(env(c, 'N'), 'deep'); },
    classic: 'dockerd 20.10 knows only the ":" modifiers' },
  { what: 'pattern modifiers (#, ##, %, %%, /, //)', df: D('# syntax=docker/dockerfile-upstream:master', 'FROM busybox', 'ENV s=foobarbaz', 'ENV a=${s#f*b} b=${s##f*b} c=${s%b*} d=${s%%b*} e=${s/ba/fo} f=${s//ba/fo}'),
    config: (c) => { assert.deepEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => env(c, k)), ['arbaz', 'az', 'foobar', 'foo', 'fooforbaz', 'fooforfoz']); }, classic: BK },
  { what: '${V:?message} fails the build when V is unset', df: D('FROM busybox', 'ENV X="${NOPE:?is required}"'), fails: /is required/ },
  { what: 'substitution in the instructions that allow it', df: D('FROM busybox', 'ENV DIR=/wd P=8080 U=daemon SIG=SIGTERM V=/vol N=lbl', 'WORKDIR ${DIR}', 'EXPOSE $P', 'USER $U', 'STOPSIGNAL $SIG', 'VOLUME $V', 'LABEL $N=$P'),
    config: (c) => { assert.equal(c.WorkingDir, '/wd'); assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['8080/tcp']); assert.equal(c.User, 'daemon'); assert.equal(c.StopSignal, 'SIGTERM'); assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/vol']); assert.equal(c.Labels?.['lbl'], '8080'); } },
  { what: 'the JSON form of COPY, ADD and VOLUME substitutes too (that of RUN, CMD, ENTRYPOINT does not)', df: D('FROM busybox', 'ENV F=a.txt V=/jv', 'COPY ["$F", "${V}c/"]', 'ADD ["${F}", "/ja/"]', 'VOLUME ["$V", "${V}2"]', 'CMD ["$F"]'),
    config: (c) => { assert.deepEqual(Object.keys(c.Volumes ?? {}).sort(), ['/jv', '/jv2']); assert.deepEqual(c.Cmd, ['$F']); }, files: { '/jvc/a.txt': { content: 'a\n' }, '/ja/a.txt': { content: 'a\n' } } },
  { what: 'WORKDIR: trailing slash, "..", spaces', df: D('FROM busybox', 'WORKDIR /a/../b/', 'WORKDIR c d'),
    config: (c) => assert.equal(c.WorkingDir, '/b/c d'), files: { '/b/c d': { type: 'dir' } } },
  { what: 'quotes in ENV and LABEL values', df: D('FROM busybox', 'ENV A="a\'b" B=\'a"b\' C=a\\\\b D="x\\y"', "LABEL 'k'='v w'"),
    config: (c) => { assert.deepEqual(['A', 'B', 'C', 'D'].map((k) => env(c, k)), ["a'b", 'a"b', 'a\\b', 'x\\y']); assert.equal(c.Labels?.['k'], 'v w'); } },
  { what: 'EXPOSE splits a variable holding several ports', df: D('FROM busybox', 'ENV P="80 443/udp"', 'EXPOSE $P'),
    config: (c) => assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['443/udp', '80/tcp']) },
  { what: 'COPY paths substitute, and \\$ is literal', df: D('FROM busybox', 'ENV F=a.txt D=/cp', 'COPY $F ${D}/', 'COPY \\$F /lit/'),
    files: { '/cp/a.txt': { content: 'a\n' }, '/lit/$F': { content: 'dollar\n' } } },

  // ---- Shell and exec form, CMD, ENTRYPOINT, SHELL ----
  { what: 'ENTRYPOINT and CMD, exec form', df: 'FROM busybox\nENTRYPOINT ["echo"]\nCMD ["hi"]',
    config: (c) => { assert.deepEqual(c.Entrypoint, ['echo']); assert.deepEqual(c.Cmd, ['hi']); } },
  { what: 'ENTRYPOINT resets the CMD inherited from the base', df: 'FROM busybox\nENTRYPOINT ["echo", "e"]', tag: 'snip-entry',
    config: (c) => { assert.deepEqual(c.Entrypoint, ['echo', 'e']); assert.ok(!c.Cmd || c.Cmd.length === 0, JSON.stringify(c.Cmd)); } },
  { what: 'a CMD on a base with an ENTRYPOINT keeps the ENTRYPOINT', df: 'FROM snip-entry\nCMD ["x"]',
    config: (c) => { assert.deepEqual(c.Entrypoint, ['echo', 'e']); assert.deepEqual(c.Cmd, ['x']); } },
  { what: 'shell forms, and SHELL changing the next ones; a CMD of this stage survives ENTRYPOINT', df: 'FROM busybox\nCMD echo $HOME\nSHELL ["/bin/sh", "-ec"]\nENTRYPOINT echo x',
    config: (c) => { assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'echo $HOME']); assert.deepEqual(c.Entrypoint, ['/bin/sh', '-ec', 'echo x']); assert.deepEqual(c.Shell, ['/bin/sh', '-ec']); } },
  { what: 'ENTRYPOINT [] clears the base\'s entrypoint', df: D('FROM snip-entry', 'ENTRYPOINT []'),
    config: (c) => { assert.ok(!c.Entrypoint || c.Entrypoint.length === 0, JSON.stringify(c.Entrypoint)); assert.ok(!c.Cmd || c.Cmd.length === 0, JSON.stringify(c.Cmd)); } },
  { what: 'the last CMD wins', df: D('FROM busybox', 'CMD echo one', 'CMD ["two"]'),
    config: (c) => assert.deepEqual(c.Cmd, ['two']) },
  { what: 'CMD sets ArgsEscaped, in both forms', df: D('FROM busybox', 'CMD ["a"]'),
    config: (c) => assert.equal(c.ArgsEscaped, true), classic: 'the classic builder sets ArgsEscaped only on Windows' },
  { what: 'a JSON array that is not valid JSON is the shell form', df: D('FROM busybox', 'CMD [echo, hi]', "ENTRYPOINT ['sq']"),
    config: (c) => { assert.deepEqual(c.Cmd, ['/bin/sh', '-c', '[echo, hi]']); assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', "['sq']"]); } },
  { what: 'RUN exec form: no shell, no substitution by the builder', df: D('FROM busybox', 'ENV X=y', 'RUN ["/bin/sh", "-c", "echo \\"$0 $X\\" > /f", "${X}"]'),
    files: { '/f': { content: '${X} y\n' } } },
  { what: 'SHELL is used by shell-form RUN, which gets the command as one argument', df: D('FROM busybox', 'SHELL ["/bin/sh", "-c", "echo \\"[$0]\\" > /s"]', 'RUN hello   world'),
    files: { '/s': { content: '[hello   world]\n' } }, config: (c) => assert.deepEqual(c.Shell, ['/bin/sh', '-c', 'echo "[$0]" > /s']) },
  { what: 'SHELL needs the JSON form', df: D('FROM busybox', 'SHELL /bin/sh -c'), fails: /SHELL requires the arguments to be in JSON form/ },

  // ---- RUN ----
  { what: 'RUN sees ENV and ARG; ENV wins over an ARG of the same name', df: D('FROM busybox', 'ARG A=arg', 'ARG X=a', 'ENV X=b', 'RUN echo "$A $X" > /f'),
    files: { '/f': { content: 'arg b\n' } }, config: (c) => { assert.equal(env(c, 'A'), undefined); assert.equal(env(c, 'X'), 'b'); } },
  { what: 'RUN runs as USER', df: D('FROM busybox', 'USER nobody', 'RUN id -u > /tmp/u && id -g >> /tmp/u'),
    files: { '/tmp/u': { content: '65534\n65534\n', owner: '65534:65534' } } },
  { what: 'RUN --network=none has only a loopback', df: D('FROM busybox', 'RUN --network=none ls /sys/class/net > /n'),
    files: { '/n': { content: 'lo\n' } }, classic: BK },
  { what: 'a failing RUN fails the build with its exit code', df: D('FROM busybox', 'RUN exit 3'), fails: /returned a non-zero code: 3/ },

  // ---- Here-documents ----
  { what: 'RUN heredoc', df: 'FROM busybox\nRUN <<EOF\necho one > /h\necho two >> /h\nEOF',
    files: { '/h': { content: 'one\ntwo\n' } }, classic: BK },
  { what: 'RUN heredoc with <<- strips leading tabs', df: 'FROM busybox\nRUN <<-EOF\n\techo tab > /t\n\tEOF',
    files: { '/t': { content: 'tab\n' } }, classic: BK },
  { what: 'RUN heredoc with a shebang runs as a script', df: 'FROM busybox\nRUN <<EOF\n#!/bin/sh -e\necho "script $#" > /sb\nEOF',
    files: { '/sb': { content: 'script 0\n' } }, classic: BK },
  { what: 'heredocs fed to commands; a quoted delimiter keeps $ for the shell', df: "FROM busybox\nRUN cat <<A > /a && cat <<'B' > /b\none $HOME\nA\ntwo $HOME\nB",
    files: { '/a': { content: 'one /root\n' }, '/b': { content: 'two $HOME\n' } }, classic: BK },
  { what: 'COPY heredoc, expanded unless the delimiter is quoted', df: 'FROM busybox\nARG NAME=world\nCOPY <<EOF /h1\nhello ${NAME}\nEOF\nCOPY <<"EOF" /h2\nhello ${NAME}\nEOF',
    files: { '/h1': { content: 'hello world\n', mode: '644', owner: '0:0' }, '/h2': { content: 'hello ${NAME}\n' } }, classic: BK },
  { what: 'COPY of several heredocs into a directory, relative to WORKDIR, with --chmod and --chown', df: 'FROM busybox\nWORKDIR /hd\nCOPY --chmod=755 --chown=1:2 <<one.sh <<two.txt ./\necho 1\none.sh\n2\ntwo.txt',
    files: { '/hd/one.sh': { content: 'echo 1\n', mode: '755', owner: '1:2' }, '/hd/two.txt': { content: '2\n', mode: '755', owner: '1:2' } }, classic: BK },

  // ---- LABEL, MAINTAINER ----
  { what: 'LABEL, several and quoted; MAINTAINER', df: 'FROM busybox\nLABEL a=1 "b c"="d e"\nLABEL f="g h" \\\n      i=j\nMAINTAINER Jane <j@x>', tag: 'snip-labels',
    config: (c, img) => { assert.equal(c.Labels?.['a'], '1'); assert.equal(c.Labels?.['b c'], 'd e'); assert.equal(c.Labels?.['f'], 'g h'); assert.equal(c.Labels?.['i'], 'j'); assert.equal(img.Author, 'Jane <j@x>'); } },
  { what: 'LABEL: legacy form, escaped quotes, inherited and overridden, --label', df: D('FROM snip-labels', 'LABEL legacy value with spaces', 'LABEL a=2 q="say \\"hi\\""'), args: ['--label', 'cli=yes'],
    config: (c, img) => { assert.equal(c.Labels?.['legacy'], 'value with spaces'); assert.equal(c.Labels?.['a'], '2'); assert.equal(c.Labels?.['b c'], 'd e'); assert.equal(c.Labels?.['q'], 'say "hi"'); assert.equal(c.Labels?.['cli'], 'yes'); assert.equal(img.Author, 'Jane <j@x>'); },
    classic: 'the classic builder does not carry the base image\'s author over' },

  // ---- EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL ----
  { what: 'EXPOSE, VOLUME and ENV add to what the base image has', df: D('FROM snip-labels', 'EXPOSE 1/udp', 'VOLUME /v1', 'ENV X=1'), tag: 'snip-acc',
    config: (c) => { assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['1/udp']); assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/v1']); } },
  { what: '... and a child image adds to them', df: D('FROM snip-acc', 'EXPOSE 2', 'VOLUME ["/v2"]', 'ENV Y=2'),
    config: (c) => { assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['1/udp', '2/tcp']); assert.deepEqual(Object.keys(c.Volumes ?? {}).sort(), ['/v1', '/v2']); assert.equal(env(c, 'X'), '1'); assert.equal(env(c, 'Y'), '2'); assert.ok(env(c, 'PATH')); } },
  { what: 'EXPOSE: ports, protocols, ranges', df: 'FROM busybox\nEXPOSE 80 53/udp 8000-8001 7000-7001/udp 80/tcp',
    config: (c) => assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['53/udp', '7000/udp', '7001/udp', '80/tcp', '8000/tcp', '8001/tcp']) },
  { what: 'EXPOSE sctp; STOPSIGNAL with a real-time signal; VOLUME with a trailing slash', df: D('FROM busybox', 'EXPOSE 80/sctp 9000-9001/tcp', 'STOPSIGNAL SIGRTMIN+3', 'VOLUME /data/'),
    config: (c) => { assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['80/sctp', '9000/tcp', '9001/tcp']); assert.equal(c.StopSignal, 'SIGRTMIN+3'); assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/data/']); } },
  { what: 'VOLUME, JSON and plain', df: 'FROM busybox\nVOLUME ["/a", "/b"]\nVOLUME /c /d',
    config: (c) => assert.deepEqual(Object.keys(c.Volumes ?? {}).sort(), ['/a', '/b', '/c', '/d']) },
  { what: 'WORKDIR, relative to the previous one, created', df: 'FROM busybox\nWORKDIR /w\nWORKDIR x\nENV D=sub\nWORKDIR $D', tag: 'snip-wd',
    config: (c) => assert.equal(c.WorkingDir, '/w/x/sub'), sh: ['pwd', '/w/x/sub\n'], files: { '/w/x/sub': { type: 'dir', mode: '755', owner: '0:0' } } },
  { what: 'WORKDIR after USER is created owned by that user', df: D('FROM busybox', 'USER nobody', 'WORKDIR /home/app/data'),
    files: { '/home/app': { type: 'dir', owner: '65534:65534' }, '/home/app/data': { type: 'dir', mode: '755', owner: '65534:65534' }, '/home': { type: 'dir', owner: '0:0' } },
    classic: 'the classic builder creates WORKDIR as root' },
  { what: 'USER, STOPSIGNAL', df: 'FROM busybox\nUSER 1000:1000\nSTOPSIGNAL SIGUSR1',
    config: (c) => { assert.equal(c.User, '1000:1000'); assert.equal(c.StopSignal, 'SIGUSR1'); } },
  { what: 'STOPSIGNAL as a number', df: 'FROM busybox\nSTOPSIGNAL 9', config: (c) => assert.equal(c.StopSignal, '9') },

  // ---- ARG ----
  { what: '--build-arg overrides an ARG default', df: 'FROM busybox\nARG V=def\nENV X=$V', args: ['--build-arg', 'V=cli'],
    config: (c) => assert.equal(env(c, 'X'), 'cli') },
  { what: 'ARG before FROM is seen by FROM only, unless declared again', df: 'ARG TAG=latest\nFROM busybox:${TAG}\nENV T1=${TAG}\nARG TAG\nENV T2=${TAG}',
    config: (c) => { assert.equal(env(c, 'T1'), ''); assert.equal(env(c, 'T2'), 'latest'); } },
  { what: 'a global ARG set by --build-arg reaches FROM and a redeclaration', df: D('ARG V=a', 'ARG IMG=nope', 'FROM ${IMG}', 'ARG V', 'ENV V2=$V'), args: ['--build-arg', 'V=b', '--build-arg', 'IMG=busybox'],
    config: (c) => assert.equal(env(c, 'V2'), 'b') },
  { what: 'a global ARG default may use an earlier global ARG', df: D('ARG A=x', 'ARG B=${A}y', 'FROM busybox', 'ARG B', 'ENV B=$B'),
    config: (c) => assert.equal(env(c, 'B'), 'xy') },
  { what: 'a --build-arg for a global ARG not declared in the stage stays out of RUN', df: D('ARG G=1', 'FROM busybox', 'RUN echo "${G-unset}" > /g'), args: ['--build-arg', 'G=2'],
    files: { '/g': { content: 'unset\n' } } },
  { what: 'an ENV of the base image wins over an ARG of the same name', df: D('FROM snip-acc', 'ARG X=arg', 'ENV Y=$X', 'RUN echo $X > /x'),
    config: (c) => assert.equal(env(c, 'Y'), '1'), files: { '/x': { content: '1\n' } } },
  { what: 'ARG: several in one line; an empty default is set but empty', df: D('FROM busybox', 'ARG A=1 B=2', 'ARG E=', 'ENV AB=$A$B X=${E:-x} Y=${E-y}'),
    config: (c) => { assert.equal(env(c, 'AB'), '12'); assert.equal(env(c, 'X'), 'x'); assert.equal(env(c, 'Y'), ''); }, classic: BK },
  { what: 'ENV legacy form with an empty quoted value', df: D('FROM busybox', 'ENV E ""'),
    config: (c) => assert.equal(env(c, 'E'), '') },
  { what: 'an ARG is scoped to its stage', df: D('FROM busybox AS one', 'ARG X=1', 'FROM busybox', 'ENV X=${X:-notset}'),
    config: (c) => assert.equal(env(c, 'X'), 'notset') },
  { what: 'an ARG without value is unset unless given; it is not in the image', df: D('FROM busybox', 'ARG NOVAL', 'ARG GIVEN', 'RUN echo "${NOVAL-unset} ${GIVEN-unset}" > /f'), args: ['--build-arg', 'GIVEN=g'],
    files: { '/f': { content: 'unset g\n' } }, config: (c) => assert.equal(env(c, 'GIVEN'), undefined) },
  { what: 'an ARG default may use an earlier ARG; an ARG used before its declaration is empty', df: D('FROM busybox', 'ENV EARLY=[${B}]', 'ARG A=x', 'ARG B=${A}y', 'ENV B=$B'),
    config: (c) => { assert.equal(env(c, 'B'), 'xy'); assert.equal(env(c, 'EARLY'), '[]'); } },
  { what: 'automatic platform ARGs', df: D('ARG BUILDPLATFORM', 'FROM --platform=$BUILDPLATFORM busybox', 'ARG TARGETOS', 'ARG TARGETARCH', 'ARG TARGETPLATFORM', 'ENV T=$TARGETOS/$TARGETARCH P=$TARGETPLATFORM'),
    config: (c) => { assert.equal(env(c, 'T'), `linux/${ARCH}`); assert.match(env(c, 'P') ?? '', new RegExp(`^linux/${ARCH}`)); }, classic: BK },
  { what: 'platform ARGs are there for FROM without a declaration, and empty in a stage without one', df: D('FROM --platform=$BUILDPLATFORM busybox', 'ENV T=[$TARGETARCH]'),
    config: (c) => assert.equal(env(c, 'T'), '[]'), classic: BK },
  { what: 'predefined proxy args: usable in RUN, kept out of the history', df: 'FROM busybox\nRUN echo "$HTTP_PROXY" > /p', args: ['--build-arg', 'HTTP_PROXY=http://proxy.example:3128'],
    config: (c, img) => { assert.ok(img.History.some((h) => h.includes('echo "$HTTP_PROXY"')), img.History.join(' | ')); assert.ok(!img.History.some((h) => h.includes('proxy.example')), img.History.join(' | ')); assert.equal(env(c, 'HTTP_PROXY'), undefined); }, files: { '/p': { content: 'http://proxy.example:3128\n' } } },

  // ---- ADD ----
  { what: 'ADD of a local file keeps its mode; owner root', df: D('FROM busybox', 'ADD exec.sh b.txt /add/'),
    files: { '/add/exec.sh': { mode: '755', owner: '0:0', content: '#!/bin/sh\n' }, '/add/b.txt': { mode: '644', content: 'b\n' } } },
  { what: 'ADD of a local tar extracts it; ADD --chmod', df: 'FROM busybox\nADD arch.tar /x/\nADD --chmod=700 b.txt /b',
    files: { '/x/inside.txt': { content: 'inside\n' }, '/b': { mode: '700', content: 'b\n' } }, classic: '--chmod is BuildKit only' },
  { what: 'ADD of a tar to a path without a trailing slash unpacks into that directory', df: D('FROM busybox', 'ADD arch.tar /xt', 'ADD arch.tar.gz /xt2'),
    files: { '/xt/inside.txt': { content: 'inside\n' }, '/xt2/gz.txt': { content: 'gz\n' }, '/inside.txt': { absent: true } } },
  { what: 'ADD extracts a gzipped tar, keeping its owners and modes', df: D('FROM busybox', 'ADD arch.tar.gz owned.tar /x/'),
    files: { '/x/gz.txt': { content: 'gz\n' }, '/x/owned.txt': { content: 'owned\n', mode: '640', owner: '123:456' }, '/x/sub': { type: 'dir', mode: '750', owner: '123:456' } } },
  { what: 'ADD copies what is not a tar as it is, whatever its name (a gzipped file included)', df: D('FROM busybox', 'ADD notatar.tar text.gz /nt/'),
    files: { '/nt/notatar.tar': { content: 'not a tar\n' } }, sh: ['zcat /nt/text.gz', 'plain\n'] },
  { what: 'ADD extracts tars a wildcard matches, not tars inside a directory source', df: D('FROM busybox', 'ADD arch*.tar /wt/', 'ADD tardir /td/'),
    files: { '/wt/inside.txt': { content: 'inside\n' }, '/td/in.tar': { type: 'file' }, '/td/inside.txt': { absent: true } } },
  { what: 'ADD --exclude', df: D('FROM busybox', 'ADD --exclude=*.log dir /ae/'),
    sh: ['ls /ae', 'keep.txt\n'], classic: BK },
  { what: 'COPY --from an image by name and tag', df: D('FROM busybox', 'COPY --from=busybox:latest /etc/group /g'),
    files: { '/g': { mode: '644' } } },
  { what: 'ADD --chown with a user name', df: D('FROM busybox', 'ADD --chown=nobody b.txt /bn'),
    files: { '/bn': { owner: '65534:65534', content: 'b\n' } }, classic: 'the classic builder looks a lone user name up as a group too' },
  { what: 'ADD --unpack=false copies a local tar as it is', df: D('FROM busybox', 'ADD --unpack=false arch.tar /np/'),
    files: { '/np/arch.tar': { type: 'file' }, '/np/inside.txt': { absent: true } }, classic: BK },
  // @URL@: a file server on the context directory (a python3 http.server on loopback).
  { what: 'ADD of a URL with a query: the name comes from the path', df: D('FROM busybox', 'ADD @URL@/b.txt?v=1 /q/'),
    files: { '/q/b.txt': { content: 'b\n' } } },
  { what: 'ADD of a URL: mode 600, the mtime of Last-Modified, a tar not unpacked; to a file name', df: D('FROM busybox', 'ADD @URL@/a.txt @URL@/arch.tar /u/', 'ADD @URL@/old.txt /u2'),
    files: { '/u/a.txt': { content: 'a\n', mode: '600', owner: '0:0' }, '/u/arch.tar': { type: 'file' }, '/u/inside.txt': { absent: true }, '/u2': { content: 'old\n', mode: '600' } },
    sh: ['stat -c %Y /u2', '978307200\n'] },
  { what: 'ADD --unpack=true of a URL unpacks it', df: D('FROM busybox', 'ADD --unpack=true @URL@/arch.tar.gz /uu/'),
    files: { '/uu/gz.txt': { content: 'gz\n' } }, classic: BK },
  { what: 'ADD --checksum of a URL', df: D('FROM busybox', 'ADD --checksum=sha256:87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7 @URL@/a.txt /ck'),
    files: { '/ck': { content: 'a\n' } }, classic: BK },
  { what: 'ADD --checksum mismatch fails', df: D('FROM busybox', 'ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 @URL@/a.txt /ck'),
    fails: /checksum|digest mismatch/i, classic: BK },

  // ---- COPY ----
  { what: 'COPY --chown and --chmod', df: 'FROM busybox\nCOPY --chown=1:2 --chmod=600 a.txt /f',
    files: { '/f': { mode: '600', owner: '1:2', content: 'a\n' } }, classic: '--chmod is BuildKit only' },
  { what: 'COPY --chown with names, a user alone (its primary group), a uid alone (the same gid)', df: D('FROM busybox', 'COPY --chown=nobody:mail a.txt /c1', 'COPY --chown=sync a.txt /c2', 'COPY --chown=5 a.txt /c3'),
    files: { '/c1': { owner: '65534:8' }, '/c2': { owner: '4:100' }, '/c3': { owner: '5:5' } },
    classic: 'the classic builder looks a lone user name up as a group too' },
  { what: 'COPY --chown: directories the copy creates get that owner too', df: D('FROM busybox', 'RUN mkdir /pre', 'COPY --chown=1:1 a.txt /pre/cdir/sub/'),
    files: { '/pre': { owner: '0:0' }, '/pre/cdir': { owner: '1:1' }, '/pre/cdir/sub': { owner: '1:1' }, '/pre/cdir/sub/a.txt': { owner: '1:1' } } },
  { what: 'COPY --chown with an unknown user fails', df: D('FROM busybox', 'COPY --chown=nosuchuser a.txt /x'), fails: /nosuchuser/ },
  { what: 'COPY makes files root-owned whatever their owner in the context, keeps modes; USER does not matter', df: D('FROM busybox', 'USER nobody', 'COPY exec.sh /e'),
    files: { '/e': { owner: '0:0', mode: '755' } } },
  { what: 'COPY of a directory copies its contents; dest with and without a slash', df: 'FROM busybox\nCOPY dir /dst/\nCOPY dir/ /dst2\nCOPY a.txt /file',
    sh: ['ls /dst /dst2 && cat /file', '/dst:\nkeep.txt\nx.log\n\n/dst2:\nkeep.txt\nx.log\na\n'] },
  { what: 'COPY a file to a path ending in "/" or to an existing directory puts it inside; missing parents are created', df: D('FROM busybox', 'RUN mkdir /exist', 'COPY a.txt /exist', 'COPY a.txt /new/deep/'),
    files: { '/exist/a.txt': { content: 'a\n' }, '/new/deep/a.txt': { content: 'a\n' }, '/new': { type: 'dir', mode: '755', owner: '0:0' } } },
  { what: 'COPY to a relative destination is relative to WORKDIR', df: D('FROM busybox', 'WORKDIR /wd', 'COPY a.txt rel/', 'COPY b.txt .'),
    files: { '/wd/rel/a.txt': { content: 'a\n' }, '/wd/b.txt': { content: 'b\n' } } },
  { what: 'COPY, JSON form: names with spaces', df: D('FROM busybox', 'COPY ["sp ace.txt", "/with space/"]'),
    files: { '/with space/sp ace.txt': { content: 'space\n' } } },
  { what: 'WORKDIR relative to the base image\'s', df: D('FROM snip-wd', 'WORKDIR rel', 'COPY a.txt .'),
    config: (c) => assert.equal(c.WorkingDir, '/w/x/sub/rel'), files: { '/w/x/sub/rel/a.txt': { content: 'a\n' } } },
  { what: 'COPY keeps mtimes and setuid bits; an empty directory is created', df: D('FROM busybox', 'COPY old.txt suid.sh /k/', 'COPY emptydir /ed'),
    files: { '/k/suid.sh': { mode: '4755', owner: '0:0' }, '/ed': { type: 'dir' } }, sh: ['stat -c %Y /k/old.txt', '978307200\n'],
    classic: 'the classic builder chowns after chmod, which clears setuid bits' },
  { what: 'COPY into a symlinked directory of the image writes where it points, inside the image', df: D('FROM busybox', 'RUN mkdir /target && ln -s /target /lnk && ln -s ../../../.. /up', 'COPY a.txt /lnk/', 'COPY b.txt /up/esc/'),
    files: { '/target/a.txt': { content: 'a\n' }, '/lnk': { type: 'link', link: '/target' }, '/esc/b.txt': { content: 'b\n' } } },
  { what: 'COPY with wildcards (*, ?, [])', df: 'FROM busybox\nCOPY [ab].txt /w/\nCOPY ?.txt /q/\nCOPY hom* /s/',
    sh: ['ls /w /q /s', '/q:\na.txt\nb.txt\n\n/s:\nhome.txt\nhomely.sh\nhomer.md\n\n/w:\na.txt\nb.txt\n'] },
  { what: 'COPY of several sources needs a destination ending in "/"', df: D('FROM busybox', 'COPY a.txt b.txt /nodir'), fails: /must be a directory and end with a \// },
  { what: 'COPY of a missing source fails', df: D('FROM busybox', 'COPY nothere.txt /'), fails: /nothere\.txt/ },
  { what: 'COPY from outside the context is refused', df: D('FROM busybox', 'COPY ../outside /'), fails: /outside the build context|not found|no such file/i, classic: 'BuildKit cleans ../ away' },
  { what: 'COPY follows a named symlink, keeps symlinks inside a directory', df: D('FROM busybox', 'COPY link.txt /l', 'COPY links /lk/'),
    files: { '/l': { type: 'file', content: 'a\n' }, '/lk/ln': { type: 'link', link: 'target.txt' }, '/lk/target.txt': { content: 't\n' } } },
  { what: 'COPY --chmod on a directory applies to its files', df: D('FROM busybox', 'COPY --chmod=640 dir /cm/'),
    files: { '/cm/keep.txt': { mode: '640' }, '/cm/x.log': { mode: '640' } }, classic: BK },
  { what: 'COPY --chmod from an ARG', df: D('FROM busybox', 'ARG MODE=440', 'COPY --chmod=$MODE a.txt /m'),
    files: { '/m': { mode: '440' } }, classic: BK },
  { what: 'COPY --chmod, symbolic (u=rwX,go=rX; +x; g=u; go-r,u-w)', df: D('FROM busybox', 'COPY --chmod=u=rwX,go=rX exec.sh dir /sym/', 'COPY --chmod=+x a.txt /px', 'COPY --chmod=g=u a.txt /gu', 'COPY --chmod=go-r,u-w <<EOF /hd\nx\nEOF'),
    files: { '/sym/exec.sh': { mode: '755' }, '/sym/keep.txt': { mode: '644' }, '/px': { mode: '755' }, '/gu': { mode: '664' }, '/hd': { mode: '400' } }, classic: BK },
  { what: 'COPY --chmod with a bad mode fails', df: D('FROM busybox', 'COPY --chmod=u+q a.txt /x'), fails: /invalid chmod parameter/, classic: '--chmod is BuildKit only' },
  { what: 'COPY --exclude', df: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox\nCOPY --exclude=*.log dir /e/\nCOPY --exclude=*.txt --exclude=*.md hom* /mydir/',
    sh: ['ls /e /mydir', '/e:\nkeep.txt\n\n/mydir:\nhomely.sh\n'], classic: BK },
  { what: 'COPY --parents', df: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox\nCOPY --parents p/q/*.txt /par/',
    sh: ['find /par -type f', '/par/p/q/deep.txt\n'], classic: BK },
  { what: 'COPY --parents keeps only what follows a "/./" pivot', df: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox\nCOPY --parents ./x/./y/*.txt /piv/',
    sh: ['find /piv -type f | sort', '/piv/y/a.txt\n/piv/y/b.txt\n'], classic: BK },
  { what: 'COPY --parents with a pivot, from a stage, of a directory', df: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox AS st\nRUN mkdir -p /opt/app/lib && echo l > /opt/app/lib/l.so\nFROM busybox\nCOPY --from=st --parents /opt/./app/lib /pv/',
    files: { '/pv/app/lib/l.so': { content: 'l\n' }, '/pv/opt': { absent: true } }, classic: BK },
  { what: 'COPY --parents with **', df: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox\nCOPY --parents ./src/**/*.txt /pp/',
    sh: ['find /pp -type f | sort', '/pp/src/a.txt\n/pp/src/x/b.txt\n/pp/src/x/y/c.txt\n'], classic: BK },
  { what: 'COPY --link', df: 'FROM busybox\nCOPY --link --chown=3:3 a.txt /linked',
    files: { '/linked': { content: 'a\n', owner: '3:3' } }, classic: BK },
  { what: 'COPY --from follows symlinks inside the source image, never out to the host', df: D('FROM busybox AS s', 'RUN echo img > /etc/marker && ln -s /etc/marker /m && ln -s ../../etc /d', 'FROM busybox', 'COPY --from=s /m /m', 'COPY --from=s /d/marker /dm'),
    files: { '/m': { type: 'file', content: 'img\n' }, '/dm': { content: 'img\n' } } },
  { what: 'COPY --from with a wildcard', df: D('FROM busybox AS s', 'RUN mkdir /o && echo 1 > /o/one.cfg && echo 2 > /o/two.cfg && echo x > /o/other', 'FROM busybox', 'COPY --from=s /o/*.cfg /cfg/'),
    sh: ['ls /cfg', 'one.cfg\ntwo.cfg\n'] },
  { what: 'COPY of a directory onto an existing file fails', df: D('FROM busybox', 'RUN touch /plain', 'COPY dir /plain/'), fails: /not a directory|cannot copy/i },
  { what: 'COPY --from a stage keeps owners and modes unless --chown; --from by index and by image', df: D('FROM busybox AS src', 'RUN mkdir /d && echo s > /d/s && chown 7:7 /d/s && chmod 640 /d/s', 'FROM busybox', 'COPY --from=src /d /from/', 'COPY --from=0 --chown=1:1 /d/s /chowned', 'COPY --from=busybox /bin/busybox /bb'),
    files: { '/from/s': { content: 's\n', mode: '640', owner: '7:7' }, '/chowned': { owner: '1:1', mode: '640' }, '/bb': { mode: '755', owner: '0:0' } } },

  // ---- HEALTHCHECK ----
  { what: 'HEALTHCHECK with options', df: 'FROM busybox\nHEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD true', tag: 'snip-health',
    config: (c) => assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Timeout: 2e9, StartPeriod: 1e9, Retries: 4 }) },
  { what: 'HEALTHCHECK exec form; --start-interval', df: 'FROM busybox\nHEALTHCHECK --start-interval=3s CMD ["true", "x"]',
    config: (c) => assert.deepEqual(c.Healthcheck, { Test: ['CMD', 'true', 'x'], StartInterval: 3e9 }), classic: 'dockerd 20.10 has no --start-interval' },
  { what: 'HEALTHCHECK is inherited; NONE disables it', df: 'FROM snip-health\nHEALTHCHECK NONE',
    config: (c) => assert.deepEqual(c.Healthcheck?.Test, ['NONE']) },

  // ---- ONBUILD ----
  { what: 'ONBUILD is recorded', df: 'FROM busybox\nONBUILD RUN echo triggered > /onbuild\nONBUILD COPY onb.txt /onb/', tag: 'snip-onbuild',
    config: (c) => assert.deepEqual(c.OnBuild, ['RUN echo triggered > /onbuild', 'COPY onb.txt /onb/']) },
  { what: 'ONBUILD triggers run in the child build, in order, on its context, and are not inherited', df: 'FROM snip-onbuild\nRUN cat /onbuild > /after',
    config: (c) => assert.ok(!c.OnBuild || c.OnBuild.length === 0), files: { '/after': { content: 'triggered\n' }, '/onb/onb.txt': { content: 'onbuild\n' } } },
  { what: 'ONBUILD FROM is refused', df: 'FROM busybox\nONBUILD FROM busybox', fails: /FROM isn't allowed as an ONBUILD trigger/ },
  { what: 'ONBUILD ONBUILD is refused', df: 'FROM busybox\nONBUILD ONBUILD RUN true', fails: /ONBUILD ONBUILD/ },

  // ---- Multi-stage ----
  { what: 'multi-stage: COPY --from a stage, --target', df: 'FROM busybox AS one\nRUN echo from-one > /o\nFROM busybox AS two\nCOPY --from=one /o /o\nRUN echo two\nFROM busybox AS three\nRUN exit 1', args: ['--target', 'two'],
    files: { '/o': { content: 'from-one\n' } } },
  { what: 'FROM scratch: COPY makes the first layer', df: D('FROM scratch AS s', 'COPY a.txt /a', 'COPY --chmod=700 b.txt /d/b', 'FROM busybox', 'COPY --from=s / /fs/'),
    files: { '/fs/a': { content: 'a\n', mode: '644' }, '/fs/d/b': { mode: '700' } }, classic: '--chmod is BuildKit only' },
  { what: 'stage names are case-insensitive; FROM a previous stage inherits its config', df: D('FROM busybox AS Base', 'ENV B=1', 'RUN echo x > /x', 'FROM base', 'COPY --from=BASE /x /y', 'RUN echo $B > /b'),
    config: (c) => assert.equal(env(c, 'B'), '1'), files: { '/x': { content: 'x\n' }, '/y': { content: 'x\n' }, '/b': { content: '1\n' } } },
  { what: 'FROM a stage with ONBUILD runs its triggers', df: D('FROM busybox AS base', 'ONBUILD RUN echo t > /t', 'FROM base', 'RUN cat /t > /t2'),
    files: { '/t2': { content: 't\n' } } },
  { what: 'FROM with a default for an undeclared ARG', df: D('FROM ${UNDECLARED:-busybox}', 'ENV OK=1'),
    config: (c) => assert.equal(env(c, 'OK'), '1') },
  { what: 'a global ARG picks the stage FROM builds on', df: D('ARG S=one', 'FROM busybox AS one', 'RUN echo one > /w', 'FROM busybox AS two', 'RUN echo two > /w', 'FROM ${S}'), args: ['--build-arg', 'S=two'],
    files: { '/w': { content: 'two\n' } } },
];

describe('reproducible builds', () => {
  let d: TestDaemon;
  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  test('with SOURCE_DATE_EPOCH, two --no-cache builds give the same layers, dated then', () => {
    const ctx = path.join(d.dir, 'repro');
    fs.mkdirSync(path.join(ctx, 'src'), { recursive: true });
    fs.writeFileSync(path.join(ctx, 'src', 'a.txt'), 'a\n');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nWORKDIR /app\nCOPY src/ ./\nRUN mkdir -p out && echo built > out/f && chmod 640 out/f\n');
    const layers = (args: string[]) => {
      const b = d.barge(['build', '-q', '--no-cache', ...args, ctx], { timeoutMs: 120_000 });
      assert.equal(b.code, 0, b.stderr);
      const i = JSON.parse(d.barge(['image', 'inspect', b.stdout.trim()]).stdout) as { RootFS: { Layers: string[] }; Created: string }[];
      return i[0]!;
    };
    const one = layers(['--build-arg', 'SOURCE_DATE_EPOCH=1700000000']);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);   // so the second build's files are a second younger
    const two = layers(['--build-arg', 'SOURCE_DATE_EPOCH=1700000000']);
    assert.deepEqual(two.RootFS.Layers, one.RootFS.Layers);
    assert.equal(one.Created, '2023-11-14T22:13:20Z');
    // Without it, the RUN layer's times are those of the build: its layer differs from one build to the next.
    const three = layers([]);
    assert.notDeepEqual(three.RootFS.Layers.at(-1), one.RootFS.Layers.at(-1));
  });
});

describe('parallel stages', () => {
  let d: TestDaemon;
  before(async () => { d = await startDaemon(); });
  after(async () => { await d?.cleanup(); });

  // Stage a listens until stage b sends it a line: built one after the other, a would wait forever
  // (until its nc gives up and the build fails); built side by side, both finish.
  test('independent stages build side by side', () => {
    const ctx = path.join(d.dir, 'par');
    fs.mkdirSync(ctx, { recursive: true });
    // Below the kernel's ephemeral range (32768+), where other tests' servers and outgoing
    // connections take their ports: one there would make a's nc fail to listen and b talk to it.
    const port = 20000 + Math.floor(Math.random() * 12000);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), [
      // a listens again after a connection that brought nothing (seen once under the full suite).
      'FROM busybox AS a', `RUN timeout 60 sh -c 'until nc -l -p ${port} > /got && test -s /got; do :; done'`,
      'FROM busybox AS b', `RUN for i in $(seq 100); do echo from-b | nc 127.0.0.1 ${port} && exit 0; sleep 0.2; done; exit 1`, 'RUN echo b > /b',
      'FROM busybox', 'COPY --from=a /got /got', 'COPY --from=b /b /b', 'CMD ["cat", "/got", "/b"]', ''].join('\n'));
    const b = d.barge(['build', '--network', 'host', '-t', 'par:1', ctx], { timeoutMs: 180_000 });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const r = d.barge(['run', '--rm', 'par:1']);
    assert.equal(r.stdout, 'from-b\nb\n');
  });
});


/** The shared context of the table's rows. */
function makeContext(ctx: string): void {
  const w = (rel: string, data: string | Buffer, mode?: number) => {
    fs.mkdirSync(path.dirname(path.join(ctx, rel)), { recursive: true });
    fs.writeFileSync(path.join(ctx, rel), data);
    if (mode !== undefined) fs.chmodSync(path.join(ctx, rel), mode);
  };
  w('a.txt', 'a\n'); w('b.txt', 'b\n'); w('sp ace.txt', 'space\n');
  w('old.txt', 'old\n'); fs.utimesSync(path.join(ctx, 'old.txt'), 978307200, 978307200);
  w('suid.sh', '#!/bin/sh\n', 0o4755);
  fs.mkdirSync(path.join(ctx, 'emptydir'));
  w('$F', 'dollar\n');
  w('dir/keep.txt', 'k\n'); w('dir/x.log', 'log\n');
  w('p/q/deep.txt', 'deep\n');
  w('x/y/a.txt', 'xa\n'); w('x/y/b.txt', 'xb\n');
  w('src/a.txt', 'sa\n'); w('src/x/b.txt', 'sb\n'); w('src/x/y/c.txt', 'sc\n'); w('src/x/skip.md', 'no\n');
  w('home.txt', 'h\n'); w('homer.md', 'h\n'); w('homely.sh', 'h\n');
  w('onb.txt', 'onbuild\n');
  w('exec.sh', '#!/bin/sh\n', 0o755);
  fs.chownSync(path.join(ctx, 'exec.sh'), 1234, 1234);
  w('links/target.txt', 't\n');
  fs.symlinkSync('target.txt', path.join(ctx, 'links/ln'));
  fs.symlinkSync('a.txt', path.join(ctx, 'link.txt'));
  w('arch.tar', new TarWriter().add({ name: 'inside.txt', type: 'file', data: 'inside\n' }).finish());
  w('arch.tar.gz', gzipSync(new TarWriter().add({ name: 'gz.txt', type: 'file', data: 'gz\n' }).finish()));
  w('owned.tar', new TarWriter()
    .add({ name: 'owned.txt', type: 'file', data: 'owned\n', mode: 0o640, uid: 123, gid: 456 })
    .add({ name: 'sub', type: 'dir', mode: 0o750, uid: 123, gid: 456 }).finish());
  w('notatar.tar', 'not a tar\n');
  w('text.gz', gzipSync('plain\n'));
  w('tardir/in.tar', new TarWriter().add({ name: 'inside.txt', type: 'file', data: 'inside\n' }).finish());
}

interface FileServer { url: string; stop(): void }

/**
 * Serves `dir` over HTTP on loopback, for ADD's URLs: a python3 http.server in a process of its own
 * (the CLIs run with spawnSync, which would block a server in this process). It sends Last-Modified.
 */
async function serveFiles(dir: string): Promise<FileServer> {
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const child = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      const up = await fetch(`${url}/a.txt`).then((r) => r.ok, () => false);
      if (up) return { url, stop: () => { child.kill(); } };
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill();
    if (attempt >= 3) throw new Error('python3 -m http.server did not start');
  }
}

/** One engine's CLI (barge, or docker against a private dockerd), as the table drives it. */
type Cli = (args: string[], o?: { timeoutMs?: number }) => RunResult;
interface Engine {
  cli: Cli;
  /** The image's config, author, and its history's CreatedBy lines. */
  inspect(id: string): Promise<{ Config: Config; Author: string; History: string[] }>;
}

/** Inspection through the CLI (`image inspect`, `history`). */
function cliInspect(cli: Cli): Engine['inspect'] {
  return async (id) => {
    const i = cli(['image', 'inspect', id]);
    assert.equal(i.code, 0, i.stderr);
    const img = (JSON.parse(i.stdout) as { Config: Config; Author: string }[])[0]!;
    const h = cli(['history', '--no-trunc', '--format', '{{.CreatedBy}}', id]);
    assert.equal(h.code, 0, h.stderr);
    return { Config: img.Config, Author: img.Author, History: h.stdout.split('\n') };
  };
}

/** A shell script printing, for each path, "@@", stat's mode, owner and type, then the file's content or the link's target. */
function filesScript(files: Record<string, FileWant>): string {
  return Object.keys(files).map((p) => {
    const q = `'${p.replace(/'/g, `'\\''`)}'`;
    return `echo @@; stat -c '%a %u:%g %F' ${q} 2>/dev/null || echo absent; if [ -L ${q} ]; then readlink ${q}; elif [ -f ${q} ]; then cat ${q}; fi`;
  }).join('; ');
}

/** Checks what filesScript printed against what the row wants. */
function checkFiles(out: string, files: Record<string, FileWant>): void {
  const paths = Object.keys(files);
  const chunks = out.split('@@\n').slice(1);
  assert.equal(chunks.length, paths.length, out);
  for (const [i, p] of paths.entries()) {
    const want = files[p]!;
    const chunk = chunks[i]!;
    const nl = chunk.indexOf('\n');
    const head = chunk.slice(0, nl);
    const body = chunk.slice(nl + 1);
    if (want.absent) { assert.equal(head, 'absent', `${p} should not exist`); continue; }
    assert.notEqual(head, 'absent', `${p} does not exist`);
    const [mode, owner, ...typeWords] = head.split(' ');
    const type = typeWords.join(' ');
    const got = {
      ...(want.mode !== undefined ? { mode } : {}),
      ...(want.owner !== undefined ? { owner } : {}),
      ...(want.type !== undefined ? { type: type === 'directory' ? 'dir' : type === 'symbolic link' ? 'link' : /regular/.test(type) ? 'file' : type } : {}),
      ...(want.content !== undefined ? { content: body } : {}),
      ...(want.link !== undefined ? { link: body.replace(/\n$/, '') } : {}),
    };
    assert.deepEqual(got, want, `${p}: ${head}`);
  }
}

async function runRow(e: Engine, ctx: string, row: Row, url: string): Promise<void> {
  const cli = e.cli;
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), row.df.replaceAll('@URL@', url) + '\n');
  const b = cli(['build', '-q', ...(row.args ?? []), ...(row.tag ? ['-t', row.tag] : []), ctx], { timeoutMs: 120_000 });
  if (row.fails) {
    assert.notEqual(b.code, 0, `the build should have failed: ${b.stdout}`);
    assert.match(b.stderr + b.stdout, row.fails);
    return;
  }
  assert.equal(b.code, 0, `build failed: ${b.stderr}`);
  const id = b.stdout.trim().split('\n').pop()!;
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  if (row.config) {
    const img = await e.inspect(id);
    row.config(img.Config, img);
  }
  if (row.files || row.sh) {
    // One container for both: the files' listing, then the row's command after a marker.
    const script = [...(row.files ? [filesScript(row.files)] : []), ...(row.sh ? [`echo @@SH; ${row.sh[0]}`] : [])].join('; ');
    const r = cli(['run', '--rm', '--network', 'none', '--user', '0', '--entrypoint', 'sh', id, '-c', script], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const at = row.sh ? r.stdout.indexOf('@@SH\n') : r.stdout.length;
    assert.ok(at >= 0, r.stdout);
    if (row.files) checkFiles(r.stdout.slice(0, at), row.files);
    if (row.sh) {
      const out = r.stdout.slice(at + '@@SH\n'.length);
      if (typeof row.sh[1] === 'string') assert.equal(out, row.sh[1]); else assert.match(out, row.sh[1]);
    }
  }
}

describe('Dockerfile snippets → image config and files', () => {
  let d: TestDaemon;
  let ctx: string;
  let files: FileServer;
  before(async () => {
    d = await startDaemon();
    ctx = path.join(d.dir, 'ctx');
    makeContext(ctx);
    files = await serveFiles(ctx);
  });
  after(async () => { files?.stop(); await d?.cleanup(); });

  // Inspection through the API: the same JSON as the CLI's, without two more CLI starts a row.
  const inspect: Engine['inspect'] = async (id) => {
    const i = await d.api('GET', `/images/${id}/json`);
    assert.equal(i.status, 200, i.text);
    const h = await d.api('GET', `/images/${id}/history`);
    assert.equal(h.status, 200, h.text);
    return { Config: i.body.Config, Author: i.body.Author, History: (h.body as { CreatedBy: string }[]).map((x) => x.CreatedBy) };
  };
  for (const row of ROWS) test(row.what, () => runRow({ cli: (a, o) => d.barge(a, o), inspect }, ctx, row, files.url));
});

// The same table against Docker Engine's classic builder, to check the table (opt-in: SNIPPETS_DOCKER=1).
describe('Dockerfile snippets against Docker\'s classic builder', { skip: process.env['SNIPPETS_DOCKER'] !== '1' && 'set SNIPPETS_DOCKER=1 to run' }, () => {
  let d: TestDaemon;
  let dk: Dockerd | string;
  let ctx: string;
  let files: FileServer;
  before(async () => {
    d = await startDaemon();
    process.env['DOCKER_BUILDKIT'] = '0'; // the docker CLI's spawns inherit it: the classic builder
    dk = await startDockerd();
    if (typeof dk === 'string') return;
    ctx = path.join(d.dir, 'ctx');
    makeContext(ctx);
    files = await serveFiles(ctx);
    // Docker Hub is out of reach: give dockerd barge's busybox.
    const tar = path.join(d.dir, 'busybox.tar');
    assert.equal(d.barge(['save', '-o', tar, 'busybox']).code, 0);
    const l = dk.docker(['load', '-i', tar]);
    assert.equal(l.code, 0, l.stderr);
  });
  after(async () => {
    files?.stop();
    if (dk && typeof dk !== 'string') await dk.stop();
    await d?.cleanup();
  });

  for (const row of ROWS) {
    test(row.what, { skip: row.classic }, async (t) => {
      if (typeof dk === 'string') { t.skip(dk); return; }
      const docker = dk;
      const cli: Cli = (a) => docker.docker(a);
      return runRow({ cli, inspect: cliInspect(cli) }, ctx, row, files.url);
    });
  }
});
