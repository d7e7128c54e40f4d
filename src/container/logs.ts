// Reading a container's json-file log (written by the monitor, rotated as log, log.1, … log.N-1):
// tail, since/until, and follow across rotations until the container stops.
import * as fs from 'node:fs';

export interface LogEntry { stream: 'stdout' | 'stderr'; log: string; time: string }

export interface LogQuery {
  stdout: boolean; stderr: boolean; since?: number; until?: number; // unix seconds (fractional)
  tail?: number;                                                    // undefined: all
  follow: boolean;
}

function parseLine(line: string): LogEntry | null {
  if (!line) return null;
  try {
    const e = JSON.parse(line) as LogEntry;
    if (typeof e.log !== 'string') return null;
    return e;
  } catch { return null; }
}

function rotatedFiles(logPath: string): string[] {
  const files: string[] = [];
  for (let i = 1; i < 100; i++) {
    if (!fs.existsSync(`${logPath}.${i}`)) break;
    files.unshift(`${logPath}.${i}`);
  }
  files.push(logPath);
  return files;
}

function timeOf(e: LogEntry): number { return Date.parse(e.time) / 1000 + nanosFraction(e.time); }
// Date.parse keeps milliseconds only; add back the sub-millisecond part so since/until compare exactly enough.
function nanosFraction(t: string): number {
  const m = /\.(\d+)Z$/.exec(t);
  if (!m || m[1]!.length <= 3) return 0;
  return Number('0.000' + m[1]!.slice(3));
}

function wanted(e: LogEntry, q: LogQuery): boolean {
  if (e.stream === 'stdout' ? !q.stdout : !q.stderr) return false;
  if (q.since !== undefined && q.since > 0 && timeOf(e) < q.since) return false;
  if (q.until !== undefined && q.until > 0 && timeOf(e) > q.until) return false;
  return true;
}

/**
 * Yield log entries. With follow, keeps reading new lines (and across rotations) until `stopped()`
 * says the container is no longer running and everything written has been read, or `signal` aborts.
 */
export async function* readLogs(logPath: string, q: LogQuery, stopped: () => boolean, signal?: AbortSignal): AsyncGenerator<LogEntry> {
  const files = rotatedFiles(logPath);
  let entries: LogEntry[] = [];
  const collect = (text: string) => {
    for (const line of text.split('\n')) {
      const e = parseLine(line);
      if (e && wanted(e, q)) entries.push(e);
    }
  };
  // Following, the current file is read through the descriptor the follow loop then keeps, up to
  // its last complete line: what the monitor writes in between is read next, not skipped (a
  // container that ran for a millisecond had its whole output lost that way).
  let fd: number | null = null;
  let ino = 0;
  let pos = 0;
  for (const f of files) {
    if (f === logPath && q.follow) {
      try { fd = fs.openSync(logPath, 'r'); } catch { continue; }
      ino = fs.fstatSync(fd).ino;
      const data = fs.readFileSync(fd);
      pos = data.lastIndexOf(0x0a) + 1;
      collect(data.toString('utf8', 0, pos));
      continue;
    }
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    collect(text);
  }
  if (q.tail !== undefined && q.tail >= 0) entries = q.tail === 0 ? [] : entries.slice(-q.tail);

  // Follow: continue from there.
  let partial = '';
  const buf = Buffer.alloc(64 * 1024);
  let watcher: fs.FSWatcher | null = null;
  let wake: (() => void) | null = null;
  const poke = () => { const w = wake; wake = null; w?.(); };
  try {
    for (const e of entries) yield e;
    if (!q.follow) return;
    try { watcher = fs.watch(logPath.replace(/[^/]+$/, ''), { persistent: false }, poke); } catch { watcher = null; }
    signal?.addEventListener('abort', poke);
    for (;;) {
      if (signal?.aborted) return;
      const wasStopped = stopped();
      // Drain what is there.
      if (fd !== null) {
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, pos);
          if (n <= 0) break;
          pos += n;
          partial += buf.toString('utf8', 0, n);
          const lines = partial.split('\n');
          partial = lines.pop()!;
          for (const line of lines) { const e = parseLine(line); if (e && wanted(e, q)) yield e; }
        }
      }
      // Rotated? Switch to the new file (the old one was fully read above).
      let cur: fs.Stats | null = null;
      try { cur = fs.statSync(logPath); } catch { cur = null; }
      if (cur && (fd === null || cur.ino !== ino)) {
        if (fd !== null) fs.closeSync(fd);
        fd = fs.openSync(logPath, 'r'); ino = cur.ino; pos = 0; partial = '';
        continue;
      }
      if (wasStopped) return;
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 250); });
    }
  } finally {
    watcher?.close();
    signal?.removeEventListener('abort', poke);
    if (fd !== null) fs.closeSync(fd);
  }
}
