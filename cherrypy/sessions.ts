/**
 * Sessions: `cherrypy.session`, one request's view of its session, kept by
 * tools.sessions (tools/sessions.ts) in a storage (sessionstore.ts): RAM (one
 * process), files (one host; a volume shared by the processes on it), or your
 * own (replicas behind a balancer: a shared store such as Redis, implementing
 * SessionStorage).
 *
 * Ids are 40 hex characters from the CSPRNG. An id the client sends is used
 * only if the storage has a live session under it: an unknown or expired id
 * gets a new session and a new id (no fixation). Ids are checked against
 * their exact form before anything uses them, so a crafted cookie can never
 * name a file.
 *
 * Locking, as CherryPy's `tools.sessions.locking`:
 *   implicit (default)  no lock held while the handler runs; at the end the
 *                       keys this request set or deleted are merged into what
 *                       is stored now, under a short lock. Two requests that
 *                       change different keys both keep their changes; for
 *                       the same key, the last to finish wins.
 *   early               the session is locked before it is loaded and until it
 *                       is saved: requests of one session run one after the other.
 *   explicit            like implicit, until the handler calls
 *                       `await cherrypy.session.acquireLock()`: from then on as early
 *                       (reloaded under the lock), until `releaseLock()` or the end.
 */
import { currentRequest } from './request.ts';
import { isThenable } from './awaitable.ts';
import { newSessionId, type SessionData, type SessionStorage } from './sessionstore.ts';

/** A change made by this request, kept to merge into the stored session at the end (implicit locking). */
type Change = { set: unknown } | { deleted: true };

export type Locking = 'implicit' | 'early' | 'explicit';

/** One request's view of its session (`cherrypy.session`), made by tools.sessions. */
export class Session {
  /** The session id (a new one after regenerate()). */
  id: string;
  /** True when this request started the session (no valid cookie came with it). */
  readonly isNew: boolean;
  /** Set by delete(): nothing is saved, and the cookie is dropped. */
  deleted = false;
  private data: SessionData;
  /** What this request set or deleted (made on the first change: most requests only read). */
  private changes: Map<string, Change> | undefined = undefined;
  private release: (() => Promise<void>) | undefined;
  private regeneratedFrom: string | undefined = undefined;
  /** Saved at the end of its request already (finish()). */
  private finished = false;
  /** The app was given the id (`cherrypy.session.id`): it may rely on it, so the session is kept even empty. */
  private idGiven = false;

  constructor(
    readonly storage: SessionStorage,
    id: string,
    data: SessionData,
    isNew: boolean,
    readonly locking: Locking,
    release: (() => Promise<void>) | undefined,
    /** How long the session lives after this request, in ms (tools.sessions.timeout). */
    private readonly lifetimeMs: number,
  ) {
    this.id = id;
    this.data = data;
    this.isNew = isNew;
    this.release = release;
  }

  get(key: string): unknown {
    return this.data[key];
  }

  set(key: string, value: unknown): void {
    this.data[key] = value;
    (this.changes ??= new Map()).set(key, { set: value });
  }

  has(key: string): boolean {
    return Object.hasOwn(this.data, key);
  }

  /** Removes one key; `delete()` with no key ends the whole session (logout). */
  delete(key?: string): void {
    if (key !== undefined) {
      delete this.data[key];
      (this.changes ??= new Map()).set(key, { deleted: true });
      return;
    }
    this.deleted = true;
    this.data = {};
  }

  keys(): string[] {
    return Object.keys(this.data);
  }

  /** A new id for the same data (call it at login: an id known before login is worthless after). */
  regenerate(): void {
    this.regeneratedFrom ??= this.id;
    this.id = newSessionId();
  }

  /** explicit locking: take the session's lock and reload what is stored now (this request's changes kept). */
  async acquireLock(): Promise<void> {
    if (this.release) return;
    this.release = await this.storage.lock(this.id);
    const stored = await this.storage.load(this.id);
    this.data = this.merged(stored ? { ...stored.data } : undefined);
  }

  /** explicit locking: save now and let the next request of this session go on. */
  async releaseLock(): Promise<void> {
    await this.save();
  }

  get locked(): boolean {
    return this.release !== undefined;
  }

  /** This request's changes applied to `stored` (what is stored now); with nothing stored, this request's data. */
  private merged(stored: SessionData | undefined): SessionData {
    if (!stored) return this.data;
    if (this.changes === undefined) return stored;
    for (const [key, change] of this.changes) {
      if ('deleted' in change) delete stored[key];
      else stored[key] = change.set;
    }
    this.changes = undefined;
    return stored;
  }

  /** The id, for the app (`cherrypy.session.id`): a new session whose id was given out is kept. */
  giveId(): string {
    this.idGiven = true;
    return this.id;
  }

  /** False for a session this request started and left empty (its id never read): it is never stored, and gets no cookie. */
  get worthKeeping(): boolean {
    if (!this.isNew || this.deleted || this.idGiven) return true;
    for (const _ in this.data) return true;
    return false;
  }

  /**
   * Saves once at the end of the request: tools.sessions calls this from
   * every hook that can end it. A new session that holds nothing is not
   * stored: a client without a cookie (a crawler, a probe) costs the storage
   * nothing until something is set for it.
   */
  finish(): Promise<void> | undefined {
    if (this.finished) return undefined;
    this.finished = true;
    if (this.worthKeeping) return this.save();
    const release = this.release; // early or explicit locking took the new id's lock
    this.release = undefined;
    return release?.();
  }

  /**
   * Stores the session (and frees its lock), with its expiry moved on. Under
   * a lock held since loading, what this request has is what is stored;
   * otherwise its changes are merged into what is stored now.
   */
  save(): Promise<void> | undefined {
    if (this.regeneratedFrom === undefined && !this.deleted && this.release === undefined && this.storage.update) {
      // Most requests: one atomic update, and no wait at all when the storage answers at once (RAM).
      const done = this.storage.update(this.id, (stored) => this.merged(stored), Date.now() + this.lifetimeMs);
      return isThenable(done) ? Promise.resolve(done) : undefined;
    }
    return this.saveCarefully();
  }

  private async saveCarefully(): Promise<void> {
    const { storage } = this;
    const expires = Date.now() + this.lifetimeMs;
    try {
      if (this.regeneratedFrom !== undefined) await storage.delete(this.regeneratedFrom);
      if (this.deleted) await storage.delete(this.id);
      // Locked since loading, what this request has is what is stored; under a new id there is nothing to merge with.
      else if (this.release || this.regeneratedFrom !== undefined) await storage.save(this.id, this.data, expires);
      else {
        // A storage without update (save() takes that way otherwise): merged under its lock.
        const release = await storage.lock(this.id);
        try {
          const stored = await storage.load(this.id);
          await storage.save(this.id, this.merged(stored?.data), expires);
        } finally {
          await release();
        }
      }
    } finally {
      this.changes = undefined;
      this.regeneratedFrom = undefined;
      const release = this.release;
      this.release = undefined;
      await release?.();
    }
  }
}

function current(): Session {
  const found = currentRequest('session').session;
  if (!found) throw new Error('cherrypy.session needs tools.sessions.on for this path');
  return found;
}

/**
 * `cherrypy.session`: stands for the current request's session (with
 * tools.sessions.on for its path), as `cherrypy.request` stands for the request.
 */
class CurrentSession {
  get id(): string { return current().giveId(); }
  get isNew(): boolean { return current().isNew; }
  get deleted(): boolean { return current().deleted; }
  get locked(): boolean { return current().locked; }
  get(key: string): unknown { return current().get(key); }
  set(key: string, value: unknown): void { current().set(key, value); }
  has(key: string): boolean { return current().has(key); }
  /** Removes one key; `delete()` with no key ends the whole session (logout). */
  delete(key?: string): void { current().delete(key); }
  keys(): string[] { return current().keys(); }
  /** A new id for the same data (call it at login). */
  regenerate(): void { current().regenerate(); }
  /** explicit locking: take the lock; from now on this request's session is what is stored. */
  acquireLock(): Promise<void> { return current().acquireLock(); }
  /** explicit locking: save now and let the next request of this session go on. */
  releaseLock(): Promise<void> { return current().releaseLock(); }
}

export const session = new CurrentSession();
