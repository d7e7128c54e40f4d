// The OCI distribution API (v1.1) over RegistryStorage: routes, per-route authorization, and the
// spec's headers (Location, Range, Docker-Content-Digest, Docker-Upload-UUID, OCI-Subject, Link).
// Handlers stream blob bodies straight between the socket and the disk; only manifests (at most
// 4 MiB) are read into memory.
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError, regErr } from './errors.js';
import { checkDigest, checkName, isDigest, isTag } from './names.js';
import { MANIFEST_TYPES, MAX_MANIFEST, MediaTypes, type RegistryStorage } from './storage.js';
import type { Authenticator, Need } from './auth.js';
import { READ_BLOCK, ReadBlocks, lendFile, writeLent } from '../../lib/lentread.js';

export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' };

type Route =
  | { kind: 'ping' } | { kind: 'catalog' } | { kind: 'token' }
  | { kind: 'uploads'; name: string } | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string } | { kind: 'manifest'; name: string; ref: string }
  | { kind: 'tags'; name: string } | { kind: 'referrers'; name: string; digest: string };

/** Matches the raw (still percent-encoded, never normalized) path: "%2F" or ".." stay in the name and fail its grammar. */
export function route(pathname: string): Route | undefined {
  if (pathname === '/v2/' || pathname === '/v2') return { kind: 'ping' };
  if (pathname === '/v2/_catalog') return { kind: 'catalog' };
  if (pathname === '/token') return { kind: 'token' };
  let m: RegExpMatchArray | null;
  if ((m = pathname.match(/^\/v2\/(.+)\/blobs\/uploads\/?$/))) return { kind: 'uploads', name: m[1]! };
  if ((m = pathname.match(/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/))) return { kind: 'upload', name: m[1]!, id: m[2]! };
  if ((m = pathname.match(/^\/v2\/(.+)\/blobs\/([^/]+)$/))) return { kind: 'blob', name: m[1]!, digest: m[2]! };
  if ((m = pathname.match(/^\/v2\/(.+)\/manifests\/([^/]+)$/))) return { kind: 'manifest', name: m[1]!, ref: m[2]! };
  if ((m = pathname.match(/^\/v2\/(.+)\/tags\/list$/))) return { kind: 'tags', name: m[1]! };
  if ((m = pathname.match(/^\/v2\/(.+)\/referrers\/([^/]+)$/))) return { kind: 'referrers', name: m[1]!, digest: m[2]! };
  return undefined;
}

/** Bytes received (upload bodies) and sent (response bodies) per request, for the request log. */
export const traffic = new WeakMap<ServerResponse, { in: number; out: number }>();

function head(res: ServerResponse, status: number, headers: Record<string, string | number>): void {
  const t = traffic.get(res);
  if (t && res.req.method !== 'HEAD') t.out = Number(headers['Content-Length'] ?? 0);
  res.writeHead(status, headers);
}

function received(res: ServerResponse, n: number): void {
  const t = traffic.get(res);
  if (t) t.in += n;
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: string | Buffer): void {
  const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  head(res, status, { ...API_VERSION_HEADER, 'Content-Length': b ? b.length : 0, ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : b);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}

export function sendError(res: ServerResponse, e: RegistryError): void {
  if (res.headersSent) { res.destroy(); return; }
  send(res, e.status, { 'Content-Type': 'application/json', ...e.headers }, e.body());
}

/** Reads a body of at most `max` bytes (manifests, token forms). */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw regErr('MANIFEST_INVALID', { limit: max }, `body too large: at most ${max} bytes`, 413);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Does the request carry a body (a chunk of data) at all? */
function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return Number(cl) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Parses `n` (0..10000) and `last` for the paginated lists; returns the page and the Link for the next one. */
function paginate(all: string[], q: URLSearchParams, base: string): { page: string[]; link?: string } {
  const nRaw = q.get('n');
  const last = q.get('last');
  let list = last !== null ? all.filter((s) => s > last) : all;
  if (nRaw === null || nRaw === '') return { page: list };
  if (!/^\d{1,6}$/.test(nRaw)) throw regErr('PAGINATION_NUMBER_INVALID', { n: nRaw.slice(0, 50) }, `invalid n ${JSON.stringify(nRaw.slice(0, 50))}: want a number of results`);
  const n = Math.min(Number(nRaw), 10000);
  if (list.length > n) {
    list = list.slice(0, n);
    const next = new URLSearchParams({ n: String(n), last: list[list.length - 1] ?? '' });
    return { page: list, link: `<${base}?${next.toString()}>; rel="next"` };
  }
  return { page: list };
}

function parseContentRange(h: string | undefined): { start: number; end: number } | undefined {
  if (h === undefined) return undefined;
  const m = h.trim().match(/^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?$/);
  if (!m || Number(m[2]) < Number(m[1])) {
    const e = regErr('RANGE_INVALID', { contentRange: h.slice(0, 100) }, `invalid Content-Range ${JSON.stringify(h.slice(0, 100))}: want <start>-<end>`);
    throw e;
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

export class RegistryHandlers {
  constructor(private readonly store: RegistryStorage, private readonly auth: Authenticator) {}

  /** Serves one request; errors become the spec's JSON error bodies. Returns the number of body bytes received. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    const pathname = qi < 0 ? raw : raw.slice(0, qi);
    const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    const r = route(pathname);
    const method = req.method ?? 'GET';
    if (!r) throw regErr('UNSUPPORTED', { path: pathname.slice(0, 200) }, `no such endpoint: ${method} ${pathname.slice(0, 200)}`, 404);
    const notAllowed = () => regErr('UNSUPPORTED', { method }, `method ${method} is not allowed on ${pathname.slice(0, 200)}`);
    const name = 'name' in r ? checkName(r.name) : '';
    const authorize = (need: Need) => this.auth.authorize(req, need);

    switch (r.kind) {
      case 'ping':
        if (method !== 'GET' && method !== 'HEAD') throw notAllowed();
        await authorize({ ping: true });
        return sendJson(res, 200, {});
      case 'token': {
        if (method !== 'GET' && method !== 'POST') throw notAllowed();
        const form = method === 'POST' ? new URLSearchParams((await readBody(req, 64 << 10)).toString('utf8')) : undefined;
        return sendJson(res, 200, await this.auth.issue(req, query, form));
      }
      case 'catalog': {
        if (method !== 'GET') throw notAllowed();
        await authorize({ catalog: true });
        const { page, link } = paginate(this.store.repositories(), query, '/v2/_catalog');
        return sendJson(res, 200, { repositories: page }, link ? { Link: link } : {});
      }
      case 'tags': {
        if (method !== 'GET') throw notAllowed();
        await authorize({ repo: name, action: 'pull' });
        const { page, link } = paginate(this.store.tags(name), query, `/v2/${name}/tags/list`);
        return sendJson(res, 200, { name, tags: page }, link ? { Link: link } : {});
      }
      case 'referrers': {
        if (method !== 'GET') throw notAllowed();
        const digest = checkDigest(r.digest);
        await authorize({ repo: name, action: 'pull' });
        const artifactType = query.get('artifactType') ?? undefined;
        const manifests = this.store.referrers(name, digest, artifactType);
        const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.OciIndex, manifests });
        return send(res, 200, { 'Content-Type': MediaTypes.OciIndex, ...(artifactType !== undefined ? { 'OCI-Filters-Applied': 'artifactType' } : {}) }, body);
      }
      case 'blob': return this.blob(req, res, method, name, r.digest, authorize, notAllowed);
      case 'uploads': {
        if (method !== 'POST') throw notAllowed();
        await authorize({ repo: name, action: 'push' });
        return this.startUpload(req, res, name, query);
      }
      case 'upload': return this.upload(req, res, method, name, r.id, query, authorize, notAllowed);
      case 'manifest': return this.manifest(req, res, method, name, r.ref, authorize, notAllowed);
    }
  }

  private async blob(req: IncomingMessage, res: ServerResponse, method: string, name: string, rawDigest: string,
    authorize: (n: Need) => Promise<void>, notAllowed: () => RegistryError): Promise<void> {
    const digest = checkDigest(rawDigest);
    if (method === 'DELETE') {
      await authorize({ repo: name, action: 'delete' });
      if (!this.store.unlinkBlob(name, digest)) throw regErr('BLOB_UNKNOWN', { digest });
      return send(res, 202, {});
    }
    if (method !== 'GET' && method !== 'HEAD') throw notAllowed();
    await authorize({ repo: name, action: 'pull' });
    const st = this.store.blobStat(name, digest);
    if (!st) throw regErr('BLOB_UNKNOWN', { digest }, `blob unknown to registry: ${digest} is not in ${name}`);
    const headers: Record<string, string | number> = {
      ...API_VERSION_HEADER, 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest, ETag: `"${digest}"`,
      'Accept-Ranges': 'bytes', 'Cache-Control': 'max-age=31536000',
    };
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range && method === 'GET') {
      const m = range.trim().match(/^bytes=(\d*)-(\d*)$/); // one range; lists of ranges get the whole blob, as RFC 9110 allows
      if (m && (m[1] !== '' || m[2] !== '')) {
        if (m[1] === '') { start = Math.max(0, st.size - Number(m[2])); } else { start = Number(m[1]); if (m[2] !== '') end = Math.min(end, Number(m[2])); }
        if (start >= st.size || start > end || (m[1] === '' && Number(m[2]) === 0)) {
          const e = regErr('RANGE_INVALID', { range }, `range ${range} not satisfiable: the blob has ${st.size} bytes`, 416);
          e.headers['Content-Range'] = `bytes */${st.size}`;
          throw e;
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
      }
    }
    headers['Content-Length'] = st.size === 0 ? 0 : end - start + 1;
    if (method === 'HEAD' || st.size === 0) { head(res, status, headers); res.end(); return; }
    head(res, status, headers);
    await sendFile(res, st.file, start, end).catch(() => res.destroy());   // the client went away, or the file broke: cut the response
  }

  private location(name: string, id: string): string { return `/v2/${name}/blobs/uploads/${id}`; }

  private uploadHeaders(name: string, id: string, size: number): Record<string, string> {
    return { Location: this.location(name, id), Range: `0-${Math.max(0, size - 1)}`, 'Docker-Upload-UUID': id };
  }

  private async startUpload(req: IncomingMessage, res: ServerResponse, name: string, query: URLSearchParams): Promise<void> {
    const mount = query.get('mount');
    const from = query.get('from');
    if (mount !== null) {
      const digest = checkDigest(mount);
      // Mount only what the caller may read in the source repository; otherwise fall back to an upload.
      if (from !== null && from !== name && (() => { try { return checkName(from) === from; } catch { return false; } })()
        && this.store.blobStat(from, digest) && await this.auth.mayPull(req, from)) {
        this.store.linkBlob(name, digest);
        return send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      }
      if (from === name && this.store.blobStat(name, digest)) return send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    }
    const digestParam = query.get('digest');
    if (digestParam !== null && mount === null) {
      const digest = checkDigest(digestParam);
      const id = this.store.newUpload(name);
      try {
        received(res, (await this.store.append(name, id, req, undefined, req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined)).received);
        await this.store.finishUpload(name, id, digest);
      } catch (e) {
        try { this.store.cancelUpload(name, id); } catch { /* already gone */ }
        throw e;
      }
      return send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    }
    const id = this.store.newUpload(name);
    let size = 0;
    if (hasBody(req)) { const a = await this.store.append(name, id, req); size = a.size; received(res, a.received); }
    else req.resume();
    return send(res, 202, this.uploadHeaders(name, id, size));
  }

  private async upload(req: IncomingMessage, res: ServerResponse, method: string, name: string, id: string, query: URLSearchParams,
    authorize: (n: Need) => Promise<void>, notAllowed: () => RegistryError): Promise<void> {
    await authorize({ repo: name, action: 'push' });
    switch (method) {
      case 'GET': {
        const st = this.store.upload(name, id);
        return send(res, 204, this.uploadHeaders(name, id, st.size));
      }
      case 'DELETE':
        this.store.cancelUpload(name, id);
        return send(res, 204, {});
      case 'PATCH': {
        const cr = parseContentRange(req.headers['content-range']);
        const cl = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
        if (cr && cl !== undefined && cl !== cr.end - cr.start + 1) {
          throw regErr('RANGE_INVALID', { contentRange: req.headers['content-range'], contentLength: cl }, 'Content-Range and Content-Length disagree');
        }
        const a = await this.store.append(name, id, req, cr?.start, cr ? cr.end - cr.start + 1 : cl);
        received(res, a.received);
        return send(res, 202, this.uploadHeaders(name, id, a.size));
      }
      case 'PUT': {
        const d = query.get('digest');
        if (d === null) throw regErr('DIGEST_INVALID', null, 'digest parameter missing: PUT ...?digest=<digest> completes an upload');
        const digest = checkDigest(d);
        if (hasBody(req)) {
          const cr = parseContentRange(req.headers['content-range']);
          const cl = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
          received(res, (await this.store.append(name, id, req, cr?.start, cr ? cr.end - cr.start + 1 : cl)).received);
        } else {
          req.resume();
        }
        await this.store.finishUpload(name, id, digest);
        return send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      }
      default: throw notAllowed();
    }
  }

  private async manifest(req: IncomingMessage, res: ServerResponse, method: string, name: string, ref: string,
    authorize: (n: Need) => Promise<void>, notAllowed: () => RegistryError): Promise<void> {
    if (!isDigest(ref) && !isTag(ref)) {
      if (ref.includes(':')) checkDigest(ref);
      throw regErr('TAG_INVALID', { reference: ref.slice(0, 200) }, `invalid reference ${JSON.stringify(ref.slice(0, 200))}: want a tag or a digest`, 400);
    }
    switch (method) {
      case 'GET': case 'HEAD': {
        await authorize({ repo: name, action: 'pull' });
        const m = this.store.getManifest(name, ref);
        // As the reference registry: a client that lists manifest types it accepts and not this one
        // (say, only Docker schema 2 for an OCI manifest) is told the manifest is unknown to it.
        const accept = String(req.headers.accept ?? '').split(',').map((a) => a.split(';')[0]!.trim()).filter(Boolean);
        if (accept.some((a) => MANIFEST_TYPES.has(a)) && !accept.includes(m.mediaType) && !accept.includes('*/*')) {
          throw regErr('MANIFEST_UNKNOWN', { mediaType: m.mediaType }, `manifest is ${m.mediaType}, which the Accept header does not list`);
        }
        const body = method === 'GET' ? fs.readFileSync(m.file) : undefined;
        head(res, 200, { ...API_VERSION_HEADER, 'Content-Type': m.mediaType, 'Content-Length': m.size, 'Docker-Content-Digest': m.digest, ETag: `"${m.digest}"` });
        res.end(body);
        return;
      }
      case 'PUT': {
        await authorize({ repo: name, action: 'push' });
        const body = await readBody(req, MAX_MANIFEST);
        received(res, body.length);
        const { digest, subject } = this.store.putManifest(name, ref, body, req.headers['content-type']);
        return send(res, 201, { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest, ...(subject ? { 'OCI-Subject': subject } : {}) });
      }
      case 'DELETE':
        await authorize({ repo: name, action: 'delete' });
        this.store.deleteManifest(name, ref);
        return send(res, 202, {});
      default: throw notAllowed();
    }
  }
}

const SPARE_BLOCKS = 4;
const spareBlocks: ReadBlocks[] = [];
/** Blob GETs under way: past BIG_STREAMS, each reads ahead less (2 MiB, as before lentread, rather than 8). */
let sending = 0;
const BIG_STREAMS = 8;

/**
 * Writes bytes start..end (inclusive) of `file` to `res`, read ahead into a few reused blocks
 * (lentread.ts) that are lent to the socket: nothing is allocated per read (a read stream made a GiB
 * of garbage per GiB served, and on a VM that hands memory back to its host, fresh pages to fill).
 * Blobs of DIRECT_MIN and more are read around the page cache where the filesystem allows, as nginx's
 * `directio` does for big files: on this kind of VM, filling the page cache from disk cost the
 * registry ~1.8 s of CPU per GiB served, more than anything else in a pull.
 */
async function sendFile(res: ServerResponse, file: string, start: number, end: number): Promise<void> {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const blocks = spareBlocks.pop() ?? (sending < BIG_STREAMS ? new ReadBlocks() : new ReadBlocks(2, 1 << 20));
  sending++;
  try {
    await writeLent(res, lendFile(blocks, fd, start, end + 1 - start, () => new Error(`${file} ended early`)));
    res.end();
  } finally {
    sending--;
    fs.closeSync(fd);
    // Back for the next blob only if every block came back.
    if (blocks.idle() && blocks.size === READ_BLOCK && spareBlocks.length < SPARE_BLOCKS) spareBlocks.push(blocks);
  }
}
