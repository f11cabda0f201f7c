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
 */

const EXPOSED = Symbol('cherrypy.exposed');
const exposedFunctions = new WeakSet<Function>();
// esbuild (under tsx) stores decorator metadata under Symbol.metadata when the
// runtime has it, and under this registered symbol when it does not.
const METADATA: symbol = (Symbol as { metadata?: symbol }).metadata ?? Symbol.for('Symbol.metadata');

type Metadata = Record<PropertyKey, unknown> & { [EXPOSED]?: ReadonlySet<string> };

export function expose<F extends Function>(fn: F): F;
export function expose<F extends Function>(fn: F, context: ClassMethodDecoratorContext): F;
export function expose<F extends Function>(fn: F, context?: ClassMethodDecoratorContext): F {
  if (typeof fn !== 'function') throw new TypeError('expose() takes a function or decorates a method');
  if (context === undefined) {
    exposedFunctions.add(fn);
    return fn;
  }
  if (context.kind !== 'method' || context.static || context.private || typeof context.name !== 'string') {
    throw new TypeError('@expose goes on public instance methods');
  }
  const metadata = context.metadata as Metadata;
  // Copy rather than add: the metadata object inherits its parent class's set.
  metadata[EXPOSED] = new Set([...(metadata[EXPOSED] ?? []), context.name]);
  return fn;
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
  const ctor = (owner as { constructor?: unknown }).constructor;
  if (typeof ctor !== 'function') return false;
  const metadata = (ctor as unknown as Record<symbol, Metadata | undefined>)[METADATA];
  return metadata?.[EXPOSED]?.has(name) ?? false;
}
