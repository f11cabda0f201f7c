/**
 * The exchange: one request in flight, as one object.
 *
 * Every stage of the pipeline (pipeline.ts), the response code (respond.ts)
 * and the server (server.ts) take this object instead of a row of positional
 * arguments. It holds the user-facing `request` and `response` (what handlers
 * and tools see as cherrypy.request / cherrypy.response), node's `req` and
 * `res`, the server it runs in (`host`), the tools on for its path (`plan`),
 * and what only the server needs (the length sent, for the access log).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NO_TOOLS, type Plan } from './hooks.ts';
import type { Request, Response } from './request.ts';
import type { Settings } from './config.ts';
import type { Log } from './log.ts';
import type { Tree } from './app.ts';
import type { Route } from './pipeline.ts';

/** What the pipeline needs from the server it runs in. */
export interface Host {
  tree: Tree;
  settings: Settings;
  log: Log;
  /** True once shutdown (or its lame duck) began: every response then closes its connection. */
  draining: boolean;
  /** Paths resolved before (see Route in pipeline.ts). */
  routes: Map<string, Route>;
  /** Gives back the slot of `res`'s request while its response is streamed (a file, a generator's items). */
  release(res: ServerResponse): void;
}

export class Exchange {
  /** The tools on for this request's path, by hook point (set once dispatch settled the path's config). */
  plan: Plan = NO_TOOLS;
  /** The Content-Length sent, for the access log (undefined when streamed). */
  sentLength: string | undefined = undefined;
  /** The server answered for it (response.timeout ran out): what the pipeline does later is dropped. */
  abandoned = false;
  /** The stream is server-sent events (text/event-stream): it never ends by itself, and a drain closes it (server.ts). */
  events = false;

  constructor(
    readonly host: Host,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly request: Request,
    public response: Response,
  ) {}

  /** The server's log (a tool's ToolContext has it). */
  get log(): Log {
    return this.host.log;
  }
}
