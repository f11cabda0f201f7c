/**
 * Request bodies, in two steps.
 *
 * 1. `receiveBody` (called by the server, before the request takes a slot of
 *    `server.thread_pool`): the bytes of a POST, PUT or PATCH body are read
 *    into memory while the request holds no slot, so slow uploads never block
 *    the handlers of other requests. What a body may cost is bounded:
 *      - a Content-Length over `server.max_request_body_size` (or over
 *        `server.max_buffered_body_size`, which it could never fit) -> 413
 *        before a byte is read (and, to a client that sent `Expect:
 *        100-continue`, instead of the 100: server.ts); a chunked body that
 *        grows over it -> 413 as it does;
 *      - fewer than `server.min_body_rate` bytes per second over each
 *        `server.socket_timeout` window (nothing at all included) -> 408;
 *      - all bodies being received, or kept by requests not yet over
 *        (queued for a slot, or being handled; in memory, or an upload's
 *        temporary files), may hold at most
 *        `server.max_buffered_body_size` bytes (its default fits the
 *        process's memory: memory.ts); the one that would pass it -> 503
 *        with Retry-After, before a byte is read if its Content-Length
 *        already would (instead of the 100, as above). (Counting only
 *        those being received let bodies pile up in the queue while every
 *        slot was busy: 40 of 10 MiB grew the process to 889 MB under the
 *        256 MiB limit.)
 *      - a urlencoded form (`application/x-www-form-urlencoded`) over
 *        `server.urlencoded_max_size` (1 MiB) -> 413 in the same way: it is
 *        parsed whole, at once, and its parsing blocks the process (a 50 MiB
 *        form of tiny fields took 4 s and a gigabyte).
 *    A failure is remembered and answered by the pipeline as any error is.
 * 2. `readBody` (called by the pipeline once the handler is known, or first
 *    by tools.json_in, which then parses the JSON: tools/json.ts):
 *      - no Content-Length and no Transfer-Encoding -> 411 (as CherryPy);
 *      - `application/x-www-form-urlencoded` fills `request.params`; more
 *        than `server.urlencoded_max_fields` fields -> 413 before parsing
 *        (the count, not the size, is what parsing costs most).
 * The raw bytes stay in `request.body`; a multipart/form-data body is never
 * held whole: its fields go to `request.params`, its files to `request.files`
 * (multipart.ts), and `request.body` is empty.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MultipartReceiver, removeAll, type Multipart } from './multipart.ts';
import { HTTPError } from './errors.ts';
import { bag } from './bag.ts';
import { Roster } from './roster.ts';
import { addAll, isNamed, rawHeader, type Request } from './request.ts';
import type { Settings } from './config.ts';

/** The request's media type, lower-cased, without parameters (`application/json`); read without making node build `req.headers`. */
export function mediaType(req: IncomingMessage): string {
  const value = rawHeader(req, 'content-type');
  if (value === undefined) return '';
  const semicolon = value.indexOf(';');
  return (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

/** POST, PUT and PATCH: the methods whose body is read before the handler runs. */
export function takesBody(method: string | undefined): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

/** Does this request announce a body (a non-zero length, or a transfer coding)? */
export function announcesBody(req: IncomingMessage): boolean {
  // One pass for both names (every response asks, for a body nobody read): told apart by their lengths.
  const list = req.rawHeaders;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (name.length === 14 ? isNamed(name, 'content-length') && list[i + 1] !== '0' : name.length === 17 && isNamed(name, 'transfer-encoding')) return true;
  }
  return false;
}

/** The parts of node's IncomingMessage that its `optimizeEmptyRequests` sets (lib/_http_incoming.js). */
type EndableRequest = IncomingMessage & {
  _dumped: boolean;
  _readableState: { ended: boolean; endEmitted: boolean; destroyed: boolean; closed: boolean; closeEmitted: boolean };
  _read(): void;
};

/**
 * Ends the stream of `req`, a request without a body (server.ts asks): it is
 * over once its headers are, and node then spends no 'end' and 'close' events
 * (and the ticks that deliver them) on an empty stream. Node 24.12 and later
 * do this themselves (server.ts sets `optimizeEmptyRequests`); for older
 * versions the same flags are set here, as node's own `_dumpAndCloseReadable`
 * sets them: `GET /` was 10-14% faster for it on Node 20, and 7-11% on Node 24
 * with the option. Either way a GET's `cherrypy.request.raw` is already ended and emits no
 * events; `res.on('close')` is where to see a client leave.
 */
export function endEmptyRequest(req: IncomingMessage): void {
  const message = req as EndableRequest;
  message._dumped = true;
  const state = message._readableState;
  state.ended = true;
  state.endEmitted = true;
  state.destroyed = true;
  state.closed = true;
  state.closeEmitted = true;
  message._read(); // as node does after it: the socket flows on to the next request
}

const URLENCODED = 'application/x-www-form-urlencoded';
const AMPERSAND = 0x26;

/** The largest body any request may send: one that could never fit max_buffered_body_size is refused as too large (413), not as a busy moment (503). */
function bodyMost(settings: Settings): number {
  return Math.min(settings['server.max_request_body_size'], settings['server.max_buffered_body_size']);
}

/** The most bytes a body of this media type may have: a urlencoded form has a smaller limit of its own. */
function sizeLimit(type: string, settings: Settings): number {
  const most = bodyMost(settings);
  return type === URLENCODED ? Math.min(most, settings['server.urlencoded_max_size']) : most;
}

/** The body's length as its Content-Length announces it (node has checked the header), or 0 for a chunked body. */
function announcedLength(req: IncomingMessage): number {
  const length = rawHeader(req, 'content-length');
  return length === undefined ? 0 : Number(length);
}

/** Is `req`'s body being received? False when it was refused before a byte was read (413, 503): a client that sent `Expect: 100-continue` is then not told to send it. */
export function bodyWelcome(req: IncomingMessage): boolean {
  return (req as Receiving)[RECEIVER] !== undefined;
}

/** The 413 for a body over `limit` bytes, naming the form's own limit when that was the one. */
function tooLarge(limit: number, settings: Settings): HTTPError {
  return new HTTPError(413, limit < bodyMost(settings) ? `The form exceeds server.urlencoded_max_size (${limit} bytes)`
    : `The request body exceeds the maximum allowed size (${limit} bytes)`);
}

/** What receiveBody got, kept on the request: the bytes, an upload's parts, or why there are none. */
const RECEIVED = Symbol('received body');
const RECEIVER = Symbol('body receiver');
type Receiving = IncomingMessage & { [RECEIVED]?: Buffer | Multipart | HTTPError; [RECEIVER]?: BodyReceiver };

function keep(req: IncomingMessage, got: Buffer | Multipart | HTTPError): void {
  (req as Receiving)[RECEIVED] = got;
}
/** Bytes held right now by bodies being received or kept by their requests, across all requests. */
let buffered = 0;

/**
 * Reads `req`'s body within the limits above, then calls `done` (once, also
 * when it failed: the failure is answered later, by `readBody`). A multipart
 * body is parsed as it arrives (multipart.ts); its temporary files are
 * removed when `res` is over.
 */
export function receiveBody(req: IncomingMessage, res: ServerResponse, settings: Settings, done: () => void): void {
  const type = mediaType(req);
  const limit = sizeLimit(type, settings);
  const announced = announcedLength(req);
  if (announced > limit) {
    keep(req, tooLarge(limit, settings));
    return done();
  }
  // A body announced too large for the room left now is refused before it is sent. It is
  // counted only as it arrives: counting it at once would let a client that announces much
  // and sends little hold the room for nothing.
  if (buffered + announced > settings['server.max_buffered_body_size']) {
    keep(req, busy());
    return done();
  }
  let upload: MultipartReceiver | undefined;
  if (type === 'multipart/form-data') {
    try {
      upload = new MultipartReceiver(req, settings);
    } catch (err) {
      keep(req, err as HTTPError);
      return done();
    }
  }
  new BodyReceiver(req, res, settings, limit, upload, done);
}

function busy(): HTTPError {
  return new HTTPError(503, 'Server busy: the request bodies held are at their limit. Try again shortly.', { 'Retry-After': '1' });
}

/** Called by the server once a request that came with a body is over: its bytes no longer count against the limit. */
export function releaseBody(req: IncomingMessage): void {
  (req as Receiving)[RECEIVER]?.requestOver();
}

/**
 * One body being received. A class rather than closures: under tsx every
 * named function made per request costs a property definition (esbuild's
 * keepNames), and a POST should not pay for five of them.
 */
class BodyReceiver implements Watched {
  due: number;
  atLastCheck = 0;
  place = -1;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private finished = false;
  /** What of this body stays counted in `buffered` once received, until its request is over. */
  private held = 0;
  private over = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly settings: Settings,
    private readonly limit: number,
    private readonly upload: MultipartReceiver | undefined,
    private readonly done: () => void,
  ) {
    this.due = Date.now() + settings['server.socket_timeout'] * 1000;
    watched.add(this);
    startWatching();
    // An upload that fails part-way (too many parts, a field too large) is answered without reading
    // the rest; one that succeeds settles only after end() (onEnd).
    upload?.result.then((parts) => this.uploaded(parts), (err: HTTPError) => this.finish(err));
    // A client that goes away makes the request emit 'error' (and 'aborted'); events after the
    // finish are ignored (`finished`), so the listeners need no removing.
    req.on('data', (chunk: Buffer) => this.onData(chunk)).on('end', () => this.onEnd()).on('error', () => this.onAborted());
    (req as Receiving)[RECEIVER] = this;
  }

  /** Called by the watcher every socket_timeout: at least min_body_rate bytes per second since the last check, or 408. */
  check(): void {
    const { settings } = this;
    const window = settings['server.socket_timeout'];
    if (this.size - this.atLastCheck < settings['server.min_body_rate'] * window || this.size === this.atLastCheck) {
      return this.finish(new HTTPError(408, `The request body arrived too slowly (under ${settings['server.min_body_rate']} bytes/s for ${window} s)`));
    }
    this.atLastCheck = this.size;
    this.due += window * 1000;
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.size += chunk.length;
    buffered += chunk.length;
    if (this.size > this.limit) return this.finish(tooLarge(this.limit, this.settings));
    if (buffered > this.settings['server.max_buffered_body_size']) return this.finish(busy());
    if (this.upload) this.upload.write(chunk);
    else this.chunks.push(chunk);
  }

  private onEnd(): void {
    if (this.upload) this.upload.end();
    else this.finish();
  }

  private uploaded(parts: Multipart): void {
    if (parts.temporary.length) this.res.once('close', () => void removeAll(parts.temporary));
    this.finish(undefined, parts);
  }

  private onAborted(): void {
    this.finish(new HTTPError(400, 'The client closed the connection while sending the body'));
  }

  /** The request is over (answered, or its client gone): what it kept is free (releaseBody). */
  requestOver(): void {
    this.over = true;
    buffered -= this.held;
    this.held = 0;
  }

  private finish(err?: HTTPError, parts?: Multipart): void {
    if (this.finished) return;
    this.finished = true;
    watched.remove(this);
    // Kept whole, in memory or (an upload's larger files) on disk, until the request is over.
    this.held = err || this.over ? 0 : this.size;
    buffered -= this.size - this.held;
    const { req } = this;
    if (err) {
      req.pause();
      this.upload?.abort();
    }
    keep(req, err ?? parts ?? (this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size)));
    this.done();
  }
}

/**
 * Bodies being received, checked for their rate by one timer for all of them
 * (a timer per request would cost every POST a timer to set and clear; most
 * bodies arrive whole before the first check).
 */
interface Watched { due: number; atLastCheck: number; place: number; check(): void }
const watched = new Roster<Watched>();
/** How often the rate of the bodies in flight is looked at (each against its own socket_timeout window). */
const WATCH_MS = 100;
let watcher: NodeJS.Timeout | undefined;

function startWatching(): void {
  if (watcher) return;
  watcher = setInterval(() => {
    if (watched.size === 0) {
      clearInterval(watcher);
      watcher = undefined;
      return;
    }
    const now = Date.now();
    watched.forEachRemovable((body) => body.due <= now && body.check());
  }, WATCH_MS);
  watcher.unref();
}

/** Fills request.body (and params or json) from what receiveBody got; throws the HTTP error to answer. */
export function readBody(request: Request): void {
  if (request.body !== undefined) return; // read already (json_in reads it first)
  const raw = request.raw;
  const got = (raw as Receiving)[RECEIVED];
  if (got instanceof HTTPError) throw got;
  if (got === undefined && rawHeader(raw, 'content-length') === undefined && rawHeader(raw, 'transfer-encoding') === undefined) {
    throw new HTTPError(411, 'A request body needs a Content-Length or Transfer-Encoding header');
  }
  if (got !== undefined && !Buffer.isBuffer(got)) {
    // An upload: its fields and files were parsed as it arrived.
    request.body = Buffer.alloc(0);
    request.bodyParams = got.fields;
    request.files = got.files;
    return;
  }
  request.body = got ?? Buffer.alloc(0);
  parseBody(request);
}

function parseBody(request: Request): void {
  if (mediaType(request.raw) !== URLENCODED) return;
  const body = request.body!;
  const most = request.config['server.urlencoded_max_fields'];
  // Counted before parsing: a million one-byte fields cost URLSearchParams seconds.
  for (let fields = 1, at = body.indexOf(AMPERSAND); at >= 0; at = body.indexOf(AMPERSAND, at + 1)) {
    if (++fields > most) throw new HTTPError(413, `The form has more than server.urlencoded_max_fields (${most}) fields`);
  }
  request.bodyParams = addAll(bag(), new URLSearchParams(body.toString('utf8')));
}
