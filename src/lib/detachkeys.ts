// Detach keys ("ctrl-p,ctrl-q"), read by the CLI and by the daemon's attach streams alike.

const CTRL_KEYS = ['ctrl-@', ...'abcdefghijklmnopqrstuvwxyz'.split('').map((c) => `ctrl-${c}`), 'ctrl-[', 'ctrl-\\', 'ctrl-]', 'ctrl-^', 'ctrl-_'];

/** moby/term ToBytes: "ctrl-p,ctrl-q" → [16, 17]; single characters as themselves, "DEL" is 127. */
export function parseDetachKeys(keys: string): number[] {
  const codes: number[] = [];
  for (const key of keys.split(',')) {
    if (Buffer.byteLength(key) === 1) { codes.push(key.charCodeAt(0)); continue; }
    const i = CTRL_KEYS.indexOf(key);
    if (i >= 0) codes.push(i);
    else if (key === 'DEL') codes.push(127);
    else throw new Error(`Unknown character: '${key}'`);
  }
  return codes;
}

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';
