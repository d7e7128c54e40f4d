// barge's iptables rules for one bridge, kept in two chains of its own so they are easy to find
// and remove, each hooked once from a built-in chain:
//
//   filter FORWARD     -j BARGE-FWD-<bridge>   (inserted first, ahead of any DROP rules)
//   filter BARGE-FWD-<bridge>:
//     -o <bridge> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT   replies to containers
//     -i <bridge> ! -o <bridge> -j ACCEPT                               containers to the outside
//     -i <bridge> -o <bridge> -j ACCEPT                                 container to container (icc)
//   nat POSTROUTING    -j BARGE-POST-<bridge>
//   nat BARGE-POST-<bridge>:
//     -s <subnet> ! -o <bridge> -j MASQUERADE                           NAT out of the host
//
// These are Docker's rules for docker0, moved into per-bridge chains (so several barge daemons,
// or tests, with different bridges never touch each other's rules). install() is idempotent:
// the chains' contents are replaced atomically by one iptables-restore --noflush, and a hook is
// added only if iptables-save does not already show it.
import { run, runRaw } from './exec.js';

export interface BridgeRules { bridge: string; subnet: string }

export function chainNames(bridge: string): { forward: string; postrouting: string } {
  return { forward: `BARGE-FWD-${bridge}`, postrouting: `BARGE-POST-${bridge}` };
}

function hooks(bridge: string): { table: 'filter' | 'nat'; chain: string; rule: string; insert: boolean }[] {
  const c = chainNames(bridge);
  return [
    { table: 'filter', chain: 'FORWARD', rule: `-j ${c.forward}`, insert: true },
    { table: 'nat', chain: 'POSTROUTING', rule: `-j ${c.postrouting}`, insert: false },
  ];
}

/** Create or refresh the chains for a bridge and hook them once. */
export async function install(r: BridgeRules): Promise<void> {
  const c = chainNames(r.bridge);
  const saved = await run('iptables-save', []);
  const present = new Set(saved.split('\n').map((l) => l.trim()));
  let nat = `*nat\n:${c.postrouting} - [0:0]\n-A ${c.postrouting} -s ${r.subnet} ! -o ${r.bridge} -j MASQUERADE\n`;
  let filter = `*filter\n:${c.forward} - [0:0]\n` +
    `-A ${c.forward} -o ${r.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n` +
    `-A ${c.forward} -i ${r.bridge} ! -o ${r.bridge} -j ACCEPT\n` +
    `-A ${c.forward} -i ${r.bridge} -o ${r.bridge} -j ACCEPT\n`;
  for (const h of hooks(r.bridge)) {
    if (present.has(`-A ${h.chain} ${h.rule}`)) continue;
    const line = h.insert ? `-I ${h.chain} 1 ${h.rule}\n` : `-A ${h.chain} ${h.rule}\n`;
    if (h.table === 'nat') nat += line; else filter += line;
  }
  await run('iptables-restore', ['-w', '--noflush'], `${nat}COMMIT\n${filter}COMMIT\n`);
}

/** Remove the hooks (every copy) and the chains of a bridge. Missing pieces are not an error. */
export async function remove(bridge: string): Promise<void> {
  const c = chainNames(bridge);
  const saved = await run('iptables-save', []).catch(() => '');
  const script: Record<string, string[]> = { filter: [], nat: [] };
  const chains: Record<string, string> = { filter: c.forward, nat: c.postrouting };
  let table = '';
  let declared: Record<string, boolean> = {};
  for (const raw of saved.split('\n')) {
    const l = raw.trim();
    if (l.startsWith('*')) { table = l.slice(1); continue; }
    if (!(table in script)) continue;
    if (l.startsWith(`:${chains[table]} `)) declared = { ...declared, [table]: true };
    for (const h of hooks(bridge)) {
      if (h.table === table && l === `-A ${h.chain} ${h.rule}`) script[table]!.push(`-D ${h.chain} ${h.rule}`);
    }
  }
  for (const t of ['filter', 'nat']) if (declared[t]) script[t]!.push(`-F ${chains[t]}`, `-X ${chains[t]}`);
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
  const c = chainNames(bridge);
  const saved = await run('iptables-save', []);
  return saved.split('\n').filter((l) => l.includes(c.forward) || l.includes(c.postrouting));
}
