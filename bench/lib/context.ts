// What a benchmark module gets: the engines (started once per run, shared by all modules), the
// iteration counts for the mode, and a place to record figures. A module is a file
// bench/<name>.bench.ts exporting `name`, `description` and `run(ctx)`; the runner finds it by itself.
import type { Engine } from './engine.js';
import type { RunDir } from './host.js';

export interface Target {
  /** As printed: "p50 ≤ 30 ms", "≤ 0.4× Docker". */
  text: string;
  /** barge's figure must be ≤ max. */
  max?: number;
  /** barge / Docker must be ≤ maxRatio. */
  maxRatio?: number;
  /** barge's figure must be ≥ min (throughputs: higher is better). */
  min?: number;
  /** barge / Docker must be ≥ minRatio. */
  minRatio?: number;
}

export interface Row {
  bench: string;
  metric: string;
  unit: 'ms' | 's' | 'MiB' | 'MB/s' | '/s';
  barge: number | null;
  docker: number | null;
  /** barge / docker (filled in by the runner). */
  ratio?: number | null;
  target?: Target;
  /** true/false once checked; null when it cannot be (no Docker for a ratio, no figure). */
  ok?: boolean | null;
  /** The figure is not trustworthy (noise): its target is shown as unchecked ("?"). */
  uncertain?: boolean;
  /** Shown under the table ("barge: fallback ..."). */
  note?: string;
}

export interface BenchModule {
  name: string;
  description: string;
  /** Lower runs first (default 100); ties by name. */
  order?: number;
  run(ctx: BenchContext): Promise<void>;
}

export interface BenchContext {
  readonly quick: boolean;
  /** Iterations for this mode: `full` normally, `quick` with --quick. */
  n(full: number, quick: number): number;
  /** barged (always) and dockerd (when it could be installed and started), started on first use. */
  engines(): Promise<Engine[]>;
  /** Why Docker is not measured (after engines() resolved), or null. */
  dockerUnavailable(): string | null;
  /** The run's temp directory (removed at the end) and the record of what it created on the host. */
  readonly run: RunDir;
  /** Records one figure for the table and results file. */
  record(row: Omit<Row, 'bench' | 'ratio' | 'ok'>): void;
  /** Keeps raw data (samples, intermediate figures) in the results file under this bench. */
  data(key: string, value: unknown): void;
  /** A note printed under the table. */
  note(text: string): void;
  /** Progress to stderr. */
  log(text: string): void;
  /** Throws AbortError once the run is interrupted or past its deadline: call between iterations. */
  check(): void;
}
