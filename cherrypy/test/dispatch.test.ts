// The object-tree dispatcher, over real HTTP: what CherryPy's Dispatcher does
// (reference §1), plus the places where we deliberately differ.
import { expect } from 'chai';
import sinon from 'sinon';
import * as cherrypy from '../index.ts';
import { serve, type TestServer } from '../testing.ts';
import { Application } from '../app.ts';
import { readConfig } from '../config.ts';

class Child {
  @cherrypy.expose
  index() { return 'child index'; }

  @cherrypy.expose
  page() { return 'child page'; }
}

class Catalog {
  @cherrypy.expose
  default(...parts: string[]) { return `catalog:${parts.join('|')}`; }
}

class Root {
  child = new Child();
  catalog = new Catalog();
  plain = { leaf: cherrypy.expose(() => 'plain leaf') };
  wrapped = cherrypy.expose(() => 'wrapped');

  @cherrypy.expose
  index() { return 'root index'; }

  @cherrypy.expose
  logo_png() { return 'logo handler'; }

  @cherrypy.expose
  one(a: string) { return `one:${a}`; }

  @cherrypy.expose
  two(a: string, b = 'dflt') { return `two:${a}:${b}`; }

  @cherrypy.expose
  many(first: string, ...rest: string[]) { return `many:${first}:${rest.join(',')}`; }

  hidden() { return 'must not be reachable'; }
}

describe('dispatch: the object tree walk', () => {
  let site: TestServer;
  before(async () => {
    site = await serve(new Root(), '/', undefined, { defaults: true, global: { 'tools.trailing_slash.on': false } });
  });
  after(() => site.close());

  const expectBody = async (path: string, status: number, body?: string) => {
    const res = await site.get(path);
    expect(res.status, path).to.equal(status);
    if (body !== undefined) expect(res.body, path).to.equal(body);
  };

  it('serves index for / and the virtual index of nested objects', async () => {
    await expectBody('/', 200, 'root index');
    await expectBody('/index', 200, 'root index');
    await expectBody('/child', 200, 'child index');
    await expectBody('/child/', 200, 'child index');
    await expectBody('/child/page', 200, 'child page');
  });

  it('drops empty segments', async () => {
    await expectBody('/child//page', 200, 'child page');
    await expectBody('/child/page//', 200, 'child page');
  });

  it('maps punctuation to underscores, as CherryPy does', async () => {
    await expectBody('/logo.png', 200, 'logo handler');
    await expectBody('/logo-png', 200, 'logo handler');
  });

  it('reaches plain nested objects without exposing them, and function-wrapped handlers', async () => {
    await expectBody('/plain/leaf', 200, 'plain leaf');
    await expectBody('/wrapped', 200, 'wrapped');
  });

  it('gives 404 for members that are not exposed, and for objects themselves', async () => {
    await expectBody('/hidden', 404);
    await expectBody('/plain', 404);
    await expectBody('/nothing/here', 404);
  });

  it('never reaches constructor, __proto__ or Object.prototype members', async () => {
    for (const path of ['/constructor', '/__proto__', '/toString', '/hasOwnProperty', '/valueOf',
      '/constructor/constructor', '/child/__proto__/page', '/prototype', '/__defineGetter__']) {
      const res = await site.get(path);
      expect(res.status, path).to.equal(404);
      expect(res.body, path).not.to.contain('function');
    }
  });

  it('passes the remaining segments as positional arguments, decoded once', async () => {
    await expectBody('/one/x', 200, 'one:x');
    await expectBody('/one/a%20b', 200, 'one:a b');
    await expectBody('/one/a%2Fb', 200, 'one:a/b');
    await expectBody('/one/%2541', 200, 'one:%41');
    await expectBody('/two/x', 200, 'two:x:dflt');
    await expectBody('/two/x/y', 200, 'two:x:y');
    await expectBody('/many/a/b/c', 200, 'many:a:b,c');
  });

  it('gives 404 when the arguments do not fit the handler', async () => {
    await expectBody('/one', 404);
    await expectBody('/one/x/y', 404);
    await expectBody('/two/x/y/z', 404);
    await expectBody('/child/page/extra', 404);
    const res = await site.get('/one');
    expect(res.body).to.contain('Missing parameters');
    const extra = await site.get('/one/x/y');
    expect(extra.body).to.contain('Too many path segments: the handler takes at most 1 path segment(s) here, got 2');
  });

  it('sends what is left to an exposed default method', async () => {
    await expectBody('/catalog', 200, 'catalog:');
    await expectBody('/catalog/books/42', 200, 'catalog:books|42');
  });

  it('does not 404 on unexpected query parameters (CherryPy does)', async () => {
    await expectBody('/?utm_source=newsletter', 200, 'root index');
  });

  it('gives 400 for malformed percent-encoding and NUL bytes in the path', async () => {
    for (const path of ['/%zz', '/one/%E0%A4%A', '/one/%', '/one/a%00b']) {
      const res = await site.get(path);
      expect(res.status, path).to.equal(400);
    }
  });

  it('accepts absolute-form request targets', async () => {
    const text = await site.raw('GET http://example.com/child/page HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
    expect(text).to.match(/^HTTP\/1\.1 200/);
    expect(text).to.contain('child page');
  });
});

describe('dispatch: exposing handlers', () => {
  afterEach(() => sinon.restore());

  it('keeps a sinon stub of a decorated method routable', async () => {
    const site = await serve(new Root(), '/', undefined, { defaults: true });
    try {
      const stub = sinon.stub(Root.prototype, 'index').returns('stubbed');
      const res = await site.get('/');
      expect(res.body).to.equal('stubbed');
      expect(stub.calledOnce).to.equal(true);
    } finally {
      await site.close();
    }
  });

  it('accepts functions marked with exposed = true, the article style', async () => {
    const handler = Object.assign(() => 'marked', { exposed: true });
    const site = await serve({ index: handler }, '/', undefined, { defaults: true });
    try {
      expect((await site.get('/')).body).to.equal('marked');
    } finally {
      await site.close();
    }
  });

  it('inherits exposed methods from a parent class', async () => {
    class Sub extends Child {
      @cherrypy.expose
      extra() { return 'sub extra'; }
    }
    const site = await serve(new Sub(), '/', undefined, { defaults: true });
    try {
      expect((await site.get('/page')).body).to.equal('child page');
      expect((await site.get('/extra')).body).to.equal('sub extra');
    } finally {
      await site.close();
    }
  });

  it('refuses to decorate what cannot be a handler', () => {
    expect(() => cherrypy.expose('x' as unknown as Function)).to.throw(TypeError);
    expect(() => cherrypy.expose(() => 1, { kind: 'method', static: true, private: false, name: 'x' } as ClassMethodDecoratorContext)).to.throw(TypeError);
  });

  it('sees objects and methods replaced after a path was first served', async () => {
    const root = new Root();
    const site = await serve(root, '/', undefined, { defaults: true });
    try {
      expect((await site.get('/child/page')).body).to.equal('child page');
      root.child = { page: cherrypy.expose(() => 'new child') } as unknown as Child;
      expect((await site.get('/child/page')).body).to.equal('new child');
      (root as unknown as Record<string, unknown>).wrapped = () => 'no longer exposed';
      expect((await site.get('/wrapped')).status).to.equal(404);
      (root.catalog as unknown as Record<string, unknown>).books = { index: cherrypy.expose(() => 'books index') };
      expect((await site.get('/catalog/books/')).body).to.equal('books index');
    } finally {
      await site.close();
    }
  });

  it('remembers at most 1,000 paths', async () => {
    const site = await serve(new Root(), '/', undefined, { defaults: true });
    try {
      for (let i = 0; i < 1100; i++) await site.get(`/catalog/${i}`);
      expect(site.server.routes.size).to.be.at.most(1000);
      expect((await site.get('/catalog/1099')).body).to.equal('catalog:1099');
    } finally {
      await site.close();
    }
  });

  it('mounts an app below a script name', async () => {
    const site = await serve(new Child(), '/api', undefined, { defaults: true });
    try {
      expect((await site.get('/api/page')).body).to.equal('child page');
      expect((await site.get('/page')).status).to.equal(404);
    } finally {
      await site.close();
    }
  });
});

describe('dispatch: the routes listed at start', () => {
  it('lists handlers by path, and a MethodDispatcher resource once, with its methods', () => {
    class Items {
      GET() { return []; }
      PUT() { return null; }
      @cherrypy.expose
      helper() { return 'not a route under the MethodDispatcher'; }
    }
    class Shop {
      items = new Items();
      about = { index: cherrypy.expose(() => 'about') };
      @cherrypy.expose
      index() { return 'shop'; }
    }
    const { paths } = readConfig({ '/items': { 'request.dispatch': new cherrypy.dispatch.MethodDispatcher() } });
    const app = new Application(new Shop(), '/shop', paths, cherrypy.config.snapshot());
    expect(app.routes()).to.deep.equal(['/shop/', '/shop/about/', '/shop/items/ (GET, HEAD, PUT)']);
  });
});
