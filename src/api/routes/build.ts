// POST /build, POST /build/prune: thin handlers over the build service (Docker's classic builder API).
import type { BuildService, BuildOptions } from '../../build/service.js';
import { BuildError } from '../../build/service.js';
import { invalid, messageOf } from '../../lib/errors.js';
import { type Router, sendJson, qBool, qFilters, checkFilters, readJsonBody } from '../router.js';
import { parseTimestamp } from '../../image/service.js';

export interface BuildRouteDeps { builds: BuildService }

function jsonParam<T>(q: URLSearchParams, name: string, fallback: T): T {
  const v = q.get(name);
  if (!v) return fallback;
  try { return JSON.parse(v) as T; } catch { throw invalid(`invalid ${name}: ${v}`); }
}

export function buildRoutes(r: Router, d: BuildRouteDeps): void {
  r.post('/build', async ({ req, res, query }) => {
    const version = query.get('version') ?? '1';
    if (version === '2') throw invalid('barge supports the classic builder only (BuildKit is not available): set DOCKER_BUILDKIT=0');
    if (query.get('remote')) throw invalid('building from a remote context (URL or git) is not supported by barge: send the context as a tar');
    const o: BuildOptions = {
      dockerfile: query.get('dockerfile') || 'Dockerfile',
      tags: query.getAll('t').filter((t) => t !== ''),
      buildArgs: jsonParam<Record<string, string | null>>(query, 'buildargs', {}),
      target: query.get('target') || undefined,
      noCache: qBool(query, 'nocache'),
      quiet: qBool(query, 'q'),
      labels: jsonParam<Record<string, string>>(query, 'labels', {}),
      networkMode: query.get('networkmode') || 'default',
      extraHosts: (query.get('extrahosts') ?? '').split(',').filter(Boolean),
      platform: query.get('platform') || undefined,
    };
    // A client that goes away (Ctrl-C) cancels the build.
    const ac = new AbortController();
    res.on('close', () => { if (!res.writableEnded) ac.abort(); });
    o.signal = ac.signal;
    if (!['default', 'bridge', 'none', 'host'].includes(o.networkMode)) throw invalid(`network mode "${o.networkMode}" is not supported for builds: use default, bridge, none or host`);
    // Headers go out with the first message, so that an error before any output gets its own status.
    let started = false;
    const write = (m: object) => {
      if (!started) { res.writeHead(200, { 'Content-Type': 'application/json' }); started = true; }
      res.write(JSON.stringify(m) + '\n');
    };
    const key = query.get('bargecontext') ?? undefined;
    try {
      await d.builds.build(req, o, write, key);
    } catch (e) {
      if (!started) throw e;
      const code = e instanceof BuildError ? e.code : undefined;
      write({ errorDetail: { ...(code !== undefined ? { code } : {}), message: messageOf(e) }, error: messageOf(e) });
    }
    if (!started) res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end();
  });

  // barge's CLI: step 1 of a synced context (src/build/synccontext.ts).
  r.post('/build/context', async ({ req, res, query }) => {
    const manifest = await readJsonBody(req, { limit: 256 << 20 });
    sendJson(res, 200, { need: await d.builds.contextNeeds(query.get('key') ?? '', manifest) });
  });

  r.post('/build/prune', async ({ res, query }) => {
    const f = qFilters(query);
    checkFilters(f, ['until', 'unused-for']);
    const until = f.get('until') ?? f.get('unused-for');
    if (until && until.length > 1) throw invalid('more than one until filter is not allowed');
    sendJson(res, 200, await d.builds.prune(until ? { until: parseTimestamp(until[0]!) } : {}));
  });
}
