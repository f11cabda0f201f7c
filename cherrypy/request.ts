/**
 * `cherrypy.request` and `cherrypy.response`: the current request, from anywhere.
 *
 * CherryPy keeps them in thread-locals. Node has one thread and many requests
 * in flight, so the two exported objects are thin proxies that read the
 * request whose handler is running:
 *  - while a handler runs synchronously, from a plain variable;
 *  - in async handlers and generators (whose code runs after the call
 *    returns), from an AsyncLocalStorage context, which follows `await`,
 *    timers and callbacks.
 * A plain function that returns a promise should be declared `async` if code
 * after its awaits reads `cherrypy.request`. The rule is the same on every
 * Node version: an AsyncLocalStorage context costs every async operation of
 * the process a hook call before Node 24 (about a tenth of a small handler's
 * throughput), and even on 24 its frame costs each request about 1 µs (2% of
 * `GET /`, measured with `npm run bench`), so the handlers that run to
 * completion at once skip it. Outside any handler, reading them throws a clear
 * error: a request's data never leaks into another's.
 *
 * Field names follow CherryPy's (`path_info`, `query_string`, `is_index`,
 * `remote.ip`), so the CherryPy docs read true here.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Settings } from './config.ts';
import { CookieJar, findCookie, parseCookies } from './cookies.ts';
import { addValue, bag } from './bag.ts';
import type { UploadedFile } from './multipart.ts';
import type { Session } from './sessions.ts';

export type Params = Record<string, string | string[]>;

const NO_ARGS = Object.freeze([]) as unknown as string[];
/** What `request.files` is without an upload: empty, shared, and frozen so that nobody adds to it. */
const NO_FILES = Object.freeze(bag<UploadedFile>());

export class Request {
  /** The URL path as the client sent it (still percent-encoded), without the query. */
  readonly path: string;
  readonly query_string: string;
  readonly method: string;
  /** True when the handler is an `index` reached through the virtual index segment. */
  is_index = false;
  /** Positional arguments taken from the path. */
  args: string[] = NO_ARGS;
  /** The request body, read for POST, PUT and PATCH before the handler runs. */
  body: Buffer | undefined = undefined;
  /** The parsed JSON body, with `tools.json_in.on`. */
  json: unknown = undefined;
  /** Settings in force for this path. */
  config: Settings;
  /** Node's request object, for anything not covered here. */
  readonly raw: IncomingMessage;
  /** Form-body parameters, merged into `params`. */
  bodyParams: Params | undefined = undefined;
  /** The decoded path segments below the app's mount point. */
  segments: readonly string[] = NO_ARGS;
  /** The app's mount point ('' for '/'), as CherryPy's `request.script_name`. */
  script_name = '';
  /**
   * What will answer: the handler the dispatcher found, called with the path's
   * arguments. A tool may wrap it (json_out does), replace it, or set it to
   * null after answering the request itself (the static tools do).
   */
  handler: (() => unknown) | null = null;
  /** The user an authentication tool (auth_basic) accepted. */
  login: string | undefined = undefined;
  /** Files of a multipart/form-data body, by field name (several under one name: an array). */
  files: Record<string, UploadedFile | UploadedFile[]> = NO_FILES;
  /** The session tools.sessions loaded for this request (handlers use `cherrypy.session`). */
  session: Session | undefined = undefined;
  // Worked out on first use: most handlers never ask.
  private parsedParams: Params | undefined = undefined;
  private parsedCookies: Record<string, string> | undefined = undefined;
  private remoteInfo: { ip: string; port: number } | undefined = undefined;
  private schemeName: string | undefined = undefined;
  private baseUrl: string | undefined = undefined;

  constructor(raw: IncomingMessage, path: string, query: string, settings: Settings) {
    this.raw = raw;
    this.method = raw.method ?? 'GET';
    this.path = path;
    this.query_string = query;
    this.config = settings;
  }

  /** The path below the app's mount point, decoded. */
  get path_info(): string {
    const segments = this.segments;
    return '/' + segments.join('/') + (segments.length && this.path.endsWith('/') ? '/' : '');
  }

  get protocol(): string {
    return 'HTTP/' + this.raw.httpVersion;
  }

  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  /** `remote.ip` if something read or set it (the proxy tool does), for the access log. */
  get remoteIpIfUsed(): string | undefined {
    return this.remoteInfo?.ip;
  }

  /** The client's address and port (the proxy tool replaces the address with X-Forwarded-For's). */
  get remote(): { ip: string; port: number } {
    const socket = this.raw.socket;
    return (this.remoteInfo ??= { ip: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
  }

  get scheme(): string {
    return (this.schemeName ??= (this.raw.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http');
  }

  set scheme(value: string) {
    this.schemeName = value;
  }

  /** scheme://host of this request (from the Host header, or the proxy tool). */
  get base(): string {
    return (this.baseUrl ??= `${this.scheme}://${this.raw.headers.host ?? this.raw.socket.localAddress ?? 'localhost'}`);
  }

  set base(value: string) {
    this.baseUrl = value;
  }

  /** The request's cookies, name -> value (cookies.ts); a malformed header gives what could be read. */
  get cookie(): Record<string, string> {
    return (this.parsedCookies ??= parseCookies(rawHeaderValues(this.raw, 'cookie')));
  }

  /** One cookie's value (`cookie[name]`), read without parsing the others unless they were already; `name` must be a token. */
  cookieNamed(name: string): string | undefined {
    const parsed = this.parsedCookies;
    return parsed !== undefined ? parsed[name] : findCookie(rawHeaderValues(this.raw, 'cookie'), name);
  }

  /** Query string and form body parameters; a repeated key gives an array (query values first). */
  get params(): Params {
    if (this.parsedParams === undefined) {
      const params: Params = bag();
      if (this.query_string) addAll(params, new URLSearchParams(this.query_string));
      const form = this.bodyParams;
      if (form) {
        for (const key in form) {
          const value = form[key]!;
          if (typeof value === 'string') addValue(params, key, value);
          else for (const one of value) addValue(params, key, one);
        }
      }
      this.parsedParams = params;
    }
    return this.parsedParams;
  }
}

/**
 * One request header, read from the raw list: node builds `req.headers` only
 * when something first asks for it, and a request the app never inspects
 * should not pay for that. Like `req.headers`, the first of repeated headers wins.
 */
export function rawHeader(raw: IncomingMessage, lowerCaseName: string): string | undefined {
  const list = raw.rawHeaders;
  for (let i = 0; i < list.length; i += 2) if (isNamed(list[i]!, lowerCaseName)) return list[i + 1];
  return undefined;
}

/** Every value of a header that may come more than once (Cookie), from the raw list. */
export function rawHeaderValues(raw: IncomingMessage, lowerCaseName: string): string[] | undefined {
  const list = raw.rawHeaders;
  let values: string[] | undefined;
  for (let i = 0; i < list.length; i += 2) if (isNamed(list[i]!, lowerCaseName)) (values ??= []).push(list[i + 1]!);
  return values;
}

/** Is `name` (as the client wrote it) the header `lowerCaseName`? */
export function isNamed(name: string, lowerCaseName: string): boolean {
  // Lengths and first letters first: most names differ there, and lower-casing makes a string.
  return name.length === lowerCaseName.length && (name.charCodeAt(0) | 0x20) === lowerCaseName.charCodeAt(0) &&
    (name === lowerCaseName || name.toLowerCase() === lowerCaseName);
}

export function addAll(params: Params, search: URLSearchParams): Params {
  for (const [k, v] of search) addValue(params, k, v);
  return params;
}

export class Response {
  status = 200;
  /** The handler's value once it returned (before_finalize tools may replace it). */
  body: unknown = undefined;
  private cookieJar: CookieJar | undefined = undefined;

  /** Cookies to set or delete: `cherrypy.response.cookie.set('name', 'value', { maxAge: 60 })`. */
  get cookie(): CookieJar {
    return (this.cookieJar ??= new CookieJar());
  }

  /** Takes over the cookies `other` set (an error response keeps them: a login's session cookie survives its redirect). */
  adoptCookies(other: Response): void {
    this.cookieJar ??= other.cookieJar;
  }

  /** The Set-Cookie values, if any cookie was set (respond.ts adds them to the headers). */
  get setCookies(): string[] | undefined {
    return this.cookieJar?.size ? this.cookieJar.headerValues() : undefined;
  }
  // Made on first use: most responses carry only the headers the pipeline adds.
  private headerTable: Record<string, string | string[]> | undefined = undefined;

  /** Response headers; set them as in CherryPy: `response.headers['Content-Type'] = 'text/plain'`. */
  get headers(): Record<string, string | string[]> {
    return (this.headerTable ??= {});
  }

  set headers(value: Record<string, string | string[]>) {
    this.headerTable = value;
  }

  /** No header asked for and no cookie jar made: the response is the pipeline's alone to head. */
  get isBare(): boolean {
    return this.headerTable === undefined && this.cookieJar === undefined;
  }

  /** True once anything asked for the headers (the pipeline then copies them). */
  get hasHeaders(): boolean {
    return this.headerTable !== undefined;
  }
}

export interface Context { request: Request; response: Response }

const storage = new AsyncLocalStorage<Context>();
/** The request whose handler is running synchronously right now. */
let synchronous: Context | undefined;

/**
 * Calls `fn` on `self` with `cherrypy.request` and `cherrypy.response` pointing
 * at `context`'s (the pipeline passes its exchange: no object made per call);
 * `async` says whether code started by the call runs after it returns (async
 * functions, generators): that needs the async context.
 */
export function inContext(context: Context, async: boolean, fn: Function, self: unknown, args: unknown[]): unknown {
  if (async) return storage.run(context, () => fn.apply(self, args));
  const outer = synchronous;
  synchronous = context;
  try {
    // Most handlers take no path arguments: a plain call skips spreading an empty array.
    return args.length === 0 ? fn.call(self) : fn.apply(self, args);
  } finally {
    synchronous = outer;
  }
}

/** The request being handled where this runs; throws a clear error outside one (`name` says what was asked for). */
export function currentRequest(name = 'request'): Request {
  const context = synchronous ?? storage.getStore();
  if (!context) {
    throw new Error(`cherrypy.${name} is only available while a request is being handled` +
      ' (in a function that returns a promise, declare it async to use it after await)');
  }
  return context.request;
}

/**
 * An object that stands for `pick(the current request's context)`: reading or
 * setting a property acts on the current request's object.
 */
function contextProxy<T extends object>(pick: (c: Context) => T, name: string): T {
  const current = (): T => {
    const context = synchronous ?? storage.getStore();
    if (!context) currentRequest(name); // throws the clear error
    return pick(context!);
  };
  return new Proxy({} as T, {
    get: (_, prop) => {
      const target = current();
      // target[prop], not Reflect.get(target, prop, target): the same lookup, without the builtin's slow path.
      const value = (target as unknown as Record<PropertyKey, unknown>)[prop];
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set: (_, prop, value) => Reflect.set(current(), prop, value),
    has: (_, prop) => Reflect.has(current(), prop),
  });
}

/** The request being handled (valid inside handlers and tools, across await). */
export const request: Request = contextProxy((c) => c.request, 'request');
/** The response being built for it: set `status` and `headers` here. */
export const response: Response = contextProxy((c) => c.response, 'response');
