/**
 * tools.proxy (before_request_body, 30): behind a proxy you trust, the client's
 * address, scheme and host come from its headers (X-Forwarded-For, -Proto,
 * -Host, or the names in `remote`, `scheme`, `local`; `base` fixes the URL).
 * An on/off scheme header such as X-Forwarded-Ssl: on means https.
 */
import { Tool } from '../hooks.ts';
import type { Request } from '../request.ts';

function firstValue(request: Request, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return (Array.isArray(value) ? value[0] : value)?.split(',')[0]!.trim() || undefined;
}

function applyProxy(request: Request): void {
  const s = request.config;
  const schemeHeader = s['tools.proxy.scheme'];
  let scheme = firstValue(request, schemeHeader);
  if (scheme?.toLowerCase() === 'on' && /ssl/i.test(schemeHeader)) scheme = 'https';
  scheme ??= firstValue(request, 'X-Forwarded-Ssl')?.toLowerCase() === 'on' ? 'https' : undefined;
  if (scheme === 'http' || scheme === 'https') request.scheme = scheme;
  const host = s['tools.proxy.base'] || firstValue(request, s['tools.proxy.local']);
  if (host) request.base = host.includes('://') ? host : `${request.scheme}://${host}`;
  else request.base = request.base.replace(/^[a-z]+:/, request.scheme + ':');
  const ip = firstValue(request, s['tools.proxy.remote']);
  if (ip) request.remote.ip = ip;
}

export const proxy = new Tool('before_request_body', (_, { request }) => applyProxy(request), { priority: 30, context: false });
