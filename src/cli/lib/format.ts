// Output helpers as docker/cli prints things: --format handling (table/json/custom templates), the column
// tabwriter, human-friendly durations and sizes (docker/go-units), id/command truncation, ports.
import { parseTemplate, headerFuncs, TemplateError, type Template } from './template.js';
import { formatFloat, goQuote, goTimeString } from './gofmt.js';

export { goTimeString };

// ---------------------------------------------------------------------------------------------
// Display width

function isWide(c: number): boolean {
  if (c < 0x1100) return false;
  return (c <= 0x115f) || c === 0x2329 || c === 0x232a || (c >= 0x231a && c <= 0x231b) ||
    (c >= 0x23e9 && c <= 0x23ec) || c === 0x23f0 || c === 0x23f3 || (c >= 0x25fd && c <= 0x25fe) ||
    (c >= 0x2614 && c <= 0x2615) || (c >= 0x2648 && c <= 0x2653) || c === 0x267f || c === 0x2693 ||
    c === 0x26a1 || (c >= 0x26aa && c <= 0x26ab) || (c >= 0x26bd && c <= 0x26be) || (c >= 0x26c4 && c <= 0x26c5) ||
    c === 0x26ce || c === 0x26d4 || c === 0x26ea || (c >= 0x26f2 && c <= 0x26f3) || c === 0x26f5 || c === 0x26fa ||
    c === 0x26fd || c === 0x2705 || (c >= 0x270a && c <= 0x270b) || c === 0x2728 || c === 0x274c || c === 0x274e ||
    (c >= 0x2753 && c <= 0x2755) || c === 0x2757 || (c >= 0x2795 && c <= 0x2797) || c === 0x27b0 || c === 0x27bf ||
    (c >= 0x2b1b && c <= 0x2b1c) || c === 0x2b50 || c === 0x2b55 ||
    (c >= 0x2e80 && c <= 0x303e) || (c >= 0x3041 && c <= 0x33ff) || (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) || (c >= 0xa960 && c <= 0xa97f) ||
    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe10 && c <= 0xfe19) ||
    (c >= 0xfe30 && c <= 0xfe6f) || (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x16fe0 && c <= 0x16fe4) || (c >= 0x17000 && c <= 0x18cff) || (c >= 0x1b000 && c <= 0x1b2ff) ||
    c === 0x1f004 || c === 0x1f0cf || c === 0x1f18e || (c >= 0x1f191 && c <= 0x1f19a) || (c >= 0x1f200 && c <= 0x1f251) ||
    (c >= 0x1f300 && c <= 0x1f320) || (c >= 0x1f32d && c <= 0x1f335) || (c >= 0x1f337 && c <= 0x1f37c) ||
    (c >= 0x1f37e && c <= 0x1f393) || (c >= 0x1f3a0 && c <= 0x1f3ca) || (c >= 0x1f3cf && c <= 0x1f3d3) ||
    (c >= 0x1f3e0 && c <= 0x1f3f0) || c === 0x1f3f4 || (c >= 0x1f3f8 && c <= 0x1f43e) || c === 0x1f440 ||
    (c >= 0x1f442 && c <= 0x1f4fc) || (c >= 0x1f4ff && c <= 0x1f53d) || (c >= 0x1f54b && c <= 0x1f54e) ||
    (c >= 0x1f550 && c <= 0x1f567) || c === 0x1f57a || (c >= 0x1f595 && c <= 0x1f596) || c === 0x1f5a4 ||
    (c >= 0x1f5fb && c <= 0x1f64f) || (c >= 0x1f680 && c <= 0x1f6c5) || c === 0x1f6cc || (c >= 0x1f6d0 && c <= 0x1f6d2) ||
    (c >= 0x1f6d5 && c <= 0x1f6d7) || (c >= 0x1f6eb && c <= 0x1f6ec) || (c >= 0x1f6f4 && c <= 0x1f6fc) ||
    (c >= 0x1f7e0 && c <= 0x1f7eb) || (c >= 0x1f90c && c <= 0x1f93a) || (c >= 0x1f93c && c <= 0x1f945) ||
    (c >= 0x1f947 && c <= 0x1f9ff) || (c >= 0x1fa70 && c <= 0x1faff) || (c >= 0x20000 && c <= 0x3fffd);
}

/** Columns a character takes: 2 for East Asian wide/fullwidth, else 1 (docker's charWidth). */
export function charWidth(codePoint: number): number {
  return isWide(codePoint) ? 2 : 1;
}

/** Display width of a string (columns). */
export function stringWidth(s: string): number {
  let w = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x1100) { w++; continue; }
    if (c >= 0xdc00 && c <= 0xdfff) continue;
    w += charWidth(s.codePointAt(i)!);
  }
  return w;
}

// ---------------------------------------------------------------------------------------------
// text/tabwriter

export interface TabWriterOptions {
  /** Minimal cell width including padding (docker's table formatter: 10). */
  minwidth?: number;
  /** Tab width, only used when padchar is '\t'. */
  tabwidth?: number;
  /** Padding added to the widest cell of a column (docker: 3). */
  padding?: number;
  padchar?: string;
  /** camelCase aliases of the above. */
  minWidth?: number;
  tabWidth?: number;
  padChar?: string;
}

/**
 * Align tab-separated columns as Go's text/tabwriter (docker/cli's fork measures display width).
 * Cells are tab-terminated: the text after a line's last tab is not part of a column.
 * Defaults are docker's table formatter's: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0).
 */
export function tabwrite(text: string, opts: TabWriterOptions = {}): string {
  const minwidth = opts.minwidth ?? opts.minWidth ?? 10;
  const tabwidth = opts.tabwidth ?? opts.tabWidth ?? 1;
  const padding = opts.padding ?? 3;
  const padchar = opts.padchar ?? opts.padChar ?? ' ';
  const lines = text.split('\n').map((l) => l.split('\t'));
  const widths: number[] = [];
  let out = '';
  const cellw = lines.map((l) => l.map(stringWidth));

  const writePadding = (textw: number, cw: number) => {
    if (padchar === '\t') {
      if (tabwidth === 0) return;
      const c = Math.ceil(cw / tabwidth) * tabwidth;
      out += '\t'.repeat(Math.ceil((c - textw) / tabwidth));
      return;
    }
    out += padchar.repeat(Math.max(0, cw - textw));
  };
  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i]!;
      for (let j = 0; j < line.length; j++) {
        out += line[j];
        if (j < widths.length) writePadding(cellw[i]![j]!, widths[j]!);
      }
      if (i + 1 < lines.length) out += '\n';
    }
  };
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur]!.length - 1) continue;
      writeLines(line0, cur);
      line0 = cur;
      let width = minwidth;
      for (; cur < line1; cur++) {
        const line = lines[cur]!;
        if (column >= line.length - 1) break;
        const w = cellw[cur]![column]! + padding;
        if (w > width) width = w;
      }
      widths.push(width);
      format(line0, cur);
      widths.pop();
      line0 = cur;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// --format

export const TABLE_FORMAT_KEY = 'table';
export const JSON_FORMAT_KEY = 'json';
export const RAW_FORMAT_KEY = 'raw';
export const DEFAULT_QUIET_FORMAT = '{{.ID}}';

export function isTableFormat(format: string): boolean {
  return format.startsWith(TABLE_FORMAT_KEY);
}

export function isJSONFormat(format: string): boolean {
  return format === JSON_FORMAT_KEY;
}

/** docker's Format.templateString: strip "table", trim spaces, turn literal \t and \n into tab and newline. */
export function templateString(format: string): string {
  if (format === TABLE_FORMAT_KEY) return '';
  if (format === JSON_FORMAT_KEY) return '{{json .}}';
  let out = format.startsWith(TABLE_FORMAT_KEY) ? format.slice(TABLE_FORMAT_KEY.length) : format;
  out = out.replace(/^ +| +$/g, '');
  return out.replace(/\\t|\\n/g, (m) => (m === '\\t' ? '\t' : '\n'));
}

export interface FormatSpec {
  /** The --format value; '' or "table" select the default table. */
  format?: string;
  /** The command's default table format, e.g. "table {{.ID}}\t{{.Image}}\t{{.Names}}". */
  defaultTable: string;
  /** Column header per field, e.g. { ID: 'CONTAINER ID', Names: 'NAMES' } (docker's SubHeaderContext). */
  headers: Record<string, string>;
  /** -q/--quiet: use quietFormat ("{{.ID}}") unless the format is... always, as docker does. */
  quiet?: boolean;
  quietFormat?: string;
  /** Format used for --format raw, when the command has one. */
  rawFormat?: string;
  tabwriter?: TabWriterOptions;
}

/** Choose the effective format string as docker's New*Format functions do. */
export function selectFormat(spec: FormatSpec): string {
  const source = spec.format ?? '';
  const quiet = spec.quiet ?? false;
  const quietFormat = spec.quietFormat ?? DEFAULT_QUIET_FORMAT;
  if (source === '' || source === TABLE_FORMAT_KEY) return quiet ? quietFormat : spec.defaultTable;
  if (source === RAW_FORMAT_KEY && spec.rawFormat !== undefined) return quiet ? quietFormat : spec.rawFormat;
  return quiet ? quietFormat : source;
}

const templateCache = new Map<string, Template>();

/** Parse a --format template (cached), with docker's "template parsing error: ..." wording on failure. */
export function compileFormat(format: string): Template {
  const text = templateString(format);
  let t = templateCache.get(text);
  if (!t) {
    try { t = parseTemplate(text); } catch (e) {
      throw new TemplateError(`template parsing error: ${(e as Error).message}`);
    }
    templateCache.set(text, t);
  }
  return t;
}

/**
 * Render rows as docker's formatter.Context does: each row through the template plus a newline; for
 * "table" formats a header row (the template run on the headers with docker's header functions) and
 * everything aligned by the tabwriter. Throws TemplateError("template parsing error: ...").
 */
export function renderFormat(rows: Iterable<unknown>, spec: FormatSpec): string {
  const format = selectFormat(spec);
  const tmpl = compileFormat(format);
  let body = '';
  for (const row of rows) {
    try { body += tmpl.execute(row) + '\n'; } catch (e) {
      if (e instanceof TemplateError) throw new TemplateError(`template parsing error: ${e.message}`);
      throw e;
    }
  }
  if (!isTableFormat(format)) return body;
  let header: string;
  try { header = tmpl.execute(spec.headers, { funcs: headerFuncs }); } catch (e) {
    header = e instanceof TemplateError ? e.output : '';
  }
  return tabwrite(header + '\n' + body, spec.tabwriter);
}

// ---------------------------------------------------------------------------------------------
// Durations (go-units)

export { humanDuration } from '../../lib/human.js';
import { humanDuration } from '../../lib/human.js';

function toMillis(t: Date | number | string): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number') return t;
  return Date.parse(t);
}

/** "<HumanDuration> ago", as docker ps' CREATED and docker images' CREATED columns. */
export function timeAgo(t: Date | number | string, now: number = Date.now()): string {
  return humanDuration(now - toMillis(t)) + ' ago';
}

/** Whether an API timestamp is Go's zero time ("0001-01-01T00:00:00Z") or absent. */
export function isZeroTime(t: string | undefined | null): boolean {
  if (!t) return true;
  const ms = Date.parse(t);
  return Number.isNaN(ms) || ms <= -62135596800000;
}

export interface ContainerStateLike {
  Running?: boolean;
  Paused?: boolean;
  Restarting?: boolean;
  Dead?: boolean;
  RemovalInProgress?: boolean;
  StartedAt?: string;
  FinishedAt?: string;
  ExitCode?: number;
  Health?: { Status?: string } | null;
}

/** The daemon's State.String(): "Up 5 seconds (healthy)", "Exited (0) 3 minutes ago", "Created"... */
export function containerStatus(s: ContainerStateLike, now: number = Date.now()): string {
  const since = (t: string | undefined) => humanDuration(now - (isZeroTime(t) ? 0 : Date.parse(t!)));
  if (s.Running) {
    if (s.Paused) return `Up ${since(s.StartedAt)} (Paused)`;
    if (s.Restarting) return `Restarting (${s.ExitCode ?? 0}) ${since(s.FinishedAt)} ago`;
    if (s.Health && s.Health.Status !== undefined && s.Health.Status !== 'none') {
      const h = s.Health.Status === 'starting' ? 'health: starting' : s.Health.Status;
      return `Up ${since(s.StartedAt)} (${h})`;
    }
    return `Up ${since(s.StartedAt)}`;
  }
  if (s.RemovalInProgress) return 'Removal In Progress';
  if (s.Dead) return 'Dead';
  if (isZeroTime(s.StartedAt)) return 'Created';
  if (isZeroTime(s.FinishedAt)) return '';
  return `Exited (${s.ExitCode ?? 0}) ${since(s.FinishedAt)} ago`;
}

// ---------------------------------------------------------------------------------------------
// Sizes (go-units)

const DECIMAL_ABBRS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_ABBRS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function sizeAndUnit(size: number, base: number, abbrs: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < abbrs.length - 1) { size /= base; i++; }
  return [size, abbrs[i]!];
}

/** go-units HumanSizeWithPrecision: "%.<precision>g" with decimal units ("1.23MB", "512B"). */
export function humanSizeWithPrecision(size: number, precision: number): string {
  const [v, unit] = sizeAndUnit(size, 1000, DECIMAL_ABBRS);
  return formatFloat(v, 'g', precision) + unit;
}

/**
 * Decimal size as docker shows image, container and disk-usage sizes (HumanSizeWithPrecision(size, 3):
 * "77.8MB"). go-units' own HumanSize uses 4 digits: humanSize(n, 4).
 */
export function humanSize(size: number, precision = 3): string {
  return humanSizeWithPrecision(size, precision);
}

/** go-units BytesSize: binary units with 4 significant digits ("1.5MiB", "1.944GiB"), used by docker stats. */
export function bytesSize(size: number): string {
  const [v, unit] = sizeAndUnit(size, 1024, BINARY_ABBRS);
  return formatFloat(v, 'g', 4) + unit;
}

/** "%.2f%%" as docker stats shows CPU and memory percentages. */
export function formatPercent(p: number): string {
  return formatFloat(p, 'f', 2) + '%';
}

// ---------------------------------------------------------------------------------------------
// Truncation and docker ps columns

/** stringid.TruncateID: drop an "algo:" prefix, keep 12 characters. */
export function truncateId(id: string): string {
  const i = id.indexOf(':');
  if (i >= 0) id = id.slice(i + 1);
  return id.length > 12 ? id.slice(0, 12) : id;
}

/** docker's Ellipsis: fit s in maxWidth display columns, ending with "…" when cut. */
export function ellipsis(s: string, maxWidth: number): string {
  if (maxWidth <= 0) return '';
  const rs = [...s];
  if (maxWidth === 1) return rs[0] ?? '';
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) { ascii = false; break; }
  if (ascii) return s.length <= maxWidth ? s : s.slice(0, maxWidth - 1) + '…';
  const display: number[] = [];
  let w = 0;
  for (const r of rs) { w += charWidth(r.codePointAt(0)!); display.push(w); }
  if (w <= maxWidth) return s;
  for (let i = 0; i < display.length - 1; i++) {
    if (display[i]! <= maxWidth - 1 && display[i + 1]! > maxWidth - 1) return rs.slice(0, i + 1).join('') + '…';
  }
  return s;
}

/** docker ps COMMAND column: quoted, and cut to 20 columns unless --no-trunc. */
export function formatCommand(command: string, trunc = true): string {
  return goQuote(trunc ? ellipsis(command, 20) : command);
}

/** docker ps NAMES column: names without their "/" prefix; truncated output shows the first non-link name. */
export function formatNames(names: readonly string[], trunc = true): string {
  const out: string[] = [];
  for (const n of names) {
    const name = n.startsWith('/') ? n.slice(1) : n;
    if (trunc) { if (!name.includes('/')) return name; continue; }
    out.push(name);
  }
  return out.join(',');
}

/** docker ps LABELS column: sorted "k=v" joined by commas. */
export function formatLabels(labels: Record<string, string> | null | undefined): string {
  if (!labels) return '';
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort().join(',');
}

export interface PortSummary { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }

function joinHostPort(host: string, port: string | number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function ipSortKey(ip: string | undefined): number[] {
  if (!ip) return [0];
  if (!ip.includes(':')) return [1, ...ip.split('.').map(Number)];
  const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return [2, ...groups.map((g) => parseInt(g || '0', 16))];
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d) return d;
  }
  return 0;
}

/** docker ps PORTS column: "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 9000-9001/tcp". */
export function displayablePorts(ports: readonly PortSummary[]): string {
  const sorted = [...ports].sort((i, j) =>
    i.PrivatePort - j.PrivatePort ||
    compareKeys(ipSortKey(i.IP), ipSortKey(j.IP)) ||
    (i.PublicPort ?? 0) - (j.PublicPort ?? 0) ||
    (i.Type < j.Type ? -1 : i.Type > j.Type ? 1 : 0));
  const groups = new Map<string, { first: number; last: number }>();
  const order: string[] = [];
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, start: number, last: number) => {
    const slash = key.lastIndexOf('/');
    const ip = slash >= 0 ? key.slice(0, slash) : '';
    const type = slash >= 0 ? key.slice(slash + 1) : key;
    let group = String(start);
    if (start !== last) group += `-${last}`;
    if (ip) group = `${joinHostPort(ip, group)}->${group}`;
    return `${group}/${type}`;
  };
  for (const p of sorted) {
    const cur = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if ((p.PublicPort ?? 0) !== cur) {
        hostMappings.push(`${joinHostPort(p.IP, p.PublicPort ?? 0)}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) { groups.set(key, { first: cur, last: cur }); order.push(key); continue; }
    if (cur === g.last + 1) { g.last = cur; continue; }
    result.push(formGroup(key, g.first, g.last));
    groups.set(key, { first: cur, last: cur });
  }
  for (const key of order) { const g = groups.get(key)!; result.push(formGroup(key, g.first, g.last)); }
  result.push(...hostMappings);
  return result.join(', ');
}
