// The bare node:http twin of grown-app.ts: the same answers, in the least code
// that does the same work (parse the JSON, gzip the page, look up the session...).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { gzipSync } from 'node:zlib';
import busboy from 'busboy';

const page = '<html><body>' + '<p>A paragraph of a page that is worth compressing. </p>'.repeat(40) + '</body></html>';
const sessions = new Map<string, { n: number }>();
const html = 'text/html;charset=utf-8';

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
  });
}

createServer(async (req, res) => {
  const [path = '/'] = (req.url ?? '/').split('?');
  const send = (status: number, type: string, text: string | Buffer, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...extra });
    res.end(text);
  };
  if (path === '/echo' && req.method === 'POST') return send(200, 'application/json', JSON.stringify({ got: JSON.parse((await body(req)).toString()) }));
  if (path === '/json') return send(200, 'application/json', JSON.stringify({ hello: 'world', items: [1, 2, 3] }));
  if (path === '/page') {
    return /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')
      ? send(200, html, gzipSync(page, { level: 5 }), { 'content-encoding': 'gzip', vary: 'Accept-Encoding' })
      : send(200, html, page);
  }
  if (path.startsWith('/hello/')) return send(200, html, `Hello ${decodeURIComponent(path.slice(7))}`);
  if (path === '/count') {
    const id = /session_id=([0-9a-f]{40})/.exec(req.headers.cookie ?? '')?.[1];
    const known = id === undefined ? undefined : sessions.get(id);
    const sid = known ? id! : randomBytes(20).toString('hex');
    const session = known ?? { n: 0 };
    session.n++;
    sessions.set(sid, session);
    return send(200, html, String(session.n), { 'set-cookie': `session_id=${sid}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax` });
  }
  if (path === '/upload' && req.method === 'POST') {
    const fields: Record<string, string> = {};
    let size = 0;
    const parser = busboy({ headers: req.headers });
    parser.on('field', (name, value) => (fields[name] = value));
    parser.on('file', (_name, stream) => stream.on('data', (c: Buffer) => (size += c.length)));
    parser.on('close', () => send(200, html, `${fields.title} ${size}`));
    return void req.pipe(parser);
  }
  if (path.startsWith('/items/') && req.method === 'GET') {
    const id = decodeURIComponent(path.slice(7));
    return send(200, 'application/json', JSON.stringify({ id, name: `item ${id}` }));
  }
  // The same page and headers as ours: the path named and escaped, scripts and sniffing forbidden.
  const named = path.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  send(404, html, '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"><title>404 Not Found</title></head>\n<body>\n<h2>404 Not Found</h2>\n' +
    `<p>The path &#39;${named}&#39; was not found.</p>\n</body>\n</html>\n`, { 'content-security-policy': "default-src 'none'", 'x-content-type-options': 'nosniff' });
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
