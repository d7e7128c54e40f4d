// Validation of everything in a request that can reach a file path: repository names, tags, digests
// and upload ids. Names and digests are hostile input: only what matches these grammars (the
// distribution spec's, stricter where the spec allows) is ever joined to the storage root, so no
// name can contain "..", "%2F", a backslash, a NUL or an absolute path.
import { regErr } from './errors.js';

// <name>: path components of [a-z0-9]+ joined by ".", "_", "__" or "-"s, separated by "/".
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const UPLOAD_RE = /^[a-f0-9]{32}$/;
export const MAX_NAME = 255;

export function isName(s: string): boolean { return s.length <= MAX_NAME && NAME_RE.test(s); }
export function isTag(s: string): boolean { return TAG_RE.test(s); }
export function isDigest(s: string): boolean { return DIGEST_RE.test(s); }
export function isUploadId(s: string): boolean { return UPLOAD_RE.test(s); }

export function checkName(s: string): string {
  if (!isName(s)) throw regErr('NAME_INVALID', { name: s.slice(0, 300) }, `invalid repository name ${JSON.stringify(s.slice(0, 300))}: want lowercase path components of [a-z0-9] separated by "/", ".", "_" or "-" (at most ${MAX_NAME} characters)`);
  return s;
}

/** A digest the store can use: sha256 or sha512 in canonical hex; anything else is DIGEST_INVALID. */
export function checkDigest(s: string | null | undefined): string {
  if (typeof s === 'string' && isDigest(s)) return s;
  const shown = JSON.stringify(String(s).slice(0, 200));
  if (typeof s === 'string' && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(s) && !/^sha(256|512):/.test(s)) {
    throw regErr('DIGEST_INVALID', { digest: s.slice(0, 200) }, `unsupported digest algorithm in ${shown}: use sha256 or sha512`);
  }
  throw regErr('DIGEST_INVALID', { digest: String(s).slice(0, 200) }, `invalid digest ${shown}: want sha256:<64 hex digits> or sha512:<128 hex digits>`);
}

/** "<alg>:<hex>" -> [alg, hex], for a digest already checked. */
export function splitDigest(d: string): [string, string] {
  const i = d.indexOf(':');
  return [d.slice(0, i), d.slice(i + 1)];
}
