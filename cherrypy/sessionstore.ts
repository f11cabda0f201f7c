/**
 * Where sessions are kept between requests: the SessionStorage interface, and
 * the two storages that come with the template. RAM holds them in this process
 * (gone on restart, not shared between replicas); files hold them in a folder
 * the processes of one host share. Replicas behind a balancer need a shared
 * store of your own (Redis, a database) implementing SessionStorage.
 *
 * Both bound what a flood of new visitors can make them hold
 * (`tools.sessions.max_sessions`): past it, sessions unused for long are
 * dropped, and how many is told to the error log (tools/sessions.ts).
 * The per-request side, `cherrypy.session`, is sessions.ts.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Awaitable } from './awaitable.ts';
import { sessionBudget } from './memory.ts';

export type SessionData = Record<string, unknown>;

/** What a session store does; every method may be async (RAM's answer at once, so its requests never wait). `expires` is a time in ms since the epoch. */
export interface SessionStorage {
  /** The stored session; the caller gets its own copy of `data` to change. */
  load(id: string): Awaitable<{ data: SessionData; expires: number } | undefined>;
  save(id: string, data: SessionData, expires: number): Awaitable<void>;
  delete(id: string): Awaitable<void>;
  /** Takes the session's lock, waiting for it; resolves with the function that releases it. */
  lock(id: string): Promise<() => Promise<void>>;
  /**
   * Optional: reads, changes (`apply`) and writes a session as one step that
   * no other update can interleave with (a store that can do this cheaply: in
   * memory, Redis's transactions). Without it, the update is done under lock().
   */
  update?(id: string, apply: (stored: SessionData | undefined) => SessionData, expires: number): Awaitable<void>;
  /** Removes expired sessions (called every `clean_freq` minutes). */
  clean(now: number): Awaitable<void>;
  /**
   * Optional: true when any string a client sends may be looked up as an id
   * (an unknown one is simply not found). Without it, the sessions tool hands
   * this storage only ids of the form newSessionId() makes.
   */
  readonly acceptsAnyId?: boolean;
  /**
   * Optional: how many sessions the storage dropped to stay within its bound
   * since it last said, when the log should hear of it (0 otherwise). The
   * sessions tool writes the line.
   */
  droppedReport?(): number;
}

const ID = /^[0-9a-f]{40}$/;

/** 40 lower-case hex digits: what newSessionId makes. */
export function isSessionId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id);
}

export function newSessionId(): string {
  return randomBytes(20).toString('hex');
}

/** A lock per id within this process: waiters queue in order. */
class Locks {
  private readonly tails = new Map<string, Promise<void>>();

  async acquire(id: string): Promise<() => Promise<void>> {
    const previous = this.tails.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(id, tail);
    await previous;
    return async () => {
      release();
      if (this.tails.get(id) === tail) this.tails.delete(id);
    };
  }
}

/**
 * Sessions a storage dropped to stay within max_sessions, told to the log at
 * once and then at most once a minute (a flood drops thousands a second).
 */
class DropTally {
  private count = 0;
  private reportedAt = -Infinity;

  add(n: number): void {
    this.count += n;
  }

  /** The count since the last report, when a report is due; else 0. */
  report(): number {
    if (this.count === 0) return 0;
    const now = Date.now();
    if (now - this.reportedAt < 60_000) return 0;
    const count = this.count;
    this.count = 0;
    this.reportedAt = now;
    return count;
  }
}

/**
 * What a RAM session holds between requests: a copy that nobody else can
 * change. A flat record of strings, finite numbers, booleans and nulls (most
 * sessions: a user id, a counter, a flag) is copied as an object; anything
 * else is kept as JSON, as the file storage keeps it. Either way a request
 * gets back exactly what a JSON round trip would give.
 */
type Held = SessionData | string;

function hold(data: SessionData): Held {
  for (const key in data) {
    const value = data[key];
    const type = typeof value;
    // (-0 goes through JSON too: it comes back as 0.)
    if (type === 'string' || type === 'boolean' || value === null || (type === 'number' && Number.isFinite(value) && !Object.is(value, -0))) continue;
    return JSON.stringify(data);
  }
  return copyOf(data);
}

function unhold(held: Held): SessionData {
  return typeof held === 'string' ? JSON.parse(held) as SessionData : copyOf(held);
}

/**
 * A flat record copied key by key (a spread of records of ever new shapes
 * takes V8's slow path); `__proto__` is defined as a key, as JSON.parse would.
 */
function copyOf(record: SessionData): SessionData {
  const copy: SessionData = {};
  for (const key in record) {
    if (key === '__proto__') Object.defineProperty(copy, key, { value: record[key], writable: true, enumerable: true, configurable: true });
    else copy[key] = record[key];
  }
  return copy;
}

/**
 * Sessions in this process's memory: gone on restart, not shared between
 * replicas. Synchronous: a request whose session is in RAM never waits.
 *
 * At most `maxSessions` are held (`tools.sessions.max_sessions`; its default
 * fits the process's memory: memory.ts): an app that keeps something for
 * anonymous visitors (a CSRF token, a cart) would otherwise keep a session
 * for every cookieless request, a crawler's or a flood's, for the sessions'
 * lifetime: 100 MB more in 30 s of one client's flood, without end.
 * Past the bound a session unused for long is dropped, chosen as a CLOCK
 * cache chooses: the Map keeps sessions in the order they came; each save
 * marks its session used; the dropping goes round from the oldest, sending a
 * used one to the back (unmarked) and dropping the first one not used since
 * it was last passed. A request's save stays one write (moving every session
 * to the back as it is saved cost the session row of `npm run bench` 5%).
 */
export class RamStorage implements SessionStorage {
  /** A Map lookup is safe with any string, and cheaper than checking its form first. */
  readonly acceptsAnyId = true;
  private readonly sessions = new Map<string, { data: Held; expires: number; used: boolean }>();
  private readonly locks = new Locks();
  /** Sessions dropped to stay within maxSessions, for the log. */
  private readonly dropped = new DropTally();
  /** The CLOCK's hand: the sessions from where the last dropping stopped (see dropLeastUsed). */
  private hand: Iterator<[string, { data: Held; expires: number; used: boolean }]> = this.sessions.entries();

  constructor(readonly maxSessions = sessionBudget()) {}

  load(id: string) {
    const entry = this.sessions.get(id);
    return entry ? { data: unhold(entry.data), expires: entry.expires } : undefined;
  }

  save(id: string, data: SessionData, expires: number) {
    // Data, not live objects: what a later request gets is a copy, never an object this one still holds.
    const entry = this.sessions.get(id);
    if (entry === undefined) {
      if (this.sessions.size >= this.maxSessions) this.dropLeastUsed();
      this.sessions.set(id, { data: hold(data), expires, used: false });
    } else {
      entry.data = hold(data);
      entry.expires = expires;
      entry.used = true;
    }
  }

  private dropLeastUsed(): void {
    // The hand goes on from where it stopped: a new iterator would step over every entry
    // deleted at the front since the Map last compacted itself (a flood made that quadratic).
    // Each session is passed over at most once unmarked, so this ends within one round.
    for (;;) {
      let next = this.hand.next();
      if (next.done) {
        this.hand = this.sessions.entries();
        next = this.hand.next();
        if (next.done) return;
      }
      const [id, entry] = next.value;
      this.sessions.delete(id);
      if (!entry.used) break;
      entry.used = false;
      this.sessions.set(id, entry); // a second chance, at the back
    }
    this.dropped.add(1);
  }

  /** How many sessions were dropped (see above) since the last report, when a report is due (DropTally). */
  droppedReport(): number {
    return this.dropped.report();
  }

  delete(id: string) {
    this.sessions.delete(id);
  }

  lock(id: string) {
    return this.locks.acquire(id);
  }

  /** In memory the read, the change and the write happen in one go: nothing can interleave. */
  update(id: string, apply: (stored: SessionData | undefined) => SessionData, expires: number) {
    const entry = this.sessions.get(id);
    this.save(id, apply(entry ? unhold(entry.data) : undefined), expires);
  }

  clean(now: number) {
    for (const [id, entry] of this.sessions) if (entry.expires <= now) this.sessions.delete(id);
  }

  /** How many sessions are held (for tests and health pages). */
  get size(): number {
    return this.sessions.size;
  }
}

/**
 * Runs `work` on every item, 64 at a time: one at a time waits behind every
 * request's file operations on node's few file-system threads (a count of
 * 20,000 files under a flood never ended), all at once would hold those
 * threads from the requests.
 */
async function inTurns<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 64) await Promise.all(items.slice(i, i + 64).map(work));
}

/**
 * Sessions as files in `dir` (`session-<id>`, JSON), written atomically (a
 * temporary file renamed over the old one). Locks are lock files made with
 * O_EXCL, so processes sharing the folder take turns; a lock older than
 * `lockTimeoutMs` is taken to be left by a crashed process and removed.
 *
 * The folder holds about `maxSessions` at most: a cookieless flood of a page
 * that keeps something per visitor wrote 2,000 files (8 MB of disk) a second,
 * for the sessions' lifetime. Counting the folder on every save would cost a
 * directory read each, so it is counted after every eighth of `maxSessions`
 * saves (and no more than one count at a time); past the bound, the sessions
 * whose files were written longest ago (each save rewrites its file) are
 * removed, down to seven eighths of it. Between counts each process sharing
 * the folder adds at most an eighth.
 */
export class FileStorage implements SessionStorage {
  private readonly locks = new Locks();
  private readonly dropped = new DropTally();
  /** Saves since the folder was last counted. */
  private saves = 0;
  private counting: Promise<void> | undefined;

  constructor(readonly dir: string, readonly lockTimeoutMs = 30_000, readonly maxSessions = sessionBudget()) {}

  private file(id: string, suffix = ''): string {
    if (!isSessionId(id)) throw new Error('not a session id'); // never a path from a client
    return join(this.dir, `session-${id}${suffix}`);
  }

  async load(id: string) {
    try {
      const stored = JSON.parse(await fs.readFile(this.file(id), 'utf8')) as { data: SessionData; expires: number };
      return stored;
    } catch {
      return undefined; // missing, or torn by a crash: a new session
    }
  }

  async save(id: string, data: SessionData, expires: number) {
    await fs.mkdir(this.dir, { recursive: true });
    const temporary = this.file(id, `.${randomBytes(6).toString('hex')}.tmp`);
    await fs.writeFile(temporary, JSON.stringify({ data, expires }), { mode: 0o600 });
    await fs.rename(temporary, this.file(id));
    if (++this.saves >= Math.max(1, Math.floor(this.maxSessions / 8)) && !this.counting) {
      this.saves = 0;
      this.counting = this.trim().catch(() => {}).finally(() => { this.counting = undefined; });
    }
  }

  /** Resolves once the count that saves started (if any) is over: for tests. */
  async settled(): Promise<void> {
    await this.counting;
  }

  /** Removes the sessions written longest ago while the folder holds more than maxSessions. */
  private async trim(): Promise<void> {
    const ids = await this.storedIds();
    if (ids.length <= this.maxSessions) return;
    const written = new Map<string, number>();
    await inTurns(ids, async (id) => void written.set(id, await fs.stat(this.file(id)).then((stat) => stat.mtimeMs, () => -1)));
    ids.sort((a, b) => written.get(a)! - written.get(b)!);
    const excess = ids.slice(0, ids.length - Math.floor(this.maxSessions * 7 / 8));
    await inTurns(excess, (id) => this.delete(id));
    this.dropped.add(excess.length);
  }

  private async storedIds(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch((): string[] => []);
    const ids: string[] = [];
    for (const name of names) {
      const id = /^session-([0-9a-f]{40})$/.exec(name)?.[1];
      if (id) ids.push(id);
    }
    return ids;
  }

  /** How many sessions were dropped (see above) since the last report, when a report is due (DropTally). */
  droppedReport(): number {
    return this.dropped.report();
  }

  async delete(id: string) {
    await fs.rm(this.file(id), { force: true });
  }

  async lock(id: string) {
    const releaseHere = await this.locks.acquire(id);
    const lockFile = this.file(id, '.lock');
    await fs.mkdir(this.dir, { recursive: true });
    for (;;) {
      try {
        await (await fs.open(lockFile, 'wx')).close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await fs.stat(lockFile).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (age > this.lockTimeoutMs) await fs.rm(lockFile, { force: true });
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return async () => {
      await fs.rm(lockFile, { force: true });
      await releaseHere();
    };
  }

  async clean(now: number) {
    for (const id of await this.storedIds()) {
      const stored = await this.load(id);
      if (!stored || stored.expires <= now) await this.delete(id);
    }
  }
}
