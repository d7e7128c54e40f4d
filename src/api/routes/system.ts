// /_ping, /version, /info, /events.
import * as os from 'node:os';
import * as fs from 'node:fs';
import type { EventBus, EngineEvent } from '../../lib/events.js';
import { invalid } from '../../lib/errors.js';
import { type Router, sendJson, qFilters, API_VERSION, MIN_API_VERSION } from '../router.js';
import { parseTime } from './containers.js';

export const BARGE_VERSION = '0.1.0';

export interface SystemInfoSource {
  dataRoot: string;
  counts: () => { containers: number; running: number; paused: number; stopped: number; images: number };
  cgroupVersion: string;
  runtimePath: string;
  daemonId: string;
  bridge: string;
  warnings: string[];
  securityOptions: string[];
}

function osRelease(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch { return 'Linux'; }
}

const ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };

export function systemRoutes(r: Router, s: SystemInfoSource, events: EventBus): void {
  const ping = (ctx: { res: import('node:http').ServerResponse; req: import('node:http').IncomingMessage }) => {
    ctx.res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8', 'Api-Version': API_VERSION, 'Builder-Version': '1',
      'Docker-Experimental': 'false', 'Ostype': 'linux', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache',
    });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : 'OK');
  };
  r.get('/_ping', ping);
  r.head('/_ping', ping);

  r.get('/version', ({ res }) => {
    sendJson(res, 200, {
      Platform: { Name: 'barge' },
      Components: [{ Name: 'Engine', Version: BARGE_VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: os.release() } }],
      Version: BARGE_VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: 'barge', GoVersion: `node${process.versions.node}`,
      Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: os.release(), Experimental: false, BuildTime: '',
    });
  });

  r.get('/info', ({ res }) => {
    const c = s.counts();
    sendJson(res, 200, {
      ID: s.daemonId, Containers: c.containers, ContainersRunning: c.running, ContainersPaused: c.paused, ContainersStopped: c.stopped,
      Images: c.images, Driver: 'overlay2', DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']],
      DockerRootDir: s.dataRoot, Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file', 'local'] },
      MemoryLimit: true, SwapLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
      OomKillDisable: s.cgroupVersion === '1', IPv4Forwarding: true, BridgeNfIptables: true, BridgeNfIp6tables: true, Debug: false,
      NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(), LoggingDriver: 'json-file', CgroupDriver: 'cgroupfs',
      CgroupVersion: s.cgroupVersion, NEventsListener: events.listenerCount('event'), KernelVersion: os.release(),
      OperatingSystem: osRelease(), OSVersion: '', OSType: 'linux', Architecture: ARCH[process.arch] ?? process.arch,
      NCPU: os.cpus().length, MemTotal: os.totalmem(), IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { AllowNondistributableArtifactsCIDRs: null, AllowNondistributableArtifactsHostnames: null, InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {}, Mirrors: null },
      GenericResources: null, HttpProxy: '', HttpsProxy: '', NoProxy: '', Name: os.hostname(), Labels: [], ExperimentalBuild: false,
      ServerVersion: BARGE_VERSION, Runtimes: { runc: { path: s.runtimePath } }, DefaultRuntime: 'runc',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true, Isolation: '', InitBinary: 'docker-init', ContainerdCommit: { ID: '' }, RuncCommit: { ID: '' }, InitCommit: { ID: '' },
      SecurityOptions: s.securityOptions, ProductLicense: 'Apache-2.0', DefaultAddressPools: [], Warnings: s.warnings.length ? s.warnings : null,
    });
  });

  r.get('/events', ({ req, res, query }) => {
    const filters = qFilters(query);
    for (const k of filters.keys()) {
      if (!['container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'service', 'type', 'volume', 'config', 'secret'].includes(k)) throw invalid(`invalid filter '${k}'`);
    }
    const since = parseTime(query.get('since'));
    const until = parseTime(query.get('until'));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const matches = (e: EngineEvent) => eventMatches(e, filters);
    const send = (e: EngineEvent) => { if (matches(e)) res.write(JSON.stringify(e) + '\n'); };
    if (since !== undefined) {
      for (const e of events.since(Math.floor(since * 1e9))) {
        if (until !== undefined && e.timeNano > until * 1e9) break;
        send(e);
      }
    }
    if (until !== undefined && until * 1000 <= Date.now()) { res.end(); return; }
    const onEvent = (e: EngineEvent) => {
      if (until !== undefined && e.timeNano > until * 1e9) { cleanup(); res.end(); return; }
      send(e);
    };
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => { events.off('event', onEvent); if (timer) clearTimeout(timer); };
    events.on('event', onEvent);
    if (until !== undefined) timer = setTimeout(() => { cleanup(); res.end(); }, until * 1000 - Date.now());
    req.on('close', cleanup);
    res.on('close', cleanup);
  });
}

function eventMatches(e: EngineEvent, f: Map<string, string[]>): boolean {
  const attrs = e.Actor.Attributes;
  const check = (key: string, ok: (v: string) => boolean) => !f.has(key) || f.get(key)!.some(ok);
  const typeOf = (t: string) => e.Type === t;
  return check('type', (v) => v === e.Type)
    && check('event', (v) => e.Action === v || e.Action.startsWith(v + ':'))
    && check('container', (v) => typeOf('container') && (e.Actor.ID.startsWith(v) || attrs.name === v))
    && check('image', (v) => (typeOf('image') && (e.Actor.ID === v || attrs.name === v)) || attrs.image === v)
    && check('network', (v) => typeOf('network') && (e.Actor.ID.startsWith(v) || attrs.name === v))
    && check('volume', (v) => typeOf('volume') && e.Actor.ID === v)
    && check('daemon', (v) => typeOf('daemon') && e.Actor.ID === v)
    && check('scope', (v) => v === 'local')
    && check('label', (v) => { const [k, val] = v.split('='); return k! in attrs && (val === undefined || attrs[k!] === val); });
}
