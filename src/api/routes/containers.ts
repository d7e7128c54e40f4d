// /containers/* and /exec/*: thin handlers over the container and exec services.
import type { Duplex } from 'node:stream';
import { invalid, notFound, conflict, BargeError, messageOf } from '../../lib/errors.js';
import { log } from '../../lib/log.js';
import { MonitorConnection } from '../../monitor/client.js';
import type { ContainerService, CreateRequest } from '../../container/service.js';
import type { ExecService, ExecConfig } from '../../container/exec.js';
import { listContainers, summary } from '../../container/list.js';
import { readLogs } from '../../container/logs.js';
import { containerStats, containerTop } from '../../container/spec.js';
import { hijack, frame, RAW_STREAM, MULTIPLEXED_STREAM } from '../hijack.js';
import { parseDetachKeys as parseKeys, DEFAULT_DETACH_KEYS } from '../../lib/detachkeys.js';
import { type Router, type Ctx, readJsonBody, sendJson, sendNoContent, qBool, qInt, qFilters, compareVersions } from '../router.js';
import type { ContainerRecord } from '../../container/types.js';

export interface ContainerRouteDeps {
  containers: ContainerService;
  execs: ExecService;
  imageName: (id: string) => string | undefined;
  imageMatches: (c: ContainerRecord, ref: string) => boolean;
  inspectExtra?: (c: ContainerRecord) => Record<string, unknown>;
  rootfsSize?: (id: string) => Promise<number>;
  networkStats?: (id: string, pid: number) => Record<string, unknown> | undefined;
}

export function containerRoutes(r: Router, d: ContainerRouteDeps): void {
  const cs = d.containers;

  r.get('/containers/json', async ({ res, query }) => {
    const list = listContainers(cs.store.all(), { all: qBool(query, 'all'), limit: qInt(query, 'limit'), filters: qFilters(query) },
      (ref) => cs.store.tryFind(ref), d.imageMatches);
    const size = qBool(query, 'size');
    const out = [];
    for (const c of list) {
      const s = summary(c, d.imageName);
      if (size && d.rootfsSize) s.SizeRw = await d.rootfsSize(c.Id).catch(() => 0);
      out.push(s);
    }
    sendJson(res, 200, out);
  });

  r.post('/containers/create', async ({ req, res, query }) => {
    const body = await readJsonBody<CreateRequest>(req);
    const name = query.get('name') || undefined;
    const out = await cs.createContainer(body, name);
    sendJson(res, 201, out);
  });

  r.get('/containers/{id}/json', async ({ res, params, query }) => {
    const c = cs.find(params.id!);
    const out: Record<string, unknown> = inspectContainer(c);
    if (qBool(query, 'size') && d.rootfsSize) out.SizeRw = await d.rootfsSize(c.Id).catch(() => 0);
    Object.assign(out, d.inspectExtra?.(c) ?? {});
    sendJson(res, 200, out);
  });

  r.post('/containers/{id}/start', async ({ res, params, query }) => {
    if (query.get('checkpoint')) throw invalid('checkpoints are not supported');
    await cs.start(params.id!);
    sendNoContent(res);
  });

  r.post('/containers/{id}/stop', async ({ res, params, query }) => {
    const t = qInt(query, 't');
    await cs.stop(params.id!, t, query.get('signal') ?? undefined);
    sendNoContent(res);
  });

  r.post('/containers/{id}/restart', async ({ res, params, query }) => {
    await cs.restart(params.id!, qInt(query, 't'), query.get('signal') ?? undefined);
    sendNoContent(res);
  });

  r.post('/containers/{id}/kill', async ({ res, params, query }) => {
    await cs.kill(params.id!, query.get('signal') || 'SIGKILL');
    sendNoContent(res);
  });

  r.post('/containers/{id}/pause', async ({ res, params }) => { await cs.pause(params.id!); sendNoContent(res); });
  r.post('/containers/{id}/unpause', async ({ res, params }) => { await cs.unpause(params.id!); sendNoContent(res); });

  r.post('/containers/{id}/rename', ({ res, params, query }) => {
    cs.rename(params.id!, query.get('name') ?? '');
    sendNoContent(res);
  });

  r.delete('/containers/{id}', async ({ res, params, query }) => {
    if (qBool(query, 'link')) throw invalid('legacy links are not supported');
    const c = cs.find(params.id!);
    await cs.remove(c.Id, { force: qBool(query, 'force'), volumes: qBool(query, 'v') });
    d.execs.forgetContainer(c.Id);
    sendNoContent(res);
  });

  r.post('/containers/{id}/wait', async ({ res, params, query }) => {
    const p = cs.wait(params.id!, query.get('condition') ?? 'not-running');
    // Headers go out at once: clients (docker run) wait for them before starting the container.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const out = await p;
    res.end(JSON.stringify(out) + '\n');
  });

  r.post('/containers/{id}/resize', ({ res, params, query }) => {
    const c = cs.find(params.id!);
    const h = qInt(query, 'h') ?? 0;
    const w = qInt(query, 'w') ?? 0;
    if (h < 0 || w < 0) throw invalid('invalid terminal size');
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    void MonitorConnection.connect(cs.socketPath(c.Id)).then((conn) => { conn.resize(h, w); conn.close(); }).catch(() => undefined);
    sendNoContent(res, 200);
  });

  r.post('/containers/prune', async ({ res, query }) => {
    const filters = qFilters(query);
    for (const k of filters.keys()) if (!['until', 'label', 'label!'].includes(k)) throw invalid(`invalid filter '${k}'`);
    const deleted: string[] = [];
    for (const c of cs.store.all()) {
      if (c.State.Running || c.State.Restarting) continue;
      if (!pruneMatches(c, filters)) continue;
      try { await cs.remove(c.Id, {}); deleted.push(c.Id); } catch (e) { log.warn('prune: could not remove container', { id: c.Id, error: messageOf(e) }); }
    }
    sendJson(res, 200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: 0 });
  });

  r.get('/containers/{id}/logs', async (ctx) => {
    const { res, params, query } = ctx;
    const c = cs.find(params.id!);
    const stdout = qBool(query, 'stdout');
    const stderr = qBool(query, 'stderr');
    if (!stdout && !stderr) throw invalid('Bad parameters: you must choose at least one stream');
    if (!c.LogPath) throw invalid(`configured logging driver does not support reading`);
    const tailRaw = query.get('tail');
    const tail = tailRaw === null || tailRaw === '' || tailRaw === 'all' ? undefined : Number(tailRaw);
    if (tail !== undefined && !Number.isInteger(tail)) throw invalid(`invalid value for "tail": ${tailRaw}`);
    const ts = qBool(query, 'timestamps');
    const follow = qBool(query, 'follow');
    const tty = !!c.Config.Tty;
    res.writeHead(200, { 'Content-Type': tty ? RAW_STREAM : MULTIPLEXED_STREAM });
    res.flushHeaders();
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const stopped = () => { const cur = cs.store.get(c.Id); return !cur || !cur.State.Running; };
    for await (const e of readLogs(c.LogPath, { stdout, stderr, follow, tail: tail !== undefined && tail < 0 ? undefined : tail, since: parseTime(query.get('since')), until: parseTime(query.get('until')) }, stopped, ac.signal)) {
      const text = (ts ? e.time + ' ' : '') + e.log;
      const buf = Buffer.from(text);
      const ok = res.write(tty ? buf : frame(e.stream === 'stderr' ? 2 : 1, buf));
      if (!ok) await new Promise((r2) => res.once('drain', r2));
      if (ac.signal.aborted) break;
    }
    res.end();
  });

  r.post('/containers/{id}/attach', async (ctx) => {
    const c = cs.find(ctx.params.id!);
    const q = ctx.query;
    await attachContainer(ctx, cs, c, {
      stream: qBool(q, 'stream'), logs: qBool(q, 'logs'), stdin: qBool(q, 'stdin'), stdout: qBool(q, 'stdout'), stderr: qBool(q, 'stderr'),
      detachKeys: q.get('detachKeys') ?? undefined,
    });
  });

  r.get('/containers/{id}/top', async ({ res, params, query }) => {
    const c = cs.find(params.id!);
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    sendJson(res, 200, await containerTop(c, query.get('ps_args') || '-ef'));
  });

  r.get('/containers/{id}/stats', async ({ res, params, query }) => {
    const c = cs.find(params.id!);
    const stream = qBool(query, 'stream', true);
    const oneShot = qBool(query, 'one-shot');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    let prev: Record<string, unknown> | undefined;
    const sample = () => {
      const cur = cs.store.get(c.Id) ?? c;
      return containerStats(cur, prev, cur.State.Running ? d.networkStats?.(cur.Id, cur.State.Pid) : undefined);
    };
    if (!stream) {
      if (!oneShot) { prev = sample(); await sleep(500); }
      res.end(JSON.stringify(sample()) + '\n');
      return;
    }
    let closed = false;
    res.on('close', () => { closed = true; });
    while (!closed) {
      const s = sample();
      res.write(JSON.stringify(s) + '\n');
      prev = s;
      if (!cs.store.get(c.Id)?.State.Running) { res.end(); return; }
      await sleep(1000);
    }
  });

  // ---- exec ----

  r.post('/containers/{id}/exec', async ({ req, res, params }) => {
    const body = await readJsonBody<ExecConfig>(req);
    sendJson(res, 201, d.execs.create(params.id!, body));
  });

  r.get('/exec/{id}/json', ({ res, params }) => sendJson(res, 200, d.execs.inspect(params.id!)));

  r.post('/exec/{id}/resize', ({ res, params, query }) => {
    d.execs.resize(params.id!, qInt(query, 'h') ?? 0, qInt(query, 'w') ?? 0);
    sendNoContent(res, 200);
  });

  r.post('/exec/{id}/start', async (ctx) => {
    const body = await readJsonBody<{ Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null }>(ctx.req, { optional: true });
    const e = d.execs.get(ctx.params.id!);
    if (e.Started) throw conflict(`Error: Exec command ${e.ID} has already run`);
    const tty = body.Tty ?? e.Config.Tty ?? false;
    if (body.Detach) {
      await d.execs.start(e.ID, { detach: true, tty, consoleSize: body.ConsoleSize });
      sendNoContent(ctx.res, 200);
      return;
    }
    let sock: Duplex | null = null;
    try {
      await d.execs.start(e.ID, { detach: false, tty, consoleSize: body.ConsoleSize }, (conn) => {
        sock = hijack(ctx, tty ? RAW_STREAM : MULTIPLEXED_STREAM);
        pipeSession(sock, conn, { tty, stdin: !!e.Config.AttachStdin, stdout: e.Config.AttachStdout !== false, stderr: e.Config.AttachStderr !== false, stdinOnce: true, detachKeys: e.Config.DetachKeys });
      });
    } catch (err) {
      if (sock) {
        // The stream is already open: Docker writes the error into it.
        const s = sock as Duplex;
        const msg = Buffer.from(messageOf(err) + '\r\n');
        s.end(tty ? msg : frame(2, msg));
        return;
      }
      throw err;
    }
  });
}

// ---- attach plumbing ----

interface AttachOpts { stream: boolean; logs: boolean; stdin: boolean; stdout: boolean; stderr: boolean; detachKeys?: string }

async function attachContainer(ctx: Ctx, cs: ContainerService, c: ContainerRecord, o: AttachOpts): Promise<void> {
  const tty = !!c.Config.Tty;
  const sock = hijack(ctx, tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  if (o.logs && c.LogPath) {
    for await (const e of readLogs(c.LogPath, { stdout: o.stdout, stderr: o.stderr, follow: false }, () => true)) {
      const b = Buffer.from(e.log);
      sock.write(tty ? b : frame(e.stream === 'stderr' ? 2 : 1, b));
    }
  }
  if (!o.stream) { sock.end(); return; }
  const wire = async (socketPath: string) => {
    const conn = await MonitorConnection.connect(socketPath);
    pipeSession(sock, conn, { tty, stdin: o.stdin && !!c.Config.OpenStdin, stdout: o.stdout, stderr: o.stderr, stdinOnce: !!c.Config.StdinOnce, detachKeys: o.detachKeys });
  };
  const cur = cs.store.get(c.Id);
  if (cur && cur.State.Running && !cur.State.Restarting) {
    try { await wire(cs.socketPath(c.Id)); } catch { sock.end(); }
    return;
  }
  // Not running: the stream waits for the next start (docker run/start -a attach first).
  const cancel = cs.onNextStart(c.Id, wire);
  sock.on('close', cancel);
}

const DEFAULT_DETACH = Buffer.from(parseKeys(DEFAULT_DETACH_KEYS));

export function parseDetachKeys(spec: string | undefined): Buffer {
  if (spec === undefined || spec === '') return DEFAULT_DETACH;
  try { return Buffer.from(parseKeys(spec)); } catch { throw invalid(`Invalid detach keys (${spec}) provided`); }
}

/** Copy between a hijacked client connection and a monitor connection. */
export function pipeSession(sock: Duplex, conn: MonitorConnection, o: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean; stdinOnce: boolean; detachKeys?: string }): void {
  conn.subscribe(o.stdout, o.stderr);
  let ended = false;
  const finish = () => { if (ended) return; ended = true; conn.close(); sock.end(); };
  conn.on('stdout', (b: Buffer) => { if (!ended) sock.write(o.tty ? b : frame(1, b)); });
  conn.on('stderr', (b: Buffer) => { if (!ended) sock.write(o.tty ? b : frame(2, b)); });
  conn.on('exit', finish);
  conn.on('close', finish);
  sock.on('error', () => finish());
  sock.on('close', () => { ended = true; conn.close(); });
  if (o.stdin) {
    let keys: Buffer;
    try { keys = parseDetachKeys(o.detachKeys); } catch { keys = DEFAULT_DETACH; }
    let matched = 0;
    sock.on('data', (chunk: Buffer) => {
      // Detach keys: hold back a partial match; on a full match, drop the connection only.
      let start = 0;
      const out: Buffer[] = [];
      for (let i = 0; i < chunk.length; i++) {
        if (keys.length && chunk[i] === keys[matched]) {
          matched++;
          if (matched === keys.length) {
            out.push(chunk.subarray(start, i + 1 - matched));
            const data = Buffer.concat(out);
            if (data.length) conn.writeStdin(data);
            ended = true; conn.close(); sock.end();
            return;
          }
        } else if (matched > 0) {
          matched = 0;
        }
      }
      if (chunk.length) conn.writeStdin(chunk.subarray(start));
    });
    sock.on('end', () => { if (o.stdinOnce && !ended) conn.closeStdin(); });
    sock.resume();   // the upgrade handler may have paused it while reading the request body
  } else {
    sock.resume();
  }
}

// ---- inspect ----

export function inspectContainer(c: ContainerRecord): Record<string, unknown> {
  const { barge: _b, ...rest } = c;
  void _b;
  return {
    ...rest,
    GraphDriver: { Name: 'overlay2', Data: null },
    Config: { ...c.Config, Env: c.Config.Env ?? [], Cmd: c.Config.Cmd ?? null, Entrypoint: c.Config.Entrypoint ?? null },
  };
}

function pruneMatches(c: ContainerRecord, f: Map<string, string[]>): boolean {
  for (const v of f.get('until') ?? []) {
    const t = parseTime(v);
    if (t !== undefined && Date.parse(c.Created) / 1000 >= t) return false;
  }
  for (const v of f.get('label') ?? []) {
    const [k, val] = v.split('=');
    const labels = c.Config.Labels ?? {};
    if (!(k! in labels) || (val !== undefined && labels[k!] !== val)) return false;
  }
  for (const v of f.get('label!') ?? []) {
    const [k, val] = v.split('=');
    const labels = c.Config.Labels ?? {};
    if (k! in labels && (val === undefined || labels[k!] === val)) return false;
  }
  return true;
}

/** Docker's time params: unix seconds (fractional), RFC 3339, or a duration before now ("10m"). */
export function parseTime(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const d = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (d) {
    const mult = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }[d[2] as 'ns'];
    return Date.now() / 1000 - Number(d[1]) * mult;
  }
  const t = Date.parse(v);
  if (!Number.isNaN(t)) return t / 1000;
  throw invalid(`invalid time value: ${v}`);
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

