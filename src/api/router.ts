// A small router for the Docker Engine API: method + path pattern ("/containers/{id}/start"),
// with the optional "/v1.xx" version prefix stripped first. Handlers are thin: they parse the
// request and call a subsystem service; errors are mapped to Docker's statuses here, once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BargeError, invalid, messageOf, statusOf } from '../lib/errors.js';
import { log } from '../lib/log.js';

export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  version: string;
  /** Set for requests that asked to upgrade the connection (attach, exec start). */
  upgrade?: { socket: Duplex; head: Buffer };
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

interface Route { method: string; parts: string[]; handler: Handler }

export class Router {
  private routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): void {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler });
  }
  get(p: string, h: Handler) { this.add('GET', p, h); }
  post(p: string, h: Handler) { this.add('POST', p, h); }
  put(p: string, h: Handler) { this.add('PUT', p, h); }
  delete(p: string, h: Handler) { this.add('DELETE', p, h); }
  head(p: string, h: Handler) { this.add('HEAD', p, h); }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'methodNotAllowed' | null {
    const segs = path.split('/').filter(Boolean).map(decodeSegment);
    let pathMatched = false;
    for (const r of this.routes) {
      const params = matchParts(r.parts, segs);
      if (!params) continue;
      pathMatched = true;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) return { handler: r.handler, params };
    }
    return pathMatched ? 'methodNotAllowed' : null;
  }

  async dispatch(req: IncomingMessage, res: ServerResponse, upgrade?: Ctx['upgrade']): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://barge');
    let path = url.pathname;
    let version = API_VERSION;
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (m) {
      version = m[1]!;
      path = m[2]!;
      if (compareVersions(version, MIN_API_VERSION) < 0) {
        return sendError(res, invalid(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`), upgrade);
      }
      if (compareVersions(version, API_VERSION) > 0) {
        return sendError(res, invalid(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`), upgrade);
      }
    }
    const found = this.match(req.method ?? 'GET', path);
    if (found === null) return sendError(res, new BargeError('notFound', `page not found`), upgrade);
    if (found === 'methodNotAllowed') return sendError(res, new BargeError('invalid', `method ${req.method} not allowed for ${path}`), upgrade, 405);
    const ctx: Ctx = { req, res, params: found.params, query: url.searchParams, version, upgrade };
    log.debug('request', { method: req.method, path });
    try {
      await found.handler(ctx);
    } catch (err) {
      if (statusOf(err) === 500) log.error('request failed', { method: req.method, path, error: messageOf(err), stack: (err as Error)?.stack });
      else log.debug('request refused', { method: req.method, path, error: messageOf(err) });
      sendError(res, err, upgrade);
    }
  }
}

function decodeSegment(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

function matchParts(parts: string[], segs: string[]): Record<string, string> | null {
  const params: Record<string, string> = {};
  // A trailing "{name*}" captures the rest (image names contain slashes: /images/a/b:tag/json).
  let i = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    if (part.startsWith('{') && part.endsWith('*}')) {
      const rest = parts.length - p - 1;
      const take = segs.length - i - rest;
      if (take < 1) return null;
      params[part.slice(1, -2)] = segs.slice(i, i + take).join('/');
      i += take;
      continue;
    }
    const seg = segs[i];
    if (seg === undefined) return null;
    if (part.startsWith('{')) params[part.slice(1, -1)] = seg;
    else if (part !== seg) return null;
    i++;
  }
  return i === segs.length ? params : null;
}

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 !== b1 ? a1 - b1 : a2 - b2;
}

export function sendError(res: ServerResponse, err: unknown, upgrade?: Ctx['upgrade'], statusOverride?: number): void {
  const status = statusOverride ?? statusOf(err);
  const body = JSON.stringify({ message: messageOf(err) }) + '\n';
  if (upgrade) {
    // The connection was handed to us raw: answer with a plain HTTP response on it.
    upgrade.socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    return;
  }
  if (res.headersSent) { res.destroy(); return; }
  if (status === 304) { res.writeHead(304); res.end(); return; }
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function statusText(s: number): string {
  return ({ 200: 'OK', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 500: 'Internal Server Error', 503: 'Service Unavailable' } as Record<number, string>)[s] ?? 'Error';
}

// ---- helpers for handlers ----

const MAX_JSON_BODY = 16 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_JSON_BODY): Promise<Buffer> {
  const pre = (req as IncomingMessage & { bargeBody?: Buffer }).bargeBody;
  if (pre) return pre;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw invalid(`request body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function readJsonBody<T>(req: IncomingMessage, { optional = false, limit = MAX_JSON_BODY } = {}): Promise<T> {
  const buf = await readBody(req, limit);
  if (buf.length === 0) {
    if (optional) return {} as T;
    throw invalid('request body is empty: a JSON object is expected');
  }
  try {
    const v = JSON.parse(buf.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as T;
  } catch (e) {
    throw invalid(`invalid JSON in request body: ${messageOf(e)}`);
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

export function sendNoContent(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

/** Docker's boolean query params: "1", "true", "True" are true; "0", "false", "" false. */
export function qBool(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  const l = v.toLowerCase();
  if (l === '' || l === '0' || l === 'false' || l === 'no') return false;
  return true;
}

export function qInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalid(`invalid value for ${name}: ${JSON.stringify(v)} is not an integer`);
  return n;
}

/** The `filters` query param: JSON of {key: [values]} or the legacy {key: {value: true}}. */
export function qFilters(q: URLSearchParams): Map<string, string[]> {
  const raw = q.get('filters');
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let v: unknown;
  try { v = JSON.parse(raw); } catch { throw invalid(`invalid filter: ${raw}`); }
  if (!v || typeof v !== 'object') throw invalid(`invalid filter: ${raw}`);
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(val)) out.set(k, val.map(String));
    else if (val && typeof val === 'object') out.set(k, Object.keys(val));
    else throw invalid(`invalid filter: ${raw}`);
  }
  return out;
}

export function checkFilters(filters: Map<string, string[]>, allowed: string[]): void {
  for (const k of filters.keys()) if (!allowed.includes(k)) throw invalid(`invalid filter '${k}'`);
}
