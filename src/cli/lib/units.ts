// Parsers for docker run/create option values, following docker/go-units, docker/go-connections and
// docker/cli's opts package; errors are worded as Docker's.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUtf8 } from 'node:buffer';
import { parseFloat64, parseIntBig, parseUint, atoi, parseDuration, durationString, NumError, goQuote, readCSVRecord } from './gofmt.js';

export { parseDuration, durationString };

// ---------------------------------------------------------------------------------------------
// Sizes (go-units)

const DECIMAL: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
const BINARY: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

function parseSize(sizeStr: string, units: Record<string, number>): number {
  let num: string, sfx: string;
  const sp = sizeStr.indexOf(' ');
  if (sp >= 0) { num = sizeStr.slice(0, sp); sfx = sizeStr.slice(sp + 1); }
  else {
    let sep = -1;
    for (let i = sizeStr.length - 1; i >= 0; i--) {
      const c = sizeStr[i]!;
      if ((c >= '0' && c <= '9') || c === '.') { sep = i; break; }
    }
    if (sep === -1) throw new Error(`invalid size: '${sizeStr}'`);
    num = sizeStr.slice(0, sep + 1);
    sfx = sizeStr.slice(sep + 1);
  }
  let size = parseFloat64(num);
  if (size < 0) throw new Error(`invalid size: '${sizeStr}'`);
  if (sfx.length === 0) return Math.trunc(size) + 0;
  const bad = () => new Error(`invalid suffix: '${sfx}'`);
  if (sfx.length > 3) throw bad();
  sfx = sfx.toLowerCase();
  if (sfx[0] === 'b') {
    if (sfx.length > 1) throw bad();
    return Math.trunc(size) + 0;
  }
  const mul = units[sfx[0]!];
  if (mul === undefined) throw bad();
  size *= mul;
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) throw bad();
  return Math.trunc(size) + 0;
}

/** go-units RAMInBytes: "64m", "1g", "1.5g", "512k", "100" → bytes (binary multiples). */
export function ramInBytes(s: string): number {
  return parseSize(s, BINARY);
}

/** go-units FromHumanSize: "44kB", "17MB" → bytes (decimal multiples). */
export function fromHumanSize(s: string): number {
  return parseSize(s, DECIMAL);
}

/** --memory-swap: like ramInBytes, but "-1" means unlimited. */
export function memSwapBytes(s: string): number {
  return s === '-1' ? -1 : ramInBytes(s);
}

/** A duration flag value that must not be negative (--health-interval...): nanoseconds, or `<flag> cannot be negative`. */
export function nonNegativeDuration(s: string, flag: string): number {
  const d = parseDuration(s);
  if (d < 0) throw new Error(`${flag} cannot be negative`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// --cpus

function parseRat(value: string): { num: bigint; den: bigint } | null {
  let m = /^([+-]?)(\d+)\/(\d+)$/.exec(value);
  if (m) {
    const den = BigInt(m[3]!);
    if (den === 0n) return null;
    return { num: (m[1] === '-' ? -1n : 1n) * BigInt(m[2]!), den };
  }
  m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(value);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const digits = (m[2] ?? '') + (m[3] ?? '');
  let num = BigInt(digits || '0');
  let den = 10n ** BigInt((m[3] ?? '').length);
  const exp = m[4] ? Number(m[4]) : 0;
  if (Math.abs(exp) > 10000) return null;
  if (exp > 0) num *= 10n ** BigInt(exp); else if (exp < 0) den *= 10n ** BigInt(-exp);
  if (m[1] === '-') num = -num;
  return { num, den };
}

/** opts.ParseCPUs: a decimal or fraction number of CPUs → NanoCPUs ("0.5" → 500000000). */
export function parseCpus(value: string): number {
  const r = parseRat(value);
  if (!r) throw new Error(`failed to parse ${value} as a rational number`);
  const n = r.num * 1000000000n;
  if (n % r.den !== 0n) throw new Error('value is too precise');
  return Number(n / r.den);
}

/**
 * --cpus as the CLI flag value: parseCpus plus the daemon's range check against the host's CPU count
 * (0 means unset).
 */
export function parseCpusFlag(value: string, ncpu: number = os.availableParallelism?.() ?? os.cpus().length): number {
  const nano = parseCpus(value);
  if (nano < 0 || nano > ncpu * 1e9) {
    throw new Error(`range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  }
  return nano;
}

// ---------------------------------------------------------------------------------------------
// --ulimit

const ULIMIT_NAMES = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc',
  'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

export interface Ulimit { Name: string; Soft: number; Hard: number }

/** go-units ParseUlimit: "nofile=1024:2048", "nproc=512" (hard defaults to soft). */
export function parseUlimit(val: string): Ulimit {
  const eq = val.indexOf('=');
  if (eq < 0) throw new Error(`invalid ulimit argument: ${val}`);
  const name = val.slice(0, eq);
  const limits = val.slice(eq + 1);
  if (!ULIMIT_NAMES.has(name)) throw new Error(`invalid ulimit type: ${name}`);
  const colon = limits.indexOf(':');
  let hard: number | undefined;
  if (colon >= 0) hard = Number(parseIntBig(limits.slice(colon + 1), 10, 64));
  const soft = Number(parseIntBig(colon >= 0 ? limits.slice(0, colon) : limits, 10, 64));
  const h = hard ?? soft;
  if (h !== -1) {
    if (soft === -1) throw new Error(`ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: ${h}`);
    if (soft > h) throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${h}`);
  }
  return { Name: name, Soft: soft, Hard: h };
}

/** Several --ulimit values; a later value for the same name replaces the earlier one. */
export function parseUlimits(vals: readonly string[]): Ulimit[] {
  const m = new Map<string, Ulimit>();
  for (const v of vals) { const u = parseUlimit(v); m.delete(u.Name); m.set(u.Name, u); }
  return [...m.values()];
}

// ---------------------------------------------------------------------------------------------
// -e / --env-file / -l / --label-file

export type Lookup = (key: string) => string | undefined;

const envLookup: Lookup = (k) => process.env[k];

/** opts.ValidateEnv: "KEY=value" as is; a bare "KEY" takes its value from the environment when set. */
export function validateEnv(val: string, lookup: Lookup = envLookup): string {
  const eq = val.indexOf('=');
  const k = eq < 0 ? val : val.slice(0, eq);
  if (k === '') throw new Error(`invalid environment variable: ${val}`);
  if (eq >= 0) return val;
  const v = lookup(k);
  return v !== undefined ? `${k}=${v}` : val;
}

/**
 * docker's kvfile rules for env and label files: BOM and leading whitespace removed, "#" comments and
 * empty lines skipped, "KEY=value" kept as is (value untrimmed), bare "KEY" looked up (skipped when
 * absent or when there is no lookup, as for label files).
 */
export function parseKeyValueLines(content: string, lookup?: Lookup): string[] {
  const out: string[] = [];
  const lines = content.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (i === 0 && line.startsWith('\uFEFF')) line = line.slice(1);
    line = line.replace(/^\s+/u, '');
    if (line === '' || line[0] === '#') continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '') throw new Error(`no variable name on line '${line}'`);
    if (/[ \t]/.test(key)) throw new Error(`variable '${key}' contains whitespaces`);
    if (eq >= 0) { out.push(line); continue; }
    if (lookup) {
      const v = lookup(line);
      if (v !== undefined) out.push(`${key}=${v}`);
    }
  }
  return out;
}

function readKVFile(file: string, lookup?: Lookup): string[] {
  const buf = fs.readFileSync(file);
  try {
    if (!isUtf8(buf)) {
      let start = 0;
      for (let line = 1; ; line++) {
        const nl = buf.indexOf(10, start);
        const bytes = buf.subarray(start, nl < 0 ? buf.length : nl);
        if (!isUtf8(bytes)) throw new Error(`invalid utf8 bytes at line ${line}: [${[...bytes].join(' ')}]`);
        if (nl < 0) break;
        start = nl + 1;
      }
    }
    return parseKeyValueLines(buf.toString('utf8'), lookup);
  } catch (e) {
    throw new Error(`invalid env file (${file}): ${(e as Error).message}`);
  }
}

/** Environment from --env-file files then -e values (which override), as docker run builds Config.Env. */
export function readEnvFiles(files: readonly string[], envFlags: readonly string[] = [], lookup: Lookup = envLookup): string[] {
  const vars: string[] = [];
  for (const f of files) vars.push(...readKVFile(f, lookup));
  for (const e of envFlags) vars.push(validateEnv(e, lookup));
  return vars;
}

/** opts.ValidateLabel: a non-empty key without whitespace; the value is optional. */
export function validateLabel(value: string): string {
  const eq = value.indexOf('=');
  const key = (eq < 0 ? value : value.slice(0, eq)).replace(/^[ \t]+/, '');
  if (key === '') throw new Error(`invalid label '${value}': empty name`);
  if (/[ \t]/.test(key)) throw new Error(`label '${key}' contains whitespaces`);
  return value;
}

/** Labels from --label-file files then -l values, as a map (opts.ConvertKVStringsToMap). */
export function readLabels(files: readonly string[], labelFlags: readonly string[] = []): Record<string, string> {
  const list: string[] = [];
  for (const f of files) list.push(...readKVFile(f));
  for (const l of labelFlags) list.push(validateLabel(l));
  return kvToMap(list);
}

/** ["k=v", "k2"] → {k: "v", k2: ""}. */
export function kvToMap(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq < 0) out[v] = ''; else out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// --restart

export interface RestartPolicy { Name: string; MaximumRetryCount: number }

/** opts.ParseRestartPolicy then the API's validation: "no", "always", "on-failure[:N]", "unless-stopped". */
export function parseRestartPolicy(policy: string): RestartPolicy {
  if (policy === '') return { Name: '', MaximumRetryCount: 0 };
  const colon = policy.indexOf(':');
  const name = colon < 0 ? policy : policy.slice(0, colon);
  const count = colon < 0 ? '' : policy.slice(colon + 1);
  if (colon >= 0 && name === '') throw new Error('invalid restart policy format: no policy provided before colon');
  let retries = 0;
  if (count !== '') {
    try { retries = atoi(count); } catch {
      throw new Error('invalid restart policy format: maximum retry count must be an integer');
    }
  }
  const p = { Name: name, MaximumRetryCount: retries };
  validateRestartPolicy(p);
  return p;
}

export function validateRestartPolicy(p: RestartPolicy): void {
  switch (p.Name) {
    case 'always': case 'unless-stopped': case 'no':
      if (p.MaximumRetryCount !== 0) {
        throw new Error("invalid restart policy: maximum retry count can only be used with 'on-failure'" +
          (p.MaximumRetryCount < 0 ? ' and cannot be negative' : ''));
      }
      return;
    case 'on-failure':
      if (p.MaximumRetryCount < 0) throw new Error('invalid restart policy: maximum retry count cannot be negative');
      return;
    case '':
      return;
    default:
      throw new Error(`invalid restart policy: unknown policy '${p.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
}

// ---------------------------------------------------------------------------------------------
// -p / --expose (go-connections nat)

export interface PortBinding { HostIp: string; HostPort: string }
export type PortSet = Record<string, Record<string, never>>;
export type PortMap = Record<string, PortBinding[]>;

function parsePortNumber(raw: string): number {
  if (raw === '') throw new Error('value is empty');
  let n: number;
  try { n = Number(parseIntBig(raw, 10, 64)); } catch (e) {
    throw new Error(e instanceof NumError ? e.reason : (e as Error).message);
  }
  if (n < 0 || n > 65535) throw new Error('value out of range (0–65535)');
  return n;
}

/** nat.ParsePortRange: "8000-9000" or "80" → [start, end]. */
export function parsePortRange(ports: string): [number, number] {
  if (ports === '') throw new Error('empty string specified for ports');
  const dash = ports.indexOf('-');
  const start = dash < 0 ? ports : ports.slice(0, dash);
  const end = dash < 0 ? '' : ports.slice(dash + 1);
  let s: number;
  try { s = parsePortNumber(start); } catch (e) { throw new Error(`invalid start port '${start}': ${(e as Error).message}`); }
  if (dash < 0 || start === end) return [s, s];
  let e: number;
  try { e = parsePortNumber(end); } catch (err) { throw new Error(`invalid end port '${end}': ${(err as Error).message}`); }
  if (e < s) throw new Error(`invalid port range: ${ports}`);
  return [s, e];
}

/** nat.SplitProtoPort: "80/udp" → ["udp", "80"]; protocol defaults to tcp. */
export function splitProtoPort(raw: string): [string, string] {
  const slash = raw.indexOf('/');
  const port = slash < 0 ? raw : raw.slice(0, slash);
  const proto = slash < 0 ? '' : raw.slice(slash + 1);
  if (port === '') return ['', ''];
  return [proto === '' ? 'tcp' : proto, port];
}

export interface PortMapping { port: string; binding: PortBinding }

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** net.ParseIP: dotted IPv4 or IPv6 (with optional trailing dotted IPv4); no zones. */
export function isValidIP(s: string): boolean {
  if (isIPv4(s)) return true;
  if (!s.includes(':') || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const hex = (g: string) => /^[0-9a-fA-F]{1,4}$/.test(g);
  const groupsOf = (part: string, final: boolean): string[] | null => {
    if (part === '') return [];
    const gs = part.split(':');
    const last = gs[gs.length - 1]!;
    if (last.includes('.')) { if (!final || !isIPv4(last)) return null; gs.splice(gs.length - 1, 1, '0', '0'); }
    return gs.every(hex) ? gs : null;
  };
  const dbl = s.indexOf('::');
  if (dbl < 0) { const g = groupsOf(s, true); return g !== null && g.length === 8; }
  if (s.indexOf('::', dbl + 1) >= 0) return false;
  const h = groupsOf(s.slice(0, dbl), false), t = groupsOf(s.slice(dbl + 2), true);
  return h !== null && t !== null && h.length + t.length <= 7;
}

/** nat.ParsePortSpec: "[ip:][hostPort[-end]:]containerPort[-end][/proto]". */
export function parsePortSpec(raw: string): PortMapping[] {
  const parts = raw.split(':');
  let ip: string, hostPort: string, containerPort: string;
  if (parts.length === 1) { ip = ''; hostPort = ''; containerPort = parts[0]!; }
  else if (parts.length === 2) { ip = ''; hostPort = parts[0]!; containerPort = parts[1]!; }
  else if (parts.length === 3) { ip = parts[0]!; hostPort = parts[1]!; containerPort = parts[2]!; }
  else { ip = parts.slice(0, -2).join(':'); hostPort = parts[parts.length - 2]!; containerPort = parts[parts.length - 1]!; }
  let proto: string;
  [proto, containerPort] = splitProtoPort(containerPort);
  if (containerPort === '') throw new Error(`no port specified: ${raw}<empty>`);
  proto = proto.toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw new Error(`invalid proto: ${proto}`);
  if (ip !== '' && ip[0] === '[') {
    const close = ip.indexOf(']');
    if (close < 0 || close !== ip.length - 1) throw new Error(`invalid IP address ${ip}: address ${ip}:: missing ']' in address`);
    ip = ip.slice(1, close);
  }
  if (ip !== '' && !isValidIP(ip)) throw new Error(`invalid IP address: ${ip}`);
  let start: number, end: number;
  try { [start, end] = parsePortRange(containerPort); } catch { throw new Error(`invalid containerPort: ${containerPort}`); }
  let hStart = 0, hEnd = 0;
  if (hostPort !== '') {
    try { [hStart, hEnd] = parsePortRange(hostPort); } catch { throw new Error(`invalid hostPort: ${hostPort}`); }
    if (end - start !== hEnd - hStart && end !== start) {
      throw new Error(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }
  const count = end - start + 1;
  const out: PortMapping[] = [];
  for (let i = 0; i < count; i++) {
    let hp = '';
    if (hostPort !== '') {
      hp = String(hStart + i);
      if (count === 1 && hStart !== hEnd) hp += `-${hEnd}`;
    }
    out.push({ port: `${start + i}/${proto}`, binding: { HostIp: ip, HostPort: hp } });
  }
  return out;
}

/** docker's convertToStandardNotation: the long -p syntax "target=80,published=8080,protocol=udp". */
export function convertPublishLongSyntax(ports: readonly string[]): string[] {
  return ports.map((p) => {
    if (!p.includes('=')) return p;
    const params: Record<string, string> = { protocol: 'tcp' };
    for (const param of p.split(',')) {
      const eq = param.indexOf('=');
      if (eq <= 0) throw new Error(`invalid publish opts format (should be name=value but got '${param}')`);
      params[param.slice(0, eq)] = param.slice(eq + 1);
    }
    return `${params.published ?? ''}:${params.target ?? ''}/${params.protocol}`;
  });
}

/**
 * -p and --expose values into the API's Config.ExposedPorts and HostConfig.PortBindings
 * ({"80/tcp": {}} and {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}).
 */
export function parsePortSpecs(publish: readonly string[], expose: readonly string[] = []): { exposedPorts: PortSet; portBindings: PortMap } {
  const exposedPorts: PortSet = {};
  const portBindings: PortMap = {};
  for (const spec of convertPublishLongSyntax(publish)) {
    for (const m of parsePortSpec(spec)) {
      exposedPorts[m.port] ??= {};
      (portBindings[m.port] ??= []).push(m.binding);
    }
  }
  for (const e of expose) {
    try {
      const [proto, port] = splitProtoPort(e);
      if (e.includes(':')) throw new Error(`invalid port format: ${e}`);
      const [start, end] = parsePortRange(port);
      const p = proto.toLowerCase();
      if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw new Error(`invalid proto: ${proto}`);
      for (let i = start; i <= end; i++) exposedPorts[`${i}/${p}`] ??= {};
    } catch (err) {
      throw new Error(`invalid range format for --expose: ${(err as Error).message}`);
    }
  }
  return { exposedPorts, portBindings };
}

// ---------------------------------------------------------------------------------------------
// --mount

export interface Mount {
  Type: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean; ReadOnlyNonRecursive?: boolean; ReadOnlyForceRecursive?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; Subpath?: string; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  ImageOptions?: { Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export { readCSVRecord } from './gofmt.js';

function mountBool(key: string, val: string, hasValue: boolean): boolean {
  if (!hasValue) return true;
  switch (val) {
    case '1': case 'true': return true;
    case '0': case 'false': return false;
  }
  throw new Error(`invalid value for '${key}': invalid boolean value (${goQuote(val)}): must be one of "true", "1", "false", or "0" (default "true")`);
}

function absIfRelative(p: string, cwd: string): string {
  return !path.isAbsolute(p) && p.startsWith('.') ? path.resolve(cwd, p) : p;
}

/** opts.MountOpt.Set: "type=bind,source=/a,target=/b,readonly" → an API Mount. */
export function parseMount(value: string, cwd: string = process.cwd()): Mount {
  value = value.trim();
  if (value === '') throw new Error('value is empty');
  const fields = readCSVRecord(value);
  const m: Mount = { Type: 'volume' };
  const bind = () => (m.BindOptions ??= {});
  const vol = () => (m.VolumeOptions ??= {});
  const driver = () => (vol().DriverConfig ??= {});
  const tmpfs = () => (m.TmpfsOptions ??= {});
  const setOnMap = (target: Record<string, string> | undefined, kv: string) => {
    const eq = kv.indexOf('=');
    const k = eq < 0 ? kv : kv.slice(0, eq);
    if (k === '') return target;
    const t = target ?? {};
    t[k] = eq < 0 ? '' : kv.slice(eq + 1);
    return t;
  };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const hasValue = eq >= 0;
    let key = hasValue ? field.slice(0, eq) : field;
    const val = hasValue ? field.slice(eq + 1) : '';
    if (key.trim() !== key) throw new Error(`invalid option '${key.trim()}' in '${field}': option should not have whitespace`);
    if (hasValue) {
      if (val.trim() === '') throw new Error(`invalid value for '${key}': value is empty`);
      if (val.trim() !== val) throw new Error(`invalid value for '${key}' in '${field}': value should not have whitespace`);
    }
    key = key.toLowerCase();
    if (!hasValue && !['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive', 'bind-create-src'].includes(key)) {
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    switch (key) {
      case 'type': m.Type = val.toLowerCase(); break;
      case 'source': case 'src': m.Source = absIfRelative(val, cwd); break;
      case 'target': case 'dst': case 'destination': m.Target = val; break;
      case 'readonly': case 'ro': m.ReadOnly = mountBool(key, val, hasValue); break;
      case 'consistency': m.Consistency = val.toLowerCase(); break;
      case 'bind-propagation': bind().Propagation = val.toLowerCase(); break;
      case 'bind-nonrecursive': throw new Error('bind-nonrecursive is deprecated, use bind-recursive=disabled instead');
      case 'bind-recursive':
        switch (val) {
          case 'enabled': break;
          case 'disabled': bind().NonRecursive = true; break;
          case 'writable': bind().ReadOnlyNonRecursive = true; break;
          case 'readonly': bind().ReadOnlyForceRecursive = true; break;
          default: throw new Error(`invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`);
        }
        break;
      case 'bind-create-src': bind().CreateMountpoint = mountBool(key, val, hasValue); break;
      case 'volume-subpath': vol().Subpath = val; break;
      case 'volume-nocopy': vol().NoCopy = mountBool(key, val, hasValue); break;
      case 'volume-label': { const v = vol(); const l = setOnMap(v.Labels, val); if (l) v.Labels = l; break; }
      case 'volume-driver': driver().Name = val; break;
      case 'volume-opt': { const d = driver(); const o = setOnMap(d.Options, val); if (o) d.Options = o; break; }
      case 'image-subpath': (m.ImageOptions ??= {}).Subpath = val; break;
      case 'tmpfs-size':
        try { tmpfs().SizeBytes = ramInBytes(val); } catch { throw new Error(`invalid value for ${key}: ${val}`); }
        break;
      case 'tmpfs-mode':
        try { tmpfs().Mode = parseUint(val, 8, 32); } catch { throw new Error(`invalid value for ${key}: ${val}`); }
        break;
      default: throw new Error(`unknown option '${key}' in '${field}'`);
    }
  }
  if (m.Type === '') throw new Error('type is required');
  if (m.Type !== 'bind' && m.BindOptions) throw new Error(`cannot mix 'bind-*' options with mount type '${m.Type}'`);
  if (m.Type !== 'volume' && m.VolumeOptions) throw new Error(`cannot mix 'volume-*' options with mount type '${m.Type}'`);
  if (m.Type !== 'image' && m.ImageOptions) throw new Error(`cannot mix 'image-*' options with mount type '${m.Type}'`);
  if (m.Type !== 'tmpfs' && m.TmpfsOptions) throw new Error(`cannot mix 'tmpfs-*' options with mount type '${m.Type}'`);
  if (m.BindOptions?.ReadOnlyNonRecursive && !m.ReadOnly) {
    throw new Error("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  }
  if (m.BindOptions?.ReadOnlyForceRecursive) {
    if (!m.ReadOnly) throw new Error("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    if (m.BindOptions.Propagation !== 'rprivate') {
      throw new Error("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// -v / --volume, --tmpfs

export const PROPAGATIONS = ['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'];

export interface VolumeSpec {
  Type: 'bind' | 'volume';
  Source: string;
  Target: string;
  ReadOnly: boolean;
  /** The options part as written ("ro,z"), for the daemon to validate. */
  Mode: string;
  Propagation?: string;
  NoCopy?: boolean;
}

function isLetter(c: string | undefined): boolean {
  return c !== undefined && /\p{L}/u.test(c);
}

/** docker/cli's volumespec.Parse: "/host:/ctr:ro", "name:/ctr", "/ctr" (anonymous volume). */
export function parseVolumeSpec(spec: string): VolumeSpec {
  const v: VolumeSpec = { Type: 'volume', Source: '', Target: '', ReadOnly: false, Mode: '' };
  if (spec === '') throw new Error('invalid empty volume spec');
  if (Buffer.byteLength(spec) <= 2) { v.Target = spec; return v; }
  const chars = [...spec];
  let buf: string[] = [];
  const populate = (end: boolean) => {
    const s = buf.join('');
    if (buf.length === 0) throw new Error(`invalid spec: ${spec}: empty section between colons`);
    if (v.Source === '' && end) { v.Target = s; return; }
    if (v.Source === '') { v.Source = s; return; }
    if (v.Target === '') { v.Target = s; return; }
    if (!end) throw new Error(`invalid spec: ${spec}: too many colons`);
    v.Mode = s;
    for (const opt of s.split(',')) {
      if (opt === 'ro') v.ReadOnly = true;
      else if (opt === 'rw') v.ReadOnly = false;
      else if (opt === 'nocopy') v.NoCopy = true;
      else if (PROPAGATIONS.includes(opt)) v.Propagation = opt;
    }
  };
  for (const ch of chars) {
    if (ch === ':' && buf.length === 1 && isLetter(buf[0])) { buf.push(ch); continue; } // a Windows drive
    if (ch === ':') { populate(false); buf = []; continue; }
    buf.push(ch);
  }
  populate(true);
  if (v.Source !== '' && isFilePath(v.Source)) v.Type = 'bind';
  return v;
}

function isFilePath(source: string): boolean {
  const c = source[0];
  if (c === '.' || c === '/' || c === '~') return true;
  const rs = [...source];
  if (rs.length === 1) return false;
  if (source.startsWith('\\\\')) return true;
  return isLetter(rs[0]) && rs[1] === ':';
}

/**
 * Split -v values as docker run does: specs with a source become HostConfig.Binds (relative "./x" host
 * paths made absolute), the rest Config.Volumes ({"/ctr": {}}).
 */
export function splitVolumes(specs: readonly string[], cwd: string = process.cwd()): { binds: string[]; volumes: Record<string, Record<string, never>> } {
  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec)) continue;
    seen.add(spec);
    const parsed = parseVolumeSpec(spec);
    if (parsed.Source === '') { volumes[spec] = {}; continue; }
    let bind = spec;
    if (parsed.Type === 'bind') {
      const colon = spec.indexOf(':');
      if (colon >= 0) bind = absIfRelative(spec.slice(0, colon), cwd) + spec.slice(colon);
    }
    binds.push(bind);
  }
  return { binds, volumes };
}

/** --tmpfs values "/run:rw,noexec,size=64m" → HostConfig.Tmpfs {"/run": "rw,noexec,size=64m"}. */
export function parseTmpfs(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of values) {
    const colon = t.indexOf(':');
    if (colon < 0) out[t] = ''; else out[t.slice(0, colon)] = t.slice(colon + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// --security-opt

function compactJSON(text: string): string {
  JSON.parse(text); // validate
  let out = '';
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inStr) {
      out += c;
      if (c === '\\') { out += text[++i] ?? ''; continue; }
      if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') { inStr = true; out += c; continue; }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue;
    out += c;
  }
  return out;
}

/**
 * docker's parseSecurityOpts: "key=value" or "key:value" (only no-new-privileges may be bare); a
 * seccomp profile file is replaced by its compacted JSON content.
 */
export function parseSecurityOpts(opts: readonly string[], readFile: (p: string) => string = (p) => fs.readFileSync(p, 'utf8')): string[] {
  return opts.map((opt) => {
    let sep = opt.indexOf('=');
    let k = sep < 0 ? opt : opt.slice(0, sep);
    if (sep < 0 && k !== 'no-new-privileges') {
      sep = opt.indexOf(':');
      k = sep < 0 ? opt : opt.slice(0, sep);
    }
    const v = sep < 0 ? '' : opt.slice(sep + 1);
    if ((sep < 0 || v === '') && k !== 'no-new-privileges') throw new Error(`Invalid --security-opt: ${goQuote(opt)}`);
    if (k === 'seccomp' && v !== 'builtin' && v !== 'unconfined') {
      let content: string;
      try { content = readFile(v); } catch (e) {
        throw new Error(`opening seccomp profile (${v}) failed: ${(e as Error).message}`);
      }
      try { return 'seccomp=' + compactJSON(content); } catch (e) {
        throw new Error(`compacting json for seccomp profile (${v}) failed: ${(e as Error).message}`);
      }
    }
    return opt;
  });
}

/**
 * docker's parseSystemPaths: "systempaths=unconfined" is handled client-side: it is removed and sets
 * empty MaskedPaths and ReadonlyPaths.
 */
export function parseSystemPaths(opts: readonly string[]): { securityOpts: string[]; maskedPaths?: string[]; readonlyPaths?: string[] } {
  const securityOpts: string[] = [];
  let unconfined = false;
  for (const o of opts) { if (o === 'systempaths=unconfined') unconfined = true; else securityOpts.push(o); }
  return unconfined ? { securityOpts, maskedPaths: [], readonlyPaths: [] } : { securityOpts };
}

// ---------------------------------------------------------------------------------------------
// --detach-keys

export { parseDetachKeys, DEFAULT_DETACH_KEYS } from '../../lib/detachkeys.js';

// ---------------------------------------------------------------------------------------------
// --filter

export type Filters = Record<string, string[]>;

/** opts.FilterOpt: "key=value" values (key lowercased, both trimmed) into {key: [values...]}. */
export function parseFilters(values: readonly string[], into: Filters = {}): Filters {
  for (const value of values) {
    if (value === '') continue;
    const eq = value.indexOf('=');
    if (eq < 0) throw new Error('bad format of filter (expected name=value)');
    const name = value.slice(0, eq).trim().toLowerCase();
    const val = value.slice(eq + 1).trim();
    const list = (into[name] ??= []);
    if (!list.includes(val)) list.push(val);
  }
  return into;
}

/** The API's filters query parameter ({"key":["value"]}); '' when there are no filters (omit it). */
export function filtersToJSON(f: Filters): string {
  return Object.keys(f).length === 0 ? '' : JSON.stringify(f);
}

/** Read a filters parameter in either the list form {"k":["v"]} or docker's set form {"k":{"v":true}}. */
export function filtersFromJSON(s: string): Filters {
  if (s === '') return {};
  const raw = JSON.parse(s) as Record<string, unknown>;
  const out: Filters = {};
  for (const [k, v] of Object.entries(raw)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === 'object') out[k] = Object.entries(v).filter(([, on]) => on).map(([x]) => x);
    else throw new Error(`invalid filter '${k}'`);
  }
  return out;
}
