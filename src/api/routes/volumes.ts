// /volumes/*: thin handlers over the volume service.
import type { VolumeService, CreateVolumeRequest, VolumeFilters } from '../../volume/service.js';
import { invalid } from '../../lib/errors.js';
import { type Router, readJsonBody, sendJson, sendNoContent, qBool, qFilters, checkFilters, compareVersions } from '../router.js';

function boolFilter(f: Map<string, string[]>, key: string): boolean | undefined {
  const v = f.get(key);
  if (!v?.length) return undefined;
  const s = v[v.length - 1]!.toLowerCase();
  if (['true', '1'].includes(s)) return true;
  if (['false', '0'].includes(s)) return false;
  throw invalid(`invalid filter '${key}=${v[v.length - 1]}'`);
}

export function volumeRoutes(r: Router, d: { volumes: VolumeService }): void {
  const vs = d.volumes;

  r.get('/volumes', ({ res, query }) => {
    const f = qFilters(query);
    checkFilters(f, ['dangling', 'name', 'label', 'label!', 'driver']);
    const filters: VolumeFilters = { dangling: boolFilter(f, 'dangling'), name: f.get('name'), label: f.get('label'), labelNot: f.get('label!'), driver: f.get('driver') };
    sendJson(res, 200, { Volumes: vs.list(filters), Warnings: [] });
  });

  r.post('/volumes/create', async ({ req, res }) => {
    const body = await readJsonBody<CreateVolumeRequest>(req, { optional: true }) ?? {};
    if (body.Name !== undefined && typeof body.Name !== 'string') throw invalid('Name must be a string');
    sendJson(res, 201, vs.create({ Name: body.Name, Driver: body.Driver, DriverOpts: body.DriverOpts, Labels: body.Labels }));
  });

  r.post('/volumes/prune', async ({ res, query, version }) => {
    const f = qFilters(query);
    checkFilters(f, ['all', 'label', 'label!']);
    // API 1.42 made prune keep named volumes unless all=true.
    const all = boolFilter(f, 'all') ?? compareVersions(version, '1.42') < 0;
    sendJson(res, 200, await vs.prune({ all, label: f.get('label'), labelNot: f.get('label!') }));
  });

  r.get('/volumes/{name}', ({ res, params }) => sendJson(res, 200, vs.get(params.name!)));

  r.delete('/volumes/{name}', async ({ res, params, query }) => {
    await vs.remove(params.name!, { force: qBool(query, 'force') });
    sendNoContent(res);
  });
}
