// /images/*, /system/df: thin handlers over the image service.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageService } from '../../image/service.js';
import { parseTimestamp } from '../../image/service.js';
import type { ContainerService } from '../../container/service.js';
import { summary } from '../../container/list.js';
import { invalid, messageOf } from '../../lib/errors.js';
import { log } from '../../lib/log.js';
import { familiarString, parseNormalizedNamed, withDefaultTag } from '../../image/reference.js';
import { type Router, sendJson, qBool, qFilters, checkFilters } from '../router.js';
import type { RegistryService } from '../../registry/client/service.js';
import { decodeAuthHeader } from '../../registry/client/auth.js';

export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A stream of Docker's JSON messages whose headers are sent with the first message, so that an error
 * before any message still gets its own HTTP status (moby's WriteFlusher + "if !output.Flushed()").
 */
export class JsonStream {
  private started = false;
  constructor(private readonly res: ServerResponse) {}

  get flushed(): boolean { return this.started; }

  write(msg: Record<string, unknown>): void {
    if (!this.started) {
      this.res.writeHead(200, { 'Content-Type': 'application/json' });
      this.started = true;
    }
    this.res.write(JSON.stringify(msg) + '\n');
  }

  /** Ends the stream; an error after the first message becomes an error message, before it is thrown. */
  end(err?: unknown): void {
    if (err !== undefined) {
      if (!this.started) throw err;
      this.res.write(JSON.stringify({ errorDetail: { message: messageOf(err) }, error: messageOf(err) }) + '\n');
    }
    if (!this.started) this.res.writeHead(200, { 'Content-Type': 'application/json' });
    this.res.end();
  }
}

/** Streams a tar produced by `gen` as the response; an error midway cuts the connection (the tar is broken). */
export async function sendTar(req: IncomingMessage, res: ServerResponse, gen: AsyncIterable<Buffer>, headers: Record<string, string> = {}): Promise<void> {
  const it = gen[Symbol.asyncIterator]();
  // The first chunk is produced before the headers go out, so early errors get their own status.
  const first = await it.next();
  res.writeHead(200, { 'Content-Type': 'application/x-tar', ...headers });
  if (req.method === 'HEAD') { await it.return?.(); res.end(); return; }
  async function* all(): AsyncGenerator<Buffer> {
    if (!first.done) yield first.value;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  }
  try {
    await pipeline(Readable.from(all()), res);
  } catch (e) {
    log.debug('tar stream ended early', { error: messageOf(e) });
    await it.return?.().catch(() => undefined);
    res.destroy();
  }
}

/** Docker's progress bar text ("[=====>     ]  1.2MB/3.4MB"). */
function progressBar(current: number, total: number): string {
  const width = 50;
  const n = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : width;
  const bar = '='.repeat(Math.max(0, n - 1)) + (n < width ? '>' : '=') + ' '.repeat(width - n);
  return `[${bar}] ${humanBytes(current)}/${humanBytes(total)}`;
}

function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 3 : v < 100 ? 2 : 1).replace(/\.?0+$/, '')}${units[i]}`;
}

export function imageRoutes(r: Router, d: { images: ImageService; containers: ContainerService; registry?: RegistryService; buildCache?: () => { BuildCache: unknown[]; BuilderSize: number }; volumeUsage?: () => unknown[] }): void {
  const { images, containers } = d;
  const usedBy = (imageId: string) => containers.store.all().filter((c) => c.Image === imageId).length;

  r.get('/images/json', ({ res, query }) => {
    const filters = qFilters(query);
    // API < 1.25: "filter" was a reference pattern.
    const legacy = query.get('filter');
    if (legacy && !filters.has('reference')) filters.set('reference', [legacy]);
    sendJson(res, 200, images.list({ containers: usedBy, filters, all: qBool(query, 'all'), sharedSize: qBool(query, 'shared-size') }));
  });

  // docker save: GET /images/get?names=a&names=b, and GET /images/{name}/get.
  const save = async (req: IncomingMessage, res: ServerResponse, names: string[]) => {
    const items = images.planSave(names);
    await sendTar(req, res, images.saveArchive(items));
  };
  r.get('/images/get', ({ req, res, query }) => save(req, res, query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean)));
  r.get('/images/{name*}/get', ({ req, res, params }) => save(req, res, [params.name!]));

  r.post('/images/load', async ({ req, res, query }) => {
    const quiet = qBool(query, 'quiet', true);
    const out = new JsonStream(res);
    try {
      const messages = await images.loadArchive(req, {
        onLayer: quiet ? undefined : (diffId, size) => out.write({
          status: 'Loading layer', progressDetail: { current: size, total: size }, progress: progressBar(size, size), id: diffId.slice(7, 19),
        }),
      });
      for (const m of messages) out.write({ stream: m });
      out.end();
    } catch (e) {
      req.resume();
      out.end(e);
    }
  });

  // docker import (fromSrc) and docker pull (fromImage).
  r.post('/images/create', async ({ req, res, query }) => {
    const fromImage = query.get('fromImage');
    const fromSrc = query.get('fromSrc');
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    const out = new JsonStream(res);
    if (fromImage) {
      req.resume();
      const name = fromImage.replace(/:$/, '');
      const ref = tag ? (/^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag) ? `${name}@${tag}` : `${name}:${tag}`) : name;
      const parsed = parseNormalizedNamed(ref);
      if (!d.registry) {
        const want = familiarString(withDefaultTag(parsed));
        images.resolve(want);
        out.write({ status: `Status: Image is up to date for ${want}` });
        out.end();
        return;
      }
      // As moby: a name without tag or digest pulls every tag (docker pull -a); the CLI sends tag=latest otherwise.
      const allTags = parsed.tag === undefined && parsed.digest === undefined;
      const platform = query.get('platform') || undefined;
      try {
        await d.registry.pull(ref, { auth: decodeAuthHeader(headerOf(req, 'x-registry-auth')), allTags, ...(platform ? { platform } : {}) }, (m) => out.write(m));
        out.end();
      } catch (e) {
        out.end(e);
      }
      return;
    }
    if (!fromSrc) { req.resume(); throw invalid('either fromImage or fromSrc must be given'); }
    if (fromSrc !== '-') { req.resume(); throw invalid(`importing from ${fromSrc} is not supported: send the archive in the request body (fromSrc=-)`); }
    let tags: string[] = [];
    if (repo) {
      const ref = parseNormalizedNamed(repo);
      if (ref.digest !== undefined) throw invalid('cannot import digest reference');
      if (tag && ref.tag !== undefined) throw invalid('cannot use a tag both in repo and in tag');
      tags = [tag ? `${repo}:${tag}` : repo];
    } else if (tag) {
      throw invalid('tag requires repo');
    }
    const platform = query.get('platform');
    let plat: { os: string; architecture: string; variant?: string } | undefined;
    if (platform) {
      const [os, architecture, variant] = platform.split('/');
      if (!os || !architecture) throw invalid(`invalid platform ${JSON.stringify(platform)}: want os/arch[/variant]`);
      plat = { os, architecture, ...(variant ? { variant } : {}) };
    }
    try {
      const img = await images.importRootfs(req, {
        tags, changes: query.getAll('changes'), message: query.get('message') || `Imported from ${fromSrc}`, ...(plat ? { platform: plat } : {}),
      });
      out.write({ status: img.id });
      out.end();
    } catch (e) {
      req.resume();
      out.end(e);
    }
  });

  // barge image bootstrap: a Debian base image made with debootstrap (barge's own endpoint).
  r.post('/barge/images/bootstrap', async ({ req, res, query }) => {
    req.resume();
    const out = new JsonStream(res);
    const cancel: { cancelled: boolean; onCancel?: () => void } = { cancelled: false };
    res.on('close', () => { if (!res.writableFinished) { cancel.cancelled = true; cancel.onCancel?.(); } });
    const variant = query.get('variant') || undefined;
    try {
      const r = await images.bootstrap({
        suite: query.get('suite') ?? '', mirror: query.get('mirror') || undefined, tag: query.get('tag') || undefined,
        variant: variant as 'minbase' | undefined, force: qBool(query, 'force'), cancel,
        onLine: (line) => out.write({ stream: line + '\n' }),
      });
      const name = familiarString(parseNormalizedNamed(r.tag));
      out.write({ stream: r.existed ? `Image ${name} already exists (${r.image.id}): not rebuilt (use --force to rebuild)\n` : `Bootstrapped image: ${name}\n` });
      out.write({ aux: { ID: r.image.id, Existed: r.existed } });
      out.end();
    } catch (e) {
      out.end(e);
    }
  });

  r.post('/images/prune', async ({ res, query }) => {
    const f = qFilters(query);
    checkFilters(f, ['dangling', 'until', 'label', 'label!']);
    const dangling = f.get('dangling')?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling.toLowerCase())) throw invalid(`invalid filter 'dangling=${dangling}'`);
    const all = dangling !== undefined && (dangling.toLowerCase() === 'false' || dangling === '0');
    const until = f.get('until');
    if (until && until.length > 1) throw invalid('more than one until filter is not allowed');
    sendJson(res, 200, await images.prune({
      all, ...(until ? { until: parseTimestamp(until[0]!) } : {}), labels: f.get('label') ?? [], labelsNot: f.get('label!') ?? [],
    }));
  });

  r.get('/system/df', async ({ res, query }) => {
    const types = query.getAll('type');
    for (const t of types) if (!['container', 'image', 'volume', 'build-cache'].includes(t)) throw invalid(`unknown object type: ${t}`);
    const want = (t: string) => types.length === 0 || types.includes(t);
    const out: Record<string, unknown> = {};
    if (want('image')) {
      out['LayersSize'] = images.layersSize();
      out['Images'] = images.list({ containers: usedBy, all: true, sharedSize: true });
    }
    if (want('container')) {
      const list = [];
      for (const c of containers.store.all()) {
        const s = summary(c, (id) => images.displayName(id)) as Record<string, unknown>;
        const rw = await images.rootfsSize(c.Id).catch(() => 0);
        s['SizeRw'] = rw;
        s['SizeRootFs'] = rw + (images.get(c.Image)?.size ?? 0);
        list.push(s);
      }
      out['Containers'] = list;
    }
    if (want('volume')) out['Volumes'] = d.volumeUsage?.() ?? [];
    if (want('build-cache')) {
      const bc = d.buildCache?.();
      out['BuildCache'] = bc?.BuildCache ?? [];
      out['BuilderSize'] = bc?.BuilderSize ?? 0;
    }
    sendJson(res, 200, out);
  });

  r.get('/images/{name*}/json', ({ res, params }) => sendJson(res, 200, images.inspect(params.name!)));
  r.get('/images/{name*}/history', ({ res, params }) => sendJson(res, 200, images.history(params.name!)));

  r.post('/images/{name*}/tag', ({ res, params, query }) => {
    const repo = query.get('repo');
    if (!repo) throw invalid('repository name must have at least one component');
    const tag = query.get('tag');
    images.tag(params.name!, tag ? `${repo}:${tag}` : repo);
    res.writeHead(201); res.end();
  });

  r.delete('/images/{name*}', async ({ res, params, query }) => {
    sendJson(res, 200, await images.remove(params.name!, { force: qBool(query, 'force'), noprune: qBool(query, 'noprune') }));
  });
}
