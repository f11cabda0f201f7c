// Baseline for `GET /logo.png`: bare node:http that stats the file and streams it, as a static server must.
import { createReadStream, stat } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const file = fileURLToPath(new URL('../logo.png', import.meta.url));
createServer((req, res) => {
  stat(file, (err, stats) => {
    if (err) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': stats.size, 'last-modified': stats.mtime.toUTCString() });
    createReadStream(file).pipe(res);
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.error(`Serving on http://127.0.0.1:${process.env.PORT}`));
process.on('SIGTERM', () => process.exit(0));
