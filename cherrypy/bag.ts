/**
 * A record for keys that come from clients (query parameters, form fields,
 * cookies, upload part names): no prototype above it, so `__proto__`,
 * `constructor` or `toString` are ordinary keys and nothing of Object's leaks
 * in. `Object.create(null)` gives the same, but V8 keeps such objects in its
 * slow dictionary mode from the start (about 1.5 µs more per request,
 * measured); an instance of a function whose prototype has a null prototype
 * keeps the fast layout.
 */
function Bag(): void {}
Bag.prototype = Object.create(null) as object;

export function bag<T>(): Record<string, T> {
  return new (Bag as unknown as new () => Record<string, T>)();
}
