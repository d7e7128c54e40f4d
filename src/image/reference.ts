// Image references, normalised as Docker does (github.com/distribution/reference grammar):
//
//   reference  := name [ ":" tag ] [ "@" digest ]
//   name       := [domain "/"] path          domain: host[:port], "localhost", "[v6]:port"
//   path       := component ("/" component)*  component: [a-z0-9]+ separated by ".", "_", "__" or "-"+
//   tag        := [\w][\w.-]{0,127}
//
// The first component is a domain if it contains "." or ":", is "localhost", or has an upper-case
// letter; otherwise the domain is docker.io, and a one-component path gets "library/" in front.
// So "busybox" is "docker.io/library/busybox", and shows back ("familiar" form) as "busybox".
import { invalid } from '../lib/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const MAX_NAME = 255;

export interface Reference {
  /** Registry host[:port], e.g. "docker.io", "localhost:5000". */
  domain: string;
  /** Repository path, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: string;
}

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE_RE = new RegExp(`^((?:(${domainAndPort})/)?(${pathComponent}(?:/${pathComponent})*))(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const TAG_RE = new RegExp(`^${tagPat}$`);
const ID_RE = /^[a-f0-9]{64}$/;

const DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

function checkDigest(d: string): void {
  const [alg, hex] = [d.slice(0, d.indexOf(':')), d.slice(d.indexOf(':') + 1)];
  const want = DIGEST_LENGTHS[alg];
  if (want === undefined) throw invalid('invalid reference format: unsupported digest algorithm');
  if (hex.length !== want) throw invalid('invalid reference format: invalid checksum digest length');
  if (!/^[a-f0-9]+$/.test(hex)) throw invalid('invalid reference format: invalid checksum digest format');
}

/** Splits off the domain of a name the way Docker does, defaulting to docker.io/library. */
function splitDomain(s: string): [string, string] {
  const i = s.indexOf('/');
  let domain: string;
  let rest: string;
  const first = s.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    rest = s;
  } else {
    domain = first;
    rest = s.slice(i + 1);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !rest.includes('/')) rest = OFFICIAL_PREFIX + rest;
  return [domain, rest];
}

/**
 * Parses a reference as a user typed it ("busybox", "busybox:1.36", "host:5000/a/b:tag",
 * "name@sha256:...") into its normalised parts; no tag is added. Throws `invalid` (HTTP 400) with
 * Docker's messages ("invalid reference format", "... must be lowercase").
 */
export function parseNormalizedNamed(s: string): Reference {
  if (typeof s !== 'string' || s.length === 0) throw invalid('invalid reference format');
  if (s.length > 4096) throw invalid('invalid reference format');
  if (ID_RE.test(s)) throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  const [domain, rest] = splitDomain(s);
  const colon = rest.search(/[:@]/);
  const remote = colon === -1 ? rest : rest.slice(0, colon);
  if (remote.toLowerCase() !== remote) {
    throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`);
  }
  const full = `${domain}/${rest}`;
  const m = REFERENCE_RE.exec(full);
  if (!m || m[2] !== domain) throw invalid('invalid reference format');
  const name = m[1]!;
  if (name.length > MAX_NAME) throw invalid(`invalid reference format: repository name must not be more than ${MAX_NAME} characters`);
  const ref: Reference = { domain, path: m[3]! };
  if (m[4] !== undefined) ref.tag = m[4];
  if (m[5] !== undefined) { checkDigest(m[5]); ref.digest = m[5]; }
  return ref;
}

/** Docker's TagNameOnly: adds ":latest" to a reference with neither tag nor digest. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** "docker.io/library/busybox". */
export function fullName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** "busybox", "user/app", "localhost:5000/app". */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  if (ref.path.startsWith(OFFICIAL_PREFIX) && !ref.path.slice(OFFICIAL_PREFIX.length).includes('/')) {
    return ref.path.slice(OFFICIAL_PREFIX.length);
  }
  return ref.path;
}

function suffix(ref: Reference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** "docker.io/library/busybox:latest". */
export function referenceString(ref: Reference): string {
  return fullName(ref) + suffix(ref);
}

/** "busybox:latest", as Docker shows references back. */
export function familiarString(ref: Reference): string {
  return familiarName(ref) + suffix(ref);
}

/** Normalises a reference string ("busybox" -> "docker.io/library/busybox:latest"). */
export function normalize(s: string): string {
  return referenceString(withDefaultTag(parseNormalizedNamed(s)));
}

/** Shows a stored (normalised) reference string in its familiar form. */
export function familiarize(s: string): string {
  return familiarString(parseNormalizedNamed(s));
}

/** A parsed reference naming a tag, for `docker tag` targets: digests are refused. */
export function parseTagTarget(s: string): Reference {
  const ref = parseNormalizedNamed(s);
  if (ref.digest !== undefined) throw invalid('refusing to create a tag with a digest reference');
  return withDefaultTag(ref);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
