// Who is this user: cookies, sessions (RAM and file, the three lockings, login
// and logout) and file uploads, with hostile input of each kind.
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, until, type TestServer, tempDir } from '../testing.ts';
import { findCookie, parseCookies } from '../cookies.ts';
import { safeFilename } from '../multipart.ts';
import { newSessionId } from '../sessionstore.ts';

class Shop {
  static seenFiles: string[] = [];

  @cherrypy.expose
  cookies() {
    const c = cherrypy.request.cookie;
    return { names: Object.keys(c).length, theme: c.theme ?? null, proto: c.__proto__ ?? null, odd: c.odd ?? null };
  }

  @cherrypy.expose
  setCookies() {
    cherrypy.response.cookie.set('theme', 'dark mode', { maxAge: 3600, httpOnly: true, sameSite: 'Strict', secure: true });
    cherrypy.response.cookie.delete('old');
    return 'set';
  }

  @cherrypy.expose
  badCookie() {
    cherrypy.response.cookie.set('bad name', 'x');
    return 'never';
  }

  @cherrypy.expose
  count() {
    const n = Number(cherrypy.session.get('n') ?? 0) + 1;
    cherrypy.session.set('n', n);
    return String(n);
  }

  @cherrypy.expose
  async slowSet(key: string, ms: string) {
    const before = cherrypy.session.get('n'); // read before waiting: an early lock makes the next request wait for this one
    await sleep(Number(ms));
    if (key === 'n') cherrypy.session.set('n', Number(before ?? 0) + 1);
    else cherrypy.session.set(key, true);
    return 'ok';
  }

  @cherrypy.expose
  async countLocked(ms: string) {
    await cherrypy.session.acquireLock(); // until releaseLock(), this session's other requests wait here
    const locked = cherrypy.session.locked;
    const n = Number(cherrypy.session.get('n') ?? 0) + 1;
    await sleep(Number(ms));
    cherrypy.session.set('n', n);
    await cherrypy.session.releaseLock();
    return { n, locked, lockedAfter: cherrypy.session.locked, isNew: cherrypy.session.isNew, has: cherrypy.session.has('n'), deleted: cherrypy.session.deleted };
  }

  @cherrypy.expose
  peek() { return cherrypy.session.get('user') ?? 'stranger'; }

  @cherrypy.expose
  show() { return { id: cherrypy.session.id, keys: cherrypy.session.keys().sort(), user: cherrypy.session.get('user') ?? null }; }

  @cherrypy.expose
  login(user: string) {
    cherrypy.session.regenerate();
    cherrypy.session.set('user', user);
    throw new cherrypy.HTTPRedirect('/show');
  }

  @cherrypy.expose
  logout() {
    cherrypy.session.delete();
    return 'bye';
  }

  @cherrypy.expose
  async upload() {
    const { files, params } = cherrypy.request;
    const out: Record<string, unknown> = { fields: { ...params } };
    for (const [name, file] of Object.entries(files)) {
      const one = Array.isArray(file) ? file[0]! : file;
      Shop.seenFiles.push(one.path ?? '');
      out[name] = { filename: one.filename, type: one.content_type, size: one.size, onDisk: one.path !== undefined && existsSync(one.path), head: (await one.read()).subarray(0, 5).toString() };
    }
    return out;
  }
}

/** The session cookie a response set: its id and attributes. */
function sessionCookie(res: cherrypy.testing.TestResponse): string | undefined {
  return ([res.headers['set-cookie'] ?? []].flat()).find((c) => c.startsWith('session_id='));
}
const idOf = (res: cherrypy.testing.TestResponse) => /^session_id=([^;]*)/.exec(sessionCookie(res) ?? '')?.[1];

function multipart(parts: { name: string; filename?: string; type?: string; body: string | Buffer }[], boundary = 'XyZzY'): { headers: Record<string, string>; body: Buffer } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${part.type ? `Content-Type: ${part.type}\r\n` : ''}\r\n`));
    chunks.push(Buffer.isBuffer(part.body) ? part.body : Buffer.from(part.body));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.concat(chunks) };
}

describe('state: cookies', () => {
  let site: TestServer;
  before(async () => { site = await serve(new Shop(), '/', { '/': { 'tools.json_out.on': true } }, { defaults: true, global: { 'server.max_request_header_size': 256 * 1024 } }); });
  after(() => site.close());

  it('parses what it can of any Cookie header, never failing the request', async () => {
    const res = await site.get('/cookies', { Cookie: 'theme="dark%20mode"; =nameless; noequals; __proto__=polluted; odd=%E0%A4%A; theme=second' });
    expect(JSON.parse(res.body)).to.deep.equal({ names: 3, theme: 'dark mode', proto: 'polluted', odd: '%E0%A4%A' });
    // Pairs without '=' before the one with it; a second Cookie header line is read too.
    const crowded = await site.get('/cookies', { Cookie: 'a;b;c; theme=x;' });
    expect(JSON.parse(crowded.body)).to.deep.equal({ names: 1, theme: 'x', proto: null, odd: null });
    expect({ ...parseCookies(['a;b', ' theme = "x" ;odd=1', 'theme=y']) }).to.deep.equal({ theme: 'x', odd: '1' });
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it('finds one cookie (as a session reads its own) exactly as the full parse does', () => {
    const headers = [
      'theme="dark%20mode"; =nameless; noequals; __proto__=polluted; odd=%E0%A4%A; theme=second',
      'a;b;c; theme=x;', ' theme = "x" ;odd=1', 'odd=1;theme', 'themes=1; theme=2', '', ';;;', 'theme=',
    ];
    for (const header of [...headers, headers]) {
      for (const name of ['theme', 'odd', '__proto__', 'missing']) {
        expect(findCookie(header, name), `${name} in ${String(header)}`).to.equal(parseCookies(header)[name]);
      }
    }
  });

  it('reads a 10,000-cookie header', async () => {
    const header = Array.from({ length: 10000 }, (_, i) => `c${i}=${i}`).join('; ');
    const res = await site.get('/cookies', { Cookie: header });
    expect(JSON.parse(res.body).names).to.equal(10000);
  });

  it('sets and deletes cookies, one Set-Cookie header each, with their attributes', async () => {
    const res = await site.get('/setCookies');
    expect(res.headers['set-cookie']).to.deep.equal([
      'theme=dark%20mode; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Strict',
      'old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
    ]);
  });

  it('refuses a cookie name that would break the header (500)', async () => {
    expect((await site.get('/badCookie')).status).to.equal(500);
  });
});

describe('state: sessions in RAM', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new Shop(), '/', {
      '/': { 'tools.sessions.on': true, 'tools.json_out.on': true },
      '/slowSet': { 'tools.sessions.locking': 'implicit' },
      '/countLocked': { 'tools.sessions.locking': 'explicit' },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
  });
  after(() => site.close());

  it('starts a session with a CSPRNG id in an HttpOnly cookie, and keeps it', async () => {
    const first = await site.get('/count');
    expect(first.body).to.equal('"1"');
    expect(sessionCookie(first)).to.match(/^session_id=[0-9a-f]{40}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
    const cookie = `session_id=${idOf(first)}`;
    expect((await site.get('/count', { Cookie: cookie })).body).to.equal('"2"');
    expect(idOf(await site.get('/count', { Cookie: cookie }))).to.equal(idOf(first));
  });

  it('never accepts an id it did not issue (no fixation), nor one that names a path', async () => {
    for (const offered of ['a'.repeat(40), '../../etc/passwd', 'ABCDEF' + '0'.repeat(34), '']) {
      const res = await site.get('/count', { Cookie: `session_id=${offered}` });
      expect(res.body, offered).to.equal('"1"');
      expect(idOf(res), offered).to.match(/^[0-9a-f]{40}$/).and.not.equal(offered);
    }
  });

  it('login regenerates the id and keeps the data through the redirect; logout ends the session', async () => {
    const start = await site.get('/count');
    const before = idOf(start)!;
    const login = await site.get('/login/ada', { Cookie: `session_id=${before}` });
    expect(login.status).to.equal(303);
    const after = idOf(login)!;
    expect(after).to.match(/^[0-9a-f]{40}$/).and.not.equal(before);
    const shown = JSON.parse((await site.get('/show', { Cookie: `session_id=${after}` })).body);
    expect(shown).to.deep.equal({ id: after, keys: ['n', 'user'], user: 'ada' });
    expect(JSON.parse((await site.get('/show', { Cookie: `session_id=${before}` })).body).user).to.equal(null); // the old id is dead
    const logout = await site.get('/logout', { Cookie: `session_id=${after}` });
    expect(sessionCookie(logout)).to.match(/^session_id=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970/);
    expect(JSON.parse((await site.get('/show', { Cookie: `session_id=${after}` })).body).user).to.equal(null);
  });

  it('implicit locking: two concurrent requests of one session keep each other\'s writes', async () => {
    const cookie = `session_id=${idOf(await site.get('/count'))}`;
    await Promise.all([site.get('/slowSet/a/80', { Cookie: cookie }), site.get('/slowSet/b/10', { Cookie: cookie })]);
    expect(JSON.parse((await site.get('/show', { Cookie: cookie })).body).keys).to.deep.equal(['a', 'b', 'n']);
  });

  it('explicit locking: requests that take the lock run one after the other, no lost increment', async () => {
    const cookie = `session_id=${idOf(await site.get('/count'))}`;
    const answers = await Promise.all(Array.from({ length: 5 }, () => site.get('/countLocked/20', { Cookie: cookie })));
    expect(answers.map((res) => JSON.parse(res.body).n).sort()).to.deep.equal([2, 3, 4, 5, 6]);
    expect(JSON.parse(answers[0]!.body)).to.include({ locked: true, lockedAfter: false, isNew: false, has: true, deleted: false });
    expect(JSON.parse((await site.get('/count', { Cookie: cookie })).body)).to.equal('7');
  });

  it('stores nothing and sends no cookie until something is set: a client without one costs nothing', async () => {
    const res = await site.get('/peek'); // reads the session, sets nothing
    expect(res.body).to.equal('"stranger"');
    expect(sessionCookie(res)).to.equal(undefined);
    const offered = 'f'.repeat(40); // an id the server never issued, or one that expired
    const stale = await site.get('/peek', { Cookie: `session_id=${offered}` });
    expect(sessionCookie(stale)).to.equal(undefined);
    expect(idOf(await site.get('/count', { Cookie: `session_id=${offered}` }))).to.match(/^[0-9a-f]{40}$/).and.not.equal(offered);
  });

  it('keeps a new session whose id the handler read, empty as it is: the app may rely on that id', async () => {
    const first = await site.get('/show');
    const { id } = JSON.parse(first.body) as { id: string };
    expect(idOf(first)).to.equal(id);
    expect(JSON.parse((await site.get('/show', { Cookie: `session_id=${id}` })).body).id).to.equal(id);
  });
});

describe('state: RamStorage', () => {
  it('gives back what a JSON round trip would, and never an object someone else holds', () => {
    const ram = new cherrypy.RamStorage();
    const expires = Date.now() + 60_000;
    const samples: cherrypy.SessionData[] = [
      { user: 'ada', n: 3, admin: false, none: null },
      { cart: ['a', 'b'], at: new Date(0), gone: undefined, odd: Number.NaN, nested: { deep: [1, { x: 2 }] } },
      { n: Number.POSITIVE_INFINITY },
      Object.assign(JSON.parse('{"__proto__": "only a key"}') as cherrypy.SessionData, { zero: -0, name: '\ud800 lone' }),
      { maybe: undefined },
    ];
    for (const [i, data] of samples.entries()) {
      ram.save(`s${i}`, data, expires);
      const first = ram.load(`s${i}`)!.data;
      expect(first).to.deep.equal(JSON.parse(JSON.stringify(data)));
      first.added = 'by this request only';
      if (Array.isArray(first.cart)) (first.cart as string[]).push('c');
      expect(ram.load(`s${i}`)!.data).to.deep.equal(JSON.parse(JSON.stringify(data)));
    }
    const data = { n: 1 };
    ram.save('held', data, expires);
    data.n = 2; // the caller's object changes after the save: the stored session does not
    expect(ram.load('held')!.data).to.deep.equal({ n: 1 });
  });

  it('holds at most maxSessions, dropping one not used since the dropping last passed it (CLOCK), and tells how many it dropped', () => {
    const ram = new cherrypy.RamStorage(3);
    const expires = Date.now() + 60_000;
    for (const id of ['a', 'b', 'c']) ram.save(id, { id }, expires);
    ram.save('a', { id: 'a', again: true }, expires); // a is the one used last now
    ram.save('d', { id: 'd' }, expires);
    expect(ram.load('b')).to.equal(undefined);
    expect(['a', 'c', 'd'].map((id) => ram.load(id)?.data.id)).to.deep.equal(['a', 'c', 'd']);
    expect(ram.size).to.equal(3);
    expect(ram.droppedReport()).to.equal(1);
    ram.save('e', {}, expires);
    expect(ram.load('c')).to.equal(undefined);
    expect(ram.droppedReport()).to.equal(0); // the next report is due in a minute
  });

  it('keeps at most tools.sessions.max_sessions: new visitors past it drop a session unused for long, with a line in the log', async () => {
    const site = await serve(new Shop(), '/', {
      '/': { 'tools.sessions.on': true, 'tools.sessions.max_sessions': 2, 'tools.json_out.on': true },
    }, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    const ada = `session_id=${idOf(await site.get('/count'))}`;
    const bob = `session_id=${idOf(await site.get('/count'))}`;
    expect(JSON.parse((await site.get('/count', { Cookie: ada })).body)).to.equal('2'); // Ada's is the one used last
    await site.get('/count'); // a third visitor: Bob's session makes room
    expect(JSON.parse((await site.get('/count', { Cookie: ada })).body)).to.equal('3');
    expect(JSON.parse((await site.get('/count', { Cookie: bob })).body)).to.equal('1'); // a new session
    expect(site.logs.errors.join('\n')).to.contain('tools.sessions.max_sessions (2) reached: dropped 1 session unused for long (their users start new ones)');
    await site.close();
  });
});

/** A storage as a user writes one for a shared store: every call waits a little, as a network would; load answers with a thenable that is not a native promise. */
class RemoteStorage implements cherrypy.SessionStorage {
  readonly rows = new Map<string, string>();
  private tail = Promise.resolve();
  private later<T>(value: () => T): Promise<T> {
    return new Promise((resolve) => setTimeout(() => resolve(value()), 2));
  }
  load(id: string) {
    const promise = this.later(() => this.rows.get(id));
    const thenable: PromiseLike<{ data: cherrypy.SessionData; expires: number } | undefined> = {
      then: (ok, fail) => promise.then((row) => (row === undefined ? undefined : JSON.parse(row) as { data: cherrypy.SessionData; expires: number })).then(ok, fail),
    };
    return thenable as Promise<{ data: cherrypy.SessionData; expires: number } | undefined>;
  }
  save(id: string, data: cherrypy.SessionData, expires: number) {
    return this.later(() => void this.rows.set(id, JSON.stringify({ data, expires })));
  }
  delete(id: string) {
    return this.later(() => void this.rows.delete(id));
  }
  async lock() {
    // One lock for all sessions: enough for a test.
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise((resolve) => (release = resolve));
    await previous;
    return async () => release();
  }
  async clean() {}
}

describe('state: sessions in your own storage', () => {
  it('works with a storage whose every call is async (no update: merged under its lock)', async () => {
    const storage = new RemoteStorage();
    const site = await serve(new Shop(), '/', {
      '/': { 'tools.sessions.on': true, 'tools.sessions.storage_class': storage, 'tools.json_out.on': true },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    const first = await site.get('/count');
    const cookie = `session_id=${idOf(first)}`;
    expect(JSON.parse(first.body)).to.equal('1');
    expect(JSON.parse((await site.get('/count', { Cookie: cookie })).body)).to.equal('2');
    await Promise.all([site.get('/slowSet/a/60', { Cookie: cookie }), site.get('/slowSet/b/5', { Cookie: cookie })]);
    expect(JSON.parse((await site.get('/show', { Cookie: cookie })).body).keys).to.deep.equal(['a', 'b', 'n']);
    expect(storage.rows.size).to.equal(1);
  });

  it('is never asked to store a session that holds nothing', async () => {
    const storage = new RemoteStorage();
    const site = await serve(new Shop(), '/', {
      '/': { 'tools.sessions.on': true, 'tools.sessions.storage_class': storage, 'tools.json_out.on': true },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    for (let i = 0; i < 20; i++) expect(sessionCookie(await site.get('/peek'))).to.equal(undefined); // a crawler, say
    expect(storage.rows.size).to.equal(0);
    expect(idOf(await site.get('/count'))).to.match(/^[0-9a-f]{40}$/);
    expect(storage.rows.size).to.equal(1);
  });

  it('hands a storage only well-formed ids unless it says it accepts any (RAM does)', async () => {
    const offered = ['../../etc/passwd', 'x'.repeat(40), "1' OR '1'='1"];
    const idsSeen = async (storage: cherrypy.SessionStorage) => {
      const seen: string[] = [];
      const load = storage.load.bind(storage);
      storage.load = (id: string) => (seen.push(id), load(id));
      const site = await serve(new Shop(), '/', { '/': { 'tools.sessions.on': true, 'tools.sessions.storage_class': storage } } as cherrypy.AppConfig, { defaults: true });
      for (const id of offered) expect((await site.get('/count', { Cookie: `session_id=${id}` })).body).to.equal('1'); // a new session each time
      await site.close();
      return seen.filter((id) => offered.includes(id)); // the storage also loads the new sessions' ids
    };
    expect(await idsSeen(new RemoteStorage())).to.deep.equal([]);
    expect(await idsSeen(new cherrypy.RamStorage())).to.deep.equal(offered);
  });

  it('refuses at start what is not a storage, or not a cookie name, naming the key', async () => {
    const cases = [
      ['storage_class', 'redis', "'ram', 'file' or a SessionStorage"],
      ['storage_class', { load() {} }, 'an object with load, save, delete, lock, clean'],
      ['name', 'my session', 'a cookie name'],
      ['max_sessions', 0, 'a whole number, 1 or more'],
    ] as const;
    for (const [key, value, says] of cases) {
      let error: unknown;
      try {
        await serve(new Shop(), '/', { '/': { 'tools.sessions.on': true, [`tools.sessions.${key}`]: value } } as cherrypy.AppConfig, { defaults: true });
      } catch (err) {
        error = err;
      }
      expect(String(error)).to.contain(`'tools.sessions.${key}' must be`).and.to.contain(says);
    }
  });
});

describe('state: sessions in files, with early locking', () => {
  const dir = tempDir('cp-sessions-');
  let site: TestServer;
  before(async () => {
    site = await serve(new Shop(), '/', {
      '/': { 'tools.sessions.on': true, 'tools.sessions.storage_class': 'file', 'tools.sessions.storage_path': dir, 'tools.sessions.locking': 'early', 'tools.sessions.timeout': 1 },
    } as cherrypy.AppConfig, { defaults: true });
  });
  after(() => site.close());

  it('runs the requests of one session one after the other: no lost increment', async () => {
    const cookie = `session_id=${idOf(await site.get('/count'))}`;
    await Promise.all(Array.from({ length: 5 }, () => site.get('/slowSet/n/20', { Cookie: cookie })));
    expect((await site.get('/count', { Cookie: cookie })).body).to.equal('7'); // 1 + 5 + 1
  });

  it('writes no file for a new session that holds nothing, and releases the lock taken for it', async () => {
    const before = readdirSync(dir).sort();
    expect(sessionCookie(await site.get('/peek'))).to.equal(undefined);
    expect(readdirSync(dir).sort()).to.deep.equal(before); // no session file, no .lock left behind
  });

  it('stores one file per session in its folder, never a path from a cookie, and cleans expired ones', async () => {
    await site.get('/count', { Cookie: 'session_id=../../../tmp/evil' });
    const files = readdirSync(dir);
    expect(files.every((f) => /^session-[0-9a-f]{40}$/.test(f)), files.join()).to.equal(true);
    const storage = new cherrypy.FileStorage(dir);
    await storage.clean(Date.now() + 2 * 60_000); // two minutes on: every 1-minute session has expired
    expect(readdirSync(dir)).to.deep.equal([]);
  });
});

describe('state: sessions in files, locked across processes', () => {
  it('makes two storages on one folder (two processes) take turns, and takes over a lock left by a crashed one', async () => {
    const dir = tempDir('cp-sessions-locks-');
    const first = new cherrypy.FileStorage(dir);
    const second = new cherrypy.FileStorage(dir, 200);
    const id = newSessionId();
    const order: string[] = [];
    const release = await first.lock(id);
    const waiting = second.lock(id).then((releaseSecond) => { order.push('second locked'); return releaseSecond; });
    await sleep(60);
    order.push('first releases');
    await release();
    await (await waiting)();
    expect(order).to.deep.equal(['first releases', 'second locked']);
    // A lock whose holder died is never released: past lockTimeoutMs (200 ms here) it is taken over.
    await first.lock(id); // and never released
    const started = Date.now();
    await (await second.lock(id))();
    expect(Date.now() - started).to.be.at.least(150);
    expect(readdirSync(dir)).to.deep.equal([]);
  });
});

describe('state: sessions in files, at most max_sessions of them', () => {
  it('removes the sessions written longest ago once the folder holds more than max_sessions', async () => {
    const dir = tempDir('cp-sessions-bound-');
    const storage = new cherrypy.FileStorage(dir, undefined, 8); // counted after every save (an eighth of 8)
    const expires = Date.now() + 60_000;
    const ids = Array.from({ length: 20 }, () => newSessionId());
    for (const id of ids) {
      await storage.save(id, { id }, expires);
      await storage.settled();
    }
    const kept = readdirSync(dir).filter((f) => f.startsWith('session-')).length;
    expect(kept).to.be.within(7, 8);
    expect((await storage.load(ids[19]!))?.data.id).to.equal(ids[19]); // the newest stay
    expect(await storage.load(ids[0]!)).to.equal(undefined); // the oldest went first
    expect(storage.droppedReport()).to.equal(20 - kept);
  });

  it('says so in the error log, as RAM storage does', async () => {
    const dir = tempDir('cp-sessions-bound-log-');
    const site = await serve(new Shop(), '/', {
      '/': { 'tools.sessions.on': true, 'tools.sessions.storage_class': 'file', 'tools.sessions.storage_path': dir, 'tools.sessions.max_sessions': 2 },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    try {
      // Cookieless visitors, each given a session, until a count has removed some and a request told the log.
      for (let i = 0; i < 50 && !site.logs.errors.join('\n').includes('reached: dropped'); i++) await site.get('/count');
      expect(site.logs.errors.join('\n')).to.match(/tools\.sessions\.max_sessions \(2\) reached: dropped \d+ sessions? unused for long/);
      expect(readdirSync(dir).filter((f) => /^session-[0-9a-f]{40}$/.test(f)).length).to.be.at.most(3);
    } finally {
      await site.close();
    }
  });
});

describe('state: sessions in files, with implicit locking', () => {
  it('merges the keys concurrent requests changed, under the file lock', async () => {
    const dir = tempDir('cp-sessions-implicit-');
    const site = await serve(new Shop(), '/', {
      '/': { 'tools.sessions.on': true, 'tools.sessions.storage_class': 'file', 'tools.sessions.storage_path': dir, 'tools.json_out.on': true },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    const cookie = `session_id=${idOf(await site.get('/count'))}`;
    await Promise.all([site.get('/slowSet/a/80', { Cookie: cookie }), site.get('/slowSet/b/10', { Cookie: cookie })]);
    expect(JSON.parse((await site.get('/show', { Cookie: cookie })).body).keys).to.deep.equal(['a', 'b', 'n']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.lock'))).to.deep.equal([]); // every lock released
  });
});

describe('state: file uploads', () => {
  const uploads = tempDir('cp-uploads-');
  let site: TestServer;
  before(async () => {
    site = await serve(new Shop(), '/', { '/': { 'tools.json_out.on': true } }, {
      defaults: true,
      global: { 'server.multipart_memory_size': 1024, 'server.multipart_tmp_dir': uploads, 'server.multipart_max_parts': 5, 'server.multipart_max_field_size': 100 },
    });
  });
  after(() => site.close());

  it('fields go to params, files to request.files: small ones in memory, large ones on disk until the response is over', async () => {
    Shop.seenFiles = [];
    const { headers, body } = multipart([
      { name: 'title', body: 'holiday' },
      { name: 'small', filename: 'note.txt', type: 'text/plain', body: 'hello' },
      { name: 'big', filename: 'photo.jpg', type: 'image/jpeg', body: Buffer.alloc(50_000, 'j') },
    ]);
    const res = await site.request('POST', '/upload', { headers, body });
    expect(JSON.parse(res.body)).to.deep.equal({
      fields: { title: 'holiday' },
      small: { filename: 'note.txt', type: 'text/plain', size: 5, onDisk: false, head: 'hello' },
      big: { filename: 'photo.jpg', type: 'image/jpeg', size: 50_000, onDisk: true, head: 'jjjjj' },
    });
    await until(() => readdirSync(uploads).length === 0);
    expect(Shop.seenFiles[1]).to.match(/cherrypy-upload-/);
  });

  it('a file name is never a path; a part named __proto__ is only a name', async () => {
    const { headers, body } = multipart([
      { name: '__proto__', body: 'x' },
      { name: 'doc', filename: '../../etc/passwd', body: 'p' },
      { name: 'win', filename: 'C:\\Users\\ada\\cv.pdf', body: 'w' },
    ]);
    const out = JSON.parse((await site.request('POST', '/upload', { headers, body })).body);
    expect(out.doc.filename).to.equal('passwd');
    expect(out.win.filename).to.equal('cv.pdf');
    expect(out.fields.__proto__).to.equal('x');
    expect(({} as Record<string, unknown>).x).to.equal(undefined);
    const cleaned: [string | undefined, string][] = [
      [undefined, ''], ['note.txt', 'note.txt'], ['..', ''], ['.hidden', '.hidden'], ['a/', ''], ['dir/..', ''],
      ['tab\there.txt', 'tabhere.txt'], ['.\x01.', ''], ['x'.repeat(300), 'x'.repeat(255)], ['résumé.pdf', 'résumé.pdf'],
    ];
    for (const [sent, kept] of cleaned) expect(safeFilename(sent), String(sent)).to.equal(kept);
  });

  it('answers 400 without a boundary, 413 past the part and field limits', async () => {
    const noBoundary = await site.request('POST', '/upload', { headers: { 'Content-Type': 'multipart/form-data' }, body: 'whatever' });
    expect(noBoundary.status).to.equal(400);
    const many = multipart(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, body: 'v' })));
    expect((await site.request('POST', '/upload', { headers: many.headers, body: many.body })).status).to.equal(413);
    const wide = multipart([{ name: 'essay', body: 'w'.repeat(200) }]);
    expect((await site.request('POST', '/upload', { headers: wide.headers, body: wide.body })).status).to.equal(413);
  });

  it('leaves no temporary file behind when the client goes away half-way', async () => {
    const { body } = multipart([{ name: 'big', filename: 'big.bin', body: Buffer.alloc(200_000, 'b') }]);
    const socket = connect(site.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZzY\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, 120_000));
    await until(() => readdirSync(uploads).length === 1); // spilled to disk
    socket.destroy();
    await until(() => readdirSync(uploads).length === 0);
    expect((await site.get('/cookies')).status).to.equal(200);
  });
});
