/**
 * The public surface: `import * as cherrypy from './cherrypy/index.ts'`.
 *
 * A small CherryPy-style dispatcher on node:http, with CherryPy's names:
 *   cherrypy.expose             mark handlers (decorator or function wrapper)
 *   cherrypy.config             global settings (`update`, typed); `@cherrypy.config({...})` per class or handler
 *   cherrypy.quickstart         mount, configure, serve, handle signals
 *   cherrypy.request/response   the current request and response, inside handlers and tools
 *   cherrypy.HTTPError, NotFound, HTTPRedirect   errors as values
 *   cherrypy.Tool, cherrypy.tools                hook points and tools (hooks.ts, tools/)
 *   cherrypy.dispatch           the default Dispatcher and the MethodDispatcher
 *   cherrypy.engine, cherrypy.tree, cherrypy.url the running server (a bus), its apps, URLs in them
 *   cherrypy.process.plugins    SimplePlugin, Monitor, BackgroundTask for the engine
 *   cherrypy.session            the current session (tools.sessions); request.cookie / response.cookie
 *   cherrypy.request.files      uploaded files (multipart.ts)
 *   cherrypy.testing.serve      the test helper
 * Each concern has its own file next to this one; the header of each explains it.
 */
import './tools/index.ts'; // registers the built-in tools
import { MethodDispatcher, TreeDispatcher } from './dispatch.ts';
import { BackgroundTask, Monitor, SimplePlugin } from './bus.ts';

export { expose, type ExposeOptions } from './expose.ts';
export { config, type AppConfig, type PathSettings, type Settings, type SettingsUpdate } from './config.ts';
export { quickstart, engine, tree, url, isMainModule, type EngineState } from './engine.ts';
export { request, response, Request, Response, type Params } from './request.ts';
export { HTTPError, NotFound, HTTPRedirect, ConfigError } from './errors.ts';
export { Tool, tools, HOOK_POINTS, type HookPoint, type Tools, type ToolOptions } from './hooks.ts';
export { checkpasswordDict } from './tools/index.ts';
export type { Dispatcher as DispatcherInterface } from './dispatch.ts';
export type { Channel } from './bus.ts';
export { session } from './sessions.ts';
export { RamStorage, FileStorage, type SessionStorage, type SessionData } from './sessionstore.ts';
export { UploadedFile } from './multipart.ts';
export { type CookieOptions } from './cookies.ts';
export { log } from './log.ts';
export * as testing from './testing.ts';

/** `cherrypy.dispatch`: what a path's `request.dispatch` can be, by CherryPy's names. */
export const dispatch = { Dispatcher: TreeDispatcher, MethodDispatcher };

/** `cherrypy.process.plugins`: CherryPy's plugin classes for the engine's bus. */
export const process = { plugins: { SimplePlugin, Monitor, BackgroundTask } };
