// Exec sessions: extra processes in a running container (`docker exec`). Each runs under its own
// monitor (bargemon in exec mode: `runc exec -d`), so it survives a barged restart like the
// container itself; its output goes only to the client that started it, never to the log.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, invalid, notFound, messageOf } from '../lib/errors.js';
import { writeFileAtomic } from '../lib/fsutil.js';
import { newId } from '../lib/ids.js';
import type { EventBus } from '../lib/events.js';
import { spawnMonitor, MonitorConnection, readExitFile, type ExitInfo } from '../monitor/client.js';
import type { ContainerService } from './service.js';
import { execProcess } from './spec.js';

export interface ExecConfig {
  AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean; DetachKeys?: string;
  Tty?: boolean; ConsoleSize?: [number, number] | null; Env?: string[] | null; Cmd?: string[];
  Privileged?: boolean; User?: string; WorkingDir?: string;
}

export interface ExecRecord {
  ID: string;
  ContainerID: string;
  Config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  Started: boolean;
  conn?: MonitorConnection;
  exitWaiters: Array<(info: ExitInfo) => void>;
  pendingResize?: [number, number];
}

export class ExecService {
  private execs = new Map<string, ExecRecord>();
  constructor(private readonly containers: ContainerService, private readonly events: EventBus) {}

  private dir(): string { return path.join(this.containers.execRoot, 'e'); }

  create(ref: string, cfg: ExecConfig): { Id: string } {
    const c = this.containers.find(ref);
    if (!c.State.Running || c.State.Restarting) throw conflict(`container ${c.Id} is not running`);
    if (c.State.Paused) throw conflict(`container ${c.Id} is paused, unpause the container before exec`);
    if (!Array.isArray(cfg.Cmd) || cfg.Cmd.length === 0) throw invalid('No exec command specified');
    const id = newId();
    this.execs.set(id, { ID: id, ContainerID: c.Id, Config: cfg, Running: false, ExitCode: null, Pid: 0, Started: false, exitWaiters: [] });
    c.ExecIDs = [...(c.ExecIDs ?? []), id];
    this.events.publish('container', `exec_create: ${cfg.Cmd.join(' ')}`, c.Id, { execID: id, image: c.Config.Image ?? '', name: c.Name.slice(1) });
    return { Id: id };
  }

  get(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return e;
  }

  socketPath(id: string): string { return path.join(this.containers.execRoot, 'm', id); }

  /**
   * Start the exec process. `wire` connects the client's streams to the monitor before the
   * process runs (so no output is lost); it is skipped for detached execs.
   */
  async start(id: string, o: { detach: boolean; tty?: boolean; consoleSize?: [number, number] | null }, wire?: (conn: MonitorConnection) => void): Promise<ExecRecord> {
    const e = this.get(id);
    if (e.Started) throw conflict(`Error: Exec command ${id} has already run`);
    const c = this.containers.find(e.ContainerID);
    if (!c.State.Running || c.State.Restarting) throw conflict(`container ${c.Id} is not running`);
    if (c.State.Paused) throw conflict(`container ${c.Id} is paused, unpause the container before exec`);
    e.Started = true;
    if (o.tty !== undefined) e.Config.Tty = o.tty;
    fs.mkdirSync(this.dir(), { recursive: true, mode: 0o700 });
    const procFile = path.join(this.dir(), `${id}.json`);
    const exitFile = path.join(this.dir(), `${id}.exit`);
    const pidFile = path.join(this.dir(), `${id}.pid`);
    const sock = this.socketPath(id);
    this.containers.execIds.add(id);
    const cleanup = () => {
      for (const f of [procFile, exitFile, pidFile, sock]) fs.rmSync(f, { force: true });
      this.containers.execIds.delete(id);
    };
    try {
      const proc = execProcess(c, path.join(this.containers.bundleDir(c.Id), 'config.json'), this.containers.rootfsDir(c.Id), e.Config);
      writeFileAtomic(procFile, JSON.stringify(proc));
      await spawnMonitor({
        binary: this.containers.monitorBinary, runtime: this.containers.runtimeBinary, runtimeRoot: this.containers.runc.opts.root,
        id: c.Id, socketPath: sock, exitFile, pidFile, execProcessFile: procFile, tty: !!e.Config.Tty, stdin: !!e.Config.AttachStdin && !o.detach,
      });
      const conn = await MonitorConnection.connect(sock);
      e.conn = conn;
      if (wire && !o.detach) wire(conn);
      const size = o.consoleSize ?? e.Config.ConsoleSize ?? e.pendingResize;
      if (e.Config.Tty && size && size[0] > 0 && size[1] > 0) conn.resize(size[0], size[1]);
      // The exit may arrive in the same read as the STARTED answer (a quick command), before
      // start() below resumes: settle once, and never mark a finished exec as running.
      let finished = false;
      const done = (info: ExitInfo) => {
        if (finished) return;
        finished = true;
        e.Running = false;
        e.ExitCode = info.exitCode;
        conn.close();
        cleanup();
        this.events.publish('container', 'exec_die', c.Id, { execID: id, exitCode: String(info.exitCode), image: c.Config.Image ?? '', name: c.Name.slice(1) });
        for (const w of e.exitWaiters.splice(0)) w(info);
      };
      conn.on('exit', done);
      conn.on('close', () => done(readExitFile(exitFile) ?? { exitCode: 126, signal: 0, finishedAt: new Date().toISOString() }));
      const { pid } = await conn.start().catch((err: Error & { runtimeMessage?: string }) => {
        const msg = err.runtimeMessage ?? err.message;
        const code = /executable file not found|no such file or directory/.test(msg) ? 127 : 126;
        finished = true;   // the monitor closing after a failed start is not an exit
        e.ExitCode = code;
        throw Object.assign(new Error(`OCI runtime exec failed: ${msg}`), { exitCode: code });
      });
      e.Pid = pid;
      e.Running = !finished;
      this.events.publish('container', `exec_start: ${(e.Config.Cmd ?? []).join(' ')}`, c.Id, { execID: id, image: c.Config.Image ?? '', name: c.Name.slice(1) });
      return e;
    } catch (err) {
      e.Running = false;
      e.conn?.close();
      cleanup();
      if (e.ExitCode === null) e.ExitCode = 126;
      throw err instanceof Error ? err : new Error(messageOf(err));
    }
  }

  resize(id: string, h: number, w: number): void {
    const e = this.get(id);
    if (!e.Config.Tty) return;
    if (e.conn && e.Running) e.conn.resize(h, w);
    else e.pendingResize = [h, w];
  }

  inspect(id: string): Record<string, unknown> {
    const e = this.get(id);
    const c = this.containers.store.get(e.ContainerID);
    const cmd = e.Config.Cmd ?? [];
    return {
      ID: e.ID, Running: e.Running, ExitCode: e.ExitCode, ProcessConfig: {
        tty: !!e.Config.Tty, entrypoint: cmd[0] ?? '', arguments: cmd.slice(1), privileged: !!e.Config.Privileged, user: e.Config.User ?? '',
      },
      OpenStdin: !!e.Config.AttachStdin, OpenStderr: !!e.Config.AttachStderr, OpenStdout: !!e.Config.AttachStdout,
      CanRemove: false, ContainerID: e.ContainerID, DetachKeys: e.Config.DetachKeys ?? '', Pid: e.Pid,
    };
  }

  waitExit(id: string): Promise<ExitInfo> {
    const e = this.get(id);
    if (e.Started && !e.Running && e.ExitCode !== null) return Promise.resolve({ exitCode: e.ExitCode, signal: 0, finishedAt: '' });
    return new Promise((r) => e.exitWaiters.push(r));
  }

  /**
   * Run a command in a running container and collect its output (at most `maxOutput` bytes of
   * stdout and stderr together) and exit code; killed after `timeoutMs` (exit code -1, as
   * Docker's health checks report a timeout). Leaves no trace in the container's ExecIDs.
   */
  async probe(containerId: string, cmd: string[], o: { timeoutMs: number; maxOutput?: number; user?: string }): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
    const max = o.maxOutput ?? 4096;
    const { Id } = this.create(containerId, { Cmd: cmd, AttachStdout: true, AttachStderr: true, User: o.user });
    const chunks: Buffer[] = [];
    let size = 0;
    const take = (b: Buffer) => { if (size < max) { chunks.push(b.subarray(0, max - size)); size += Math.min(b.length, max - size); } };
    let timedOut = false;
    try {
      let e: ExecRecord;
      try {
        e = await this.start(Id, { detach: false }, (conn) => { conn.subscribe(true, true); conn.on('stdout', take); conn.on('stderr', take); });
      } catch (err) {
        return { exitCode: (err as { exitCode?: number }).exitCode ?? 126, output: messageOf(err), timedOut: false };
      }
      const timer = setTimeout(() => { timedOut = true; try { process.kill(e.Pid, 'SIGKILL'); } catch { /* gone */ } }, o.timeoutMs);
      const info = await this.waitExit(Id);
      clearTimeout(timer);
      return { exitCode: timedOut ? -1 : info.exitCode, output: Buffer.concat(chunks).toString('utf8'), timedOut };
    } finally {
      const c = this.containers.store.get(containerId);
      if (c) c.ExecIDs = (c.ExecIDs ?? []).filter((x) => x !== Id);
      this.execs.delete(Id);
    }
  }

  /** Forget finished execs of a removed container. */
  forgetContainer(containerId: string): void {
    for (const [id, e] of this.execs) if (e.ContainerID === containerId && !e.Running) this.execs.delete(id);
  }
}
