// What every command gets: the API client (made on first use), output, argument parsing with
// Docker's help and error wording, and Docker's way of reporting errors and exit codes.
import { Client, ApiError, ConnectError } from './client.js';
import { parseCommand, usage, UsageError, type CommandSpec, type ArgsRule, type ParseResult } from './lib/flags.js';

export class HelpShown extends Error { constructor() { super('help'); } }

export class Cli {
  private c: Client | null = null;
  constructor(readonly host: string | undefined, readonly path: string) {}

  get client(): Client {
    if (!this.c) this.c = new Client(this.host);
    return this.c;
  }

  out(s: string): void { process.stdout.write(s); }
  err(s: string): void { process.stderr.write(s); }

  /** Parse argv for a command; prints help and throws HelpShown for --help. */
  parse(spec: Omit<CommandSpec, 'path'>, argv: string[], args?: ArgsRule): ParseResult {
    const cmd: CommandSpec = { ...spec, path: this.path };
    const r = parseCommand(cmd, argv, args);
    if (r.help) { this.out(usage(cmd, process.stdout.columns ?? 0)); throw new HelpShown(); }
    for (const w of r.warnings) this.err(w + '\n');
    return r;
  }

  /** Run fn for each argument as docker does for stop/rm/kill…: print the name on success, errors on stderr. */
  async forEach(args: string[], fn: (arg: string) => Promise<void>, printName = true): Promise<number> {
    let failed = false;
    for (const a of args) {
      try {
        await fn(a);
        if (printName) this.out(a + '\n');
      } catch (e) {
        failed = true;
        this.err(Cli.message(e) + '\n');
      }
    }
    return failed ? 1 : 0;
  }

  close(): void { this.c?.close(); }

  static message(err: unknown): string {
    if (err instanceof ApiError) return `Error response from daemon: ${err.message}`;
    if (err instanceof Error) return err.message;
    return String(err);
  }

  /** Print an error as docker does and return the exit code. */
  static report(err: unknown, runLike = false): number {
    if (err instanceof HelpShown) return 0;
    if (err instanceof UsageError) { process.stderr.write(err.message + '\n'); return err.exitCode; }
    if (err instanceof ConnectError) { process.stderr.write(err.message + '\n'); return runLike ? 125 : 1; }
    const msg = Cli.message(err);
    process.stderr.write((runLike ? `barge: ${msg}` : msg) + '\n');
    if (process.env.BARGE_DEBUG && err instanceof Error && !(err instanceof ApiError)) process.stderr.write((err.stack ?? '') + '\n');
    return runLike ? 125 : 1;
  }
}
