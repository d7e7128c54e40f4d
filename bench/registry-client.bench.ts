// Issue #5's registry client benchmark: pull and push of a ~100 MB image in 5 layers, barge against
// Docker Engine in the same run, both talking to Debian's reference registry (docker-registry) on
// loopback (127.0.0.0/8 is an insecure registry by default for both engines).
//  - pull: the image is put in the registry directly (5 gzip layers of 20 MiB of incompressible data,
//    so gzip costs both engines the same and compresses nothing); each engine removes it, then
//    POST /images/create pulls it (download, verify, unpack), timed to the end of the JSON stream.
//  - push: the pulled image is tagged for a fresh registry (started untimed for each push, so that no
//    layer "already exists") and POST /images/{name}/push sends it, timed to the end of the stream.
//    barge pushes the gzip blobs it pulled as they are; Docker recompresses each layer.
// Engines alternate first/second from one iteration to the next; dirty pages are flushed before each
// timed operation.
import { createCipheriv, randomBytes } from 'node:crypto';
import { gzipSync, constants as zc } from 'node:zlib';
import type { BenchContext } from './lib/context.js';
import type { Engine } from './lib/engine.js';
import { ApiClient, timedRegistryStream } from './lib/api.js';
import { onCleanup } from './lib/cleanup.js';
import { median, round, sh, summary } from './lib/util.js';
import { REGISTRY_BIN, putBlob, putManifest, sha256, startRegistry, tarOf, type TestRegistry } from '../test/registry/regclient-helpers.js';
import * as fs from 'node:fs';

export const name = 'registry-client';
export const description = 'pull and push of a 100 MB image in 5 layers from/to a local reference registry (docker-registry)';
export const order = 45;

const MiB = 1 << 20;
const MB = 1e6;
const REPO = 'bench/pull';
const TAG = 'v1';

function noise(n: number): Buffer {
  return createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16)).update(Buffer.alloc(n));
}

/** Puts a `layers`-layer image of gzip layers straight into the registry; returns its layer bytes. */
async function seed(reg: TestRegistry, layers: number, layerSize: number): Promise<number> {
  const diffIds: string[] = [];
  const descs: { mediaType: string; digest: string; size: number }[] = [];
  let bytes = 0;
  for (let i = 0; i < layers; i++) {
    const tar = tarOf(`layer${i}.bin`, noise(layerSize));
    const gz = gzipSync(tar, { level: zc.Z_BEST_SPEED });
    diffIds.push(sha256(tar));
    descs.push({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: await putBlob(reg.host, REPO, gz), size: gz.length });
    bytes += gz.length;
  }
  const cfg = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'barge bench' })),
  }));
  const config = await putBlob(reg.host, REPO, cfg);
  await putManifest(reg.host, REPO, TAG, 'application/vnd.docker.distribution.manifest.v2+json', Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: cfg.length }, layers: descs,
  })));
  return bytes;
}

export async function run(ctx: BenchContext): Promise<void> {
  if (!fs.existsSync(REGISTRY_BIN)) {
    ctx.note('registry-client: skipped, docker-registry is not installed (apt-get install docker-registry)');
    return;
  }
  const engines = await ctx.engines();
  const layers = 5;
  const layerSize = ctx.quick ? 10 * MiB : 20 * MiB;
  const n = ctx.n(3, 1);
  const clients = new Map<Engine, ApiClient>(engines.map((e) => [e, new ApiClient(e.api.socketPath, 600_000)]));
  const src = await startRegistry();
  const ref = `${src.host}/${REPO}:${TAG}`;
  const undo = async () => {
    for (const [, api] of clients) {
      await api.call('DELETE', `/images/${ref}?force=1`, undefined, [404, 409]).catch(() => undefined);
      api.close();
    }
    await src.stop();
  };
  const unregister = onCleanup('registry-client bench: registry and images', undo);
  try {
    const bytes = await seed(src, layers, layerSize);
    ctx.log(`image: ${layers} gzip layers, ${(bytes / MB).toFixed(0)} MB in the registry`);
    const pulls = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    const pushes = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) {
        ctx.check();
        const api = clients.get(e)!;
        await api.call('DELETE', `/images/${ref}?force=1`, undefined, [404, 409]);
        sh('sync', []);
        const p = await timedRegistryStream(api, 'POST', `/images/create?fromImage=${encodeURIComponent(`${src.host}/${REPO}`)}&tag=${TAG}`, `${e.kind} pull`);
        pulls.get(e)!.push(p);
        const dst = await startRegistry();
        try {
          const target = `${dst.host}/bench/push`;
          await api.call('POST', `/images/${ref}/tag?repo=${encodeURIComponent(target)}&tag=${TAG}`, undefined, [201]);
          sh('sync', []);
          const q = await timedRegistryStream(api, 'POST', `/images/${target}/push?tag=${TAG}`, `${e.kind} push`);
          pushes.get(e)!.push(q);
          await api.call('DELETE', `/images/${target}:${TAG}?force=1`, undefined, [404, 409]);
          ctx.log(`${e.kind}: pull ${p.toFixed(2)} s (${(bytes / MB / p).toFixed(0)} MB/s), push ${q.toFixed(2)} s (${(bytes / MB / q).toFixed(0)} MB/s)`);
        } finally {
          await dst.stop();
        }
      }
    }
    const barge = engines.find((e) => e.kind === 'barge')!;
    const docker = engines.find((e) => e.kind === 'docker');
    const med = (m: Map<Engine, number[]>, e?: Engine) => (e && m.get(e)?.length ? median(m.get(e)!) : null);
    const mb = `${(bytes / MB).toFixed(0)} MB`;
    ctx.record({ metric: `pull of a ${mb} image, ${layers} gzip layers, local registry: median (n=${n})`, unit: 's', barge: med(pulls, barge), docker: med(pulls, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    ctx.record({ metric: `push of that image to an empty local registry: median (n=${n})`, unit: 's', barge: med(pushes, barge), docker: med(pushes, docker), target: { text: '≤ 1× Docker', maxRatio: 1 } });
    const series = (m: Map<Engine, number[]>) => Object.fromEntries([...m].map(([e, xs]) => [e.kind, { ...summary(xs), samplesS: xs.map((x) => round(x, 3)) }]));
    ctx.data('image', { layers, layerSize, gzipBytes: bytes, iterations: n });
    ctx.data('pull', series(pulls));
    ctx.data('push', series(pushes));
  } finally {
    unregister();
    await undo();
  }
}
