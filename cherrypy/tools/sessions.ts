/**
 * tools.sessions, with CherryPy's settings (sessions.ts has the model):
 *
 *   timeout (60)         minutes a session lives after its last request
 *   name ('session_id')  the cookie's name; path ('/'), domain, secure (False),
 *                        httponly (True), samesite ('Lax') its attributes
 *   locking ('implicit') 'implicit', 'early' or 'explicit'
 *   storage_class        'ram' (the default), 'file' (with storage_path), or,
 *                        from code, your own SessionStorage
 *   clean_freq (5)       minutes between removals of expired sessions
 *   max_sessions (100000, less in a small container: memory.ts) the most
 *                        sessions RAM or file storage holds; past it, those
 *                        unused for long are dropped (sessionstore.ts)
 *
 * before_handler (priority 40, before the handler and the tools that need the
 * session): load the session named by the cookie, or start a new one.
 * before_finalize (priority 90): save it and set its cookie (refreshed with
 * every response, so it lives as long as the session). If the request failed, it
 * is saved before the error response goes out (after_error_response), so a
 * login's session survives its redirect; if the client left first, at
 * on_end_request, so a lock is never kept. With a storage that answers at
 * once (RAM) and no early lock, none of this waits: the request stays
 * synchronous.
 */
import { resolve } from 'node:path';
import { Tool, type ToolContext } from '../hooks.ts';
import { isThenable } from '../awaitable.ts';
import { sessionBudget } from '../memory.ts';
import { Session, type Locking } from '../sessions.ts';
import { FileStorage, RamStorage, isSessionId, newSessionId, type SessionData, type SessionStorage } from '../sessionstore.ts';
import { cookieAttributes, cookieKey, isCookieName, type CookieOptions } from '../cookies.ts';
import type { Request, Response } from '../request.ts';

export interface SessionArgs {
  timeout: number;
  name: string;
  path: string;
  domain: string;
  secure: boolean;
  httponly: boolean;
  samesite: string;
  locking: string;
  storage_class: string | SessionStorage;
  storage_path: string;
  clean_freq: number;
  max_sessions: number;
}

const defaults: SessionArgs = {
  timeout: 60, name: 'session_id', path: '/', domain: '', secure: false, httponly: true, samesite: 'Lax',
  locking: 'implicit', storage_class: 'ram', storage_path: '', clean_freq: 5, max_sessions: sessionBudget(),
};

/** What a path's settings come to, worked out once per settings (a hook's args object is the same for every request of its path). */
interface Setup {
  storage: SessionStorage;
  locking: Locking;
  lifetimeMs: number;
  name: string;
  /** The storage takes any string as an id (SessionStorage.acceptsAnyId); else only well-formed ids reach it. */
  acceptsAnyId: boolean;
  cookie: CookieOptions;
  /** The cookie's jar key, and its Set-Cookie line around the id: formatted once (an id is hex, never encoded). */
  cookieKey: string;
  cookieStart: string;
  cookieEnd: string;
}

/** RAM storages by max_sessions: one for the whole process unless paths set different bounds. */
const ramStorages = new Map<number, RamStorage>();
/** File storages by folder and max_sessions. */
const fileStorages = new Map<string, FileStorage>();
/** Storages whose expired sessions are cleaned now and then. */
const cleaners = new Map<SessionStorage, NodeJS.Timeout>();
const setups = new WeakMap<SessionArgs, Setup>();

function setupFor(args: SessionArgs): Setup {
  let setup = setups.get(args);
  if (setup) return setup;
  // name, locking and storage_class were checked at start (`checks` below), wherever the config came from.
  const cookie: CookieOptions = Object.freeze({
    path: args.path, domain: args.domain || undefined, secure: args.secure, httpOnly: args.httponly,
    sameSite: (args.samesite || undefined) as CookieOptions['sameSite'], maxAge: args.timeout * 60,
  });
  const storage = storageFor(args);
  setup = {
    storage, acceptsAnyId: storage.acceptsAnyId === true, locking: args.locking as Locking, lifetimeMs: args.timeout * 60_000, name: args.name, cookie,
    cookieKey: cookieKey(args.name, cookie), cookieStart: `${args.name}=`, cookieEnd: cookieAttributes(cookie),
  };
  setups.set(args, setup);
  return setup;
}

function storageFor(args: SessionArgs): SessionStorage {
  let storage: SessionStorage;
  if (typeof args.storage_class === 'object') storage = args.storage_class;
  else if (args.storage_class === 'file') {
    if (!args.storage_path) throw new Error("tools.sessions.storage_class = 'file' needs tools.sessions.storage_path");
    const dir = resolve(args.storage_path);
    const key = `${args.max_sessions} ${dir}`;
    storage = fileStorages.get(key) ?? new FileStorage(dir, undefined, args.max_sessions);
    fileStorages.set(key, storage as FileStorage);
  } else {
    storage = ramStorages.get(args.max_sessions) ?? new RamStorage(args.max_sessions);
    ramStorages.set(args.max_sessions, storage as RamStorage);
  }
  if (!cleaners.has(storage) && args.clean_freq > 0) {
    const timer = setInterval(() => void Promise.resolve(storage.clean(Date.now())).catch(() => {}), args.clean_freq * 60_000);
    timer.unref();
    cleaners.set(storage, timer);
  }
  return storage;
}

function setCookie(response: Response, session: Session, setup: Setup): void {
  if (session.deleted) response.cookie.delete(setup.name, setup.cookie);
  else response.cookie.setLine(setup.cookieKey, setup.cookieStart + session.id + setup.cookieEnd);
}

function attach(setup: Setup, request: Request, id: string, data: SessionData, isNew: boolean, release?: () => Promise<void>): void {
  request.session = new Session(setup.storage, id, data, isNew, setup.locking, release, setup.lifetimeMs);
}

const alive = (stored: { expires: number } | undefined): stored is { data: SessionData; expires: number } => stored !== undefined && stored.expires > Date.now();

/** The stored session if it is still alive, else a new one under a new id (never the id the client offered). */
function adopt(setup: Setup, request: Request, id: string | undefined, stored: { data: SessionData; expires: number } | undefined): void {
  if (id !== undefined && alive(stored)) attach(setup, request, id, stored.data, false); // the storage's copy (SessionStorage.load)
  else attach(setup, request, newSessionId(), {}, true);
}

function load(args: SessionArgs, request: Request): Promise<void> | undefined {
  const setup = setupFor(args);
  const sent = request.cookieNamed(setup.name);
  const id = sent !== undefined && (setup.acceptsAnyId || isSessionId(sent)) ? sent : undefined;
  if (setup.locking === 'early') return loadLocked(setup, request, id);
  const stored = id === undefined ? undefined : setup.storage.load(id);
  if (isThenable(stored)) return Promise.resolve(stored).then((found) => adopt(setup, request, id, found));
  adopt(setup, request, id, stored);
  return undefined;
}

/** locking = 'early': the session's lock is taken before it is read, and held until it is saved. */
async function loadLocked(setup: Setup, request: Request, id: string | undefined): Promise<void> {
  if (id !== undefined) {
    const release = await setup.storage.lock(id);
    const stored = await setup.storage.load(id);
    if (alive(stored)) return attach(setup, request, id, stored.data, false, release);
    await release();
  }
  const fresh = newSessionId();
  attach(setup, request, fresh, {}, true, await setup.storage.lock(fresh));
}

/**
 * Saved with every request, so that its expiry slides as the cookie's does;
 * once, by whichever hook comes first. The cookie is set here too, from what
 * the session ends up as (its id after regenerate(), a removal after
 * delete()), and only for a session that is kept (Session.finish): a client
 * that was given nothing is sent nothing.
 */
function finish(args: SessionArgs, { request, response, log }: ToolContext): Promise<void> | undefined {
  const session = request.session;
  if (!session) return undefined;
  const setup = setupFor(args);
  if (session.worthKeeping) setCookie(response, session, setup);
  const saved = session.finish();
  const dropped = setup.storage.droppedReport?.(); // RAM and file storage drop sessions past max_sessions
  if (dropped) log.error(`tools.sessions.max_sessions (${args.max_sessions}) reached: dropped ${dropped} session${dropped === 1 ? '' : 's'} unused for long (their users start new ones)`);
  return saved;
}

function checkName(value: unknown): string | undefined {
  return typeof value === 'string' && isCookieName(value) ? undefined : 'a cookie name (letters, digits and !#$%&\'*+-.^_`|~)';
}

function checkLocking(value: unknown): string | undefined {
  return value === 'implicit' || value === 'early' || value === 'explicit' ? undefined : "'implicit', 'early' or 'explicit'";
}

/** What a storage must offer to be one (SessionStorage; update is optional). */
const STORAGE_METHODS = ['load', 'save', 'delete', 'lock', 'clean'] as const;

function checkStorage(value: unknown): string | undefined {
  if (value === 'ram' || value === 'file') return undefined;
  if (value !== null && typeof value === 'object' && STORAGE_METHODS.every((m) => typeof (value as Record<string, unknown>)[m] === 'function')) return undefined;
  return `'ram', 'file' or a SessionStorage (an object with ${STORAGE_METHODS.join(', ')}; set it in code)`;
}

export const sessions = new Tool<SessionArgs>('before_handler', (args, { request }) => load(args, request), {
  priority: 40, args: defaults, context: false,
  checks: {
    name: checkName,
    storage_class: checkStorage,
    locking: checkLocking,
    max_sessions: (value) => (Number.isInteger(value) && (value as number) >= 1 ? undefined : 'a whole number, 1 or more'),
  },
  hooks: [
    { point: 'before_finalize', priority: 90, callback: finish },
    // After an error: saved before the error response goes out, so a login's redirect finds its session.
    { point: 'after_error_response', callback: finish },
    // The client left before either: saved anyway, so no change is lost and no lock is kept.
    { point: 'on_end_request', callback: finish },
  ],
});
