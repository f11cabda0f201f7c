// Configuration: the INI format, key checking with file:line, scopes and
// inheritance down the path, the environment preset, and the trailing_slash tool.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { GlobalConfig, readConfig, readConfigFile } from '../config.ts';
import { parseIni, parseLiteral } from '../ini.ts';
import { serve, tempDir } from '../testing.ts';
import { availableMemory, bodyBudget, connectionBudget, fileStreamBudget, sessionBudget } from '../memory.ts';
import { connectionsAllowedBy, openFileLimit } from '../connections.ts';

const dir = tempDir('cp-config-');
function confFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('config: Python literals', () => {
  const lit = (s: string) => parseLiteral(s, 'test');

  it('reads True, False, None, numbers and strings', () => {
    expect(lit('True')).to.equal(true);
    expect(lit('False')).to.equal(false);
    expect(lit('None')).to.equal(null);
    expect(lit('100')).to.equal(100);
    expect(lit('-1.5')).to.equal(-1.5);
    expect(lit('1_000')).to.equal(1000);
    expect(lit('0x1F')).to.equal(31);
    expect(lit('"a \\"b\\" \\n"')).to.equal('a "b" \n');
    expect(lit("'single'")).to.equal('single');
    expect(lit("'\\x41\\u00e9'")).to.equal('Aé');
    expect(lit('')).to.equal('');
  });

  it('reads lists, tuples and dicts, nested', () => {
    expect(lit("[('X-Frame-Options', 'DENY'), ('A', 'b')]")).to.deep.equal([['X-Frame-Options', 'DENY'], ['A', 'b']]);
    expect(lit("{'md': 'text/markdown', 1: [True, None]}")).to.deep.equal({ md: 'text/markdown', 1: [true, null] });
    expect(lit('[1, 2,]')).to.deep.equal([1, 2]);
    expect(lit('()')).to.deep.equal([]);
  });

  it('rejects anything that is not a literal, with a hint for unquoted strings', () => {
    expect(() => lit('/logo.png')).to.throw(/test: not a literal: \/logo.png \(strings must be quoted: "\/logo.png"\)/);
    expect(() => lit('hello')).to.throw(/'hello' is not a literal/);
    // JSON's and JavaScript's spellings get Python's, not a suggestion to quote them.
    expect(() => lit('true')).to.throw(/'true' is not a literal; Python spells it True: true\. Values/);
    expect(() => lit('null')).to.throw(/Python spells it None/);
    expect(() => lit('false')).to.throw(/Python spells it False/);
    expect(() => lit('os.path.sep')).to.throw(/not a literal/);
    expect(() => lit('2*3')).to.throw(/unexpected text after the value/);
    expect(() => lit('__import__("os")')).to.throw(/not a literal/);
    expect(() => lit('"open')).to.throw(/unterminated string/);
    expect(() => lit('[1 2]')).to.throw(/expected ','/);
    expect(() => lit('{1 2}')).to.throw(/expected ':'/);
    expect(() => lit('{[1]: 2}')).to.throw(/dict keys/);
    expect(() => lit('"\\xZZ"')).to.throw(/bad \\x escape/);
  });
});

describe('config: INI files', () => {
  it('reads sections, both delimiters, comments and continued lines', () => {
    const sections = parseIni([
      '# a comment', '; another', '[global]', 'server.thread_pool = 4   # inline comment',
      'server.socket_host: "0.0.0.0"', '', '[/]', 'tools.response_headers.headers = [',
      "    ('X-Frame-Options', 'DENY'),", "    ('X-A', '#not a comment')]",
    ].join('\n'), 'x.conf');
    expect(sections.map((s) => s.name)).to.deep.equal(['global', '/']);
    expect(sections[0]!.entries.map((e) => [e.key, e.value, e.where])).to.deep.equal([
      ['server.thread_pool', 4, 'x.conf:4'], ['server.socket_host', '0.0.0.0', 'x.conf:5'],
    ]);
    expect(sections[1]!.entries[0]!.value).to.deep.equal([['X-Frame-Options', 'DENY'], ['X-A', '#not a comment']]);
  });

  const bad: [string, RegExp][] = [
    ['[global]\nserver.thread_pool = lots\n', /bad\.conf:2: server\.thread_pool: 'lots' is not a literal/],
    ['[global]\nserver.thread_pol = 4\n', /bad\.conf:2: unknown config key 'server\.thread_pol' \(did you mean 'server\.thread_pool'\?\)/],
    ['[global]\nserver.thread_pool = "4"\n', /bad\.conf:2: 'server\.thread_pool' must be a whole number, got "4"/],
    ['[global]\nserver.thread_pool = 0\n', /bad\.conf:2: 'server\.thread_pool' must be at least 1/],
    ['[global]\nserver.socket_port = 70000\n', /bad\.conf:2: 'server\.socket_port' must be a port number/],
    ['[/x]\nserver.socket_port = 80\n', /bad\.conf:2: 'server\.socket_port' applies to the whole server; put it in \[global\]/],
    ['server.socket_port = 80\n', /bad\.conf:1: 'server\.socket_port' comes before any \[section\]/],
    ['[global]\nenvironment = "prod"\n', /bad\.conf:2: 'environment' must be one of development, staging, production, test_suite/],
    ['[static]\ntools.staticdir.on = True\n', /bad\.conf:1: section \[static\] must be \[global\] or a URL path/],
    ['[global]\n[global]\n', /bad\.conf:2: section \[global\] appears twice/],
    ['[/a]\ntools.gzip.on = True\ntools.gzip.on = False\n', /bad\.conf:3: 'tools\.gzip\.on' is set twice/],
    ['[/a\n', /bad\.conf:1: malformed section header/],
    ['[/a]\njust words\n', /bad\.conf:2: expected 'key = value'/],
    ['[/a]\ntools.response_headers.headers = ["X"]\n', /list of \(name, value\) pairs/],
    ['[/a]\ntools.staticdir.content_types = ["md"]\n', /a dict of extension to type/],
    ['[/a]\ntools.allow.methods = "GET"\n', /a list of strings/],
    ['[/a]\ntools.gzip.on = 1\n', /must be True or False/],
    ['[/a]\ntools.proxy.base = 5\n', /must be a quoted string/],
    ['[/a]\ntools.proxy.base = "a\\0b"\n', /without NUL/],
    ['[global]\nserver.socket_timeout = "10"\n', /a number of seconds/],
    ['[/a]\ntools.staticfile.on = True\n', /\[\/a\]: tools\.staticfile\.on needs tools\.staticfile\.filename/],
    ['[/a]\ntools.staticdir.on = True\n', /\[\/a\]: tools\.staticdir\.on needs tools\.staticdir\.dir/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text.split('\n')[1] || text.split('\n')[0])} naming file:line`, async () => {
      const file = confFile('bad.conf', text);
      let error: unknown;
      try {
        await serve({}, '/', file, { defaults: true });
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(cherrypy.ConfigError);
      expect((error as Error).message).to.match(message);
      expect((error as Error).message.replace(dir + '/', '')).to.match(message);
    });
  }

  it('names a file it cannot read', () => {
    expect(() => readConfigFile(join(dir, 'nope.conf'))).to.throw(cherrypy.ConfigError, /cannot read config file .*nope\.conf/);
  });

  it('resolves relative static paths against the config file folder, not the current directory', () => {
    const file = confFile('rel.conf', '[/logo.png]\ntools.staticfile.on = True\ntools.staticfile.filename = "img/logo.png"\n' +
      '[/s]\ntools.staticdir.on = True\ntools.staticdir.root = "site"\ntools.staticdir.dir = "public"\n' +
      '[global]\nlog.access_file = "logs/access.log"\n');
    const parsed = readConfig(file);
    expect(parsed.paths.get('/logo.png')!['tools.staticfile.filename']).to.equal(join(dir, 'img/logo.png'));
    expect(parsed.paths.get('/s')!['tools.staticdir.dir']).to.equal(join(dir, 'site/public'));
    expect(parsed.global['log.access_file']).to.equal(join(dir, 'logs/access.log'));
  });

  it('checks dict configs the same way, naming the section', () => {
    expect(() => readConfig({ '/x': { 'tools.nope.on': true } } as never)).to.throw(/config \[\/x\]: unknown config key 'tools\.nope\.on'/);
    expect(() => readConfig({ '/x': 5 } as never)).to.throw(/section '\/x' must be an object/);
  });
});

describe('config: the global config', () => {
  it('checks config.update at run time too (for values that escape the type checker)', () => {
    const config = new GlobalConfig();
    expect(() => config.update({ 'server.socket_port': '80' as unknown as number })).to.throw(/config\.update\(\): 'server\.socket_port' must be a port number/);
    expect(() => config.update({ 'server.bogus': 1 } as never)).to.throw(/unknown config key 'server\.bogus'/);
    config.update({ 'server.thread_pool': 3 });
    expect(config.get('server.thread_pool')).to.equal(3);
    config.reset();
    expect(config.get('server.thread_pool')).to.equal(10);
  });

  it('applies only the [global] section of a file given to config.update', () => {
    const config = new GlobalConfig();
    config.update(confFile('g.conf', '[global]\nserver.thread_pool = 7\n[/x]\ntools.gzip.on = True\n'));
    expect(config.get('server.thread_pool')).to.equal(7);
    expect(config.get('tools.gzip.on')).to.equal(false);
  });

  it('has CherryPy defaults, and the production preset where the update does not say otherwise', () => {
    const config = new GlobalConfig();
    expect(config.get('server.socket_host')).to.equal('127.0.0.1');
    expect(config.get('server.socket_port')).to.equal(8080);
    expect(config.get('tools.trailing_slash.on')).to.equal(true);
    config.update({ environment: 'production', 'request.show_mismatched_params': true });
    expect(config.get('request.show_tracebacks')).to.equal(false);
    expect(config.get('request.show_mismatched_params')).to.equal(true);
  });

  it('defaults to production when NODE_ENV=production', () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const config = new GlobalConfig();
      expect(config.get('environment')).to.equal('production');
      expect(config.get('request.show_tracebacks')).to.equal(false);
    } finally {
      if (before === undefined) delete process.env.NODE_ENV; else process.env.NODE_ENV = before;
    }
  });
});

class Site {
  a = { b: { index: cherrypy.expose(() => `b ${cherrypy.request.config['tools.proxy.base']}`) }, index: cherrypy.expose(() => 'a') };
  @cherrypy.expose
  index() { return 'root'; }
  @cherrypy.expose
  page() { return 'page'; }
  @cherrypy.expose
  default(...rest: string[]) { return `default ${rest.join('/')}`; }
}

describe('config: defaults that fit the memory the process may use', () => {
  const MiB = 1024 * 1024;

  it('gives bodies, connections, RAM sessions and files being sent an eighth each of a small container\'s memory', () => {
    expect(bodyBudget(256 * MiB)).to.equal(32 * MiB);
    expect(connectionBudget(256 * MiB)).to.equal(2048); // 16 KB each
    expect(sessionBudget(256 * MiB)).to.equal(32768); // 1 KB each
    expect(fileStreamBudget(256 * MiB)).to.equal(204); // 160 KB each
  });

  it('keeps the fixed defaults where memory is plenty', () => {
    const plenty = 64 * 1024 * MiB;
    expect([bodyBudget(plenty), connectionBudget(plenty), sessionBudget(plenty), fileStreamBudget(plenty)]).to.deep.equal([256 * MiB, 10_000, 100_000, 10_000]);
  });

  it('reads this process\'s own memory for the defaults', () => {
    const memory = availableMemory();
    expect(memory).to.be.above(0).and.at.most(Number.MAX_SAFE_INTEGER);
    expect(cherrypy.config.get('server.max_buffered_body_size')).to.equal(bodyBudget(memory));
    // Connections fit the open-file limit too: each may also be sending a file (connections.ts).
    expect(cherrypy.config.get('server.max_connections')).to.equal(Math.min(connectionBudget(memory), connectionsAllowedBy(openFileLimit())));
    expect(cherrypy.config.get('server.max_file_streams')).to.equal(fileStreamBudget(memory));
  });
});

describe('config: sections apply down the path, the deepest wins', () => {
  it('inherits [/] and [/a] into /a/b, and [/a/b] overrides', async () => {
    const site = await serve(new Site(), '/', {
      '/': { 'tools.response_headers.on': true, 'tools.response_headers.headers': [['X-Level', 'root']], 'tools.proxy.base': 'r' },
      '/a': { 'tools.response_headers.headers': [['X-Level', 'a']] },
      '/a/b': { 'tools.proxy.base': 'deep' },
    }, { defaults: true });
    try {
      expect((await site.get('/page')).headers['x-level']).to.equal('root');
      expect((await site.get('/a/')).headers['x-level']).to.equal('a');
      const deep = await site.get('/a/b/');
      expect(deep.headers['x-level']).to.equal('a');
      expect(deep.body).to.equal('b deep');
      // Headers from response_headers go on error pages too, as in CherryPy.
      expect((await site.get('/a/b/nothing/at/all?')).headers['x-level']).to.equal('a');
    } finally {
      await site.close();
    }
  });
});

describe('tools.trailing_slash', () => {
  it('is on by default: 301 from /dir to /dir/, relative, query kept', async () => {
    const site = await serve(new Site(), '/', undefined, { defaults: true });
    try {
      const res = await site.get('/a?x=1&y=2');
      expect(res.status).to.equal(301);
      expect(res.headers.location).to.equal('/a/?x=1&y=2');
      expect((await site.request('HEAD', '/a')).status).to.equal(301);
      expect((await site.get('/a/')).body).to.equal('a');
      // Handlers reached by name and default handlers are never redirected.
      expect((await site.get('/page')).status).to.equal(200);
      expect((await site.get('/index')).status).to.equal(200);
      expect((await site.get('/page/')).status).to.equal(200);
      expect((await site.get('/x/y')).body).to.equal('default x/y');
      // A path starting with // must not become a protocol-relative Location.
      const sneaky = await site.raw('GET //a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(sneaky).to.match(/^HTTP\/1\.1 301/);
      expect(sneaky).to.match(/\r\nLocation: \/a\/\r\n/i);
    } finally {
      await site.close();
    }
  });

  it('redirects /page/ to /page with extra, and uses the configured status', async () => {
    const site = await serve(new Site(), '/', undefined, {
      defaults: true, global: { 'tools.trailing_slash.extra': true, 'tools.trailing_slash.status': 308 },
    });
    try {
      const res = await site.get('/page/');
      expect(res.status).to.equal(308);
      expect(res.headers.location).to.equal('/page');
      expect((await site.get('/a')).headers.location).to.equal('/a/');
    } finally {
      await site.close();
    }
  });

  it('serves both forms when off', async () => {
    const site = await serve(new Site(), '/', undefined, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    try {
      expect((await site.get('/a')).body).to.equal('a');
      expect((await site.get('/a/')).body).to.equal('a');
    } finally {
      await site.close();
    }
  });
});
