// The small per-path tools: proxy, allow, response_headers, gzip, json_out.
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, type TestServer } from '../testing.ts';

class App {
  @cherrypy.expose
  whoami() {
    const r = cherrypy.request;
    return `${r.remote.ip} ${r.base} ${r.scheme}`;
  }

  @cherrypy.expose
  behindTwo() { return this.whoami(); }

  @cherrypy.expose
  go() { throw new cherrypy.HTTPRedirect('/whoami'); }

  @cherrypy.expose
  big() { return 'compress me '.repeat(200); }

  @cherrypy.expose
  *bigstream() { for (let i = 0; i < 50; i++) yield 'streamed and compressed '; }

  @cherrypy.expose
  data() { return { ok: true }; }

  @cherrypy.expose
  text() { return 'plain'; }
}

describe('tools', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new App(), '/', {
      '/whoami': { 'tools.proxy.on': true },
      '/behindTwo': { 'tools.proxy.on': true, 'tools.proxy.hops': 2 },
      '/go': { 'tools.allow.on': true, 'tools.allow.methods': ['GET'] },
      '/big': { 'tools.gzip.on': true },
      '/bigstream': { 'tools.gzip.on': true },
      '/data': { 'tools.json_out.on': true },
      '/text': { 'tools.json_out.on': true, 'tools.response_headers.on': true, 'tools.response_headers.headers': [['X-Frame-Options', 'DENY']] },
    }, { defaults: true });
  });
  after(() => site.close());

  it('proxy: takes the client address, host and scheme from X-Forwarded-*', async () => {
    const res = await site.get('/whoami', { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Host': 'public.example', 'X-Forwarded-Proto': 'https' });
    expect(res.body).to.equal('203.0.113.7 https://public.example https');
    expect(site.logs.access.at(-1)).to.match(/^203\.0\.113\.7 - - /);
    // What the client sent itself stays at the left, whatever it claims: the proxy's entry is the last.
    const forged = await site.get('/whoami', { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', 'X-Forwarded-Proto': 'http, https' });
    expect(forged.body).to.equal(`203.0.113.7 https://127.0.0.1:${site.port} https`);
    // Two proxies you trust (a CDN, then the balancer): the client is the second entry from the right.
    const chained = await site.get('/behindTwo', { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7, 10.0.0.1' });
    expect(chained.body).to.match(/^203\.0\.113\.7 /);
    const plain = await site.get('/whoami', { 'X-Forwarded-Ssl': 'on' });
    expect(plain.body).to.equal(`127.0.0.1 https://127.0.0.1:${site.port} https`);
  });

  it('allow: 405 with an Allow header for other methods; GET brings HEAD', async () => {
    const res = await site.request('DELETE', '/go');
    expect(res.status).to.equal(405);
    expect(res.headers.allow).to.equal('GET, HEAD');
    expect((await site.request('HEAD', '/go')).status).to.equal(303);
  });

  it('gzip: compresses listed types for clients that accept it, and says Vary', async () => {
    const res = await site.get('/big', { 'Accept-Encoding': 'gzip, deflate' });
    expect(res.headers['content-encoding']).to.equal('gzip');
    expect(res.headers.vary).to.equal('Accept-Encoding');
    expect(gunzipSync(res.bytes).toString()).to.equal('compress me '.repeat(200));
    expect(Number(res.headers['content-length'])).to.be.below(200);
    const stream = await site.get('/bigstream', { 'Accept-Encoding': 'gzip' });
    expect(gunzipSync(stream.bytes).toString()).to.equal('streamed and compressed '.repeat(50));
    for (const accept of [undefined, 'identity', 'gzip;q=0']) {
      const plain = await site.get('/big', accept ? { 'Accept-Encoding': accept } : {});
      expect(plain.headers['content-encoding'], accept).to.equal(undefined);
      expect(plain.body).to.equal('compress me '.repeat(200));
    }
  });

  it('json_out: sends the return value as JSON, strings included', async () => {
    const data = await site.get('/data');
    expect(data.headers['content-type']).to.equal('application/json');
    expect(data.body).to.equal('{"ok":true}');
    const text = await site.get('/text');
    expect(text.body).to.equal('"plain"');
  });

  it('response_headers: adds the listed headers', async () => {
    expect((await site.get('/text')).headers['x-frame-options']).to.equal('DENY');
  });
});
