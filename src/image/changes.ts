// The `changes` of `docker import --change` and `docker commit --change`: Dockerfile instructions that
// edit an image config (moby's dockerfile.BuildFromConfig), and the merge of a commit's config with the
// container's (moby's daemon.merge). Only the instructions that change the config are allowed: CMD,
// ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
import * as path from 'node:path';
import { invalid } from '../lib/errors.js';
import type { ContainerDefaults } from './oci.js';

const VALID = new Set(['cmd', 'entrypoint', 'env', 'expose', 'healthcheck', 'label', 'onbuild', 'stopsignal', 'user', 'volume', 'workdir']);

/** Expands $VAR and ${VAR} (with ${VAR:-default} and ${VAR:+alt}) from `env`, honouring backslash escapes. */
export function expand(s: string, env: string[]): string {
  const lookup = (k: string): string | undefined => {
    for (let i = env.length - 1; i >= 0; i--) {
      const e = env[i]!;
      const eq = e.indexOf('=');
      if ((eq < 0 ? e : e.slice(0, eq)) === k) return eq < 0 ? '' : e.slice(eq + 1);
    }
    return undefined;
  };
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && s[i + 1] === '$') { out += '$'; i++; continue; }
    if (c !== '$') { out += c; continue; }
    if (s[i + 1] === '{') {
      const end = s.indexOf('}', i + 2);
      if (end < 0) throw invalid(`missing '}' in ${JSON.stringify(s)}`);
      const body = s.slice(i + 2, end);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?$/s.exec(body);
      if (!m) throw invalid(`bad substitution ${JSON.stringify('${' + body + '}')}`);
      const v = lookup(m[1]!);
      if (m[2] === '-') out += v === undefined || v === '' ? m[3]! : v;
      else if (m[2] === '+') out += v === undefined || v === '' ? '' : m[3]!;
      else out += v ?? '';
      i = end;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
    if (!m) { out += c; continue; }
    out += lookup(m[0]) ?? '';
    i += m[0].length;
  }
  return out;
}

/** Splits on unquoted whitespace, removing quotes and backslash escapes (Dockerfile word rules). */
export function words(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (/\s/.test(c)) { if (inWord) { out.push(cur); cur = ''; inWord = false; } continue; }
    inWord = true;
    if (c === '\\' && i + 1 < s.length) { cur += s[++i]; continue; }
    if (c === '"' || c === "'") {
      const q = c;
      let j = i + 1;
      for (; j < s.length && s[j] !== q; j++) {
        if (q === '"' && s[j] === '\\' && j + 1 < s.length) j++;
        cur += s[j];
      }
      if (j >= s.length) throw invalid(`unterminated quote in ${JSON.stringify(s)}`);
      i = j;
      continue;
    }
    cur += c;
  }
  if (inWord) out.push(cur);
  return out;
}

/** KEY=VALUE pairs (ENV, LABEL), or the legacy "KEY VALUE" form. */
function pairs(instr: string, rest: string, env: string[], expandValues: boolean): [string, string][] {
  const raw = rest.trim();
  const first = words(raw)[0] ?? '';
  if (!first.includes('=')) {
    // Legacy form: one key, the rest of the line is the value.
    const m = /^(\S+)\s+([\s\S]*)$/.exec(raw);
    if (!m) throw invalid(`${instr.toUpperCase()} requires at least one argument`);
    return [[m[1]!, expandValues ? expand(m[2]!.trim(), env) : m[2]!.trim()]];
  }
  const out: [string, string][] = [];
  for (const w of words(raw)) {
    const eq = w.indexOf('=');
    if (eq === 0) throw invalid(`${instr.toUpperCase()} names can not be blank`);
    if (eq < 0) throw invalid(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    out.push([w.slice(0, eq), expandValues ? expand(w.slice(eq + 1), env) : w.slice(eq + 1)]);
  }
  return out;
}

function jsonArray(rest: string): string[] | undefined {
  const t = rest.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch { /* shell form */ }
  return undefined;
}

function commandForm(rest: string): string[] {
  return jsonArray(rest) ?? ['/bin/sh', '-c', rest.trim()];
}

/** Go durations ("30s", "1m30s", "500ms") in nanoseconds. */
function duration(v: string, flag: string): number {
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(v)) !== null) { total += Number(m[1]) * unit[m[2]!]!; end = re.lastIndex; }
  if (end !== v.length || v.length === 0) throw invalid(`invalid argument "${v}" for "--${flag}" flag: time: invalid duration "${v}"`);
  return Math.round(total);
}

function healthcheck(rest: string): NonNullable<ContainerDefaults['Healthcheck']> {
  let t = rest.trim();
  if (/^none$/i.test(t)) return { Test: ['NONE'] };
  const hc: NonNullable<ContainerDefaults['Healthcheck']> = {};
  for (;;) {
    const m = /^--([a-z-]+)=(\S+)\s*/.exec(t);
    if (!m) break;
    t = t.slice(m[0].length);
    const [flag, v] = [m[1]!, m[2]!];
    if (flag === 'interval') hc.Interval = duration(v, flag);
    else if (flag === 'timeout') hc.Timeout = duration(v, flag);
    else if (flag === 'start-period') hc.StartPeriod = duration(v, flag);
    else if (flag === 'start-interval') hc.StartInterval = duration(v, flag);
    else if (flag === 'retries') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw invalid(`invalid argument "${v}" for "--retries" flag`);
      hc.Retries = n;
    } else throw invalid(`unknown flag: ${flag}`);
  }
  const m = /^(\S+)\s*([\s\S]*)$/.exec(t);
  if (!m || m[1]!.toUpperCase() !== 'CMD') throw invalid(`Unknown type "${m?.[1] ?? ''}" in HEALTHCHECK (try CMD)`);
  const arr = jsonArray(m[2]!);
  hc.Test = arr ? ['CMD', ...arr] : ['CMD-SHELL', m[2]!.trim()];
  return hc;
}

/**
 * Applies Dockerfile `changes` to a copy of `base` and returns it. Each change is one instruction line
 * ("CMD [\"sh\"]", "ENV A=1 B=2", "EXPOSE 80/udp"); a value with several lines is split.
 * Throws `invalid` for an instruction that is not allowed or is malformed.
 */
export function applyChanges(base: ContainerDefaults, changes: string[]): ContainerDefaults {
  const c: ContainerDefaults = structuredClone(base);
  let cmdSet = false;
  const lines = changes.flatMap((ch) => ch.split('\n')).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of lines) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line)!;
    const instr = m[1]!.toLowerCase();
    const rest = m[2]!;
    if (!VALID.has(instr)) throw invalid(`${instr} is not a valid change command`);
    const env = c.Env ?? [];
    if (rest.trim() === '' && instr !== 'cmd' && instr !== 'entrypoint') throw invalid(`${instr.toUpperCase()} requires at least one argument`);
    switch (instr) {
      case 'cmd':
        c.Cmd = commandForm(rest);
        cmdSet = true;
        break;
      case 'entrypoint':
        c.Entrypoint = rest.trim() === '' ? null : commandForm(rest);
        // As in a Dockerfile, ENTRYPOINT drops a CMD this set of changes did not give.
        if (!cmdSet) c.Cmd = null;
        break;
      case 'env': {
        const e = [...env];
        for (const [k, v] of pairs(instr, rest, e, true)) {
          const i = e.findIndex((x) => x === k || x.startsWith(k + '='));
          if (i >= 0) e[i] = `${k}=${v}`; else e.push(`${k}=${v}`);
        }
        c.Env = e;
        break;
      }
      case 'label': {
        const labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of pairs(instr, rest, env, true)) labels[k] = v;
        c.Labels = labels;
        break;
      }
      case 'expose': {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const w of words(expand(rest, env))) {
          const pm = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
          if (!pm) throw invalid(`invalid containerPort: ${w}`);
          const lo = Number(pm[1]);
          const hi = pm[2] !== undefined ? Number(pm[2]) : lo;
          if (lo < 1 || hi > 65535 || hi < lo) throw invalid(`invalid containerPort: ${w}`);
          for (let p = lo; p <= hi; p++) ports[`${p}/${(pm[3] ?? 'tcp').toLowerCase()}`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case 'user':
        c.User = expand(rest.trim(), env);
        break;
      case 'workdir': {
        const w = expand(rest.trim(), env);
        c.WorkingDir = w.startsWith('/') ? path.posix.normalize(w) : path.posix.join('/', c.WorkingDir ?? '', w);
        break;
      }
      case 'stopsignal':
        c.StopSignal = expand(rest.trim(), env);
        break;
      case 'volume': {
        const vols = { ...(c.Volumes ?? {}) };
        const list = jsonArray(rest) ?? words(expand(rest, env));
        for (const v of list) {
          if (v.trim() === '') throw invalid('VOLUME specified can not be an empty string');
          vols[v] = {};
        }
        c.Volumes = vols;
        break;
      }
      case 'onbuild': {
        const trig = rest.trim();
        const t = /^(\S+)/.exec(trig)![1]!.toUpperCase();
        if (t === 'ONBUILD') throw invalid('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
        if (t === 'FROM' || t === 'MAINTAINER') throw invalid(`${t} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), trig];
        break;
      }
      case 'healthcheck':
        c.Healthcheck = healthcheck(rest);
        break;
    }
  }
  return c;
}

/** The image-config fields of a container config (Docker's container.Config), the rest dropped. */
export function imageDefaults(cfg: Record<string, unknown>): ContainerDefaults {
  const keys = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell', 'ArgsEscaped'];
  const out: ContainerDefaults = {};
  for (const k of keys) {
    const v = cfg[k];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0 && k !== 'Labels') continue;
    out[k] = structuredClone(v);
  }
  return out;
}

/** moby's merge: what the commit's config leaves unset comes from the container's config. */
export function mergeCommitConfig(user: ContainerDefaults, container: ContainerDefaults): ContainerDefaults {
  const u: ContainerDefaults = structuredClone(user);
  if (!u.User) u.User = container.User;
  if (!u.ExposedPorts || Object.keys(u.ExposedPorts).length === 0) u.ExposedPorts = container.ExposedPorts;
  else u.ExposedPorts = { ...(container.ExposedPorts ?? {}), ...u.ExposedPorts };
  if (!u.Env || u.Env.length === 0) u.Env = container.Env;
  else {
    const keys = new Set(u.Env.map((e) => e.split('=')[0]));
    u.Env = [...u.Env, ...(container.Env ?? []).filter((e) => !keys.has(e.split('=')[0]))];
  }
  u.Labels = { ...(container.Labels ?? {}), ...(u.Labels ?? {}) };
  if (!u.Entrypoint || u.Entrypoint.length === 0) {
    if (!u.Cmd || u.Cmd.length === 0) u.Cmd = container.Cmd;
    if (u.Entrypoint === undefined) u.Entrypoint = container.Entrypoint;
  }
  if (container.Healthcheck && !u.Healthcheck) u.Healthcheck = container.Healthcheck;
  if (!u.WorkingDir) u.WorkingDir = container.WorkingDir;
  if (!u.Volumes || Object.keys(u.Volumes).length === 0) u.Volumes = container.Volumes;
  else u.Volumes = { ...u.Volumes, ...(container.Volumes ?? {}) };
  if (!u.StopSignal) u.StopSignal = container.StopSignal;
  for (const k of Object.keys(u)) if (u[k] === undefined) delete u[k];
  if (u.Labels && Object.keys(u.Labels).length === 0) delete u.Labels;
  return u;
}
