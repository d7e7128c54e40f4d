import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainId, chainIds, parseConfig, parseManifest } from '../../src/image/oci.js';

// diffIDs of the one-byte blobs "a", "b", "c"; chain IDs computed independently with sha256sum:
//   printf '%s %s' "$c0" "$d1" | sha256sum
const d = [
  'sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb',
  'sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d',
  'sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6',
];

test('chain IDs follow the OCI definition', () => {
  assert.deepEqual(chainIds([]), []);
  assert.equal(chainId([]), null);
  assert.deepEqual(chainIds([d[0]!]), [d[0]]);
  assert.deepEqual(chainIds(d), [
    d[0],
    'sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676',
    'sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106',
  ]);
  assert.throws(() => chainIds(['sha256:nothex']), /invalid diffID/);
});

test('manifests and configs are checked before use', () => {
  const cfg = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: d } };
  assert.deepEqual(parseConfig(Buffer.from(JSON.stringify(cfg))).rootfs.diff_ids, d);
  assert.throws(() => parseConfig(Buffer.from('[]')), /not a JSON object/);
  assert.throws(() => parseConfig(Buffer.from(JSON.stringify({ ...cfg, rootfs: { type: 'x', diff_ids: [] } }))), /rootfs/);
  assert.throws(() => parseConfig(Buffer.from(JSON.stringify({ ...cfg, config: { Cmd: 'sh' } }))), /Cmd must be an array/);
  const m = { schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d[0], size: 1 }, layers: [] };
  assert.equal(parseManifest(Buffer.from(JSON.stringify(m))).config.digest, d[0]);
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ ...m, mediaType: 'application/vnd.oci.image.index.v1+json' }))), /image index/);
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ ...m, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: d[1], size: 1 }] }))), /zstd/);
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ ...m, config: { ...m.config, digest: 'sha256:../../x' } }))), /bad digest/);
});
