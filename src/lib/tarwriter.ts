// A small, synchronous, deterministic tar writer (POSIX ustar, with PAX records for long names and
// extended attributes). The same entries always give the same bytes, whatever the machine or the
// version of a tar library: this is what makes the built-in busybox image's digest reproducible.
// It writes exactly what it is told, so tests also use it to forge hostile layers.
import * as fs from 'node:fs';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** Path inside the archive, written verbatim (no cleaning: the reader must be careful). */
  name: string;
  type: TarEntryType;
  /** Permission bits (default 0644 for files, 0755 for directories, 0777 for symlinks). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch (default 0). */
  mtime?: number;
  /** Contents of a regular file. */
  data?: Uint8Array | string;
  /** Target of a symlink or hardlink. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as PAX SCHILY.xattr.<name> records. */
  xattrs?: Record<string, string>;
  /** Overrides the size written in the header (to forge lying headers in tests). */
  headerSize?: number;
}

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

function writeString(buf: Buffer, off: number, len: number, s: string): void {
  const b = Buffer.from(s);
  b.copy(buf, off, 0, Math.min(len, b.length));
}

/** Octal, NUL-terminated, or base-256 (GNU) when the number does not fit. */
function writeNumber(buf: Buffer, off: number, len: number, n: number): void {
  if (n < 8 ** (len - 1)) {
    writeString(buf, off, len - 1, n.toString(8).padStart(len - 1, '0'));
    buf[off + len - 1] = 0;
    return;
  }
  buf[off] = 0x80;
  let v = BigInt(n);
  for (let i = len - 1; i > 0; i--) { buf[off + i] = Number(v & 0xffn); v >>= 8n; }
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function header(name: string, typeflag: string, size: number, e: Partial<TarEntry>): Buffer {
  const h = Buffer.alloc(512);
  writeString(h, 0, 100, name);
  writeNumber(h, 100, 8, e.mode ?? 0);
  writeNumber(h, 108, 8, e.uid ?? 0);
  writeNumber(h, 116, 8, e.gid ?? 0);
  writeNumber(h, 124, 12, size);
  writeNumber(h, 136, 12, Math.floor(e.mtime ?? 0));
  h.fill(0x20, 148, 156);
  writeString(h, 156, 1, typeflag);
  writeString(h, 157, 100, e.linkname ?? '');
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeNumber(h, 329, 8, e.devmajor ?? 0);
  writeNumber(h, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 7, sum.toString(8).padStart(6, '0') + '\0');
  return h;
}

function pad(n: number): Buffer {
  const r = n % 512;
  return Buffer.alloc(r === 0 ? 0 : 512 - r);
}

/**
 * The header blocks of one entry (a PAX extended header first when the name or link target is long or
 * not plain ASCII, or when there are extended attributes), for an entry whose data is `size` bytes.
 * Streaming writers send this, then the data, then `tarPadding(size)`.
 */
export function tarHeader(e: Omit<TarEntry, 'data'>, size: number): Buffer {
  const name = e.type === 'dir' && !e.name.endsWith('/') ? e.name + '/' : e.name;
  const parts: Buffer[] = [];
  let pax = '';
  if (Buffer.byteLength(name) > 100 || /[^\x20-\x7e]/.test(name)) pax += paxRecord('path', name);
  if (e.linkname !== undefined && (Buffer.byteLength(e.linkname) > 100 || /[^\x20-\x7e]/.test(e.linkname))) pax += paxRecord('linkpath', e.linkname);
  for (const [k, v] of Object.entries(e.xattrs ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) pax += paxRecord(`SCHILY.xattr.${k}`, v);
  if (pax) {
    const body = Buffer.from(pax);
    parts.push(header('PaxHeaders/' + name.slice(0, 80), 'x', body.length, { mode: 0o644 }), body, pad(body.length));
  }
  const mode = e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644);
  // Long names and targets are cut to the 100-byte fields; readers take the PAX records instead.
  parts.push(header(name, TYPEFLAG[e.type], e.headerSize ?? size, { ...e, mode }));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** The zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): Buffer {
  return pad(size);
}

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(1024);

/**
 * A regular file's tar entry read from an open descriptor, in chunks of at most 1 MiB: header,
 * content, padding. A file that shrinks while it is read is padded with zeros to the size the
 * header announced, so the archive stays well-formed. Closes nothing: the caller owns `fd`.
 */
export function* fileEntry(e: Omit<TarEntry, 'type' | 'data'>, fd: number): Generator<Buffer> {
  const size = fs.fstatSync(fd).size;
  yield tarHeader({ ...e, type: 'file' }, size);
  let left = size;
  while (left > 0) {
    const buf = Buffer.allocUnsafe(Math.min(left, 1 << 20));
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n <= 0) { yield Buffer.alloc(left); break; }
    yield buf.subarray(0, n);
    left -= n;
  }
  yield tarPadding(size);
}

export class TarWriter {
  private readonly parts: Buffer[] = [];

  add(e: TarEntry): this {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const size = e.type === 'file' ? data.length : 0;
    this.parts.push(tarHeader(e, size));
    if (e.type === 'file' && data.length) this.parts.push(data, pad(data.length));
    return this;
  }

  /** Raw bytes appended as they are (for forging corrupt archives in tests). */
  raw(bytes: Uint8Array): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }

  /** The archive, closed by two zero blocks. */
  finish(): Buffer {
    return Buffer.concat([...this.parts, Buffer.alloc(1024)]);
  }
}
