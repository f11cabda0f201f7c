/**
 * The public surface: `import * as cherrypy from './cherrypy/index.ts'`.
 *
 * A small CherryPy-style dispatcher on node:http, with CherryPy's names:
 *   cherrypy.expose             mark handlers (decorator or function wrapper)
 *   cherrypy.config.update      global settings (typed); quickstart's file adds per-path ones
 *   cherrypy.quickstart         mount, configure, serve, handle signals
 *   cherrypy.request/response   the current request and response, inside handlers
 *   cherrypy.HTTPError, NotFound, HTTPRedirect   errors as values
 *   cherrypy.engine, cherrypy.tree               the running server and its apps
 *   cherrypy.testing.serve      the test helper
 * Each concern has its own file next to this one; the header of each explains it.
 */
import './tools/index.ts'; // registers the built-in tools
export { expose, type ExposeOptions } from './expose.ts';
export { Tool, tools, HOOK_POINTS, type HookPoint, type Tools, type ToolOptions } from './hooks.ts';
export { checkpasswordDict } from './tools/index.ts';
import { MethodDispatcher, TreeDispatcher } from './dispatch.ts';
/** `cherrypy.dispatch`: what a path's `request.dispatch` can be, by CherryPy's names. */
export const dispatch = { Dispatcher: TreeDispatcher, MethodDispatcher };
export type { Dispatcher as DispatcherInterface } from './dispatch.ts';
export { config, type AppConfig, type PathSettings, type Settings, type SettingsUpdate } from './config.ts';
export { quickstart, engine, tree, isMainModule, type EngineState } from './engine.ts';
export { request, response, Request, Response, type Params } from './request.ts';
export { HTTPError, NotFound, HTTPRedirect, ConfigError } from './errors.ts';
export { log } from './log.ts';
export * as testing from './testing.ts';
