// Shared fixtures for the image-subsystem tests (not a test file itself).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import type { ContentStore } from '../../src/content/store.js';
import { sha256Digest } from '../../src/content/digest.js';
import { MediaType, type Descriptor } from '../../src/image/oci.js';
import { TarWriter, type TarEntry } from '../../src/image/tarwriter.js';

/** A fresh directory under /tmp, removed (after unmounting anything under it) by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `barge-${prefix}-`));
  return {
    dir,
    cleanup: () => {
      const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m === dir || m.startsWith(dir + '/'))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) { try { execFileSync('umount', ['-l', m]); } catch { /* gone */ } }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` in a fresh directory (tempDir), cleaned up afterwards however `fn` ends. */
export async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const t = tempDir(prefix);
  try {
    return await fn(t.dir);
  } finally {
    t.cleanup();
  }
}

export function tar(entries: TarEntry[]): Buffer {
  const w = new TarWriter();
  for (const e of entries) w.add(e);
  return w.finish();
}

/**
 * Writes an image made of the given layer tarballs into the content store and returns its manifest
 * digest. Layers are gzipped when `gzip` says so (per layer).
 */
export function putImage(content: ContentStore, layers: Buffer[], opts: { gzip?: boolean[]; cmd?: string[]; created?: string; labels?: Record<string, string> } = {}): { manifest: string; config: string; diffIds: string[] } {
  const diffIds = layers.map((l) => sha256Digest(l));
  const descs: Descriptor[] = layers.map((l, i) => {
    const gz = opts.gzip?.[i] ?? false;
    const blob = gz ? gzipSync(l) : l;
    const info = content.put(blob);
    return { mediaType: gz ? MediaType.OciLayerGzip : MediaType.OciLayer, digest: info.digest, size: info.size };
  });
  const created = opts.created ?? '2024-05-01T10:00:00Z';
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created,
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: opts.cmd ?? ['sh'], ...(opts.labels ? { Labels: opts.labels } : {}) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map((_, i) => ({ created, created_by: `layer ${i}` })),
  }));
  const c = content.put(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: c.digest, size: c.size },
    layers: descs,
  }));
  return { manifest: content.put(manifest).digest, config: c.digest, diffIds };
}

/** A recursive listing of a tree: path -> type, mode, uid, gid, nlink, size, content hash, link. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string) => {
    const st = fs.lstatSync(p);
    let desc = `${st.mode.toString(8)} ${st.uid}:${st.gid} n${st.nlink}`;
    if (st.isFile()) desc += ` ${sha256Digest(fs.readFileSync(p))}`;
    if (st.isSymbolicLink()) desc += ` -> ${fs.readlinkSync(p)}`;
    out[rel || '/'] = desc;
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n), `${rel}/${n}`);
  };
  walk(dir, '');
  return out;
}

export async function* chunks(buf: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
