// Linux capabilities: names, bit numbers, Docker's default set and the --cap-add/--cap-drop/--privileged
// arithmetic. Capabilities are always spelled the kernel's way in here ("CAP_NET_RAW").
import { invalid } from '../lib/errors.js';

/** Every capability the kernel knows, indexed by its bit number (include/uapi/linux/capability.h). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

const CAP_BIT = new Map(ALL_CAPABILITIES.map((c, i) => [c, i]));

/** Docker's default capability set, in Docker's order (moby daemon/pkg/oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** A capability set as the kernel prints it in /proc/<pid>/status (CapEff: 00000000a80425fb). */
export function capsToMask(caps: Iterable<string>): bigint {
  let mask = 0n;
  for (const c of caps) {
    const bit = CAP_BIT.get(c);
    if (bit !== undefined) mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** The inverse of capsToMask; bits the table does not name (newer kernels) are left out. */
export function maskToCaps(mask: bigint): string[] {
  const out: string[] = [];
  for (let i = 0; i < ALL_CAPABILITIES.length; i++) if (mask & (1n << BigInt(i))) out.push(ALL_CAPABILITIES[i]!);
  return out;
}

/**
 * Normalize --cap-add/--cap-drop values as Docker does: case-insensitive, CAP_ prefix optional, "ALL"
 * kept as is. An unknown name is an invalid-argument error with Docker's wording
 * (`invalid CapAdd: unknown capability: "CAP_FOO"`).
 */
export function normalizeCapabilities(caps: readonly string[] | null | undefined, field = 'CapAdd'): string[] {
  const out: string[] = [];
  for (const raw of caps ?? []) {
    let c = raw.trim().toUpperCase();
    if (c === 'ALL') { out.push(c); continue; }
    if (!c.startsWith('CAP_')) c = 'CAP_' + c;
    if (!CAP_BIT.has(c)) throw invalid(`invalid ${field}: unknown capability: "${c}"`);
    out.push(c);
  }
  return out;
}

export interface EffectiveCapabilities {
  /** The capabilities to give the container (bounding = permitted = effective). */
  caps: string[];
  /** Capabilities asked for (explicitly or by --privileged/ALL) that the host's bounding set lacks. */
  dropped: string[];
}

/**
 * Docker's TweakCapabilities, then clamped to what this host can grant (its bounding set): a process can
 * never gain a capability outside its own bounding set, and runc fails outright if asked to ("unable to
 * apply caps"). `hostBounding` lists the host's bounding set (probeHost().capabilities).
 */
export function effectiveCapabilities(opts: {
  capAdd?: readonly string[] | null; capDrop?: readonly string[] | null; privileged?: boolean;
  hostBounding: readonly string[];
}): EffectiveCapabilities {
  const adds = normalizeCapabilities(opts.capAdd, 'CapAdd');
  const drops = normalizeCapabilities(opts.capDrop, 'CapDrop');
  let caps: string[];
  if (opts.privileged) {
    caps = [...ALL_CAPABILITIES];
  } else if (adds.length === 0 && drops.length === 0) {
    caps = [...DEFAULT_CAPABILITIES];
  } else if (adds.includes('ALL')) {
    caps = ALL_CAPABILITIES.filter((c) => !drops.includes(c));
  } else if (drops.includes('ALL')) {
    caps = [...adds];
  } else {
    caps = DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c));
    caps.push(...adds);
  }
  caps = [...new Set(caps)];
  const host = new Set(opts.hostBounding);
  return { caps: caps.filter((c) => host.has(c)), dropped: caps.filter((c) => !host.has(c)) };
}
