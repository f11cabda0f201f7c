// The app: run.py from the article, in TypeScript. `npm start` serves it;
// `npm test` imports it (importing does not start a server).
import * as cherrypy from './cherrypy/index.ts';

class HealthCheck {
  // The article's `index.exposed = True` style: expose() wraps the function.
  // 503 once shutdown began, so a load balancer stops sending traffic here first.
  index = cherrypy.expose(() => {
    if (cherrypy.engine.state === 'STOPPING') throw new cherrypy.HTTPError(503, 'Shutting down');
    return 'Yay<br />\n';
  });
}

export class Landing {
  healthcheck = new HealthCheck(); // nested objects need no exposing: /healthcheck

  @cherrypy.expose
  index() {
    return '<html><body>scripted landing</body></html>';
  }
}

// The config.update is optional, but it prevents the scaling issues the article describes.
cherrypy.config.update({
  'server.socket_host': '0.0.0.0', // 127.0.0.1 is default
  'server.socket_port': Number(process.env.PORT ?? 80), // 8080 is default; PORT overrides (npm start sets 8080)
  'server.thread_pool': 100, // 10 is default
  'tools.trailing_slash.on': false, // true is default
  'server.lame_duck': Number(process.env.LAME_DUCK ?? 0), // 0 is default; seconds to keep serving after SIGTERM (deploy/ sets it)
});

if (cherrypy.isMainModule(import.meta.url)) {
  cherrypy.quickstart(new Landing(), '/', 'prod.conf');
}
