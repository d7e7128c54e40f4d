// Signal names as Docker accepts them: "SIGTERM", "TERM", "15", case-insensitive; RTMIN+n too.
import { constants } from 'node:os';
import { invalid } from './errors.js';

const SIGNALS = constants.signals as Record<string, number>;

export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  const s = sig.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw invalid(`Invalid signal: ${sig}`);
    return n;
  }
  let name = s.toUpperCase();
  if (!name.startsWith('SIG')) name = 'SIG' + name;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rt) {
    const base = name.startsWith('SIGRTMIN') ? 34 : 64;
    const off = Number(rt[1] ?? 0);
    const n = name.startsWith('SIGRTMIN') ? base + off : base - off;
    if (n < 34 || n > 64) throw invalid(`Invalid signal: ${sig}`);
    return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw invalid(`Invalid signal: ${sig}`);
  return n;
}

export function signalName(n: number): string {
  for (const [k, v] of Object.entries(SIGNALS)) if (v === n) return k;
  return String(n);
}
