/**
 * The built-in tools, registered in `cherrypy.tools` under CherryPy's names,
 * each at CherryPy's hook point and priority (see each file). They use the
 * same mechanism as the app's own tools (hooks.ts): nothing about them is
 * special-cased in the pipeline.
 */
import { tools, type Tool } from '../hooks.ts';
import { proxy } from './proxy.ts';
import { allow, expires, response_headers } from './headers.ts';
import { trailing_slash } from './slash.ts';
import { staticdir, staticfile } from './static.ts';
import { json_in, json_out } from './json.ts';
import { gzip } from './gzip.ts';
import { auth_basic, type CheckPassword } from './auth_basic.ts';
import { sessions, type SessionArgs } from './sessions.ts';

// Written out rather than `typeof sessions`: the tools read request.config, whose type comes from
// this list, so `typeof` would make the types circular.
declare module '../hooks.ts' {
  interface Tools {
    proxy: Tool;
    allow: Tool;
    response_headers: Tool;
    expires: Tool<{ secs: number; force: boolean }>;
    trailing_slash: Tool;
    staticfile: Tool;
    staticdir: Tool;
    json_in: Tool;
    json_out: Tool;
    gzip: Tool;
    auth_basic: Tool<{ realm: string; checkpassword: CheckPassword }>;
    sessions: Tool<SessionArgs>;
  }
}

Object.assign(tools, { proxy, allow, response_headers, expires, trailing_slash, staticfile, staticdir, json_in, json_out, gzip, auth_basic, sessions });

export { checkpasswordDict } from './auth_basic.ts';
