// The registry's storage: what `barge registry serve` keeps under its --root.
//
// Terms. A *blob* is content named by its digest ("sha256:<hex>"), stored once for the whole registry
// however many repositories hold it. A *repository* (a validated name such as "team/box") does not
// own blobs: it holds *links* to them, and a blob is visible in a repository only through its link
// (so a client can fetch from "a/b" only what was pushed to, or mounted into, "a/b"). A *manifest* is
// a blob too (an image manifest or index in JSON), linked as a manifest *revision* in its repository,
// the link recording its media type; a *tag* names one revision. A manifest with a `subject` is a
// *referrer* of that subject: the link to it is kept under the subject's digest, so the referrers API
// is a directory listing. An *upload* is a blob being written (by POST, PATCH..., PUT), kept apart
// until its digest is verified and it is moved, atomically, into the blobs.
//
//   <root>/blobs/<alg>/<hex[0:2]>/<hex>                      content, written once, renamed into place
//   <root>/repositories/<name>/_layers/<alg>/<hex>           blob link (empty file)
//   <root>/repositories/<name>/_manifests/<alg>/<hex>        manifest revision link (its media type)
//   <root>/repositories/<name>/_tags/<tag>                   tag (the digest it names)
//   <root>/repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  referrer descriptor (JSON)
//   <root>/uploads/<id>/{data,info.json}                     uploads in progress
//
// Repository name components start with [a-z0-9], so no repository can be called "_layers" and
// nested repositories ("a" and "a/b") never collide with the metadata directories.
//
// Lifecycle of a layer push: newUpload -> append (once for a monolithic upload, per chunk for a
// chunked one, each chunk hashed while it streams to disk) -> finishUpload(digest): the digest is
// checked, the data fsync'd and renamed to its blob path, then the repository's link is written.
// A crash at any point leaves either a whole blob (perhaps not yet linked: gc frees it) or an
// upload directory (purged when it is older than the upload age limit, at start and periodically).
// Every metadata file is written with writeFileAtomic. Deleting a manifest or blob removes links
// only; `barge registry gc` frees the content no manifest references.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { chunksOf } from '../../lib/channel.js';
import { UploadThreads } from './uploadthreads.js';
import { writeFileAtomic, fsyncDir, cleanTempFiles } from '../../lib/fsutil.js';
import { regErr } from './errors.js';
import { isDigest, isName, isTag, isUploadId, splitDigest } from './names.js';

export const MediaTypes = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;
const IMAGE_MANIFESTS = new Set<string>([MediaTypes.OciManifest, MediaTypes.DockerManifest]);
const INDEXES = new Set<string>([MediaTypes.OciIndex, MediaTypes.DockerManifestList]);
export const MANIFEST_TYPES = new Set<string>([...IMAGE_MANIFESTS, ...INDEXES]);
/** Layers that may live elsewhere (their `urls`): a manifest may name them without the blob being here. */
const FOREIGN = /(\.foreign\.|\.nondistributable\.)/;
export const MAX_MANIFEST = 4 << 20;

export interface Descriptor { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string>; urls?: string[] }
export interface UploadStatus { id: string; name: string; size: number; started: number }
export interface ManifestInfo { digest: string; mediaType: string; size: number; file: string }

/** The blobs a manifest references: config and layers, index children, its subject. */
export function manifestReferences(m: Record<string, unknown>): { blobs: Descriptor[]; manifests: Descriptor[]; subject?: Descriptor } {
  const blobs: Descriptor[] = [];
  const manifests: Descriptor[] = [];
  const desc = (d: unknown): Descriptor | undefined => (d && typeof d === 'object' && typeof (d as Descriptor).digest === 'string' ? d as Descriptor : undefined);
  const config = desc(m['config']);
  if (config) blobs.push(config);
  if (Array.isArray(m['layers'])) for (const l of m['layers']) { const d = desc(l); if (d) blobs.push(d); }
  if (Array.isArray(m['blobs'])) for (const l of m['blobs']) { const d = desc(l); if (d) blobs.push(d); }
  if (Array.isArray(m['manifests'])) for (const l of m['manifests']) { const d = desc(l); if (d) manifests.push(d); }
  return { blobs, manifests, subject: desc(m['subject']) };
}

export class RegistryStorage {
  readonly blobsDir: string;
  readonly reposDir: string;
  readonly uploadsDir: string;
  /** Hash and write upload bodies, keeping each upload's running hash (a chunked upload is hashed once as it streams in). */
  private readonly threads = new UploadThreads();
  /** Uploads with a request writing to them right now (a second writer gets 416). */
  private readonly busy = new Set<string>();

  constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs');
    this.reposDir = path.join(root, 'repositories');
    this.uploadsDir = path.join(root, 'uploads');
  }

  /** Creates the layout; removes leftovers of interrupted writes and uploads older than maxUploadAgeMs. */
  init(maxUploadAgeMs: number): { purged: number } {
    for (const d of [this.blobsDir, this.reposDir, this.uploadsDir]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    cleanTempFiles(this.uploadsDir);
    return { purged: this.purgeUploads(maxUploadAgeMs) };
  }

  // --- paths (every argument validated by the caller's grammar: nothing here can leave root) ---

  blobPath(digest: string): string {
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', { digest });
    const [alg, hex] = splitDigest(digest);
    return path.join(this.blobsDir, alg, hex.slice(0, 2), hex);
  }

  private repoDir(name: string): string {
    if (!isName(name)) throw regErr('NAME_INVALID', { name });
    return path.join(this.reposDir, name);
  }

  private link(name: string, kind: '_layers' | '_manifests', digest: string): string {
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', { digest });
    const [alg, hex] = splitDigest(digest);
    return path.join(this.repoDir(name), kind, alg, hex);
  }

  private tagPath(name: string, tag: string): string {
    if (!isTag(tag)) throw regErr('TAG_INVALID', { tag }, `invalid tag ${JSON.stringify(tag.slice(0, 200))}`);
    return path.join(this.repoDir(name), '_tags', tag);
  }

  private referrersDir(name: string, subject: string): string {
    const [alg, hex] = splitDigest(subject);
    return path.join(this.repoDir(name), '_referrers', alg, hex);
  }

  repoExists(name: string): boolean { return fs.existsSync(this.repoDir(name)); }

  // --- blobs ---

  /** The blob's size if it is linked in the repository and present; null otherwise. */
  blobStat(name: string, digest: string): { size: number; file: string } | null {
    if (!fs.existsSync(this.link(name, '_layers', digest)) && !fs.existsSync(this.link(name, '_manifests', digest))) return null;
    const file = this.blobPath(digest);
    try { return { size: fs.statSync(file).size, file }; } catch { return null; }
  }

  hasBlob(digest: string): boolean { return fs.existsSync(this.blobPath(digest)); }

  linkBlob(name: string, digest: string): void {
    const l = this.link(name, '_layers', digest);
    if (fs.existsSync(l)) return;
    fs.mkdirSync(path.dirname(l), { recursive: true });
    writeFileAtomic(l, '');
  }

  /** Removes the repository's link to a blob (the content stays until gc); false if there was none. */
  unlinkBlob(name: string, digest: string): boolean {
    const l = this.link(name, '_layers', digest);
    try { fs.unlinkSync(l); return true; } catch { return false; }
  }

  // --- uploads ---

  newUpload(name: string): string {
    if (!isName(name)) throw regErr('NAME_INVALID', { name });
    const id = randomBytes(16).toString('hex');
    const dir = path.join(this.uploadsDir, id);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'data'), '');
    writeFileAtomic(path.join(dir, 'info.json'), JSON.stringify({ name, started: Date.now() }), 0o644, false);
    return id;
  }

  upload(name: string, id: string): UploadStatus {
    if (!isUploadId(id)) throw regErr('BLOB_UPLOAD_UNKNOWN', { uuid: id.slice(0, 100) });
    const dir = path.join(this.uploadsDir, id);
    let info: { name: string; started: number };
    let size: number;
    try {
      info = JSON.parse(fs.readFileSync(path.join(dir, 'info.json'), 'utf8'));
      size = fs.statSync(path.join(dir, 'data')).size;
    } catch { throw regErr('BLOB_UPLOAD_UNKNOWN', { uuid: id }); }
    if (info.name !== name) throw regErr('BLOB_UPLOAD_UNKNOWN', { uuid: id });
    return { id, name, size, started: info.started };
  }

  /**
   * Appends a request body to an upload, hashing it as it goes to disk. `start` (from Content-Range)
   * must be the upload's current size (else 416), and `length`, when known, the number of bytes the
   * body brings (else the chunk is taken back and SIZE_INVALID). Returns the new size and the bytes received.
   */
  async append(name: string, id: string, body: Readable, start?: number, length?: number): Promise<{ size: number; received: number }> {
    const st = this.upload(name, id);
    if (this.busy.has(id)) throw this.rangeError(st.size, 'another request is writing to this upload');
    if (start !== undefined && start !== st.size) throw this.rangeError(st.size, `chunk starts at ${start} but the upload has ${st.size} bytes: resume at ${st.size}`);
    this.busy.add(id);
    const file = path.join(this.uploadsDir, id, 'data');
    try {
      // Hashed and written by a thread (uploadthreads.ts). If the client goes away mid-chunk, what
      // reached the disk stays (GET of the upload reports it).
      const job = this.threads.append(id, file, st.size);
      let n: number;
      try {
        for await (const c of chunksOf(body)) if (!job.write(c)) await job.drained();
        n = await job.end();
      } catch (e) {
        await job.abort().catch(() => undefined);
        throw e;
      }
      if (length !== undefined && n !== length) {
        this.threads.forget(id);
        fs.truncateSync(file, st.size);
        throw regErr('SIZE_INVALID', { expected: length, received: n }, `chunk brought ${n} bytes, ${length} were announced`);
      }
      return { size: st.size + n, received: n };
    } finally {
      this.busy.delete(id);
    }
  }

  private rangeError(size: number, message: string) {
    const e = regErr('RANGE_INVALID', { size }, message);
    e.headers['Range'] = `0-${Math.max(0, size - 1)}`;
    return e;
  }

  /**
   * Completes an upload: verifies `digest` against the content, moves it into the blobs (atomic
   * rename, after fsync) and links it in the repository. A wrong digest cancels the upload.
   */
  async finishUpload(name: string, id: string, digest: string): Promise<number> {
    const st = this.upload(name, id);
    if (this.busy.has(id)) throw this.rangeError(st.size, 'another request is writing to this upload');
    this.busy.add(id);
    const dir = path.join(this.uploadsDir, id);
    const file = path.join(dir, 'data');
    try {
      const [alg, hex] = splitDigest(digest);
      const got = await this.threads.digest(id, file, st.size, alg);
      if (got !== hex) {
        this.cancelUpload(name, id);
        throw regErr('DIGEST_INVALID', { expected: digest, computed: `${alg}:${got}` }, `provided digest ${digest} did not match uploaded content (${alg}:${got})`);
      }
      // By the thread pool: a big blob's flush must not stop every other request of the registry.
      const fd = fs.openSync(file, 'r+');
      try { await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve()))); } finally { fs.closeSync(fd); }
      this.upload(name, id);   // a DELETE of the upload meanwhile: BLOB_UPLOAD_UNKNOWN
      const target = this.blobPath(digest);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.renameSync(file, target);
      fsyncDir(path.dirname(target));
      this.linkBlob(name, digest);
      this.threads.forget(id);
      fs.rmSync(dir, { recursive: true, force: true });
      return st.size;
    } finally {
      this.busy.delete(id);
    }
  }

  cancelUpload(name: string, id: string): void {
    this.upload(name, id);
    this.threads.forget(id);
    fs.rmSync(path.join(this.uploadsDir, id), { recursive: true, force: true });
  }

  /** Removes uploads last written more than maxAgeMs ago (and half-made upload directories). */
  purgeUploads(maxAgeMs: number): number {
    let n = 0;
    let ids: string[];
    try { ids = fs.readdirSync(this.uploadsDir); } catch { return 0; }
    const now = Date.now();
    for (const id of ids) {
      if (this.busy.has(id)) continue;
      const dir = path.join(this.uploadsDir, id);
      let age: number;
      try { age = now - fs.statSync(path.join(dir, 'data')).mtimeMs; } catch { age = Infinity; }
      if (!isUploadId(id) || age > maxAgeMs || !fs.existsSync(path.join(dir, 'info.json'))) {
        fs.rmSync(dir, { recursive: true, force: true });
        this.threads.forget(id);
        n++;
      }
    }
    return n;
  }

  // --- manifests ---

  /**
   * Stores a manifest under a tag or a digest after validating it: a JSON manifest of a known type,
   * whose blobs (config, layers) and child manifests are present in this repository. Returns its
   * digest and, when it has one, its subject's.
   */
  putManifest(name: string, reference: string, body: Buffer, contentType: string | undefined): { digest: string; subject?: string } {
    const byDigest = reference.includes(':');
    const alg = byDigest ? splitDigest(reference)[0] : 'sha256';
    if (byDigest && !isDigest(reference)) throw regErr('DIGEST_INVALID', { digest: reference });
    if (!byDigest && !isTag(reference)) throw regErr('TAG_INVALID', { tag: reference.slice(0, 200) }, `invalid tag ${JSON.stringify(reference.slice(0, 200))}`);
    const digest = `${alg}:${createHash(alg).update(body).digest('hex')}`;
    if (byDigest && digest !== reference) throw regErr('DIGEST_INVALID', { expected: reference, computed: digest }, `manifest digest ${digest} does not match ${reference}`);
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(body.toString('utf8'));
      if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error('not an object');
    } catch (e) { throw regErr('MANIFEST_INVALID', { reason: (e as Error).message }, `manifest is not valid JSON: ${(e as Error).message}`); }
    const ct = contentType?.split(';')[0]!.trim();
    const field = typeof m['mediaType'] === 'string' ? m['mediaType'] as string : undefined;
    if (m['schemaVersion'] !== 2) throw regErr('MANIFEST_INVALID', { schemaVersion: m['schemaVersion'] ?? null }, 'manifest schemaVersion must be 2 (schema 1 manifests are not supported)');
    let mediaType = ct && MANIFEST_TYPES.has(ct) ? ct : field;
    if (!mediaType) mediaType = Array.isArray(m['manifests']) ? MediaTypes.OciIndex : MediaTypes.OciManifest;
    if (!MANIFEST_TYPES.has(mediaType)) throw regErr('MANIFEST_INVALID', { mediaType }, `unsupported manifest media type ${JSON.stringify(mediaType)}`);
    if (field !== undefined && field !== mediaType) throw regErr('MANIFEST_INVALID', { mediaType: field, contentType: ct }, `manifest mediaType ${JSON.stringify(field)} does not match Content-Type ${JSON.stringify(mediaType)}`);
    const refs = manifestReferences(m);
    const checkDesc = (d: Descriptor, what: string) => {
      if (!isDigest(d.digest) || typeof d.mediaType !== 'string' || !Number.isSafeInteger(d.size) || d.size < 0) {
        throw regErr('MANIFEST_INVALID', { descriptor: d }, `invalid ${what} descriptor: wants mediaType, digest (sha256 or sha512) and size`);
      }
    };
    if (IMAGE_MANIFESTS.has(mediaType)) {
      if (!m['config'] || !Array.isArray(m['layers'])) throw regErr('MANIFEST_INVALID', {}, 'image manifest wants a config and a layers list');
      for (const d of refs.blobs) {
        checkDesc(d, 'blob');
        if (FOREIGN.test(d.mediaType) && Array.isArray(d.urls) && d.urls.length > 0) continue;
        const st = this.blobStat(name, d.digest);
        if (!st) throw regErr('MANIFEST_BLOB_UNKNOWN', { digest: d.digest }, `blob ${d.digest} is not in repository ${name}: push it first`);
        if (st.size !== d.size) throw regErr('MANIFEST_INVALID', { digest: d.digest, size: d.size, stored: st.size }, `blob ${d.digest} has ${st.size} bytes, the manifest says ${d.size}`);
      }
      if (refs.manifests.length) throw regErr('MANIFEST_INVALID', {}, 'an image manifest has no "manifests" list');
    } else {
      if (!Array.isArray(m['manifests'])) throw regErr('MANIFEST_INVALID', {}, 'index wants a manifests list');
      for (const d of refs.manifests) {
        checkDesc(d, 'manifest');
        if (!fs.existsSync(this.link(name, '_manifests', d.digest)) || !this.hasBlob(d.digest)) {
          throw regErr('MANIFEST_BLOB_UNKNOWN', { digest: d.digest }, `manifest ${d.digest} is not in repository ${name}: push it first`);
        }
      }
    }
    if (refs.subject) checkDesc(refs.subject, 'subject');

    // Content first, then the revision link, then the tag and the referrer entry: a crash in between
    // leaves at worst content no tag names (gc frees it).
    const blob = this.blobPath(digest);
    if (!fs.existsSync(blob)) {
      fs.mkdirSync(path.dirname(blob), { recursive: true });
      writeFileAtomic(blob, body);
    }
    const rev = this.link(name, '_manifests', digest);
    fs.mkdirSync(path.dirname(rev), { recursive: true });
    writeFileAtomic(rev, mediaType);
    if (!byDigest) {
      const t = this.tagPath(name, reference);
      fs.mkdirSync(path.dirname(t), { recursive: true });
      writeFileAtomic(t, digest);
    }
    if (refs.subject) {
      const artifactType = typeof m['artifactType'] === 'string' ? m['artifactType'] as string
        : IMAGE_MANIFESTS.has(mediaType) ? (m['config'] as Descriptor).mediaType : undefined;
      const d: Descriptor = { mediaType, digest, size: body.length };
      if (artifactType) d.artifactType = artifactType;
      if (m['annotations'] && typeof m['annotations'] === 'object') d.annotations = m['annotations'] as Record<string, string>;
      const dir = this.referrersDir(name, refs.subject.digest);
      fs.mkdirSync(dir, { recursive: true });
      writeFileAtomic(path.join(dir, digest.replace(':', '-')), JSON.stringify(d));
    }
    return { digest, subject: refs.subject?.digest };
  }

  /** Resolves a tag or digest to a stored manifest; MANIFEST_UNKNOWN (NAME_UNKNOWN for no such repository) if none. */
  getManifest(name: string, reference: string): ManifestInfo {
    if (!this.repoExists(name)) throw regErr('NAME_UNKNOWN', { name }, `repository ${name} not known to registry`);
    let digest = reference;
    if (!reference.includes(':')) {
      try { digest = fs.readFileSync(this.tagPath(name, reference), 'utf8').trim(); } catch (e) {
        if ((e as { code?: string }).code === 'TAG_INVALID') throw e;
        throw regErr('MANIFEST_UNKNOWN', { tag: reference }, `manifest unknown: no tag ${reference} in ${name}`);
      }
    }
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', { digest: digest.slice(0, 200) });
    let mediaType: string;
    try { mediaType = fs.readFileSync(this.link(name, '_manifests', digest), 'utf8').trim(); } catch {
      throw regErr('MANIFEST_UNKNOWN', { digest }, `manifest unknown: ${digest} is not in ${name}`);
    }
    const file = this.blobPath(digest);
    try { return { digest, mediaType, size: fs.statSync(file).size, file }; } catch {
      throw regErr('MANIFEST_UNKNOWN', { digest }, `manifest unknown: ${digest} (its content was deleted)`);
    }
  }

  /** Deletes a tag (the manifest stays), or a manifest by digest with the tags naming it and its referrer entry. */
  deleteManifest(name: string, reference: string): void {
    if (!reference.includes(':')) {
      const t = this.tagPath(name, reference);
      try { fs.unlinkSync(t); } catch { throw regErr('MANIFEST_UNKNOWN', { tag: reference }); }
      return;
    }
    const info = this.getManifest(name, reference);
    for (const tag of this.tags(name)) {
      const t = this.tagPath(name, tag);
      try { if (fs.readFileSync(t, 'utf8').trim() === info.digest) fs.unlinkSync(t); } catch { /* gone meanwhile */ }
    }
    try {
      const subject = manifestReferences(JSON.parse(fs.readFileSync(info.file, 'utf8'))).subject;
      if (subject && isDigest(subject.digest)) fs.rmSync(path.join(this.referrersDir(name, subject.digest), info.digest.replace(':', '-')), { force: true });
    } catch { /* unreadable manifest: nothing to unlist */ }
    fs.unlinkSync(this.link(name, '_manifests', info.digest));
  }

  tags(name: string): string[] {
    if (!this.repoExists(name)) throw regErr('NAME_UNKNOWN', { name }, `repository ${name} not known to registry`);
    let names: string[];
    try { names = fs.readdirSync(path.join(this.repoDir(name), '_tags')); } catch { return []; }
    return names.filter(isTag).sort();
  }

  /** Every repository, in lexical order. */
  repositories(): string[] {
    const out: string[] = [];
    const walk = (dir: string, prefix: string) => {
      let ents: fs.Dirent[];
      try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
      if (prefix && ents.some((e) => e.name === '_manifests' || e.name === '_layers' || e.name === '_tags')) out.push(prefix);
      for (const e of ents) if (e.isDirectory() && !e.name.startsWith('_') && !e.name.startsWith('.')) walk(path.join(dir, e.name), prefix ? `${prefix}/${e.name}` : e.name);
    };
    walk(this.reposDir, '');
    return out.filter(isName).sort();
  }

  /** Descriptors of the manifests in `name` whose subject is `digest`, optionally of one artifactType. */
  referrers(name: string, digest: string, artifactType?: string): Descriptor[] {
    if (!isName(name)) throw regErr('NAME_INVALID', { name });
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', { digest });
    const dir = this.referrersDir(name, digest);
    let files: string[];
    try { files = fs.readdirSync(dir); } catch { return []; }
    const out: Descriptor[] = [];
    for (const f of files.sort()) {
      if (f.startsWith('.')) continue;
      try {
        const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Descriptor;
        if (!isDigest(d.digest) || !fs.existsSync(this.link(name, '_manifests', d.digest))) continue;
        if (artifactType !== undefined && d.artifactType !== artifactType) continue;
        out.push(d);
      } catch { /* torn or foreign file: skip */ }
    }
    return out;
  }
}
