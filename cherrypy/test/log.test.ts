// The access log's lines, as they reach a sink: format, escaping, batching.
import { expect } from 'chai';
import { Log, memorySink } from '../log.ts';
import { encodeField } from '../accesslog.ts';

function logTo(): { log: Log; access: string[] } {
  const access: string[] = [];
  return { log: new Log({ access: [memorySink(access)], errors: [] }), access };
}

describe('log: access lines', () => {
  it('writes the CherryPy format, and - for what is unknown', () => {
    const { log, access } = logTo();
    log.request('10.0.0.1', 'GET', '/a?b=1', '1.0', 304, '-', 'http://x/', 'curl/8');
    log.request('10.0.0.1', '-', '', '1.1', '-', '-', '', '');
    log.flush();
    expect(access[0]).to.match(/^10\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2}\] "GET \/a\?b=1 HTTP\/1\.0" 304 - "http:\/\/x\/" "curl\/8"$/);
    expect(access[1]).to.match(/\] "-  HTTP\/1\.1" - - "" ""$/);
  });

  it('escapes quotes, backslashes, control characters and non-ASCII, so a request stays one line', () => {
    const { log, access } = logTo();
    log.request('1.2.3.4', 'GET', '/caf\xe9\n"x"', '1.1', 200, 5, 'a\\b', 'ua\x00\x7f\u0100');
    log.flush();
    expect(access).to.have.lengthOf(1);
    expect(access[0]).to.contain('"GET /caf\\xe9\\x0a\\"x\\" HTTP/1.1" 200 5 "a\\\\b" "ua\\x00\\x7f\\x100"');
  });

  it('writes fields encoded once per connection (address, User-Agent, Referer) as it writes the text', () => {
    const { log, access } = logTo();
    for (const ip of ['::ffff:127.0.0.1', 'a"b\\c\n\xe9']) {
      log.request(ip, 'GET', '/', '1.1', 200, 1, ip, ip);
      log.request(encodeField(ip), 'GET', '/', '1.1', 200, 1, encodeField(ip), encodeField(ip));
    }
    log.flush();
    expect(access[1]).to.equal(access[0]).and.to.match(/^::ffff:127\.0\.0\.1 - - \[/);
    expect(access[3]).to.equal(access[2]).and.to.match(/^a\\"b\\\\c\\x0a\\xe9 - - \[/);
    // Kept for a connection's life: its own memory, not a slice of node's shared buffer pool.
    expect(encodeField('::1').buffer.byteLength).to.equal(3);
  });

  it('keeps every line, in order, across many batches', () => {
    const { log, access } = logTo();
    for (let i = 0; i < 3000; i++) log.request('127.0.0.1', 'GET', `/item/${i}`, '1.1', 200, i, '', 'x'.repeat(50));
    log.flush();
    expect(access).to.have.lengthOf(3000);
    expect(access.every((line, i) => line.includes(`"GET /item/${i} HTTP/1.1" 200 ${i} `))).to.equal(true);
  });

  it('writes a line longer than a batch whole', () => {
    const { log, access } = logTo();
    log.request('127.0.0.1', 'GET', '/short', '1.1', 200, 1, '', '');
    log.request('127.0.0.1', 'GET', '/long', '1.1', 200, 1, '', '"'.repeat(40_000));
    log.request('127.0.0.1', 'GET', '/after', '1.1', 200, 1, '', '');
    log.flush();
    expect(access).to.have.lengthOf(3);
    expect(access[1]).to.have.lengthOf(access[0]!.length - '/short'.length + '/long'.length + 80_000);
    expect(access[2]).to.contain('/after');
  });

  it('writes nothing, and builds nothing, without a sink', () => {
    const log = new Log({ access: [], errors: [] });
    log.request('127.0.0.1', 'GET', '/', '1.1', 200, 1, '', '');
    expect(() => log.flush()).not.to.throw();
  });
});
