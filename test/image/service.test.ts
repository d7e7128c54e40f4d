// ImageService: resolution, tags, docker rmi semantics, Docker JSON shapes, persistence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageService } from '../../src/image/service.js';
import { MediaType } from '../../src/image/oci.js';
import { BargeError } from '../../src/lib/errors.js';
import { EventBus, type EngineEvent } from '../../src/lib/events.js';
import { putImage, tar, tempDir } from './helpers.js';

const err = (kind: string, re: RegExp) => (e: unknown) => e instanceof BargeError && e.kind === kind && re.test(e.message);
const CTR = 'abcdef0123456789'.repeat(4);

function emptyImage(images: ImageService, label: string): string {
  const cfg = { architecture: 'amd64', os: 'linux', config: { Labels: { n: label } }, rootfs: { type: 'layers', diff_ids: [] } };
  return images.content.put(JSON.stringify(cfg)).digest;
}

test('resolve, tag, inspect, history, list, persistence', async () => {
  const { dir, cleanup } = tempDir('svc');
  try {
    const root = path.join(dir, 'root');
    let images = await ImageService.open(root, { busybox: false });
    const l0 = tar([{ name: 'bin/tool', type: 'file', data: 'x'.repeat(100), mode: 0o755 }]);
    const l1 = tar([{ name: 'etc/conf', type: 'file', data: 'y'.repeat(20) }]);
    const p = putImage(images.content, [l0, l1], { gzip: [true, false], labels: { team: 'core' }, created: '2024-06-01T00:00:00Z' });
    const img = await images.createImage({ manifest: p.manifest }, { tags: ['app:1'], repoDigests: ['app'] });
    const hex = img.id.slice(7);

    for (const ref of ['app:1', 'docker.io/library/app:1', 'library/app:1', img.id, hex, hex.slice(0, 12), `sha256:${hex.slice(0, 5)}`, `app@${p.manifest}`]) {
      assert.equal(images.resolve(ref).id, img.id, ref);
    }
    assert.throws(() => images.resolve('app'), err('notFound', /^No such image: app:latest$/));
    assert.throws(() => images.resolve(`app@sha256:${'0'.repeat(64)}`), err('notFound', /No such image: app@sha256:0+$/));
    assert.throws(() => images.resolve('sha256:' + '0'.repeat(64)), err('notFound', /No such image/));
    assert.throws(() => images.resolve('App:1'), (e: unknown) => e instanceof BargeError && e.status === 400 && /invalid reference format/.test(e.message));

    images.tag('app:1', 'localhost:5000/team/app:v2');
    images.tag(hex.slice(0, 8), 'app:latest');
    assert.throws(() => images.tag('app:1', `app@${p.manifest}`), err('invalid', /digest/));
    assert.throws(() => images.tag('nope', 'x'), err('notFound', /No such image: nope:latest/));

    const ins = images.inspect('app');
    assert.equal(ins['Id'], img.id);
    assert.deepEqual(ins['RepoTags'], ['app:1', 'app:latest', 'localhost:5000/team/app:v2']);
    assert.deepEqual(ins['RepoDigests'], [`app@${p.manifest}`]);
    assert.equal(ins['Created'], '2024-06-01T00:00:00Z');
    assert.equal(ins['Architecture'], 'amd64');
    assert.equal(ins['Os'], 'linux');
    assert.equal(ins['Size'], 120);
    assert.deepEqual(ins['RootFS'], { Type: 'layers', Layers: p.diffIds });
    assert.deepEqual((ins['Config'] as Record<string, unknown>)['Cmd'], ['sh']);
    assert.deepEqual((ins['Config'] as Record<string, unknown>)['Labels'], { team: 'core' });
    assert.ok(typeof (ins['Metadata'] as Record<string, unknown>)['LastTagTime'] === 'string');

    const hist = images.history('app:1');
    assert.deepEqual(hist.map((h) => [h.Id, h.CreatedBy, h.Size]), [[img.id, 'layer 1', 20], ['<missing>', 'layer 0', 100]]);
    assert.deepEqual(hist[0]!.Tags, ['app:1', 'app:latest', 'localhost:5000/team/app:v2']);
    assert.equal(hist[1]!.Tags, null);
    assert.equal(hist[0]!.Created, Date.parse('2024-06-01T00:00:00Z') / 1000);

    const other = await images.createImage({ config: emptyImage(images, 'e'), layers: [] }, { tags: ['empty'] });
    const list = images.list({ containers: (id) => (id === img.id ? 2 : 0) });
    assert.deepEqual(list.map((s) => s.Id), [img.id, other.id], 'newest first (the empty image has no date)');
    assert.deepEqual(list[0], {
      Id: img.id, ParentId: '', RepoTags: ['app:1', 'app:latest', 'localhost:5000/team/app:v2'], RepoDigests: [`app@${p.manifest}`],
      Created: Date.parse('2024-06-01T00:00:00Z') / 1000, Size: 120, SharedSize: -1, Labels: { team: 'core' }, Containers: 2,
    });

    // An image without layers still gives a working rootfs (an empty lowerdir).
    const rootfs = path.join(dir, 'rootfs');
    fs.mkdirSync(rootfs);
    await images.prepareRootfs('c-empty', other.id);
    await images.mountRootfs('c-empty', rootfs);
    assert.ok(fs.existsSync(path.join(rootfs, 'etc/hosts')));
    fs.writeFileSync(path.join(rootfs, 'made'), '1');
    await images.unmountRootfs(rootfs);
    assert.deepEqual(await images.changes('c-empty'), [{ Path: '/made', Kind: 1 }]);
    await assert.rejects(images.prepareRootfs('c-empty', other.id), err('conflict', /already exists/));
    await images.removeRootfs('c-empty');

    // Everything survives a reopen.
    images = await ImageService.open(root, { busybox: false });
    assert.deepEqual(images.inspect('app:1')['RepoTags'], ['app:1', 'app:latest', 'localhost:5000/team/app:v2']);
    assert.equal(images.resolve('empty').id, other.id);
  } finally { cleanup(); }
});

test('ambiguous ID prefixes are not found', async () => {
  const { dir, cleanup } = tempDir('svc-ambig');
  try {
    const images = await ImageService.open(dir, { busybox: false });
    const seen = new Map<string, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const id = (await images.createImage({ config: emptyImage(images, String(i)), layers: [] })).id;
      const first = id.slice(7, 8);
      if (seen.has(first)) pair = [seen.get(first)!, id]; else seen.set(first, id);
    }
    assert.throws(() => images.resolve(pair[0].slice(7, 8)), err('notFound', /No such image/));
    assert.equal(images.resolve(pair[0].slice(7, 30)).id, pair[0]);
  } finally { cleanup(); }
});

test('remove follows docker rmi: untag, conflicts, force, layer and blob release', async () => {
  const { dir, cleanup } = tempDir('svc-rm');
  try {
    const images = await ImageService.open(dir, { busybox: false });
    const p = putImage(images.content, [tar([{ name: 'f', type: 'file', data: 'f' }])]);
    const img = await images.createImage({ manifest: p.manifest }, { tags: ['app:1'], repoDigests: ['app'] });
    const short = img.id.slice(7, 19);
    const stopped = () => ({ id: CTR, running: false });
    const running = () => [{ id: 'f'.repeat(64), running: false }, { id: CTR, running: true }];

    // Several tags: removing one only untags.
    images.tag('app:1', 'app:2');
    assert.deepEqual(await images.remove('app:2', { inUse: stopped }), [{ Untagged: 'app:2' }]);

    // The last tag of an image a container uses needs force.
    await assert.rejects(images.remove('app:1', { inUse: stopped }), err('conflict',
      new RegExp(`^conflict: unable to remove repository reference "app:1" \\(must force\\) - container abcdef012345 is using its referenced image ${short}$`)));
    await assert.rejects(images.remove('app:1', { inUse: () => true }), err('conflict', /a container is using its referenced image/));

    // By ID: references in several repositories need force; a running container always blocks.
    images.tag('app:1', 'other:1');
    await assert.rejects(images.remove(short), err('conflict', new RegExp(`^conflict: unable to delete ${short} \\(must be forced\\) - image is referenced in multiple repositories$`)));
    await assert.rejects(images.remove(short, { force: true, inUse: running }), err('conflict', /\(cannot be forced\) - image is being used by running container abcdef012345/));
    await assert.rejects(images.remove(short, { inUse: stopped }), err('conflict', /image is referenced in multiple repositories/));
    assert.deepEqual(await images.remove('other:1'), [{ Untagged: 'other:1' }]);
    await assert.rejects(images.remove(img.id, { inUse: stopped }), err('conflict', /\(must be forced\) - image is being used by stopped container abcdef012345/));

    // Forcing the name while a container runs: untagged, but the image stays (dangling).
    assert.deepEqual(await images.remove('app:1', { force: true, inUse: running }), [{ Untagged: 'app:1' }, { Untagged: `app@${p.manifest}` }]);
    assert.equal(images.resolve(short).id, img.id);
    assert.deepEqual(images.inspect(short)['RepoTags'], []);

    // Nothing uses it any more: delete by ID releases the layer and the blobs.
    const out = await images.remove(short);
    assert.deepEqual(out, [{ Deleted: img.id }, { Deleted: p.diffIds[0]! }]);
    assert.throws(() => images.resolve(short), err('notFound', /No such image/));
    assert.deepEqual(images.content.list(), []);
    assert.deepEqual(images.snapshots.list(), []);
    await assert.rejects(images.remove('app:1'), err('notFound', /No such image: app:1/));

    // Deleting by name with digest references of the same repository untags them too.
    const p2 = putImage(images.content, [tar([{ name: 'g', type: 'file', data: 'g' }])]);
    const img2 = await images.createImage({ manifest: p2.manifest }, { tags: ['web'], repoDigests: ['web'] });
    assert.deepEqual(await images.remove('web'), [
      { Untagged: 'web:latest' }, { Untagged: `web@${p2.manifest}` }, { Deleted: img2.id }, { Deleted: p2.diffIds[0]! },
    ]);
  } finally { cleanup(); }
});

test('createImage checks what it is given', async () => {
  const { dir, cleanup } = tempDir('svc-create');
  try {
    const images = await ImageService.open(dir, { busybox: false });
    const layer = tar([{ name: 'f', type: 'file', data: 'f' }]);
    const p = putImage(images.content, [layer]);
    // A layer whose content does not match the config's diffID is refused, and nothing is recorded.
    const forged = putImage(images.content, [tar([{ name: 'g', type: 'file', data: 'g' }])]);
    const cfg = JSON.parse(images.content.read(forged.config).toString());
    cfg.rootfs.diff_ids = p.diffIds;
    const badConfig = images.content.put(JSON.stringify(cfg)).digest;
    const manifest = JSON.parse(images.content.read(forged.manifest).toString());
    manifest.config = { mediaType: MediaType.OciConfig, digest: badConfig, size: images.content.info(badConfig).size };
    const badManifest = images.content.put(JSON.stringify(manifest)).digest;
    await assert.rejects(images.createImage({ manifest: badManifest }, { tags: ['forged'] }), err('invalid', /diffID mismatch/));
    assert.throws(() => images.resolve('forged'), /No such image/);
    assert.deepEqual(images.snapshots.list(), []);
    await assert.rejects(images.createImage({ manifest: p.manifest }, { tags: ['Bad:Tag'] }), err('invalid', /invalid reference format/));
    await assert.rejects(images.createImage({ manifest: 'sha256:' + 'e'.repeat(64) }), err('notFound', /not found/));
    assert.ok(images.content.delete(p.diffIds[0]!), 'an uncompressed layer blob is named by its diffID');
    await assert.rejects(images.createImage({ manifest: p.manifest }), err('notFound', /is not in the content store/));
  } finally { cleanup(); }
});

test('daemon hooks: events, setInUse, displayName, matches', async () => {
  const { dir, cleanup } = tempDir('svc-hooks');
  try {
    const events = new EventBus();
    const seen: EngineEvent[] = [];
    events.on('event', (e: EngineEvent) => seen.push(e));
    const images = await ImageService.open(dir, { busybox: false, events });
    const p = putImage(images.content, [tar([{ name: 'f', type: 'file', data: 'f' }])]);
    const img = await images.createImage({ manifest: p.manifest }, { tags: ['hook'] });
    images.tag('hook', 'hook:2');
    assert.equal(images.displayName(img.id), 'hook:2', 'the first tag in Docker\'s order');
    assert.equal(images.displayName('sha256:' + '1'.repeat(64)), undefined);
    assert.equal(images.matches(img.id, 'hook'), true);
    assert.equal(images.matches(img.id, img.id.slice(7, 19)), true);
    assert.equal(images.matches(img.id, 'nothing-like-it'), false);

    images.setInUse((id) => (id === img.id ? [{ id: CTR, running: true }] : []));
    await assert.rejects(images.remove(img.id, { force: true }), err('conflict', /running container abcdef012345/));
    images.setInUse(() => []);
    await images.remove(img.id, { force: true });
    assert.deepEqual(seen.map((e) => [e.Type, e.Action, e.Actor.Attributes['name']]), [
      ['image', 'tag', 'hook:latest'],
      ['image', 'tag', 'hook:2'],
      ['image', 'untag', 'hook:2'],
      ['image', 'untag', 'hook:latest'],
      ['image', 'delete', img.id],
    ]);
  } finally { cleanup(); }
});
