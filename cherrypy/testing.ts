/**
 * Test helper: the real server, in-process, on 127.0.0.1 and a free port.
 *
 *   const site = await cherrypy.testing.serve(new Landing(), '/', 'prod.conf');
 *   const res = await site.get('/healthcheck');
 *   expect(res.status).to.equal(200);
 *   await site.close();
 *
 * `serve` takes the same arguments as quickstart and builds the same server
 * (config, tools, limits), but leaves the global config and the signals alone
 * and keeps the logs in memory (`site.logs.access`, `site.logs.errors`).
 *
 * Requests go out through `http.request` with the path exactly as written, or
 * as raw bytes over a socket (`site.raw`): `fetch` rewrites `/../` and `%2e%2e`
 * before sending, which would make a traversal test test nothing. Every
 * request uses its own connection, so nothing leaks from one test to the next.
 *
 * A failed assertion skips the rest of a test, `site.close()` included, and an
 * open server keeps mocha from exiting. So every server is also closed for the
 * test: `mochaHooks` (.mocharc.json loads this file as a root hook plugin) closes the servers a test
 * started (in it or in its beforeEach) after that test, and those a suite
 * started in `before` at the end of the run. Closing twice is harmless.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { Application, Tree } from './app.ts';
import { checkSettings, config, defaultSettings, readConfig, type AppConfig, type SettingsUpdate } from './config.ts';
import { Log, memorySink } from './log.ts';
import { Server } from './server.ts';

export interface TestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as UTF-8 text. */
  body: string;
  /** The body as bytes. */
  bytes: Buffer;
}

export interface RequestOptions {
  headers?: Record<string, string | number>;
  body?: string | Buffer;
}

export interface ServeOptions {
  /** Start from the built-in defaults instead of the current global config (the app's run.ts settings). */
  defaults?: boolean;
  /** Global settings for this server only, on top of the rest. */
  global?: SettingsUpdate;
}

export class TestServer {
  constructor(
    readonly server: Server,
    readonly port: number,
    /** Access and error log lines written so far. */
    readonly logs: { access: string[]; errors: string[] },
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  request(method: string, path: string, options: RequestOptions = {}): Promise<TestResponse> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: this.port, method, path, headers: options.headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          this.server.log.flush();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes });
        });
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  get(path: string, headers?: Record<string, string>): Promise<TestResponse> {
    return this.request('GET', path, { headers });
  }

  /**
   * Sends raw bytes and returns everything the server wrote back until it
   * closed the connection or `timeoutMs` passed.
   */
  raw(data: string | Buffer, timeoutMs = 2000): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        this.server.log.flush();
        resolve(Buffer.concat(chunks).toString('latin1'));
      };
      const timer = setTimeout(done, timeoutMs);
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', done);
      socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? done() : reject(err)));
      socket.write(data);
    });
  }

  /** Stops the server and cuts any connection still open; later calls wait for the first. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      openServers.delete(this);
      this.server.http.close(() => {
        this.server.log.flush();
        resolve();
      });
      this.server.http.closeAllConnections();
    });
    return this.closing;
  }

  private closing: Promise<void> | undefined;
}

/**
 * Waits until `check` holds (a log line written, a counter reached), polling
 * every 10 ms; throws after `ms`. For what happens after a response is sent.
 */
export async function until(check: () => boolean, ms = 3000): Promise<void> {
  for (const start = Date.now(); !check(); await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`);
  }
}

/** Folders made by tempDir(), removed when the run ends. */
const tempDirs: string[] = [];

/** A new empty folder under the system's temporary folder, removed (with what is in it) when the test run ends. */
export function tempDir(prefix = 'cherrypy-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Servers not closed yet: those started inside a test, and those started outside one (a suite's `before`). */
const openServers = new Map<TestServer, 'test' | 'suite'>();
let insideTest = false;

async function closeOpen(scope: 'test' | 'suite'): Promise<void> {
  const closing: Promise<void>[] = [];
  for (const [server, startedIn] of openServers) if (scope === 'suite' || startedIn === 'test') closing.push(server.close());
  await Promise.all(closing);
}

/** Mocha root hooks (.mocharc.json `require`s this file): no test leaves a server open, pass or fail. */
export const mochaHooks = {
  beforeEach(): void {
    insideTest = true;
  },
  async afterEach(): Promise<void> {
    insideTest = false;
    await closeOpen('test');
  },
  async afterAll(): Promise<void> {
    await closeOpen('suite');
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
};

/** Serves `root` like quickstart(root, scriptName, config), on 127.0.0.1 and a free port. */
export async function serve(root: object, scriptName = '/', source?: string | AppConfig, options: ServeOptions = {}): Promise<TestServer> {
  const parsed = readConfig(source, 'serve config');
  const base = options.defaults ? defaultSettings() : config.snapshot();
  const settings = Object.freeze({ ...base, ...parsed.global, ...checkSettings(options.global ?? {}, 'serve() options') });
  const tree = new Tree();
  tree.mount(new Application(root, scriptName, parsed.paths, settings));
  const logs = { access: [] as string[], errors: [] as string[] };
  const server = new Server(tree, settings, new Log({ access: [memorySink(logs.access)], errors: [memorySink(logs.errors)] }));
  const address = await server.listen('127.0.0.1', 0, settings['server.socket_queue_size']);
  const site = new TestServer(server, address.port, logs);
  openServers.set(site, insideTest ? 'test' : 'suite');
  return site;
}
