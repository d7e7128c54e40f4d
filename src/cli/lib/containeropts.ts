// The flags `run` and `create` share, and their translation into the API's create body
// (Config + HostConfig + NetworkingConfig), as docker/cli's opts.go does.
import type { FlagSpec, FlagValues } from './flags.js';
import { UsageError } from './flags.js';
import * as u from './units.js';

const s = (name: string, description: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: 'string', description, ...extra });
const l = (name: string, description: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: 'list', description, ...extra });
const b = (name: string, description: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: 'bool', description, ...extra });
const i = (name: string, description: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: 'int', description, ...extra });

export const CONTAINER_FLAGS: FlagSpec[] = [
  l('add-host', 'Add a custom host-to-IP mapping (host:ip)'),
  l('attach', 'Attach to STDIN, STDOUT or STDERR', { short: 'a' }),
  l('cap-add', 'Add Linux capabilities'),
  l('cap-drop', 'Drop Linux capabilities'),
  s('cgroup-parent', 'Optional parent cgroup for the container'),
  s('cidfile', 'Write the container ID to the file'),
  i('cpu-period', 'Limit CPU CFS (Completely Fair Scheduler) period'),
  i('cpu-quota', 'Limit CPU CFS (Completely Fair Scheduler) quota'),
  i('cpu-shares', 'CPU shares (relative weight)', { short: 'c' }),
  s('cpus', 'Number of CPUs', { typeName: 'decimal', parse: (v) => u.parseCpusFlag(v) }),
  s('cpuset-cpus', 'CPUs in which to allow execution (0-3, 0,1)'),
  s('cpuset-mems', 'MEMs in which to allow execution (0-3, 0,1)'),
  l('device', 'Add a host device to the container'),
  l('dns', 'Set custom DNS servers'),
  l('dns-option', 'Set DNS options'),
  l('dns-search', 'Set custom DNS search domains'),
  s('domainname', 'Container NIS domain name'),
  s('entrypoint', 'Overwrite the default ENTRYPOINT of the image'),
  l('env', 'Set environment variables', { short: 'e' }),
  l('env-file', 'Read in a file of environment variables'),
  l('expose', 'Expose a port or a range of ports'),
  l('group-add', 'Add additional groups to join'),
  s('health-cmd', 'Command to run to check health'),
  s('health-interval', 'Time between running the check (ms|s|m|h) (default 0s)', { typeName: 'duration', parse: (v) => u.nonNegativeDuration(v, '--health-interval') }),
  i('health-retries', 'Consecutive failures needed to report unhealthy'),
  s('health-start-period', 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)', { typeName: 'duration', parse: (v) => u.nonNegativeDuration(v, '--health-start-period') }),
  s('health-timeout', 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)', { typeName: 'duration', parse: (v) => u.nonNegativeDuration(v, '--health-timeout') }),
  s('hostname', 'Container host name', { short: 'h' }),
  b('init', 'Run an init inside the container that forwards signals and reaps processes'),
  b('interactive', 'Keep STDIN open even if not attached', { short: 'i' }),
  s('ip', 'IPv4 address (e.g., 172.30.100.104)'),
  s('ipc', 'IPC mode to use'),
  l('label', 'Set meta data on a container', { short: 'l' }),
  l('label-file', 'Read in a line delimited file of labels'),
  s('log-driver', 'Logging driver for the container'),
  l('log-opt', 'Log driver options'),
  s('mac-address', 'Container MAC address (e.g., 92:d0:c6:0a:29:33)'),
  s('memory', 'Memory limit', { short: 'm', typeName: 'bytes', parse: (v) => u.ramInBytes(v) }),
  s('memory-reservation', 'Memory soft limit', { typeName: 'bytes', parse: (v) => u.ramInBytes(v) }),
  s('memory-swap', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", { typeName: 'bytes', parse: (v) => u.memSwapBytes(v) }),
  i('memory-swappiness', 'Tune container memory swappiness (0 to 100)', { default: -1 }),
  l('mount', 'Attach a filesystem mount to the container', { typeName: 'mount' }),
  s('name', 'Assign a name to the container'),
  s('network', 'Connect a container to a network', { aliases: ['net'] }),
  l('network-alias', 'Add network-scoped alias for the container', { aliases: ['net-alias'] }),
  b('no-healthcheck', 'Disable any container-specified HEALTHCHECK'),
  b('oom-kill-disable', 'Disable OOM Killer'),
  i('oom-score-adj', "Tune host's OOM preferences (-1000 to 1000)"),
  s('pid', 'PID namespace to use'),
  i('pids-limit', 'Tune container pids limit (set -1 for unlimited)'),
  s('platform', 'Set platform if server is multi-platform capable'),
  b('privileged', 'Give extended privileges to this container'),
  l('publish', "Publish a container's port(s) to the host", { short: 'p' }),
  b('publish-all', 'Publish all exposed ports to random ports', { short: 'P' }),
  s('pull', 'Pull image before running ("always", "missing", "never")', { default: 'missing' }),
  b('quiet', 'Suppress the pull output', { short: 'q' }),
  b('read-only', "Mount the container's root filesystem as read only"),
  s('restart', 'Restart policy to apply when a container exits', { default: 'no' }),
  b('rm', 'Automatically remove the container and its associated anonymous volumes when it exits'),
  s('runtime', 'Runtime to use for this container'),
  l('security-opt', 'Security Options'),
  s('shm-size', 'Size of /dev/shm', { typeName: 'bytes', parse: (v) => u.ramInBytes(v) }),
  s('stop-signal', 'Signal to stop the container'),
  i('stop-timeout', 'Timeout (in seconds) to stop a container'),
  l('sysctl', 'Sysctl options', { typeName: 'map' }),
  l('tmpfs', 'Mount a tmpfs directory'),
  b('tty', 'Allocate a pseudo-TTY', { short: 't' }),
  l('ulimit', 'Ulimit options', { typeName: 'ulimit', parse: (v) => { u.parseUlimit(v); return v; } }),
  s('user', 'Username or UID (format: <name|uid>[:<group|gid>])', { short: 'u' }),
  s('userns', 'User namespace to use'),
  s('uts', 'UTS namespace to use'),
  l('volume', 'Bind mount a volume', { short: 'v' }),
  l('volumes-from', 'Mount volumes from the specified container(s)'),
  s('workdir', 'Working directory inside the container', { short: 'w' }),
];

export interface CreateBody { body: Record<string, any>; name?: string; platform?: string; pull: string; cidfile?: string; quiet?: boolean }

/** Build the create request from parsed flags and positional args (IMAGE [COMMAND] [ARG...]). */
export function containerBody(flags: FlagValues, args: string[]): CreateBody {
  const image = args[0]!;
  const cmd = args.slice(1);
  const attach = flags.list('attach').map((a) => a.toLowerCase());
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new UsageError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`, 125);
  const interactive = flags.bool('interactive');
  const tty = flags.bool('tty');
  const env = u.readEnvFiles(flags.list('env-file'), flags.list('env'));
  const labels = u.readLabels(flags.list('label-file'), flags.list('label'));
  const { exposedPorts, portBindings } = u.parsePortSpecs(flags.list('publish'), flags.list('expose'));
  const { binds, volumes } = u.splitVolumes(flags.list('volume'));
  const mounts = flags.list('mount').map((m) => u.parseMount(m));
  const restart = u.parseRestartPolicy(flags.string('restart'));
  const rm = flags.bool('rm');
  if (rm && restart.Name !== 'no' && restart.Name !== '') throw new UsageError('Conflicting options: --restart and --rm', 125);
  const logOpts = u.kvToMap(flags.list('log-opt'));
  const sysctls = u.kvToMap(flags.list('sysctl'));
  const securityOpt = u.parseSecurityOpts(flags.list('security-opt'));
  const network = flags.string('network') || 'default';

  let entrypoint: string[] | undefined;
  if (flags.changed('entrypoint')) entrypoint = flags.string('entrypoint') === '' ? [''] : [flags.string('entrypoint')];

  let healthcheck: Record<string, unknown> | undefined;
  const hc = flags.string('health-cmd');
  if (flags.bool('no-healthcheck')) {
    if (hc || flags.changed('health-interval') || flags.changed('health-timeout') || flags.changed('health-retries') || flags.changed('health-start-period')) {
      throw new UsageError('--no-healthcheck conflicts with --health-* options', 125);
    }
    healthcheck = { Test: ['NONE'] };
  } else if (hc || flags.changed('health-interval') || flags.changed('health-timeout') || flags.changed('health-retries') || flags.changed('health-start-period')) {
    if (flags.number('health-retries') < 0) throw new UsageError('--health-retries cannot be negative', 125);
    healthcheck = {
      Test: hc ? ['CMD-SHELL', hc] : undefined,
      Interval: (flags.get('health-interval') as number | '') || 0, Timeout: (flags.get('health-timeout') as number | '') || 0,
      StartPeriod: (flags.get('health-start-period') as number | '') || 0, Retries: flags.number('health-retries'),
    };
  }

  const num = (name: string): number | undefined => (flags.changed(name) ? (flags.get(name) as number) : undefined);
  const config: Record<string, unknown> = {
    Hostname: flags.string('hostname') || undefined,
    Domainname: flags.string('domainname') || undefined,
    User: flags.string('user') || undefined,
    AttachStdin: attach.length ? attach.includes('stdin') : interactive,
    AttachStdout: attach.length ? attach.includes('stdout') : true,
    AttachStderr: attach.length ? attach.includes('stderr') : true,
    ExposedPorts: Object.keys(exposedPorts).length ? exposedPorts : undefined,
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: false,
    Env: env,
    Cmd: cmd.length ? cmd : undefined,
    Image: image,
    Volumes: Object.keys(volumes).length ? volumes : undefined,
    WorkingDir: flags.string('workdir') || undefined,
    Entrypoint: entrypoint,
    MacAddress: flags.string('mac-address') || undefined,
    Labels: labels,
    StopSignal: flags.string('stop-signal') || undefined,
    StopTimeout: num('stop-timeout'),
    Healthcheck: healthcheck,
  };
  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : undefined,
    ContainerIDFile: flags.string('cidfile') || undefined,
    LogConfig: { Type: flags.string('log-driver') || '', Config: logOpts },
    NetworkMode: network,
    PortBindings: Object.keys(portBindings).length ? portBindings : undefined,
    RestartPolicy: restart,
    AutoRemove: rm,
    VolumesFrom: flags.list('volumes-from').length ? flags.list('volumes-from') : undefined,
    Mounts: mounts.length ? mounts : undefined,
    CapAdd: flags.list('cap-add').length ? flags.list('cap-add') : undefined,
    CapDrop: flags.list('cap-drop').length ? flags.list('cap-drop') : undefined,
    Dns: flags.list('dns'), DnsOptions: flags.list('dns-option'), DnsSearch: flags.list('dns-search'),
    ExtraHosts: flags.list('add-host').length ? flags.list('add-host') : undefined,
    GroupAdd: flags.list('group-add').length ? flags.list('group-add') : undefined,
    IpcMode: flags.string('ipc') || undefined,
    OomScoreAdj: num('oom-score-adj'),
    PidMode: flags.string('pid') || undefined,
    Privileged: flags.bool('privileged'),
    PublishAllPorts: flags.bool('publish-all'),
    ReadonlyRootfs: flags.bool('read-only'),
    SecurityOpt: securityOpt.length ? securityOpt : undefined,
    Tmpfs: flags.list('tmpfs').length ? u.parseTmpfs(flags.list('tmpfs')) : undefined,
    UTSMode: flags.string('uts') || undefined,
    UsernsMode: flags.string('userns') || undefined,
    ShmSize: num('shm-size'),
    Sysctls: Object.keys(sysctls).length ? sysctls : undefined,
    Runtime: flags.string('runtime') || undefined,
    ConsoleSize: tty && process.stdout.isTTY ? [process.stdout.rows ?? 0, process.stdout.columns ?? 0] : undefined,
    // Resources
    CpuShares: num('cpu-shares'), Memory: num('memory'), CgroupParent: flags.string('cgroup-parent') || undefined,
    CpuPeriod: num('cpu-period'), CpuQuota: num('cpu-quota'), CpusetCpus: flags.string('cpuset-cpus') || undefined,
    CpusetMems: flags.string('cpuset-mems') || undefined,
    Devices: flags.list('device').length ? flags.list('device').map(parseDevice) : undefined,
    MemoryReservation: num('memory-reservation'), MemorySwap: num('memory-swap'),
    MemorySwappiness: flags.number('memory-swappiness') === -1 ? undefined : flags.number('memory-swappiness'),
    NanoCpus: num('cpus'), OomKillDisable: flags.bool('oom-kill-disable') || undefined,
    Init: flags.changed('init') ? flags.bool('init') : undefined,
    PidsLimit: num('pids-limit'),
    Ulimits: flags.list('ulimit').length ? u.parseUlimits(flags.list('ulimit')) : undefined,
  };
  const aliases = flags.list('network-alias');
  const ip = flags.string('ip');
  const networkingConfig = (aliases.length || ip)
    ? { EndpointsConfig: { [network]: { Aliases: aliases.length ? aliases : undefined, IPAMConfig: ip ? { IPv4Address: ip } : undefined } } }
    : undefined;
  return {
    body: { ...stripUndefined(config), HostConfig: stripUndefined(hostConfig), NetworkingConfig: networkingConfig },
    name: flags.string('name') || undefined,
    platform: flags.string('platform') || undefined,
    pull: flags.string('pull'),
    quiet: flags.bool('quiet'),
    cidfile: flags.string('cidfile') || undefined,
  };
}

function parseDevice(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = spec.split(':');
  const host = parts[0]!;
  let ctr = host; let perms = 'rwm';
  if (parts.length === 2) { if (/^[rwm]+$/.test(parts[1]!)) perms = parts[1]!; else ctr = parts[1]!; }
  if (parts.length === 3) { ctr = parts[1]!; perms = parts[2]!; }
  return { PathOnHost: host, PathInContainer: ctr, CgroupPermissions: perms };
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
