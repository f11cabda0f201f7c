/**
 * Request bodies: read before the handler runs, for POST, PUT and PATCH only
 * (CherryPy's `methods_with_bodies`), within `server.max_request_body_size`.
 *
 *  - no Content-Length and no Transfer-Encoding -> 411 (as CherryPy);
 *  - a Content-Length over the limit -> 413 before a byte is read; a chunked
 *    body that grows over it -> 413 as soon as it does;
 *  - no bytes for `server.socket_timeout` seconds -> 408;
 *  - `application/x-www-form-urlencoded` fills `request.params`;
 *  - with `tools.json_in.on`, a JSON body fills `request.json` (bad JSON -> 400,
 *    another content type -> 415).
 * The raw bytes stay in `request.body`. Multipart is not parsed.
 */
import { HTTPError } from './errors.ts';
import { addAll, type Request } from './request.ts';

/** POST, PUT and PATCH: the methods whose body is read before the handler runs. */
export function takesBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

export function readBody(request: Request): Promise<void> {
  const raw = request.raw;
  const settings = request.config;
  const limit = settings['server.max_request_body_size'];
  const length = raw.headers['content-length'];
  if (length === undefined && raw.headers['transfer-encoding'] === undefined) {
    return Promise.reject(new HTTPError(411, 'A request body needs a Content-Length or Transfer-Encoding header'));
  }
  if (length !== undefined && Number(length) > limit) return Promise.reject(tooLarge(limit));

  return new Promise<void>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const idleMs = settings['server.socket_timeout'] * 1000;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new HTTPError(408, `No request body data for ${settings['server.socket_timeout']} s`)), idleMs);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish(tooLarge(limit));
      chunks.push(chunk);
      arm();
    };
    const onEnd = () => finish();
    const onAborted = () => finish(new HTTPError(400, 'The client closed the connection while sending the body'));
    function finish(err?: Error) {
      clearTimeout(timer);
      raw.off('data', onData).off('end', onEnd).off('error', onAborted).off('aborted', onAborted);
      if (err) {
        raw.pause();
        return reject(err);
      }
      request.body = Buffer.concat(chunks, size);
      try {
        parseBody(request);
        resolve();
      } catch (e) {
        reject(e);
      }
    }
    raw.on('data', onData).on('end', onEnd).on('error', onAborted).on('aborted', onAborted);
    arm();
  });
}

function tooLarge(limit: number): HTTPError {
  return new HTTPError(413, `The request body exceeds the maximum allowed size (${limit} bytes)`);
}

function parseBody(request: Request): void {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = request.body!;
  if (type === 'application/x-www-form-urlencoded') {
    request.bodyParams = addAll(Object.create(null), new URLSearchParams(body.toString('utf8')));
  }
  if (!request.config['tools.json_in.on'] || body.length === 0) return;
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new HTTPError(415, 'Expected a JSON body (Content-Type: application/json)');
  }
  try {
    request.json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HTTPError(400, `Invalid JSON document: ${(err as Error).message}`);
  }
}
