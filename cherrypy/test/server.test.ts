// The server under the article's conditions: thread_pool with idle keep-alive
// connections and slow clients, the FIFO queue and its bound, limits and
// timeouts, hostile requests, and the access log format.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, until, type TestServer } from '../testing.ts';
import { Connections, connectionsAllowedBy, openFileLimit } from '../connections.ts';
import { Log, memorySink } from '../log.ts';
import { defaultSettings } from '../config.ts';

/** Handlers that wait until the test releases them, to fill the pool on purpose. */
class Slow {
  static gates: (() => void)[] = [];
  static order: string[] = [];

  @cherrypy.expose
  async wait(name: string) {
    await new Promise<void>((resolve) => Slow.gates.push(resolve));
    Slow.order.push(name);
    return `done ${name}`;
  }

  @cherrypy.expose
  healthcheck() { return 'ok'; }

  @cherrypy.expose
  upload() { return `got ${cherrypy.request.body?.length ?? 0} bytes`; }

  @cherrypy.expose
  *stream() { yield 'partial'; throw new Error('stream broke'); }

  @cherrypy.expose
  ended() { return `ended ${cherrypy.request.raw.readableEnded}, body ${cherrypy.request.body?.length ?? '-'}`; }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Whether the server closes `socket` within `ms`. */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Sends one request on an open socket and resolves with the first response bytes. */
function ask(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (data: Buffer) => resolve(data.toString('latin1')));
    socket.write(text);
  });
}


describe('server: requests without a body', () => {
  it('are handed over with their stream already ended (no events to wait for), on every node version; bodies still arrive', async () => {
    const site = await serve(new Slow(), '/', undefined, { defaults: true });
    try {
      expect((await site.get('/ended')).body).to.equal('ended true, body -');
      expect((await site.request('POST', '/ended', { body: '' })).body).to.equal('ended true, body 0'); // Content-Length: 0
      expect((await site.request('POST', '/ended', { body: 'abc' })).body).to.equal('ended true, body 3'); // read before the handler
      // Pipelined on one connection: each is answered, in order (the socket flows on after an ended request).
      const answers = await site.raw('GET /ended HTTP/1.1\r\nHost: x\r\n\r\nGET /ended HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(answers.match(/ended true, body -/g)).to.have.length(2);
    } finally {
      await site.close();
    }
  });
});

describe('server: thread_pool and the article\'s balancer scenario', () => {
  let site: TestServer;
  const sockets: Socket[] = [];
  beforeEach(async () => {
    Slow.gates = [];
    Slow.order = [];
    site = await serve(new Slow(), '/', undefined, {
      defaults: true,
      global: { 'server.thread_pool': 10, 'server.accepted_queue_size': 5, 'server.socket_timeout': 30 },
    });
  });
  afterEach(async () => {
    for (const gate of Slow.gates) gate();
    for (const s of sockets.splice(0)) s.destroy();
    await site.close();
  });

  it('answers /healthcheck at once with 250 idle keep-alive connections and slow-header clients', async () => {
    for (let i = 0; i < 250; i++) {
      const s = await openSocket(site.port);
      sockets.push(s);
      if (i < 50) expect(await ask(s, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n')).to.match(/^HTTP\/1\.1 200/);
    }
    for (let i = 0; i < 20; i++) {
      const s = await openSocket(site.port);
      sockets.push(s);
      s.write('GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: '); // never finished
    }
    const started = Date.now();
    const res = await site.get('/healthcheck');
    expect(res.status).to.equal(200);
    expect(site.server.load).to.deep.equal({ active: 0, queued: 0 });
    expect(Date.now() - started).to.be.below(2000); // generous: "at once", not a benchmark
  });

  it('queues requests beyond the pool in FIFO order and serves them as slots free', async () => {
    const first = Array.from({ length: 10 }, (_, i) => site.get(`/wait/p${i}`));
    await until(() => Slow.gates.length === 10);
    const queued = ['q1', 'q2', 'q3'].map((name) => site.get(`/wait/${name}`));
    await until(() => site.server.load.queued === 3);
    expect(site.server.load.active).to.equal(10);
    // Idle connections and health checks must still get in line, not fail.
    const health = site.get('/healthcheck');
    await until(() => site.server.load.queued === 4);
    for (let i = 0; i < 4; i++) Slow.gates.shift()!();
    await until(() => Slow.gates.length === 9);
    expect((await health).status).to.equal(200);
    while (Slow.gates.length) Slow.gates.shift()!();
    await until(() => Slow.gates.length === 0 && Slow.order.length >= 10);
    for (const gate of Slow.gates) gate();
    const results = await Promise.all([...first, ...queued].map((p) => p.then((r) => r.body)));
    expect(results.slice(10)).to.deep.equal(['done q1', 'done q2', 'done q3']);
    expect(Slow.order.indexOf('q1')).to.be.below(Slow.order.indexOf('q2'));
    expect(Slow.order.indexOf('q2')).to.be.below(Slow.order.indexOf('q3'));
  });

  it('answers 503 with Retry-After once the queue is full, and recovers', async () => {
    const busy = Array.from({ length: 15 }, (_, i) => site.get(`/wait/b${i}`));
    await until(() => site.server.load.active === 10 && site.server.load.queued === 5);
    const refused = await site.get('/healthcheck');
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('1');
    const drain = async () => { while (Slow.order.length < 15) { Slow.gates.shift()?.(); await sleep(2); } };
    await drain();
    await Promise.all(busy);
    expect((await site.get('/healthcheck')).status).to.equal(200);
    expect(site.logs.access.some((line) => / 503 \d+ /.test(line))).to.equal(true);
  });

  it('gives the slot of a client that left the queue to the next one', async () => {
    const first = Array.from({ length: 10 }, (_, i) => site.get(`/wait/p${i}`));
    await until(() => Slow.gates.length === 10);
    const quitter = await openSocket(site.port);
    quitter.write('GET /wait/quitter HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => site.server.load.queued === 1);
    quitter.destroy();
    await sleep(20);
    const next = site.get('/wait/next');
    await until(() => site.server.load.queued === 2);
    Slow.gates.shift()!();
    await until(() => Slow.gates.length === 10);
    Slow.gates[9]!();
    expect((await next).body).to.equal('done next');
    while (Slow.gates.length) Slow.gates.shift()!();
    await Promise.all(first);
  });
});

describe('server: pipelining', () => {
  it('frees every slot when a client with pipelined requests goes away', async () => {
    const site = await serve(new Slow(), '/', undefined, { defaults: true, global: { 'server.thread_pool': 4 } });
    try {
      for (let round = 0; round < 20; round++) {
        const s = await openSocket(site.port);
        s.write('GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50));
        await new Promise((r) => s.once('data', r));
        s.destroy();
      }
      await until(() => site.server.load.active === 0 && site.server.load.queued === 0);
      const res = await site.get('/healthcheck');
      expect(res.status).to.equal(200);
    } finally {
      await site.close();
    }
  });

  it('frees the slots of queued pipelined requests whose client left', async () => {
    Slow.gates = [];
    const site = await serve(new Slow(), '/', undefined, { defaults: true, global: { 'server.thread_pool': 2 } });
    try {
      const s = await openSocket(site.port);
      s.write(Array.from({ length: 10 }, (_, i) => `GET /wait/a${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      await until(() => site.server.load.active === 2 && site.server.load.queued === 8);
      s.destroy();
      await sleep(20);
      for (let i = 0; i < 200 && (site.server.load.active || site.server.load.queued); i++) {
        Slow.gates.shift()?.();
        await sleep(5);
      }
      expect(site.server.load).to.deep.equal({ active: 0, queued: 0 });
      expect((await site.get('/healthcheck')).status).to.equal(200);
    } finally {
      for (const gate of Slow.gates) gate();
      await site.close();
    }
  });

  it('answers pipelined requests in order', async () => {
    const site = await serve(new Slow(), '/', undefined, { defaults: true, global: { 'server.thread_pool': 2 } });
    try {
      const text = await site.raw('GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(5) + 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(text.match(/HTTP\/1\.1 \d+/g)).to.deep.equal([...Array(5).fill('HTTP/1.1 200'), 'HTTP/1.1 404']);
    } finally {
      await site.close();
    }
  });
});

describe('server: limits and timeouts', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new Slow(), '/', undefined, {
      defaults: true,
      global: { 'server.max_request_header_size': 2048, 'server.max_request_body_size': 1000, 'server.socket_timeout': 0.3 },
    });
  });
  after(() => site.close());

  it('431 for headers over max_request_header_size', async () => {
    const text = await site.raw(`GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
    expect(text).to.match(/^HTTP\/1\.1 431/);
    expect(site.logs.errors.join('\n')).to.contain('431');
  });

  it('413 for a Content-Length over max_request_body_size, before reading it', async () => {
    const text = await site.raw('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n');
    expect(text).to.match(/^HTTP\/1\.1 413/);
    expect(text).to.match(/connection: close/i);
  });

  it('413 for a chunked body that grows past the limit', async () => {
    const chunk = 'x'.repeat(600);
    const body = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`;
    const text = await site.raw(`POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    expect(text).to.match(/^HTTP\/1\.1 413/);
  });

  it('accepts a body within the limit', async () => {
    const res = await site.request('POST', '/upload', { body: 'y'.repeat(1000) });
    expect(res.body).to.equal('got 1000 bytes');
  });

  it('408 and a closed socket for a client that stops sending its body', async () => {
    const text = await site.raw('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a little', 3000);
    expect(text).to.match(/^HTTP\/1\.1 408/);
  });

  it('408 and a closed socket for a client that never finishes its headers', async () => {
    const text = await site.raw('GET /healthcheck HTTP/1.1\r\nHost: x\r\n', 3000);
    expect(text).to.match(/^HTTP\/1\.1 408/);
  });

  it('closes idle keep-alive connections after socket_timeout', async () => {
    const s = await openSocket(site.port);
    expect(await ask(s, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n')).to.match(/keep-alive/i);
    expect(await closesWithin(s, 3000)).to.equal(true);
  });
});

describe('server: max_connections', () => {
  let site: TestServer;
  const sockets: Socket[] = [];
  const open = async () => {
    const s = await openSocket(site.port);
    sockets.push(s);
    await sleep(10); // the server has taken it in
    return s;
  };
  beforeEach(() => { Slow.gates = []; });
  afterEach(async () => {
    for (const gate of Slow.gates) gate();
    for (const s of sockets.splice(0)) s.destroy();
    await site.close();
  });

  it('makes room for a new client by closing the idle connection unused longest', async () => {
    site = await serve(new Slow(), '/', undefined, { defaults: true, global: { 'server.max_connections': 4, 'server.socket_timeout': 30 } });
    const a = await open();
    const b = await open(); // never sends anything
    expect(await ask(a, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n')).to.match(/^HTTP\/1\.1 200/);
    const c = await open();
    const d = await open();
    // A fifth client: B went unused longest (A answered a request since), so B makes room.
    expect((await site.get('/healthcheck')).status).to.equal(200);
    expect(await closesWithin(b, 1000)).to.equal(true);
    for (const s of [a, c, d]) expect(s.destroyed).to.equal(false);
    expect(await ask(a, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n')).to.match(/^HTTP\/1\.1 200/);
    expect(site.logs.errors.join('\n')).to.contain('server.max_connections (4) reached: closed 1 idle connection');
  });

  it('closes a new connection when every open one has a request in progress, and recovers', async () => {
    site = await serve(new Slow(), '/', undefined, { defaults: true, global: { 'server.max_connections': 2, 'server.socket_timeout': 30 } });
    const busy = [await open(), await open()];
    const answers = busy.map((s, i) => ask(s, `GET /wait/w${i} HTTP/1.1\r\nHost: x\r\n\r\n`));
    await until(() => Slow.gates.length === 2);
    expect(await site.raw('GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n')).to.equal(''); // closed unanswered
    expect(site.logs.errors.join('\n')).to.contain('server.max_connections (2) reached: refused 1 new one (none was idle)');
    for (const gate of Slow.gates.splice(0)) gate();
    for (const answer of answers) expect(await answer).to.match(/^HTTP\/1\.1 200/);
    // Both are idle now: the next client gets in once the server looks again (100 ms after it found none).
    await sleep(150);
    expect((await site.get('/healthcheck')).status).to.equal(200);
  });

  it('stays below the open-file limit, and says so', () => {
    const errors: string[] = [];
    const log = new Log({ access: [], errors: [memorySink(errors)] });
    expect(new Connections(10_000, log, 1024).limit).to.equal(384); // (1024 - 256) / 2: each may be sending a file
    log.flush();
    expect(errors.join('')).to.contain('server.max_connections 10000 lowered to 384: this process may open only 1024 files');
    expect(new Connections(100, new Log({ access: [], errors: [] }), 1024).limit).to.equal(100);
    expect(new Connections(10_000, new Log({ access: [], errors: [] }), 100).limit).to.equal(37); // (100 - 25) / 2, rounded down
    expect(openFileLimit()).to.be.above(0);
  });

  it('fits its default to the open-file limit without a word (it is lowered, and logged, only when configured)', () => {
    const errors: string[] = [];
    const log = new Log({ access: [], errors: [memorySink(errors)] });
    const connections = new Connections(defaultSettings()['server.max_connections'], log);
    log.flush();
    expect(connections.limit).to.be.at.most(connectionsAllowedBy(openFileLimit()));
    expect(errors).to.deep.equal([]);
  });
});

/** Handlers that answer late, or never: a backend that hangs. */
class Late {
  @cherrypy.expose
  async never() { await new Promise(() => {}); }

  @cherrypy.expose
  async late(ms: string) {
    await sleep(Number(ms));
    return 'late';
  }

  @cherrypy.expose
  async lateFailure(ms: string) {
    await sleep(Number(ms));
    throw new Error('the backend gave up');
  }

  @cherrypy.expose
  async patient(ms: string) {
    await sleep(Number(ms));
    return 'worth the wait';
  }

  @cherrypy.expose
  healthcheck() { return 'ok'; }
}

describe('server: response.timeout', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new Late(), '/', { '/patient': { 'response.timeout': 0 } }, {
      defaults: true, global: { 'server.thread_pool': 1, 'response.timeout': 0.2 },
    });
  });
  after(() => site.close());

  it('answers 503 for a handler that never responds, logs it, and gives its slot back', async () => {
    const res = await site.get('/never');
    expect(res.status).to.equal(503);
    expect(res.body).to.contain('No response within 0.2 s');
    expect(site.logs.errors.join('\n')).to.contain('GET /never: no response within response.timeout (0.2 s); answered 503');
    expect((await site.get('/healthcheck')).body).to.equal('ok'); // the only slot is free again
  });

  it('drops what the handler returns or throws later, and its connection goes on serving', async () => {
    const s = await openSocket(site.port);
    try {
      expect(await ask(s, 'GET /late/400 HTTP/1.1\r\nHost: x\r\n\r\n')).to.match(/^HTTP\/1\.1 503 /);
      expect(await ask(s, 'GET /lateFailure/300 HTTP/1.1\r\nHost: x\r\n\r\n')).to.match(/^HTTP\/1\.1 503 /);
      await sleep(500); // both handlers have finished by now
      expect(await ask(s, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n')).to.match(/^HTTP\/1\.1 200 [\s\S]*ok$/);
    } finally {
      s.destroy();
    }
    const errors = site.logs.errors.join('\n');
    expect(errors).to.contain('GET /lateFailure/300: failed after response.timeout: Error: the backend gave up');
    expect(errors).not.to.contain('after the response began');
  });

  it('is off where response.timeout is 0', async () => {
    expect((await site.get('/patient/400')).body).to.equal('worth the wait');
  });
});

describe('server: hostile and malformed requests never take it down', () => {
  let site: TestServer;
  before(async () => { site = await serve(new Slow(), '/', undefined, { defaults: true }); });
  after(() => site.close());

  const battery: [string, RegExp][] = [
    ['\x00\x01\x02\xff garbage\r\n\r\n', /^HTTP\/1\.1 400/],
    ['GET\r\n\r\n', /^HTTP\/1\.1 400/],
    ['GET / HTTP/9.9\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 (400|505)/],
    ['GET /healthcheck HTTP/1.1\r\nBad Header\r\n\r\n', /^HTTP\/1\.1 400/],
    ['POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400/],
    ['POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello', /^HTTP\/1\.1 400/],
    ['POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', /^HTTP\/1\.1 400/],
    ['GET /healthcheck HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400/], // HTTP/1.1 without Host
    [`GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`, /^HTTP\/1\.1 431/],
    ['GET %zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 400/],
    ['OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 404/], // as CherryPy
    ['GET ftp://x/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 400/],
  ];
  for (const [text, expected] of battery) {
    it(`answers ${JSON.stringify(text.slice(0, 40))}… with ${expected.source.slice(12, 15)}`, async () => {
      expect(await site.raw(text)).to.match(expected);
      expect((await site.get('/healthcheck')).status).to.equal(200);
    });
  }

  it('survives a handler that throws after streaming began: the response is cut, not faked', async () => {
    const text = await site.raw('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(text).to.match(/^HTTP\/1\.1 200/);
    expect(text).to.contain('partial');
    expect(text).not.to.match(/\r\n0\r\n\r\n$/);
    expect(site.logs.errors.join('\n')).to.contain('stream broke');
    expect((await site.get('/healthcheck')).status).to.equal(200);
  });

  it('survives clients that disconnect mid-request and mid-response', async () => {
    for (let i = 0; i < 20; i++) {
      const s = await openSocket(site.port);
      s.write(i % 2 ? 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc' : 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n');
      s.destroy();
    }
    await sleep(50);
    expect((await site.get('/healthcheck')).status).to.equal(200);
  });
});

/** One handler for each way a response is made: a page, JSON, an error, a redirect, a stream, a late answer. */
class Kinds {
  @cherrypy.expose
  page() { return 'p'; }

  @cherrypy.expose
  json() { return { a: 1 }; }

  @cherrypy.expose
  boom(): string { throw new Error('boom'); }

  @cherrypy.expose
  moved(): string { throw new cherrypy.HTTPRedirect('/page'); }

  @cherrypy.expose
  *chunks() { yield 'a'; yield 'b'; }

  @cherrypy.expose
  async later() {
    await sleep(5);
    return 'late';
  }
}

describe('server: access log', () => {
  it('writes exactly one line for each request, however its response is made', async () => {
    const site = await serve(new Kinds(), '/', undefined, { defaults: true });
    try {
      const asked: [string, string][] = [['GET', '/page'], ['HEAD', '/page'], ['GET', '/json'], ['GET', '/nope'], ['GET', '/boom'], ['GET', '/moved'], ['GET', '/chunks'], ['GET', '/later']];
      const statuses: number[] = [];
      for (const [method, path] of asked) statuses.push((await site.request(method, path)).status);
      await until(() => site.logs.access.length >= asked.length);
      await sleep(100); // a second line for any of them would be flushed by now
      expect(site.logs.access.map((line) => /"[^"]*" \d{3}/.exec(line)?.[0])).to.deep.equal(
        asked.map(([method, path], i) => `"${method} ${path} HTTP/1.1" ${statuses[i]}`));
      expect(statuses).to.deep.equal([200, 200, 200, 404, 500, 303, 200, 200]);
    } finally {
      await site.close();
    }
  });

  it('writes one CherryPy-format line per request, escaping what the client sent', async () => {
    const site = await serve(new Slow(), '/', undefined, { defaults: true });
    try {
      await site.request('GET', '/healthcheck?a=1', { headers: { 'User-Agent': 'curl/7.88.1', Referer: 'http://r/"x"' } });
      await site.get('/nope');
      const [ok, missing] = site.logs.access;
      expect(ok).to.match(/^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2}\] "GET \/healthcheck\?a=1 HTTP\/1\.1" 200 2 "http:\/\/r\/\\"x\\"" "curl\/7\.88\.1"$/);
      expect(missing).to.match(/"GET \/nope HTTP\/1\.1" 404 \d+ "" ""$/);
    } finally {
      await site.close();
    }
  });

  it('writes each request\'s own User-Agent and Referer when they change on one connection', async () => {
    const site = await serve(new Slow(), '/', undefined, { defaults: true });
    try {
      const sent: [string, string][] = [['Mozilla/5.0 (X11)', 'http://shop/a'], ['Mozilla/5.0 (X11)', 'http://shop/a'], ['bot "2"', ''], ['', 'http://shop/b'], ['Mozilla/5.0 (X11)', 'http://shop/a'], ['y'.repeat(200), 'http://shop/a'], ['x'.repeat(600), 'http://shop/a']];
      const s = await openSocket(site.port);
      s.on('data', () => {});
      for (const [agent, referer] of sent) {
        s.write(`GET /healthcheck HTTP/1.1\r\nHost: x\r\n${agent ? `User-Agent: ${agent}\r\n` : ''}${referer ? `Referer: ${referer}\r\n` : ''}\r\n`);
      }
      await until(() => site.logs.access.length === sent.length);
      s.destroy();
      expect(site.logs.access.map((line) => line.slice(line.indexOf(' 200 2 ') + 7))).to.deep.equal(
        sent.map(([agent, referer]) => `"${referer}" "${agent.replaceAll('"', '\\"')}"`));
    } finally {
      await site.close();
    }
  });
});
