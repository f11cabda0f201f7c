/**
 * tools.proxy (before_request_body, 30): behind a proxy you trust, the client's
 * address, scheme and host come from its headers (X-Forwarded-For, -Proto,
 * -Host, or the names in `remote`, `scheme`, `local`; `base` fixes the URL).
 * An on/off scheme header such as X-Forwarded-Ssl: on means https.
 *
 * Proxies append to these lists, so only their right end is theirs: what a
 * client sends is kept at the left (`X-Forwarded-For: 6.6.6.6` arrives as
 * `6.6.6.6, <the client's real address>`). The value read is the one `hops`
 * entries from the right, `hops` being how many proxies you trust in front
 * (1 by default). CherryPy reads the leftmost, which the client chooses.
 */
import { Tool } from '../hooks.ts';
import { rawHeaderValues, type Request } from '../request.ts';

/** The entry of list header `name`, over all its lines, that the `hops`-th proxy from the server added (the leftmost if there are fewer). */
function trustedValue(request: Request, name: string, hops: number): string | undefined {
  const entries = rawHeaderValues(request.raw, name.toLowerCase())?.join(',').split(',');
  if (entries === undefined) return undefined;
  return entries[Math.max(0, entries.length - hops)]!.trim() || undefined;
}

function applyProxy(request: Request): void {
  const s = request.config;
  const hops = s['tools.proxy.hops'];
  const schemeHeader = s['tools.proxy.scheme'];
  let scheme = trustedValue(request, schemeHeader, hops);
  if (scheme?.toLowerCase() === 'on' && /ssl/i.test(schemeHeader)) scheme = 'https';
  scheme ??= trustedValue(request, 'X-Forwarded-Ssl', hops)?.toLowerCase() === 'on' ? 'https' : undefined;
  if (scheme === 'http' || scheme === 'https') request.scheme = scheme;
  const host = s['tools.proxy.base'] || trustedValue(request, s['tools.proxy.local'], hops);
  if (host) request.base = host.includes('://') ? host : `${request.scheme}://${host}`;
  else request.base = request.base.replace(/^[a-z]+:/, request.scheme + ':');
  const ip = trustedValue(request, s['tools.proxy.remote'], hops);
  if (ip) request.remote.ip = ip;
}

export const proxy = new Tool('before_request_body', (_, { request }) => applyProxy(request), { priority: 30, context: false });
