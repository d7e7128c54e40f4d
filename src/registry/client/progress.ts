// Docker's JSON progress messages (moby's jsonmessage.JSONMessage), as pull and push stream them:
//   {"status":"Pulling fs layer","progressDetail":{},"id":"a1b2c3d4e5f6"}
//   {"status":"Downloading","progressDetail":{"current":1024,"total":4096},"progress":"[===>  ] 1.024kB/4.096kB","id":"..."}
//   {"status":"Digest: sha256:..."}
//   {"errorDetail":{"message":"..."},"error":"..."}
// Clients draw their bars from progressDetail; "progress" is the text old clients print as is.

export type Message = Record<string, unknown>;
export type Emit = (m: Message) => void;

/** A status line of a layer (progressDetail present and empty, as moby sends it). */
export function layerStatus(id: string, status: string): Message {
  return { status, progressDetail: {}, id };
}

/** A progress line of a layer. */
export function layerProgress(id: string, status: string, current: number, total: number): Message {
  return { status, progressDetail: { current, total }, progress: progressText(current, total), id };
}

/** go-units HumanSize: 4 significant digits, decimal units ("12.35MB", "1.024kB", "527B"). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** moby's JSONProgress.String for a wide terminal: "[=====>     ] 12.3MB/45.6MB". */
export function progressText(current: number, total: number, width = 200): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const pct = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = width > 110 ? `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] ` : '';
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

/** Calls `fn` at most every `ms` milliseconds, and always for the last value (`flush`). */
export function throttle(ms: number, fn: (current: number) => void): { update: (current: number) => void; flush: (current: number) => void } {
  let last = 0;
  return {
    update: (c) => { const now = Date.now(); if (now - last >= ms) { last = now; fn(c); } },
    flush: (c) => { last = Date.now(); fn(c); },
  };
}
