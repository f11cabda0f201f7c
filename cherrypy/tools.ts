/**
 * The small per-path tools, switched on with `tools.NAME.on` (CherryPy's names
 * and arguments). The pipeline calls each at its CherryPy hook point; the
 * static tools live in static.ts and json_in in body.ts.
 *
 *   proxy            request.base and remote.ip from X-Forwarded-* (only behind a proxy you trust)
 *   allow            405 with an Allow header for other methods (GET allows HEAD)
 *   response_headers fixed headers on every response of the path, errors included
 *   trailing_slash   301 from /dir to /dir/ for index handlers (and back with `extra`)
 *   gzip             compresses listed types when the client accepts gzip
 *   json_out         the handler's return value as JSON (pipeline.ts)
 */
import { HTTPError, HTTPRedirect } from './errors.ts';
import type { Request, Response } from './request.ts';

export function applyProxy(request: Request): void {
  const s = request.config;
  const header = (name: string) => {
    const value = request.headers[name.toLowerCase()];
    return (Array.isArray(value) ? value[0] : value)?.split(',')[0]!.trim() || undefined;
  };
  const schemeHeader = s['tools.proxy.scheme'];
  let scheme = header(schemeHeader);
  // An on/off header such as X-Forwarded-Ssl: on means https (as CherryPy reads it).
  if (scheme?.toLowerCase() === 'on' && /ssl/i.test(schemeHeader)) scheme = 'https';
  scheme ??= header('X-Forwarded-Ssl')?.toLowerCase() === 'on' ? 'https' : undefined;
  if (scheme === 'http' || scheme === 'https') request.scheme = scheme;
  const host = s['tools.proxy.base'] || header(s['tools.proxy.local']);
  if (host) request.base = host.includes('://') ? host : `${request.scheme}://${host}`;
  else request.base = request.base.replace(/^[a-z]+:/, request.scheme + ':');
  const ip = header(s['tools.proxy.remote']);
  if (ip) request.remote.ip = ip;
}

export function checkAllowed(request: Request): void {
  const methods = request.config['tools.allow.methods'].map((m) => m.toUpperCase());
  if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  if (!methods.includes(request.method)) {
    throw new HTTPError(405, `Method ${request.method} is not allowed here`, { Allow: methods.join(', ') });
  }
}

/** The listed headers; a name listed twice sends both values. */
export function setResponseHeaders(request: Request, response: Response): void {
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

export function trailingSlashRedirect(request: Request): void {
  const s = request.config;
  const path = request.path;
  const query = request.query_string ? '?' + request.query_string : '';
  if (request.is_index) {
    if (s['tools.trailing_slash.missing'] && !path.endsWith('/')) {
      throw new HTTPRedirect(path + '/' + query, s['tools.trailing_slash.status']);
    }
  } else if (s['tools.trailing_slash.extra'] && path.endsWith('/') && path !== '/') {
    throw new HTTPRedirect(path.replace(/\/+$/, '') + query, s['tools.trailing_slash.status']);
  }
}

/**
 * Should this response be gzipped? `headers` are the response's (wire names).
 * Throws 406 when the client accepts neither gzip nor the identity coding
 * (`Accept-Encoding: *;q=0`, `identity;q=0`), as CherryPy does, unless
 * `mayRefuse` is false (error pages).
 */
export function wantsGzip(request: Request, headers: Record<string, string | string[]>, mayRefuse: boolean): boolean {
  const s = request.config;
  if (!s['tools.gzip.on'] || headers['Content-Encoding']) return false;
  const type = String(headers['Content-Type'] ?? '').split(';')[0]!.trim();
  const listed = s['tools.gzip.mime_types'].some((t) => t === type || (t.endsWith('/*') && type.startsWith(t.slice(0, -1))));
  if (listed) headers['Vary'] = headers['Vary'] ? `${String(headers['Vary'])}, Accept-Encoding` : 'Accept-Encoding';
  const header = request.headers['accept-encoding'];
  if (!header) return false; // no preference: identity
  const q = codingWeights(header);
  const gzip = q.get('gzip') ?? q.get('x-gzip') ?? q.get('*') ?? 0;
  if (listed && gzip > 0) return true;
  const identity = q.get('identity') ?? (q.get('*') === 0 ? 0 : 1);
  if (identity === 0 && mayRefuse) throw new HTTPError(406, 'identity, gzip');
  return false;
}

/** Accept-Encoding as coding -> q (RFC 9110 §12.5.3); a coding without q= has q=1. */
function codingWeights(header: string): Map<string, number> {
  const weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [coding, ...params] = part.split(';');
    const name = coding!.trim().toLowerCase();
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name, Number.isNaN(weight) ? 0 : weight);
  }
  return weights;
}
