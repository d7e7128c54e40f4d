// barge's iptables rules for one bridge network, kept in chains of its own (named after the
// bridge) so that several daemons, or tests, with different bridges never touch each other's
// rules, and so that everything of a network goes with one remove():
//
//   filter FORWARD -o <br> -j BARGE-IN-<br>      (inserted first: decides what may enter the bridge)
//   filter BARGE-IN-<br>:
//     -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT    replies to containers
//     -m conntrack --ctstate DNAT -j ACCEPT                   published ports (not internal networks)
//     -i <br> -j ACCEPT                                       container to container (icc)
//     -j DROP                                                 nothing else: other bridges are isolated
//   filter FORWARD -i <br> -j BARGE-OUT-<br>     (appended: after every IN chain has had its say)
//   filter BARGE-OUT-<br>:
//     ! -o <br> -j ACCEPT                                     containers to the outside (DROP if internal)
//   nat POSTROUTING -j BARGE-POST-<br>
//   nat BARGE-POST-<br>:
//     -s <subnet> ! -o <br> -j MASQUERADE                     NAT out of the host (not internal)
//     -o <br> -m addrtype --src-type LOCAL -j MASQUERADE      127.0.0.1:port → container (route_localnet)
//     -o <br> -s <subnet> -m conntrack --ctstate DNAT -j MASQUERADE   hairpin through a published port
//   nat PREROUTING / OUTPUT -m addrtype --dst-type LOCAL -j BARGE-DNAT-<br>
//   nat BARGE-DNAT-<br>: one DNAT rule per published port of a container on this bridge
//
// Ordering matters for isolation: a packet from bridge A to bridge B meets B's IN chain (DROP)
// before A's OUT chain (ACCEPT) because IN hooks are inserted at the top and OUT hooks appended.
// Every change is one iptables-restore --noflush that replaces whole chains atomically; a hook is
// added only if iptables-save does not already show it.
import { run, runRaw } from './exec.js';

export interface PortRule { proto: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerIp: string; containerPort: number }

export interface BridgeRules {
  bridge: string;
  subnet: string;
  /** No route out of the host, no published ports (Docker's --internal). */
  internal?: boolean;
  /** Inter-container communication on this bridge (default true). */
  icc?: boolean;
  /** NAT out of the host (default true). */
  masquerade?: boolean;
  ports?: PortRule[];
}

export function chainNames(bridge: string): { in: string; out: string; post: string; dnat: string; legacy: string } {
  return { in: `BARGE-IN-${bridge}`, out: `BARGE-OUT-${bridge}`, post: `BARGE-POST-${bridge}`, dnat: `BARGE-DNAT-${bridge}`, legacy: `BARGE-FWD-${bridge}` };
}

interface Hook { table: 'filter' | 'nat'; chain: string; rule: string; insert: boolean }

function hooks(bridge: string): Hook[] {
  const c = chainNames(bridge);
  return [
    { table: 'filter', chain: 'FORWARD', rule: `-o ${bridge} -j ${c.in}`, insert: true },
    { table: 'filter', chain: 'FORWARD', rule: `-i ${bridge} -j ${c.out}`, insert: false },
    { table: 'nat', chain: 'POSTROUTING', rule: `-j ${c.post}`, insert: false },
    { table: 'nat', chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${c.dnat}`, insert: false },
    { table: 'nat', chain: 'OUTPUT', rule: `-m addrtype --dst-type LOCAL -j ${c.dnat}`, insert: false },
  ];
}

function dnatLines(chain: string, ports: PortRule[]): string {
  let out = '';
  for (const p of ports) {
    const dst = p.hostIp && p.hostIp !== '0.0.0.0' ? `-d ${p.hostIp}/32 ` : '';
    out += `-A ${chain} ${dst}-p ${p.proto} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${p.containerIp}:${p.containerPort}\n`;
  }
  return out;
}

/** Create or refresh every chain of a bridge (with its published ports) and hook them once. */
export async function install(r: BridgeRules): Promise<void> {
  const c = chainNames(r.bridge);
  const saved = await run('iptables-save', []);
  const present = new Set(saved.split('\n').map((l) => l.trim()));
  const masq = !r.internal && r.masquerade !== false;
  let nat = `*nat\n:${c.post} - [0:0]\n:${c.dnat} - [0:0]\n` +
    (masq ? `-A ${c.post} -s ${r.subnet} ! -o ${r.bridge} -j MASQUERADE\n` : '') +
    `-A ${c.post} -o ${r.bridge} -m addrtype --src-type LOCAL -j MASQUERADE\n` +
    `-A ${c.post} -o ${r.bridge} -s ${r.subnet} -m conntrack --ctstate DNAT -j MASQUERADE\n` +
    (r.internal ? '' : dnatLines(c.dnat, r.ports ?? []));
  let filter = `*filter\n:${c.in} - [0:0]\n:${c.out} - [0:0]\n` +
    `-A ${c.in} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n` +
    (r.internal ? '' : `-A ${c.in} -m conntrack --ctstate DNAT -j ACCEPT\n`) +
    `-A ${c.in} -i ${r.bridge} -j ${r.icc === false ? 'DROP' : 'ACCEPT'}\n` +
    `-A ${c.in} -j DROP\n` +
    `-A ${c.out} ! -o ${r.bridge} -j ${r.internal ? 'DROP' : 'ACCEPT'}\n`;
  for (const h of hooks(r.bridge)) {
    if (present.has(`-A ${h.chain} ${h.rule}`)) continue;
    const line = h.insert ? `-I ${h.chain} 1 ${h.rule}\n` : `-A ${h.chain} ${h.rule}\n`;
    if (h.table === 'nat') nat += line; else filter += line;
  }
  // The single forwarding chain of earlier versions of barge.
  if (present.has(`-A FORWARD -j ${c.legacy}`)) filter += `-D FORWARD -j ${c.legacy}\n-F ${c.legacy}\n-X ${c.legacy}\n`;
  await run('iptables-restore', ['-w', '--noflush'], `${nat}COMMIT\n${filter}COMMIT\n`);
}

/** Replace the published ports of a bridge (one atomic restore of its DNAT chain). */
export async function setPorts(bridge: string, ports: PortRule[]): Promise<void> {
  const c = chainNames(bridge);
  await run('iptables-restore', ['-w', '--noflush'], `*nat\n:${c.dnat} - [0:0]\n${dnatLines(c.dnat, ports)}COMMIT\n`);
}

/** Remove the hooks (every copy) and the chains of a bridge. Missing pieces are not an error. */
export async function remove(bridge: string): Promise<void> {
  const c = chainNames(bridge);
  const saved = await run('iptables-save', []).catch(() => '');
  const script: Record<string, string[]> = { filter: [], nat: [] };
  const chains: Record<string, string[]> = { filter: [c.in, c.out, c.legacy], nat: [c.post, c.dnat] };
  const legacyHook = { table: 'filter', chain: 'FORWARD', rule: `-j ${c.legacy}`, insert: true };
  const declared: Record<string, Set<string>> = { filter: new Set(), nat: new Set() };
  let table = '';
  for (const raw of saved.split('\n')) {
    const l = raw.trim();
    if (l.startsWith('*')) { table = l.slice(1); continue; }
    if (!(table in script)) continue;
    for (const ch of chains[table]!) if (l.startsWith(`:${ch} `)) declared[table]!.add(ch);
    for (const h of [...hooks(bridge), legacyHook]) {
      if (h.table === table && l === `-A ${h.chain} ${h.rule}`) script[table]!.push(`-D ${h.chain} ${h.rule}`);
    }
  }
  for (const t of ['filter', 'nat']) {
    for (const ch of declared[t]!) script[t]!.push(`-F ${ch}`);
    for (const ch of declared[t]!) script[t]!.push(`-X ${ch}`);
  }
  let input = '';
  for (const t of ['nat', 'filter']) if (script[t]!.length) input += `*${t}\n${script[t]!.join('\n')}\nCOMMIT\n`;
  if (!input) return;
  const r = await runRaw('iptables-restore', ['-w', '--noflush'], input);
  if (r.code !== 0) {
    // The rules changed between save and restore: fall back to one command at a time.
    for (const t of ['nat', 'filter']) {
      for (const cmd of script[t]!) await runRaw('iptables', ['-w', '-t', t, ...cmd.split(' ')]);
    }
  }
}

/** The lines of iptables-save that mention a bridge's chains (for tests and diagnostics). */
export async function listRules(bridge: string): Promise<string[]> {
  const names = Object.values(chainNames(bridge));
  const saved = await run('iptables-save', []);
  return saved.split('\n').filter((l) => names.some((n) => l.includes(n)));
}
