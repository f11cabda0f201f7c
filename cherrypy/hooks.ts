/**
 * Hook points and tools: how a request is extended, as in CherryPy.
 *
 * A request passes these hook points in this order (pipeline.ts):
 *
 *   on_start_resource      the handler and the path's config are known
 *   before_request_body    the body is about to be read
 *   before_handler         the body is read; the handler is about to run
 *   (handler)              `request.handler`: a tool may replace it, or set it to null
 *                          after answering the request itself (the static tools do)
 *   before_finalize        the handler's value is in `response.body`
 *   on_end_resource        the response went out (its body may still be streaming)
 *   before_error_response  an error is about to become the response
 *   after_error_response   it has
 *   on_end_request         last of all, when the response is complete or the client left
 *
 * At each point, callbacks run in order of priority (lower first; 50 unless
 * said), and may be async. A tool is a callback at a hook point, switched on
 * per path with `tools.NAME.on` and given arguments as `tools.NAME.ARG`:
 *
 *   const login = new cherrypy.Tool('before_handler', ({ page }) => {
 *     if (!cherrypy.request.headers.cookie) throw new cherrypy.HTTPRedirect(page);
 *   }, { priority: 60, args: { page: '/login' } });
 *   cherrypy.tools.login = login;              // registers it under its name
 *   declare module './cherrypy/hooks.ts' { interface Tools { login: typeof login } }
 *
 * The declaration makes `tools.login.on` and `tools.login.page` known to the
 * typed `config.update` (a misspelt argument fails `tsc`); at run time the
 * registry knows them too, so an INI file naming an argument the tool does not
 * take fails at start with file:line. `@cherrypy.tools.login({ page: '/in' })`
 * switches it on for one handler.
 *
 * Which tools run for a path is worked out once per config object (each path
 * section's settings are one frozen object), so a request whose path has no
 * tool on pays for none.
 */
import { inContext, type Request, type Response } from './request.ts';
import { recordMethodConfig } from './expose.ts';
import { isThenable } from './awaitable.ts';
import type { Log } from './log.ts';

export const HOOK_POINTS = [
  'on_start_resource', 'before_request_body', 'before_handler', 'before_finalize',
  'on_end_resource', 'before_error_response', 'after_error_response', 'on_end_request',
] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

/**
 * What a tool's callback gets besides its arguments: the request and response (also reachable as
 * cherrypy.request / response), and the server's log, for a line about what the tool did.
 */
export interface ToolContext { request: Request; response: Response; log: Log }

export type ToolCallback<A> = (args: A, context: ToolContext) => unknown;

export interface ToolOptions<A> {
  /** Registers the tool in `cherrypy.tools` under this name at once (the same as assigning it there). */
  name?: string;
  /** Lower runs first; CherryPy's default is 50. */
  priority?: number;
  /** The arguments and their defaults; a value from config must have its default's type. */
  args?: A;
  /** Also applied to error responses (CherryPy's failsafe hooks, e.g. response_headers). */
  failsafe?: boolean;
  /**
   * The callback reads `cherrypy.request`/`response` (true, the default for
   * tools of the app): it runs in the request's context. Built-in tools use
   * their second argument instead and skip that cost.
   */
  context?: boolean;
  /** More callbacks at other points, switched on with the tool (as CherryPy's tools attach several hooks: sessions load and save). */
  hooks?: { point: HookPoint; callback: ToolCallback<A>; priority?: number }[];
  /**
   * Arguments that take more than their default's type, with the check that
   * says what is wrong (or undefined when the value is fine): config runs it
   * at start and names the file:line and key.
   */
  checks?: { [K in keyof A]?: (value: unknown) => string | undefined };
}

/** A tool: call it to make a method decorator that switches it on for that handler. */
export interface Tool<A extends object = Record<never, never>> {
  (args?: Partial<A>): <F extends Function>(fn: F, context: ClassMethodDecoratorContext) => F;
  readonly point: HookPoint;
  readonly callback: ToolCallback<A>;
  readonly priority: number;
  readonly defaults: Readonly<A>;
  readonly failsafe: boolean;
  readonly inContext: boolean;
  readonly hooks: readonly { point: HookPoint; callback: ToolCallback<A>; priority: number }[];
  readonly checks: { readonly [K in keyof A]?: (value: unknown) => string | undefined };
  /** Set when the tool is registered in `cherrypy.tools`. */
  name: string;
}

interface ToolConstructor {
  new <A extends object = Record<never, never>>(point: HookPoint, callback: ToolCallback<A>, options?: ToolOptions<A>): Tool<A>;
}

/** `new cherrypy.Tool(point, callback, { priority, args })`. Tools are functions (decorator factories), so the constructor returns one. */
export const Tool = function Tool<A extends object>(point: HookPoint, callback: ToolCallback<A>, options: ToolOptions<A> = {}): Tool<A> {
  if (!(HOOK_POINTS as readonly string[]).includes(point)) {
    throw new TypeError(`Tool: unknown hook point '${point}' (one of ${HOOK_POINTS.join(', ')})`);
  }
  if (typeof callback !== 'function') throw new TypeError('Tool: the callback must be a function');
  const tool = ((args: Partial<A> = {}) => (fn: Function, context: ClassMethodDecoratorContext) => {
    if (!tool.name) throw new TypeError('a tool must be registered in cherrypy.tools before it decorates a method');
    const settings: Record<string, unknown> = { [`tools.${tool.name}.on`]: true };
    for (const [arg, value] of Object.entries(args)) settings[`tools.${tool.name}.${arg}`] = value;
    recordMethodConfig(context, settings, `@cherrypy.tools.${tool.name}()`);
    return fn;
  }) as Tool<A>;
  Object.defineProperties(tool, {
    point: { value: point },
    callback: { value: callback },
    priority: { value: options.priority ?? 50 },
    defaults: { value: Object.freeze({ ...(options.args ?? {}) }) },
    failsafe: { value: options.failsafe ?? false },
    inContext: { value: options.context ?? true },
    hooks: { value: (options.hooks ?? []).map((h) => ({ ...h, priority: h.priority ?? 50 })) },
    checks: { value: Object.freeze({ ...(options.checks ?? {}) }) },
    name: { value: '', writable: true },
  });
  if (options.name !== undefined) (tools as unknown as Record<string, unknown>)[options.name] = tool;
  return tool;
} as unknown as ToolConstructor;

/**
 * The registered tools, by name. The app's tools are declared here by module
 * augmentation, which types their config keys:
 *   declare module './cherrypy/hooks.ts' { interface Tools { login: typeof login } }
 */
export interface Tools {}

type ArgsOf<T> = T extends Tool<infer A> ? A : never;
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type ToolName = keyof Tools & string;

/** `tools.NAME.on` and `tools.NAME.ARG` for every tool declared in Tools. */
export type ToolSettings = [ToolName] extends [never] ? unknown : { [N in ToolName as `tools.${N}.on`]?: boolean } &
  UnionToIntersection<{ [N in ToolName]: { [K in keyof ArgsOf<Tools[N]> & string as `tools.${N}.${K}`]?: ArgsOf<Tools[N]>[K] } }[ToolName]>;

const registry = new Map<string, Tool<object>>();
/** Bumped when a tool is registered: plans worked out before then are stale. */
let generation = 0;

/** `cherrypy.tools`: assigning a Tool registers it under that name. */
export const tools: Tools = new Proxy({} as Tools, {
  set(target, name, tool: Tool<object>) {
    if (typeof name !== 'string' || !/^[a-z_][a-z0-9_]*$/i.test(name)) throw new TypeError(`cherrypy.tools: '${String(name)}' is not a tool name`);
    if (typeof tool !== 'function' || !('point' in tool)) throw new TypeError(`cherrypy.tools.${name} must be a cherrypy.Tool`);
    if (tool.name && tool.name !== name) throw new TypeError(`this tool is registered already as '${tool.name}'`);
    tool.name = name;
    registry.set(name, tool);
    generation++;
    return Reflect.set(target, name, tool);
  },
});

/** The tool a `tools.NAME.*` key belongs to, if registered. */
export function registeredTool(name: string): Tool<object> | undefined {
  return registry.get(name);
}

/** A callback of a tool switched on for a path, with the tool's arguments as the path's config gives them. */
export interface Hook { tool: Tool<object>; callback: ToolCallback<object>; priority: number; args: object }

/** The hooks of a path, by hook point, sorted by priority. */
export type Plan = Readonly<Record<HookPoint, readonly Hook[]>> & { readonly failsafe: readonly Hook[]; readonly empty: boolean };

/** The plan of no tools at all. */
export const NO_TOOLS: Plan = Object.freeze({
  ...Object.fromEntries(HOOK_POINTS.map((point) => [point, Object.freeze([] as Hook[])])) as Record<HookPoint, readonly Hook[]>,
  failsafe: Object.freeze([]), empty: true,
});

const plans = new WeakMap<object, { plan: Plan; generation: number }>();
// The last answer, checked before the WeakMap: consecutive requests mostly share their settings.
let lastSettings: object | undefined;
let lastPlan: Plan | undefined;
let lastGeneration = -1;

function remember(settings: object, plan: Plan): Plan {
  lastSettings = settings;
  lastPlan = plan;
  lastGeneration = generation;
  return plan;
}

/** Which tools are on for these settings, and with what arguments. */
export function planFor(settings: object): Plan {
  if (lastSettings === settings && lastGeneration === generation) return lastPlan!;
  const known = plans.get(settings);
  if (known && known.generation === generation) return remember(settings, known.plan);
  const values = settings as Record<string, unknown>;
  const byPoint = Object.fromEntries(HOOK_POINTS.map((point) => [point, [] as Hook[]])) as Record<HookPoint, Hook[]>;
  const failsafe: Hook[] = [];
  for (const [name, tool] of registry) {
    if (values[`tools.${name}.on`] !== true) continue;
    const args: Record<string, unknown> = {};
    for (const [arg, fallback] of Object.entries(tool.defaults)) args[arg] = values[`tools.${name}.${arg}`] ?? fallback;
    const hook = { tool, callback: tool.callback, priority: tool.priority, args };
    byPoint[tool.point].push(hook);
    for (const more of tool.hooks) byPoint[more.point].push({ tool, callback: more.callback, priority: more.priority, args });
    if (tool.failsafe) failsafe.push(hook);
  }
  for (const hooks of Object.values(byPoint)) hooks.sort((a, b) => a.priority - b.priority);
  const plan = Object.freeze({ ...byPoint, failsafe, empty: Object.values(byPoint).every((h) => h.length === 0) });
  plans.set(settings, { plan, generation });
  return remember(settings, plan);
}

/**
 * Runs `hooks` in order; returns a promise only if one of them is async (then
 * the rest run after it), so a path whose tools are all synchronous stays so.
 * `context` is passed on as it is (the pipeline gives its exchange: no object made per hook).
 */
export function runHooks(hooks: readonly Hook[], context: ToolContext, from = 0): Promise<void> | undefined {
  for (let i = from; i < hooks.length; i++) {
    const { tool, callback, args } = hooks[i]!;
    const result = tool.inContext
      ? inContext(context, true, callback, undefined, [args, context])
      : callback(args, context);
    if (isThenable(result)) {
      return Promise.resolve(result).then(() => runHooks(hooks, context, i + 1));
    }
  }
  return undefined;
}
