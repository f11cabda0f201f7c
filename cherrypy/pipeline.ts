/**
 * One request, from the URL to the bytes on the wire.
 *
 * The steps, in CherryPy's hook order:
 *   1. parse the target: the path is split into segments and each is
 *      percent-decoded once, as UTF-8 or else as Latin-1 (malformed escapes
 *      or NUL -> 400); absolute-form
 *      targets (`GET http://host/path`) are accepted;
 *   2. find the app and the config for the path (app.ts), then the
 *      on_start_resource tools: proxy, allow, response_headers;
 *   3. the handler tools: staticdir / staticfile (GET and HEAD; a miss falls
 *      through);
 *   4. dispatch (dispatch.ts), then trailing_slash, the argument check, the
 *      body (body.ts: received before the request took a slot, parsed here
 *      with the path's config), and the handler, with `cherrypy.request` pointing at
 *      this request (request.ts);
 *   5. the value it returns becomes the response (respond.ts).
 * Anything thrown on the way ends up in `fail`, the one place where errors
 * become responses.
 *
 * Most requests never await: the path stays synchronous unless a static file,
 * a body or a promise is involved.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTPError, HTTPRedirect, NotFound, errorPage, escapeHtml } from './errors.ts';
import { checkArguments, findHandler, stillHolds, type Found, type Resolution } from './dispatch.ts';
import { readBody, takesBody } from './body.ts';
import { Request, Response, inContext } from './request.ts';
import { serveStaticDir, serveStaticFile, type FileBody } from './static.ts';
import { send, type Body } from './respond.ts';
import { applyProxy, checkAllowed, setResponseHeaders, trailingSlashRedirect } from './tools.ts';
import type { Application, PathConfig, Tree } from './app.ts';
import type { Settings } from './config.ts';
import type { Log } from './log.ts';

/** What the pipeline needs from the server it runs in. */
export interface Host {
  tree: Tree;
  settings: Settings;
  log: Log;
  /** True once shutdown began: every response then closes its connection. */
  draining: boolean;
  /** Paths resolved before (see Route). */
  routes: Map<string, Route>;
  /** Gives back the slot of `res`'s request while its response still goes out (a file: no handler code runs). */
  release(res: ServerResponse): void;
}

/**
 * What a URL path resolves to: its segments, app and config, and (once a
 * request reached a handler) the dispatcher's answer. Kept per server for the
 * paths that found something, so the next request for `/` skips the parsing,
 * the lookups and the walk; the walk's answer is re-checked before each use
 * (dispatch.ts `stillHolds`). Bounded: the cache starts over at 1,000 paths.
 */
export interface Route {
  path: string;
  app: Application | undefined;
  /** The segments below the app's mount point. */
  below: string[];
  pathConfig: PathConfig | undefined;
  resolution?: Resolution;
}

const ROUTE_CACHE_SIZE = 1000;

/** Splits and decodes a request target's path; throws 400 for what cannot be a path. */
export function parsePath(target: string): { path: string; segments: string[] } {
  let path = target;
  // `OPTIONS *` asks about the server as a whole: nothing in the app answers it (CherryPy: 404 too).
  if (path === '*') throw new NotFound('*');
  if (path[0] !== '/') {
    // absolute-form (RFC 9112 §3.2.2): keep only the path.
    const match = /^https?:\/\/[^/?#]*/i.exec(path);
    if (!match) throw new HTTPError(400, 'Bad request target');
    path = path.slice(match[0].length) || '/';
  }
  const segments: string[] = [];
  for (const part of path.split('/')) {
    if (part === '') continue;
    if (part.indexOf('%') < 0) {
      segments.push(part);
      continue;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      // Well-formed escapes that are not UTF-8 (`%fc` for ü) are read as Latin-1, as CherryPy reads them.
      if (/%(?![0-9a-fA-F]{2})/.test(part)) throw new HTTPError(400, 'Malformed percent-encoding in the path');
      decoded = part.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    }
    if (decoded.includes('\0')) throw new HTTPError(400, 'NUL byte in the path');
    segments.push(decoded);
  }
  return { path, segments };
}

function routeFor(host: Host, key: string): Route {
  const cached = host.routes.get(key);
  if (cached) return cached;
  const { path, segments } = parsePath(key);
  const app = host.tree.find(segments);
  const below = app && app.mountSegments.length ? segments.slice(app.mountSegments.length) : segments;
  return { path, app, below, pathConfig: app?.configFor(below) };
}

function remember(host: Host, key: string, route: Route): void {
  if (host.routes.has(key)) return;
  if (host.routes.size >= ROUTE_CACHE_SIZE) host.routes.clear();
  host.routes.set(key, route);
}

export function handleRequest(host: Host, req: IncomingMessage, res: ServerResponse): Request | undefined {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const key = q < 0 ? url : url.slice(0, q);
  let route: Route;
  try {
    route = routeFor(host, key);
  } catch (err) {
    const bare = new Request(req, key, '', host.settings);
    fail(host, bare, new Response(), res, err);
    return bare;
  }
  const { app, below, pathConfig } = route;
  const request = new Request(req, route.path, q < 0 ? '' : url.slice(q + 1), pathConfig?.settings ?? host.settings);
  const response = new Response();
  request.segments = below;
  try {
    if (!app) throw new NotFound(route.path);
    const settings = request.config;
    if (settings['tools.proxy.on']) applyProxy(request);
    if (settings['tools.allow.on']) checkAllowed(request);
    if (settings['tools.response_headers.on']) setResponseHeaders(request, response);
    const method = request.method;
    if ((method === 'GET' || method === 'HEAD') && (settings['tools.staticdir.on'] || settings['tools.staticfile.on'])) {
      const served = settings['tools.staticdir.on']
        ? serveStaticDir(request, response, below.slice(pathConfig!.staticdirDepth))
        : serveStaticFile(request, response);
      served.then((body: FileBody | null | undefined) => {
        if (body === undefined) return dispatch(host, request, response, res, app.root, key, route);
        remember(host, key, route);
        send(host, request, response, res, body);
      }, (err: unknown) => fail(host, request, response, res, err));
      return request;
    }
    dispatch(host, request, response, res, app.root, key, route);
  } catch (err) {
    fail(host, request, response, res, err);
  }
  return request;
}

function dispatch(host: Host, request: Request, response: Response, res: ServerResponse, root: object, key: string, route: Route): void {
  try {
    let resolution = route.resolution;
    if (!resolution || !stillHolds(root, resolution)) {
      resolution = findHandler(root, route.below, route.path.endsWith('/'));
      if (resolution.found) {
        route.resolution = resolution;
        remember(host, key, route);
      }
    }
    const found = resolution.found;
    if (!found) throw new NotFound(request.path);
    request.is_index = found.is_index;
    if (found.args.length) request.args = found.args.slice(); // a copy: the handler may change it
    const settings = request.config;
    if (settings['tools.trailing_slash.on']) trailingSlashRedirect(request);
    // The walk still holds, so the handler is the same function: only an `exposed` property can have changed.
    if (!found.exposedForGood && (found.handler as { exposed?: unknown }).exposed !== true) throw new NotFound(request.path);
    if (!found.argsFit) checkArguments(found, settings['request.show_mismatched_params']);
    if (takesBody(request.method)) readBody(request); // received already, before the request took its slot (body.ts)
    invoke(host, request, response, res, found);
  } catch (err) {
    fail(host, request, response, res, err);
  }
}

function invoke(host: Host, request: Request, response: Response, res: ServerResponse, found: Found): void {
  let result: unknown;
  try {
    result = inContext(request, response, found.runsLater, found.handler, found.owner, request.args);
  } catch (err) {
    return fail(host, request, response, res, err);
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    (result as PromiseLike<unknown>).then(
      (value) => finishHandler(host, request, response, res, value),
      (err: unknown) => fail(host, request, response, res, err),
    );
    return;
  }
  finishHandler(host, request, response, res, result);
}

function finishHandler(host: Host, request: Request, response: Response, res: ServerResponse, value: unknown): void {
  try {
    if (request.config['tools.json_out.on']) {
      response.headers['Content-Type'] ??= 'application/json';
      value = JSON.stringify(value ?? null);
    }
    send(host, request, response, res, value as Body);
  } catch (err) {
    fail(host, request, response, res, err);
  }
}

/** The one place where errors become responses. */
export function fail(host: Host, request: Request, response: Response, res: ServerResponse, err: unknown): void {
  if (res.destroyed) {
    // The client is gone. Only a fault of the app is worth a line; a client's own (an aborted body) is not.
    if (!(err instanceof HTTPError)) host.log.error(`${request.method} ${request.path}: failed after the client left: ${describe(err)}`);
    return;
  }
  if (res.headersSent) {
    // The status line is gone: all we can do is log and cut the connection.
    host.log.error(`${request.method} ${request.path}: failed after the response began: ${describe(err)}`);
    res.destroy();
    return;
  }
  try {
    sendError(host, request, res, err);
  } catch (again) {
    // The error page itself could not go out (a bad header from tools.response_headers): cut the connection.
    host.log.error(`${request.method} ${request.path}: the error response failed too: ${describe(again)}`);
    res.destroy();
  }
}

function sendError(host: Host, request: Request, res: ServerResponse, err: unknown): void {
  const settings = request.config;
  const fresh = new Response();
  // A writeHead that failed on a bad header value left its status text behind: let node pick the new one.
  res.statusMessage = '';
  if (settings['tools.response_headers.on']) setResponseHeaders(request, fresh);
  if (err instanceof HTTPRedirect) {
    fresh.status = err.status;
    fresh.headers['Location'] = err.location;
    // As CherryPy: a short note with a link; 304 and 305 carry no body.
    const note = redirectNote(err.status, err.location);
    if (note !== null) fresh.headers['Content-Type'] = 'text/html;charset=utf-8';
    if (err.status === 304) delete fresh.headers['Location'];
    return send(host, request, fresh, res, note);
  }
  let status = 500, message: string, traceback: string | undefined;
  if (err instanceof HTTPError) {
    status = err.status;
    message = err.message;
    Object.assign(fresh.headers, err.headers);
  } else {
    message = new HTTPError(500).message;
    host.log.error(`${request.method} ${request.path}: ${describe(err)}`);
    if (settings['request.show_tracebacks']) traceback = describe(err);
  }
  fresh.status = status;
  fresh.headers['Content-Type'] = 'text/html;charset=utf-8';
  send(host, request, fresh, res, errorPageHeaders(fresh, message, status, traceback));
}

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

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `non-Error value thrown: ${String(err)}`;
}
