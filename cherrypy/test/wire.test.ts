// What goes on the wire, compared with what CherryPy 18.8 sends for the same
// app and request: optional path arguments, charsets, header names, Latin-1
// path bytes, gzip's 406, X-Forwarded-Ssl and redirect bodies.
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, type TestServer } from '../testing.ts';

class Catalog {
  @cherrypy.expose
  default(...parts: string[]) { return `catalog:${parts.join('|')}`; }
}

class App {
  catalog = new Catalog();

  @cherrypy.expose({ args: ['name?'] })
  hello(name?: string) { return `Hello ${name ?? 'world'}`; }

  @cherrypy.expose({ args: ['year', 'month?'] })
  archive(year: string, month?: string) { return `archive ${year}${month ? '/' + month : ''}`; }

  greet = cherrypy.expose({ args: ['who?'] })((who?: string) => `Hi ${who ?? 'there'}`);

  @cherrypy.expose
  regex(a = /[)]/.source, b = 'y') { return `regex ${a} ${b}`; }

  @cherrypy.expose
  plain() {
    cherrypy.response.headers['content-type'] = 'text/plain';
    return 'plain text';
  }

  @cherrypy.expose
  latin() {
    cherrypy.response.headers['Content-Type'] = 'text/plain; charset=iso-8859-1';
    return 'kept as declared';
  }

  @cherrypy.expose
  named() {
    const h = cherrypy.response.headers;
    h['etag'] = '"v1"';
    h['www-authenticate'] = 'Basic realm="x"';
    h['X-Request-ID'] = 'abc';
    h['x-lower-custom'] = 'as written';
    h['Set-Cookie'] = ['a=1', 'b=2'];
    return 'named';
  }

  @cherrypy.expose
  base() { return `${cherrypy.request.scheme} ${cherrypy.request.base}`; }

  @cherrypy.expose
  see() { throw new cherrypy.HTTPRedirect('/next?a=1&b=<2>'); }

  @cherrypy.expose
  moved() { throw new cherrypy.HTTPRedirect('/new', 301); }

  @cherrypy.expose
  unchanged() { throw new cherrypy.HTTPRedirect('/ignored', 304); }

  @cherrypy.expose
  proxy() { throw new cherrypy.HTTPRedirect('http://proxy.example:3128/', 305); }
}

describe('wire: path arguments TypeScript marks optional', () => {
  let site: TestServer;
  before(async () => { site = await serve(new App(), '/', undefined, { defaults: true, global: { 'tools.trailing_slash.on': false } }); });
  after(() => site.close());

  it('name?: string works when declared with expose({ args })', async () => {
    expect((await site.get('/hello')).body).to.equal('Hello world');
    expect((await site.get('/hello/ada')).body).to.equal('Hello ada');
    expect((await site.get('/hello/ada/extra')).status).to.equal(404);
    expect((await site.get('/archive')).status).to.equal(404);
    expect((await site.get('/archive/2026')).body).to.equal('archive 2026');
    expect((await site.get('/archive/2026/11')).body).to.equal('archive 2026/11');
    expect((await site.get('/greet')).body).to.equal('Hi there');
    expect((await site.get('/greet/bob')).body).to.equal('Hi bob');
  });

  it('a default whose text holds ")" counts its parameters right', async () => {
    expect((await site.get('/regex')).body).to.equal('regex [)] y');
    expect((await site.get('/regex/1/2')).body).to.equal('regex 1 2');
    expect((await site.get('/regex/1/2/3')).status).to.equal(404);
  });

  it('a wrong declaration is an error when the class is defined, saying what to write', () => {
    expect(() => cherrypy.expose({ args: ['a?', 'b'] })).to.throw(/required 'b' after an optional one/);
    expect(() => cherrypy.expose({ args: ['...rest', 'b'] })).to.throw(/'\.\.\.rest' must come last/);
    expect(() => cherrypy.expose({ args: ['two words'] })).to.throw(/write 'name', 'name\?' or '\.\.\.rest'/);
  });

  it('decodes path bytes that are not UTF-8 as Latin-1, as CherryPy', async () => {
    const res = await site.get('/catalog/Von%20B%fclow?ID=14');
    expect(res.status).to.equal(200);
    expect(res.body).to.equal('catalog:Von Bülow');
    expect((await site.get('/catalog/%zz')).status).to.equal(400);
  });
});

describe('wire: headers', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new App(), '/', {
      '/': { 'tools.response_headers.on': true, 'tools.response_headers.headers': [['Link', '</a>; rel=preload'], ['link', '</b>; rel=preload']] },
      '/typed': { 'tools.response_headers.headers': [['Content-Type', 'text/csv']] },
    }, { defaults: true });
  });
  after(() => site.close());

  it('text types set by a handler or response_headers get ;charset=utf-8; a declared charset is kept', async () => {
    expect((await site.get('/plain')).headers['content-type']).to.equal('text/plain;charset=utf-8');
    expect((await site.get('/latin')).headers['content-type']).to.equal('text/plain; charset=iso-8859-1');
  });

  it('sends well-known names in their usual case, custom ones as written, and every value', async () => {
    const raw = await site.raw('GET /named HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    for (const line of ['Content-Type: text/html;charset=utf-8', 'Content-Length: 5', 'ETag: "v1"', 'WWW-Authenticate: Basic realm="x"',
      'X-Request-ID: abc', 'x-lower-custom: as written', 'Set-Cookie: a=1', 'Set-Cookie: b=2',
      'Link: </a>; rel=preload', 'Link: </b>; rel=preload']) {
      expect(raw, line).to.contain(`\r\n${line}\r\n`);
    }
  });
});

describe('wire: tools as CherryPy applies them', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new App(), '/', {
      '/': { 'tools.gzip.on': true, 'tools.proxy.on': true, 'tools.proxy.scheme': 'X-Forwarded-Ssl' },
    }, { defaults: true });
  });
  after(() => site.close());

  it('gzip: 406 naming what it can send when the client refuses gzip and identity', async () => {
    for (const accept of ['*;q=0', 'identity;q=0', 'gzip;q=0, identity;q=0']) {
      const res = await site.request('GET', '/hello', { headers: { 'Accept-Encoding': accept } });
      expect(res.status, accept).to.equal(406);
      expect(res.body, accept).to.contain('identity, gzip');
    }
    const brOnly = await site.request('GET', '/hello', { headers: { 'Accept-Encoding': 'br' } });
    expect(brOnly.status).to.equal(200); // identity is acceptable unless refused (CherryPy: 406)
    expect(brOnly.headers['content-encoding']).to.equal(undefined);
    const star = await site.request('GET', '/hello', { headers: { 'Accept-Encoding': '*' } });
    expect(star.headers['content-encoding']).to.equal('gzip');
  });

  it('proxy: X-Forwarded-Ssl: on as the scheme header gives https', async () => {
    expect((await site.request('GET', '/base', { headers: { 'X-Forwarded-Ssl': 'on', Host: 'shop.example' } })).body).to.equal('https https://shop.example');
    expect((await site.request('GET', '/base', { headers: { Host: 'shop.example' } })).body).to.equal('http http://shop.example');
  });
});

describe('wire: redirects', () => {
  let site: TestServer;
  before(async () => { site = await serve(new App(), '/', undefined, { defaults: true }); });
  after(() => site.close());

  it('the body says where the resource is, with a link, as CherryPy', async () => {
    const see = await site.get('/see');
    expect(see.status).to.equal(303);
    expect(see.headers['location']).to.equal('/next?a=1&b=<2>');
    expect(see.headers['content-type']).to.equal('text/html;charset=utf-8');
    expect(see.body).to.equal('This resource can be found at <a href="/next?a=1&amp;b=&lt;2&gt;">/next?a=1&amp;b=&lt;2&gt;</a>.');
    expect((await site.get('/moved')).body).to.equal('This resource has permanently moved to <a href="/new">/new</a>.');
  });

  it('304 and 305 carry no body', async () => {
    const unchanged = await site.raw('GET /unchanged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(unchanged).to.match(/^HTTP\/1\.1 304 Not Modified\r\n/);
    expect(unchanged).to.match(/\r\n\r\n$/);
    expect(unchanged).not.to.match(/Location/i);
    const proxy = await site.get('/proxy');
    expect(proxy.status).to.equal(305);
    expect(proxy.headers['location']).to.equal('http://proxy.example:3128/');
    expect(proxy.body).to.equal('');
  });
});
