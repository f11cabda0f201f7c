// What handlers see (cherrypy.request/response, params, bodies) and what they
// may return or throw, as a client sees it.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, type TestServer } from '../testing.ts';

class Api {
  @cherrypy.expose
  text() { return 'héllo'; }

  @cherrypy.expose
  bytes() { return Buffer.from([0, 1, 2, 255]); }

  @cherrypy.expose
  typed() {
    cherrypy.response.headers['Content-Type'] = 'text/plain;charset=utf-8';
    cherrypy.response.status = 201;
    return 'created';
  }

  @cherrypy.expose
  nothing() { return null; }

  @cherrypy.expose
  async later() {
    await sleep(5);
    return `after await: ${cherrypy.request.path_info} ${cherrypy.request.method}`;
  }

  @cherrypy.expose
  async mine() {
    await sleep(Math.random() * 5);
    return cherrypy.request.params.id;
  }

  @cherrypy.expose
  *streamInfo() { yield `streamed for ${cherrypy.request.path_info}`; }

  @cherrypy.expose
  promised() { return this.helper(); }

  async helper() {
    await sleep(1);
    return `helper saw ${cherrypy.request.path_info}`;
  }

  @cherrypy.expose
  object() { return { a: 1, list: [1, 'two'] }; }

  @cherrypy.expose
  array() { return [1, 2, 3]; }

  @cherrypy.expose
  *generator() { yield 'one,'; yield Buffer.from('two,'); yield 'three'; }

  @cherrypy.expose
  async *asyncgen() { yield 'a'; await sleep(1); yield 'b'; }

  @cherrypy.expose
  readable() { return Readable.from(['r1', 'r2']); }

  @cherrypy.expose
  *badstream() { yield 'ok'; yield 42 as unknown as string; }

  @cherrypy.expose
  params() { return cherrypy.request.params; }

  @cherrypy.expose
  info() {
    const r = cherrypy.request;
    return { method: r.method, path: r.path, path_info: r.path_info, query: r.query_string, ip: r.remote.ip, base: r.base, is_index: r.is_index, args: r.args };
  }

  @cherrypy.expose
  echo() { return { json: cherrypy.request.json ?? null, length: cherrypy.request.body?.length ?? null }; }

  @cherrypy.expose
  teapot() { throw new cherrypy.HTTPError(418, 'short and <stout>'); }

  @cherrypy.expose
  missing() { throw new cherrypy.NotFound('/missing'); }

  @cherrypy.expose
  moved() { throw new cherrypy.HTTPRedirect('/text'); }

  @cherrypy.expose
  movedTwice() { throw new cherrypy.HTTPRedirect('//evil.example/x', 302); }

  @cherrypy.expose
  broken() { throw new Error('kaboom'); }

  @cherrypy.expose
  async rejects() { await sleep(1); throw new TypeError('async kaboom'); }

  @cherrypy.expose
  throwsString() { throw 'not an error object'; }

  @cherrypy.expose
  circular() { const o: Record<string, unknown> = {}; o.self = o; return o; }
}

describe('handlers: return values', () => {
  let site: TestServer;
  before(async () => { site = await serve(new Api(), '/', undefined, { defaults: true }); });
  after(() => site.close());

  it('sends strings as UTF-8 HTML with a Content-Length, like CherryPy', async () => {
    const res = await site.get('/text');
    expect(res.headers['content-type']).to.equal('text/html;charset=utf-8');
    expect(res.headers['content-length']).to.equal('6');
    expect(res.body).to.equal('héllo');
  });

  it('sends bytes as they are', async () => {
    const res = await site.get('/bytes');
    expect([...res.bytes]).to.deep.equal([0, 1, 2, 255]);
    expect(res.headers['content-type']).to.equal('application/octet-stream');
  });

  it('lets the handler set status and headers through cherrypy.response', async () => {
    const res = await site.get('/typed');
    expect(res.status).to.equal(201);
    expect(res.headers['content-type']).to.equal('text/plain;charset=utf-8');
  });

  it('sends an empty 200 for null', async () => {
    const res = await site.get('/nothing');
    expect(res.status).to.equal(200);
    expect(res.headers['content-length']).to.equal('0');
    expect(res.body).to.equal('');
  });

  it('awaits promises, and cherrypy.request survives the await', async () => {
    const [a, b] = await Promise.all([site.get('/later'), site.request('POST', '/later', { body: '' })]);
    expect(a.body).to.equal('after await: /later GET');
    expect(b.body).to.equal('after await: /later POST');
  });

  it('keeps each request\'s data its own across awaits, under concurrency', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => String(i));
    const bodies = await Promise.all(ids.map((id) => site.get(`/mine?id=${id}`).then((r) => r.body)));
    expect(bodies).to.deep.equal(ids);
  });

  it('gives generators the request they stream for', async () => {
    expect((await site.get('/streamInfo')).body).to.equal('streamed for /streamInfo');
  });

  it('says to declare it async when a plain function\'s promise reads the request later', async () => {
    const res = await site.get('/promised');
    expect(res.status).to.equal(500);
    expect(site.logs.errors.join('\n')).to.contain('declare it async to use it after await');
  });

  it('sends objects and arrays as JSON', async () => {
    const res = await site.get('/object');
    expect(res.headers['content-type']).to.equal('application/json');
    expect(JSON.parse(res.body)).to.deep.equal({ a: 1, list: [1, 'two'] });
    expect(JSON.parse((await site.get('/array')).body)).to.deep.equal([1, 2, 3]);
  });

  it('streams iterables, async iterables and Readables', async () => {
    const gen = await site.get('/generator');
    expect(gen.body).to.equal('one,two,three');
    expect(gen.headers['transfer-encoding']).to.equal('chunked');
    expect((await site.get('/asyncgen')).body).to.equal('ab');
    expect((await site.get('/readable')).body).to.equal('r1r2');
  });

  it('cuts a stream that yields something it cannot send, and logs why', async () => {
    const text = await site.raw('GET /badstream HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(text).to.match(/^HTTP\/1\.1 200/);
    expect(text).not.to.match(/0\r\n\r\n$/); // no final chunk: the client knows it is truncated
    expect(site.logs.errors.join('\n')).to.contain('yield strings or bytes');
    expect((await site.get('/text')).status).to.equal(200);
  });

  it('runs the handler for HEAD and sends the headers without a body', async () => {
    const res = await site.request('HEAD', '/text');
    expect(res.status).to.equal(200);
    expect(res.headers['content-length']).to.equal('6');
    expect(res.body).to.equal('');
  });

  it('gives 500 for a value that cannot be serialised', async () => {
    expect((await site.get('/circular')).status).to.equal(500);
  });
});

describe('handlers: errors', () => {
  let site: TestServer;
  before(async () => { site = await serve(new Api(), '/', undefined, { defaults: true }); });
  after(() => site.close());

  it('turns HTTPError into a small escaped HTML page with its status', async () => {
    const res = await site.get('/teapot');
    expect(res.status).to.equal(418);
    expect(res.headers['content-type']).to.equal('text/html;charset=utf-8');
    expect(res.headers['content-security-policy']).to.equal("default-src 'none'");
    expect(res.body).to.contain('short and &lt;stout&gt;');
    expect(res.body).not.to.contain('<stout>');
  });

  it('turns NotFound into a 404 that names the path, escaped', async () => {
    const res = await site.get('/missing');
    expect(res.status).to.equal(404);
    expect(res.body).to.contain('The path &#39;/missing&#39; was not found.');
    const xss = await site.get('/%3Cscript%3E');
    expect(xss.status).to.equal(404);
    expect(xss.body).not.to.contain('<script>');
  });

  it('redirects with a relative Location and 303 by default', async () => {
    const res = await site.get('/moved');
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/text');
  });

  it('never sends a protocol-relative Location', async () => {
    const res = await site.get('/movedTwice');
    expect(res.status).to.equal(302);
    expect(res.headers.location).to.equal('/evil.example/x');
  });

  it('rejects statuses outside their range', () => {
    expect(() => new cherrypy.HTTPError(200)).to.throw(RangeError);
    expect(() => new cherrypy.HTTPRedirect('/x', 200)).to.throw(RangeError);
  });

  it('answers 500 for anything else thrown, logs the stack, and keeps serving', async () => {
    for (const path of ['/broken', '/rejects', '/throwsString']) {
      const res = await site.get(path);
      expect(res.status, path).to.equal(500);
    }
    const errors = site.logs.errors.join('\n');
    expect(errors).to.contain('GET /broken: Error: kaboom');
    expect(errors).to.contain('TypeError: async kaboom');
    expect(errors).to.contain('non-Error value thrown: not an error object');
    expect((await site.get('/text')).status).to.equal(200);
  });

  it('shows the stack in the page only outside production', async () => {
    const dev = await site.get('/broken');
    expect(dev.body).to.contain('<pre id="traceback">Error: kaboom');
    const prod = await serve(new Api(), '/', undefined, { defaults: true, global: { environment: 'production' } });
    try {
      const res = await prod.get('/broken');
      expect(res.status).to.equal(500);
      expect(res.body).not.to.contain('kaboom');
      expect(res.body).not.to.contain('traceback');
      expect(prod.logs.errors.join('\n')).to.contain('kaboom');
      expect((await prod.get('/one')).body).not.to.contain('Missing parameters');
    } finally {
      await prod.close();
    }
  });

  it('refuses cherrypy.request outside a request', () => {
    expect(() => cherrypy.request.method).to.throw(/only available while a request is being handled/);
  });
});

describe('handlers: request data', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new Api(), '/', { '/echo': { 'tools.json_in.on': true } }, { defaults: true });
  });
  after(() => site.close());

  it('collects query parameters, repeated keys as arrays', async () => {
    const res = await site.get('/params?a=1&b=x%20y&a=2&empty=');
    expect(JSON.parse(res.body)).to.deep.equal({ a: ['1', '2'], b: 'x y', empty: '' });
  });

  it('merges urlencoded POST bodies into params, query values first', async () => {
    const res = await site.request('POST', '/params?a=q', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=b&c=d',
    });
    expect(JSON.parse(res.body)).to.deep.equal({ a: ['q', 'b'], c: 'd' });
  });

  it('cannot be polluted through parameter names', async () => {
    const res = await site.get('/params?__proto__=x&constructor=y');
    expect(JSON.parse(res.body)).to.deep.equal(JSON.parse('{"__proto__":"x","constructor":"y"}'));
    expect(({} as Record<string, unknown>).x).to.equal(undefined);
  });

  it('describes the request: method, paths, query, remote ip, base', async () => {
    const res = await site.get('/info?x=1');
    expect(JSON.parse(res.body)).to.deep.equal({
      method: 'GET', path: '/info', path_info: '/info', query: 'x=1', ip: '127.0.0.1',
      base: `http://127.0.0.1:${site.port}`, is_index: false, args: [],
    });
  });

  it('parses JSON bodies with tools.json_in: 400 for bad or empty JSON, 415 for other types', async () => {
    const ok = await site.request('POST', '/echo', { headers: { 'Content-Type': 'application/json' }, body: '{"n":[1,2]}' });
    expect(JSON.parse(ok.body)).to.deep.equal({ json: { n: [1, 2] }, length: 11 });
    const bad = await site.request('POST', '/echo', { headers: { 'Content-Type': 'application/json' }, body: '{"n":' });
    expect(bad.status).to.equal(400);
    const wrongType = await site.request('POST', '/echo', { headers: { 'Content-Type': 'text/plain' }, body: 'hi' });
    expect(wrongType.status).to.equal(415);
    // Empty is not JSON: a PUT or POST that forgot its body is not taken as one without data.
    const empty = await site.request('POST', '/echo', { headers: { 'Content-Type': 'application/json', 'Content-Length': '0' } });
    expect(empty.status).to.equal(400);
    expect(empty.body).to.contain('Invalid JSON document');
    const emptyUntyped = await site.request('POST', '/echo', { headers: { 'Content-Length': '0' } });
    expect(emptyUntyped.status).to.equal(415);
  });

  it('answers 411 to a POST without Content-Length or Transfer-Encoding, as CherryPy', async () => {
    const text = await site.raw('POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(text).to.match(/^HTTP\/1\.1 411/);
  });
});
