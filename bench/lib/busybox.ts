// The busybox image for Docker's side. Nothing can be pulled here, so Docker gets barge's own
// built-in busybox:latest: exported by barged (`GET /images/busybox/get`, a docker-archive tar) when
// that endpoint exists, otherwise assembled here from the same deterministic builder barged uses
// (one layer: /bin/busybox, its applets, /etc/passwd|group|shadow; CMD ["sh"]). Either way both
// engines run the very same image (same image ID).
import * as fs from 'node:fs';
import { buildBusyboxImage } from '../../src/image/busybox.js';
import { TarWriter } from '../../src/image/tarwriter.js';
import { sha256Digest } from '../../src/content/digest.js';
import type { ApiClient } from './api.js';

export interface BusyboxArchive { file: string; source: string }

/** Writes a docker-archive (`docker save` format) of busybox:latest to `file`. */
export async function busyboxArchive(barged: ApiClient, file: string): Promise<BusyboxArchive> {
  try {
    const fd = fs.openSync(file, 'w');
    let bytes = 0;
    let status = 0;
    try {
      status = await barged.download('/images/busybox:latest/get', (b) => { bytes += b.length; fs.writeSync(fd, b); });
    } finally { fs.closeSync(fd); }
    if (status === 200 && bytes > 1024) return { file, source: 'exported by barged (GET /images/busybox/get)' };
  } catch { /* fall through to building it */ }
  const img = buildBusyboxImage();
  const configHex = sha256Digest(img.config).slice('sha256:'.length);
  const layerHex = sha256Digest(img.layer).slice('sha256:'.length);
  const manifest = [{ Config: `${configHex}.json`, RepoTags: ['busybox:latest'], Layers: [`${layerHex}/layer.tar`] }];
  const t = new TarWriter();
  const common = { uid: 0, gid: 0, mtime: 0 };
  t.add({ name: `${layerHex}`, type: 'dir', mode: 0o755, ...common });
  t.add({ name: `${layerHex}/VERSION`, type: 'file', data: '1.0', ...common });
  t.add({ name: `${layerHex}/json`, type: 'file', data: JSON.stringify({ id: layerHex }), ...common });
  t.add({ name: `${layerHex}/layer.tar`, type: 'file', data: img.layer, ...common });
  t.add({ name: `${configHex}.json`, type: 'file', data: img.config, ...common });
  t.add({ name: 'manifest.json', type: 'file', data: JSON.stringify(manifest), ...common });
  t.add({ name: 'repositories', type: 'file', data: JSON.stringify({ busybox: { latest: layerHex } }), ...common });
  fs.writeFileSync(file, t.finish());
  return { file, source: `built by the bench from /bin/busybox ${img.version} (barged has no GET /images/{name}/get yet)` };
}
