// /images/*: thin handlers over the image service.
import type { ImageService } from '../../image/service.js';
import type { ContainerService } from '../../container/service.js';
import { invalid } from '../../lib/errors.js';
import { type Router, sendJson, qBool, qFilters } from '../router.js';

export function imageRoutes(r: Router, d: { images: ImageService; containers: ContainerService }): void {
  const { images, containers } = d;
  const usedBy = (imageId: string) => containers.store.all().filter((c) => c.Image === imageId).length;

  r.get('/images/json', ({ res, query }) => {
    const filters = qFilters(query);
    for (const k of filters.keys()) if (!['dangling', 'label', 'before', 'since', 'reference', 'until'].includes(k)) throw invalid(`invalid filter '${k}'`);
    let list = images.list({ containers: usedBy });
    const dangling = filters.get('dangling')?.[0];
    if (dangling !== undefined) {
      if (!['true', 'false', '1', '0'].includes(dangling)) throw invalid(`Invalid filter 'dangling=${dangling}'`);
      const want = dangling === 'true' || dangling === '1';
      list = list.filter((i) => (i.RepoTags.length === 0) === want);
    }
    for (const l of filters.get('label') ?? []) {
      const [k, v] = l.split('=');
      list = list.filter((i) => k! in i.Labels && (v === undefined || i.Labels[k!] === v));
    }
    const refs = filters.get('reference');
    if (refs) list = list.filter((i) => refs.some((ref) => i.RepoTags.some((t) => globMatch(ref, t) || globMatch(ref, t.split(':')[0]!))));
    if (!qBool(query, 'all')) { /* no intermediate images in barge's store */ }
    if (!qBool(query, 'digests')) { /* RepoDigests are always returned; the CLI decides what to show */ }
    sendJson(res, 200, list);
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

/** Docker's reference filter: shell-style patterns over familiar names. */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
  return re.test(s);
}
