// Attaching the terminal to a container (run, start -a, attach): the hijacked stream, raw TTY mode,
// window size, detach keys, signal forwarding, and the exit code at the end.
import type { Duplex } from 'node:stream';
import type { Cli } from '../cli.js';
import { demux } from '../client.js';
import { parseDetachKeys, DEFAULT_DETACH_KEYS } from '../../lib/detachkeys.js';

export interface AttachOptions {
  stdin: boolean;
  detachKeys?: string;
  /** Start the container after attaching (run, start -a). */
  start: boolean;
  autoRemove: boolean;
  sigProxy?: boolean;
  /** Print nothing of stdout/stderr (run -d never gets here; attach --no-stdout...). */
  stdout?: boolean;
  stderr?: boolean;
}

/** The detach sequence: the given keys, or Docker's default ctrl-p,ctrl-q. */
export function detachSequence(spec: string | undefined): number[] {
  return parseDetachKeys(spec || DEFAULT_DETACH_KEYS);
}

/**
 * Put the terminal (stdin) in raw mode as Docker does (moby/term MakeRaw). libuv's raw mode keeps output
 * post-processing (ONLCR), so the container's own "\r\n" would reach the screen as "\r\r\n": turn OPOST
 * off too. Returns the function that restores the terminal (libuv saved its original settings).
 * child_process is loaded only here: it costs every `run` ~3 ms of start-up otherwise.
 */
export function makeRaw(): () => void {
  process.stdin.setRawMode(true);
  // Not import(): the bundled CLI runs in a vm.Script, where dynamic import is not available.
  const { spawnSync } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
  spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
  return () => { try { process.stdin.setRawMode(false); } catch { /* closed */ } };
}

/** Attach (and optionally start), stream until the container's output ends; return its exit code. */
export async function attachAndWait(cli: Cli, c: { Id: string; Config: { Tty?: boolean; OpenStdin?: boolean } }, o: AttachOptions): Promise<number> {
  const id = c.Id;
  const tty = !!c.Config.Tty;
  const client = cli.client;
  const keys = detachSequence(o.detachKeys);
  const { socket } = await client.hijack(`/containers/${id}/attach`, {
    query: { stream: true, stdin: o.stdin, stdout: o.stdout !== false, stderr: o.stderr !== false, detachKeys: o.detachKeys || undefined },
  });
  // Ask for the exit before starting, so a quick exit is not missed.
  const waitP = o.start ? client.post<{ StatusCode: number; Error?: { Message: string } | null }>(`/containers/${id}/wait`, undefined, { condition: o.autoRemove ? 'removed' : 'next-exit' }) : null;
  waitP?.catch(() => undefined);

  const stdinIsTTY = !!process.stdin.isTTY;
  let detached = false;
  let restore = () => {};
  const done = new Promise<void>((resolve) => {
    socket.on('end', resolve);
    socket.on('close', resolve);
    socket.on('error', resolve);
  });
  const write = (stream: number, data: Buffer) => (stream === 2 ? process.stderr : process.stdout).write(data);
  if (tty) socket.on('data', (b: Buffer) => { process.stdout.write(b); });
  else socket.on('data', demux((s, d) => write(s, d)));

  // Raw mode before the start, as Docker does, so the container's first output meets the terminal ready.
  if (tty && stdinIsTTY && o.stdin) restore = makeRaw();
  if (o.start) {
    try {
      await client.post(`/containers/${id}/start`);
    } catch (e) {
      restore();
      socket.destroy();
      if (waitP && o.autoRemove) await waitP.catch(() => undefined);
      throw e;
    }
  }

  if (tty && process.stdout.isTTY) {
    const resize = () => {
      const h = process.stdout.rows; const w = process.stdout.columns;
      if (h && w) void client.post(`/containers/${id}/resize`, undefined, { h, w }).catch(() => undefined);
    };
    resize();
    process.stdout.on('resize', resize);
  }
  if (!tty && o.sigProxy !== false) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) {
      process.on(sig, () => { void client.post(`/containers/${id}/kill`, undefined, { signal: sig }).catch(() => undefined); });
    }
  }
  if (o.stdin) pumpStdin(socket, keys, () => { detached = true; socket.destroy(); });

  await done;
  restore();
  process.stdin.pause();
  if (detached) { if (stdinIsTTY) cli.err('\r\n'); return 0; }
  if (waitP) {
    const r = await waitP;
    if (r.Error?.Message) cli.err(`barge: ${r.Error.Message}\n`);
    return r.StatusCode;
  }
  const info = await client.get<{ State: { Running: boolean; ExitCode: number } }>(`/containers/${id}/json`).catch(() => null);
  if (!info) return 0;
  if (!info.State.Running) return info.State.ExitCode;
  // The stream can end a moment before the engine has recorded the exit: wait for it (briefly:
  // a stream that ended for another reason leaves the container running).
  const exited = await Promise.race([
    client.post<{ StatusCode: number }>(`/containers/${id}/wait`, undefined, { condition: 'not-running' }).catch(() => null),
    new Promise<null>((r) => setTimeout(() => r(null), 5000).unref()),
  ]);
  if (!exited) client.close();  // drop the pending wait so that the process can exit
  return exited?.StatusCode ?? 0;
}

/** Copy stdin to the stream, watching for the detach keys; end the write side at EOF. */
function pumpStdin(socket: Duplex, keys: number[], onDetach: () => void): void {
  let matched = 0;
  process.stdin.on('data', (chunk: Buffer) => {
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === keys[matched]) {
        if (++matched === keys.length) { onDetach(); return; }
      } else matched = chunk[i] === keys[0] ? 1 : 0;
    }
    socket.write(chunk);
  });
  process.stdin.on('end', () => { (socket as Duplex & { end: () => void }).end(); });
  process.stdin.resume();
}
