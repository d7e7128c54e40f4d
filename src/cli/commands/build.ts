// barge build: builds an image from a Dockerfile and a context (a directory, a tar on stdin, or a
// Dockerfile alone on stdin), through POST /build, and renders Docker's JSON progress messages.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';
import { fileEntry, tarHeader, tarPadding, TAR_END } from '../../lib/tarwriter.js';
import { IgnoreMatcher } from '../../build/dockerignore.js';
import { parseNormalizedNamed } from '../../image/reference.js';

interface BuildMessage { stream?: string; aux?: { ID?: string }; error?: string; errorDetail?: { code?: number; message?: string }; status?: string }

export default async function build(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] PATH | URL | -', description: 'Build an image from a Dockerfile', aliases: ['barge image build', 'barge build', 'barge builder build'], flags: [
    { name: 'add-host', type: 'list', description: 'Add a custom host-to-IP mapping ("host:ip")' },
    { name: 'build-arg', type: 'list', description: 'Set build-time variables' },
    { name: 'file', short: 'f', type: 'string', description: "Name of the Dockerfile (Default is 'PATH/Dockerfile')" },
    { name: 'force-rm', type: 'bool', description: 'Always remove intermediate containers' },
    { name: 'iidfile', type: 'string', description: 'Write the image ID to the file' },
    { name: 'label', type: 'list', description: 'Set metadata for an image' },
    { name: 'network', type: 'string', default: 'default', description: 'Set the networking mode for the RUN instructions during build' },
    { name: 'no-cache', type: 'bool', description: 'Do not use cache when building the image' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    { name: 'progress', type: 'string', default: 'auto', description: 'Set type of progress output ("auto", "plain", "tty")' },
    { name: 'pull', type: 'bool', description: 'Always attempt to pull a newer version of the image' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the build output and print image ID on success' },
    { name: 'rm', type: 'bool', default: true, description: 'Remove intermediate containers after a successful build' },
    { name: 'tag', short: 't', type: 'list', description: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'target', type: 'string', description: 'Set the target build stage to build.' },
  ] }, argv, { min: 1, max: 1 });
  const progress = flags.string('progress');
  if (!['auto', 'plain', 'tty', 'quiet'].includes(progress)) { cli.err(`invalid progress mode "${progress}": use auto, plain or tty\n`); return 125; }
  for (const t of flags.list('tag')) {
    try { parseNormalizedNamed(t); } catch (e) { cli.err(`invalid argument "${t}" for "-t, --tag" flag: ${(e as Error).message}\n`); return 125; }
  }
  const src = args[0]!;
  if (/^(https?:\/\/|git@|github\.com\/)/.test(src)) { cli.err('unable to prepare context: building from a URL or git repository is not supported by barge: clone or download it and build the directory\n'); return 1; }
  const file = flags.string('file');
  if (src === '-' && file === '-') { cli.err('invalid argument: can\'t use stdin for both build context and dockerfile\n'); return 1; }

  // The context and where the Dockerfile is in it.
  let body: NodeJS.ReadableStream;
  let dockerfileName = 'Dockerfile';
  let contextKey: string | undefined;
  let resync: (() => Promise<NodeJS.ReadableStream | undefined>) | undefined;
  if (src === '-') {
    body = process.stdin;
    if (file) dockerfileName = file;
  } else {
    let st: fs.Stats;
    try { st = fs.statSync(src); } catch { cli.err(`unable to prepare context: path "${src}" not found\n`); return 1; }
    if (!st.isDirectory()) { cli.err(`unable to prepare context: context must be a directory: ${path.resolve(src)}\n`); return 1; }
    const dir = path.resolve(src);
    let extra: { name: string; data: Buffer } | undefined;
    if (file === '-') {
      dockerfileName = `.dockerfile.${randomBytes(10).toString('hex')}`;
      extra = { name: dockerfileName, data: await readStdin() };
    } else if (file) {
      const abs = path.resolve(file);
      const rel = path.relative(dir, abs);
      if (!fs.existsSync(abs)) { cli.err(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory\n`); return 1; }
      if (rel.startsWith('..') || path.isAbsolute(rel)) {
        dockerfileName = `.dockerfile.${randomBytes(10).toString('hex')}`;
        extra = { name: dockerfileName, data: fs.readFileSync(abs) };
      } else dockerfileName = rel.split(path.sep).join('/');
    } else if (!fs.existsSync(path.join(dir, 'Dockerfile'))) {
      cli.err(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${path.join(dir, 'Dockerfile')}: no such file or directory\n`);
      return 1;
    }
    const ignoreFile = [path.join(dir, `${dockerfileName}.dockerignore`), path.join(dir, '.dockerignore')].find((f) => fs.existsSync(f));
    const ignore = IgnoreMatcher.fromText(ignoreFile ? fs.readFileSync(ignoreFile, 'utf8') : '');
    // The Dockerfile and .dockerignore always go (the daemon needs them; it drops them if ignored).
    const keep = new Set([dockerfileName, '.dockerignore', `${dockerfileName}.dockerignore`]);
    // To barged, only what changed since the last build of this directory (synccontext.ts); the
    // whole context as a tar otherwise (a Dockerfile from elsewhere, or a daemon without the endpoint).
    const synced = extra ? undefined : await syncPlan(cli, dir, ignore, keep);
    if (synced) {
      body = Readable.from(syncTar(dir, synced.manifest, synced.need));
      contextKey = synced.key;
      // Another build of the directory synced a newer state between our two steps: plan again.
      resync = async () => { const p = await syncPlan(cli, dir, ignore, keep); return p && Readable.from(syncTar(dir, p.manifest, p.need)); };
    } else body = Readable.from(packContext(dir, ignore, keep, extra));
  }

  const buildArgs: Record<string, string | null> = {};
  for (const a of flags.list('build-arg')) {
    const eq = a.indexOf('=');
    if (eq < 0) buildArgs[a] = process.env[a] ?? null;
    else buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
  }
  const labels: Record<string, string> = {};
  for (const l of flags.list('label')) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  const q = new URLSearchParams();
  for (const t of flags.list('tag')) q.append('t', t);
  q.set('dockerfile', dockerfileName);
  if (Object.keys(buildArgs).length) q.set('buildargs', JSON.stringify(buildArgs));
  if (Object.keys(labels).length) q.set('labels', JSON.stringify(labels));
  if (flags.string('target')) q.set('target', flags.string('target'));
  if (flags.bool('no-cache')) q.set('nocache', '1');
  if (flags.bool('pull')) q.set('pull', '1');
  if (flags.bool('quiet')) q.set('q', '1');
  q.set('rm', flags.bool('rm') ? '1' : '0');
  if (flags.bool('force-rm')) q.set('forcerm', '1');
  if (flags.string('network') !== 'default') q.set('networkmode', flags.string('network'));
  if (flags.list('add-host').length) q.set('extrahosts', flags.list('add-host').join(','));
  if (flags.string('platform')) q.set('platform', flags.string('platform'));
  if (contextKey) q.set('bargecontext', contextKey);

  let res;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await cli.client.raw('POST', `/build?${q.toString()}`, { body, headers: { 'Content-Type': 'application/x-tar' } });
      break;
    } catch (e) {
      const again = resync && attempt < 3 && (e as { status?: number }).status === 400 && /invalid synced context: .* was not sent/.test((e as Error).message) ? await resync() : undefined;
      if (!again) throw e;
      body = again;
    }
  }
  const tty = progress === 'tty' || (progress === 'auto' && !!process.stdout.isTTY);
  const display = new Display(cli, tty && !flags.bool('quiet'));
  let id = '';
  let quietId = '';
  for await (const m of jsonLines<BuildMessage>(res)) {
    if (m.errorDetail || m.error) {
      display.finish();
      cli.err(`${m.errorDetail?.message ?? m.error}\n`);
      return m.errorDetail?.code || 1;
    }
    if (m.aux?.ID) { id = m.aux.ID; continue; }
    if (m.stream) {
      if (flags.bool('quiet')) { if (/^sha256:/.test(m.stream.trim())) quietId = m.stream.trim(); continue; }
      display.write(m.stream);
    }
  }
  display.finish();
  if (flags.bool('quiet')) cli.out(`${quietId || id}\n`);
  if (flags.string('iidfile')) {
    if (!id) { cli.err('server did not provide an image ID. Cannot write iidfile\n'); return 1; }
    fs.writeFileSync(flags.string('iidfile'), id);
  }
  return 0;
}

/**
 * Plain output writes the daemon's text as it comes. In a terminal, a step's output is shown dimmed
 * under its step line and each step ends with its result (CACHED, or the image ID and the time taken).
 */
class Display {
  private stepStart = 0;
  private partial = '';
  constructor(private readonly cli: Cli, private readonly tty: boolean) {}

  write(text: string): void {
    if (!this.tty) { this.cli.out(text); return; }
    this.partial += text;
    const lines = this.partial.split('\n');
    this.partial = lines.pop()!;
    for (const l of lines) this.line(l);
  }

  private line(l: string): void {
    const step = /^Step (\d+\/\d+) : (.*)$/.exec(l);
    if (step) {
      this.stepStart = Date.now();
      this.cli.out(`\x1b[1m[${step[1]}]\x1b[0m ${step[2]}\n`);
      return;
    }
    if (l === ' ---> Using cache') { this.cli.out('  \x1b[36mCACHED\x1b[0m\n'); return; }
    const res = /^ ---> ([0-9a-f]{12})$/.exec(l);
    if (res) { this.cli.out(`  \x1b[32m=> ${res[1]}\x1b[0m \x1b[2m${((Date.now() - this.stepStart) / 1000).toFixed(1)}s\x1b[0m\n`); return; }
    if (/^ ---> Running in |^Removing intermediate container /.test(l)) return;
    if (/^Successfully (built|tagged) /.test(l)) { this.cli.out(`\x1b[1m${l}\x1b[0m\n`); return; }
    this.cli.out(`  \x1b[2m${l}\x1b[0m\n`);
  }

  finish(): void {
    if (this.partial) { const p = this.partial; this.partial = ''; if (this.tty) this.line(p); }
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The entries of the context directory that go to the daemon: not what .dockerignore excludes. */
function* contextEntries(dir: string, ignore: IgnoreMatcher, keep: Set<string>, rel = ''): Generator<{ rel: string; st: fs.Stats }> {
  const abs = rel ? path.join(dir, rel) : dir;
  for (const name of fs.readdirSync(abs).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(path.join(dir, r));
    const excluded = !keep.has(r) && ignore.excluded(r);
    if (excluded && !(st.isDirectory() && ignore.mayIncludeBelow(r))) continue;
    if (!excluded) yield { rel: r, st };
    if (st.isDirectory()) yield* contextEntries(dir, ignore, keep, r);
  }
}

// The name src/build/synccontext.ts expects (not imported: that module would bring tar-stream into the CLI).
const MANIFEST_NAME = '.barge-context-manifest.json';

/**
 * Step 1 of a synced context: the manifest of the directory and the files barged asks for; undefined
 * when the daemon does not sync contexts (the whole tar goes then).
 */
async function syncPlan(cli: Cli, dir: string, ignore: IgnoreMatcher, keep: Set<string>): Promise<{ key: string; manifest: Buffer; need: Set<string> } | undefined> {
  const entries: object[] = [];
  const dirs = new Set<string>();
  const entry = (rel: string, st: fs.Stats, t: string) => {
    // An excluded directory with an included file below it (!logs/keep.log) is there all the same.
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (parent && !dirs.has(parent)) entry(parent, fs.lstatSync(path.join(dir, parent)), 'd');
    if (t === 'd') dirs.add(rel);
    entries.push({ p: rel, t, m: st.mode & 0o7777, u: st.uid, g: st.gid, s: t === 'f' ? st.size : 0, mt: st.mtimeMs, ct: st.ctimeMs, i: st.ino, ...(t === 'l' ? { l: fs.readlinkSync(path.join(dir, rel)) } : {}) });
  };
  for (const { rel, st } of contextEntries(dir, ignore, keep)) {
    const t = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : undefined;
    if (t) entry(rel, st, t);   // devices, FIFOs, sockets: not sent (nor by packContext)
  }
  // Keyed by this host and directory, hashed: the daemon never sees or uses the path.
  const key = createHash('sha256').update(`${os.hostname()}\0${dir}`).digest('hex');
  const manifest = Buffer.from(JSON.stringify({ entries }));
  try {
    const r = await cli.client.raw('POST', `/build/context?key=${key}`, { body: manifest, headers: { 'Content-Type': 'application/json' } });
    const chunks: Buffer[] = [];
    for await (const c of r) chunks.push(c as Buffer);
    const need = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { need: string[] }).need;
    return { key, manifest, need: new Set(need) };
  } catch (e) {
    if ((e as { status?: number }).status === 404) return undefined;
    throw e;
  }
}

/** Step 2: the manifest, then the files asked for. */
async function* syncTar(dir: string, manifest: Buffer, need: Set<string>): AsyncGenerator<Buffer> {
  yield tarHeader({ name: MANIFEST_NAME, type: 'file', mode: 0o600 }, manifest.length);
  yield manifest;
  yield tarPadding(manifest.length);
  for (const rel of [...need].sort()) {
    const fd = fs.openSync(path.join(dir, rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      yield* fileEntry({ name: rel, mode: 0o644 }, fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  yield TAR_END;
}

/** The context directory as a tar, without what .dockerignore excludes (symlinks are not followed). */
async function* packContext(dir: string, ignore: IgnoreMatcher, keep: Set<string>, extra?: { name: string; data: Buffer }): AsyncGenerator<Buffer> {
  if (extra) {
    yield tarHeader({ name: extra.name, type: 'file', mode: 0o600, mtime: Math.floor(Date.now() / 1000) }, extra.data.length);
    yield extra.data;
    yield tarPadding(extra.data.length);
  }
  for (const { rel, st } of contextEntries(dir, ignore, keep)) {
    const base = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) yield tarHeader({ ...base, type: 'dir' }, 0);
    else if (st.isSymbolicLink()) yield tarHeader({ ...base, type: 'symlink', linkname: fs.readlinkSync(path.join(dir, rel)) }, 0);
    else if (st.isFile()) {
      const fd = fs.openSync(path.join(dir, rel), 'r');
      try {
        yield* fileEntry(base, fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  yield TAR_END;
}
