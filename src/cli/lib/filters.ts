// --filter key=value (repeatable) to the API's filters JSON: {"key":["value",...]}.
import { UsageError } from './flags.js';

export function filterArgs(specs: string[]): string | undefined {
  if (!specs.length) return undefined;
  const out: Record<string, string[]> = {};
  for (const s of specs) {
    const i = s.indexOf('=');
    if (i <= 0) throw new UsageError(`bad format of filter (expected name=value)`, 125);
    const k = s.slice(0, i).trim().toLowerCase();
    (out[k] ??= []).push(s.slice(i + 1).trim());
  }
  return JSON.stringify(out);
}
