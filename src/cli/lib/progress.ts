// Docker's rendering of JSON progress messages (moby's jsonmessage.DisplayJSONMessagesStream), which
// pull, push and load streams are made of.
//  - On a terminal, each message with an id and progress details owns a line, redrawn in place:
//    the cursor moves up to that line (ESC[nA), clears it (ESC[2K), writes "id: status [==>  ] 1MB/2MB",
//    and moves back down (ESC[nB). A message without id starts a fresh block of lines.
//  - Elsewhere, plain lines "id: status" are written, and messages carrying a progress bar are left out.
// An error message ends the stream: it is returned (not printed), for the command to report.
import { humanSize, progressText as progressString } from '../../lib/human.js';

export { humanSize, progressString };

export interface JsonMessage {
  status?: string;
  id?: string;
  stream?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message?: string };
}

export interface DisplayResult {
  /** The error message that ended the stream, if any. */
  error?: string;
  /** aux payloads (push digests), in order. */
  aux: Record<string, unknown>[];
}

/** Renders a stream of messages to `write` (see the top of this file). */
export async function displayJsonMessages(
  messages: AsyncIterable<JsonMessage>, write: (s: string) => void, o: { tty: boolean; width?: number },
): Promise<DisplayResult> {
  const width = o.width ?? 200;
  const ids = new Map<string, number>();
  const aux: Record<string, unknown>[] = [];
  for await (const m of messages) {
    if (m.error !== undefined || m.errorDetail) return { error: m.errorDetail?.message || m.error || 'unknown error', aux };
    if (m.aux) { aux.push(m.aux); continue; }
    let diff = 0;
    const hasProgress = m.progressDetail !== undefined || (m.progress ?? '') !== '';
    if (m.id && hasProgress) {
      let line = ids.get(m.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(m.id, line);
        if (o.tty) write('\n');
      }
      diff = ids.size - line;
      if (o.tty && diff > 0) write(`\x1b[${diff}A`);
    } else {
      ids.clear();
    }
    write(render(m, o.tty, width));
    if (m.id && o.tty && diff > 0) write(`\x1b[${diff}B`);
  }
  return { aux };
}

/** One message as jsonmessage.Display writes it. */
function render(m: JsonMessage, tty: boolean, width: number): string {
  const detail = m.progressDetail ?? {};
  const bar = progressString(detail.current ?? 0, detail.total ?? 0, width);
  let s = '';
  let endl = '';
  if (tty && !m.stream && m.progressDetail) {
    s += '\x1b[2K\r';
    endl = '\r';
  } else if (bar !== '') {
    return '';   // no progress bars off a terminal
  }
  if (m.id) s += `${m.id}: `;
  if (m.progressDetail && tty) s += `${m.status ?? ''} ${bar}${endl}`;
  else if (m.stream) s += m.stream + endl;
  else s += `${m.status ?? ''}${endl}\n`;
  return s;
}
