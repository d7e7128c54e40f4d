// An engine under test (barged or dockerd), as the benchmarks see it: an API client on its socket,
// its CLI, and ways to find its processes. Both kinds are started by the runner on their own
// sockets, roots, bridges and subnets, and torn down at the end of the run.
import type { ApiClient } from './api.js';

export type EngineKind = 'barge' | 'docker';

export interface CliCommand {
  /** argv prefix: e.g. [node, bin/barge] or [docker, -H, unix://...]. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** How the results name it ("barge CLI", "docker CLI 28.2.2"). */
  label: string;
}

export interface Engine {
  kind: EngineKind;
  /** "barge 0.1.0", "Docker Engine 20.10.24". */
  label: string;
  version: string;
  /** unix:///... */
  host: string;
  api: ApiClient;
  /** The docker CLI, pointed at this engine (works against both). */
  dockerCli: CliCommand | null;
  /** The engine's own CLI: `barge` for barged, `docker` for dockerd (a benchmark probes it first). */
  ownCli: CliCommand;
  /** The engine's daemon processes (barged; dockerd + its containerd). */
  daemonPids(): number[];
  /** Per-container processes: monitors/shims and everything under them (the containers). */
  containerPids(): number[];
  /** Removes every container of the engine (force); returns how many. */
  removeAllContainers(): Promise<number>;
  /** Facts for the results file. */
  info: Record<string, unknown>;
}

/** Removes all containers through the API, one after another. */
export async function removeAll(api: ApiClient): Promise<number> {
  const list = (await api.call('GET', '/containers/json?all=1')) as { Id: string }[];
  for (const c of list) await api.call('DELETE', `/containers/${c.Id}?force=1&v=1`, undefined, [404, 409]);
  return list.length;
}
