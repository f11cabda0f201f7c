/**
 * The response side: what a handler returned becomes HTTP (`send`), and any
 * error becomes an error response (`fail`, the one place where that happens).
 *
 *   string            -> UTF-8, `text/html;charset=utf-8` unless the handler set a type
 *   Buffer/Uint8Array -> sent as is (`application/octet-stream` unless set)
 *   null/undefined    -> empty 200
 *   plain object, array, number, boolean -> JSON (`application/json`)
 *   iterable, async iterable, Readable   -> streamed (chunked), items string or bytes
 *   FileBody (static.ts)                 -> from memory or streamed from disk
 *
 * HEAD gets the same status and headers, Content-Length included, and no body.
 * When the gzip tool ran, compression happens here; once shutdown began, every
 * response says `Connection: close`. A stream that fails half-way cannot change
 * its status any more: the error is logged and the connection cut, so the
 * client sees a truncated response rather than a wrong one. Streams are
 * destroyed when the client goes away, so an aborted download frees its file
 * descriptor.
 *
 * Errors: HTTPRedirect -> its status, Location and CherryPy's short note with
 * a link; HTTPError -> its status and a small HTML page (or the path's
 * `error_page.NNN` / `error_page.default`); anything else -> 500, logged with
 * its stack (shown in the page outside production). The before_error_response
 * and after_error_response hooks run around it, and failsafe tools
 * (response_headers) apply to error responses too.
 */
import { Buffer } from 'node:buffer'; // a module binding: cheaper to reach per response than the global
import { createReadStream, readFileSync } from 'node:fs';
import { Readable, pipeline, type Transform } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { inContext, Response, type Context, type Request } from './request.ts';
import { FileBody } from './static.ts';
import { compressing, wantsGzip } from './tools/gzip.ts';
import { HTTPError, HTTPRedirect, describeError, errorPage, escapeHtml, reasonPhrase } from './errors.ts';
import { runHooks } from './hooks.ts';
import { lingerAfterResponse } from './linger.ts';
import { announcesBody } from './body.ts';
import { canonicalName } from './headers.ts';
import type { Exchange } from './exchange.ts';

const HTML = 'text/html;charset=utf-8';

/**
 * Files from disk being sent now, by every server of the process: they take
 * the process's memory, so server.max_file_streams bounds them all together,
 * as body.ts bounds the bodies being received.
 */
let fileStreams = 0;

function isStream(body: object): body is Iterable<unknown> | AsyncIterable<unknown> {
  if (Array.isArray(body)) return false;
  return body instanceof Readable || Symbol.asyncIterator in body || Symbol.iterator in body;
}

/** The response headers with their wire names (headers.ts): the handler may have written any case. */
function headerObject(response: Response): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!response.hasHeaders) return out;
  const headers = response.headers;
  for (const name in headers) out[canonicalName(name)] = headers[name]!;
  return out;
}

/** `text/plain` -> `text/plain;charset=utf-8`: the text a handler returns is sent as UTF-8, and says so (as CherryPy). */
function withCharset(type: string | string[] | undefined): string | string[] | undefined {
  if (type === HTML) return type; // error pages and most handlers' own: no need to look
  return typeof type === 'string' && type.startsWith('text/') && !/;\s*charset=/i.test(type) ? type + ';charset=utf-8' : type;
}

function hasUnreadBody(request: Request): boolean {
  return !request.raw.complete && request.body === undefined && announcesBody(request.raw);
}

/**
 * The commonest answer, a page from a handler that set nothing (no header, no
 * cookie, no tool, status 200): its two headers are known and made in one go.
 * False when the page needs send's general way.
 */
function sentAsPage(ex: Exchange, body: string): boolean {
  const { request, response, res } = ex;
  if (response.status !== 200 || !response.isBare || !ex.plan.empty || ex.host.draining || request.method === 'HEAD' || hasUnreadBody(request)) return false;
  const length = String(Buffer.byteLength(body));
  ex.sentLength = length;
  res.writeHead(200, { 'Content-Type': HTML, 'Content-Length': length });
  endWith(ex, body);
  return true;
}

/** Ends the response with its whole body; a client that stops reading a large one is cut after socket_timeout, freeing the buffered bytes. */
function endWith(ex: Exchange, payload: Buffer | string | undefined): void {
  const { res } = ex;
  res.end(payload);
  // Only a large body is worth the stall cut: its length is tested before writableFinished, a getter that reaches into the socket.
  if (payload !== undefined && payload.length > 65536 && !res.writableFinished) cutWhenStalled(ex);
}

export function send(ex: Exchange, body: unknown): void {
  const { host, request, response, res } = ex;
  // A response the server already gave for it (response.timeout) is not followed by the handler's, late.
  if (res.destroyed || (ex.abandoned && res.headersSent)) return;
  if (typeof body === 'string' && sentAsPage(ex, body)) return;
  const headers = headerObject(response);
  const cookies = response.setCookies;
  if (cookies) {
    const set = headers['Set-Cookie'];
    // One cookie (a session's) as a plain value: node handles a string header faster than a list.
    headers['Set-Cookie'] = set !== undefined ? [set, cookies].flat() : cookies.length === 1 ? cookies[0]! : cookies;
  }
  if (host.draining) headers['Connection'] = 'close';
  else if (hasUnreadBody(request)) {
    // A body nobody read (an early error) cannot be skipped safely: close after the answer, lingering.
    headers['Connection'] = 'close';
    lingerAfterResponse(request.raw);
  }

  let payload: Buffer | string | undefined;
  let stream: Readable | undefined;
  let fromDisk = false;
  if (typeof body === 'string') {
    payload = body;
    headers['Content-Type'] = withCharset(headers['Content-Type']) ?? HTML;
  } else if (body === null || body === undefined) {
    payload = undefined;
  } else if (body instanceof Uint8Array) {
    payload = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    headers['Content-Type'] ??= 'application/octet-stream';
  } else if (body instanceof FileBody) {
    fromDisk = true;
    if (body.pieces) {
      const { bytes, file, pieces } = body;
      if (bytes) payload = Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : bytes.subarray(p.start, p.end + 1))));
      else if (request.method !== 'HEAD') stream = Readable.from(byteranges(file, pieces));
    } else if (body.bytes) payload = body.start === 0 && body.end === body.bytes.length - 1 ? body.bytes : body.bytes.subarray(body.start, body.end + 1);
    else if (body.end >= body.start && request.method !== 'HEAD') stream = createReadStream(body.file, { start: body.start, end: body.end });
  } else if (isStream(body)) {
    stream = body instanceof Readable ? body : Readable.from(toBytes(body, ex));
    headers['Content-Type'] = withCharset(headers['Content-Type']) ?? HTML;
  } else {
    payload = JSON.stringify(body);
    headers['Content-Type'] ??= 'application/json';
  }

  const status = response.status;
  if (!(status >= 200 && status <= 599 && Number.isInteger(status))) {
    stream?.destroy();
    throw new Error(`response.status must be a whole number from 200 to 599, got ${String(status)}`);
  }
  let gzip: Transform | undefined;
  // Files go out as they are on disk: their Content-Length is already set.
  // Error pages are never refused with a 406 (that would be an error about an error).
  if (!ex.plan.empty && compressing(response) && ((payload !== undefined && payload.length > 0) || stream) && !fromDisk && wantsGzip(request, headers, status < 400)) {
    const level = request.config['tools.gzip.compress_level'];
    if (payload !== undefined) payload = gzipSync(payload, { level });
    else gzip = createGzip({ level });
    headers['Content-Encoding'] = 'gzip';
    delete headers['Content-Length']; // a handler's length was for the uncompressed bytes
  }
  if (!stream && status !== 304 && status !== 204) {
    const length = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    const declared = headers['Content-Length'];
    if (declared === undefined) headers['Content-Length'] = String(length);
    else if (Number(declared) !== length && request.method !== 'HEAD') {
      // Sending another number of bytes than declared would desynchronise the connection.
      throw new Error(`the handler set Content-Length: ${String(declared)} but the body has ${length} bytes`);
    }
  }
  // Files from disk being sent at once are bounded: a client reading one slowly holds ~150 KB (memory.ts).
  const countedFile = fromDisk && stream !== undefined;
  if (countedFile && fileStreams >= request.config['server.max_file_streams']) {
    stream!.destroy();
    throw new HTTPError(503, 'Server busy: too many files are being sent. Try again shortly.', { 'Retry-After': '1' });
  }
  ex.sentLength = headers['Content-Length'] as string | undefined;
  res.writeHead(status, headers);
  if (!stream || request.method === 'HEAD') {
    stream?.destroy();
    endWith(ex, request.method === 'HEAD' ? undefined : payload);
    return;
  }
  // A stream must end with the length it declared (a file that shrank, a handler's header): node checks it.
  res.strictContentLength = true;
  cutWhenStalled(ex);
  // Sending it runs no handler code, or only a generator's between its items: a stream holds no slot (events, a long export).
  ex.events = String(headers['Content-Type']).startsWith('text/event-stream');
  host.release(res);
  if (countedFile) fileStreams++;
  const ended = (err: NodeJS.ErrnoException | null | undefined) => {
    if (countedFile) fileStreams--;
    streamEnded(ex, err);
  };
  if (gzip) pipeline(stream, gzip, res, ended);
  else pipeline(stream, res, ended);
}

function streamEnded({ host, request }: Exchange, err: NodeJS.ErrnoException | null | undefined): void {
  if (err && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') {
    host.log.error(`${request.method} ${request.path}: response stream failed: ${err.stack ?? err.message}`);
  }
}

/**
 * Cuts the connection when the client reads nothing of the response for socket_timeout.
 * A stream with nothing to send meanwhile (events that come seldom) is not cut: the
 * timer starts again with its next write.
 */
function cutWhenStalled({ host, request, res }: Exchange): void {
  const seconds = request.config['server.socket_timeout'];
  res.setTimeout(seconds * 1000, () => {
    if (res.writableLength === 0) return;
    host.log.error(`${request.method} ${request.path}: the client read nothing for ${seconds} s; connection closed`);
    res.destroy();
  });
}

/** A multipart/byteranges body of a large file: each part's headers, then its bytes read from disk. */
async function* byteranges(file: string, pieces: NonNullable<FileBody['pieces']>): AsyncGenerator<Buffer | string> {
  for (const piece of pieces) {
    if (typeof piece === 'string') yield piece;
    else yield* createReadStream(file, { start: piece.start, end: piece.end });
  }
}

/**
 * Pulls the handler's items in its request's context (a generator's body runs
 * only now, long after the handler returned), and checks that they are
 * strings or bytes: anything else is a handler bug worth naming.
 */
async function* toBytes(items: Iterable<unknown> | AsyncIterable<unknown>, context: Context): AsyncGenerator<Buffer | string> {
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<unknown>)[Symbol.iterator]();
  try {
    for (;;) {
      const step = await (inContext(context, true, iterator.next, iterator, []) as IteratorResult<unknown> | Promise<IteratorResult<unknown>>);
      if (step.done) return;
      const item = step.value;
      if (typeof item === 'string' || item instanceof Uint8Array) yield item as Buffer | string;
      else throw new TypeError(`a streamed response yielded ${typeof item}; yield strings or bytes`);
    }
  } finally {
    await iterator.return?.(); // let the handler's finally blocks run when the client goes away
  }
}

/** The one place where errors become responses. */
export function fail(ex: Exchange, err: unknown): void {
  const { host, request, res } = ex;
  if (ex.abandoned && res.headersSent) {
    // Answered already when its time ran out; the connection goes on serving others, untouched.
    if (!(err instanceof HTTPError)) host.log.error(`${request.method} ${request.path}: failed after response.timeout: ${describeError(err)}`);
    return;
  }
  if (res.destroyed) {
    // The client is gone. Only a fault of the app is worth a line; a client's own (an aborted body) is not.
    if (!(err instanceof HTTPError)) host.log.error(`${request.method} ${request.path}: failed after the client left: ${describeError(err)}`);
    return;
  }
  if (res.headersSent) {
    // The status line is gone: all we can do is log and cut the connection.
    host.log.error(`${request.method} ${request.path}: failed after the response began: ${describeError(err)}`);
    res.destroy();
    return;
  }
  try {
    const before = runHooks(ex.plan.before_error_response, ex);
    if (before) before.then(() => respondWithError(ex, err)).catch((again: unknown) => failedAgain(ex, again));
    else respondWithError(ex, err);
  } catch (again) {
    failedAgain(ex, again);
  }
}

/** The error response itself could not go out (a bad header from a tool): cut the connection. */
function failedAgain({ host, request, res }: Exchange, again: unknown): void {
  host.log.error(`${request.method} ${request.path}: the error response failed too: ${describeError(again)}`);
  res.destroy();
}

function respondWithError(ex: Exchange, err: unknown): void {
  const { host, request, res } = ex;
  const settings = request.config;
  const fresh = new Response();
  fresh.adoptCookies(ex.response);
  ex.response = fresh;
  // A writeHead that failed on a bad header value left its status text behind: let node pick the new one.
  res.statusMessage = '';
  for (const { callback, args } of ex.plan.failsafe) callback(args, ex);
  let body: string | null;
  if (err instanceof HTTPRedirect) {
    fresh.status = err.status;
    fresh.headers['Location'] = err.location;
    // As CherryPy: a short note with a link; 304 and 305 carry no body.
    body = redirectNote(err.status, err.location);
    if (body !== null) fresh.headers['Content-Type'] = HTML;
    if (err.status === 304) delete fresh.headers['Location'];
  } else {
    let status = 500, message: string, traceback = '';
    if (err instanceof HTTPError) {
      status = err.status;
      message = err.message;
      Object.assign(fresh.headers, err.headers);
    } else {
      message = new HTTPError(500).message;
      host.log.error(`${request.method} ${request.path}: ${describeError(err)}`);
      if (settings['request.show_tracebacks']) traceback = describeError(err);
    }
    fresh.status = status;
    fresh.headers['Content-Type'] = HTML;
    body = customErrorPage(ex, status, message, traceback) ?? errorPageHeaders(fresh, message, status, traceback || undefined);
  }
  const after = runHooks(ex.plan.after_error_response, ex);
  if (after) after.then(() => send(ex, body), (again: unknown) => fail(ex, again));
  else send(ex, body);
}

/**
 * The path's `error_page.NNN` (or `error_page.default`), as in CherryPy: a
 * file whose `%(status)s`, `%(message)s`, `%(traceback)s` and `%(version)s`
 * are filled in, or a function given them. A page that fails is logged and
 * the built-in one is used.
 */
function customErrorPage(ex: Exchange, status: number, message: string, traceback: string): string | undefined {
  const settings = ex.request.config as unknown as Record<string, unknown>;
  const page = settings[errorPageKey(status)] ?? settings['error_page.default'];
  if (page === undefined) return undefined;
  const fields = { status: `${status} ${reasonPhrase(status)}`, message, traceback, version: VERSION };
  try {
    if (typeof page === 'function') return String(page(fields));
    return readFileSync(page as string, 'utf8').replace(/%\((status|message|traceback|version)\)s/g, (_, name: keyof typeof fields) => escapeHtml(fields[name]));
  } catch (err) {
    ex.host.log.error(`error_page for ${status} failed: ${describeError(err)}`);
    return undefined;
  }
}

/** `error_page.404`, made once per status: a key built per request is looked up in V8's string table every time. */
const errorPageKeys: string[] = [];
function errorPageKey(status: number): string {
  return (errorPageKeys[status] ??= `error_page.${status}`);
}

/** What `%(version)s` says in an error page. */
const VERSION = 'cherrypy-ts';

const REDIRECT_NOTES: Record<number, string> = {
  300: 'This resource can be found at ',
  301: 'This resource has permanently moved to ',
  302: 'This resource resides temporarily at ',
  303: 'This resource can be found at ',
  307: 'This resource has moved temporarily to ',
  308: 'This resource has been moved to ',
};

/** CherryPy's body for a redirect: "... <a href="/next">/next</a>."; null for statuses that carry none. */
function redirectNote(status: number, location: string): string | null {
  const note = REDIRECT_NOTES[status];
  return note === undefined ? null : `${note}<a href="${escapeHtml(location)}">${escapeHtml(location)}</a>.`;
}

function errorPageHeaders(response: Response, message: string, status: number, traceback?: string): string {
  // The page is ours, never a document of the app: forbid scripts and sniffing.
  response.headers['Content-Security-Policy'] = "default-src 'none'";
  response.headers['X-Content-Type-Options'] = 'nosniff';
  return errorPage(status, message, traceback);
}
