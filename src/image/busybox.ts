// The built-in busybox image, made from the host's statically linked /bin/busybox (Debian's
// busybox-static), since no registry is reachable. One layer, built deterministically: entries in a
// fixed order, fixed owners and times, no host-dependent metadata. Two machines with the same busybox
// binary therefore get the same layer digest, the same config and the same image ID.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { invalid } from '../lib/errors.js';
import { sha256Digest } from '../content/digest.js';
import { MediaType, hostPlatform, type ImageConfig, type Manifest } from './oci.js';
import { TarWriter, type TarEntry } from './tarwriter.js';

export const BUSYBOX_REFERENCE = 'docker.io/library/busybox:latest';
export const DEFAULT_BUSYBOX_BINARY = '/bin/busybox';

/** Every file and the image's created time carry this date, so the bytes never depend on the clock. */
export const BUSYBOX_EPOCH = Date.UTC(2024, 0, 1) / 1000;

// The accounts of the official busybox image (buildroot's skeleton).
const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`;
const SHADOW = PASSWD.split('\n').filter(Boolean).map((l) => `${l.split(':')[0]}:*:::::::`).join('\n') + '\n';

const DIRS: [string, number][] = [
  ['bin', 0o755], ['dev', 0o755], ['etc', 0o755], ['home', 0o755], ['proc', 0o755], ['root', 0o700],
  ['sbin', 0o755], ['sys', 0o755], ['tmp', 0o1777], ['usr', 0o755], ['usr/bin', 0o755], ['usr/sbin', 0o755],
  ['var', 0o755], ['var/spool', 0o755], ['var/spool/mail', 0o755], ['var/www', 0o755],
];

export interface BuiltImage {
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
  version: string;
}

/**
 * Whether an ELF executable is statically linked (has no PT_INTERP program header): a dynamically
 * linked busybox (Debian's `busybox` package) would not run in a rootfs without a libc.
 */
export function isStaticElf(bin: Buffer): boolean {
  if (bin.length < 64 || bin.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = bin[4] === 2;
  const le = bin[5] === 1;
  const u16 = (o: number) => (le ? bin.readUInt16LE(o) : bin.readUInt16BE(o));
  const u32 = (o: number) => (le ? bin.readUInt32LE(o) : bin.readUInt32BE(o));
  const phoff = is64 ? Number(le ? bin.readBigUInt64LE(0x20) : bin.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > bin.length) return false;
    if (u32(off) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/** Builds the layer, config and manifest of busybox:latest from a static busybox binary. */
export function buildBusyboxImage(binary = DEFAULT_BUSYBOX_BINARY): BuiltImage {
  const bin = fs.readFileSync(binary);
  if (!isStaticElf(bin)) throw invalid(`${binary} is not a statically linked executable (install Debian's busybox-static)`);
  const at = bin.indexOf('BusyBox v');
  const version = at >= 0 ? bin.subarray(at + 8, at + 80).toString('latin1').split(/[\0\n]/)[0]!.trim() : 'unknown';
  const list = execFileSync(binary, ['--list-full'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const applets = [...new Set(list.split('\n').map((s) => s.trim()))]
    .filter((p) => /^(bin|sbin|usr\/bin|usr\/sbin)\/[A-Za-z0-9_.[\]-]+$/.test(p) && p !== 'bin/busybox')
    .sort();
  if (!applets.includes('bin/sh')) throw invalid(`${binary} has no sh applet: not a usable busybox`);

  const common = { uid: 0, gid: 0, mtime: BUSYBOX_EPOCH };
  const entries: TarEntry[] = [
    ...DIRS.map(([name, mode]): TarEntry => ({ name, type: 'dir', mode, ...common })),
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: bin, ...common },
    ...applets.map((name): TarEntry => ({ name, type: 'hardlink', linkname: 'bin/busybox', mode: 0o755, ...common })),
    { name: 'etc/group', type: 'file', mode: 0o644, data: GROUP, ...common },
    { name: 'etc/passwd', type: 'file', mode: 0o644, data: PASSWD, ...common },
    { name: 'etc/shadow', type: 'file', mode: 0o640, data: SHADOW, ...common },
  ];
  const tar = new TarWriter();
  for (const e of entries) tar.add(e);
  const layer = tar.finish();
  const diffId = sha256Digest(layer);

  const created = new Date(BUSYBOX_EPOCH * 1000).toISOString().replace('.000Z', 'Z');
  const platform = hostPlatform();
  const config: ImageConfig = {
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
    },
    created,
    history: [
      { created, created_by: `ADD busybox ${version} (static) in / ` },
      { created, created_by: 'CMD ["sh"]', empty_layer: true },
    ],
    os: platform.os,
    rootfs: { type: 'layers', diff_ids: [diffId] },
  };
  const configBuf = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256Digest(configBuf), size: configBuf.length },
    layers: [{ mediaType: MediaType.OciLayer, digest: diffId, size: layer.length }],
  };
  return { layer, config: configBuf, manifest: Buffer.from(JSON.stringify(manifest)), version };
}
