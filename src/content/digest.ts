// Digests as the OCI image spec writes them: "<algorithm>:<hex>". barge stores and verifies sha256 only;
// every digest that reaches a file path is validated here first, so a hostile digest can never name a
// path outside the store.
import { createHash, type Hash } from 'node:crypto';
import { invalid } from '../lib/errors.js';

const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && SHA256_RE.test(s);
}

/** Throws `invalid` unless `s` is a canonical sha256 digest ("sha256:" + 64 lowercase hex digits). */
export function assertDigest(s: unknown, what = 'digest'): string {
  if (isDigest(s)) return s;
  if (typeof s === 'string' && /^[a-z0-9]+([+._-][a-z0-9]+)*:/.test(s) && !s.startsWith('sha256:')) {
    throw invalid(`unsupported digest algorithm in ${what} ${JSON.stringify(s)}: only sha256 is supported`);
  }
  throw invalid(`invalid ${what} ${JSON.stringify(typeof s === 'string' ? s.slice(0, 200) : s)}: want sha256:<64 hex digits>`);
}

/** The 64 hex digits of a sha256 digest. */
export function hexOf(digest: string): string {
  return assertDigest(digest).slice(7);
}

export function sha256Digest(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function newDigester(): Hash {
  return createHash('sha256');
}

/** Passes `src` through, failing at its end unless it was exactly `size` bytes hashing to `digest`. */
export async function* verified(src: AsyncIterable<Buffer>, digest: string, size: number, what = digest): AsyncGenerator<Buffer> {
  const h = newDigester();
  let n = 0;
  for await (const chunk of src) {
    n += chunk.length;
    if (n > size) throw invalid(`${what} is longer than its ${size} bytes`);
    h.update(chunk);
    yield chunk;
  }
  const got = 'sha256:' + h.digest('hex');
  if (n !== size || got !== digest) throw invalid(`${what} does not match its digest ${digest} (got ${got}, ${n} bytes)`);
}
