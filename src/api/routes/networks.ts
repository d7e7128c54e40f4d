// /networks/*: list, inspect, create, remove, prune, connect and disconnect.
import type { NetworkService, NetworkResource, NetworkCreateRequest, EndpointConfig } from '../../network/service.js';
import type { ContainerService } from '../../container/service.js';
import type { EventBus } from '../../lib/events.js';
import { invalid } from '../../lib/errors.js';
import { matchLabels } from '../../image/service.js';
import { type Router, checkFilters, qFilters, readJsonBody, sendJson } from '../router.js';
import { parseTime } from './containers.js';

const PREDEFINED = new Set(['bridge', 'host', 'none']);

export function networkRoutes(r: Router, d: { network: NetworkService; containers: ContainerService; events: EventBus }): void {
  const nameOf = (id: string) => d.containers.store.get(id)?.Name.slice(1);
  // As Docker: a network is in use while some container has an endpoint on it (runs on it).
  const inUse = (n: NetworkResource) => Object.keys(d.network.get(n.Id).Containers).length > 0;

  r.get('/networks', ({ res, query }) => {
    const f = qFilters(query);
    checkFilters(f, ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type']);
    const list = d.network.list().filter((n) => {
      if (f.has('driver') && !f.get('driver')!.includes(n.Driver)) return false;
      if (f.has('id') && !f.get('id')!.some((v) => n.Id.startsWith(v))) return false;
      if (f.has('name') && !f.get('name')!.some((v) => n.Name.includes(v))) return false;
      if (f.has('scope') && !f.get('scope')!.includes(n.Scope)) return false;
      if (f.has('label') && !matchLabels(n.Labels, f.get('label')!, [])) return false;
      for (const t of f.get('type') ?? []) {
        if (t !== 'custom' && t !== 'builtin') throw invalid(`invalid filter: 'type'='${t}'`);
        if ((t === 'builtin') !== PREDEFINED.has(n.Name)) return false;
      }
      for (const v of f.get('dangling') ?? []) {
        if (!/^(true|false|1|0)$/.test(v)) throw invalid(`invalid filter 'dangling=${v}'`);
        const dangling = !PREDEFINED.has(n.Name) && !inUse(n);
        if (dangling !== /^(true|1)$/.test(v)) return false;
      }
      return true;
    });
    sendJson(res, 200, list);
  });

  r.get('/networks/{id}', ({ res, params }) => sendJson(res, 200, d.network.get(params.id!, { nameOf })));

  r.post('/networks/create', async ({ req, res }) => {
    const body = await readJsonBody<NetworkCreateRequest>(req);
    const out = await d.network.createNetwork(body ?? {});
    d.events.publish('network', 'create', out.Id, { name: body?.Name ?? '', type: body?.Driver || 'bridge' });
    sendJson(res, 201, out);
  });

  r.delete('/networks/{id}', async ({ res, params }) => {
    const n = d.network.get(params.id!);
    await d.network.removeNetwork(n.Id);
    d.events.publish('network', 'destroy', n.Id, { name: n.Name, type: n.Driver });
    res.writeHead(204).end();
  });

  r.post('/networks/prune', async ({ res, query }) => {
    const f = qFilters(query);
    checkFilters(f, ['until', 'label', 'label!']);
    const until = (f.get('until') ?? []).map((v) => parseTime(v));
    const removed = await d.network.pruneNetworks((n) => {
      if (inUse(n)) return false;
      if (until.some((t) => t !== undefined && Date.parse(n.Created) / 1000 >= t)) return false;
      return matchLabels(n.Labels, f.get('label') ?? [], f.get('label!') ?? []);
    });
    for (const name of removed) d.events.publish('network', 'destroy', name, { name, type: 'bridge' });
    sendJson(res, 200, { NetworksDeleted: removed });
  });

  r.post('/networks/{id}/connect', async ({ req, res, params }) => {
    const body = await readJsonBody<{ Container?: string; EndpointConfig?: EndpointConfig | null }>(req);
    if (!body?.Container) throw invalid('no container given: set Container in the request body');
    const n = d.network.get(params.id!);
    await d.containers.connectNetwork(body.Container, n.Name, body.EndpointConfig ?? null);
    res.writeHead(200).end();
  });

  r.post('/networks/{id}/disconnect', async ({ req, res, params }) => {
    const body = await readJsonBody<{ Container?: string; Force?: boolean }>(req);
    if (!body?.Container) throw invalid('no container given: set Container in the request body');
    await d.containers.disconnectNetwork(body.Container, params.id!, !!body.Force);
    res.writeHead(200).end();
  });
}
