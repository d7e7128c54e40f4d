// Interface counters in the shape of the `networks` object of Docker's stats API.
import * as fs from 'node:fs';

export interface InterfaceStats {
  rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number;
  tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number;
}

/** Parse a /proc/<pid>/net/dev table; loopback is left out, as Docker does. */
export function parseNetDev(text: string): Record<string, InterfaceStats> {
  const out: Record<string, InterfaceStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    if (name === 'lo') continue;
    const f = line.slice(i + 1).trim().split(/\s+/).map(Number);
    if (f.length < 16) continue;
    out[name] = {
      rx_bytes: f[0]!, rx_packets: f[1]!, rx_errors: f[2]!, rx_dropped: f[3]!,
      tx_bytes: f[8]!, tx_packets: f[9]!, tx_errors: f[10]!, tx_dropped: f[11]!,
    };
  }
  return out;
}

/** Counters of the network namespace a process is in. */
export function statsOfPid(pid: number): Record<string, InterfaceStats> | undefined {
  try { return parseNetDev(fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8')); } catch { return undefined; }
}

/**
 * Counters of a container's eth0 seen from the host end of its veth pair: what the host end
 * transmits the container receives and the other way round. Drops are counted on each side
 * separately, so rx_dropped/tx_dropped are the host end's view; given a pid, prefer statsOfPid.
 */
export function statsOfPeer(hostVeth: string): InterfaceStats | undefined {
  const dir = `/sys/class/net/${hostVeth}/statistics/`;
  const r = (n: string) => Number(fs.readFileSync(dir + n, 'utf8'));
  try {
    return {
      rx_bytes: r('tx_bytes'), rx_packets: r('tx_packets'), rx_errors: r('tx_errors'), rx_dropped: r('tx_dropped'),
      tx_bytes: r('rx_bytes'), tx_packets: r('rx_packets'), tx_errors: r('rx_errors'), tx_dropped: r('rx_dropped'),
    };
  } catch { return undefined; }
}
