/**
 * The default dispatcher: find a handler by walking the app's object tree.
 *
 * The URL path is cut into segments (empty ones dropped, so `/a//b/` walks like
 * `/a/b`) and a virtual `index` segment is appended. Starting at the root
 * object, each segment names a member of the current object, with every ASCII
 * punctuation character turned into `_` (`/logo.png` looks up `logo_png`).
 * Missing members end the walk, but the remaining segments are still counted.
 *
 * Then the trail is scanned from the deepest object back to the root; the first
 * match wins:
 *  1. an object with an exposed `default` method: the catch-all; the segments
 *     after that object become its arguments;
 *  2. an exposed method: the handler; the segments after it become its
 *     arguments (for the virtual `index`, there are none and `is_index` is true).
 * Nothing found -> 404.
 *
 * Only the app's own objects are walked: members of Object.prototype
 * (`constructor`, `__proto__`, `toString`, ...) are never reached, nor are
 * members of functions, arrays or typed arrays (`/items/0/` does not reach
 * an object stored in an array, as in CherryPy). Nested plain objects need no exposing;
 * methods do (expose.ts).
 *
 * Positional arguments must fit the handler: fewer than its required
 * parameters, or more than it declares (without a rest parameter) -> 404.
 * What it takes is `expose({ args })` when declared there (the only way to say
 * that a `name?: string` parameter is optional: TypeScript erases the `?`),
 * else read from the function: parameters with a default are optional.
 */
import { HTTPError } from './errors.ts';
import { declaredArity, exposedForGood, isExposed, type Arity } from './expose.ts';

export interface Found {
  /** The object the handler is called on. */
  owner: object;
  name: string;
  handler: Function;
  args: string[];
  is_index: boolean;
  // Facts about the handler, worked out once for the route (they hold as long as the walk does):
  /** Exposed by the decorator or expose(), not only by an `exposed` property that could change. */
  exposedForGood: boolean;
  /** The path's arguments fit the handler's parameters: at least `required`, at most `max`. */
  argsFit: boolean;
  required: number;
  max: number;
  /** An async function or a generator: its code runs after the call returns. */
  runsLater: boolean;
  /** The objects the walk passed through, from the root to `owner`: their `_cp_config` applies, in order. */
  trail: object[];
}

/**
 * Finds the handler for a path (`request.dispatch` in a path's config picks
 * one). `cacheable`: the answer depends on the path alone, so the pipeline
 * may reuse it for the next request to the same path.
 */
export interface Dispatcher {
  find(root: object, segments: readonly string[], endsWithSlash: boolean, method: string): Resolution;
  readonly cacheable: boolean;
}

const PUNCTUATION = /[!-/:-@[-`{-~]/g;

/** Member names the URL may never reach, whatever the object. */
function unreachable(name: string): boolean {
  return name === '__proto__' || name === 'prototype' || name === '_cp_config' || name in Object.prototype;
}

/** A handler found for a path, and what the walk saw on the way (to tell later whether it still holds). */
export interface Resolution {
  found: Found | undefined;
  /** Member names looked up, one per segment plus the virtual index (undefined: unreachable). */
  names: (string | undefined)[];
  /** What each name led to, and each reached object's `default`, when this was worked out. */
  values: unknown[];
  defaults: unknown[];
  /** For an answer that depends on the method (MethodDispatcher): the method, and the member that answered it. */
  method?: string;
  member?: { owner: object; name: string; value: unknown };
  /** The methods the resource answers, for the Allow header of every response (MethodDispatcher, as CherryPy). */
  allow?: string;
}

function translate(segment: string): string | undefined {
  const name = segment.replace(PUNCTUATION, '_');
  return unreachable(name) ? undefined : name;
}

/** Something the walk may enter: an object, but not an array or a typed array (their elements are data, not pages). */
export function isNode(value: unknown): value is object {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** A member of `node`, if the walk may enter `node`. */
const lookUp = (node: unknown, name: string | undefined): unknown =>
  name !== undefined && isNode(node) ? (node as Record<string, unknown>)[name] : undefined;

/**
 * `node.default`, read at a site of its own: V8 then caches the answer for
 * each shape of node, "none" included (most nodes have no default), where the
 * shared lookUp above misses its cache and searches the prototype chain.
 */
const defaultOf = (node: unknown): unknown => (isNode(node) ? (node as { default?: unknown }).default : undefined);

/** What `names` reach from `root`, one step each: values[0] is the root, values[i] what names[i-1] reached. */
function walk(root: object, names: readonly (string | undefined)[]): unknown[] {
  const values: unknown[] = [root];
  for (let i = 0; i < names.length; i++) values.push(lookUp(values[i], names[i]));
  return values;
}

/**
 * The members a URL can reach on `node`: the nearest data property of each
 * name up its prototype chain (so no getter runs), without the unreachable names.
 */
export function reachableMembers(node: object): [string, unknown][] {
  const descriptors = new Map<string, PropertyDescriptor>();
  for (let o: object | null = node; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(o))) {
      if (!descriptors.has(name)) descriptors.set(name, descriptor);
    }
  }
  const members: [string, unknown][] = [];
  for (const [name, descriptor] of descriptors) if (!unreachable(name) && 'value' in descriptor) members.push([name, descriptor.value]);
  return members;
}

/**
 * Walks `root` with decoded path segments and scans the trail back for the
 * handler; `found` is undefined for "no handler" (404).
 */
export function findHandler(root: object, segments: readonly string[], endsWithSlash: boolean): Resolution {
  const names = segments.map(translate);
  names.push('index');
  const values = walk(root, names);
  const defaults = values.map(defaultOf);
  const resolution: Resolution = { found: undefined, names, values, defaults };
  for (let i = values.length - 1; i >= 0; i--) {
    const node = values[i];
    if (node === undefined) continue;
    const catchAll = defaults[i];
    if (node !== null && typeof node === 'object' && isExposed(node, 'default', catchAll)) {
      resolution.found = found(node, 'default', catchAll, segments.slice(i), endsWithSlash, values.slice(0, i + 1));
      break;
    }
    if (i > 0 && isExposed(values[i - 1] as object, names[i - 1]!, node)) {
      const virtualIndex = i === values.length - 1;
      resolution.found = found(values[i - 1] as object, names[i - 1]!, node, virtualIndex ? [] : segments.slice(i), virtualIndex, values.slice(0, i));
      break;
    }
  }
  return resolution;
}

/** CherryPy's default dispatcher (`cherrypy.dispatch.Dispatcher`): the object tree walk above. */
export class TreeDispatcher implements Dispatcher {
  readonly cacheable: boolean = true;
  find(root: object, segments: readonly string[], endsWithSlash: boolean, _method?: string): Resolution {
    return findHandler(root, segments, endsWithSlash);
  }
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * CherryPy's MethodDispatcher, for REST resources: the path walks the tree to
 * the deepest object that has a method named after an HTTP method (`GET`,
 * `PUT`, ...); the request's method picks the handler (HEAD falls back to GET),
 * and the segments left over are its positional arguments, with the same rules
 * as the default dispatcher. Every response says in `Allow` which methods the
 * resource has (as CherryPy's); a method it lacks is a 405. The methods need no `@expose`: the
 * resource as a whole is what the config exposes here.
 *
 *   '/api/items': { 'request.dispatch': new cherrypy.dispatch.MethodDispatcher() }
 */
export class MethodDispatcher implements Dispatcher {
  // The answer depends on the method too: the pipeline reuses it for requests of the same method (Resolution.method).
  readonly cacheable: boolean = true;
  find(root: object, segments: readonly string[], _endsWithSlash: boolean, method: string): Resolution {
    const names = segments.map(translate);
    const values = walk(root, names);
    const resolution: Resolution = { found: undefined, names, values, defaults: [] };
    for (let i = values.length - 1; i >= 0; i--) {
      const resource = values[i];
      if (!isNode(resource)) continue;
      const allowed = allowedMethods(resource);
      if (allowed.length === 0) continue;
      const name = method === 'HEAD' && typeof (resource as Record<string, unknown>).HEAD !== 'function' ? 'GET' : method;
      const handler = (resource as Record<string, unknown>)[name];
      if (typeof handler !== 'function' || !(HTTP_METHODS as readonly string[]).includes(name)) {
        throw new HTTPError(405, `Method ${method} is not allowed here`, { Allow: allowed.join(', ') });
      }
      resolution.found = { ...found(resource, name, handler, segments.slice(i), false, values.slice(0, i + 1)), exposedForGood: true };
      resolution.method = method;
      resolution.member = { owner: resource, name, value: handler };
      resolution.allow = allowed.join(', ');
      break;
    }
    return resolution;
  }
}

/** The HTTP methods `resource` answers, sorted as CherryPy lists them in `Allow` (HEAD wherever GET is); none for a plain object. */
function allowedMethods(resource: object): string[] {
  const allowed: string[] = HTTP_METHODS.filter((m) => typeof (resource as Record<string, unknown>)[m] === 'function');
  if (allowed.includes('GET') && !allowed.includes('HEAD')) allowed.push('HEAD');
  return allowed.sort();
}

function found(owner: object, name: string, handler: Function, args: string[], is_index: boolean, trail: unknown[]): Found {
  const { required, max } = declaredArity(owner, name, handler) ?? arity(handler);
  return {
    owner, name, handler, args, is_index, required, max,
    trail: trail.filter((node): node is object => node !== null && typeof node === 'object'),
    exposedForGood: exposedForGood(owner, name, handler),
    argsFit: args.length >= required && args.length <= max,
    runsLater: /^\[object (Async|Generator|AsyncGenerator)Function\]$/.test(Object.prototype.toString.call(handler)),
  };
}

/**
 * Does an earlier resolution still hold? True when every member along the
 * walk, and every `default` beside it, is still the same value: then a fresh
 * walk would find the same handler. A replaced method (a sinon stub) or a
 * replaced nested object makes it false, and the path is walked again.
 */
export function stillHolds(root: object, resolution: Resolution): boolean {
  const { names, values, defaults } = resolution;
  if (values[0] !== root) return false;
  for (let i = 0; i < names.length; i++) {
    if (lookUp(values[i], names[i]) !== values[i + 1]) return false;
  }
  for (let i = 0; i < defaults.length; i++) {
    if (defaultOf(values[i]) !== defaults[i]) return false;
  }
  const member = resolution.member;
  return member === undefined || lookUp(member.owner, member.name) === member.value;
}

/**
 * The paths the tree answers, for the start-up banner: `/`, `/healthcheck/`,
 * `/items/*` (a default); where `dispatcherAt` (the path's `request.dispatch`)
 * is a MethodDispatcher, each resource with its methods instead:
 * `/api/items/ (DELETE, GET, HEAD, PUT)`. Only data properties are read, so no
 * getter runs.
 */
export function listRoutes(root: object, dispatcherAt: (names: readonly string[]) => unknown,
  names: readonly string[] = [], seen = new Set<object>()): string[] {
  if (seen.has(root) || seen.size > 200) return [];
  seen.add(root);
  const prefix = names.map((name) => `/${name}`).join('');
  const byMethod = dispatcherAt(names) instanceof MethodDispatcher;
  const routes: string[] = [];
  const methods = byMethod ? allowedMethods(root) : [];
  if (methods.length > 0) routes.push(`${prefix}/ (${methods.join(', ')})`);
  for (const [name, value] of reachableMembers(root)) {
    // Under the MethodDispatcher only the HTTP methods answer, and they are listed with their resource.
    if (!byMethod && isExposed(root, name, value)) {
      routes.push(name === 'index' ? `${prefix}/` : name === 'default' ? `${prefix}/*` : `${prefix}/${name}`);
    } else if (isNode(value)) {
      routes.push(...listRoutes(value, dispatcherAt, [...names, name], seen));
    }
  }
  return routes.sort();
}

const arities = new WeakMap<Function, Arity>();

/**
 * How many positional arguments a function takes: `fn.length` counts the
 * required ones; the declared total and a rest parameter are read from its
 * source once per function and cached.
 */
function arity(fn: Function): Arity {
  let known = arities.get(fn);
  if (!known) {
    const params = parameterList(Function.prototype.toString.call(fn));
    const rest = params.some((p) => p.startsWith('...'));
    known = { required: fn.length, max: rest ? Infinity : Math.max(params.length, fn.length) };
    arities.set(fn, known);
  }
  return known;
}

/** Splits the top-level parameter list of a function's source text. */
function parameterList(source: string): string[] {
  const arrowSingle = /^(?:async\s+)?([\w$]+)\s*=>/.exec(source);
  if (arrowSingle) return [arrowSingle[1]!];
  const open = source.indexOf('(');
  if (open < 0) return [];
  const params: string[] = [];
  let depth = 0, current = '', quote = '';
  let previous = '('; // the last character that was not white space, outside strings
  for (let i = open + 1; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      current += c;
      if (c === '\\') current += source[++i] ?? '';
      else if (c === quote) quote = quote === ']' ? '/' : ''; // a regex's class ends; the regex goes on
      else if (quote === '/' && c === '[') quote = ']'; // inside a regex's [...], a '/' does not end it
      if (quote === '') previous = c;
      continue;
    }
    // A '/' where a value is expected starts a regex literal (`a = /[)]/`); after a value it divides.
    if (c === '"' || c === "'" || c === '`' || (c === '/' && '(,=:[!&|?{};'.includes(previous) && source[i + 1] !== '/' && source[i + 1] !== '*')) {
      quote = c;
      current += c;
      continue;
    }
    if (!/\s/.test(c)) previous = c;
    if (c === '(' || c === '[' || c === '{') depth++;
    if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) break;
      depth--;
    }
    if (c === ',' && depth === 0) { params.push(current.trim()); current = ''; continue; }
    current += c;
  }
  if (current.trim()) params.push(current.trim());
  return params.filter(Boolean);
}

/** Throws 404 when the path's arguments do not fit the handler. */
export function checkArguments({ args, required, max }: Found, explain: boolean): void {
  if (args.length < required) {
    throw new HTTPError(404, explain ? `Missing parameters: the handler needs ${required} path segment(s) here, got ${args.length}` : undefined);
  }
  if (args.length > max) {
    throw new HTTPError(404, explain ? `Too many path segments: the handler takes at most ${max} path segment(s) here, got ${args.length}` : undefined);
  }
}
