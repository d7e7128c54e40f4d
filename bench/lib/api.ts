// A minimal Docker Engine API client over a unix socket: the same client drives barged and dockerd,
// so both pay the same client-side costs. Connections are kept alive (like the docker CLI's and
// SDKs' clients), so a timed call measures the engine, not connection setup.
import * as http from 'node:http';
import { Readable } from 'node:stream';

export interface ApiResponse { status: number; body: any; text: string }

export class ApiError extends Error {
  constructor(readonly method: string, readonly path: string, readonly status: number, readonly text: string) {
    super(`${method} ${path}: HTTP ${status}: ${text.trim().slice(0, 500)}`);
  }
}

export class ApiClient {
  private readonly agent: http.Agent;

  constructor(readonly socketPath: string, readonly timeoutMs = 60_000) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  /** One request; the body is JSON (object), raw bytes (Buffer) or a stream (e.g. a tar to load). */
  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      let payload: Buffer | Readable | undefined;
      const h: Record<string, string> = { ...headers };
      if (body instanceof Readable) {
        payload = body;
        h['Content-Type'] ??= 'application/x-tar';
      } else if (Buffer.isBuffer(body)) {
        payload = body;
        h['Content-Type'] ??= 'application/x-tar';
        h['Content-Length'] = String(body.length);
      } else if (body !== undefined) {
        payload = Buffer.from(JSON.stringify(body));
        h['Content-Type'] = 'application/json';
        h['Content-Length'] = String(payload.length);
      }
      const req = http.request({ socketPath: this.socketPath, agent: this.agent, method, path, headers: h }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      if (payload instanceof Readable) payload.pipe(req);
      else req.end(payload);
    });
  }

  /** A request that must succeed (2xx or one of `ok`); returns the parsed body. */
  async call(method: string, path: string, body?: unknown, ok: number[] = []): Promise<any> {
    const r = await this.request(method, path, body);
    if ((r.status < 200 || r.status > 299) && !ok.includes(r.status)) throw new ApiError(method, path, r.status, r.text);
    return r.body;
  }

  /** Downloads a response body to a file-like sink; returns the status (non-2xx bodies are dropped). */
  download(path: string, onData: (b: Buffer) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, agent: this.agent, method: 'GET', path }, (res) => {
        const okStatus = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
        res.on('data', (c: Buffer) => { if (okStatus) onData(c); });
        res.on('error', reject);
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`GET ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void { this.agent.destroy(); }
}

/** Polls GET /_ping until it answers 200, the process dies, or the deadline passes. */
export async function waitForPing(api: ApiClient, o: { timeoutMs: number; alive: () => boolean; what: string }): Promise<void> {
  const until = Date.now() + o.timeoutMs;
  for (;;) {
    if (!o.alive()) throw new Error(`${o.what} exited during start-up`);
    try {
      const r = await api.request('GET', '/_ping');
      if (r.status === 200) return;
    } catch { /* not yet listening */ }
    if (Date.now() > until) throw new Error(`${o.what} did not answer /_ping within ${o.timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A pull or push: a JSON-stream request (anonymous X-Registry-Auth) that must end without an error
 * message; seconds from request to the end of the stream.
 */
export async function timedRegistryStream(api: ApiClient, method: string, path: string, what: string): Promise<number> {
  const t0 = performance.now();
  const r = await api.request(method, path, undefined, { 'X-Registry-Auth': Buffer.from('{}').toString('base64') });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 200 || /"error"/.test(r.text)) throw new Error(`${what}: HTTP ${r.status}: ${r.text.slice(-400)}`);
  return s;
}
