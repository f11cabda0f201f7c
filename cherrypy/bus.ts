/**
 * The engine's bus, as CherryPy's `cherrypy.engine`: channels that parts of the
 * process subscribe to, and plugins built on them.
 *
 *   start     before the server listens: open what requests need (a pool)
 *   main      every second while started: periodic checks
 *   graceful  on SIGHUP: reload what can be reloaded
 *   stop      after the drain (no request in flight any more): close the pool
 *   exit      last, before the process exits
 *
 * Listeners run in order of priority (lower first, 50 by default) and may be
 * async: each is awaited before the next. A `start` listener that fails stops
 * the start. At `stop` and `exit`, each listener gets a deadline; one that
 * fails or outlasts it is logged, the others still run, and the process's
 * exit code says so (engine.ts).
 *
 *   cherrypy.engine.subscribe('start', () => pool.open());
 *   cherrypy.engine.subscribe('stop', () => pool.close());
 *
 * `SimplePlugin`: a class whose start/stop/graceful/exit/main methods are
 * subscribed by `subscribe()`. `Monitor` runs a callback every `frequency`
 * seconds between start and stop (a `BackgroundTask` does the timing).
 */
import { log } from './log.ts';
import { describeError } from './errors.ts';

export type Channel = 'start' | 'stop' | 'graceful' | 'exit' | 'main';
export type Listener = () => unknown;

interface Subscription { listener: Listener; priority: number }

/** What publishing to a channel came to: the listeners that failed or timed out. */
export interface Outcome { failed: number }

export class Bus {
  private readonly channels = new Map<Channel, Subscription[]>();

  subscribe(channel: Channel, listener: Listener, priority = 50): void {
    const list = this.channels.get(channel) ?? [];
    list.push({ listener, priority });
    // Stable: equal priorities keep the order of subscription.
    list.sort((a, b) => a.priority - b.priority);
    this.channels.set(channel, list);
  }

  unsubscribe(channel: Channel, listener: Listener): void {
    const list = this.channels.get(channel);
    if (list) this.channels.set(channel, list.filter((s) => s.listener !== listener));
  }

  /**
   * Runs the channel's listeners in order. With `deadlineMs`, a listener that
   * throws or takes longer is logged and the next one runs; without, the
   * first failure rejects (for `start`).
   */
  async publish(channel: Channel, deadlineMs?: number): Promise<Outcome> {
    let failed = 0;
    for (const { listener } of [...(this.channels.get(channel) ?? [])]) {
      if (deadlineMs === undefined) {
        await listener();
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), deadlineMs); });
      try {
        const result = await Promise.race([Promise.resolve().then(listener), late]);
        if (result === 'late') {
          failed++;
          log.error(`Bus: a '${channel}' listener (${listener.name || 'anonymous'}) did not finish within ${deadlineMs / 1000} s`, 'ENGINE');
        }
      } catch (err) {
        failed++;
        log.error(`Bus: a '${channel}' listener (${listener.name || 'anonymous'}) failed: ${describeError(err)}`, 'ENGINE');
      } finally {
        clearTimeout(timer);
      }
    }
    return { failed };
  }
}

const CHANNELS: Channel[] = ['start', 'stop', 'graceful', 'exit', 'main'];

/**
 * A plugin: define any of start(), stop(), graceful(), exit(), main(), then
 * `new MyPlugin(cherrypy.engine).subscribe()`.
 */
export class SimplePlugin {
  private readonly subscribed: [Channel, Listener][] = [];

  constructor(readonly bus: Bus) {}

  subscribe(): void {
    for (const channel of CHANNELS) {
      const method = (this as unknown as Record<string, unknown>)[channel];
      if (typeof method !== 'function') continue;
      const listener = method.bind(this) as Listener;
      Object.defineProperty(listener, 'name', { value: `${this.constructor.name}.${channel}` });
      const priority = (method as { priority?: number }).priority ?? 50;
      this.bus.subscribe(channel, listener, priority);
      this.subscribed.push([channel, listener]);
    }
  }

  unsubscribe(): void {
    for (const [channel, listener] of this.subscribed.splice(0)) this.bus.unsubscribe(channel, listener);
  }
}

/**
 * Calls `fn` every `interval` seconds until cancelled; a call still running
 * when the next is due is not overlapped, and a failure is logged, not fatal.
 * The timer does not keep the process alive.
 */
export class BackgroundTask {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(readonly interval: number, readonly fn: () => unknown, readonly name = fn.name || 'task') {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.interval * 1000);
    this.timer.unref();
  }

  cancel(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.fn();
    } catch (err) {
      log.error(`BackgroundTask ${this.name} failed: ${describeError(err)}`, 'ENGINE');
    } finally {
      this.running = false;
    }
  }
}

/** Runs `callback` every `frequency` seconds while the engine is started (CherryPy's Monitor). */
export class Monitor extends SimplePlugin {
  private readonly task: BackgroundTask;

  constructor(bus: Bus, callback: () => unknown, frequency = 60, name = callback.name || 'Monitor') {
    super(bus);
    this.task = new BackgroundTask(frequency, callback, name);
  }

  start(): void {
    this.task.start();
  }

  stop(): void {
    this.task.cancel();
  }
}
