// Where blobs were seen: for each blob digest, the registry repositories barge pulled it from or pushed
// it to. A push to another repository of the same registry can then ask for a cross-repository mount
// instead of uploading the bytes again (Docker's "Mounted from ..."). A small JSON file, written
// atomically; losing it only costs an upload.
import * as path from 'node:path';
import { readJsonOr, writeJsonAtomic } from '../../lib/fsutil.js';
import { isDigest } from '../../content/digest.js';

const MAX_DIGESTS = 20_000;
const MAX_PER_DIGEST = 5;

export class BlobSources {
  private readonly file: string;
  /** digest -> ["host/repo", ...], most recent last; Map order = insertion (oldest digests first). */
  private readonly map = new Map<string, string[]>();
  private dirty = false;

  constructor(dir: string) {
    this.file = path.join(dir, 'blob-sources.json');
    const v = readJsonOr<Record<string, unknown>>(this.file, {});
    for (const [d, repos] of Object.entries(v && typeof v === 'object' ? v : {})) {
      if (isDigest(d) && Array.isArray(repos)) this.map.set(d, repos.filter((r): r is string => typeof r === 'string').slice(-MAX_PER_DIGEST));
    }
  }

  /** Notes that `host/repo` has blob `digest`. */
  add(digest: string, host: string, repo: string): void {
    const key = `${host}/${repo}`;
    const list = (this.map.get(digest) ?? []).filter((r) => r !== key);
    list.push(key);
    this.map.delete(digest);
    this.map.set(digest, list.slice(-MAX_PER_DIGEST));
    while (this.map.size > MAX_DIGESTS) this.map.delete(this.map.keys().next().value as string);
    this.dirty = true;
  }

  /** Repositories of registry `host` known to hold `digest`, most recent first, `except` left out. */
  repos(digest: string, host: string, except: string): string[] {
    const prefix = `${host}/`;
    return (this.map.get(digest) ?? []).filter((r) => r.startsWith(prefix)).map((r) => r.slice(prefix.length)).filter((r) => r !== except).reverse();
  }

  /** Writes the record if it changed. */
  save(): void {
    if (!this.dirty) return;
    writeJsonAtomic(this.file, Object.fromEntries(this.map), 0o600);
    this.dirty = false;
  }
}
