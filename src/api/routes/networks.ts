// /networks/*: the default networks (bridge, host, none). User networks come with the networks issue.
import type { NetworkService } from '../../network/service.js';
import type { ContainerService } from '../../container/service.js';
import { type Router, sendJson } from '../router.js';

export function networkRoutes(r: Router, d: { network: NetworkService; containers: ContainerService }): void {
  const nameOf = (id: string) => d.containers.store.get(id)?.Name.slice(1);
  r.get('/networks', ({ res }) => sendJson(res, 200, d.network.list()));
  r.get('/networks/{id}', ({ res, params }) => sendJson(res, 200, d.network.get(params.id!, { nameOf })));
}
