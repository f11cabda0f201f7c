/**
 * Cookies: `cherrypy.request.cookie` and `cherrypy.response.cookie`.
 *
 * The request's Cookie header(s) are parsed on first use into name -> value
 * (percent-decoded when that is valid; the first of a repeated name wins, as
 * browsers send the most specific first). A malformed pair is skipped, never
 * an error: a client's broken cookie must not break the page. The map has no
 * prototype, so a cookie named `__proto__` or `constructor` is just a cookie.
 *
 * The response's jar collects cookies to set or delete; each goes out as its
 * own `Set-Cookie` header:
 *
 *   cherrypy.response.cookie.set('theme', 'dark', { maxAge: 3600, path: '/', sameSite: 'Lax' });
 *   cherrypy.response.cookie.delete('theme', { path: '/' });
 *
 * Names must be RFC 6265 tokens and attribute values free of `;` and control
 * characters (a TypeError, so a 500, otherwise: a header is never split);
 * values are percent-encoded where they hold what a cookie may not.
 */

import { bag } from './bag.ts';

/** Cookie names: RFC 9110 tokens. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a cookie value may hold without encoding (RFC 6265 cookie-octet). */
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
/** Attribute values (path, domain): no `;`, no control characters. */
const ATTRIBUTE = /^[^\x00-\x1f\x7f;]*$/;

/** Parses Cookie header values into name -> value; never throws. */
export function parseCookies(header: string | string[] | undefined): Record<string, string> {
  const cookies = bag<string>();
  if (typeof header === 'string') scanLine(header, undefined, cookies);
  else if (header !== undefined) for (const line of header) scanLine(line, undefined, cookies);
  return cookies;
}

/**
 * The value of one cookie, as parseCookies would give it, without parsing the
 * others (a session reads its own cookie on every request). `name` must be a token.
 */
export function findCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (typeof header === 'string') return scanLine(header, name, undefined);
  if (header === undefined) return undefined;
  for (const line of header) {
    const value = scanLine(line, name, undefined);
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * One header's `name=value; name=value` pairs, scanned in place: adds them to
 * `cookies` (first of a name wins), or, given `wanted`, returns that cookie's value.
 */
function scanLine(line: string, wanted: string | undefined, cookies: Record<string, string> | undefined): string | undefined {
  let eq = -1;
  for (let start = 0; start < line.length;) {
    let end = line.indexOf(';', start);
    if (end < 0) end = line.length;
    // The next '=' is looked for again only once the scan has passed it: linear even for `a;a;a;...;b=1`.
    if (eq < start) eq = line.indexOf('=', start);
    if (eq < 0) return undefined; // no pair from here on
    if (eq < end) {
      const name = line.slice(start, eq).trim();
      if (wanted !== undefined ? name === wanted : TOKEN.test(name) && !(name in cookies!)) {
        let value = line.slice(eq + 1, end).trim();
        if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = value.slice(1, -1);
        if (wanted !== undefined) return decode(value);
        cookies![name] = decode(value);
      }
    }
    start = end + 1;
  }
  return undefined;
}

function decode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export interface CookieOptions {
  path?: string;
  domain?: string;
  /** Seconds from now; 0 or less deletes the cookie. */
  maxAge?: number;
  expires?: Date;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: 'Strict' | 'Lax' | 'None';
}

/** The cookies a response sets (`cherrypy.response.cookie`). */
export class CookieJar {
  /** Name;path;domain of each cookie, and its Set-Cookie line, in the order first set (a response sets one or two: a list beats a Map). */
  private readonly keys: string[] = [];
  private readonly lines: string[] = [];

  /** Sets `name` to `value` (a later set of the same name, path and domain replaces it). */
  set(name: string, value: string, options: CookieOptions = {}): void {
    if (!isCookieName(name)) throw new TypeError(`cookie name '${name}' is not a token`);
    const encoded = COOKIE_OCTETS.test(value) ? value : encodeURIComponent(value);
    this.setLine(cookieKey(name, options), `${name}=${encoded}${cookieAttributes(options)}`);
  }

  /**
   * Sets a cookie from its Set-Cookie line, made by the caller from a checked
   * name, a value of cookie octets and `cookieAttributes()`: tools.sessions
   * sets the same cookie on every response and checks it once.
   */
  setLine(key: string, line: string): void {
    const at = this.keys.indexOf(key);
    if (at >= 0) this.lines[at] = line;
    else {
      this.keys.push(key);
      this.lines.push(line);
    }
  }

  /** Tells the client to drop `name` (same path and domain as it was set with). */
  delete(name: string, options: Pick<CookieOptions, 'path' | 'domain' | 'secure' | 'sameSite'> = {}): void {
    this.set(name, '', { ...options, maxAge: 0, expires: new Date(0) });
  }

  /** The Set-Cookie header values, one per cookie. */
  headerValues(): string[] {
    return this.lines.slice();
  }

  get size(): number {
    return this.lines.length;
  }
}

/** Is `name` usable as a cookie name (an RFC 9110 token)? */
export function isCookieName(name: string): boolean {
  return TOKEN.test(name);
}

/** What tells two cookies apart in a jar: a later one with the same name, path and domain replaces the earlier. */
export function cookieKey(name: string, options: CookieOptions): string {
  return `${name};${options.path ?? '/'};${options.domain ?? ''}`;
}

/** `; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax`: the part of a Set-Cookie line after the value. */
export function cookieAttributes(options: CookieOptions): string {
  let line = '';
  if (options.domain !== undefined) line += `; Domain=${attribute('domain', options.domain)}`;
  line += `; Path=${attribute('path', options.path ?? '/')}`;
  if (options.maxAge !== undefined) {
    if (!Number.isFinite(options.maxAge)) throw new TypeError('cookie maxAge must be a number of seconds');
    line += `; Max-Age=${Math.max(0, Math.floor(options.maxAge))}`;
  }
  if (options.expires !== undefined) line += `; Expires=${options.expires.toUTCString()}`;
  if (options.secure || options.sameSite === 'None') line += '; Secure';
  if (options.httpOnly) line += '; HttpOnly';
  if (options.sameSite !== undefined) {
    if (!['Strict', 'Lax', 'None'].includes(options.sameSite)) throw new TypeError(`cookie sameSite must be Strict, Lax or None, got ${String(options.sameSite)}`);
    line += `; SameSite=${options.sameSite}`;
  }
  return line;
}

function attribute(name: string, value: string): string {
  if (!ATTRIBUTE.test(value)) throw new TypeError(`cookie ${name} must not contain ';' or control characters`);
  return value;
}
