// A table of Dockerfile snippets and the image each must produce: its config and, where files matter,
// what a container of it sees. One daemon builds them all (from one context directory), in order.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TarWriter } from '../../src/lib/tarwriter.js';

interface Config {
  Env?: string[]; Cmd?: string[] | null; Entrypoint?: string[] | null; WorkingDir?: string; User?: string;
  ExposedPorts?: Record<string, object>; Volumes?: Record<string, object>; Labels?: Record<string, string>;
  StopSignal?: string; Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
  Shell?: string[]; OnBuild?: string[] | null;
}
interface Row {
  what: string;
  df: string;
  args?: string[];
  /** Checks on the image's config (and Author). */
  config?: (c: Config, img: { Author: string; History: string[] }) => void;
  /** Shell command run in a container of the image, and its expected output. */
  sh?: [string, string | RegExp];
  /** Tag the result (for later rows' FROM). */
  tag?: string;
}

const env = (c: Config, k: string) => c.Env?.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);

const ROWS: Row[] = [
  // One ENV instruction substitutes with the values from before it (the reference's abc/def example).
  { what: 'ENV, both forms, with substitution', df: 'FROM busybox\nENV A=1 B="two words" C=${A}x\nENV D ${B}!\nENV E=\\$NOPE\nENV abc=hello\nENV abc=bye def=$abc',
    config: (c) => { assert.equal(env(c, 'A'), '1'); assert.equal(env(c, 'B'), 'two words'); assert.equal(env(c, 'C'), 'x'); assert.equal(env(c, 'D'), 'two words!'); assert.equal(env(c, 'E'), '$NOPE'); assert.equal(env(c, 'abc'), 'bye'); assert.equal(env(c, 'def'), 'hello'); } },
  { what: 'substitution modifiers', df: 'FROM busybox\nARG V=def\nENV X=${V:-alt} Y=${V:+set} Z=${U:-unset} W=${U:+no}',
    config: (c) => { assert.equal(env(c, 'X'), 'def'); assert.equal(env(c, 'Y'), 'set'); assert.equal(env(c, 'Z'), 'unset'); assert.equal(env(c, 'W'), ''); } },
  { what: '--build-arg overrides an ARG default', df: 'FROM busybox\nARG V=def\nENV X=$V', args: ['--build-arg', 'V=cli'],
    config: (c) => assert.equal(env(c, 'X'), 'cli') },
  { what: 'ARG before FROM is seen by FROM only, unless declared again', df: 'ARG TAG=latest\nFROM busybox:${TAG}\nENV T1=${TAG}\nARG TAG\nENV T2=${TAG}',
    config: (c) => { assert.equal(env(c, 'T1'), ''); assert.equal(env(c, 'T2'), 'latest'); } },
  { what: 'ENTRYPOINT and CMD, exec form', df: 'FROM busybox\nENTRYPOINT ["echo"]\nCMD ["hi"]',
    config: (c) => { assert.deepEqual(c.Entrypoint, ['echo']); assert.deepEqual(c.Cmd, ['hi']); } },
  { what: 'ENTRYPOINT resets the CMD inherited from the base', df: 'FROM busybox\nENTRYPOINT ["echo", "e"]',
    config: (c) => { assert.deepEqual(c.Entrypoint, ['echo', 'e']); assert.ok(!c.Cmd || c.Cmd.length === 0, JSON.stringify(c.Cmd)); } },
  { what: 'shell forms, and SHELL changing the next ones; a CMD of this stage survives ENTRYPOINT', df: 'FROM busybox\nCMD echo $HOME\nSHELL ["/bin/sh", "-ec"]\nENTRYPOINT echo x',
    config: (c) => { assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'echo $HOME']); assert.deepEqual(c.Entrypoint, ['/bin/sh', '-ec', 'echo x']); assert.deepEqual(c.Shell, ['/bin/sh', '-ec']); } },
  { what: 'LABEL, several and quoted; MAINTAINER', df: 'FROM busybox\nLABEL a=1 "b c"="d e"\nLABEL f="g h" \\\n      i=j\nMAINTAINER Jane <j@x>',
    config: (c, img) => { assert.equal(c.Labels?.['a'], '1'); assert.equal(c.Labels?.['b c'], 'd e'); assert.equal(c.Labels?.['f'], 'g h'); assert.equal(c.Labels?.['i'], 'j'); assert.equal(img.Author, 'Jane <j@x>'); } },
  { what: 'EXPOSE: ports, protocols, ranges', df: 'FROM busybox\nEXPOSE 80 53/udp 8000-8001',
    config: (c) => assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['53/udp', '80/tcp', '8000/tcp', '8001/tcp']) },
  { what: 'VOLUME, JSON and plain', df: 'FROM busybox\nVOLUME ["/a", "/b"]\nVOLUME /c /d',
    config: (c) => assert.deepEqual(Object.keys(c.Volumes ?? {}).sort(), ['/a', '/b', '/c', '/d']) },
  { what: 'WORKDIR, relative to the previous one, created', df: 'FROM busybox\nWORKDIR /w\nWORKDIR x\nENV D=sub\nWORKDIR $D',
    config: (c) => assert.equal(c.WorkingDir, '/w/x/sub'), sh: ['pwd && test -d /w/x/sub && echo ok', '/w/x/sub\nok\n'] },
  { what: 'USER, STOPSIGNAL', df: 'FROM busybox\nUSER 1000:1000\nSTOPSIGNAL SIGUSR1',
    config: (c) => { assert.equal(c.User, '1000:1000'); assert.equal(c.StopSignal, 'SIGUSR1'); } },
  { what: 'HEALTHCHECK with options', df: 'FROM busybox\nHEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD true',
    config: (c) => assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Timeout: 2e9, StartPeriod: 1e9, Retries: 4 }) },
  { what: 'HEALTHCHECK NONE', df: 'FROM busybox\nHEALTHCHECK CMD true\nHEALTHCHECK NONE',
    config: (c) => assert.deepEqual(c.Healthcheck?.Test, ['NONE']) },
  { what: 'ONBUILD is recorded', df: 'FROM busybox\nONBUILD RUN echo triggered > /onbuild', tag: 'snip-onbuild',
    config: (c) => assert.deepEqual(c.OnBuild, ['RUN echo triggered > /onbuild']) },
  { what: 'ONBUILD triggers run in the child build, and are not inherited', df: 'FROM snip-onbuild\nRUN true',
    config: (c) => assert.ok(!c.OnBuild || c.OnBuild.length === 0), sh: ['cat /onbuild', 'triggered\n'] },
  { what: 'escape directive, line continuations, comments inside', df: '# escape=`\nFROM busybox\nRUN echo a `\n# a comment\n    b > /f',
    sh: ['cat /f', 'a b\n'] },
  { what: 'RUN heredoc', df: 'FROM busybox\nRUN <<EOF\necho one > /h\necho two >> /h\nEOF',
    sh: ['cat /h', 'one\ntwo\n'] },
  { what: 'COPY heredoc, expanded unless the delimiter is quoted', df: 'FROM busybox\nARG NAME=world\nCOPY <<EOF /h1\nhello ${NAME}\nEOF\nCOPY <<"EOF" /h2\nhello ${NAME}\nEOF',
    sh: ['cat /h1 /h2', 'hello world\nhello ${NAME}\n'] },
  { what: 'COPY --chown and --chmod', df: 'FROM busybox\nCOPY --chown=1:2 --chmod=600 a.txt /f',
    sh: ['stat -c "%u %g %a" /f', '1 2 600\n'] },
  { what: 'COPY of a directory copies its contents; dest with and without a slash', df: 'FROM busybox\nCOPY dir /dst/\nCOPY a.txt /file',
    sh: ['ls /dst && cat /file', 'keep.txt\nx.log\na\n'] },
  { what: 'COPY with a wildcard', df: 'FROM busybox\nCOPY *.txt /w/',
    sh: ['ls /w', 'a.txt\nb.txt\n'] },
  { what: 'COPY --exclude', df: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox\nCOPY --exclude=*.log dir /e/',
    sh: ['ls /e', 'keep.txt\n'] },
  { what: 'COPY --parents', df: '# syntax=docker/dockerfile:1.7-labs\nFROM busybox\nCOPY --parents p/q/*.txt /par/',
    sh: ['find /par -type f', '/par/p/q/deep.txt\n'] },
  { what: 'COPY --link', df: 'FROM busybox\nCOPY --link a.txt /linked',
    sh: ['cat /linked', 'a\n'] },
  { what: 'ADD of a local tar extracts it; ADD --chmod', df: 'FROM busybox\nADD arch.tar /x/\nADD --chmod=700 b.txt /b',
    sh: ['cat /x/inside.txt && stat -c %a /b', 'inside\n700\n'] },
  { what: 'multi-stage: COPY --from a stage, --target', df: 'FROM busybox AS one\nRUN echo from-one > /o\nFROM busybox AS two\nCOPY --from=one /o /o\nRUN echo two\nFROM busybox AS three\nRUN exit 1', args: ['--target', 'two'],
    sh: ['cat /o', 'from-one\n'] },
  { what: 'predefined proxy args: usable in RUN, kept out of the history', df: 'FROM busybox\nRUN echo "$HTTP_PROXY" > /p', args: ['--build-arg', 'HTTP_PROXY=http://proxy.example:3128'],
    config: (_c, img) => assert.ok(!img.History.some((h) => h.includes('proxy.example')), img.History.join(' | ')), sh: ['cat /p', 'http://proxy.example:3128\n'] },
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
      'FROM busybox AS a', `RUN timeout 60 nc -l -p ${port} > /got && test -s /got`,
      'FROM busybox AS b', `RUN for i in $(seq 100); do echo from-b | nc 127.0.0.1 ${port} && exit 0; sleep 0.2; done; exit 1`, 'RUN echo b > /b',
      'FROM busybox', 'COPY --from=a /got /got', 'COPY --from=b /b /b', 'CMD ["cat", "/got", "/b"]', ''].join('\n'));
    const b = d.barge(['build', '--network', 'host', '-t', 'par:1', ctx], { timeoutMs: 180_000 });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const r = d.barge(['run', '--rm', 'par:1']);
    assert.equal(r.stdout, 'from-b\nb\n');
  });
});

describe('Dockerfile snippets → image config and files', () => {
  let d: TestDaemon;
  let ctx: string;
  before(async () => {
    d = await startDaemon();
    ctx = path.join(d.dir, 'ctx');
    fs.mkdirSync(path.join(ctx, 'dir'), { recursive: true });
    fs.mkdirSync(path.join(ctx, 'p', 'q'), { recursive: true });
    fs.writeFileSync(path.join(ctx, 'a.txt'), 'a\n');
    fs.writeFileSync(path.join(ctx, 'b.txt'), 'b\n');
    fs.writeFileSync(path.join(ctx, 'dir', 'keep.txt'), 'k\n');
    fs.writeFileSync(path.join(ctx, 'dir', 'x.log'), 'log\n');
    fs.writeFileSync(path.join(ctx, 'p', 'q', 'deep.txt'), 'deep\n');
    fs.writeFileSync(path.join(ctx, 'arch.tar'), new TarWriter().add({ name: 'inside.txt', type: 'file', data: 'inside\n' }).finish());
  });
  after(async () => { await d?.cleanup(); });

  for (const row of ROWS) {
    test(row.what, () => {
      fs.writeFileSync(path.join(ctx, 'Dockerfile'), row.df + '\n');
      const b = d.barge(['build', '-q', ...(row.args ?? []), ...(row.tag ? ['-t', row.tag] : []), ctx], { timeoutMs: 120_000 });
      assert.equal(b.code, 0, `build failed: ${b.stderr}`);
      const id = b.stdout.trim();
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      if (row.config) {
        const i = d.barge(['image', 'inspect', id]);
        assert.equal(i.code, 0, i.stderr);
        const img = (JSON.parse(i.stdout) as { Config: Config; Author: string }[])[0]!;
        const h = d.barge(['history', '--no-trunc', '--format', '{{.CreatedBy}}', id]);
        row.config(img.Config, { Author: img.Author, History: h.stdout.split('\n') });
      }
      if (row.sh) {
        const r = d.barge(['run', '--rm', '--network', 'none', '--user', '0', '--entrypoint', 'sh', id, '-c', row.sh[0]], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        if (typeof row.sh[1] === 'string') assert.equal(r.stdout, row.sh[1]); else assert.match(r.stdout, row.sh[1]);
      }
    });
  }
});
