// Seccomp: Docker-format profiles (the default one ships as seccomp-default.json, moby's profile as data)
// converted into the OCI linux.seccomp section for one container: the rules whose conditions hold for the
// container's capabilities, this architecture and this kernel, and nothing else.
//
// A Docker profile differs from the OCI section in three ways: `archMap` (an architecture → its
// sub-architectures, of which only the native entry is kept), per-rule `includes`/`excludes` conditions
// (caps: all listed capabilities are in the bounding set / any is; arches: native arch is listed;
// minKernel: kernel >= x.y), and `name` as a shorthand of `names`.
import defaultProfileJson from './seccomp-default.json' with { type: 'json' };
import { invalid } from '../lib/errors.js';
import type { OciSeccomp, OciSeccompArg, OciSyscall } from './oci.js';

export interface SeccompFilter { caps?: string[] | null; arches?: string[] | null; minKernel?: string | null }

export interface DockerSyscallRule {
  name?: string;
  names?: string[] | null;
  action: string;
  errnoRet?: number | null;
  args?: OciSeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter | null;
  excludes?: SeccompFilter | null;
}

export interface DockerSeccompProfile {
  defaultAction?: string;
  defaultErrnoRet?: number | null;
  architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null;
  flags?: string[] | null;
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: DockerSyscallRule[] | null;
}

/** libseccomp native arch name → the SCMP_ARCH_ constant used in archMap. */
const NATIVE_TO_SCMP: Record<string, string> = {
  x86: 'SCMP_ARCH_X86', amd64: 'SCMP_ARCH_X86_64', arm: 'SCMP_ARCH_ARM', arm64: 'SCMP_ARCH_AARCH64',
  loongarch64: 'SCMP_ARCH_LOONGARCH64', mips64: 'SCMP_ARCH_MIPS64', mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64', mips3l64n32: 'SCMP_ARCH_MIPSEL64N32', mipsle: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC', ppc64: 'SCMP_ARCH_PPC64', ppc64le: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64',
  s390: 'SCMP_ARCH_S390', s390x: 'SCMP_ARCH_S390X',
};

/** Accepts the native name ("amd64") or the uname name ("x86_64", "aarch64"). */
export function nativeArch(arch: string): string {
  return ({ x86_64: 'amd64', aarch64: 'arm64', i386: 'x86', i686: 'x86' } as Record<string, string>)[arch] ?? arch;
}

function parseKernel(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const k = parseKernel(kernel);
  const m = parseKernel(min);
  if (!m) throw invalid(`invalid seccomp profile: failed to parse kernel version "${min}"`);
  if (!k) return false;
  return k[0] > m[0] || (k[0] === m[0] && k[1] >= m[1]);
}

export interface SeccompTarget {
  /** The container's bounding set (CAP_ names). */
  capabilities: readonly string[];
  /** Native arch name ("amd64", "arm64") or uname name ("x86_64", "aarch64"). */
  arch: string;
  /** Kernel release ("6.1.0-13-amd64"). */
  kernel: string;
  /** Sub-architectures to leave out (the kernel cannot run them: HostInfo.deadArches). */
  skipArches?: readonly string[];
}

/**
 * Convert a Docker-format profile into the OCI seccomp section for one target. Returns undefined for a
 * profile that disables seccomp (no default action and no rules), as Docker does.
 */
export function convertSeccompProfile(profile: DockerSeccompProfile, target: SeccompTarget): OciSeccomp | undefined {
  const syscalls = profile.syscalls ?? [];
  if (!profile.defaultAction && syscalls.length === 0) return undefined;
  if (profile.architectures?.length && profile.archMap?.length) {
    throw invalid("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const arch = nativeArch(target.arch);
  const caps = new Set(target.capabilities);
  const out: OciSeccomp = { defaultAction: profile.defaultAction ?? 'SCMP_ACT_ALLOW' };
  if (profile.defaultErrnoRet != null) out.defaultErrnoRet = profile.defaultErrnoRet;
  const arches = [...(profile.architectures ?? [])];
  const scmp = NATIVE_TO_SCMP[arch];
  for (const a of profile.archMap ?? []) {
    if (a.architecture === scmp) { arches.push(a.architecture, ...(a.subArchitectures ?? [])); break; }
  }
  const live = arches.filter((a) => !target.skipArches?.includes(a) || a === scmp);
  if (live.length) out.architectures = live;
  if (profile.flags?.length) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;

  const rules: OciSyscall[] = [];
  for (const call of syscalls) {
    if (call.name && call.names?.length) {
      throw invalid("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
    }
    const ex = call.excludes;
    if (ex) {
      if (ex.arches?.length && ex.arches.includes(arch)) continue;
      if (ex.caps?.length && ex.caps.some((c) => caps.has(c))) continue;
      if (ex.minKernel && kernelAtLeast(target.kernel, ex.minKernel)) continue;
    }
    const inc = call.includes;
    if (inc) {
      if (inc.arches?.length && !inc.arches.includes(arch)) continue;
      if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) continue;
      if (inc.minKernel && !kernelAtLeast(target.kernel, inc.minKernel)) continue;
    }
    const rule: OciSyscall = { names: call.name ? [call.name] : [...(call.names ?? [])], action: call.action };
    if (call.errnoRet != null) rule.errnoRet = call.errnoRet;
    if (call.args?.length) {
      rule.args = call.args.map((a) => {
        const arg: OciSeccompArg = { index: a.index, value: a.value, op: a.op };
        if (a.valueTwo) arg.valueTwo = a.valueTwo;
        return arg;
      });
    }
    rules.push(rule);
  }
  out.syscalls = rules;
  return out;
}

/** Parse and convert a Docker-format profile given as JSON text (the value of --security-opt seccomp=). */
export function loadSeccompProfile(text: string, target: SeccompTarget): OciSeccomp | undefined {
  let profile: DockerSeccompProfile;
  try {
    profile = JSON.parse(text) as DockerSeccompProfile;
  } catch (e) {
    throw invalid(`Decoding seccomp profile failed: ${(e as Error).message}`);
  }
  if (profile === null || typeof profile !== 'object' || Array.isArray(profile)) {
    throw invalid('Decoding seccomp profile failed: not a JSON object');
  }
  return convertSeccompProfile(profile, target);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Docker's default profile, as shipped (deeply frozen). */
export const DEFAULT_SECCOMP_PROFILE: Readonly<DockerSeccompProfile> = deepFreeze(defaultProfileJson as unknown as DockerSeccompProfile);

// Only the capabilities the default profile's conditions mention change its conversion, so the cache is
// keyed by those (at most a handful of distinct keys in practice: default caps, privileged-ish sets).
const PROFILE_CAPS = new Set<string>();
for (const s of DEFAULT_SECCOMP_PROFILE.syscalls ?? []) {
  for (const c of [...(s.includes?.caps ?? []), ...(s.excludes?.caps ?? [])]) PROFILE_CAPS.add(c);
}
const defaultCache = new Map<string, OciSeccomp>();

/**
 * Docker's default profile converted for a target, memoized: it is on every container start's path.
 * The result is deeply frozen and shared between specs; copy it before changing it.
 */
export function defaultSeccomp(target: SeccompTarget): OciSeccomp {
  const relevant = target.capabilities.filter((c) => PROFILE_CAPS.has(c)).sort();
  const k = parseKernel(target.kernel);
  const key = `${nativeArch(target.arch)}|${k ? k.join('.') : target.kernel}|${relevant.join(',')}|${(target.skipArches ?? []).join(',')}`;
  let hit = defaultCache.get(key);
  if (!hit) {
    hit = deepFreeze(convertSeccompProfile(DEFAULT_SECCOMP_PROFILE as DockerSeccompProfile, target)!);
    defaultCache.set(key, hit);
  }
  return hit;
}
