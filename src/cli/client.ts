// The CLI's API client: HTTP over the daemon's unix socket (or tcp://), Docker Engine API v1.47.
// Only node's http module: the CLI's start-up time is part of every command.
import * as http from 'node:http';
import type { Duplex } from 'node:stream';

export const API_PREFIX = '/v1.47';
export const DEFAULT_HOST = 'unix:///run/barge/barge.sock';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export class ConnectError extends Error {}

type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;            // JSON-encoded unless a Buffer or stream
  headers?: Record<string, string>;
}

export class Client {
  private readonly target: { socketPath?: string; host?: string; port?: number; servername?: string };
  readonly host: string;
  private agent: http.Agent;

  constructor(host?: string) {
    this.host = host || process.env.BARGE_HOST || DEFAULT_HOST;
    // servername: http's agent would otherwise work out a TLS server name from the Host header,
    // and its first IPv6 regex match costs ~7 ms of start-up: a unix socket has no TLS.
    if (this.host.startsWith('unix://')) this.target = { socketPath: this.host.slice(7), servername: '' };
    else if (this.host.startsWith('/')) this.target = { socketPath: this.host, servername: '' };
    else if (this.host.startsWith('tcp://')) {
      const u = new URL(this.host.replace(/^tcp:/, 'http:'));
      this.target = { host: u.hostname, port: Number(u.port || 2375) };
    } else throw new ConnectError(`invalid host "${this.host}": use unix:///path/to.sock or tcp://host:port`);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  private url(path: string, query?: Query): string {
    let qs = '';
    if (query) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) p.set(k, v === true ? '1' : v === false ? '0' : String(v));
      const s = p.toString();
      if (s) qs = '?' + s;
    }
    return API_PREFIX + path + qs;
  }

  private connectError(err: NodeJS.ErrnoException): Error {
    if (['ENOENT', 'ECONNREFUSED', 'EACCES'].includes(err.code ?? '')) {
      const why = err.code === 'EACCES' ? ': permission denied (run as root or join the socket\'s group)' : '. Is the barge daemon running?';
      return new ConnectError(`Cannot connect to the barge daemon at ${this.host}${why}`);
    }
    return err;
  }

  /** Send a request and return the raw response (for streams). Non-2xx responses throw ApiError. */
  raw(method: string, path: string, o: RequestOptions = {}): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      let payload: Buffer | undefined;
      let stream: NodeJS.ReadableStream | undefined;
      if (o.body !== undefined) {
        if (Buffer.isBuffer(o.body)) payload = o.body;
        else if (o.body && typeof (o.body as NodeJS.ReadableStream).pipe === 'function') stream = o.body as NodeJS.ReadableStream;
        else { payload = Buffer.from(JSON.stringify(o.body)); headers['Content-Type'] ??= 'application/json'; }
      }
      if (payload) headers['Content-Length'] = String(payload.length);
      const req = http.request({ ...this.target, agent: this.agent, method, path: this.url(path, o.query), headers }, (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          readAll(res).then((buf) => reject(new ApiError(res.statusCode ?? 500, errorMessage(buf, res.statusCode ?? 500))), reject);
          return;
        }
        resolve(res);
      });
      req.on('error', (e) => reject(this.connectError(e as NodeJS.ErrnoException)));
      if (stream) stream.pipe(req);
      else req.end(payload);
    });
  }

  async json<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, o);
    const buf = await readAll(res);
    if (res.statusCode === 204 || res.statusCode === 304 || buf.length === 0) return undefined as T;
    return JSON.parse(buf.toString('utf8')) as T;
  }

  get<T = unknown>(path: string, query?: Query): Promise<T> { return this.json<T>('GET', path, { query }); }
  post<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T> { return this.json<T>('POST', path, { body, query }); }
  delete<T = unknown>(path: string, query?: Query): Promise<T> { return this.json<T>('DELETE', path, { query }); }

  /** Upgrade the connection (attach, exec start) and return the raw stream. */
  hijack(path: string, o: RequestOptions = {}): Promise<{ socket: Duplex; contentType: string }> {
    return new Promise((resolve, reject) => {
      const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
      const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'tcp', ...(o.headers ?? {}) };
      if (payload) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = String(payload.length); }
      const req = http.request({ ...this.target, method: 'POST', path: this.url(path, o.query), headers });
      req.on('upgrade', (res, socket, head) => {
        if (head.length) socket.unshift(head);
        resolve({ socket, contentType: String(res.headers['content-type'] ?? '') });
      });
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          readAll(res).then((buf) => reject(new ApiError(res.statusCode ?? 500, errorMessage(buf, res.statusCode ?? 500))), reject);
          return;
        }
        // A daemon that does not upgrade: the body is the stream.
        resolve({ socket: res.socket as Duplex, contentType: String(res.headers['content-type'] ?? '') });
      });
      req.on('error', (e) => reject(this.connectError(e as NodeJS.ErrnoException)));
      req.end(payload);
    });
  }

  close(): void { this.agent.destroy(); }
}

export function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

function errorMessage(buf: Buffer, status: number): string {
  try {
    const v = JSON.parse(buf.toString('utf8')) as { message?: string };
    if (v.message) return v.message;
  } catch { /* not JSON */ }
  return buf.toString('utf8').trim() || `HTTP ${status}`;
}

/** Split Docker's multiplexed stream into stdout/stderr writes. */
export function demux(onData: (stream: number, data: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      onData(buf[0]!, buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
  };
}

/** Read a newline-delimited JSON stream. */
export async function* jsonLines<T>(res: NodeJS.ReadableStream): AsyncGenerator<T> {
  let partial = '';
  for await (const chunk of res as AsyncIterable<Buffer>) {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) yield JSON.parse(l) as T;
  }
  if (partial.trim()) yield JSON.parse(partial) as T;
}
