/**
 * Values that may or may not have to be waited for. Stages of the pipeline,
 * hooks and session storages return a promise only when they must wait, so a
 * request whose work is all synchronous never awaits; this is the one check
 * for "must I wait for this?".
 */

/** A value, or a promise of it. */
export type Awaitable<T> = T | PromiseLike<T>;

/** Anything with a `then` (a promise from any library). */
export function isThenable<T = unknown>(value: unknown): value is PromiseLike<T> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<T>).then === 'function';
}
