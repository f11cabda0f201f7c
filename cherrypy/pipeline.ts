/**
 * One request, from the URL to the bytes on the wire.
 *
 * The steps, in CherryPy's hook order:
 *   1. parse the target: the path is split into segments and each is
 *      percent-decoded once (malformed escapes or NUL -> 400); absolute-form
 *      targets (`GET http://host/path`) are accepted;
 *   2. find the app and the config for the path (app.ts), then the
 *      on_start_resource tools: proxy, allow, response_headers;
 *   3. the handler tools: staticdir / staticfile (GET and HEAD; a miss falls
 *      through);
 *   4. dispatch (dispatch.ts), then trailing_slash, the argument check, the
 *      body (body.ts), and the handler, with `cherrypy.request` pointing at
 *      this request (request.ts);
 *   5. the value it returns becomes the response (respond.ts).
 * Anything thrown on the way ends up in `fail`, the one place where errors
 * become responses.
 *
 * Most requests never await: the path stays synchronous unless a static file,
 * a body or a promise is involved.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTPError, HTTPRedirect, NotFound, errorPage } from './errors.ts';
import { checkArguments, findHandler } from './dispatch.ts';
import { METHODS_WITH_BODIES, readBody } from './body.ts';
import { Request, Response, callHandler } from './request.ts';
import { serveStaticDir, serveStaticFile, type FileBody } from './static.ts';
import { send, type Body } from './respond.ts';
import { applyProxy, checkAllowed, setResponseHeaders, trailingSlashRedirect } from './tools.ts';
import type { Tree } from './app.ts';
import type { Settings } from './config.ts';
import type { Log } from './log.ts';

/** What the pipeline needs from the server it runs in. */
export interface Host {
  tree: Tree;
  settings: Settings;
  log: Log;
  /** True once shutdown began: every response then closes its connection. */
  draining: boolean;
}

interface Target { path: string; query: string; segments: string[] }

/** Splits and decodes the request target; throws 400 for what cannot be a path. */
export function parseTarget(url: string): Target {
  let target = url;
  if (target[0] !== '/') {
    // absolute-form (RFC 9112 §3.2.2): keep only the path and query.
    const match = /^https?:\/\/[^/?#]*/i.exec(target);
    if (!match) throw new HTTPError(400, 'Bad request target');
    target = target.slice(match[0].length) || '/';
    if (target[0] === '?') target = '/' + target;
  }
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  const parts = path.split('/');
  const segments: string[] = [];
  for (const part of parts) {
    if (part === '') continue;
    if (part.indexOf('%') < 0) {
      segments.push(part);
      continue;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      throw new HTTPError(400, 'Malformed percent-encoding in the path');
    }
    if (decoded.includes('\0')) throw new HTTPError(400, 'NUL byte in the path');
    segments.push(decoded);
  }
  return { path, query, segments };
}

export function handleRequest(host: Host, req: IncomingMessage, res: ServerResponse): Request | undefined {
  let target: Target;
  try {
    target = parseTarget(req.url ?? '/');
  } catch (err) {
    const bare = new Request(req, req.url ?? '', '', host.settings);
    fail(host, bare, new Response(), res, err);
    return bare;
  }
  const app = host.tree.find(target.segments);
  const below = app && app.mountSegments.length ? target.segments.slice(app.mountSegments.length) : target.segments;
  const pathConfig = app ? app.configFor(below) : undefined;
  const request = new Request(req, target.path, target.query, pathConfig?.settings ?? host.settings);
  const response = new Response();
  request.segments = below;
  try {
    if (!app) throw new NotFound(target.path);
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
        if (body === undefined) dispatch(host, request, response, res, app.root, below);
        else send(host, request, response, res, body);
      }, (err: unknown) => fail(host, request, response, res, err));
      return;
    }
    dispatch(host, request, response, res, app.root, below);
  } catch (err) {
    fail(host, request, response, res, err);
  }
  return request;
}

function dispatch(host: Host, request: Request, response: Response, res: ServerResponse, root: object, segments: string[]): void {
  try {
    const found = findHandler(root, segments, request.path.endsWith('/'));
    if (!found) throw new NotFound(request.path);
    request.is_index = found.is_index;
    request.args = found.args;
    const settings = request.config;
    if (settings['tools.trailing_slash.on']) trailingSlashRedirect(request);
    const handler = (found.owner as Record<string, unknown>)[found.name] as Function;
    checkArguments(handler, found.args, settings['request.show_mismatched_params']);
    if (METHODS_WITH_BODIES.has(request.method)) {
      readBody(request).then(
        () => invoke(host, request, response, res, found.owner, handler),
        (err: unknown) => fail(host, request, response, res, err),
      );
      return;
    }
    invoke(host, request, response, res, found.owner, handler);
  } catch (err) {
    fail(host, request, response, res, err);
  }
}

function invoke(host: Host, request: Request, response: Response, res: ServerResponse, owner: object, handler: Function): void {
  let result: unknown;
  try {
    result = callHandler(request, response, handler, owner, request.args);
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
  if (res.headersSent || res.destroyed) {
    // The status line is gone: all we can do is log and cut the connection.
    host.log.error(`${request.method} ${request.path}: failed after the response began: ${describe(err)}`);
    res.destroy();
    return;
  }
  const settings = request.config;
  const fresh = new Response();
  if (settings['tools.response_headers.on']) setResponseHeaders(request, fresh);
  if (err instanceof HTTPRedirect) {
    fresh.status = err.status;
    fresh.headers['Location'] = err.location;
    fresh.headers['Content-Type'] = 'text/html;charset=utf-8';
    return send(host, request, fresh, res, errorPageHeaders(fresh, `This resource can be found at ${err.location}.`, err.status));
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

function errorPageHeaders(response: Response, message: string, status: number, traceback?: string): string {
  // The page is ours, never a document of the app: forbid scripts and sniffing.
  response.headers['Content-Security-Policy'] = "default-src 'none'";
  response.headers['X-Content-Type-Options'] = 'nosniff';
  return errorPage(status, message, traceback);
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `non-Error value thrown: ${String(err)}`;
}
