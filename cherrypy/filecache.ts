/**
 * Small static files, kept in memory and checked against the disk on every use.
 *
 * Every request still stats its file; when the file's identity (inode, size,
 * modification and change times) is what it was, the bytes and the header
 * values (ETag, Last-Modified, Content-Type) are reused, sparing the open,
 * read and close a stream needs. A file that changes gets a new entry on the
 * next request. Only files up to 256 KiB are kept, 32 MiB in all; the oldest
 * entry makes room.
 */
import { readFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';

const MAX_FILE = 256 * 1024;
const MAX_TOTAL = 32 * 1024 * 1024;

export interface CachedFile {
  /** What identifies this version of the file: inode, size, modification and change times. */
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  etag: string;
  lastModified: string;
  /** Last-Modified as a number (whole seconds), for date comparisons. */
  mtime: number;
  /** The file's bytes, once read (small files only). */
  bytes?: Buffer;
  /** Its Content-Type, once worked out, and the content_types setting it was worked out with. */
  type?: { value: string; for: object };
}

const entries = new Map<string, CachedFile>();
let total = 0;

/** The header values for `file` as `stats` describe it, made once per version of the file. */
export function describe(file: string, stats: Stats): CachedFile {
  const known = entries.get(file);
  if (known && known.ino === stats.ino && known.size === stats.size && known.mtimeMs === stats.mtimeMs && known.ctimeMs === stats.ctimeMs) return known;
  if (known?.bytes) total -= known.bytes.length;
  const mtime = Math.floor(stats.mtimeMs / 1000) * 1000; // HTTP dates have whole seconds
  const entry: CachedFile = {
    ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs,
    etag: `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`,
    lastModified: new Date(mtime).toUTCString(),
    mtime,
  };
  entries.delete(file);
  entries.set(file, entry);
  return entry;
}

/** The bytes of a small file (read on first use), or undefined for a file to stream. */
export async function smallFileBytes(file: string, entry: CachedFile, size: number): Promise<Buffer | undefined> {
  if (size > MAX_FILE) return undefined;
  if (entry.bytes) return entry.bytes;
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return undefined; // gone meanwhile: the stream will report it
  }
  if (bytes.length !== size) return bytes; // changed while we read: serve it, keep nothing
  for (const [name, other] of entries) {
    if (total + bytes.length <= MAX_TOTAL) break;
    if (other.bytes) {
      total -= other.bytes.length;
      other.bytes = undefined;
    }
    if (name !== file) entries.delete(name);
  }
  if (entries.get(file) === entry) {
    entry.bytes = bytes;
    total += bytes.length;
  }
  return bytes;
}
