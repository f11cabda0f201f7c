/**
 * tools.json_in (before_request_body, 30): the JSON body into
 * `request.json`; larger than `max_size` (1 MiB) -> 413 before parsing (parsing
 * blocks the process), bad or empty JSON -> 400, another content type -> 415.
 * tools.json_out (before_handler, 30): the handler's value goes out as JSON,
 * strings included, as CherryPy's does (it wraps the handler).
 */
import { HTTPError } from '../errors.ts';
import { Tool } from '../hooks.ts';
import { isThenable } from '../awaitable.ts';
import { mediaType, readBody, takesBody } from '../body.ts';
import type { Response } from '../request.ts';

export const json_in = new Tool('before_request_body', (_, { request }) => {
  if (!takesBody(request.method)) return;
  readBody(request);
  // An empty body is not a JSON document either (as CherryPy: 415, or 400 under a JSON type).
  const body = request.body!;
  const type = mediaType(request.raw);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new HTTPError(415, 'Expected a JSON body (Content-Type: application/json)');
  }
  const max = request.config['tools.json_in.max_size'];
  if (body.length > max) throw new HTTPError(413, `The JSON body exceeds tools.json_in.max_size (${max} bytes)`);
  try {
    request.json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HTTPError(400, `Invalid JSON document: ${(err as Error).message}`);
  }
}, { priority: 30, context: false });

function encodeJson(response: Response, value: unknown): string {
  response.headers['Content-Type'] ??= 'application/json';
  return JSON.stringify(value ?? null);
}

export const json_out = new Tool('before_handler', (_, { request, response }) => {
  const inner = request.handler;
  if (inner === null) return;
  request.handler = () => {
    const value = inner();
    return isThenable(value)
      ? Promise.resolve(value).then((resolved) => encodeJson(response, resolved)) : encodeJson(response, value);
  };
}, { priority: 30, context: false });
