// Docker's JSON progress messages (moby's jsonmessage.JSONMessage), as pull and push stream them:
//   {"status":"Pulling fs layer","progressDetail":{},"id":"a1b2c3d4e5f6"}
//   {"status":"Downloading","progressDetail":{"current":1024,"total":4096},"progress":"[===>  ] 1.024kB/4.096kB","id":"..."}
//   {"status":"Digest: sha256:..."}
//   {"errorDetail":{"message":"..."},"error":"..."}
// Clients draw their bars from progressDetail; "progress" is the text old clients print as is.
import { progressText } from '../../lib/human.js';

export { progressText };

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

/** Calls `fn` at most every `ms` milliseconds, and always for the last value (`flush`). */
export function throttle(ms: number, fn: (current: number) => void): { update: (current: number) => void; flush: (current: number) => void } {
  let last = 0;
  return {
    update: (c) => { const now = Date.now(); if (now - last >= ms) { last = now; fn(c); } },
    flush: (c) => { last = Date.now(); fn(c); },
  };
}
