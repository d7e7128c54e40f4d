// The table printed at the end of a run and the results file (bench/results/latest.json).
import type { Row } from './context.js';

export function finishRow(r: Row): Row {
  const ratio = r.barge !== null && r.docker !== null && r.docker > 0 && r.barge >= 0 ? r.barge / r.docker : null;
  // Every bound the target sets must hold: one that fails makes it MISSED; one that cannot be
  // checked (no figure, no Docker for a ratio) leaves it unchecked.
  const checks: Array<boolean | null> = [];
  const t = r.target;
  if (t?.max !== undefined) checks.push(r.barge === null ? null : r.barge <= t.max);
  if (t?.min !== undefined) checks.push(r.barge === null ? null : r.barge >= t.min);
  if (t?.maxRatio !== undefined) checks.push(ratio === null ? null : ratio <= t.maxRatio);
  if (t?.minRatio !== undefined) checks.push(ratio === null ? null : ratio >= t.minRatio);
  let ok: boolean | null = checks.includes(false) ? false : checks.length && !checks.includes(null) ? true : null;
  if (r.uncertain) ok = null;
  return { ...r, ratio, ok };
}

export function fmt(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const digits = unit === 'MiB' ? 2 : unit === 's' ? 2 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${v.toFixed(digits)} ${unit}`;
}

export function table(rows: Row[], dockerLabel: string): string {
  const head = ['benchmark', 'metric', 'barge', dockerLabel, 'barge/Docker', 'target', ''];
  const body = rows.map((r) => [
    r.bench, r.metric, fmt(r.barge, r.unit), fmt(r.docker, r.unit),
    r.ratio === null || r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`,
    r.target?.text ?? '',
    r.ok === true ? 'ok' : r.ok === false ? 'MISSED' : r.target ? '?' : '',
  ]);
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  const right = new Set([2, 3, 4]);
  const line = (l: string[]) => l.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), sep, ...body.map(line)].join('\n');
}
