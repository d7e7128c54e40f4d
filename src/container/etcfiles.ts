// The files barge writes for each container and bind-mounts into it: /etc/hostname, /etc/hosts,
// /etc/resolv.conf (kept in the container's directory, as Docker does).
import * as fs from 'node:fs';

export function hostsFile(hostname: string, ip: string | undefined, extra: string[] = []): string {
  let s = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
  for (const e of extra) {
    // --add-host host:ip (the address may be IPv6, so split at the first colon)
    const i = e.indexOf(':');
    if (i > 0) s += `${e.slice(i + 1)}\t${e.slice(0, i)}\n`;
  }
  if (ip) s += `${ip}\t${hostname}\n`;
  return s;
}

/** Docker: copy the host's resolv.conf, replacing loopback nameservers (unreachable from a netns). */
export function resolvConf(opts: { dns?: string[] | null; dnsSearch?: string[] | null; dnsOptions?: string[] | null; hostNetwork: boolean }): string {
  let host = '';
  try { host = fs.readFileSync('/etc/resolv.conf', 'utf8'); } catch { /* none */ }
  const lines = host.split('\n');
  let servers = lines.filter((l) => /^\s*nameserver\s/.test(l)).map((l) => l.trim().split(/\s+/)[1]!);
  let search = lines.filter((l) => /^\s*(search|domain)\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1));
  let options = lines.filter((l) => /^\s*options\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1));
  if (!opts.hostNetwork) servers = servers.filter((s) => !/^127\.|^::1$/.test(s));
  if (opts.dns?.length) servers = opts.dns;
  if (servers.length === 0) servers = ['8.8.8.8', '8.8.4.4'];
  if (opts.dnsSearch?.length) search = opts.dnsSearch.filter((s) => s !== '.');
  if (opts.dnsOptions?.length) options = opts.dnsOptions;
  let out = '';
  if (search.length) out += `search ${search.join(' ')}\n`;
  for (const s of servers) out += `nameserver ${s}\n`;
  if (options.length) out += `options ${options.join(' ')}\n`;
  return out;
}
