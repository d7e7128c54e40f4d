// POST /auth and POST /images/{name}/push: thin handlers over the registry client.
import type { RegistryService } from '../../registry/client/service.js';
import { decodeAuthHeader, normalizeAuth } from '../../registry/client/auth.js';
import { invalid } from '../../lib/errors.js';
import { type Router, readJsonBody, sendJson } from '../router.js';
import { JsonStream, headerOf } from './images.js';

export function registryRoutes(r: Router, d: { registry: RegistryService }): void {
  r.post('/auth', async ({ req, res }) => {
    const body = await readJsonBody<Record<string, unknown>>(req);
    const auth = normalizeAuth(body);
    if (!auth) throw invalid('username and password are required');
    if (typeof body['serveraddress'] === 'string') auth.serveraddress = body['serveraddress'];
    sendJson(res, 200, await d.registry.login(auth));
  });

  r.post('/images/{name*}/push', async ({ req, res, params, query }) => {
    req.resume();
    const auth = decodeAuthHeader(headerOf(req, 'x-registry-auth'));
    const out = new JsonStream(res);
    try {
      await d.registry.push(params.name!, query.get('tag') || undefined, { ...(auth ? { auth } : {}) }, (m) => out.write(m));
      out.end();
    } catch (e) {
      out.end(e);
    }
  });
}
