/**
 * Errors as values.
 *
 * Handlers and tools never write error responses themselves: they throw one of
 * the classes below and the request pipeline (pipeline.ts) turns it into a
 * response in one place. Anything else that is thrown becomes a 500 whose
 * stack goes to the error log (and into the page only outside production).
 *
 *   throw new cherrypy.HTTPError(400, 'name is required');
 *   throw new cherrypy.NotFound();
 *   throw new cherrypy.HTTPRedirect('/login');        // 303 by default
 *
 * Redirect locations are sent as given (relative stays relative), unlike
 * CherryPy, which makes them absolute from the Host header and so breaks
 * behind proxies and load balancers.
 */
import { STATUS_CODES } from 'node:http';

export class HTTPError extends Error {
  readonly status: number;
  /** Extra response headers, e.g. Allow on 405 or Retry-After on 503. */
  readonly headers: Record<string, string>;

  constructor(status = 500, message?: string, headers: Record<string, string> = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`HTTPError status must be 400-599, got ${status}`);
    }
    // An HTTP error is an answer, not a bug: its stack is never shown, and capturing one costs
    // more than the rest of a 404 (a client asking for missing pages should be cheap).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? defaultMessage(status));
    Error.stackTraceLimit = limit;
    this.name = 'HTTPError';
    this.status = status;
    this.headers = headers;
  }
}

export class NotFound extends HTTPError {
  constructor(path?: string) {
    super(404, path === undefined ? undefined : `The path '${path}' was not found.`);
    this.name = 'NotFound';
  }
}

export class HTTPRedirect extends Error {
  readonly status: number;
  readonly location: string;

  constructor(url: string, status = 303) {
    if (!Number.isInteger(status) || status < 300 || status > 399) {
      throw new RangeError(`HTTPRedirect status must be 300-399, got ${status}`);
    }
    const limit = Error.stackTraceLimit; // no stack, as for HTTPError
    Error.stackTraceLimit = 0;
    super(`${status} redirect to ${url}`);
    Error.stackTraceLimit = limit;
    this.name = 'HTTPRedirect';
    this.status = status;
    // CR and LF would split the header (CherryPy drops them too); a location
    // starting with '//' would be read by browsers as another host.
    this.location = url.replace(/[\r\n]/g, '').replace(/^[/\\]{2,}/, '/');
  }
}

/** What a thrown value says in a log line: its stack if it is an Error. */
export function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `non-Error value thrown: ${String(err)}`;
}

/** Thrown for bad configuration: the message names the key and, for files, file:line. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

function defaultMessage(status: number): string {
  switch (status) {
    case 404: return 'Nothing matches the given URI';
    case 500: return 'The server encountered an unexpected condition which prevented it from fulfilling the request.';
    default: return reasonPhrase(status);
  }
}

const NEEDS_ESCAPING = /[&<>"']/;

export function escapeHtml(text: string): string {
  // Most messages have nothing to escape: a test is cheaper than a replace with a callback.
  if (!NEEDS_ESCAPING.test(text)) return text;
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

/** The small HTML page sent for every error status; every value in it is escaped. */
export function errorPage(status: number, message: string, traceback?: string): string {
  const key = traceback ? undefined : `${status} ${message}`;
  const known = key === undefined ? undefined : pages.get(key);
  if (known !== undefined) return known;
  const title = `${status} ${reasonPhrase(status)}`;
  const trace = traceback ? `\n<pre id="traceback">${escapeHtml(traceback)}</pre>` : '';
  const page = '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"><title>' + escapeHtml(title) +
    '</title></head>\n<body>\n<h2>' + escapeHtml(title) + '</h2>\n<p>' + escapeHtml(message) +
    '</p>' + trace + '\n</body>\n</html>\n';
  if (key !== undefined) {
    // The same few errors come again and again (a scanner asking for /wp-login.php): keep their pages.
    if (pages.size >= PAGE_CACHE_SIZE) pages.clear();
    pages.set(key, page);
  }
  return page;
}

/** Error pages without a traceback, by status and message; starts over past PAGE_CACHE_SIZE. */
const pages = new Map<string, string>();
const PAGE_CACHE_SIZE = 256;
