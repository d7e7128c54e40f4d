// The TypeScript side of bargemon, the per-container monitor (src/monitor/bargemon.c).
//
// The model: for each running container (and each exec process) barged spawns one bargemon. The
// monitor starts the process through runc, owns its stdio, writes the json-file log and records
// the exit status, so the container does not depend on barged staying alive. barged talks to it
// over a unix socket with stdcopy-shaped frames; it may disconnect and reconnect at any time.
//
//   await spawnMonitor(opts)                       // resolves once the monitor's socket listens
//   const m = await MonitorConnection.connect(opts.socketPath)
//   m.on('stdout', buf => ...); m.on('exit', info => ...)
//   m.subscribe(true, true)                        // output flows only after subscribing
//   const { pid } = await m.start()                // rejects with err.runtimeMessage if runc failed
//   ... later, maybe from a restarted barged:
//   const m2 = await MonitorConnection.connect(socketPath)   // ENOENT/ECONNREFUSED: gone, read the exit file
//   await m2.status()                              // { pid, running }
//
// Once the container's process has exited the monitor writes the exit file, sends EXIT to every
// client, and goes away: readExitFile() is the record that outlives it.
import { runProgram } from '../host/helper.js';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';

/** Frame types; the same numbers both directions where a type is used both ways (STATUS). */
export const FrameType = {
  Stdin: 0,       // client → monitor: data for the container's stdin
  Stdout: 1,      // monitor → client
  Stderr: 2,      // monitor → client
  Resize: 3,      // client → monitor: rows u16 BE, cols u16 BE
  CloseStdin: 4,  // client → monitor: EOF on the stdin pipe (ignored with a TTY)
  Exit: 5,        // monitor → client: ExitInfo JSON
  Subscribe: 6,   // client → monitor: 1 byte mask, 1 = stdout, 2 = stderr
  Start: 7,       // client → monitor: start the container; only the first counts
  Started: 8,     // monitor → client: {"pid":N} or {"error":"..."}
  Status: 9,      // both: request (empty), answer {"pid":N,"running":B}
} as const;

export interface Frame { type: number; payload: Buffer }

/** An 8-byte header [type, 0, 0, 0, length u32 BE] then the payload: Docker's stdcopy framing. */
export function encodeFrame(type: number, payload: Uint8Array | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const out = Buffer.allocUnsafe(8 + body.length);
  out[0] = type; out[1] = 0; out[2] = 0; out[3] = 0;
  out.writeUInt32BE(body.length, 4);
  out.set(body, 8);
  return out;
}

/** Streaming decoder: push() chunks as they come, get back the frames they complete. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.size < 8) break;
      const head = this.peek(8);
      const len = head.readUInt32BE(4);
      if (this.size < 8 + len) break;
      const all = this.take(8 + len);
      frames.push({ type: all[0]!, payload: all.subarray(8) });
    }
    return frames;
  }

  /** Bytes of an incomplete frame still held. */
  get pending(): number { return this.size; }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift(); else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.size -= n;
    return out;
  }
}

export interface MonitorOptions {
  binary: string;           // path of bargemon
  runtime: string;          // path of runc
  runtimeRoot: string;      // runc --root
  id: string;               // container id (for exec: the container the process runs in)
  socketPath: string;       // the monitor's socket (must fit in sun_path: < 108 bytes)
  exitFile: string;
  pidFile: string;
  bundle?: string;          // run mode
  execProcessFile?: string; // exec mode: an OCI process.json
  logFile?: string;         // json-file log; none when absent
  logMaxSize?: number;      // bytes; 0/absent: no rotation
  logMaxFiles?: number;     // files kept, including the current one
  tty: boolean;
  stdin: boolean;
  runtimeLog?: string;      // runc --log (json); its last error is part of a start failure's message
  debugLog?: string;        // the monitor's own diagnostics
  startTimeout?: number;    // seconds the monitor waits for START (default 60)
}

export interface ExitInfo { exitCode: number; signal: number; finishedAt: string }

/** The command line bargemon is started with. */
export function monitorArgs(o: MonitorOptions): string[] {
  const a = ['--runtime', o.runtime, '--runtime-root', o.runtimeRoot, '--id', o.id,
    '--socket', o.socketPath, '--exit-file', o.exitFile, '--pid-file', o.pidFile];
  if (o.bundle !== undefined) a.push('--bundle', o.bundle);
  if (o.execProcessFile !== undefined) a.push('--exec-process', o.execProcessFile);
  if (o.logFile !== undefined) {
    a.push('--log-file', o.logFile);
    if (o.logMaxSize !== undefined) a.push('--log-max-size', String(o.logMaxSize));
    if (o.logMaxFiles !== undefined) a.push('--log-max-files', String(o.logMaxFiles));
  }
  if (o.tty) a.push('--tty');
  if (o.stdin) a.push('--stdin');
  if (o.runtimeLog !== undefined) a.push('--runtime-log', o.runtimeLog);
  if (o.debugLog !== undefined) a.push('--debug-log', o.debugLog);
  if (o.startTimeout !== undefined) a.push('--start-timeout', String(o.startTimeout));
  return a;
}

/**
 * Starts a monitor. The process we spawn forks the real monitor (which is then nobody's child
 * but init's or a subreaper's) and exits 0 once the socket listens, or non-zero with a message.
 */
export async function spawnMonitor(o: MonitorOptions): Promise<void> {
  // Run to its end (the forked monitor points its stdio elsewhere at once), in a session of its own.
  const r = await runProgram([o.binary, ...monitorArgs(o)], { setsid: true });
  if (r.code !== 0) throw new Error(r.stderr.trim() || `bargemon exited with status ${r.code}`);
}

/** The error start() rejects with when runc failed; runtimeMessage is runc's own text. */
export class MonitorStartError extends Error {
  readonly runtimeMessage: string;
  constructor(runtimeMessage: string) {
    super(runtimeMessage);
    this.name = 'MonitorStartError';
    this.runtimeMessage = runtimeMessage;
  }
}

type Waiter<T> = { resolve: (v: T) => void; reject: (e: Error) => void };

/**
 * One connection to a monitor. Events: 'stdout' (Buffer), 'stderr' (Buffer), 'exit' (ExitInfo),
 * 'close' (). Socket errors never surface as 'error' events: they end the connection ('close'),
 * rejecting whatever is still awaited.
 */
export class MonitorConnection extends EventEmitter {
  private readonly decoder = new FrameDecoder();
  private readonly startWaiters: Waiter<{ pid: number }>[] = [];
  private readonly statusWaiters: Waiter<{ pid: number; running: boolean }>[] = [];
  private closed = false;
  /** The exit status, once the EXIT frame has arrived. */
  exitInfo: ExitInfo | null = null;

  private constructor(private readonly sock: net.Socket) {
    super();
    sock.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) this.onFrame(f);
    });
    sock.on('error', () => { /* followed by 'close' */ });
    sock.on('close', () => this.onClose());
  }

  static connect(socketPath: string): Promise<MonitorConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: socketPath });
      const onError = (e: Error) => reject(e);
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        resolve(new MonitorConnection(sock));
      });
    });
  }

  get isClosed(): boolean { return this.closed; }

  subscribe(stdout: boolean, stderr: boolean): void {
    this.send(FrameType.Subscribe, Buffer.from([(stdout ? 1 : 0) | (stderr ? 2 : 0)]));
  }

  start(): Promise<{ pid: number }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('monitor connection closed'));
      this.startWaiters.push({ resolve, reject });
      this.send(FrameType.Start);
    });
  }

  status(): Promise<{ pid: number; running: boolean }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('monitor connection closed'));
      this.statusWaiters.push({ resolve, reject });
      this.send(FrameType.Status);
    });
  }

  writeStdin(data: Buffer): void {
    // the monitor streams STDIN payloads, but modest frames keep its reads interleaved with others'
    for (let i = 0; i < data.length; i += 65536) this.send(FrameType.Stdin, data.subarray(i, i + 65536));
  }

  closeStdin(): void { this.send(FrameType.CloseStdin); }

  resize(rows: number, cols: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt16BE(rows & 0xffff, 0);
    p.writeUInt16BE(cols & 0xffff, 2);
    this.send(FrameType.Resize, p);
  }

  /** Disconnects. The monitor and the container carry on. */
  close(): void {
    // end() alone is a half-close, which the monitor answers by still sending output; once our
    // last frames are flushed, go for good
    if (!this.closed) this.sock.end(() => this.sock.destroy());
  }

  private send(type: number, payload?: Uint8Array): void {
    if (!this.closed && this.sock.writable) this.sock.write(encodeFrame(type, payload));
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.Stdout: this.emit('stdout', f.payload); break;
      case FrameType.Stderr: this.emit('stderr', f.payload); break;
      case FrameType.Started: {
        const w = this.startWaiters.shift();
        if (!w) break;
        const v = parseJson(f.payload) as { pid?: number; error?: string } | null;
        if (v && typeof v.pid === 'number') w.resolve({ pid: v.pid });
        else w.reject(new MonitorStartError(v?.error ?? 'malformed STARTED frame'));
        break;
      }
      case FrameType.Status: {
        const w = this.statusWaiters.shift();
        const v = parseJson(f.payload) as { pid?: number; running?: boolean } | null;
        if (w) w.resolve({ pid: v?.pid ?? 0, running: v?.running === true });
        break;
      }
      case FrameType.Exit: {
        const v = toExitInfo(parseJson(f.payload));
        if (v) { this.exitInfo = v; this.emit('exit', v); }
        break;
      }
      default: break;
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('monitor connection closed');
    for (const w of this.startWaiters.splice(0)) w.reject(err);
    for (const w of this.statusWaiters.splice(0)) w.reject(err);
    this.emit('close');
  }
}

function parseJson(b: Buffer): unknown {
  try { return JSON.parse(b.toString('utf8')); } catch { return null; }
}

function toExitInfo(v: unknown): ExitInfo | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (typeof o.exitCode !== 'number') return null;
  return {
    exitCode: o.exitCode,
    signal: typeof o.signal === 'number' ? o.signal : 0,
    finishedAt: typeof o.finishedAt === 'string' ? o.finishedAt : '',
  };
}

/** The exit record the monitor leaves behind; null if there is none (yet) or it is unreadable. */
export function readExitFile(path: string): ExitInfo | null {
  try { return toExitInfo(JSON.parse(fs.readFileSync(path, 'utf8'))); } catch { return null; }
}
