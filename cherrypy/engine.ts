/**
 * The engine: start, stop, signals, and `quickstart`.
 *
 * `quickstart(root, '/', 'prod.conf')` does what CherryPy's does: apply the
 * file's [global] section to the global config, mount the app with its [/path]
 * sections, start the server and serve until a signal. All configuration is
 * validated before the port is bound; a bad key stops the start with one line
 * naming it (exit code 78, EX_CONFIG).
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
 *   port in use      one line on stderr, exit 70, as CherryPy
 *   a promise a handler never awaited rejects: logged, and the server keeps serving
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Application, Tree } from './app.ts';
import { listRoutes } from './dispatch.ts';
import { config, readConfig, type AppConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { log } from './log.ts';
import { Server } from './server.ts';

export type EngineState = 'STOPPED' | 'STARTING' | 'STARTED' | 'STOPPING' | 'EXITING';

export const tree = new Tree();


class Engine {
  state: EngineState = 'STOPPED';
  server: Server | undefined;
  private signalsHandled = false;

  /** Binds the port and serves the mounted tree; rejects (without exiting) on failure. */
  async start(): Promise<Server> {
    this.state = 'STARTING';
    const settings = config.snapshot();
    log.configure({ screen: settings['log.screen'], accessFile: settings['log.access_file'], errorFile: settings['log.error_file'] });
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
      for (const route of listRoutes(app.root)) log.error(`Route ${app.scriptName}${route}`, 'ENGINE');
      for (const route of app.staticRoutes) log.error(`Static ${route}`, 'ENGINE');
    }
    this.server = server;
    this.state = 'STARTED';
    log.error('Bus STARTED', 'ENGINE');
    return server;
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
    const clean = await this.server.shutdown();
    this.server = undefined;
    this.state = 'STOPPED';
    log.error(clean ? 'Bus STOPPED' : 'Bus STOPPED: requests were cut at server.shutdown_timeout', 'ENGINE');
    return clean;
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
      this.stop().then((clean) => {
        this.state = 'EXITING';
        exit(clean ? 0 : 1);
      }, () => exit(1));
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    // A promise a handler started and never awaited would otherwise end the process when it rejects.
    process.on('unhandledRejection', (reason) => {
      log.error(`Unhandled promise rejection (the server keeps serving): ${reason instanceof Error ? reason.stack : String(reason)}`, 'ENGINE');
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
 * an object of sections) and serve until SIGTERM/SIGINT. Exits on failure:
 * 78 for configuration errors, 70 when the port cannot be bound.
 */
export async function quickstart(root: object, scriptName = '', configFile?: string | AppConfig): Promise<void> {
  try {
    const parsed = readConfig(configFile, 'quickstart config');
    config.update(parsed.global);
    tree.mount(new Application(root, scriptName, parsed.paths, config.snapshot()));
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
    const e = err as NodeJS.ErrnoException;
    const where = `${config.get('server.socket_host')}:${config.get('server.socket_port')}`;
    const why = e.code === 'EADDRINUSE' ? `port ${where} is already in use`
      : e.code === 'EACCES' ? `no permission to bind ${where} (ports below 1024 need root or CAP_NET_BIND_SERVICE; set PORT)`
      : `cannot listen on ${where}: ${e.message}`;
    log.error(`Error: ${why}. Exiting.`, 'ENGINE');
    return exit(70);
  }
}

/** True when `moduleUrl` (pass `import.meta.url`) is the program being run, not a module imported by tests. */
export function isMainModule(moduleUrl: string): boolean {
  const main = process.argv[1];
  if (!main) return false;
  const mainUrl = pathToFileURL(main).href;
  return moduleUrl === mainUrl || moduleUrl === mainUrl + '.ts' || moduleUrl.replace(/\.ts$/, '') === mainUrl;
}
