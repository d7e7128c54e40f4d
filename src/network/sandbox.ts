// A container's network sandbox: a named network namespace (a bind mount of the namespace on a
// file, as `ip netns add` does, but under barge's exec-root) and, on a bridge, a veth pair.
//
// Creating one:
//   1. bargehelper makes the namespace (lo up) and bind-mounts it on <file> (no spawn);
//   2. on a bridge, `ip -batch -` runs *inside* it: `eth0` created there with its peer sent
//      straight to the host namespace (/proc/<daemon pid>/ns/net); eth0's address, up, default
//      route; then `ip link set <veth> master <bridge> up` in the host namespace (through a
//      long-lived `ip -batch` when the caller has one: see IpShell).
// Removing one unmounts <file> (the namespace, eth0 and so its host peer go with it), then unlinks it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IpShell, run, runRaw } from './exec.js';
import { linkExists } from './hostinfo.js';
import { createNetns, unmountFs } from '../host/helper.js';

export interface VethConfig {
  hostVeth: string;      // the host end's name, e.g. veth1a2b3c4
  ifName: string;        // the container end's name, eth0, eth1, ...
  bridge: string;
  address: string;       // e.g. 172.18.0.2
  prefixLen: number;
  /** The default route goes via this gateway (one interface of a sandbox has it). */
  gateway?: string;
  macAddress: string;
  mtu: number;
}

/** ip commands, run inside the namespace, that make these interfaces (peers sent to the host). */
function vethLines(veths: VethConfig[]): string[] {
  const lines: string[] = [];
  for (const v of veths) {
    lines.push(
      `link add ${v.ifName} mtu ${v.mtu} address ${v.macAddress} type veth peer name ${v.hostVeth} mtu ${v.mtu} netns /proc/${process.pid}/ns/net`,
      `addr add ${v.address}/${v.prefixLen} brd + dev ${v.ifName}`,
      `link set ${v.ifName} up`,
    );
  }
  for (const v of veths) if (v.gateway) lines.push(`route replace default via ${v.gateway} dev ${v.ifName}`);
  return lines;
}

/** The host ends join their bridges; hairpin lets a container reach itself through a published port. */
async function enslave(veths: VethConfig[], host?: IpShell): Promise<void> {
  for (const v of veths) {
    const cmds = [`link set ${v.hostVeth} master ${v.bridge} up`, `link set ${v.hostVeth} type bridge_slave hairpin on`];
    // Through the long-lived ip if there is one; should it fail, once more by a spawn of its own
    // (a real error fails again, with ip's message).
    if (host) await host.run(cmds).catch(() => run('ip', ['-batch', '-'], cmds.join('\n') + '\n'));
    else await run('ip', ['-batch', '-'], cmds.join('\n') + '\n');
  }
}

/** Make the namespace file and the namespace (lo up), with these veth pairs. */
export async function createSandbox(nsPath: string, veths: VethConfig[] = [], host?: IpShell): Promise<void> {
  fs.mkdirSync(path.dirname(nsPath), { recursive: true, mode: 0o711 });
  fs.closeSync(fs.openSync(nsPath, 'wx', 0o444));
  try {
    await createNetns(nsPath);
    if (veths.length) await run('ip', ['-batch', '-'], vethLines(veths).join('\n') + '\n', nsPath);
    await enslave(veths, host);
  } catch (e) {
    await destroySandbox(nsPath, veths.map((v) => v.hostVeth)).catch(() => undefined);
    throw e;
  }
}

/** Add veth pairs to an existing sandbox (network connect of a running container). */
export async function addInterfaces(nsPath: string, veths: VethConfig[], host?: IpShell): Promise<void> {
  try {
    await run('ip', ['-batch', '-'], vethLines(veths).join('\n') + '\n', nsPath);
    await enslave(veths, host);
  } catch (e) {
    for (const v of veths) if (linkExists(v.hostVeth)) await runRaw('ip', ['link', 'del', v.hostVeth]);
    throw e;
  }
}

/** Remove one veth pair of a sandbox (network disconnect of a running container). */
export async function removeInterface(hostVeth: string): Promise<void> {
  if (linkExists(hostVeth)) await run('ip', ['link', 'del', hostVeth]);
}

/**
 * Remove the veth pair (deleting the host end deletes both) and the namespace file. Whatever is
 * already gone is skipped, so this is idempotent. The namespace itself goes away with its last
 * user: at once if no process is left in it.
 */
export async function destroySandbox(nsPath: string, hostVeths: string[] = []): Promise<void> {
  // Dropping the namespace's last reference destroys it, and with it eth0 and so its host peer:
  // no `ip link del` (13-19 ms of kernel time) on the path of a container's exit. The kernel does
  // it in the background within milliseconds; a namespace still held by a process (a detach while
  // the container runs) keeps its veth, so then the veth is deleted explicitly.
  if (fs.existsSync(nsPath)) await unmountAll([nsPath]);
  try { fs.unlinkSync(nsPath); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (hostVeths.length) {
    setTimeout(() => {
      for (const v of hostVeths) if (linkExists(v)) void runRaw('ip', ['link', 'del', v]);
    }, 1000).unref();
  }
}

/** Unmount namespace files; a path that is not mounted is not an error. */
export async function unmountAll(paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => unmountFs(p)));
}
