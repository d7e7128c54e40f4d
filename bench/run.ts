// npm run bench: measures barge and Docker Engine side by side and prints a table with ratios and
// the targets. Runs every bench/<name>.bench.ts module (each exports `name`, `description`,
// `run(ctx)`); see bench/README.md.
//
//   npm run bench [-- --quick] [-- --only api,cli] [-- --no-docker] [-- --list] [-- --json FILE]
//
// Everything a run creates (daemons, containers, bridges, iptables rules, cgroups, temp dirs) is
// removed when it ends: normally, on error, on Ctrl-C, or at its deadline.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { abort, abortSignal, checkAbort, installSignalHandlers, onCleanup, runCleanups, AbortError } from './lib/cleanup.js';
import type { BenchContext, BenchModule, Row } from './lib/context.js';
import type { Engine } from './lib/engine.js';
import { RunDir, sweepStaleRuns, teardownRunDir } from './lib/host.js';
import { finishRow, table } from './lib/report.js';
import { REPO, round, which, sh } from './lib/util.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Options { quick: boolean; only: string[]; docker: boolean; list: boolean; json: string; deadlineMin: number }

const USAGE = `Usage: npm run bench -- [OPTIONS]

Measures barge and Docker Engine side by side (root required; build first: bash scripts/build).

Options:
  --only NAME[,NAME]   Run only these benchmarks (repeatable)
  --quick              Fewer iterations (a smoke run of a minute or two)
  --no-docker          Measure barge alone
  --list               List the benchmarks and exit
  --json FILE          Where to write the results (default bench/results/latest.json)
  --deadline MIN       Abort and clean up after this many minutes (default 14; 6 with --quick)
`;

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: [], docker: true, list: false, json: path.join(REPO, 'bench/results/latest.json'), deadlineMin: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => { const v = inline ?? argv[++i]; if (v === undefined) throw new Error(`${flag} needs a value`); return v; };
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--only': o.only.push(...value().split(',').map((s) => s.trim()).filter(Boolean)); break;
      case '--no-docker': o.docker = false; break;
      case '--list': o.list = true; break;
      case '--json': o.json = path.resolve(value()); break;
      case '--deadline': o.deadlineMin = Number(value()); break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n\n${USAGE}`);
    }
  }
  if (!o.deadlineMin) o.deadlineMin = o.quick ? 6 : 14;
  return o;
}

async function loadModules(): Promise<BenchModule[]> {
  const files = fs.readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort();
  const mods: BenchModule[] = [];
  for (const f of files) {
    const m = (await import(pathToFileURL(path.join(here, f)).href)) as Partial<BenchModule>;
    if (typeof m.name !== 'string' || typeof m.run !== 'function') throw new Error(`${f}: a bench module exports name and run(ctx)`);
    mods.push({ name: m.name, description: m.description ?? '', order: m.order ?? 100, run: m.run });
  }
  return mods.sort((a, b) => (a.order! - b.order!) || a.name.localeCompare(b.name));
}

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const modules = await loadModules();
  if (opts.list) {
    for (const m of modules) process.stdout.write(`${m.name.padEnd(12)} ${m.description}\n`);
    return 0;
  }
  const unknown = opts.only.filter((n) => !modules.some((m) => m.name === n));
  if (unknown.length) throw new Error(`no benchmark named ${unknown.join(', ')} (there are: ${modules.map((m) => m.name).join(', ')})`);
  const selected = opts.only.length ? modules.filter((m) => opts.only.includes(m.name)) : modules;
  if (process.getuid?.() !== 0) throw new Error('the benchmarks start container engines: run them as root');

  installSignalHandlers();
  const deadline = setTimeout(() => { log(`deadline of ${opts.deadlineMin} min reached: stopping`); abort('deadline reached'); }, opts.deadlineMin * 60_000);
  deadline.unref();

  await sweepStaleRuns(log);
  const run = RunDir.create();
  const cleanupNotes: string[] = [];
  // Registered first, so it runs last: whatever the engines' own teardown missed.
  onCleanup('run directory', async () => { cleanupNotes.push(...(await teardownRunDir(run.dir, run.state))); });

  const started = new Date();
  const host = hostFacts();
  log(`run directory ${run.dir}; ${opts.quick ? 'quick' : 'full'} run of ${selected.map((m) => m.name).join(', ')}`);

  // Engines: started once, on first use, shared by all modules.
  let engines = null as Promise<Engine[]> | null;
  let dockerWhy = (opts.docker ? null : 'not requested (--no-docker)') as string | null;
  const engineInfo: Record<string, unknown> = {};
  const startEngines = async (): Promise<Engine[]> => {
    const { startBarge } = await import('./lib/barge.js');
    const barge = await startBarge(run, log);
    engineInfo.barge = { label: barge.label, ...barge.info };
    const list: Engine[] = [barge];
    if (opts.docker) {
      const { ensureDockerd, startDocker, loadImage } = await import('./lib/docker.js');
      const { busyboxArchive } = await import('./lib/busybox.js');
      const found = ensureDockerd(log);
      if ('error' in found) {
        dockerWhy = found.error;
      } else {
        try {
          checkAbort();
          const docker = await startDocker(run, found.dockerd, log, [barge.bip]);
          const archive = await busyboxArchive(barge.api, run.path('busybox.tar'));
          const id = await loadImage(docker.api, archive.file);
          const bargeImage = await barge.api.call('GET', '/images/busybox:latest/json');
          log(`busybox loaded into dockerd: ${archive.source}`);
          engineInfo.docker = { label: docker.label, ...docker.info, busybox: { source: archive.source, imageId: id, sameAsBarge: id === bargeImage?.Id } };
          list.push(docker);
        } catch (e) {
          if (e instanceof AbortError) throw e;
          dockerWhy = `Docker Engine could not be started: ${(e as Error).message}`;
        }
      }
      if (dockerWhy) { log(`${dockerWhy}\nbench: measuring barge alone`); engineInfo.docker = { error: dockerWhy }; }
    }
    return list;
  };

  const rows: Row[] = [];
  const notes: string[] = [];
  const benchData: Record<string, { description: string; data: Record<string, unknown>; error?: string; seconds?: number }> = {};
  let failed = false;

  for (const m of selected) {
    if (abortSignal.aborted) break;
    const entry: { description: string; data: Record<string, unknown>; error?: string; seconds?: number } = { description: m.description, data: {} };
    benchData[m.name] = entry;
    const ctx: BenchContext = {
      quick: opts.quick,
      n: (full, quick) => (opts.quick ? quick : full),
      engines: () => (engines ??= startEngines()),
      dockerUnavailable: () => dockerWhy,
      run,
      record: (r) => rows.push(finishRow({ ...r, bench: m.name, ratio: null, ok: null })),
      data: (k, v) => { entry.data[k] = v; },
      note: (t) => notes.push(`${m.name}: ${t}`),
      log: (t) => log(`[${m.name}] ${t}`),
      check: checkAbort,
    };
    const t0 = Date.now();
    log(`== ${m.name}: ${m.description}`);
    try {
      await m.run(ctx);
    } catch (e) {
      failed = true;
      entry.error = (e as Error).message;
      if (e instanceof AbortError || abortSignal.aborted) {
        notes.push(`${m.name}: stopped: ${(e as Error).message}`);
        break;
      }
      notes.push(`${m.name}: FAILED: ${(e as Error).message.split('\n')[0]}`);
      log(`${m.name} failed: ${(e as Error).stack ?? e}`);
    } finally {
      entry.seconds = round((Date.now() - t0) / 1000, 1);
      // Leave nothing running for the next module.
      if (engines && !abortSignal.aborted) {
        try { for (const e of await engines) await e.removeAllContainers(); } catch { /* reported by the teardown */ }
      }
    }
  }

  const list = engines ? await (engines as Promise<Engine[]>).catch(() => [] as Engine[]) : [];
  const dockerEngine = list.find((e) => e.kind === 'docker');
  const bargeEngine = list.find((e) => e.kind === 'barge');
  const finished = new Date();
  host.loadAvgEnd = os.loadavg().map((x) => round(x));

  // The table.
  const out: string[] = [];
  out.push('');
  out.push(`barge vs Docker — ${opts.quick ? 'quick' : 'full'} run, ${started.toISOString()} (${Math.round((finished.getTime() - started.getTime()) / 1000)} s)`);
  out.push(`host: ${host.cpus} CPUs, ${host.kernel}, load average ${host.loadAvgStart.join(' ')} → ${host.loadAvgEnd.join(' ')}`);
  out.push(`engines: ${bargeEngine?.label ?? 'barge (not started)'}; ${dockerEngine?.label ?? `Docker: ${dockerWhy ?? 'not started'}`}`);
  out.push('');
  out.push(table(rows, dockerEngine ? `Docker ${dockerEngine.version.split('+')[0]}` : 'Docker'));
  if (notes.length || dockerWhy) {
    out.push('');
    if (dockerWhy && dockerWhy !== 'not requested (--no-docker)') out.push(`* Docker not measured: ${dockerWhy}`);
    for (const n of notes) out.push(`* ${n}`);
  }
  process.stdout.write(out.join('\n') + '\n');

  // Tear everything down before writing the results, so cleanup notes make it into the file.
  log('cleaning up (containers, daemons, bridges, iptables rules, temp dirs)...');
  await runCleanups();
  for (const n of cleanupNotes) log(n);

  const results = {
    startedAt: started.toISOString(), finishedAt: finished.toISOString(),
    mode: opts.quick ? 'quick' : 'full', only: opts.only.length ? opts.only : undefined,
    aborted: abortSignal.aborted ? String(abortSignal.reason) : undefined,
    host, engines: engineInfo,
    targets: { apiCreateStartWaitP50Ms: 30, bargeRunVsDockerRatio: 0.4, idleContainerMiB: 2 },
    rows, notes, benches: benchData, cleanupNotes,
  };
  // An interrupted run does not replace the last complete results.
  const file = abortSignal.aborted ? path.join(path.dirname(opts.json), 'aborted.json') : opts.json;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  log(`results written to ${path.relative(process.cwd(), file) || file}`);
  if (abortSignal.aborted) return 130;
  return failed ? 1 : 0;
}

function hostFacts() {
  const docker = which('docker');
  return {
    cpus: os.cpus().length,
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    kernel: `Linux ${os.release()}`,
    node: process.version,
    runc: sh('runc', ['--version']).stdout.split('\n')[0] ?? '',
    dockerCli: docker ? sh(docker, ['version', '--format', '{{.Client.Version}}'], { env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent' } }).stdout.trim() : null,
    loadAvgStart: os.loadavg().map((x) => round(x)),
    loadAvgEnd: [] as number[],
  };
}

main().then(
  (code) => { process.exitCode = code; setTimeout(() => process.exit(code), 200).unref(); },
  async (e) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
    await runCleanups();
    process.exit(abortSignal.aborted ? 130 : 1);
  },
);
