/**
 * One request, from the URL to the bytes on the wire, in CherryPy's order.
 *
 *   route               parse the target (each segment percent-decoded once, as
 *                       UTF-8 or else Latin-1; malformed escapes or NUL -> 400;
 *                       absolute-form targets accepted), find the app and the
 *                       path's config section (app.ts)
 *   dispatch            find the handler (dispatch.ts, or the path's
 *                       `request.dispatch`); `_cp_config` along the walk is
 *                       merged into the path's config; the tools on for the
 *                       resulting config are the exchange's plan (hooks.ts)
 *   on_start_resource   hooks
 *   before_request_body hooks, then the body (body.ts: received before the
 *                       request took its slot; here it is parsed)
 *   before_handler      hooks (a static tool may answer and set the handler to null)
 *   handler             `request.handler()`: the found handler with the path's
 *                       arguments, with cherrypy.request / response set; its
 *                       value (awaited) goes to `response.body`
 *   before_finalize     hooks
 *   finalize            the body becomes the response (respond.ts)
 *   on_end_resource     hooks; on_end_request hooks when the response is over
 * Anything thrown at any stage goes to `fail` (respond.ts), the one place
 * where errors become responses. Hooks and handlers may be async; a stage
 * that completes synchronously goes straight on to the next, so most
 * requests never await.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTPError, NotFound, describeError } from './errors.ts';
import { TreeDispatcher, checkArguments, stillHolds, type Found, type Resolution } from './dispatch.ts';
import { readBody, takesBody } from './body.ts';
import { Request, Response, inContext } from './request.ts';
import { fail, send } from './respond.ts';
import { planFor, runHooks, type Hook, type HookPoint } from './hooks.ts';
import { Exchange, type Host } from './exchange.ts';
import { debug } from './debug.ts';
import { isThenable } from './awaitable.ts';
import type { Application, PathConfig } from './app.ts';
import type { Settings } from './config.ts';

/**
 * What a URL path resolves to: its segments, app and config, and (once a
 * request reached a handler or a tool answered it) the dispatcher's answer
 * with the config `_cp_config` gives it. Kept per server, so the next request
 * for `/` skips the parsing, the lookups and the walk; the walk's answer is
 * re-checked before each use (dispatch.ts `stillHolds`). Bounded: the cache
 * starts over at ROUTE_CACHE_SIZE paths.
 */
export interface Route {
  path: string;
  app: Application | undefined;
  /** The segments below the app's mount point. */
  below: string[];
  pathConfig: PathConfig | undefined;
  resolution?: Resolution;
  /** The path's settings with the `_cp_config` of the resolution's walk merged in. */
  settings?: Settings;
}

/** The default dispatcher, for paths whose config names none. */
const treeDispatcher = new TreeDispatcher();

/** Enough for every path of an app and its static files; an attacker's random paths only make it start over. */
const ROUTE_CACHE_SIZE = 1000;

/** Splits and decodes a request target's path; throws 400 for what cannot be a path. */
function parsePath(target: string): { path: string; segments: string[] } {
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

/** Handles one request; returns its exchange (the server logs it when it is over). */
export function handleRequest(host: Host, req: IncomingMessage, res: ServerResponse): Exchange {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const key = q < 0 ? url : url.slice(0, q);
  let route: Route;
  try {
    route = routeFor(host, key);
  } catch (err) {
    const bare = new Exchange(host, req, res, new Request(req, key, '', host.settings), new Response());
    bare.plan = planFor(host.settings);
    fail(bare, err);
    return bare;
  }
  const request = new Request(req, route.path, q < 0 ? '' : url.slice(q + 1), route.pathConfig?.settings ?? host.settings);
  request.segments = route.below;
  const ex = new Exchange(host, req, res, request, new Response());
  let found = false;
  try {
    try {
      if (route.app) {
        request.script_name = route.app.scriptName;
        found = dispatch(ex, route, key);
      }
    } finally {
      ex.plan = planFor(request.config); // set before fail() below too: the path's failsafe tools apply to a dispatch error
    }
  } catch (err) {
    fail(ex, err);
    return ex;
  }
  if (ex.plan.empty && !takesBody(request.method)) {
    // No tool on this path and no body (most requests): the handler and the response, or a 404 without a throw.
    if (found) runHandlerOnly(ex);
    else fail(ex, new NotFound(route.path));
    return ex;
  }
  if (!found) request.handler = () => { throw new NotFound(route.path); }; // a tool may still answer (static files)
  run(ex, 0);
  return ex;
}

/** Finds the handler and sets request.handler and request.config (with `_cp_config` merged in); false when nothing answers the path. */
function dispatch(ex: Exchange, route: Route, key: string): boolean {
  const { host, request, response } = ex;
  const app = route.app!;
  const dispatcher = request.config['request.dispatch'] ?? treeDispatcher;
  const cached = dispatcher.cacheable ? route.resolution : undefined;
  let resolution: Resolution;
  if (cached && (cached.method === undefined || cached.method === request.method) && stillHolds(app.root, cached)) {
    resolution = cached;
  } else {
    resolution = dispatcher.find(app.root, route.below, route.path.endsWith('/'), request.method);
    if (dispatcher.cacheable) {
      route.resolution = resolution;
      route.settings = undefined;
      // Paths without a handler too: a static file's path has none, and is asked for as often.
      remember(host, key, route);
    }
  }
  const found = resolution.found;
  if (!found) {
    debug('no handler for %s', request.path);
    return false;
  }
  request.config = dispatcher.cacheable
    ? route.settings ??= app.withObjectConfig(request.config, found)
    : app.withObjectConfig(request.config, found);
  if (resolution.allow) response.headers['Allow'] = resolution.allow;
  request.is_index = found.is_index;
  if (found.args.length) request.args = found.args.slice(); // a copy: the handler may change it
  request.handler = handlerFor(ex, found);
  return true;
}

/**
 * The found handler as `request.handler`. The closure is made here, not in
 * dispatch: made there, on Node 24 each request's objects outlived it while
 * V8's Maglev code for dispatch ran (a new process's first seconds of load):
 * ~58 MB copied by scavenges of up to 45 ms, against ~5 MB this way
 * (`--trace-gc-nvp`; Node 20 has no Maglev).
 */
function handlerFor(ex: Exchange, found: Found): () => unknown {
  return () => callFound(ex, found);
}

/** Calls the found handler with the path's arguments, if it is still exposed and they still fit. */
function callFound(ex: Exchange, found: Found): unknown {
  const { request } = ex;
  const { handler, owner, runsLater } = found;
  // The walk still holds, so the handler is the same function: only an `exposed` property can have changed.
  if (!found.exposedForGood && (handler as { exposed?: unknown }).exposed !== true) throw new NotFound(request.path);
  if (!found.argsFit) checkArguments(found, request.config['request.show_mismatched_params']);
  return inContext(ex, runsLater, handler, owner, request.args);
}

// The stages after dispatch, in order. Each returns a promise only when it has to wait.
const STAGES: ((ex: Exchange) => Promise<void> | undefined)[] = [
  (ex) => hooks(ex, 'on_start_resource'),
  (ex) => hooks(ex, 'before_request_body'),
  (ex) => {
    // Received already, before the request took its slot (body.ts); json_in may have read it first.
    if (takesBody(ex.request.method) && ex.request.body === undefined) readBody(ex.request);
    return undefined;
  },
  (ex) => hooks(ex, 'before_handler'),
  callHandler,
  (ex) => hooks(ex, 'before_finalize'),
  finalize,
];

function hooks(ex: Exchange, point: HookPoint): Promise<void> | undefined {
  const list = ex.plan[point];
  return list.length === 0 ? undefined : runHooks(list, ex);
}

/** Runs the stages from `from` on; an async stage continues the run when it settles. */
function run(ex: Exchange, from: number): void {
  try {
    for (let stage = from; stage < STAGES.length; stage++) {
      const pending = STAGES[stage]!(ex);
      if (pending) {
        pending.then(() => run(ex, stage + 1), (err: unknown) => fail(ex, err));
        return;
      }
    }
  } catch (err) {
    fail(ex, err);
  }
}

/** The stages of a request that no tool touches: the handler and the response. */
function runHandlerOnly(ex: Exchange): void {
  try {
    const pending = callHandler(ex);
    if (pending) pending.then(() => finalize(ex), (err: unknown) => fail(ex, err));
    else finalize(ex);
  } catch (err) {
    fail(ex, err);
  }
}

function callHandler(ex: Exchange): Promise<void> | undefined {
  const handler = ex.request.handler;
  if (handler === null) return undefined; // a tool answered
  const result = handler();
  if (isThenable(result)) {
    return Promise.resolve(result).then((value) => { ex.response.body = value; });
  }
  ex.response.body = result;
  return undefined;
}

function finalize(ex: Exchange): undefined {
  send(ex, ex.response.body);
  if (ex.plan.on_end_resource.length) runAfterResponse(ex, ex.plan.on_end_resource);
  return undefined;
}

/** The on_end_request hooks: the server calls this once per request, when its response is complete or its client left. */
export function endRequest(ex: Exchange): void {
  if (ex.plan.on_end_request.length) runAfterResponse(ex, ex.plan.on_end_request);
}

/** Runs hooks once the response went out: a failure, sync or async, can only be logged (never a crash, never a cut). */
function runAfterResponse(ex: Exchange, list: readonly Hook[]): void {
  try {
    runHooks(list, ex)?.catch((err: unknown) => hookFailedLate(ex, err));
  } catch (err) {
    hookFailedLate(ex, err);
  }
}

function hookFailedLate(ex: Exchange, err: unknown): void {
  ex.host.log.error(`${ex.request.method} ${ex.request.path}: a hook failed after the response: ${describeError(err)}`);
}
