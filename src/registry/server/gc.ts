// `barge registry gc`: mark and sweep over a registry root. Mark: every manifest revision of every
// repository, and what each references (config, layers, blobs, index children, subject). Sweep:
// every blob not marked, and the repository links to swept blobs. Like the reference registry's
// garbage-collect, it is run with the server stopped: an upload finishing during the sweep could
// otherwise be freed before its manifest arrives. The root's pid file enforces that (a running
// `barge registry serve` makes gc refuse, and a gc in progress makes serve refuse). A manifest that
// cannot be read stops gc before anything is deleted: not knowing what it references, gc frees nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RegistryStorage, manifestReferences } from './storage.js';
import { isDigest } from './names.js';
import { runningServer } from './server.js';
import { writeFileAtomic } from '../../lib/fsutil.js';

export interface GcResult { manifests: number; marked: number; swept: Array<{ digest: string; size: number }>; freed: number; linksRemoved: number }

function listDigests(dir: string): string[] {
  const out: string[] = [];
  let algs: string[];
  try { algs = fs.readdirSync(dir); } catch { return out; }
  for (const alg of algs) {
    let hexes: string[];
    try { hexes = fs.readdirSync(path.join(dir, alg)); } catch { continue; }
    for (const hex of hexes) if (isDigest(`${alg}:${hex}`)) out.push(`${alg}:${hex}`);
  }
  return out;
}

export function collectGarbage(root: string, o: { dryRun?: boolean; log?: (l: string) => void } = {}): GcResult {
  const log = o.log ?? (() => {});
  if (!fs.existsSync(path.join(root, 'blobs'))) throw new Error(`${root} is not a registry root (no blobs directory)`);
  const pid = runningServer(root);
  if (pid) throw new Error(`barge registry serve (pid ${pid}) is running on ${root}: stop it before gc (a blob uploaded during the sweep could be freed)`);
  const pidFile = path.join(root, 'serve.pid');
  if (!o.dryRun) writeFileAtomic(pidFile, `${process.pid}\n`, 0o644, false);
  try {
    const store = new RegistryStorage(root);
    const marked = new Set<string>();
    let manifests = 0;
    const repos = store.repositories();
    for (const repo of repos) {
      for (const digest of listDigests(path.join(store.reposDir, repo, '_manifests'))) {
        let m: Record<string, unknown>;
        const file = store.blobPath(digest);
        if (!fs.existsSync(file)) continue; // a revision whose content is already gone
        try { m = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) {
          throw new Error(`cannot read manifest ${digest} of ${repo} (${(e as Error).message}): nothing deleted`);
        }
        manifests++;
        marked.add(digest);
        const refs = manifestReferences(m);
        for (const d of [...refs.blobs, ...refs.manifests, ...(refs.subject ? [refs.subject] : [])]) if (isDigest(d.digest)) marked.add(d.digest);
        log(`mark ${repo}@${digest}`);
      }
    }
    const swept: GcResult['swept'] = [];
    let freed = 0;
    for (const alg of fs.readdirSync(store.blobsDir)) {
      const algDir = path.join(store.blobsDir, alg);
      let prefixes: string[];
      try { prefixes = fs.readdirSync(algDir); } catch { continue; }
      for (const p of prefixes) {
        const pdir = path.join(algDir, p);
        let names: string[];
        try { names = fs.readdirSync(pdir); } catch { continue; }
        for (const hex of names) {
          const file = path.join(pdir, hex);
          if (hex.startsWith('.tmp-')) { if (!o.dryRun) fs.rmSync(file, { force: true }); continue; }
          const digest = `${alg}:${hex}`;
          if (marked.has(digest)) continue;
          let size = 0;
          try { size = fs.statSync(file).size; } catch { /* gone */ }
          swept.push({ digest, size });
          freed += size;
          log(`${o.dryRun ? 'would delete' : 'delete'} ${digest} (${size} bytes)`);
          if (!o.dryRun) fs.rmSync(file, { force: true });
        }
      }
    }
    // Links to freed blobs would answer HEAD with "unknown" anyway; remove them so repositories stay tidy.
    let linksRemoved = 0;
    if (!o.dryRun) {
      for (const repo of repos) {
        const dir = path.join(store.reposDir, repo, '_layers');
        for (const digest of listDigests(dir)) {
          if (!store.hasBlob(digest)) { fs.rmSync(path.join(dir, ...digest.split(':')), { force: true }); linksRemoved++; }
        }
      }
    }
    return { manifests, marked: marked.size, swept, freed, linksRemoved };
  } finally {
    if (!o.dryRun) { try { if (fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.rmSync(pidFile); } catch { /* gone */ } }
  }
}
