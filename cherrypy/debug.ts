/**
 * A trace of the decisions the server makes silently (a static file not
 * served, a path without a handler), as CherryPy's `debug=True` and send's
 * `debug()` give them: `NODE_DEBUG=cherrypy npm start`. Node's debuglog costs
 * nothing when NODE_DEBUG does not name it.
 */
import { debuglog } from 'node:util';

export const debug = debuglog('cherrypy');
