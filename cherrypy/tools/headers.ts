/**
 * Tools that set response headers or check the method:
 *
 *   allow            (on_start_resource) 405 with an Allow header for other methods (GET brings HEAD)
 *   response_headers (on_start_resource, failsafe) fixed headers on every response of the path,
 *                    errors included; a name listed twice sends both values
 *   expires          (before_finalize) Cache-Control and Expires, as CherryPy's: `secs` from now,
 *                    or, with secs = 0, "do not cache"; headers a handler set (ETag,
 *                    Last-Modified, Age, Expires) win unless `force`
 */
import { HTTPError } from '../errors.ts';
import { Tool } from '../hooks.ts';
import type { Request, Response } from '../request.ts';

export const allow = new Tool('on_start_resource', (_, { request }) => {
  const methods = request.config['tools.allow.methods'].map((m) => m.toUpperCase());
  if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  if (!methods.includes(request.method)) {
    throw new HTTPError(405, `Method ${request.method} is not allowed here`, { Allow: methods.join(', ') });
  }
}, { context: false });

function setResponseHeaders(request: Request, response: Response): void {
  const headers = response.headers;
  const listed = new Map<string, string>(); // lower-case name -> the spelling first listed
  for (const [name, value] of request.config['tools.response_headers.headers']) {
    const first = listed.get(name.toLowerCase());
    if (first === undefined) {
      headers[name] = value;
      listed.set(name.toLowerCase(), name);
    } else headers[first] = [headers[first]!, value].flat();
  }
}

export const response_headers = new Tool('on_start_resource', (_, { request, response }) => setResponseHeaders(request, response), { failsafe: true, context: false });

/** Headers that say the response already has its own cache story. */
const CACHE_HEADERS = ['etag', 'last-modified', 'age', 'expires'];

export const expires = new Tool('before_finalize', ({ secs, force }, { response }) => {
  const headers = response.headers;
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  if (!force && CACHE_HEADERS.some(has)) return;
  if (secs === 0) {
    if (force || !has('pragma')) headers['Pragma'] = 'no-cache';
    headers['Cache-Control'] = 'no-cache, must-revalidate';
    headers['Expires'] = new Date(0).toUTCString();
    return;
  }
  headers['Cache-Control'] = `max-age=${secs}`;
  headers['Expires'] = new Date(Date.now() + secs * 1000).toUTCString();
}, { args: { secs: 0, force: false }, context: false });
