// The contents of a container's /etc/resolv.conf and /etc/hosts, as Docker writes them.
import * as fs from 'node:fs';

export interface ResolvOptions {
  /** host network: the host's file is used as it is (its loopback resolvers are reachable). */
  hostNetwork?: boolean;
  dns?: string[] | null;
  dnsSearch?: string[] | null;
  dnsOptions?: string[] | null;
  /** The host file to start from (default /etc/resolv.conf). */
  file?: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;
const DEFAULT_SERVERS = ['8.8.8.8', '8.8.4.4'];

function read(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return ''; }
}

function nameservers(text: string): string[] {
  const out: string[] = [];
  for (const l of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    if (m) out.push(m[1]!);
  }
  return out;
}

/**
 * Docker's rule: start from the host's resolv.conf (systemd-resolved's upstream file when the
 * host only points at its 127.0.0.53 stub); outside the host network drop loopback nameservers
 * (and IPv6 ones: barge's bridge has no IPv6), falling back to 8.8.8.8 and 8.8.4.4 when none
 * remain; other lines (search, options, comments) are kept. --dns, --dns-search and --dns-opt
 * replace the corresponding lines.
 */
export function resolvConf(o: ResolvOptions = {}): string {
  const file = o.file ?? '/etc/resolv.conf';
  let text = read(file);
  const servers = nameservers(text);
  if (!o.file && servers.length > 0 && servers.every((s) => s === '127.0.0.53')) {
    const upstream = read('/run/systemd/resolve/resolv.conf');
    if (upstream) text = upstream;
  }
  if (o.hostNetwork && !o.dns?.length && !o.dnsSearch?.length && !o.dnsOptions?.length) return text;

  const keep: string[] = [];
  let kept = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      if (o.dns?.length) continue;
      if (!o.hostNetwork && (LOOPBACK.test(m[1]!) || m[1]!.includes(':'))) continue;
      kept++;
    } else if (o.dnsSearch?.length && /^\s*(search|domain)\s/.test(line)) continue;
    else if (o.dnsOptions?.length && /^\s*options\s/.test(line)) continue;
    keep.push(line);
  }
  while (keep.length && keep[keep.length - 1]!.trim() === '') keep.pop();
  const add: string[] = [];
  if (o.dnsSearch?.length) {
    const s = o.dnsSearch.filter((d) => d !== '.');
    if (s.length) add.push(`search ${s.join(' ')}`);
  }
  if (o.dns?.length) add.push(...o.dns.map((s) => `nameserver ${s}`));
  else if (kept === 0) add.push(...DEFAULT_SERVERS.map((s) => `nameserver ${s}`));
  if (o.dnsOptions?.length) add.push(`options ${o.dnsOptions.join(' ')}`);
  const lines = [...keep, ...add];
  return lines.length ? lines.join('\n') + '\n' : '';
}

export interface HostsOptions {
  /** --add-host entries, "name:address" (the address may be IPv6: split at the first colon). */
  extraHosts?: string[];
  domainname?: string;
}

/** Docker's /etc/hosts for a container with its own network namespace. */
export function hostsFile(hostname: string, ip?: string, o: HostsOptions = {}): string {
  let s = '127.0.0.1\tlocalhost\n' +
    '::1\tlocalhost ip6-localhost ip6-loopback\n' +
    'fe00::0\tip6-localnet\n' +
    'ff00::0\tip6-mcastprefix\n' +
    'ff02::1\tip6-allnodes\n' +
    'ff02::2\tip6-allrouters\n';
  for (const e of o.extraHosts ?? []) {
    const i = e.indexOf(':');
    if (i > 0) s += `${e.slice(i + 1)}\t${e.slice(0, i)}\n`;
  }
  if (ip) s += o.domainname ? `${ip}\t${hostname}.${o.domainname} ${hostname}\n` : `${ip}\t${hostname}\n`;
  return s;
}
