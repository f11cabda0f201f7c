import * as cherrypy from './cherrypy/index.ts';
class R { @cherrypy.expose index() { return 'x'; } }
cherrypy.config.update({ 'server.socket_port': 8096, 'log.screen': false, 'server.socket_timeout': 30 });
cherrypy.quickstart(new R(), '/', { '/static': { 'tools.staticdir.on': true, 'tools.staticdir.dir': '/tmp/s12/big/public' } });
