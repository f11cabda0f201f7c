/**
 * The engine: start, stop, signals, and `quickstart`.
 *
 * `quickstart(root, '/', 'prod.conf')` does what CherryPy's does: apply the
 * file's [global] section to the global config, mount the app with its [/path]
 * sections, start the server and serve until a signal. All configuration is
 * validated before the port is bound; a bad key stops the start with one line
 * naming it (exit code 78, EX_CONFIG). Several apps: mount each with
 * `cherrypy.tree.mount(root, '/api', config)`, then `quickstart()` with no
 * root, or `engine.signals.subscribe(); engine.start(); engine.block()`.
 *
 * The engine is a bus (bus.ts): `start` listeners run before the port is
 * bound, `stop` listeners after the drain, `exit` ones last; `main` every
 * second while started; `graceful` on SIGHUP.
 *
 * States, as CherryPy's bus: STOPPED -> STARTING -> STARTED -> STOPPING -> EXITING.
 * A readiness handler can answer 503 when `engine.state` is not STARTED.
 *
 *   SIGTERM, SIGINT  drain (server.ts) and exit 0; 1 if requests had to be cut
 *                    at shutdown_timeout; a second signal exits at once (130).
 *                    With `server.lame_duck` seconds, serve that long first
 *                    (state STOPPING, so health checks can say 503) before
 *                    the drain: a balancer stops routing here meanwhile.
 *   SIGUSR1          reopen the log files (for logrotate)
 *   SIGHUP           publish `graceful`
 *   port in use      one line on stderr, exit 70, as CherryPy
 *   a promise a handler never awaited rejects: logged, and the server keeps serving
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Application, Tree } from './app.ts';
import { config, readConfig, type AppConfig } from './config.ts';
import { ConfigError, describeError } from './errors.ts';
import { log } from './log.ts';
import { Server } from './server.ts';
import { Bus } from './bus.ts';
import { request } from './request.ts';

export type EngineState = 'STOPPED' | 'STARTING' | 'STARTED' | 'STOPPING' | 'EXITING';

export const tree = new Tree();

/** Thrown by engine.start() when a `start` listener failed (the port was never bound). */
class StartError extends Error {}

class Engine extends Bus {
  state: EngineState = 'STOPPED';
  server: Server | undefined;
  /** `engine.signals.subscribe()`: SIGTERM and SIGINT stop the engine and the process (quickstart does this). */
  readonly signals = { subscribe: () => this.subscribeSignals() };
  private signalsHandled = false;
  private mainTimer: NodeJS.Timeout | undefined;
  private stopped: Promise<boolean> | undefined;
  private onStopped: ((clean: boolean) => void) | undefined;

  /** Runs the `start` listeners, binds the port and serves the mounted tree; rejects (without exiting) on failure. */
  async start(): Promise<Server> {
    this.state = 'STARTING';
    const settings = config.snapshot();
    log.configure({ screen: settings['log.screen'], accessFile: settings['log.access_file'], errorFile: settings['log.error_file'] });
    // The apps were mounted with the global config of that moment; serve them with today's.
    for (const app of [...tree.apps]) tree.mount(new Application(app.root, app.scriptName, app.paths, settings));
    this.stopped = new Promise((resolve) => (this.onStopped = resolve));
    try {
      await this.publish('start');
    } catch (err) {
      this.state = 'STOPPED';
      throw new StartError(`a 'start' listener failed: ${describeError(err)}`);
    }
    const server = new Server(tree, settings, log);
    try {
      const address = await server.listen(settings['server.socket_host'], settings['server.socket_port'], settings['server.socket_queue_size']);
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      log.error(`Serving on http://${shown}:${address.port}`, 'ENGINE');
    } catch (err) {
      this.state = 'STOPPED';
      throw err;
    }
    for (const app of tree.apps) {
      for (const route of app.routes()) log.error(`Route ${route}`, 'ENGINE');
      for (const route of app.staticRoutes) log.error(`Static ${route}`, 'ENGINE');
    }
    this.server = server;
    this.state = 'STARTED';
    log.error('Bus STARTED', 'ENGINE');
    this.mainTimer = setInterval(() => void this.publish('main', 1000), 1000);
    this.mainTimer.unref();
    return server;
  }

  /** Resolves when the engine has stopped (with whether nothing had to be cut): CherryPy's engine.block(). */
  block(): Promise<boolean> {
    return this.stopped ?? Promise.resolve(true);
  }

  /** Drains and stops the server; resolves true when nothing had to be cut. */
  async stop(): Promise<boolean> {
    if (!this.server || this.state === 'STOPPING') return true;
    this.state = 'STOPPING';
    const lameDuck = this.server.settings['server.lame_duck'];
    if (lameDuck > 0) {
      // Still serving, but a readiness check that reads engine.state says 503: a balancer takes this replica out first.
      log.error(`Bus STOPPING: lame duck for ${lameDuck} s (still serving; connections close after each response), then draining`, 'ENGINE');
      this.server.lameDuck();
      await sleep(lameDuck * 1000);
    }
    log.error('Bus STOPPING: no new connections; finishing requests in flight', 'ENGINE');
    clearInterval(this.mainTimer);
    const drained = await this.server.shutdown();
    // Nothing is in flight any more: the place to close pools and files.
    const { failed } = await this.publish('stop', this.server.settings['server.shutdown_timeout'] * 1000);
    this.server = undefined;
    this.state = 'STOPPED';
    log.error(drained ? (failed ? `Bus STOPPED: ${failed} 'stop' listener(s) failed` : 'Bus STOPPED') : 'Bus STOPPED: requests were cut at server.shutdown_timeout', 'ENGINE');
    const clean = drained && failed === 0;
    this.onStopped?.(clean);
    return clean;
  }

  /** Stops (if started), runs the `exit` listeners and ends the process: 0 if all went well, 1 if not. */
  async exit(): Promise<never> {
    let clean = await this.stop();
    this.state = 'EXITING';
    const { failed } = await this.publish('exit', config.get('server.shutdown_timeout') * 1000);
    if (failed) clean = false;
    return exit(clean ? 0 : 1);
  }

  /** Installs the signal handlers that stop the process (quickstart calls this). */
  subscribeSignals(): void {
    if (this.signalsHandled) return;
    this.signalsHandled = true;
    const onStop = (signal: NodeJS.Signals) => {
      if (this.state === 'STOPPING' || this.state === 'EXITING') {
        log.error(`${signal} again: exiting now`, 'ENGINE');
        return exit(130);
      }
      log.error(`Caught ${signal}`, 'ENGINE');
      this.exit().catch(() => exit(1));
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', () => {
      log.error('SIGHUP: graceful', 'ENGINE');
      void this.publish('graceful', config.get('server.shutdown_timeout') * 1000);
    });
    // A promise a handler started and never awaited would otherwise end the process when it rejects.
    process.on('unhandledRejection', (reason) => {
      log.error(`Unhandled promise rejection (the server keeps serving): ${describeError(reason)}`, 'ENGINE');
    });
    process.on('SIGUSR1', () => {
      log.error('SIGUSR1: reopening log files', 'ENGINE');
      log.reopen();
    });
  }
}

function exit(code: number): never {
  log.flush();
  process.exit(code);
}

export const engine = new Engine();

/**
 * Mount `root` at `scriptName`, apply `configFile` (a path to an INI file, or
 * an object of sections) and serve until SIGTERM/SIGINT. Without a root, serve
 * what `cherrypy.tree.mount` mounted (the file's [global] section still
 * applies). Exits on failure: 78 for configuration errors, 70 when the port
 * cannot be bound or a `start` listener failed.
 */
export async function quickstart(root?: object, scriptName = '', configFile?: string | AppConfig): Promise<void> {
  try {
    const parsed = readConfig(configFile, 'quickstart config');
    config.update(parsed.global);
    if (root !== undefined) tree.mount(new Application(root, scriptName, parsed.paths, config.snapshot()));
    if (tree.apps.length === 0) throw new ConfigError('quickstart: nothing to serve (pass a root, or mount apps with cherrypy.tree.mount first)');
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(`Config error: ${err.message}`, 'ENGINE');
      return exit(78);
    }
    throw err;
  }
  engine.subscribeSignals();
  try {
    await engine.start();
  } catch (err) {
    if (err instanceof StartError) {
      log.error(`Error: ${err.message}. Exiting.`, 'ENGINE');
      return exit(70);
    }
    const e = err as NodeJS.ErrnoException;
    const where = `${config.get('server.socket_host')}:${config.get('server.socket_port')}`;
    const why = e.code === 'EADDRINUSE' ? `port ${where} is already in use`
      : e.code === 'EACCES' ? `no permission to bind ${where} (ports below 1024 need root or CAP_NET_BIND_SERVICE; set PORT)`
      : `cannot listen on ${where}: ${e.message}`;
    log.error(`Error: ${why}. Exiting.`, 'ENGINE');
    return exit(70);
  }
}

/**
 * An absolute URL for `path` in this app, as CherryPy's `cherrypy.url`: the
 * request's base (scheme and host, which tools.proxy corrects behind a
 * proxy), the app's mount point, then `path` (relative to the current path if
 * it does not start with '/'), and `qs`. Outside a request, the server's own
 * address is the base.
 */
export function url(path = '', qs = ''): string {
  let base: string, scriptName = '', current = '/';
  try {
    base = request.base;
    scriptName = request.script_name;
    current = request.path_info;
  } catch {
    base = `http://${config.get('server.socket_host')}:${config.get('server.socket_port')}`;
  }
  const absolute = path.startsWith('/') ? path : current.replace(/[^/]*$/, '') + path;
  return base + scriptName + absolute + (qs ? '?' + qs : '');
}

/** True when `moduleUrl` (pass `import.meta.url`) is the program being run, not a module imported by tests. */
export function isMainModule(moduleUrl: string): boolean {
  const main = process.argv[1];
  if (!main) return false;
  const mainUrl = pathToFileURL(main).href;
  return moduleUrl === mainUrl || moduleUrl === mainUrl + '.ts' || moduleUrl.replace(/\.ts$/, '') === mainUrl;
}
