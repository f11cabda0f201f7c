/**
 * Response header names as they go on the wire.
 *
 * Header names are case-insensitive, but some clients, proxies and tests
 * compare them exactly, and CherryPy sends them in their usual spelling. So a
 * well-known name goes out as the RFCs spell it (`Content-Type`, `ETag`,
 * `WWW-Authenticate`), however the handler wrote it; any other name goes out
 * as the handler wrote it. Node adds Date, Connection, Keep-Alive and
 * Transfer-Encoding itself, already in this spelling.
 */
const WELL_KNOWN = [
  'Accept-Ranges', 'Access-Control-Allow-Credentials', 'Access-Control-Allow-Headers', 'Access-Control-Allow-Methods',
  'Access-Control-Allow-Origin', 'Access-Control-Expose-Headers', 'Access-Control-Max-Age', 'Age', 'Allow',
  'Cache-Control', 'Connection', 'Content-Disposition', 'Content-Encoding', 'Content-Language', 'Content-Length',
  'Content-Location', 'Content-Range', 'Content-Security-Policy', 'Content-Type', 'Cross-Origin-Opener-Policy',
  'Cross-Origin-Resource-Policy', 'Date', 'ETag', 'Expires', 'Keep-Alive', 'Last-Modified', 'Link', 'Location',
  'Permissions-Policy', 'Pragma', 'Proxy-Authenticate', 'Referrer-Policy', 'Retry-After', 'Server', 'Set-Cookie',
  'Strict-Transport-Security', 'Trailer', 'Transfer-Encoding', 'Vary', 'WWW-Authenticate', 'X-Content-Type-Options',
  'X-Frame-Options', 'X-XSS-Protection',
];

const CANONICAL = new Map(WELL_KNOWN.map((name) => [name.toLowerCase(), name]));
const SPELLED_RIGHT = new Set(WELL_KNOWN);

/** The wire spelling of a response header name. */
export function canonicalName(name: string): string {
  // Most names are written as they go out already (the pipeline and tools write them so): no lower-cased copy for those.
  if (SPELLED_RIGHT.has(name)) return name;
  return CANONICAL.get(name.toLowerCase()) ?? name;
}
