// The builder: runs a parsed Dockerfile against the engine, as Docker's classic builder does, and
// reports progress as Docker's JSON messages ("Step 1/7 : FROM busybox", " ---> Using cache", ...).
//
// Model
//  - A Dockerfile is *global ARGs* (before the first FROM, usable in FROM lines only) and *stages*
//    (FROM ... [AS name] and the instructions up to the next FROM). The *target* stage (--target, or
//    the last one) and the stages it needs (FROM <stage>, COPY --from=<stage>) are built, in order;
//    the others are skipped.
//  - A stage's *state* is its current image (null for FROM scratch until a layer exists), that image's
//    config being edited, the ARGs in scope, and the shell. Every instruction after FROM is a *step*
//    that produces a new image from the current one:
//      RUN          runs the command in a real container (ContainerService) on the current image and
//                   commits its writable layer (ImageService.commit);
//      COPY / ADD   write the sources into a private writable layer over the current image (no
//                   container runs) and commit it;
//      WORKDIR      creates the directory the same way (an empty diff gives an empty layer);
//      the rest     (ENV, CMD, LABEL, ARG...) only change the config: a config-only image
//                   (ImageService.commitConfig, an "empty_layer" history entry).
//  - Before a step runs, its *cache key* (parent image ID + the instruction after substitution + the
//    ARGs in scope + for COPY/ADD the checksum of the sources) is looked up in the BuildCache; a hit
//    reuses the image ("---> Using cache") and the step does not run.
// Failure leaves nothing behind: the step's container or writable layer is removed before the error
// is reported ("The command '/bin/sh -c false' returned a non-zero code: 1").
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { BargeError, invalid, messageOf, notFound } from '../lib/errors.js';
import { log } from '../lib/log.js';
import { signalNumber } from '../lib/signals.js';
import type { ImageService } from '../image/service.js';
import type { ContainerService } from '../container/service.js';
import type { ContainerDefaults } from '../image/oci.js';
import { hostPlatform } from '../image/oci.js';
import { applyChanges } from '../image/changes.js';
import { familiarString, parseTagTarget } from '../image/reference.js';
import { readLogs } from '../container/logs.js';
import { parseDockerfile, parseFlags, splitKeyValues, type Instruction } from './parser.js';
import { ShellLex, type Env } from './shellwords.js';
import type { BuildCache } from './cache.js';
import { collectSources, destPath, hashSources, type BuildContext, type SourceSet } from './context.js';
import { collectParents, download, mkdirAllInRoot, parseChmod, resolveOwner, writeSources } from './copy.js';

export interface BuildOptions {
  /** The Dockerfile's path in the context. */
  dockerfile: string;
  tags: string[];
  /** --build-arg: null means "take it from the client's environment" and was resolved there. */
  buildArgs: Record<string, string | null>;
  target?: string;
  noCache: boolean;
  /** Only the image ID is reported. */
  quiet: boolean;
  labels: Record<string, string>;
  /** RUN's network: bridge (default), none, host. */
  networkMode: string;
  extraHosts: string[];
  platform?: string;
  /** Aborted when the client goes away: the build stops (a running step's container is killed). */
  signal?: AbortSignal;
}

/** Docker's JSON message (jsonmessage.JSONMessage), the subset a build sends. */
export interface BuildMessage {
  stream?: string;
  aux?: { ID: string };
  error?: string;
  errorDetail?: { code?: number; message: string };
}

export interface BuilderDeps {
  images: ImageService;
  containers: ContainerService;
  cache: BuildCache;
  /** Private scratch space (contexts, downloads). */
  tmpRoot: string;
}

/** Args every build knows without an ARG: proxies (never in history or cache keys). */
const PROXY_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const EMPTY_BASE_TIME = '1970-01-01T00:00:00Z';
/** The label of RUN steps' containers, and the key prefix of builds' private layers (see recover). */
export const BUILD_LABEL = 'barge.build.step';
export const BUILD_LAYER_PREFIX = 'build-';

interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  /** FROM's image after substitution of the global ARGs. */
  base: string;
  platform?: string;
  instructions: Instruction[];
}

interface StageState {
  imageId: string | null;
  config: ContainerDefaults;
  /** ARGs declared in this stage, with their values (undefined: declared without a value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  /** MAINTAINER: the author of the images the stage makes from then on. */
  author?: string;
  /** The number of the step under way ("Step n/N"). */
  step: number;
  /** The stage's output (held back while an earlier stage is still building). */
  out: (s: string) => void;
}

export class BuildError extends BargeError {
  constructor(message: string, readonly code?: number) {
    super('invalid', message);
  }
}

export class Builder {
  constructor(private readonly d: BuilderDeps) {}

  /** Builds; `emit` gets the progress messages. Returns the final image ID. */
  async build(ctx: BuildContext, o: BuildOptions, emit: (m: BuildMessage) => void): Promise<string> {
    const run = new BuildRun(this.d, ctx, o, emit);
    try {
      return await run.run();
    } finally {
      this.d.cache.flush();
    }
  }
}

class BuildRun {
  private readonly lex: ShellLex;
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  private readonly stageImages = new Map<number, string | null>();
  private totalSteps = 0;
  private readonly out: (s: string) => void;
  private readonly host = hostPlatform();
  private readonly dockerfile: ReturnType<typeof parseDockerfile>;

  constructor(private readonly d: BuilderDeps, private readonly ctx: BuildContext, private readonly o: BuildOptions, private readonly emit: (m: BuildMessage) => void) {
    const df = parseDockerfile(ctx.dockerfile);
    this.dockerfile = df;
    this.lex = new ShellLex(df.directives.escape);
    this.out = (s) => { if (!o.quiet) emit({ stream: s }); };
  }

  async run(): Promise<string> {
    const df = this.dockerfile;
    for (const t of this.o.tags) parseTagTarget(t); // a bad tag fails now, not after the build
    if (this.o.platform && !this.platformOk(this.o.platform)) {
      throw invalid(`platform ${this.o.platform} is not supported: barge builds for the host's platform (${this.host.os}/${this.host.architecture}) only`);
    }
    for (const w of df.warnings) this.out(`[WARNING]: ${w}\n`);
    const stages = this.stages(df.instructions);
    const target = this.targetStage(stages);
    const needed = this.neededStages(stages, target);
    const order = stages.filter((s) => needed.has(s.index));
    this.totalSteps = order.reduce((n, s) => n + 1 + s.instructions.length, 0) + (Object.keys(this.o.labels).length ? 1 : 0);
    // Stages run as soon as the stages they need are built, so independent stages build in parallel.
    // Their output is shown in stage order: a stage's lines are held back until the stages before it
    // are done, then streamed live.
    const chans = order.map(() => ({ buf: [] as string[], live: false, done: false }));
    const advance = () => {
      for (const c of chans) {
        if (!c.live) {
          c.live = true;
          for (const t of c.buf.splice(0)) this.out(t);
        }
        if (!c.done) break;
      }
    };
    advance();
    const promises = new Map<number, Promise<string | null>>();
    let firstStep = 1;
    for (const [i, s] of order.entries()) {
      const c = chans[i]!;
      const out = (t: string) => { if (c.live) this.out(t); else c.buf.push(t); };
      const deps = this.stageDeps(stages, s).map((d) => promises.get(d.index)!);
      const start = firstStep;
      const p = Promise.all(deps).then(() => this.buildStage(s, stages, s === target, start, out));
      promises.set(s.index, p.finally(() => { c.done = true; advance(); }));
      firstStep += 1 + s.instructions.length;
    }
    const settled = await Promise.allSettled([...promises.values()]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    let last = (settled[settled.length - 1] as PromiseFulfilledResult<string | null>).value;
    if (last === null) last = (await this.emptyBase());
    const unused = Object.keys(this.o.buildArgs).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.has(k));
    if (unused.length) this.out(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    const img = this.d.images.get(last)!;
    this.emit({ aux: { ID: img.id } });
    if (this.o.quiet) this.emit({ stream: `${img.id}\n` });
    this.out(`Successfully built ${img.id.slice(7, 19)}\n`);
    for (const t of this.o.tags) {
      this.d.images.tag(img.id, t);
      this.out(`Successfully tagged ${familiarString(parseTagTarget(t))}\n`);
    }
    return img.id;
  }

  // ---- planning ----

  private stages(instructions: Instruction[]): Stage[] {
    const stages: Stage[] = [];
    for (const [k, v] of Object.entries(this.autoArgs())) this.globalArgs.set(k, v);
    let cur: Stage | undefined;
    for (const ins of instructions) {
      if (ins.cmd === 'from') {
        const fl = parseFlags(ins, { platform: 'string' });
        const words = this.lex.processWords(ins.rest, this.globalEnv());
        if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === 'as')) {
          throw invalid(`FROM requires either one or three arguments`);
        }
        const name = words[2]?.toLowerCase();
        if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw invalid(`invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
        if (name && stages.some((s) => s.name === name)) throw invalid(`duplicate name ${name}`);
        const platform = fl.get('platform') as string | undefined;
        cur = { index: stages.length, name, from: ins, base: words[0]!, platform: platform ? this.lex.processWord(platform, this.globalEnv()) : undefined, instructions: [] };
        stages.push(cur);
        continue;
      }
      if (!cur) {
        if (ins.cmd !== 'arg') throw invalid(`no build stage in current context`);
        for (const { key, value } of splitKeyValues(ins.rest, this.dockerfile.directives.escape, false, 'ARG')) {
          const v = value === undefined ? undefined : this.lex.processWord(value, this.globalEnv());
          const given = this.o.buildArgs[key];
          this.globalArgs.set(key, given !== undefined && given !== null ? given : v);
          if (given !== undefined) this.usedArgs.add(key);
        }
        continue;
      }
      cur.instructions.push(ins);
    }
    if (stages.length === 0) throw invalid('file with no instructions');
    return stages;
  }

  /** BuildKit's automatic platform args (the host's: barge builds for the host only). */
  private autoArgs(): Record<string, string> {
    const p = `${this.host.os}/${this.host.architecture}${this.host.variant ? '/' + this.host.variant : ''}`;
    return {
      BUILDPLATFORM: p, BUILDOS: this.host.os, BUILDARCH: this.host.architecture, BUILDVARIANT: this.host.variant ?? '',
      TARGETPLATFORM: p, TARGETOS: this.host.os, TARGETARCH: this.host.architecture, TARGETVARIANT: this.host.variant ?? '',
    };
  }

  private globalEnv(): Env {
    return (n) => this.globalArgs.get(n);
  }

  private targetStage(stages: Stage[]): Stage {
    if (!this.o.target) return stages[stages.length - 1]!;
    const t = stages.find((s) => s.name === this.o.target!.toLowerCase());
    if (!t) throw invalid(`failed to reach build target ${this.o.target} in Dockerfile`);
    return t;
  }

  private stageRef(stages: Stage[], ref: string, before: number): Stage | undefined {
    const lower = ref.toLowerCase();
    const byName = stages.find((s) => s.name === lower && s.index < before);
    if (byName) return byName;
    if (/^\d+$/.test(ref)) {
      const n = Number(ref);
      if (n < before) return stages[n];
      throw invalid(`invalid from flag value ${ref}: refers to current or future build stage`);
    }
    return undefined;
  }

  /** The stages a stage needs: its FROM, and its COPY --from sources. */
  private stageDeps(stages: Stage[], s: Stage): Stage[] {
    const deps: Stage[] = [];
    const dep = this.stageRef(stages, s.base, s.index);
    if (dep) deps.push(dep);
    for (const ins of s.instructions) {
      if (ins.cmd !== 'copy') continue;
      const from = ins.flags.find((f) => f.startsWith('from='));
      if (!from) continue;
      const v = this.lex.processWord(from.slice(5).replace(/^(["'])(.*)\1$/, '$2'), this.globalEnv());
      const st = this.stageRef(stages, v, s.index);
      if (st && !deps.includes(st)) deps.push(st);
    }
    return deps;
  }

  private neededStages(stages: Stage[], target: Stage): Set<number> {
    const need = new Set<number>();
    const visit = (s: Stage) => {
      if (need.has(s.index)) return;
      need.add(s.index);
      for (const d of this.stageDeps(stages, s)) visit(d);
    };
    visit(target);
    return need;
  }

  // ---- stages ----

  private async buildStage(stage: Stage, stages: Stage[], isTarget: boolean, firstStep: number, out: (s: string) => void): Promise<string | null> {
    const st: StageState = { imageId: null, config: {}, args: new Map(), cmdSet: false, step: firstStep - 1, out };
    this.header(st, stage.from);
    if (stage.platform && !this.platformOk(stage.platform)) {
      throw invalid(`platform ${stage.platform} is not supported: barge builds for the host's platform (${this.host.os}/${this.host.architecture}) only`);
    }
    if (stage.base.toLowerCase() !== 'scratch') {
      const dep = this.stageRef(stages, stage.base, stage.index);
      let id: string | null;
      if (dep) id = this.stageImages.get(dep.index) ?? null;
      else {
        try { id = this.d.images.resolve(stage.base).id; } catch (e) {
          if (e instanceof BargeError && e.kind === 'notFound') {
            throw notFound(`pull access denied for ${stage.base}, repository does not exist or may require 'docker login': the image is not in barge's image store (load or import it, or build it first)`);
          }
          throw e;
        }
      }
      st.imageId = id;
      if (id) {
        const base = this.d.images.get(id)!.config;
        st.config = structuredClone(base.config ?? {});
        // The base's author carries over (BuildKit's whole image does) until a MAINTAINER of this stage.
        if (base.author) st.author = base.author;
      }
      st.out(` ---> ${id ? id.slice(7, 19) : ''}\n`);
    } else {
      st.out(' ---> \n');
    }
    // ONBUILD triggers of the base image run first.
    const triggers = st.config.OnBuild ?? [];
    if (triggers.length) {
      st.out(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      st.config.OnBuild = null;
      for (const t of triggers) {
        const parsed = parseDockerfile(t).instructions[0];
        if (!parsed) continue;
        await this.instruction(parsed, st, stages, stage);
      }
    }
    for (const ins of stage.instructions) {
      this.header(st, ins);
      await this.instruction(ins, st, stages, stage);
    }
    if (isTarget && Object.keys(this.o.labels).length) {
      const labels = Object.entries(this.o.labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
      this.header(st, { original: `LABEL ${labels}` } as Instruction);
      await this.configStep(st, `LABEL ${labels}`, (c) => { c.Labels = { ...(c.Labels ?? {}), ...this.o.labels }; });
    }
    this.stageImages.set(stage.index, st.imageId);
    return st.imageId;
  }

  private platformOk(p: string): boolean {
    const [os, arch, variant] = p.split('/');
    return os === this.host.os && (arch === undefined || arch === this.host.architecture) && (variant === undefined || variant === (this.host.variant ?? variant));
  }

  private header(st: StageState, ins: Instruction): void {
    if (this.o.signal?.aborted) throw invalid('the build was cancelled');
    st.step++;
    const text = ins.original.split('\n')[0];
    st.out(`Step ${st.step}/${this.totalSteps} : ${text}\n`);
  }

  /** The variables an instruction's arguments see: the stage's ARGs, overridden by its ENV. */
  private stageEnv(st: StageState): Env {
    const env = new Map<string, string>();
    for (const [k, v] of st.args) if (v !== undefined) env.set(k, v);
    for (const kv of st.config.Env ?? []) {
      const eq = kv.indexOf('=');
      if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    return (n) => env.get(n);
  }

  private word(s: string, st: StageState): string {
    return this.lex.processWord(s, this.stageEnv(st));
  }

  private async instruction(ins: Instruction, st: StageState, stages: Stage[], stage: Stage): Promise<void> {
    const esc = this.dockerfile.directives.escape;
    const rest = ins.rest;
    const noArgs = () => { if (!rest.trim() && !ins.heredocs.length) throw invalid(`${ins.keyword.toUpperCase()} requires at least one argument`); };
    switch (ins.cmd) {
      case 'run': return this.runStep(ins, st);
      case 'copy':
      case 'add': return this.copyStep(ins, st, stages, stage);
      case 'workdir': {
        noArgs();
        const p = this.word(rest.trim(), st);
        const wd = path.posix.resolve(st.config.WorkingDir || '/', p);
        const user = st.config.User;
        return this.layerStep(st, `WORKDIR ${wd}`, `#(nop) WORKDIR ${wd}`, (c) => { c.WorkingDir = wd; }, async (root) => {
          // The directories it creates belong to the current USER (as with BuildKit), so that a
          // `USER app` + `WORKDIR /home/app` stage can write there.
          let owner: { uid: number; gid: number } | undefined;
          if (user) {
            try { owner = resolveOwner(root, user); } catch (e) {
              st.out(`[WARNING]: WORKDIR ${wd}: created as root: ${messageOf(e)}\n`);
            }
          }
          mkdirAllInRoot(root, wd, owner ?? { uid: 0, gid: 0 }, `WORKDIR ${wd}`);
        });
      }
      case 'env': {
        noArgs();
        const env = this.stageEnv(st);
        const pairs = splitKeyValues(rest, esc, true, 'ENV').map(({ key, value }) => [this.lex.processWord(key, env), this.lex.processWord(value ?? '', env)] as const);
        const text = pairs.map(([k, v]) => `${k}=${v}`).join(' ');
        return this.configStep(st, `ENV ${text}`, (c) => {
          const e = [...(c.Env ?? [])];
          for (const [k, v] of pairs) {
            const i = e.findIndex((x) => x.startsWith(k + '='));
            if (i >= 0) e[i] = `${k}=${v}`; else e.push(`${k}=${v}`);
          }
          c.Env = e;
        });
      }
      case 'label': {
        noArgs();
        const env = this.stageEnv(st);
        const pairs = splitKeyValues(rest, esc, true, 'LABEL').map(({ key, value }) => [this.lex.processWord(key, env), this.lex.processWord(value ?? '', env)] as const);
        return this.configStep(st, `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, (c) => {
          c.Labels = { ...(c.Labels ?? {}) };
          for (const [k, v] of pairs) c.Labels[k] = v;
        });
      }
      case 'maintainer': {
        noArgs();
        const who = rest.trim();
        st.author = who;
        return this.configStep(st, `MAINTAINER ${who}`, () => undefined);
      }
      case 'arg': {
        noArgs();
        const env = this.stageEnv(st);
        const decl = splitKeyValues(rest, esc, false, 'ARG').map(({ key, value }) => {
          const given = this.o.buildArgs[key];
          if (given !== undefined) this.usedArgs.add(key);
          let v: string | undefined = value === undefined ? undefined : this.lex.processWord(value, env);
          if (v === undefined && this.globalArgs.has(key)) v = this.globalArgs.get(key);
          if (given !== undefined && given !== null) v = given;
          return [key, v] as const;
        });
        for (const [k, v] of decl) st.args.set(k, v);
        return this.configStep(st, `ARG ${decl.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join(' ')}`, () => undefined);
      }
      case 'cmd': {
        const cmd = ins.json ?? [...this.shell(st), rest];
        st.cmdSet = true;
        // BuildKit marks every CMD so (the classic builder only on Windows); runtimes on Linux ignore it.
        return this.configStep(st, `CMD ${JSON.stringify(cmd)}`, (c) => { c.Cmd = cmd; c.ArgsEscaped = true; });
      }
      case 'entrypoint': {
        const ep = ins.json ?? (rest.trim() ? [...this.shell(st), rest] : null);
        const resetCmd = !st.cmdSet;
        return this.configStep(st, `ENTRYPOINT ${JSON.stringify(ep)}`, (c) => { c.Entrypoint = ep; if (resetCmd) c.Cmd = null; });
      }
      case 'expose': {
        noArgs();
        const ports = this.lex.processWords(rest, this.stageEnv(st));
        const next = applyChanges({}, [`EXPOSE ${ports.join(' ')}`]).ExposedPorts ?? {};
        return this.configStep(st, `EXPOSE ${Object.keys(next).join(' ')}`, (c) => { c.ExposedPorts = { ...(c.ExposedPorts ?? {}), ...next }; });
      }
      case 'volume': {
        noArgs();
        const venv = this.stageEnv(st);
        const vols = ins.json ? ins.json.map((w) => this.lex.processWord(w, venv)) : this.lex.processWords(rest, venv);
        for (const v of vols) if (!v.trim()) throw invalid('VOLUME specified can not be an empty string');
        return this.configStep(st, `VOLUME ${JSON.stringify(vols)}`, (c) => {
          c.Volumes = { ...(c.Volumes ?? {}) };
          for (const v of vols) c.Volumes[v] = {};
        });
      }
      case 'user': {
        noArgs();
        const u = this.word(rest.trim(), st);
        return this.configStep(st, `USER ${u}`, (c) => { c.User = u; });
      }
      case 'stopsignal': {
        noArgs();
        const sig = this.word(rest.trim(), st);
        signalNumber(sig); // a name or number the engine knows, as Docker checks ("Invalid signal: SIGFOO")
        return this.configStep(st, `STOPSIGNAL ${sig}`, (c) => { c.StopSignal = sig; });
      }
      case 'healthcheck': {
        noArgs();
        const line = [...ins.flags.map((f) => `--${f}`), rest].join(' ');
        const hc = applyChanges({}, [`HEALTHCHECK ${line}`]).Healthcheck;
        return this.configStep(st, `HEALTHCHECK ${JSON.stringify(hc)}`, (c) => { c.Healthcheck = hc; });
      }
      case 'shell': {
        if (!ins.json || ins.json.length === 0) throw invalid('SHELL requires the arguments to be in JSON form');
        const sh = ins.json;
        return this.configStep(st, `SHELL ${JSON.stringify(sh)}`, (c) => { c.Shell = sh; });
      }
      case 'onbuild': {
        noArgs();
        const inner = rest.trim();
        const kw = inner.split(/\s+/)[0]!.toUpperCase();
        if (kw === 'ONBUILD') throw invalid('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
        if (kw === 'FROM' || kw === 'MAINTAINER') throw invalid(`${kw} isn't allowed as an ONBUILD trigger`);
        return this.configStep(st, `ONBUILD ${inner}`, (c) => { c.OnBuild = [...(c.OnBuild ?? []), inner]; });
      }
      case 'from':
        throw invalid('FROM inside a stage');
      default:
        throw invalid(`unknown instruction: ${ins.keyword}`);
    }
  }

  private shell(st: StageState): string[] {
    return st.config.Shell?.length ? st.config.Shell : DEFAULT_SHELL;
  }

  /** ARGs in scope with a value, as KEY=VALUE (RUN's environment and the cache key). */
  private argsInScope(st: StageState): string[] {
    const out: string[] = [];
    for (const [k, v] of st.args) if (v !== undefined) out.push(`${k}=${v}`);
    return out.sort();
  }

  private key(st: StageState, what: string, extra = ''): string {
    // SOURCE_DATE_EPOCH changes every result's times: a step made with another (or none) is no match.
    const epoch = this.o.buildArgs['SOURCE_DATE_EPOCH'] ?? null;
    return 'sha256:' + createHash('sha256').update(JSON.stringify([st.imageId ?? 'scratch', what, this.argsInScope(st), extra, ...(epoch !== null ? [epoch] : [])])).digest('hex');
  }

  private cached(key: string): string | undefined {
    if (this.o.noCache) return undefined;
    return this.d.cache.get(key, (id) => this.d.images.get(id) !== undefined);
  }

  private useImage(st: StageState, id: string, cached: boolean): void {
    if (cached) st.out(' ---> Using cache\n');
    st.imageId = id;
    st.config = structuredClone(this.d.images.get(id)!.config.config ?? {});
    st.out(` ---> ${id.slice(7, 19)}\n`);
  }

  /** A step that only edits the config. */
  private async configStep(st: StageState, what: string, edit: (c: ContainerDefaults) => void): Promise<void> {
    const key = this.key(st, what);
    const hit = this.cached(key);
    if (hit) return this.useImage(st, hit, true);
    const config = structuredClone(st.config);
    edit(config);
    const img = await this.d.images.commitConfig(st.imageId, { config, createdBy: `/bin/sh -c #(nop) ${what}`, ...(st.author ? { author: st.author } : {}), ...this.reproducible() });
    this.d.cache.set(key, img.id);
    this.useImage(st, img.id, false);
  }

  /**
   * With the SOURCE_DATE_EPOCH build arg (as BuildKit reads it): images dated then, and no file in a
   * layer later than then, so that the same inputs give the same layers.
   */
  private reproducible(): { created?: string; clampMtime?: number } {
    const v = this.o.buildArgs['SOURCE_DATE_EPOCH'];
    if (v === undefined || v === null) return {};
    if (!/^\d{1,12}$/.test(v)) throw invalid(`invalid SOURCE_DATE_EPOCH ${JSON.stringify(v)}: want seconds since the epoch`);
    const t = Number(v);
    this.usedArgs.add('SOURCE_DATE_EPOCH');
    return { created: new Date(t * 1000).toISOString().replace('.000Z', 'Z'), clampMtime: t };
  }

  /** The image to stack a layer on: the current one, or an empty base for FROM scratch. */
  private async emptyBase(): Promise<string> {
    const img = await this.d.images.commitConfig(null, { config: {}, noHistory: true, created: EMPTY_BASE_TIME });
    return img.id;
  }

  /**
   * A step that writes files: `fill` gets the merged root filesystem of a private writable layer over
   * the current image; the layer is committed (with `edit` applied to the config) and removed.
   */
  private async layerStep(st: StageState, what: string, createdBy: string, edit: (c: ContainerDefaults) => void, fill: (root: string) => Promise<void>, extra = ''): Promise<void> {
    const key = this.key(st, what, extra);
    const hit = this.cached(key);
    if (hit) return this.useImage(st, hit, true);
    const parent = st.imageId ?? await this.emptyBase();
    const sk = `${BUILD_LAYER_PREFIX}${randomBytes(16).toString('hex')}`;
    const images = this.d.images;
    images.prepareLayer(sk, parent);
    try {
      await images.withRootfs(sk, undefined, fill);
      const config = structuredClone(st.config);
      edit(config);
      const img = await images.commit(sk, { imageId: parent, config, createdBy: `/bin/sh -c ${createdBy}`, ...(st.author ? { author: st.author } : {}), ...this.reproducible() });
      this.d.cache.set(key, img.id);
      this.useImage(st, img.id, false);
    } finally {
      await images.removeRootfs(sk).catch((e) => log.warn('build layer not removed', { key: sk, err: messageOf(e) }));
    }
  }

  // ---- RUN ----

  private async runStep(ins: Instruction, st: StageState): Promise<void> {
    const fl = parseFlags(ins, { network: 'string', mount: 'list', security: 'string' });
    if (fl.has('mount')) throw invalid(`RUN --mount is not supported by barge's builder yet: copy what the step needs with COPY instead (line ${ins.startLine})`);
    if (fl.has('security') && fl.get('security') !== 'sandbox') throw invalid('RUN --security=insecure is not supported');
    const net = (fl.get('network') as string | undefined) ?? 'default';
    if (!['default', 'none', 'host'].includes(net)) throw invalid(`RUN --network=${net}: network mode not supported (default, none or host)`);
    let cmd: string[];
    if (ins.json) cmd = ins.json;
    else if (ins.heredocs.length && /^<<-?["']?[A-Za-z_][A-Za-z0-9_.-]*["']?\s*$/.test(ins.rest.trim())) {
      // RUN <<EOF ... EOF: the body is the script.
      const body = ins.heredocs[0]!.content;
      if (body.startsWith('#!')) {
        const f = `/tmp/.barge-heredoc-${randomBytes(4).toString('hex')}`;
        cmd = [...this.shell(st), `cat > ${f} <<'BARGE_HEREDOC_EOF'\n${body}BARGE_HEREDOC_EOF\nchmod +x ${f} && ${f}; rc=$?; rm -f ${f}; exit $rc`];
      } else cmd = [...this.shell(st), body];
    } else if (ins.heredocs.length) {
      // RUN cmd <<EOF ...: the shell reads the heredocs itself.
      cmd = [...this.shell(st), ins.rest + '\n' + ins.heredocs.map((h) => `${h.content}${h.name}\n`).join('')];
    } else cmd = [...this.shell(st), ins.rest];
    const args = this.argsInScope(st);
    const what = `RUN ${JSON.stringify(cmd)}`;
    const key = this.key(st, what, net);
    const hit = this.cached(key);
    if (hit) return this.useImage(st, hit, true);
    const parent = st.imageId ?? await this.emptyBase();
    const env = [...(st.config.Env ?? [])];
    const has = (k: string) => env.some((e) => e.startsWith(k + '='));
    for (const a of args) if (!has(a.slice(0, a.indexOf('=')))) env.push(a);
    for (const [k, v] of Object.entries(this.o.buildArgs)) if (PROXY_ARGS.has(k) && v !== null && !has(k)) { env.push(`${k}=${v}`); this.usedArgs.add(k); }
    const mode = net === 'default' ? this.o.networkMode || 'bridge' : net;
    const cs = this.d.containers;
    const { Id: cid } = await cs.createContainer({
      Image: parent, Cmd: cmd, Entrypoint: [], Env: env, User: st.config.User ?? '', WorkingDir: st.config.WorkingDir ?? '',
      Labels: { [BUILD_LABEL]: String(st.step) }, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false,
      HostConfig: { NetworkMode: mode === 'default' ? 'bridge' : mode, ExtraHosts: this.o.extraHosts, LogConfig: { Type: 'json-file', Config: {} } },
    }, undefined);
    st.out(` ---> Running in ${cid.slice(0, 12)}\n`);
    const cancel = () => { cs.kill(cid).catch(() => undefined); };
    this.o.signal?.addEventListener('abort', cancel);
    try {
      const rec = cs.store.get(cid)!;
      let exited = false;
      const waited = cs.wait(cid, 'next-exit');
      await cs.start(cid);
      if (this.o.signal?.aborted) cancel(); // cancelled while the container was being made
      const done = waited.then((r) => { exited = true; return r; });
      for await (const e of readLogs(rec.LogPath, { stdout: true, stderr: true, follow: true }, () => exited)) st.out(e.log);
      const res = await done;
      if (this.o.signal?.aborted) throw invalid('the build was cancelled');
      if (res.StatusCode !== 0) {
        throw new BuildError(`The command '${cmd.join(' ')}' returned a non-zero code: ${res.StatusCode}`, res.StatusCode);
      }
      const img = await this.d.images.commit(cid, { imageId: parent, config: structuredClone(st.config), createdBy: (args.length ? `|${args.length} ${args.join(' ')} ` : '') + cmd.join(' '), ...(st.author ? { author: st.author } : {}), ...this.reproducible() });
      this.d.cache.set(key, img.id);
      st.out(`Removing intermediate container ${cid.slice(0, 12)}\n`);
      this.useImage(st, img.id, false);
    } finally {
      this.o.signal?.removeEventListener('abort', cancel);
      await cs.remove(cid, { force: true }).catch((e) => log.warn('build container not removed', { id: cid, err: messageOf(e) }));
    }
  }

  // ---- COPY / ADD ----

  private async copyStep(ins: Instruction, st: StageState, stages: Stage[], stage: Stage): Promise<void> {
    const isAdd = ins.cmd === 'add';
    const fl = parseFlags(ins, isAdd
      ? { chown: 'string', chmod: 'string', checksum: 'string', link: 'bool', 'keep-git-dir': 'bool', exclude: 'list', unpack: 'bool' }
      : { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' });
    const env = this.stageEnv(st);
    const flag = (n: string) => { const v = fl.get(n) as string | undefined; return v === undefined ? undefined : this.lex.processWord(v, env); };
    // Both forms substitute; each element of the JSON form is one word.
    const words = ins.json ? ins.json.map((w) => this.lex.processWord(w, env)) : this.lex.processWords(ins.rest, env);
    if (words.length < 2) throw invalid(`${ins.keyword.toUpperCase()} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    const dest = destPath(words[words.length - 1]!, st.config.WorkingDir ?? '/');
    const heredocNames = new Map(ins.heredocs.map((h) => [h.name, h]));
    const inline: { name: string; content: string }[] = [];
    const srcs: string[] = [];
    for (const w of words.slice(0, -1)) {
      const m = /^<<-?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?$/.exec(w);
      const h = m ? heredocNames.get(m[1]!) : undefined;
      if (h) inline.push({ name: h.name, content: h.expand ? this.lex.expandHeredoc(h.content, env) : h.content });
      else srcs.push(w);
    }
    const chmodStr = flag('chmod');
    const chmod = chmodStr === undefined ? undefined : parseChmod(chmodStr);
    const chown = flag('chown');
    const excludes = (fl.get('exclude') as string[] | undefined)?.map((e) => this.lex.processWord(e, env));
    const from = isAdd ? undefined : flag('from');
    const what = `${ins.keyword.toUpperCase()} ${JSON.stringify({ srcs, dest, chmod: chmodStr, chown, from, excludes, parents: fl.get('parents'), unpack: fl.get('unpack'), inline: inline.map((i) => i.name) })}`;

    // Where the sources are: the context, another stage's image, or an image.
    let fromImage: string | undefined;
    if (from !== undefined) {
      const s = this.stageRef(stages, from, stage.index);
      if (s) fromImage = this.stageImages.get(s.index) ?? undefined;
      else fromImage = this.d.images.resolve(from).id;
      if (!fromImage && s) throw invalid(`COPY --from=${from}: the stage has no filesystem`);
    }

    const urls = isAdd ? srcs.filter((s) => /^https?:\/\//i.test(s)) : [];
    if (isAdd && srcs.some((s) => /^git@|\.git(#.*)?$/.test(s))) throw invalid('ADD from a git repository is not supported by barge\'s builder');
    const localSrcs = srcs.filter((s) => !urls.includes(s));
    const checksum = isAdd ? flag('checksum') : undefined;
    if (checksum && (urls.length !== 1 || localSrcs.length)) throw invalid('ADD --checksum can only be used with a single HTTP(S) source');

    const downloads: { file: string; name: string; mtime?: number }[] = [];
    const cleanups: (() => void)[] = [];
    try {
      let extraHash = '';
      for (const u of urls) {
        const dl = await download(u, { tmpRoot: this.d.tmpRoot, checksum, out: st.out });
        cleanups.push(() => fs.rmSync(dl.file, { force: true }));
        downloads.push(dl);
        extraHash += `${u} ${dl.digest} `;
      }
      const run = async (sourceRoot: string | undefined): Promise<void> => {
        let set: SourceSet = { items: [], multiple: false, singleFile: false };
        const parents = fl.get('parents') === true;
        if (parents && localSrcs.some((s) => s.includes('/./') || s.includes('**'))) set = collectParents(sourceRoot ?? this.ctx.dir, localSrcs, { excludes, fromContext: !fromImage });
        else if (localSrcs.length) set = collectSources(sourceRoot ?? this.ctx.dir, localSrcs, { excludes, parents, fromContext: !fromImage });
        const multiple = set.multiple || (localSrcs.length + inline.length + downloads.length) > 1;
        if (multiple && !dest.endsWith('/')) throw invalid(`When using ${ins.keyword.toUpperCase()} with more than one source file, the destination must be a directory and end with a /`);
        const hash = fromImage ? `${fromImage}` : hashSources(set, this.ctx.hashOf);
        const inlineHash = inline.map((i) => createHash('sha256').update(i.content).digest('hex')).join(',');
        await this.layerStep(st, what, `#(nop) ${ins.keyword.toUpperCase()} ${srcs.length ? 'multi' : 'file'}:${(hash + inlineHash + extraHash).slice(7, 71)} in ${dest} `, () => undefined, async (root) => {
          const owner = chown ? resolveOwner(root, chown) : { uid: 0, gid: 0 };
          await writeSources(root, dest, set, { chmod, owner, keepOwner: !!fromImage && !chown, unpack: isAdd && fl.get('unpack') !== false, unpackDownloads: isAdd && fl.get('unpack') === true, inline, downloads });
        }, hash + inlineHash + extraHash);
      };
      if (fromImage) {
        // An image's files are known by its ID: no need to look at them for a cache hit.
        const hash = fromImage + inline.map((i) => createHash('sha256').update(i.content).digest('hex')).join(',') + extraHash;
        const hit = this.cached(this.key(st, what, hash));
        if (hit) return this.useImage(st, hit, true);
        const sk = `${BUILD_LAYER_PREFIX}src-${randomBytes(8).toString('hex')}`;
        this.d.images.prepareLayer(sk, fromImage);
        try {
          await this.d.images.withRootfs(sk, undefined, (root) => run(root));
        } finally {
          await this.d.images.removeRootfs(sk).catch(() => undefined);
        }
      } else await run(undefined);
    } finally {
      for (const c of cleanups) c();
    }
  }
}
