// barge stats: live resource usage of containers (a table refreshed every second; --no-stream once).
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';
import { renderFormat, bytesSize, humanSize, formatPercent } from '../lib/format.js';

const FLAGS = [
  { name: 'all', short: 'a', type: 'bool' as const, description: 'Show all containers (default shows just running)' },
  { name: 'format', type: 'string' as const, description: 'Format output using a custom template' },
  { name: 'no-stream', type: 'bool' as const, description: 'Disable streaming stats and only pull the first result' },
  { name: 'no-trunc', type: 'bool' as const, description: "Do not truncate output" },
];

const HEADERS = { Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };
const DEFAULT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

export interface StatsRow { Container: string; ID: string; Name: string; CPUPerc: string; MemUsage: string; MemPerc: string; NetIO: string; BlockIO: string; PIDs: string }

/** docker/cli's stats calculations (cgroup v1 and v2). */
export function statsRow(ref: string, s: any, noTrunc: boolean): StatsRow {
  const cpu = s.cpu_stats ?? {}; const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 1;
  const cpuPerc = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const m = s.memory_stats ?? {};
  // Docker subtracts the page cache: v1 total_inactive_file, v2 inactive_file.
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0;
  const mem = Math.max(0, (m.usage ?? 0) - (cache < (m.usage ?? 0) ? cache : 0));
  const limit = m.limit ?? 0;
  let rx = 0; let tx = 0;
  for (const n of Object.values<any>(s.networks ?? {})) { rx += n.rx_bytes ?? 0; tx += n.tx_bytes ?? 0; }
  let rd = 0; let wr = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (/^read$/i.test(e.op)) rd += e.value;
    if (/^write$/i.test(e.op)) wr += e.value;
  }
  const id = String(s.id ?? '');
  return {
    Container: ref, ID: noTrunc ? id : id.slice(0, 12), Name: String(s.name ?? '').replace(/^\//, '') || '--',
    CPUPerc: formatPercent(cpuPerc), MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: formatPercent(limit ? (mem / limit) * 100 : 0), NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(rd)} / ${humanSize(wr)}`, PIDs: String(s.pids_stats?.current ?? 0),
  };
}

export default async function stats(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] [CONTAINER...]', description: 'Display a live stream of container(s) resource usage statistics', flags: FLAGS }, argv);
  const noTrunc = flags.bool('no-trunc');
  let refs = args;
  if (!refs.length) {
    const list = await cli.client.get<any[]>('/containers/json', { all: flags.bool('all') });
    refs = list.map((c) => c.Id.slice(0, 12));
  }
  const format = flags.string('format');
  const spec = { format, defaultTable: DEFAULT, headers: HEADERS };
  if (flags.bool('no-stream')) {
    const rows: StatsRow[] = [];
    let failed = false;
    for (const ref of refs) {
      try { rows.push(statsRow(ref, await cli.client.get(`/containers/${encodeURIComponent(ref)}/stats`, { stream: false }), noTrunc)); } catch (e) {
        failed = true; cli.err(`Error response from daemon: ${(e as Error).message}\n`);
      }
    }
    cli.out(renderFormat(rows, spec));
    return failed ? 1 : 0;
  }
  // Streaming: one connection per container, the table redrawn every second.
  const latest = new Map<string, StatsRow>();
  for (const ref of refs) {
    void (async () => {
      try {
        const res = await cli.client.raw('GET', `/containers/${encodeURIComponent(ref)}/stats`, { query: { stream: true } });
        for await (const s of jsonLines<any>(res)) latest.set(ref, statsRow(ref, s, noTrunc));
      } catch { latest.delete(ref); }
    })();
  }
  const tty = !!process.stdout.isTTY;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const out = renderFormat(refs.map((r) => latest.get(r)).filter((x): x is StatsRow => !!x), spec);
    cli.out((tty ? '\x1b[2J\x1b[H' : '') + out);
  }
}
