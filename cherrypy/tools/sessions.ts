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
 *
 * before_handler (priority 40, before the handler and the tools that need the
 * session): load the session named by the cookie, or start a new one, and set
 * the cookie (refreshed with every response, so it lives as long as the
 * session). before_finalize (priority 90): save it. If the request failed, it
 * is saved before the error response goes out (after_error_response), so a
 * login's session survives its redirect; if the client left first, at
 * on_end_request, so a lock is never kept.
 */
import { resolve } from 'node:path';
import { Tool } from '../hooks.ts';
import { FileStorage, RamStorage, Session, attachSession, isSessionId, newSessionId, sessionOf, type Locking, type SessionStorage } from '../sessions.ts';
import type { Request, Response } from '../request.ts';

interface SessionArgs {
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
}

const defaults: SessionArgs = {
  timeout: 60, name: 'session_id', path: '/', domain: '', secure: false, httponly: true, samesite: 'Lax',
  locking: 'implicit', storage_class: 'ram', storage_path: '', clean_freq: 5,
};

const ram = new RamStorage();
const fileStorages = new Map<string, FileStorage>();
/** Storages whose expired sessions are cleaned now and then. */
const cleaners = new Map<SessionStorage, NodeJS.Timeout>();

function storageFor(args: SessionArgs): SessionStorage {
  let storage: SessionStorage;
  if (typeof args.storage_class === 'object') storage = args.storage_class;
  else if (args.storage_class === 'file') {
    if (!args.storage_path) throw new Error("tools.sessions.storage_class = 'file' needs tools.sessions.storage_path");
    const dir = resolve(args.storage_path);
    storage = fileStorages.get(dir) ?? new FileStorage(dir);
    fileStorages.set(dir, storage as FileStorage);
  } else if (args.storage_class === 'ram') storage = ram;
  else throw new Error(`tools.sessions.storage_class must be 'ram', 'file' or a SessionStorage, got '${args.storage_class}'`);
  if (!cleaners.has(storage) && args.clean_freq > 0) {
    const timer = setInterval(() => void storage.clean(Date.now()).catch(() => {}), args.clean_freq * 60_000);
    timer.unref();
    cleaners.set(storage, timer);
  }
  return storage;
}

function setCookie(response: Response, session: Session, args: SessionArgs): void {
  const options = {
    path: args.path, domain: args.domain || undefined, secure: args.secure, httpOnly: args.httponly,
    sameSite: (args.samesite || undefined) as 'Lax' | 'Strict' | 'None' | undefined,
  };
  if (session.deleted) response.cookie.delete(args.name, options);
  else response.cookie.set(args.name, session.id, { ...options, maxAge: args.timeout * 60 });
}

const expiry = (args: SessionArgs) => Date.now() + args.timeout * 60_000;

async function load(args: SessionArgs, request: Request, response: Response): Promise<void> {
  const storage = storageFor(args);
  const locking = args.locking as Locking;
  if (!['implicit', 'early', 'explicit'].includes(locking)) throw new Error(`tools.sessions.locking must be implicit, early or explicit, got '${locking}'`);
  const sent = request.cookie[args.name];
  let id = isSessionId(sent) ? sent : undefined;
  let release = id !== undefined && locking === 'early' ? await storage.lock(id) : undefined;
  const stored = id === undefined ? undefined : await storage.load(id);
  if (!stored || stored.expires <= Date.now()) {
    // Unknown, expired or malformed: a new session under a new id, never the one the client offered.
    await release?.();
    id = newSessionId();
    release = locking === 'early' ? await storage.lock(id) : undefined;
  }
  const session = new Session(storage, id!, { ...(stored && stored.expires > Date.now() ? stored.data : {}) }, !stored || stored.expires <= Date.now(),
    locking, release, (changed) => setCookie(response, changed, args));
  attachSession(request, session);
  setCookie(response, session, args);
}

async function save(args: SessionArgs, request: Request): Promise<void> {
  const session = sessionOf(request);
  if (!session) return;
  // Saved with every request, so that its expiry slides as the cookie's does.
  savedFor.add(request);
  await session.save(expiry(args));
}

/** Requests whose session was saved already. */
const savedFor = new WeakSet<Request>();

const saveOnce = (args: SessionArgs, request: Request) => (savedFor.has(request) ? undefined : save(args, request));

export const sessions = new Tool<SessionArgs>('before_handler', (args, { request, response }) => load(args, request, response), {
  priority: 40, args: defaults, context: false,
  hooks: [
    { point: 'before_finalize', priority: 90, callback: (args, { request }) => saveOnce(args, request) },
    // After an error: saved before the error response goes out, so a login's redirect finds its session.
    { point: 'after_error_response', callback: (args, { request }) => saveOnce(args, request) },
    // The client left before either: saved anyway, so no change is lost and no lock is kept.
    { point: 'on_end_request', callback: (args, { request }) => saveOnce(args, request) },
  ],
});
