// barged's settings: dockerd-style flags over a JSON config file (/etc/barge/daemon.json), over defaults.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../lib/errors.js';

export interface DaemonConfig {
  dataRoot: string;
  execRoot: string;
  hosts: string[];
  pidfile: string;
  bridge: string;
  bip: string;            // '' = choose like Docker
  logLevel: string;
  runtime: string;
  iptables: boolean;
  logOpts: Record<string, string>;
  insecureRegistries: string[];
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  maxDownloadAttempts: number;
  configFile: string;
}

export const DEFAULT_SOCKET = '/run/barge/barge.sock';

export const DEFAULTS: DaemonConfig = {
  dataRoot: '/var/lib/barge',
  execRoot: '/run/barge',
  hosts: [],
  pidfile: '/run/barge/barged.pid',
  bridge: 'barge0',
  bip: '',
  logLevel: 'info',
  runtime: 'runc',
  iptables: true,
  logOpts: {},
  insecureRegistries: [],
  // dockerd's: 3 layers downloaded at a time, 5 uploaded, 5 tries of each download.
  maxConcurrentDownloads: 3,
  maxConcurrentUploads: 5,
  maxDownloadAttempts: 5,
  configFile: '/etc/barge/daemon.json',
};

// flag name → config key; JSON keys are the flag names, as dockerd's daemon.json.
const FLAGS: Record<string, { key: keyof DaemonConfig; kind: 'string' | 'list' | 'bool' | 'map' | 'count' }> = {
  'data-root': { key: 'dataRoot', kind: 'string' },
  'exec-root': { key: 'execRoot', kind: 'string' },
  host: { key: 'hosts', kind: 'list' },
  hosts: { key: 'hosts', kind: 'list' },
  pidfile: { key: 'pidfile', kind: 'string' },
  bridge: { key: 'bridge', kind: 'string' },
  bip: { key: 'bip', kind: 'string' },
  'log-level': { key: 'logLevel', kind: 'string' },
  runtime: { key: 'runtime', kind: 'string' },
  iptables: { key: 'iptables', kind: 'bool' },
  'log-opt': { key: 'logOpts', kind: 'map' },
  'log-opts': { key: 'logOpts', kind: 'map' },
  'insecure-registry': { key: 'insecureRegistries', kind: 'list' },
  'insecure-registries': { key: 'insecureRegistries', kind: 'list' },
  'max-concurrent-downloads': { key: 'maxConcurrentDownloads', kind: 'count' },
  'max-concurrent-uploads': { key: 'maxConcurrentUploads', kind: 'count' },
  'max-download-attempts': { key: 'maxDownloadAttempts', kind: 'count' },
  'config-file': { key: 'configFile', kind: 'string' },
};

export const USAGE = `Usage:	barged [OPTIONS]

A self-sufficient runtime for containers: serves the Docker Engine API.

Options:
      --bip string                  Specify default-bridge IP (e.g. 172.18.0.1/16)
  -b, --bridge string               Attach containers to a network bridge (default "barge0")
      --config-file string          Daemon configuration file (default "/etc/barge/daemon.json")
      --data-root string            Root directory of persistent state (default "/var/lib/barge")
      --exec-root string            Root directory for execution state files (default "/run/barge")
  -H, --host list                   Daemon socket(s) to connect to (default unix:///run/barge/barge.sock)
      --insecure-registry list      Enable insecure registry communication
      --iptables                    Enable addition of iptables rules (default true)
  -l, --log-level string            Set the logging level ("debug"|"info"|"warn"|"error") (default "info")
      --log-opt map                 Default log driver options for containers (max-size, max-file)
      --max-concurrent-downloads int
                                    Set the max concurrent downloads (default 3)
      --max-concurrent-uploads int  Set the max concurrent uploads (default 5)
      --max-download-attempts int   Set the max download attempts for each pull (default 5)
  -p, --pidfile string              Path to use for daemon PID file (default "/run/barge/barged.pid")
      --runtime string              OCI runtime binary (default "runc")
  -v, --version                     Print version information and quit
`;

const SHORT: Record<string, string> = { H: 'host', b: 'bridge', l: 'log-level', p: 'pidfile' };

export function parseDaemonArgs(argv: string[]): { config: DaemonConfig; help: boolean; version: boolean } {
  const flags: Array<[string, string | true]> = [];
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') { help = true; continue; }
    if (a === '-v' || a === '--version') { version = true; continue; }
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) value = a.slice(eq + 1);
    } else if (a.startsWith('-') && a.length >= 2) {
      const s = SHORT[a[1]!];
      if (!s) throw invalid(`unknown shorthand flag: '${a[1]}' in ${a}`);
      name = s;
      if (a.length > 2) value = a.slice(2).replace(/^=/, '');
    } else {
      throw invalid(`barged takes no arguments: "${a}"; see 'barged --help'`);
    }
    const spec = FLAGS[name];
    if (!spec) throw invalid(`unknown flag: --${name}`);
    if (spec.kind === 'bool') {
      flags.push([name, value === undefined ? true : value]);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw invalid(`flag needs an argument: --${name}`);
    }
    flags.push([name, value]);
  }
  // The config file named on the command line (or the default) is read first; flags win.
  const cfgFlag = flags.filter(([n]) => n === 'config-file').pop();   // the last one wins, as for every flag
  const configFile = cfgFlag ? String(cfgFlag[1]) : DEFAULTS.configFile;
  const config: DaemonConfig = { ...DEFAULTS, hosts: [], logOpts: {}, insecureRegistries: [], configFile };
  if (fs.existsSync(configFile)) applyFile(config, configFile);
  else if (cfgFlag) throw invalid(`unable to read config file ${configFile}: no such file`);
  let hostsFromFlags = false;
  for (const [name, value] of flags) {
    const spec = FLAGS[name]!;
    if (spec.key === 'hosts' && !hostsFromFlags) { config.hosts = []; hostsFromFlags = true; }
    setValue(config, spec, value, `--${name}`);
  }
  if (config.hosts.length === 0) config.hosts = [`unix://${DEFAULT_SOCKET}`];
  config.dataRoot = path.resolve(config.dataRoot);
  config.execRoot = path.resolve(config.execRoot);
  return { config, help, version };
}

function applyFile(config: DaemonConfig, file: string): void {
  let obj: Record<string, unknown>;
  try { obj = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>; } catch (e) {
    throw invalid(`unable to parse config file ${file}: ${(e as Error).message}`);
  }
  for (const [k, v] of Object.entries(obj)) {
    const spec = FLAGS[k];
    if (!spec || k === 'config-file') throw invalid(`the following directives don't match any configuration option: ${k} (in ${file})`);
    if (spec.kind === 'list' && Array.isArray(v)) for (const item of v) setValue(config, spec, String(item), k);
    else if (spec.kind === 'map' && v && typeof v === 'object') Object.assign(config.logOpts, v);
    else setValue(config, spec, v === true ? true : String(v), k);
  }
}

function setValue(config: DaemonConfig, spec: { key: keyof DaemonConfig; kind: string }, value: string | true, what: string): void {
  const c = config as unknown as Record<string, unknown>;
  switch (spec.kind) {
    case 'string': c[spec.key] = String(value); break;
    case 'list': (c[spec.key] as string[]).push(String(value)); break;
    case 'bool':
      if (value === true || value === 'true' || value === '1') c[spec.key] = true;
      else if (value === 'false' || value === '0') c[spec.key] = false;
      else throw invalid(`invalid argument "${value}" for "${what}": must be true or false`);
      break;
    case 'count': {
      // A positive whole number; daemon.json gives it as a JSON number, flags as text.
      const s = String(value).trim();
      const n = /^\d+$/.test(s) ? Number(s) : NaN;
      if (!(Number.isSafeInteger(n) && n >= 1)) throw invalid(`invalid argument "${s}" for "${what}": must be a whole number of 1 or more`);
      c[spec.key] = n;
      break;
    }
    case 'map': {
      const s = String(value);
      const i = s.indexOf('=');
      if (i <= 0) throw invalid(`invalid argument "${s}" for "${what}": expected key=value`);
      config.logOpts[s.slice(0, i)] = s.slice(i + 1);
      break;
    }
  }
}
