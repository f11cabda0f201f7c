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
  const scheme = header(s['tools.proxy.scheme']) ?? (header('X-Forwarded-Ssl') === 'on' ? 'https' : undefined);
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

export function setResponseHeaders(request: Request, response: Response): void {
  for (const [name, value] of request.config['tools.response_headers.headers']) response.headers[name] = value;
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

/** Should this response be gzipped? `headers` are the response's, lower-cased. */
export function wantsGzip(request: Request, headers: Record<string, string | string[]>): boolean {
  const s = request.config;
  if (!s['tools.gzip.on'] || headers['content-encoding']) return false;
  const type = String(headers['content-type'] ?? '').split(';')[0]!.trim();
  const listed = s['tools.gzip.mime_types'].some((t) => t === type || (t.endsWith('/*') && type.startsWith(t.slice(0, -1))));
  if (!listed) return false;
  headers['vary'] = headers['vary'] ? `${headers['vary']}, Accept-Encoding` : 'Accept-Encoding';
  return acceptsGzip(request.headers['accept-encoding']);
}

function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().split(';');
    if (coding!.trim().toLowerCase() !== 'gzip' && coding!.trim() !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
