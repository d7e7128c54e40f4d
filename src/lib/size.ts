// Log sizes as the json-file driver's max-size takes them: "10m", "512k", "1g", "100" (bytes).
import { invalid } from './errors.js';

export function parseLogSize(v: string, what = 'max-size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(v.trim());
  if (!m) throw invalid(`invalid ${what} "${v}": use a size such as 10m`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor(Number(m[1]) * mult);
}
