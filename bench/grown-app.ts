// What a grown app serves, for `npm run bench`: the template with the tools a
// real app turns on. Each handler has a twin in baseline-grown.ts that does
// the same work on bare node:http in the least code.
import * as cherrypy from '../cherrypy/index.ts';

const page = '<html><body>' + '<p>A paragraph of a page that is worth compressing. </p>'.repeat(40) + '</body></html>';

class Items {
  GET(id: string) { return { id, name: `item ${id}` }; }
}

class Grown {
  items = new Items();

  @cherrypy.expose
  echo() { return { got: cherrypy.request.json }; }

  @cherrypy.expose
  json() { return { hello: 'world', items: [1, 2, 3] }; }

  @cherrypy.expose
  page() { return page; }

  @cherrypy.expose
  hello(name: string) { return `Hello ${name}`; }

  @cherrypy.expose
  count() {
    const n = Number(cherrypy.session.get('n') ?? 0) + 1;
    cherrypy.session.set('n', n);
    return String(n);
  }

  @cherrypy.expose
  upload() {
    const file = cherrypy.request.files.file;
    return `${cherrypy.request.params.title} ${Array.isArray(file) ? file.length : file?.size}`;
  }
}

cherrypy.config.update({
  'server.socket_port': Number(process.env.PORT ?? 8080),
  'server.thread_pool': 100,
  'tools.trailing_slash.on': false,
});
cherrypy.quickstart(new Grown(), '/', {
  '/echo': { 'tools.json_in.on': true, 'tools.json_out.on': true },
  '/page': { 'tools.gzip.on': true },
  '/count': { 'tools.sessions.on': true },
  '/items': { 'request.dispatch': new cherrypy.dispatch.MethodDispatcher(), 'tools.json_out.on': true },
});
