// A container's network sandbox: a named network namespace (a bind mount of the namespace on a
// file, as `ip netns add` does, but under barge's exec-root) and, on a bridge, a veth pair.
//
// Creating one costs two spawns:
//   1. `unshare --net=<file> ip -batch -`: unshare makes the namespace and bind-mounts it on
//      <file>, then ip runs *inside* it: lo up; `eth0` created there with its peer sent straight
//      to the host namespace (/proc/<daemon pid>/ns/net); eth0's address, up, default route.
//   2. `ip link set <veth> master <bridge> up` in the host namespace (through a long-lived
//      `ip -batch` when the caller has one: see IpShell).
// Removing one runs `ip link del <veth>` and `umount <file>` side by side, then unlinks the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IpShell, run, runRaw } from './exec.js';
import { internal } from '../lib/errors.js';
import { linkExists } from './hostinfo.js';

export interface VethConfig {
  hostVeth: string;      // the host end's name, e.g. veth1a2b3c4
  bridge: string;
  address: string;       // e.g. 172.18.0.2
  prefixLen: number;
  gateway: string;
  macAddress: string;
  mtu: number;
}

/** Make the namespace file and the namespace (lo up), and the veth pair if `veth` is given. */
export async function createSandbox(nsPath: string, veth?: VethConfig, host?: IpShell): Promise<void> {
  fs.mkdirSync(path.dirname(nsPath), { recursive: true, mode: 0o711 });
  fs.closeSync(fs.openSync(nsPath, 'wx', 0o444));
  const lines = ['link set lo up'];
  if (veth) {
    lines.push(
      `link add eth0 mtu ${veth.mtu} address ${veth.macAddress} type veth peer name ${veth.hostVeth} mtu ${veth.mtu} netns /proc/${process.pid}/ns/net`,
      `addr add ${veth.address}/${veth.prefixLen} brd + dev eth0`,
      'link set eth0 up',
      `route add default via ${veth.gateway} dev eth0`,
    );
  }
  try {
    await run('unshare', [`--net=${nsPath}`, 'ip', '-batch', '-'], lines.join('\n') + '\n');
    if (veth) {
      const cmd = `link set ${veth.hostVeth} master ${veth.bridge} up`;
      // Through the long-lived ip if there is one; should it fail, once more by a spawn of its own
      // (a real error fails again, with ip's message).
      if (host) await host.run([cmd]).catch(() => run('ip', cmd.split(' ')));
      else await run('ip', cmd.split(' '));
    }
  } catch (e) {
    await destroySandbox(nsPath, veth?.hostVeth).catch(() => undefined);
    throw e;
  }
}

/**
 * Remove the veth pair (deleting the host end deletes both) and the namespace file. Whatever is
 * already gone is skipped, so this is idempotent. The namespace itself goes away with its last
 * user: at once if no process is left in it.
 */
export async function destroySandbox(nsPath: string, hostVeth?: string): Promise<void> {
  // Dropping the namespace's last reference destroys it, and with it eth0 and so its host peer:
  // no `ip link del` (13-19 ms of kernel time) on the path of a container's exit. The kernel does
  // it in the background within milliseconds; a namespace still held by a process (a detach while
  // the container runs) keeps its veth, so then the veth is deleted explicitly.
  if (fs.existsSync(nsPath)) await unmountAll([nsPath]);
  try { fs.unlinkSync(nsPath); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (hostVeth) {
    setTimeout(() => {
      if (linkExists(hostVeth)) void runRaw('ip', ['link', 'del', hostVeth]);
    }, 1000).unref();
  }
}

/** Unmount namespace files, one spawn for all of them; a path that is not mounted is not an error. */
export async function unmountAll(paths: string[]): Promise<void> {
  if (!paths.length) return;
  const r = await runRaw('umount', paths);
  if (r.code === 0) return;
  const failed = r.stderr.split('\n').filter((l) => l.trim() && !/not mounted|no mount point specified/.test(l));
  if (failed.length) throw internal(`umount: ${failed.join('; ')}`);
}
