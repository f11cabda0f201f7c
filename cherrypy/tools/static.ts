/**
 * tools.staticfile and tools.staticdir (before_handler, 50), CherryPy's
 * handler tools: for GET and HEAD, a file found on disk answers the request
 * (the handler is set to null); a miss falls through to the handler, which is
 * a 404 where there is none. How files are found and served: ../static.ts.
 */
import { Tool } from '../hooks.ts';
import { serveStaticDir, serveStaticFile, type FileBody } from '../static.ts';
import { debug } from '../debug.ts';
import { depth } from '../app.ts';
import type { Request, Response } from '../request.ts';

function answer(request: Request, response: Response, served: Promise<FileBody | null | undefined>): Promise<void> {
  return served.then((body) => {
    if (body === undefined) {
      debug('static: nothing on disk for %s; falling through to the handler', request.path);
      return;
    }
    response.body = body;
    request.handler = null;
  });
}

const getOrHead = (request: Request) => request.method === 'GET' || request.method === 'HEAD';

export const staticfile = new Tool('before_handler', (_, { request, response }) =>
  getOrHead(request) ? answer(request, response, serveStaticFile(request, response)) : undefined, { context: false });

export const staticdir = new Tool('before_handler', (_, { request, response }) => {
  if (!getOrHead(request)) return undefined;
  // The part of the path below the section that declared `tools.staticdir.dir`.
  return answer(request, response, serveStaticDir(request, response, request.segments.slice(depth(request.config['tools.staticdir.section']))));
}, { context: false });
