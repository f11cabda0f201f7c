/**
 * The staticfile and staticdir tools: files from disk, served safely.
 *
 * Both answer GET and HEAD only; other methods, and files that do not exist,
 * fall through to the dispatcher (so a handler can still answer), as in CherryPy.
 *
 * staticdir maps the part of the path below the section that declared
 * `tools.staticdir.dir` onto that folder. It is stricter than CherryPy's:
 *  - the path is decoded once (by the pipeline); a segment that decodes to a
 *    separator (`%2F`, `%5C`) or contains a backslash is a 400, so routing and
 *    the file system never disagree on where a segment ends;
 *  - a `..` segment is a 403, and the resolved file must lie under
 *    `dir + separator` (CherryPy's plain prefix check lets `/static/../static2/x`
 *    through), also after following symlinks (realpath);
 *  - dotfiles and dot-folders (`.env`, `.git/config`) are hidden (404);
 *  - a folder is never listed: with `index` set, `/dir/` serves the index file
 *    and `/dir` is redirected to `/dir/` so the page's relative links work;
 *    without `index`, it falls through (404).
 *
 * A served file gets Content-Type (mime.ts), Content-Length, Last-Modified, a
 * strong ETag and Accept-Ranges; If-None-Match / If-Modified-Since (compared as
 * dates) give 304, If-Match / If-Unmodified-Since 412, a byte Range 206 (with
 * several ranges, a multipart/byteranges body: overlapping ranges are merged,
 * and more than MAX_RANGES get the whole file) and an unsatisfiable one 416.
 * The body is streamed from disk by the pipeline (FileBody).
 */
import { realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { HTTPError, HTTPRedirect } from './errors.ts';
import { contentType } from './mime.ts';
import { describe, smallFileBytes } from './filecache.ts';
import type { Request, Response } from './request.ts';
import { debug } from './debug.ts';

/** Not served, and why (NODE_DEBUG=cherrypy): the request falls through to the handler. */
function fallThrough(why: string, request: Request): undefined {
  debug('static: %s: %s', why, request.path);
  return undefined;
}

/**
 * A file as the response body: bytes start..end inclusive, from memory when
 * the file is small (filecache.ts), else streamed from disk. A class, so no
 * JSON value a handler returns can pass for one.
 */
export class FileBody {
  constructor(
    readonly file: string, readonly start: number, readonly end: number, readonly bytes?: Buffer,
    /** For several ranges: the multipart/byteranges body, as text and file ranges in order. */
    readonly pieces?: (string | ByteRange)[],
  ) {}
}

export interface ByteRange { start: number; end: number }

/** More ranges than this in one request: the header is ignored and the whole file sent (no amplification). */
const MAX_RANGES = 16;

const realRoots = new Map<string, Promise<string>>();

function realRoot(dir: string): Promise<string> {
  let real = realRoots.get(dir);
  if (!real) {
    real = realpath(dir);
    realRoots.set(dir, real);
    real.catch(() => realRoots.delete(dir)); // retry next time: the folder may appear later
  }
  return real;
}

async function statFile(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch {
    return undefined; // missing, not a folder, name too long...: all fall through
  }
}

/** staticfile: `filename` is absolute (config.ts resolved it). */
export async function serveStaticFile(request: Request, response: Response): Promise<FileBody | null | undefined> {
  const settings = request.config;
  const file = settings['tools.staticfile.filename'];
  const stats = await statFile(file);
  if (!stats?.isFile()) return undefined;
  return sendFile(request, response, file, stats, settings['tools.staticfile.content_types']);
}

/** staticdir: `branch` is the decoded segments below the declaring section. */
export async function serveStaticDir(request: Request, response: Response, branch: string[]): Promise<FileBody | null | undefined> {
  const settings = request.config;
  const dir = settings['tools.staticdir.dir'];
  for (const segment of branch) {
    if (segment.includes('/') || segment.includes('\\')) throw new HTTPError(400, 'Bad path: encoded separators are not allowed here');
    if (segment === '..') throw new HTTPError(403, 'Forbidden path');
    if (segment.startsWith('.')) return fallThrough('a dotfile is hidden', request); // dotfiles are not served
  }
  const file = resolve(dir, ...branch);
  if (file !== dir && !file.startsWith(dir + sep)) throw new HTTPError(403, 'Forbidden path');

  let real: string, root: string;
  try {
    [real, root] = await Promise.all([realpath(file), realRoot(dir)]);
  } catch {
    return undefined;
  }
  if (real !== root && !real.startsWith(root + sep)) return fallThrough('a symlink leads out of the folder', request);
  let stats = await statFile(real);
  if (!stats) return undefined;
  let target = real;
  if (stats.isDirectory()) {
    const index = settings['tools.staticdir.index'];
    if (!index) return fallThrough('a folder without tools.staticdir.index is never listed', request);
    if (!request.path.endsWith('/')) {
      throw new HTTPRedirect(request.path + '/' + (request.query_string ? '?' + request.query_string : ''), 301);
    }
    // The index file passes the same check as any file: a symlink leading out is not served.
    try {
      target = await realpath(join(real, index));
    } catch {
      return undefined;
    }
    if (!target.startsWith(root + sep)) return fallThrough('the index file is a symlink leading out of the folder', request);
    stats = await statFile(target);
    if (!stats) return undefined;
  }
  if (!stats.isFile()) return undefined;
  return sendFile(request, response, target, stats, settings['tools.staticdir.content_types']);
}

/** Sets the headers for `file` and decides full, partial, 304, 412 or 416. null = no body. */
async function sendFile(request: Request, response: Response, file: string, stats: Stats, types: Record<string, string>): Promise<FileBody | null> {
  const size = stats.size;
  const entry = describe(file, stats);
  const { etag, lastModified, mtime } = entry;
  const h = request.headers;

  // Preconditions (RFC 9110 §13.2.2): If-Match, else If-Unmodified-Since; then If-None-Match, else If-Modified-Since.
  const ifMatch = h['if-match'];
  if (ifMatch !== undefined ? !etagListMatches(ifMatch, etag, true) : isAfter(mtime, h['if-unmodified-since'])) {
    throw new HTTPError(412);
  }
  const ifNoneMatch = h['if-none-match'];
  const notModified = ifNoneMatch !== undefined
    ? etagListMatches(ifNoneMatch, etag, false)
    : isAtOrBefore(mtime, h['if-modified-since']);

  const headers = response.headers;
  headers['ETag'] = etag;
  headers['Last-Modified'] = lastModified;
  if (notModified) {
    response.status = 304;
    return null;
  }
  // Worked out once per version of the file (and content_types setting), as the ETag is.
  if (entry.type?.for !== types) entry.type = { value: contentType(file, types), for: types };
  headers['Content-Type'] = entry.type.value;
  headers['Accept-Ranges'] = 'bytes';

  let start = 0, end = size - 1;
  let pieces: (string | ByteRange)[] | undefined;
  const range = h.range;
  const ifRange = h['if-range'];
  if (range !== undefined && request.method === 'GET' && (ifRange === undefined || ifRange === etag || ifRange === lastModified)) {
    const parsed = parseRanges(range, size);
    if (parsed === 'unsatisfiable') {
      throw new HTTPError(416, 'Requested range not satisfiable', { 'Content-Range': `bytes */${size}` });
    }
    if (parsed?.length === 1) {
      ({ start, end } = parsed[0]!);
      response.status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    } else if (parsed) {
      response.status = 206;
      pieces = byteranges(parsed, headers['Content-Type'], size);
      headers['Content-Type'] = `multipart/byteranges; boundary=${BOUNDARY}`;
    }
  }
  const length = pieces ? pieces.reduce((n, piece) => n + (typeof piece === 'string' ? piece.length : piece.end - piece.start + 1), 0) : end - start + 1;
  headers['Content-Length'] = String(length);
  const bytes = request.method === 'HEAD' ? undefined : await smallFileBytes(file, entry, size);
  return new FileBody(file, start, end, bytes, pieces);
}

/** The multipart/byteranges boundary: fixed, as a part never contains a line starting with it plus CRLF in its headers. */
const BOUNDARY = 'CHERRYPY_TS_BYTERANGES_3d6b2c1e';

/** The parts of a multipart/byteranges body (RFC 9110 §14.6): a header block before each range, a closing line after. */
function byteranges(ranges: ByteRange[], type: string | string[] | undefined, size: number): (string | ByteRange)[] {
  const pieces: (string | ByteRange)[] = [];
  for (const range of ranges) {
    pieces.push(`\r\n--${BOUNDARY}\r\nContent-Type: ${String(type)}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`, range);
  }
  pieces.push(`\r\n--${BOUNDARY}--\r\n`);
  return pieces;
}

function etagListMatches(header: string, etag: string, strong: boolean): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    if (strong) return tag === etag;
    return (tag.startsWith('W/') ? tag.slice(2) : tag) === etag;
  });
}

/** Compares `mtime` with the HTTP date in `header`; an absent or unreadable date is "no" to both. */
function isAfter(mtime: number, header: string | undefined): boolean {
  const date = header === undefined ? NaN : Date.parse(header);
  return !Number.isNaN(date) && mtime > date;
}

function isAtOrBefore(mtime: number, header: string | undefined): boolean {
  const date = header === undefined ? NaN : Date.parse(header);
  return !Number.isNaN(date) && mtime <= date;
}

/**
 * The satisfiable ranges of a `bytes=` header, sorted, with overlapping and
 * adjacent ones merged (so the answer is never longer than the file: `0-,0-,0-`
 * is one range); 'unsatisfiable' when none is; undefined to ignore the header
 * (bad syntax, or more than MAX_RANGES ranges).
 */
function parseRanges(header: string, size: number): ByteRange[] | 'unsatisfiable' | undefined {
  const text = header.trim();
  if (!text.startsWith('bytes=')) return undefined;
  const specs = text.slice(6).split(',');
  if (specs.length > MAX_RANGES) return undefined;
  const ranges: ByteRange[] = [];
  for (const spec of specs) {
    const match = /^\s*(\d*)-(\d*)\s*$/.exec(spec);
    if (!match || (match[1] === '' && match[2] === '')) return undefined;
    let start: number, end: number;
    if (match[1] === '') {
      const suffix = Number(match[2]);
      if (suffix === 0) continue; // unsatisfiable
      start = Math.max(0, size - suffix);
      end = size - 1;
    } else {
      start = Number(match[1]);
      end = match[2] === '' ? Infinity : Number(match[2]);
      if (end < start) return undefined; // "5-2" is invalid syntax: ignore the header
      end = Math.min(end, size - 1);
    }
    if (start < size) ranges.push({ start, end });
  }
  if (ranges.length === 0) return 'unsatisfiable';
  ranges.sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [ranges[0]!];
  for (const range of ranges.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (range.start <= last.end + 1) last.end = Math.max(last.end, range.end);
    else merged.push(range);
  }
  return merged;
}
