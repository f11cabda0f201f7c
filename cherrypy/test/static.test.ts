// The staticfile and staticdir tools: correctness (types, validators, 304,
// 412, ranges, HEAD) and safety (traversal by any spelling, sibling folders,
// symlinks, dotfiles, NUL, backslashes), with the raw path on the wire.
import { mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve, type TestServer, tempDir } from '../testing.ts';

const base = tempDir('cp-static-');
const pub = join(base, 'public');
mkdirSync(join(pub, 'sub'), { recursive: true });
mkdirSync(join(pub, 'empty'));
mkdirSync(join(pub, '.git'));
mkdirSync(join(base, 'public2'));
writeFileSync(join(base, 'secret.txt'), 'SECRET-PARENT');
writeFileSync(join(base, 'public2', 'secret.txt'), 'SECRET-SIBLING');
writeFileSync(join(pub, '.env'), 'SECRET-DOTENV');
writeFileSync(join(pub, '.git', 'config'), 'SECRET-GIT');
writeFileSync(join(pub, 'alpha.txt'), 'abcdefghijklmnopqrstuvwxyz');
writeFileSync(join(pub, 'sub', 'index.html'), '<p>sub index</p>');
writeFileSync(join(pub, 'sub', 'page.txt'), 'sub page');
writeFileSync(join(pub, 'unknown.zzz'), 'mystery');
writeFileSync(join(pub, 'empty.txt'), '');
writeFileSync(join(pub, 'big.bin'), randomBytes(4 * 1024 * 1024));
symlinkSync(join(base, 'secret.txt'), join(pub, 'link-out'));
symlinkSync(base, join(pub, 'linkdir-out'));
symlinkSync(join(pub, 'alpha.txt'), join(pub, 'link-in.txt'));
const mtime = new Date('2026-01-02T03:04:05Z');
utimesSync(join(pub, 'alpha.txt'), mtime, mtime);
writeFileSync(join(base, 'logo.png'), Buffer.from('89504e470d0a1a0a', 'hex'));

class App {
  @cherrypy.expose
  index() { return 'app index'; }

  @cherrypy.expose
  logo_png() { return `handler got ${cherrypy.request.method}`; }
}

const conf = {
  '/static': { 'tools.staticdir.on': true, 'tools.staticdir.dir': pub, 'tools.staticdir.index': 'index.html', 'tools.staticdir.content_types': { zzz: 'text/x-mystery' } },
  '/bare': { 'tools.staticdir.on': true, 'tools.staticdir.dir': pub, 'tools.gzip.on': true, 'tools.gzip.mime_types': ['text/*'] },
  '/logo.png': { 'tools.staticfile.on': true, 'tools.staticfile.filename': join(base, 'logo.png') },
  '/gone.png': { 'tools.staticfile.on': true, 'tools.staticfile.filename': join(base, 'gone.png') },
} as cherrypy.AppConfig;

describe('static files: staticfile', () => {
  let site: TestServer;
  before(async () => { site = await serve(new App(), '/', conf, { defaults: true }); });
  after(() => site.close());

  it('serves the file with type, length and validators', async () => {
    const res = await site.get('/logo.png');
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('image/png');
    expect(res.headers['content-length']).to.equal('8');
    expect(res.headers['last-modified']).to.be.a('string');
    expect(res.headers.etag).to.match(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(res.headers['accept-ranges']).to.equal('bytes');
    expect(res.bytes.equals(readFileSync(join(base, 'logo.png')))).to.equal(true);
  });

  it('answers HEAD with the headers only', async () => {
    const res = await site.request('HEAD', '/logo.png');
    expect(res.status).to.equal(200);
    expect(res.headers['content-length']).to.equal('8');
    expect(res.bytes.length).to.equal(0);
  });

  it('lets other methods fall through to the handler', async () => {
    const res = await site.request('POST', '/logo.png', { body: '' });
    expect(res.body).to.equal('handler got POST');
  });

  it('falls through when the file is missing (404 without a handler)', async () => {
    expect((await site.get('/gone.png')).status).to.equal(404);
  });
});

describe('static files: staticdir', () => {
  let site: TestServer;
  before(async () => { site = await serve(new App(), '/', conf, { defaults: true }); });
  after(() => site.close());

  /** GET with the path exactly as written (http.request does not normalise it). */
  const get = (path: string, headers: Record<string, string> = {}) => site.request('GET', path, { headers });

  it('serves files under the folder with their type; unknown types as octet-stream', async () => {
    const alpha = await get('/static/alpha.txt');
    expect(alpha.status).to.equal(200);
    expect(alpha.headers['content-type']).to.equal('text/plain; charset=utf-8');
    expect(alpha.body).to.equal('abcdefghijklmnopqrstuvwxyz');
    expect((await get('/static/unknown.zzz')).headers['content-type']).to.equal('text/x-mystery; charset=utf-8');
    expect((await get('/bare/unknown.zzz')).headers['content-type']).to.equal('application/octet-stream');
    expect((await get('/static/sub/page.txt')).body).to.equal('sub page');
    expect((await get('/static/link-in.txt')).body).to.equal('abcdefghijklmnopqrstuvwxyz');
    const empty = await get('/static/empty.txt');
    expect([empty.status, empty.headers['content-length'], empty.body]).to.deep.equal([200, '0', '']);
  });

  it('sends files as they are on disk, even where gzip is on', async () => {
    const res = await get('/bare/alpha.txt', { 'Accept-Encoding': 'gzip' });
    expect(res.headers['content-encoding']).to.equal(undefined);
    expect([res.headers['content-length'], res.body]).to.deep.equal(['26', 'abcdefghijklmnopqrstuvwxyz']);
  });

  it('serves large files byte for byte', async () => {
    const res = await get('/static/big.bin');
    expect(res.bytes.equals(readFileSync(join(pub, 'big.bin')))).to.equal(true);
  });

  it('serves a folder index at dir/ and redirects dir to dir/', async () => {
    const index = await get('/static/sub/');
    expect(index.status).to.equal(200);
    expect(index.body).to.equal('<p>sub index</p>');
    expect(index.headers['content-type']).to.equal('text/html; charset=utf-8');
    const redirect = await get('/static/sub?x=1');
    expect(redirect.status).to.equal(301);
    expect(redirect.headers.location).to.equal('/static/sub/?x=1');
  });

  it('never lists a folder', async () => {
    expect((await get('/static/empty/')).status).to.equal(404);
    expect((await get('/bare/sub/')).status).to.equal(404);
    expect((await get('/bare/')).status).to.equal(404);
  });

  it('says at start when the folder is missing (every request then falls through to 404)', async () => {
    const missing = await serve(new App(), '/', { '/assets': { 'tools.staticdir.on': true, 'tools.staticdir.dir': join(base, 'no-such-folder') } }, { defaults: true });
    expect(missing.server.tree.apps[0]!.staticRoutes).to.deep.equal([`/assets/ -> ${join(base, 'no-such-folder')}/ (missing: answers 404)`]);
    expect(site.server.tree.apps[0]!.staticRoutes).to.include(`/static/ -> ${pub}/`);
  });

  it('answers 404 for files that are not there', async () => {
    expect((await get('/static/nope.txt')).status).to.equal(404);
    expect((await get('/static/alpha.txt/more')).status).to.equal(404);
  });

  const attacks = [
    '/static/../secret.txt', '/static/%2e%2e/secret.txt', '/static/%2E%2E/secret.txt', '/static/.%2e/secret.txt',
    '/static/..%2fsecret.txt', '/static/..%2Fsecret.txt', '/static/%2e%2e%2fsecret.txt', '/static/%252e%252e/secret.txt',
    '/static/%252e%252e%252fsecret.txt', '/static/sub/../../secret.txt', '/static/sub/%2e%2e/%2e%2e/secret.txt',
    '/static/sub/..%2f..%2fsecret.txt', '/static/..\\secret.txt', '/static/..%5csecret.txt', '/static/sub\\..\\..\\secret.txt',
    '/static/../public2/secret.txt', '/static/%2e%2e/public2/secret.txt', '/static/..%2fpublic2%2fsecret.txt',
    '/static/%2e%2e%2fpublic2%2fsecret.txt', '/static/link-out', '/static/linkdir-out/secret.txt',
    '/static/linkdir-out/public2/secret.txt', '/static/.env', '/static/%2eenv', '/static/.git/config',
    '/static/%2egit/config', '/static/sub/../.env', '/static/alpha.txt%00.html', '/static/%00', '/static/%c0%ae%c0%ae/secret.txt',
    '/static/%', '/static/%E0%A4%A', '/static/' + '../'.repeat(20) + 'etc/passwd', '/static/%2f%2e%2e%2fsecret.txt',
    '/static//..//secret.txt', '/static/./../secret.txt', '/bare/../secret.txt', '/bare/..%2fpublic2/secret.txt',
  ];
  it(`serves nothing outside the folder, whatever the spelling (${attacks.length} paths)`, async () => {
    for (const path of attacks) {
      const res = await get(path);
      expect([400, 403, 404], `${path} -> ${res.status}`).to.include(res.status);
      expect(res.body, path).not.to.contain('SECRET');
      expect(res.body, path).not.to.contain('root:');
    }
    // And through a raw socket too, where no client library can touch the path.
    for (const path of ['/static/../secret.txt', '/static/..\\secret.txt', '/static/%2e%2e/public2/secret.txt']) {
      const text = await site.raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(text, path).to.match(/^HTTP\/1\.1 40[034]/);
      expect(text, path).not.to.contain('SECRET');
    }
  });

  it('gives 400 for NUL, bad escapes and encoded separators; 403 for ..', async () => {
    expect((await get('/static/alpha.txt%00.html')).status).to.equal(400);
    expect((await get('/static/%E0%A4%A')).status).to.equal(400);
    expect((await get('/static/..%2fsecret.txt')).status).to.equal(400);
    expect((await get('/static/sub\\page.txt')).status).to.equal(400);
    expect((await get('/static/../secret.txt')).status).to.equal(403);
  });

  it('never echoes the raw path into an error page', async () => {
    const res = await get('/static/%3Cimg%20src=x%20onerror=alert(1)%3E/..%2f');
    expect(res.body).not.to.contain('<img');
  });

  describe('conditional requests', () => {
    let etag: string, lastModified: string;
    before(async () => {
      const res = await get('/static/alpha.txt');
      etag = res.headers.etag!;
      lastModified = res.headers['last-modified']!;
      expect(lastModified).to.equal(mtime.toUTCString());
    });

    it('304 for a matching If-None-Match (strong or weak), with no body', async () => {
      for (const inm of [etag, `W/${etag}`, `"x", ${etag}`, '*']) {
        const res = await get('/static/alpha.txt', { 'If-None-Match': inm });
        expect(res.status, inm).to.equal(304);
        expect(res.body).to.equal('');
        expect(res.headers.etag).to.equal(etag);
      }
      expect((await get('/static/alpha.txt', { 'If-None-Match': '"other"' })).status).to.equal(200);
    });

    it('compares If-Modified-Since as a date, not as a string', async () => {
      expect((await get('/static/alpha.txt', { 'If-Modified-Since': lastModified })).status).to.equal(304);
      expect((await get('/static/alpha.txt', { 'If-Modified-Since': 'Sat, 01 Jan 2028 00:00:00 GMT' })).status).to.equal(304);
      expect((await get('/static/alpha.txt', { 'If-Modified-Since': 'Thu, 01 Jan 2026 00:00:00 GMT' })).status).to.equal(200);
      expect((await get('/static/alpha.txt', { 'If-Modified-Since': 'not a date' })).status).to.equal(200);
      // If-None-Match wins over If-Modified-Since.
      expect((await get('/static/alpha.txt', { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified })).status).to.equal(200);
    });

    it('412 for a failed If-Match or If-Unmodified-Since', async () => {
      expect((await get('/static/alpha.txt', { 'If-Match': '"other"' })).status).to.equal(412);
      expect((await get('/static/alpha.txt', { 'If-Match': `W/${etag}` })).status).to.equal(412);
      expect((await get('/static/alpha.txt', { 'If-Match': etag })).status).to.equal(200);
      expect((await get('/static/alpha.txt', { 'If-Unmodified-Since': 'Thu, 01 Jan 2026 00:00:00 GMT' })).status).to.equal(412);
      expect((await get('/static/alpha.txt', { 'If-Unmodified-Since': lastModified })).status).to.equal(200);
    });

    it('206 for one range, with Content-Range', async () => {
      const cases: [string, string, string][] = [
        ['bytes=0-4', 'bytes 0-4/26', 'abcde'], ['bytes=-3', 'bytes 23-25/26', 'xyz'],
        ['bytes=20-', 'bytes 20-25/26', 'uvwxyz'], ['bytes=24-100', 'bytes 24-25/26', 'yz'],
      ];
      for (const [range, contentRange, body] of cases) {
        const res = await get('/static/alpha.txt', { Range: range });
        expect(res.status, range).to.equal(206);
        expect(res.headers['content-range'], range).to.equal(contentRange);
        expect(res.headers['content-length'], range).to.equal(String(body.length));
        expect(res.body, range).to.equal(body);
      }
    });

    it('416 with bytes */size for a range past the end', async () => {
      for (const range of ['bytes=26-30', 'bytes=100-', 'bytes=-0']) {
        const res = await get('/static/alpha.txt', { Range: range });
        expect(res.status, range).to.equal(416);
        expect(res.headers['content-range']).to.equal('bytes */26');
      }
    });

    it('206 multipart/byteranges for several ranges, as CherryPy', async () => {
      const res = await get('/static/alpha.txt', { Range: 'bytes=0-1,-3' });
      expect(res.status).to.equal(206);
      const boundary = /^multipart\/byteranges; boundary=(\S+)$/.exec(String(res.headers['content-type']))![1]!;
      expect(res.body).to.equal(
        `\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/26\r\n\r\nab` +
        `\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 23-25/26\r\n\r\nxyz` +
        `\r\n--${boundary}--\r\n`);
      expect(res.headers['content-length']).to.equal(String(res.bytes.length));
    });

    it('merges overlapping ranges, so an answer is never longer than the file', async () => {
      const res = await get('/static/alpha.txt', { Range: 'bytes=0-,0-,0-,0-,5-9' });
      expect(res.status).to.equal(206);
      expect(res.headers['content-range']).to.equal('bytes 0-25/26');
      expect(res.body).to.equal('abcdefghijklmnopqrstuvwxyz');
      const big = await get('/static/big.bin', { Range: 'bytes=0-9,4194000-4194009' });
      expect(big.status).to.equal(206);
      expect(big.bytes.length).to.be.below(1000);
      expect(big.body).to.contain('Content-Range: bytes 4194000-4194009/4194304');
    });

    it('200 with the whole file for too many ranges, bad syntax or a stale If-Range', async () => {
      const many = Array.from({ length: 17 }, (_, i) => `${i}-${i}`).join(',');
      for (const headers of [{ Range: `bytes=${many}` } as Record<string, string>, { Range: 'items=0-1' }, { Range: 'bytes=5-2' },
        { Range: 'bytes=0-1', 'If-Range': '"stale"' }]) {
        const res = await get('/static/alpha.txt', headers);
        expect(res.status, JSON.stringify(headers)).to.equal(200);
        expect(res.body).to.equal('abcdefghijklmnopqrstuvwxyz');
      }
      expect((await get('/static/alpha.txt', { Range: 'bytes=0-1', 'If-Range': etag })).status).to.equal(206);
    });
  });

  it('serves a small file\'s new content as soon as it changes', async () => {
    const file = join(pub, 'changing.txt');
    writeFileSync(file, 'version one');
    expect((await get('/static/changing.txt')).body).to.equal('version one');
    expect((await get('/static/changing.txt')).body).to.equal('version one');
    writeFileSync(file, 'version two, longer');
    const res = await get('/static/changing.txt');
    expect(res.body).to.equal('version two, longer');
    expect(res.headers['content-length']).to.equal('19');
    writeFileSync(file, 'version 3, same size');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect((await get('/static/changing.txt')).body).to.equal('version 3, same size');
  });

  it('frees the file descriptor of every aborted download', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    const abortOnce = () => new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: site.port, path: '/static/big.bin', agent: false }, (res) => {
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', () => resolve());
      req.end();
    });
    await abortOnce();
    await sleep(50);
    const before = openFds();
    for (let i = 0; i < 200; i++) await abortOnce();
    for (let i = 0; i < 50 && openFds() > before + 2; i++) await sleep(20);
    expect(openFds()).to.be.at.most(before + 2);
    expect((await get('/static/alpha.txt')).status).to.equal(200);
  });
});
