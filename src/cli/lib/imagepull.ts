// Pulling an image through the daemon (POST /images/create), shared by pull, create and run.
import type { Cli } from '../cli.js';
import { jsonLines } from '../client.js';
import { parseNormalizedNamed, referenceString, type Reference } from '../../image/reference.js';
import { registryAuthHeader } from './credentials.js';
import { displayJsonMessages, type JsonMessage } from './progress.js';

/** X-Registry-Auth for a registry domain: the stored credentials, or "{}" (anonymous) as docker sends. */
export function authHeaderFor(domain: string): string {
  return registryAuthHeader(domain) ?? Buffer.from('{}').toString('base64');
}

/**
 * Pulls `ref` (already parsed; a name alone pulls every tag), rendering Docker's progress to `write`
 * (nothing when quiet). Throws the stream's error message as an Error.
 */
export async function pullImage(cli: Cli, ref: Reference, o: { write?: (s: string) => void; tty?: boolean; platform?: string } = {}): Promise<void> {
  const fromImage = referenceString({ domain: ref.domain, path: ref.path });
  const tag = ref.digest ?? ref.tag ?? '';
  const res = await cli.client.raw('POST', '/images/create', {
    query: { fromImage, tag, platform: o.platform || undefined },
    headers: { 'X-Registry-Auth': authHeaderFor(ref.domain) },
  });
  const r = await displayJsonMessages(jsonLines<JsonMessage>(res), o.write ?? (() => undefined), { tty: !!o.tty, width: process.stdout.columns ?? 80 });
  if (r.error !== undefined) throw new Error(r.error);
}

/** Parses a reference as the CLI does before a pull. */
export function parseForPull(name: string): Reference {
  return parseNormalizedNamed(name);
}
