// The app's tests: copy these when you add a handler. Each test starts the real
// server on a free port with prod.conf, sends real HTTP requests, and closes it.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import sinon from 'sinon';
import * as cherrypy from './cherrypy/index.ts';
import { Landing } from './run.ts';

describe('the app in run.ts', () => {
  let site: cherrypy.testing.TestServer;

  beforeEach(async () => {
    site = await cherrypy.testing.serve(new Landing(), '/', 'prod.conf');
  });

  afterEach(async () => {
    sinon.restore();
    await site.close();
  });

  it('serves the scripted landing page at /', async () => {
    const res = await site.get('/');
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('text/html;charset=utf-8');
    expect(res.body).to.equal('<html><body>scripted landing</body></html>');
  });

  it('answers the health check with or without the trailing slash', async () => {
    for (const path of ['/healthcheck', '/healthcheck/']) {
      const res = await site.get(path);
      expect(res.status, path).to.equal(200);
      expect(res.body, path).to.equal('Yay<br />\n');
    }
  });

  it('fails the health check once shutdown began, so a balancer stops sending traffic', async () => {
    sinon.stub(cherrypy.engine, 'state').value('STOPPING'); // as after SIGTERM
    expect((await site.get('/healthcheck')).status).to.equal(503);
  });

  it('serves logo.png byte for byte, as prod.conf says', async () => {
    const res = await site.get('/logo.png');
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('image/png');
    expect(res.bytes.equals(readFileSync('logo.png'))).to.equal(true);
  });

  it('answers 404 for a path it does not know', async () => {
    const res = await site.get('/no-such-page');
    expect(res.status).to.equal(404);
  });

  it('logs each visit in the access log', async () => {
    await site.get('/healthcheck');
    expect(site.logs.access).to.have.lengthOf(1);
    expect(site.logs.access[0]).to.match(/^127\.0\.0\.1 - - \[.+\] "GET \/healthcheck HTTP\/1\.1" 200 10 "" ""$/);
  });

  it('turns a failing handler into a 500 and keeps serving', async () => {
    // A stub stands in for a page whose database is down.
    const index = sinon.stub(Landing.prototype, 'index').throws(new Error('database unreachable'));
    const failed = await site.get('/');
    expect(failed.status).to.equal(500);
    expect(index.calledOnce).to.equal(true);
    expect(site.logs.errors.join('\n')).to.contain('database unreachable');

    index.restore();
    expect((await site.get('/')).status).to.equal(200);
  });
});
