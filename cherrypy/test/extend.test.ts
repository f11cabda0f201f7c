// Growing an app the CherryPy way: custom tools at hook points (switched on by
// config, INI or decorator; typed; validated), _cp_config and @cherrypy.config,
// the expires, auth_basic and error_page settings, and the MethodDispatcher.
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, until, tempDir } from '../testing.ts';

const projectDir = fileURLToPath(new URL('../..', import.meta.url));
const tmp = tempDir('cp-extend-');

// A login check, as the README's "Extend it" shows it.
const login = new cherrypy.Tool('before_handler', ({ page }) => {
  if (!/(^|;\s*)user=/.test(cherrypy.request.headers.cookie ?? '')) throw new cherrypy.HTTPRedirect(page);
}, { priority: 60, args: { page: '/login' } });
cherrypy.tools.login = login;

/** Records the order the hook points run in, for one request at a time. */
const seen: string[] = [];
const recorders = Object.fromEntries(cherrypy.HOOK_POINTS.map((point) => [point,
  new cherrypy.Tool(point, () => { seen.push(point); })])) as Record<cherrypy.HookPoint, cherrypy.Tool>;
for (const [point, tool] of Object.entries(recorders)) (cherrypy.tools as unknown as Record<string, cherrypy.Tool>)[`rec_${point}`] = tool;
cherrypy.tools.later = new cherrypy.Tool('before_handler', async ({ ms }) => {
  await sleep(ms);
  seen.push('later');
}, { priority: 10, args: { ms: 20 } });
cherrypy.tools.late_failure = new cherrypy.Tool('on_end_resource', () => { throw new Error('late hook broke'); });
cherrypy.tools.end_failure = new cherrypy.Tool('on_end_request', async () => { throw new Error('end hook broke'); });
cherrypy.tools.error_failure = new cherrypy.Tool('after_error_response', () => { throw new Error('error hook broke'); });
// A tool that writes to node's response itself (the exchange it is handed carries it), then fails.
cherrypy.tools.raw_then_failure = new cherrypy.Tool('before_finalize', (_, context) => {
  const { res } = context as unknown as { res: import('node:http').ServerResponse };
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.write('partial ');
  throw new Error('raw tool broke');
});
new cherrypy.Tool('before_finalize', (_, { response }) => {
  if (typeof response.body === 'string') response.body = response.body.toUpperCase();
}, { name: 'shout' }); // registered by its name option

declare module '../hooks.ts' {
  interface Tools {
    login: typeof login;
    later: cherrypy.Tool<{ ms: number }>;
    late_failure: cherrypy.Tool;
    end_failure: cherrypy.Tool;
    error_failure: cherrypy.Tool;
    raw_then_failure: cherrypy.Tool;
    shout: cherrypy.Tool;
  }
}

class Account {
  @cherrypy.expose
  index() { return `account of ${cherrypy.request.headers.cookie}`; }

  @cherrypy.expose
  @cherrypy.tools.login({ page: '/signin' })
  settings() { return 'settings'; }
}

@cherrypy.config({ 'tools.shout.on': true })
class Loud {
  @cherrypy.expose
  index() { return 'quiet words'; }

  @cherrypy.expose
  @cherrypy.config({ 'tools.shout.on': false })
  whisper() { return 'still quiet'; }
}

class Cached {
  static _cp_config = { 'tools.expires.on': true, 'tools.expires.secs': 3600 };

  @cherrypy.expose
  index() { return 'cache me'; }

  @cherrypy.expose
  @cherrypy.config({ 'tools.expires.secs': 0 })
  never() { return 'never cache'; }

  @cherrypy.expose
  tagged() {
    cherrypy.response.headers['ETag'] = '"v1"';
    return 'has its own validator';
  }
}

class Items {
  static store = new Map<string, string>([['1', 'apple']]);

  GET(id?: string) { return id === undefined ? [...Items.store.keys()] : Items.store.get(id) ?? (() => { throw new cherrypy.NotFound(); })(); }

  PUT(id: string) {
    Items.store.set(id, String(cherrypy.request.params.name));
    return { stored: id };
  }

  DELETE(id: string) {
    Items.store.delete(id);
    return null;
  }
}
cherrypy.expose({ args: ['id?'] })(Items.prototype.GET);

class Root {
  account = new Account();
  loud = new Loud();
  cached = new Cached();
  items = new Items();

  @cherrypy.expose
  index() { return 'home'; }

  @cherrypy.expose
  traced() { seen.push('handler'); return 'traced'; }

  @cherrypy.expose
  secret() { return `hello ${cherrypy.request.login}`; }

  @cherrypy.expose
  broken() { throw new Error('broken on purpose'); }

  @cherrypy.expose
  async slowFailure() {
    await sleep(150);
    throw new Error('failed too late');
  }
}

const tracedConfig = Object.fromEntries([
  ...cherrypy.HOOK_POINTS.map((point) => [`tools.rec_${point}.on`, true]),
  ['tools.later.on', true],
]);

describe('extend: custom tools', () => {
  let site: cherrypy.testing.TestServer;
  before(async () => {
    site = await serve(new Root(), '/', {
      '/account': { 'tools.login.on': true },
      '/traced': tracedConfig,
      '/broken': tracedConfig,
      '/secret': {
        'tools.auth_basic.on': true, 'tools.auth_basic.realm': 'staff',
        'tools.auth_basic.checkpassword': cherrypy.checkpasswordDict({ ada: 'lovelace' }),
      },
      '/items': { 'request.dispatch': new cherrypy.dispatch.MethodDispatcher(), 'tools.json_out.on': true },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
  });
  after(() => site.close());

  it('a hook that fails after the response went out is logged; the response stands and the server serves on', async () => {
    const failing = await serve(new Root(), '/', { '/': { 'tools.late_failure.on': true, 'tools.end_failure.on': true } } as cherrypy.AppConfig, { defaults: true });
    const res = await failing.get('/');
    expect([res.status, res.body]).to.deep.equal([200, 'home']);
    await until(() => failing.logs.errors.join('\n').includes('end hook broke'));
    expect(failing.logs.errors.join('\n')).to.contain('a hook failed after the response: Error: late hook broke');
    expect((await failing.get('/')).status).to.equal(200);
  });

  it('an error response that fails too cuts the connection and is logged; the server serves on', async () => {
    const failing = await serve(new Root(), '/', { '/broken': { 'tools.error_failure.on': true } } as cherrypy.AppConfig, { defaults: true });
    const cut = await failing.get('/broken').then(() => 'answered', (err: Error) => err.message);
    expect(cut).to.not.equal('answered');
    expect(failing.logs.errors.join('\n')).to.contain('GET /broken: the error response failed too: Error: error hook broke');
    expect((await failing.get('/')).status).to.equal(200);
  });

  it('a failure after the response began cuts the connection (its status line is gone) and is logged', async () => {
    const failing = await serve(new Root(), '/', { '/secret': { 'tools.raw_then_failure.on': true } } as cherrypy.AppConfig, { defaults: true });
    const cut = await failing.get('/secret').then((res) => `answered ${res.status} ${res.body}`, (err: Error) => err.message);
    expect(cut).to.not.match(/^answered/);
    expect(failing.logs.errors.join('\n')).to.contain('GET /secret: failed after the response began: Error: raw tool broke');
    expect((await failing.get('/')).status).to.equal(200);
  });

  it('a handler that fails after its client left is logged once as such, and the access log shows nothing sent', async () => {
    const client = connect(site.port, '127.0.0.1');
    client.on('error', () => {});
    await new Promise((ready) => client.once('connect', ready));
    client.write('GET /slowFailure HTTP/1.1\r\nHost: test\r\n\r\n');
    await sleep(30);
    client.destroy();
    await until(() => site.logs.errors.join('\n').includes('failed after the client left'));
    expect(site.logs.errors.filter((line) => line.includes('/slowFailure'))).to.have.lengthOf(1)
      .and.to.match(/GET \/slowFailure: failed after the client left: Error: failed too late/);
    expect(site.logs.access.find((line) => line.includes('/slowFailure'))).to.match(/"GET \/slowFailure HTTP\/1\.1" - - /);
  });

  it('a login tool switched on for a path answers with its redirect, and lets members through', async () => {
    const away = await site.get('/account/');
    expect(away.status).to.equal(303);
    expect(away.headers.location).to.equal('/login');
    const member = await site.get('/account/', { Cookie: 'user=ada' });
    expect(member.body).to.equal('account of user=ada');
  });

  it('a tool\'s decorator switches it on for one handler, with its arguments', async () => {
    expect((await site.get('/account/settings')).headers.location).to.equal('/signin');
  });

  it('runs hook points in CherryPy\'s order, awaiting async tools, priorities first', async () => {
    seen.length = 0;
    expect((await site.get('/traced')).body).to.equal('traced');
    await sleep(20);
    expect(seen).to.deep.equal(['on_start_resource', 'before_request_body', 'later', 'before_handler', 'handler',
      'before_finalize', 'on_end_resource', 'on_end_request']);
  });

  it('runs the error hooks around an error response', async () => {
    seen.length = 0;
    expect((await site.get('/broken')).status).to.equal(500);
    await sleep(20);
    expect(seen).to.deep.equal(['on_start_resource', 'before_request_body', 'later', 'before_handler',
      'before_error_response', 'after_error_response', 'on_end_request']);
  });

  it('a before_finalize tool can change the handler\'s value; config decorators set it per class and method', async () => {
    expect((await site.get('/loud/')).body).to.equal('QUIET WORDS');
    expect((await site.get('/loud/whisper')).body).to.equal('still quiet');
  });

  it('MethodDispatcher: the method picks the handler; HEAD falls back to GET; others are 405 with Allow', async () => {
    expect(JSON.parse((await site.get('/items')).body)).to.deep.equal(['1']);
    expect(JSON.parse((await site.get('/items/1')).body)).to.equal('apple');
    expect((await site.request('PUT', '/items/2?name=pear')).body).to.equal('{"stored":"2"}');
    expect(JSON.parse((await site.get('/items/2')).body)).to.equal('pear');
    expect((await site.request('HEAD', '/items/2')).status).to.equal(200);
    expect((await site.request('DELETE', '/items/2')).status).to.equal(200);
    expect((await site.get('/items/2')).status).to.equal(404);
    const post = await site.request('POST', '/items', { body: '' });
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal('DELETE, GET, HEAD, PUT'); // sorted, as CherryPy sends it
    expect((await site.get('/items/1')).headers.allow).to.equal('DELETE, GET, HEAD, PUT'); // on every response
    expect((await site.get('/items/1/extra')).status).to.equal(404); // too many arguments, as with the default dispatcher
  });

  it('MethodDispatcher: a missing method is a 405 before any tool reads the body (CherryPy: json_in\'s 415 first)', async () => {
    const json = await serve(new Root(), '/', {
      '/items': { 'request.dispatch': new cherrypy.dispatch.MethodDispatcher(), 'tools.json_in.on': true },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    try {
      const form = await json.request('POST', '/items', { body: 'a=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      expect([form.status, form.headers.allow]).to.deep.equal([405, 'DELETE, GET, HEAD, PUT']);
      const broken = await json.request('POST', '/items/1', { body: '{x', headers: { 'Content-Type': 'application/json' } });
      expect(broken.status).to.equal(405);
      const put = await json.request('PUT', '/items/3?name=fig', { body: '{}', headers: { 'Content-Type': 'application/json' } });
      expect(put.status).to.equal(200); // the tool still reads bodies for the methods the resource has
    } finally {
      await json.close();
    }
  });

  it('auth_basic: 401 with WWW-Authenticate, then the user, compared in constant time', async () => {
    const none = await site.get('/secret');
    expect(none.status).to.equal(401);
    expect(none.headers['www-authenticate']).to.equal('Basic realm="staff", charset="UTF-8"');
    const basic = (user: string, password: string) => ({ Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') });
    expect((await site.get('/secret', basic('ada', 'wrong'))).status).to.equal(401);
    expect((await site.get('/secret', basic('bob', 'lovelace'))).status).to.equal(401);
    expect((await site.get('/secret', { Authorization: 'Basic !!!' })).status).to.equal(401);
    const ok = await site.get('/secret', basic('ada', 'lovelace'));
    expect([ok.status, ok.body]).to.deep.equal([200, 'hello ada']);
  });
});

describe('extend: _cp_config and the expires tool', () => {
  let site: cherrypy.testing.TestServer;
  before(async () => { site = await serve(new Root(), '/', undefined, { defaults: true, global: { 'tools.trailing_slash.on': false } }); });
  after(() => site.close());

  it('static _cp_config applies to the object\'s path and below; a method\'s config wins', async () => {
    const cached = await site.get('/cached/');
    expect(cached.headers['cache-control']).to.equal('max-age=3600');
    expect(Date.parse(String(cached.headers.expires)) - Date.now()).to.be.within(3500 * 1000, 3601 * 1000);
    const never = await site.get('/cached/never');
    expect(never.headers['cache-control']).to.equal('no-cache, must-revalidate');
    expect(never.headers.pragma).to.equal('no-cache');
    expect(Date.parse(String(never.headers.expires))).to.be.below(Date.now());
  });

  it('expires leaves a response that has its own validator alone unless forced', async () => {
    const tagged = await site.get('/cached/tagged');
    expect(tagged.headers['cache-control']).to.equal(undefined);
    expect(tagged.headers.etag).to.equal('"v1"');
  });
});

describe('extend: error_page.NNN', () => {
  it('a template file or a function answers instead of the built-in page', async () => {
    const template = join(tmp, '404.html');
    writeFileSync(template, '<h1>%(status)s</h1><p>%(message)s</p>');
    const site = await serve(new Root(), '/', {
      '/': { 'error_page.404': template, 'error_page.default': ({ status }) => `custom ${status}` },
    } as cherrypy.AppConfig, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    const missing = await site.get('/nowhere');
    expect([missing.status, missing.body]).to.deep.equal([404, "<h1>404 Not Found</h1><p>The path &#39;/nowhere&#39; was not found.</p>"]);
    const broken = await site.get('/broken');
    expect([broken.status, broken.body]).to.deep.equal([500, 'custom 500 Internal Server Error']);
  });

  it('an error page that fails is logged, and the built-in page answers', async () => {
    const site = await serve(new Root(), '/', {
      '/': { 'error_page.404': () => { throw new Error('page broke'); } },
    } as cherrypy.AppConfig, { defaults: true });
    const missing = await site.get('/nowhere');
    expect(missing.status).to.equal(404);
    expect(missing.body).to.contain('404 Not Found');
    expect(site.logs.errors.join('\n')).to.contain('error_page for 404 failed: Error: page broke');
  });
});

describe('extend: config is checked at start', () => {
  /** What serving the app with `config` fails with. */
  const startError = (config: string | cherrypy.AppConfig, root: object = new Root()) =>
    serve(root, '/', config, { defaults: true }).then(() => undefined, (err: unknown) => err);

  it('an unknown argument of a registered tool in an INI file names file:line and what it takes', async () => {
    const file = join(tmp, 'bad.conf');
    writeFileSync(file, '[/account]\ntools.login.on = True\ntools.login.pgae = "/in"\n');
    expect(String(await startError(file))).to.match(/bad\.conf:3: tools\.login has no argument 'pgae' \(it takes page\)/);
  });

  it('a value of the wrong type for a tool argument is refused, from a file and from code', async () => {
    const file = join(tmp, 'type.conf');
    writeFileSync(file, '[/account]\ntools.login.page = 5\n');
    expect(String(await startError(file))).to.match(/type\.conf:2: 'tools\.login\.page' must be a quoted string, got 5/);
    class Bad {
      static _cp_config = { 'tools.expires.secs': 'soon' };
      @cherrypy.expose
      index() { return ''; }
    }
    expect(String(await startError({}, { bad: new Bad() }))).to.match(/Bad\._cp_config: 'tools\.expires\.secs' must be a number, got "soon"/);
  });

  it('a misspelt key of a custom tool does not compile', () => {
    const file = join(projectDir, 'cherrypy', 'test', 'fixtures', 'typo-tool.ts');
    const tsc = spawnSync(join(projectDir, 'node_modules/.bin/tsc'), [
      '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2023', '--lib', 'es2023,esnext.decorators',
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--allowImportingTsExtensions', '--types', 'node', file,
    ], { encoding: 'utf8', cwd: projectDir });
    expect(tsc.stdout).to.contain("'tools.login.pgae'");
    expect(tsc.stdout.match(/error TS/g)).to.have.lengthOf(2); // the misspelt argument and the wrong type, nothing else
  });
});
