// Baseline for `GET /`: bare node:http answering the same bytes and headers as run.ts's Landing.
import { createServer } from 'node:http';

const body = '<html><body>scripted landing</body></html>';
createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html;charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.error(`Serving on http://127.0.0.1:${process.env.PORT}`));
process.on('SIGTERM', () => process.exit(0));
