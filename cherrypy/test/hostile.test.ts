// Clients and handlers that try to take the server down: errors at every
// point of a response, clients that stop reading or send their bodies slowly,
// huge JSON, wrong lengths and headers from handlers, bad framing, request
// lines the server does not speak, and ways out of the static folder or into
// arrays. Short timeouts make the slow cases quick; nothing here times
// throughput.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, until, type TestServer, tempDir } from '../testing.ts';

const base = tempDir('cp-hostile-');
const pub = join(base, 'public');
mkdirSync(join(pub, 'linkidx'), { recursive: true });
writeFileSync(join(base, 'secret.txt'), 'SECRET-PARENT');
writeFileSync(join(pub, 'big.bin'), Buffer.alloc(24 * 1024 * 1024, 7));
symlinkSync(join(base, 'secret.txt'), join(pub, 'linkidx', 'index.html'));

class Item {
  @cherrypy.expose
  index() { return 'item in an array'; }
}

class App {
  items = [new Item()];

  @cherrypy.expose
  healthcheck() { return 'ok'; }

  @cherrypy.expose
  *boom(): Generator<string> { throw new RangeError('generator broke before its first item'); }

  @cherrypy.expose
  *later(): Generator<string> { yield 'first '; throw new RangeError('generator broke later'); }

  @cherrypy.expose
  brokenStream() {
    return new Readable({ read() { this.destroy(new Error('readable broke')); } });
  }

  @cherrypy.expose
  wrongLength() {
    cherrypy.response.headers['Content-Length'] = '5';
    return 'twenty-one bytes here';
  }

  @cherrypy.expose
  badHeader() {
    cherrypy.response.headers['X-Note'] = 'a\r\nSet-Cookie: evil=1';
    return 'never sent';
  }

  @cherrypy.expose
  redirect() { throw new cherrypy.HTTPRedirect('/next\r\nSet-Cookie: evil=1'); }

  @cherrypy.expose
  oddStatus() {
    cherrypy.response.status = 781;
    return 'odd';
  }

  @cherrypy.expose
  huge() { return Buffer.alloc(8 * 1024 * 1024, 1); }

  @cherrypy.expose
  upload() { return `got ${cherrypy.request.body?.length ?? 0} bytes`; }

  static feedsClosed = 0;

  /** Server-sent events without end, as a notification feed is. */
  @cherrypy.expose
  feed() {
    // Set here, not in the generator: its body runs only after the headers went out (as in CherryPy).
    cherrypy.response.headers['Content-Type'] = 'text/event-stream';
    return App.feedEvents();
  }

  static async *feedEvents() {
    try {
      yield 'data: hello\n\n';
      for (;;) {
        await sleep(50); // a closed stream stops its generator at its next event
        yield ': still here\n\n';
      }
    } finally {
      App.feedsClosed++;
    }
  }

  /** A stream that ends (a report): waited for by a drain. */
  @cherrypy.expose
  async *report() {
    for (let i = 1; i <= 3; i++) {
      await sleep(100);
      yield `line ${i}\n`;
    }
  }

  /** Server-sent events that come slower than socket_timeout: a stream whose source is quiet, not a client that stopped reading. */
  @cherrypy.expose
  async *ticks() {
    for (let i = 1; i <= 2; i++) {
      yield `data: tick ${i}\n\n`;
      await sleep(800);
    }
  }

  @cherrypy.expose
  async slow(ms: string) {
    await sleep(Number(ms));
    return 'slow';
  }

  @cherrypy.expose
  form() { return { fields: Object.keys(cherrypy.request.params).length }; }

  @cherrypy.expose
  echo() { return { got: cherrypy.request.json }; }

  @cherrypy.expose
  small() { return { got: cherrypy.request.json }; }

  @cherrypy.expose
  smuggled() {
    App.smuggledCalls++;
    return 'should never run';
  }

  static smuggledCalls = 0;
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Resolves with what the socket received once it closes (or `ms` pass). */
function readAll(socket: Socket, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const done = () => { clearTimeout(timer); resolve(text); };
    const timer = setTimeout(done, ms);
    socket.on('close', done);
    socket.on('error', done);
  });
}

/** Announces a body of `length` bytes with `Expect: 100-continue` and sends none of it yet; `answer` is all the server wrote within 800 ms. */
async function expectingContinue(port: number, length: number): Promise<{ s: Socket; answer: Promise<string> }> {
  const s = await openSocket(port);
  const answer = readAll(s, 800);
  s.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`);
  return { s, answer };
}


const errorsMatching = (site: TestServer, pattern: RegExp) => site.logs.errors.filter((line) => pattern.test(line));

describe('hostile: whatever a handler or stream throws, the server survives', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new App(), '/', { '/': { 'tools.gzip.on': true } }, { defaults: true, global: { 'tools.trailing_slash.on': false } });
  });
  after(() => site.close());

  const cases: [string, string][] = [['/boom', 'generator broke before its first item'], ['/later', 'generator broke later'], ['/brokenStream', 'readable broke']];
  for (const [path, message] of cases) {
    it(`${path} under tools.gzip: logged once, the response cut, the process serving`, async () => {
      const text = await site.raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n`);
      expect(text).not.to.match(/\r\n0\r\n\r\n$/); // never a complete-looking chunked body
      await until(() => errorsMatching(site, new RegExp(message)).length > 0);
      expect(errorsMatching(site, new RegExp(message))).to.have.lengthOf(1);
      expect((await site.get('/healthcheck')).status).to.equal(200);
    });
  }
});

describe('hostile: clients that stop reading a large response', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new App(), '/', { '/static': { 'tools.staticdir.on': true, 'tools.staticdir.dir': pub, 'tools.staticdir.index': 'index.html' } }, {
      defaults: true, global: { 'server.thread_pool': 2, 'server.socket_timeout': 0.5 },
    });
  });
  after(() => site.close());

  /** Sends `request` and reads nothing; `received()` later reads what arrived until the server's close. */
  async function stalledClient(request: string, port = site.port): Promise<{ received: () => Promise<number> }> {
    const s = await openSocket(port);
    s.pause(); // never reads: the server's writes back up
    s.write(request);
    return {
      received: () => new Promise((resolve) => {
        let bytes = 0;
        s.on('data', (d: Buffer) => (bytes += d.length));
        const timer = setTimeout(() => { s.destroy(); resolve(-1); }, 3000); // -1: never closed by the server
        s.on('close', () => { clearTimeout(timer); resolve(bytes); });
        s.on('error', () => {});
        s.resume();
      }),
    };
  }

  it('hold no slot while a file goes out, and are cut after socket_timeout without progress', async () => {
    const readers = await Promise.all(Array.from({ length: 6 }, () => stalledClient('GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n')));
    await sleep(100);
    // Six stalled downloads, two slots: the health check still answers at once.
    expect((await site.get('/healthcheck')).status).to.equal(200);
    expect(site.server.load.active).to.equal(0);
    await until(() => errorsMatching(site, /GET \/static\/big\.bin: the client read nothing for 0\.5 s/).length === 6);
    for (const reader of readers) {
      const bytes = await reader.received();
      expect(bytes).to.be.above(0).and.below(24 * 1024 * 1024); // cut part-way, by the server
    }
  });

  it('do not include streams whose source is quiet: those are kept, and hold no slot', async () => {
    const streams = Array.from({ length: 3 }, () => site.get('/ticks')); // three streams, two slots
    await sleep(300);
    expect(site.server.load).to.deep.equal({ active: 0, queued: 0 });
    expect((await site.get('/healthcheck')).status).to.equal(200);
    for (const res of await Promise.all(streams)) expect(res.body).to.equal('data: tick 1\n\ndata: tick 2\n\n');
    expect(errorsMatching(site, /ticks/)).to.deep.equal([]);
  });

  it('past max_file_streams (in the whole process), make a download wait its turn: 503 with Retry-After until one ends', async () => {
    const limited = await serve(new App(), '/', { '/static': { 'tools.staticdir.on': true, 'tools.staticdir.dir': pub } }, {
      defaults: true, global: { 'server.max_file_streams': 2, 'server.socket_timeout': 0.5 },
    });
    const readers = await Promise.all([1, 2].map(() => stalledClient('GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n', limited.port)));
    await sleep(100);
    const refused = await limited.get('/static/big.bin');
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('1');
    expect(refused.body).to.contain('too many files are being sent');
    // The bound is the process's (the files take its memory): a second server in it is full too.
    const second = await serve(new App(), '/', { '/static': { 'tools.staticdir.on': true, 'tools.staticdir.dir': pub } }, {
      defaults: true, global: { 'server.max_file_streams': 2 },
    });
    expect((await second.get('/static/big.bin')).status).to.equal(503);
    await second.close();
    for (const reader of readers) await reader.received(); // the two downloads end
    const taken = await limited.get('/static/big.bin');
    expect(taken.status).to.equal(200);
    expect(taken.bytes.length).to.equal(24 * 1024 * 1024);
    await limited.close();
  });

  it('cut a large in-memory answer the client never reads', async () => {
    const reader = await stalledClient('GET /huge HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => errorsMatching(site, /GET \/huge: the client read nothing for 0\.5 s/).length === 1);
    expect(await reader.received()).to.be.above(0).and.below(8 * 1024 * 1024);
    expect((await site.get('/healthcheck')).status).to.equal(200);
  });
});

describe('hostile: slow and large request bodies', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new App(), '/', { '/echo': { 'tools.json_in.on': true }, '/small': { 'tools.json_in.on': true, 'tools.json_in.max_size': 10 } }, {
      defaults: true,
      global: { 'server.thread_pool': 2, 'server.socket_timeout': 0.5, 'server.min_body_rate': 100 },
    });
  });
  after(() => site.close());

  it('hold no slot while the body trickles in, and get 408 under min_body_rate', async () => {
    const slow: Socket[] = [];
    const answers: Promise<string>[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await openSocket(site.port);
      answers.push(readAll(s, 4000));
      s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab');
      slow.push(s);
    }
    const drip = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write('x'); }, 100);
    try {
      await sleep(150);
      expect((await site.get('/healthcheck')).status).to.equal(200); // 5 uploads, 2 slots
      for (const text of await Promise.all(answers)) expect(text).to.match(/^HTTP\/1\.1 408 Request Timeout/);
    } finally {
      clearInterval(drip);
    }
  });

  it('get 408 past request_timeout even when the body trickles in fast enough for min_body_rate', async () => {
    const site = await serve(new App(), '/', undefined, {
      defaults: true, global: { 'server.socket_timeout': 0.3, 'server.request_timeout': 0.8, 'server.min_body_rate': 1 },
    });
    const s = await openSocket(site.port);
    const answer = readAll(s, 5000);
    const started = Date.now();
    s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab');
    const drip = setInterval(() => !s.destroyed && s.write('xx'), 100); // 20 bytes/s: well over min_body_rate
    try {
      expect(await answer).to.match(/^HTTP\/1\.1 408 Request Timeout/);
      expect(Date.now() - started).to.be.at.least(700); // the whole request's time, not the socket's idle time
    } finally {
      clearInterval(drip);
    }
  });

  it('get 503 past max_buffered_body_size for bodies arriving at once; others are served', async () => {
    const site = await serve(new App(), '/', undefined, { defaults: true, global: { 'server.max_buffered_body_size': 64 * 1024 } });
    const first = await openSocket(site.port);
    const firstAnswer = readAll(first, 3000);
    first.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n${'a'.repeat(50000)}`);
    await sleep(50);
    const second = await site.raw(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 30000\r\n\r\n${'b'.repeat(30000)}`);
    expect(second).to.match(/^HTTP\/1\.1 503/);
    expect(second).to.match(/Retry-After: 1/i);
    first.end('a'.repeat(10000));
    expect(await firstAnswer).to.contain('got 60000 bytes');
  });

  it('count bodies waiting in the queue for a slot against max_buffered_body_size too, until their request is over', async () => {
    const site = await serve(new App(), '/', undefined, {
      defaults: true, global: { 'server.thread_pool': 1, 'server.max_buffered_body_size': 64 * 1024 },
    });
    const busy = site.get('/slow/400'); // holds the only slot
    await sleep(50);
    const post = (n: number) => site.request('POST', '/upload', { body: 'x'.repeat(n) });
    const queued = post(40000); // received whole, then waits for the slot with its 40 KB
    await sleep(100);
    const refused = await post(40000);
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('1');
    expect((await queued).body).to.equal('got 40000 bytes');
    await busy;
    expect((await post(40000)).body).to.equal('got 40000 bytes'); // given back when the request was over
    expect((await post(60000)).body).to.equal('got 60000 bytes');
  });

  it('413 for a JSON body over tools.json_in.max_size (1 MiB by default), before parsing it', async () => {
    const big = JSON.stringify(Array.from({ length: 400000 }, () => ({})));
    const res = await site.request('POST', '/echo', { headers: { 'Content-Type': 'application/json' }, body: big });
    expect(res.status).to.equal(413);
    expect(res.body).to.contain('tools.json_in.max_size');
    const small = await site.request('POST', '/small', { headers: { 'Content-Type': 'application/json' }, body: '[1,2,3,4,5,6]' });
    expect(small.status).to.equal(413);
    const ok = await site.request('POST', '/echo', { headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' });
    expect(JSON.parse(ok.body)).to.deep.equal({ got: { a: 1 } });
  });

  it('413 for a urlencoded form over urlencoded_max_size (1 MiB) or of more than urlencoded_max_fields (1000), before parsing it', async () => {
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const tiny = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join('&');
    // 2 MiB of tiny fields would block the process for a while to parse: refused as announced.
    const large = await site.request('POST', '/form', { headers: form, body: 'a=1&'.repeat(512 * 1024) });
    expect(large.status).to.equal(413);
    expect(large.body).to.contain('server.urlencoded_max_size');
    // Without a length to announce it, as it grows past the limit.
    const chunked = await site.raw('POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
      `Transfer-Encoding: chunked\r\n\r\n180000\r\n${'a=1&'.repeat(0x60000)}\r\n0\r\n\r\n`);
    expect(chunked).to.match(/^HTTP\/1\.1 413/);
    const many = await site.request('POST', '/form', { headers: form, body: tiny(1001) });
    expect(many.status).to.equal(413);
    expect(many.body).to.contain('server.urlencoded_max_fields');
    expect(JSON.parse((await site.request('POST', '/form', { headers: form, body: tiny(1000) })).body)).to.deep.equal({ fields: 1000 });
    // Other bodies keep max_request_body_size.
    expect((await site.request('POST', '/upload', { body: 'a=1&'.repeat(512 * 1024) })).body).to.equal('got 2097152 bytes');
  });

  it('a client waiting for 100 Continue gets the 413 at once when its body is too large, and 100 when it fits', async () => {
    const limited = await serve(new App(), '/', undefined, { defaults: true, global: { 'server.max_request_body_size': 1000 } });
    const refused = await expectingContinue(limited.port, 5000);
    expect(await refused.answer).to.match(/^HTTP\/1\.1 413 /); // the first and only answer: the body is never sent
    const taken = await expectingContinue(limited.port, 10);
    await sleep(100);
    taken.s.write('0123456789');
    expect(await taken.answer).to.match(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*got 10 bytes$/);
  });

  it('a body that would not fit max_buffered_body_size now is refused before it is sent (503), and one that never could is too large (413)', async () => {
    const limited = await serve(new App(), '/', undefined, {
      defaults: true, global: { 'server.thread_pool': 1, 'server.max_buffered_body_size': 64 * 1024 },
    });
    const busy = limited.get('/slow/400'); // holds the only slot
    await sleep(50);
    const queued = limited.request('POST', '/upload', { body: 'x'.repeat(40000) }); // waits for the slot with its 40 KB
    await sleep(100);
    const refused = await expectingContinue(limited.port, 40000);
    expect(await refused.answer).to.match(/^HTTP\/1\.1 503 [\s\S]*Retry-After: 1/); // instead of the 100
    const never = await expectingContinue(limited.port, 70000);
    expect(await never.answer).to.match(/^HTTP\/1\.1 413 [\s\S]*maximum allowed size \(65536 bytes\)/);
    expect((await queued).body).to.equal('got 40000 bytes');
    await busy;
    const fits = await expectingContinue(limited.port, 10);
    await sleep(100);
    fits.s.write('0123456789');
    expect(await fits.answer).to.match(/^HTTP\/1\.1 100 Continue\r\n[\s\S]*got 10 bytes$/);
  });

  it('a client still sending an oversized body sees the 413, not a reset', async () => {
    const limited = await serve(new App(), '/', undefined, { defaults: true, global: { 'server.max_request_body_size': 1000 } });
    const s = await openSocket(limited.port);
    const answer = readAll(s, 4000);
    s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n');
    // Keep sending well past the answer, as a large upload does.
    for (let i = 0; i < 40 && !s.destroyed; i++) {
      s.write(Buffer.alloc(256 * 1024, 120));
      await sleep(5);
    }
    expect(await answer).to.match(/^HTTP\/1\.1 413/);
  });
});

describe('hostile: headers over the limit', () => {
  it('a client sending a 600 KB header sees the 431, not a reset', async () => {
    const site = await serve(new App(), '/', undefined, { defaults: true });
    const s = await openSocket(site.port);
    const answer = readAll(s, 4000);
    s.write('GET /healthcheck HTTP/1.1\r\nHost: x\r\n');
    for (let i = 0; i < 60; i++) s.write(`X-Filler-${i}: ${'f'.repeat(10000)}\r\n`);
    s.write('\r\n');
    expect(await answer).to.match(/^HTTP\/1\.1 431 Request Header Fields Too Large/);
  });
});

describe('hostile: draining with clients half-way through their headers', () => {
  it('closes them at once instead of waiting out shutdown_timeout', async () => {
    const site = await serve(new App(), '/', undefined, { defaults: true, global: { 'server.shutdown_timeout': 5 } });
    const partial: Promise<string>[] = [];
    for (let i = 0; i < 10; i++) {
      const s = await openSocket(site.port);
      partial.push(readAll(s, 6000));
      s.write('GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    }
    const idle = await openSocket(site.port);
    idle.write('GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    const started = Date.now();
    expect(await site.server.shutdown()).to.equal(true);
    expect(Date.now() - started).to.be.below(2500); // not the 5 s of shutdown_timeout
    await Promise.all(partial);
  });

  it('closes event streams (their clients reconnect), lets other streams finish, and ends clean', async () => {
    const site = await serve(new App(), '/', undefined, { defaults: true, global: { 'server.shutdown_timeout': 5 } });
    const feed = await openSocket(site.port);
    const feedText = readAll(feed, 6000);
    feed.write('GET /feed HTTP/1.1\r\nHost: x\r\n\r\n');
    const report = site.get('/report');
    await sleep(100);
    const started = Date.now();
    expect(await site.server.shutdown()).to.equal(true);
    expect(Date.now() - started).to.be.below(2500); // not the 5 s of shutdown_timeout
    expect(await feedText).to.match(/^HTTP\/1\.1 200 [\s\S]*Content-Type: text\/event-stream[\s\S]*data: hello\n\n/);
    expect((await report).body).to.equal('line 1\nline 2\nline 3\n');
    await until(() => App.feedsClosed === 1); // the generator's finally ran
    expect(site.logs.errors.join('\n')).to.contain('Closed 1 event stream for the drain; their clients reconnect');
  });
});

describe('hostile: what a handler sends is checked before it goes out', () => {
  let site: TestServer;
  before(async () => { site = await serve(new App(), '/', undefined, { defaults: true }); });
  after(() => site.close());

  it('a Content-Length that does not match the body is a 500, and the connection stays in step', async () => {
    const s = await openSocket(site.port);
    const answer = readAll(s, 1500);
    s.write('GET /wrongLength HTTP/1.1\r\nHost: x\r\n\r\nGET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const text = await answer;
    expect(text).to.match(/^HTTP\/1\.1 500 Internal Server Error/);
    expect(text).not.to.contain('twenty-one');
    expect(text).to.match(/HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nok$/);
    expect(site.logs.errors.join('\n')).to.contain('Content-Length: 5 but the body has 21 bytes');
  });

  it('a header value with CR/LF is a clean 500; a redirect target loses its CR/LF', async () => {
    const bad = await site.raw('GET /badHeader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(bad).to.match(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
    expect(bad).not.to.match(/evil/i);
    const redirect = await site.raw('GET /redirect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(redirect).to.match(/^HTTP\/1\.1 303 See Other\r\n/);
    expect(redirect).to.match(/\r\nlocation: \/nextSet-Cookie: evil=1\r\n/i);
    expect(redirect).not.to.match(/\r\nSet-Cookie/i);
  });

  it('a status outside 200-599 is a 500', async () => {
    const res = await site.get('/oddStatus');
    expect(res.status).to.equal(500);
    expect(site.logs.errors.join('\n')).to.contain('response.status must be a whole number from 200 to 599, got 781');
  });
});

describe('hostile: framing and request lines', () => {
  let site: TestServer;
  before(async () => { site = await serve(new App(), '/', undefined, { defaults: true }); });
  after(() => site.close());

  it('HTTP/1.0 with Transfer-Encoding: answered, then closed; what follows is never handled', async () => {
    App.smuggledCalls = 0;
    const text = await site.raw('POST /upload HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(text).to.match(/^HTTP\/1\.1 200 OK/);
    expect(text).to.match(/\r\nConnection: close\r\n/i);
    expect(text).not.to.contain('should never run');
    expect(text.match(/HTTP\/1\.1 /g)).to.have.lengthOf(1);
    expect(App.smuggledCalls).to.equal(0);
  });

  for (const [name, body] of [['a 0x size', '0x4\r\nabcd\r\n0\r\n\r\n'], ['a bad size', 'zz\r\nabcd\r\n0\r\n\r\n']]) {
    it(`bad chunked framing (${name}): 400 and close, one short log line`, async () => {
      const before = site.logs.errors.length;
      const text = await site.raw(`POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
      expect(text).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(text).to.match(/\r\nConnection: close\r\n/);
      await sleep(50);
      const lines = site.logs.errors.slice(before);
      expect(lines, lines.join('\n')).to.have.lengthOf(1);
      expect(lines[0]!.split('\n')).to.have.lengthOf(1);
    });
  }

  it('Transfer-Encoding: xchunked: 400 and close', async () => {
    const text = await site.raw('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    expect(text).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });

  const lines: [string, RegExp][] = [
    ['GET / HTTP/2.0\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/],
    ['GET /\r\n\r\n', /^HTTP\/1\.1 400 Bad Request\r\n/],
    ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', /^HTTP\/1\.1 405 Method Not Allowed\r\n/],
    ['OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 404 Not Found\r\n/],
  ];
  for (const [text, expected] of lines) {
    it(`answers ${JSON.stringify(text.split('\r\n')[0])} with ${expected.source.slice(12, 15)}`, async () => {
      expect(await site.raw(text)).to.match(expected);
      expect((await site.get('/healthcheck')).status).to.equal(200);
    });
  }
});

describe('hostile: ways into what was not mounted', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new App(), '/', { '/static': { 'tools.staticdir.on': true, 'tools.staticdir.dir': pub, 'tools.staticdir.index': 'index.html' } }, { defaults: true });
  });
  after(() => site.close());

  it('a symlinked index file leading out of the folder is not served', async () => {
    const res = await site.get('/static/linkidx/');
    expect(res.status).to.equal(404);
    expect(res.body).not.to.contain('SECRET');
  });

  it('the dispatcher does not walk into arrays', async () => {
    for (const path of ['/items/0/', '/items/0', '/items/length']) {
      const res = await site.get(path);
      expect(res.status, path).to.equal(404);
      expect(res.body, path).not.to.contain('item in an array');
    }
  });
});
