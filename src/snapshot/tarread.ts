// Reading a tar stream (plain or gzip) entry by entry, with backpressure: the next entry is parsed only
// once the handler is done with the current one. Format errors become `invalid` (HTTP 400).
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { invalid } from '../lib/errors.js';
import { decompress, type TarChunks } from './unpack.js';

/** The fields of a tar-stream header barge reads. */
export interface TarHeader {
  name: string;
  size?: number;
  mode?: number;
  mtime?: Date;
  type?: string | null;
  linkname?: string | null;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string> | null;
}

export type EntryHandler = (h: TarHeader, body: AsyncIterable<Buffer>) => Promise<void>;

/**
 * Calls `fn` for each entry of the archive in `source` (gzip-compressed or not), in order. An error of
 * the handler or of the archive stops the reading and is thrown; `what` names the archive in messages.
 */
export async function forEachTarEntry(source: AsyncIterable<Uint8Array>, fn: EntryHandler, what = 'archive'): Promise<void> {
  let stream: TarChunks;
  try {
    ({ stream } = await decompress(source));
  } catch (e) {
    throw wrap(e, what);
  }
  const extract = tarStream.extract();
  let fed: Promise<void> | undefined;
  fed = (async () => {
    try {
      for await (const chunk of stream) {
        if (extract.destroyed) return;
        if (!extract.write(chunk as Buffer)) {
          await new Promise<void>((resolve) => {
            const done = () => { extract.off('drain', done); extract.off('close', done); resolve(); };
            extract.on('drain', done);
            extract.on('close', done);
          });
        }
      }
      (extract as unknown as { end(): void }).end();
    } catch (e) {
      extract.destroy(e as Error);
    }
  })();
  try {
    for await (const entry of extract as unknown as AsyncIterable<Readable & { header: TarHeader }>) {
      await fn(entry.header, entry as AsyncIterable<Buffer>);
      for await (const _ of entry) { /* drain what the handler left */ }
    }
  } catch (e) {
    stream.destroy();
    extract.destroy();
    throw wrap(e, what);
  } finally {
    await fed;
    fed = undefined;
  }
}

function wrap(e: unknown, what: string): unknown {
  // Format errors (tar-stream, zlib) are the archive's fault; system errors and typed errors pass as they are.
  return e instanceof Error && !('kind' in e) && !('syscall' in e) ? invalid(`invalid ${what}: ${e.message}`) : e;
}

/** The uid, gid and mtime of an entry, PAX records first. */
export function headerIds(h: TarHeader): { uid: number; gid: number; mtime: number } {
  const pax = h.pax ?? {};
  const num = (v: unknown, what: string) => {
    const n = typeof v === 'string' ? Number(v) : (v as number);
    if (!Number.isSafeInteger(n) || n < 0 || n > 0xfffffffe) throw invalid(`invalid archive: bad ${what} ${String(v)}`);
    return n;
  };
  let mtime = pax['mtime'] !== undefined ? Number(pax['mtime']) : (h.mtime ? h.mtime.getTime() / 1000 : 0);
  if (!Number.isFinite(mtime)) mtime = 0;
  return { uid: num(pax['uid'] ?? h.uid ?? 0, 'uid'), gid: num(pax['gid'] ?? h.gid ?? 0, 'gid'), mtime };
}
