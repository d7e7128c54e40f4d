// `GET /containers/json`: Docker's container summaries and their filters.
import { invalid } from '../lib/errors.js';
import { humanDuration } from '../lib/human.js';
import type { ContainerRecord } from './types.js';

const FILTERS = ['id', 'name', 'label', 'status', 'ancestor', 'before', 'since', 'exited', 'health', 'network', 'volume', 'is-task', 'publish', 'expose'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.State;
  if (s.Status === 'removing') return 'Removal In Progress';
  if (s.Dead) return 'Dead';
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  if (s.Running) {
    let t = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    if (s.Health && s.Health.Status !== 'none') t += ` (${s.Health.Status === 'starting' ? 'health: starting' : s.Health.Status})`;
    return s.Paused ? `${t} (Paused)` : t;
  }
  if (s.StartedAt.startsWith('0001') || !c.barge.hasBeenStarted) return 'Created';
  return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
}

export function summary(c: ContainerRecord, imageName: (id: string) => string | undefined): Record<string, unknown> {
  const ports: unknown[] = [];
  for (const [p, binds] of Object.entries(c.NetworkSettings.Ports ?? {})) {
    const [num, proto] = p.split('/');
    if (!binds || binds.length === 0) ports.push({ PrivatePort: Number(num), Type: proto });
    else for (const b of binds) ports.push({ IP: b.HostIp || '0.0.0.0', PrivatePort: Number(num), PublicPort: Number(b.HostPort), Type: proto });
  }
  // moby quotes arguments that contain a space
  const cmd = [c.Path, ...c.Args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
  return {
    Id: c.Id,
    Names: [c.Name],
    Image: c.Config.Image ?? imageName(c.Image) ?? c.Image,
    ImageID: c.Image,
    Command: cmd,
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: ports,
    Labels: c.Config.Labels ?? {},
    State: c.State.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'bridge' },
    NetworkSettings: { Networks: c.NetworkSettings.Networks ?? {} },
    Mounts: c.Mounts ?? [],
  };
}

export interface ListOptions { all: boolean; limit?: number; filters: Map<string, string[]> }

export function listContainers(all: ContainerRecord[], o: ListOptions, resolveRef: (ref: string) => ContainerRecord | undefined, imageMatches: (c: ContainerRecord, ref: string) => boolean): ContainerRecord[] {
  for (const k of o.filters.keys()) if (!FILTERS.includes(k)) throw invalid(`invalid filter '${k}'`);
  const f = o.filters;
  for (const s of f.get('status') ?? []) if (!STATUSES.includes(s)) throw invalid(`invalid filter 'status=${s}'`);
  let list = [...all].sort((a, b) => Date.parse(b.Created) - Date.parse(a.Created) || (b.Id < a.Id ? -1 : 1));
  const before = f.get('before')?.[0];
  const since = f.get('since')?.[0];
  if (before) { const r = resolveRef(before); if (!r) throw invalid(`No such container: ${before}`); list = list.filter((c) => Date.parse(c.Created) < Date.parse(r.Created)); }
  if (since) { const r = resolveRef(since); if (!r) throw invalid(`No such container: ${since}`); list = list.filter((c) => Date.parse(c.Created) > Date.parse(r.Created)); }
  const showAll = o.all || f.has('status') || f.has('exited') || (o.limit !== undefined && o.limit > 0) || !!before || !!since;
  list = list.filter((c) => {
    if (!showAll && !c.State.Running) return false;
    if (f.has('id') && !f.get('id')!.some((v) => c.Id.startsWith(v))) return false;
    if (f.has('name') && !f.get('name')!.some((v) => matchName(c.Name, v))) return false;
    if (f.has('status') && !f.get('status')!.includes(c.State.Status)) return false;
    if (f.has('exited')) {
      if (c.State.Running || !c.barge.hasBeenStarted) return false;
      if (!f.get('exited')!.some((v) => Number(v) === c.State.ExitCode)) return false;
    }
    if (f.has('label') && !f.get('label')!.every((v) => matchLabel(c.Config.Labels ?? {}, v))) return false;
    if (f.has('ancestor') && !f.get('ancestor')!.some((v) => imageMatches(c, v))) return false;
    if (f.has('health') && !f.get('health')!.includes(c.State.Health?.Status ?? 'none')) return false;
    if (f.has('network') && !f.get('network')!.some((v) => v === c.HostConfig.NetworkMode || Object.keys(c.NetworkSettings.Networks ?? {}).includes(v))) return false;
    if (f.has('is-task') && f.get('is-task')!.includes('true')) return false;
    return true;
  });
  if (o.limit !== undefined && o.limit > 0) list = list.slice(0, o.limit);
  return list;
}

function matchName(name: string, pattern: string): boolean {
  try { return new RegExp(pattern).test(name.slice(1)) || new RegExp(pattern).test(name); } catch { return name.slice(1).includes(pattern); }
}

export function matchLabel(labels: Record<string, string>, spec: string): boolean {
  const i = spec.indexOf('=');
  if (i < 0) return spec in labels;
  const k = spec.slice(0, i);
  const v = spec.slice(i + 1);
  return labels[k] === v;
}
