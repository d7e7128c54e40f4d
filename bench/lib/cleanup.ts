// Everything a run sets up registers how to undo it here; the runner undoes it all, last first, when
// the run ends: normally, on an error, on Ctrl-C/SIGTERM/SIGHUP, or when the run's deadline passes.
//
// Ctrl-C does not kill the run on the spot: it aborts the benchmarks (they check `abortSignal`
// between iterations), then cleanup runs. The engines' daemons are started in their own process
// groups so the terminal's SIGINT reaches only the runner, never them: the runner stops them in
// order (containers first), rather than having them die half-way.

type Fn = () => Promise<void> | void;

interface Entry { name: string; fn: Fn }

const stack: Entry[] = [];
const controller = new AbortController();
export const abortSignal: AbortSignal = controller.signal;

/** Registers an undo step; returns a function that unregisters it (when undone by normal flow). */
export function onCleanup(name: string, fn: Fn): () => void {
  const e: Entry = { name, fn };
  stack.push(e);
  return () => { const i = stack.indexOf(e); if (i >= 0) stack.splice(i, 1); };
}

let running: Promise<void> | null = null;

/** Runs every registered undo step, last registered first; each gets at most timeoutMs. Idempotent. */
export function runCleanups(timeoutMs = 60_000): Promise<void> {
  if (running) return running;
  running = (async () => {
    while (stack.length) {
      const e = stack.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(e.fn),
          new Promise<void>((_, rej) => { timer = setTimeout(() => rej(new Error('timed out')), timeoutMs); }),
        ]);
      } catch (err) {
        process.stderr.write(`bench: cleanup "${e.name}" failed: ${(err as Error).message}\n`);
      } finally {
        clearTimeout(timer);
      }
    }
  })();
  return running;
}

/** Throws if the run was aborted (Ctrl-C, deadline): benchmarks call it between iterations. */
export function checkAbort(): void {
  if (controller.signal.aborted) throw new AbortError(String(controller.signal.reason ?? 'aborted'));
}

export class AbortError extends Error { override name = 'AbortError'; }

export function abort(reason: string): void {
  if (!controller.signal.aborted) controller.abort(reason);
}

/**
 * Ctrl-C / SIGTERM / SIGHUP: abort the benchmarks; if they have not unwound within graceMs (a
 * call stuck in a daemon), clean up anyway and exit. A third signal exits at once.
 */
export function installSignalHandlers(graceMs = 15_000): void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      process.stderr.write(`\nbench: ${sig}: stopping, cleaning up (containers, daemons, bridges, temp dirs)...\n`);
      abort(`interrupted by ${sig}`);
      setTimeout(() => {
        process.stderr.write('bench: benchmarks did not stop in time; cleaning up now\n');
        void runCleanups().finally(() => process.exit(130));
      }, graceMs).unref();
    } else if (count === 2) {
      process.stderr.write('bench: still cleaning up; press Ctrl-C once more to exit without cleaning up\n');
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
}
