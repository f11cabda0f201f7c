/**
 * tools.trailing_slash (before_handler, 60; on by default): an index handler
 * is reached at `/dir/`, so `/dir` gets a 301 to it (`missing`); with `extra`,
 * a handler that is not an index gets a 301 from `/page/` to `/page`. The
 * query string is kept; `status` sets the code.
 */
import { HTTPRedirect } from '../errors.ts';
import { Tool } from '../hooks.ts';

export const trailing_slash = new Tool('before_handler', (_, { request }) => {
  if (request.handler === null) return; // a tool answered already
  const s = request.config;
  const path = request.path;
  const query = request.query_string ? '?' + request.query_string : '';
  if (request.is_index) {
    if (s['tools.trailing_slash.missing'] && !path.endsWith('/')) {
      throw new HTTPRedirect(path + '/' + query, s['tools.trailing_slash.status']);
    }
  } else if (s['tools.trailing_slash.extra'] && path.endsWith('/') && path !== '/') {
    throw new HTTPRedirect(path.replace(/\/+$/, '') + query, s['tools.trailing_slash.status']);
  }
}, { priority: 60, context: false });
