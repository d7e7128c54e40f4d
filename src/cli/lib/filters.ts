// --filter key=value (repeatable) to the API's filters query parameter ({"key":["value",...]}).
import { UsageError } from './flags.js';
import { parseFilters, filtersToJSON } from './units.js';

export function filterArgs(specs: string[]): string | undefined {
  try { return filtersToJSON(parseFilters(specs)) || undefined; } catch (e) { throw new UsageError((e as Error).message, 125); }
}
