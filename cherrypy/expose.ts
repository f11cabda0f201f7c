/**
 * `expose`: which members of the app's objects the URL may reach.
 *
 * As a method decorator (`@cherrypy.expose index() {...}`), the method's name is
 * recorded in the class's decorator metadata, not on the function. So when a
 * test replaces the method with a sinon stub or spy, the stub is still routable:
 * what is exposed is "Landing's index", whatever function stands there.
 *
 * As a function wrapper (`index = cherrypy.expose(() => 'Yay')`), the article's
 * `index.exposed = True` style, the function itself is marked. A function with
 * an own `exposed = true` property counts as exposed too.
 *
 * `expose({ args: ['name?'] })` (as a decorator, or wrapping a function)
 * declares the path arguments too; see ExposeOptions.
 */

const EXPOSED = Symbol('cherrypy.exposed');
const ARGS = Symbol('cherrypy.args');
const exposedFunctions = new WeakSet<Function>();
const declaredFunctions = new WeakMap<Function, Arity>();
// esbuild (under tsx) stores decorator metadata under Symbol.metadata when the
// runtime has it, and under this registered symbol when it does not.
const METADATA: symbol = (Symbol as { metadata?: symbol }).metadata ?? Symbol.for('Symbol.metadata');

const CONFIG = Symbol('cherrypy.config');
const CLASS_CONFIG = Symbol('cherrypy.class config');

type Metadata = Record<PropertyKey, unknown> & {
  [EXPOSED]?: ReadonlySet<string>;
  [ARGS]?: ReadonlyMap<string, Arity>;
  [CONFIG]?: ReadonlyMap<string, ObjectConfig>;
  [CLASS_CONFIG]?: ObjectConfig;
};

/** Settings given in code for an object or a handler, with where they were given (for error messages). */
export interface ObjectConfig { settings: Record<string, unknown>; where: string }

/**
 * Records settings for the decorated method (`@cherrypy.config({...})`, a
 * tool's decorator) or class (`@cherrypy.config({...})` on the class). Several
 * decorators on one method add up.
 */
export function recordMethodConfig(context: ClassMethodDecoratorContext | ClassDecoratorContext, settings: Record<string, unknown>, what: string): void {
  const metadata = context.metadata as Metadata;
  if (context.kind === 'class') {
    metadata[CLASS_CONFIG] = { settings: { ...metadata[CLASS_CONFIG]?.settings, ...settings }, where: `${what} on class ${String(context.name)}` };
    return;
  }
  if (context.static || context.private || typeof context.name !== 'string') throw new TypeError(`${what} goes on public instance methods`);
  const name = context.name;
  const earlier = metadata[CONFIG]?.get(name);
  const entry = { settings: { ...earlier?.settings, ...settings }, where: `${what} on ${name}()` };
  metadata[CONFIG] = new Map([...(metadata[CONFIG] ?? []), [name, entry]]);
}

/**
 * An object's own config, as CherryPy's `_cp_config`: a `_cp_config` member
 * (a class field, or a static one on its class), merged with a class-level
 * `@cherrypy.config({...})`. Undefined when it has none.
 */
export function objectConfig(node: object): ObjectConfig | undefined {
  const ctor = (node as { constructor?: unknown }).constructor;
  const className = typeof ctor === 'function' ? ctor.name : 'object';
  const fromClass = metadataOf(node)?.[CLASS_CONFIG];
  const member = (node as { _cp_config?: unknown })._cp_config;
  const stat = typeof ctor === 'function' ? (ctor as { _cp_config?: unknown })._cp_config : undefined;
  if (!fromClass && member === undefined && stat === undefined) return undefined;
  return {
    settings: { ...fromClass?.settings, ...(stat as object | undefined), ...(member as object | undefined) },
    where: `${className}._cp_config`,
  };
}

/** A handler's own config: `fn._cp_config`, and what decorators recorded for `owner[name]`. */
export function handlerConfig(owner: object, name: string, fn: Function): ObjectConfig | undefined {
  const decorated = metadataOf(owner)?.[CONFIG]?.get(name);
  const own = (fn as { _cp_config?: unknown })._cp_config;
  if (!decorated && own === undefined) return undefined;
  return { settings: { ...decorated?.settings, ...(own as object | undefined) }, where: decorated?.where ?? `${name}._cp_config` };
}

/** How many path segments a handler takes: at least `required`, at most `max` (Infinity with a rest parameter). */
export interface Arity { required: number; max: number }

export interface ExposeOptions {
  /**
   * The handler's path arguments, by name: `'name?'` is optional, `'...rest'`
   * takes the rest. TypeScript's `name?: string` leaves no trace at run time,
   * so a handler with one declares it here: `@cherrypy.expose({ args: ['name?'] })`.
   * Without it, parameters with a default value are optional, the others required.
   */
  args?: readonly string[];
}

type Exposer = <F extends Function>(fn: F, context?: ClassMethodDecoratorContext) => F;

export function expose<F extends Function>(fn: F): F;
export function expose<F extends Function>(fn: F, context: ClassMethodDecoratorContext): F;
export function expose(options: ExposeOptions): Exposer;
export function expose<F extends Function>(fn: F | ExposeOptions, context?: ClassMethodDecoratorContext): F | Exposer {
  if (typeof fn === 'function') return mark(fn, context, undefined);
  if (fn !== null && typeof fn === 'object' && context === undefined) {
    const arity = fn.args === undefined ? undefined : arityOf(fn.args);
    return (handler, ctx) => mark(handler, ctx, arity);
  }
  throw new TypeError('expose() takes a function, decorates a method, or takes options: expose({ args: [...] })');
}

function mark<F extends Function>(fn: F, context: ClassMethodDecoratorContext | undefined, arity: Arity | undefined): F {
  if (typeof fn !== 'function') throw new TypeError('expose() takes a function or decorates a method');
  if (context === undefined) {
    exposedFunctions.add(fn);
    if (arity) declaredFunctions.set(fn, arity);
    return fn;
  }
  if (context.kind !== 'method' || context.static || context.private || typeof context.name !== 'string') {
    throw new TypeError('@expose goes on public instance methods');
  }
  const metadata = context.metadata as Metadata;
  // Copy rather than add: the metadata object inherits its parent class's set.
  metadata[EXPOSED] = new Set([...(metadata[EXPOSED] ?? []), context.name]);
  if (arity) metadata[ARGS] = new Map([...(metadata[ARGS] ?? []), [context.name, arity]]);
  return fn;
}

/** Reads an `args` declaration; a wrong one is an error when the class is defined, naming what to write. */
function arityOf(args: readonly string[]): Arity {
  let required = 0, optional = 0, rest = false;
  for (const [i, arg] of args.entries()) {
    const match = /^(\.\.\.)?[A-Za-z_$][\w$]*(\?)?$/.exec(arg);
    if (!match || (match[1] && match[2])) throw new TypeError(`expose({ args }): '${arg}' is not a parameter name (write 'name', 'name?' or '...rest')`);
    if (match[1]) {
      if (i !== args.length - 1) throw new TypeError(`expose({ args }): '${arg}' must come last`);
      rest = true;
    } else if (match[2]) optional++;
    else if (optional) throw new TypeError(`expose({ args }): required '${arg}' after an optional one`);
    else required++;
  }
  return { required, max: rest ? Infinity : required + optional };
}

/** The arguments declared with expose({ args }) for `owner[name]`, if any. */
export function declaredArity(owner: object, name: string, value: Function): Arity | undefined {
  const declared = declaredFunctions.get(value);
  if (declared) return declared;
  return metadataOf(owner)?.[ARGS]?.get(name);
}

function metadataOf(owner: object): Metadata | undefined {
  const ctor = (owner as { constructor?: unknown }).constructor;
  if (typeof ctor !== 'function') return undefined;
  return (ctor as unknown as Record<symbol, Metadata | undefined>)[METADATA];
}

/** Is `owner[name]` (whose value is `value`) reachable as a handler? */
export function isExposed(owner: object, name: string, value: unknown): value is Function {
  if (typeof value !== 'function') return false;
  return (value as { exposed?: unknown }).exposed === true || exposedForGood(owner, name, value);
}

/**
 * Exposed by the decorator or by `expose()`: marks that never go away, unlike
 * an `exposed` property, so the dispatcher checks them once per route.
 */
export function exposedForGood(owner: object, name: string, value: Function): boolean {
  if (exposedFunctions.has(value)) return true;
  return metadataOf(owner)?.[EXPOSED]?.has(name) ?? false;
}
