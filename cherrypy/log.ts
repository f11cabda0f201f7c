/**
 * The access log and the error log, in CherryPy's formats.
 *
 *   access: 127.0.0.1 - - [25/Nov/2026:18:40:51] "GET /logo.png HTTP/1.1" 200 179 "" "curl/7.88.1"
 *   error:  [25/Nov/2026:18:40:50] ENGINE Serving on http://127.0.0.1:8080
 *
 * With `log.screen` on (the default, also in production: containers log to
 * stdout), access lines go to stdout and errors to stderr; `log.access_file` and
 * `log.error_file` append to files as well. SIGUSR1 reopens the files (engine.ts),
 * so logrotate can move them away.
 *
 * Access lines are collected as bytes (accesslog.ts) and written every 50 ms
 * (or at 64 KiB): under load that is one write for hundreds of requests
 * instead of one each, as nginx's buffered access log does. Error lines go
 * out on the next turn of the event loop. `flush()` writes what is pending at
 * once; it also runs when the process exits.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { AccessBatch, type Field } from './accesslog.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? '0' + n : String(n));

let stampText = '';
/** ` - - [time] "` as bytes: what stands between the address and the request line, made with the time. */
let accessStamp: Uint8Array = Buffer.alloc(0);
let stampTimer: NodeJS.Timeout | undefined;

/**
 * `[25/Nov/2026:18:40:51]` in local time, as CherryPy writes it. Made once a
 * second by a timer rather than for every line.
 */
function timestamp(): string {
  if (stampTimer === undefined) refreshTimestamp();
  return stampText;
}

function refreshTimestamp(): void {
  const now = Date.now();
  const d = new Date(now);
  stampText = `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}]`;
  accessStamp = Buffer.from(` - - ${stampText} "`, 'latin1');
  stampTimer = setTimeout(refreshTimestamp, 1000 - (now % 1000)).unref();
}

/** Where log text goes: the screen, a file, or memory (the test helper's). */
interface Sink {
  /** Strings are UTF-8 text (the error log); bytes go out as they are (the access log). */
  write(data: string | Uint8Array): void;
  reopen?(): void;
  close?(): void;
}

const screen = (stream: NodeJS.WriteStream): Sink => ({
  write(data) {
    // Writes to pipes and files are synchronous on Linux; a closed pipe (EPIPE)
    // is reported on the stream's error event, which must not crash the server.
    if (stream.listenerCount('error') === 0) stream.on('error', () => {});
    stream.write(data);
  },
});

function fileSink(file: string): Sink {
  const open = () => {
    mkdirSync(dirname(file), { recursive: true });
    return openSync(file, 'a');
  };
  let fd = open();
  return {
    write(data) {
      try {
        if (typeof data === 'string') writeSync(fd, data);
        else writeSync(fd, data);
      } catch {
        // A full disk must not take the server down; the screen log still has it.
      }
    },
    reopen() { closeSync(fd); fd = open(); },
    close() { closeSync(fd); },
  };
}

/** Keeps lines in an array; the test helper reads them. */
export function memorySink(lines: string[]): Sink {
  return {
    write(data) {
      const text = typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
      lines.push(...text.slice(0, -1).split('\n'));
    },
  };
}

/**
 * Error lines waiting for their sinks, joined once per write into one flat
 * string (appending each to a string would build a rope to flatten later).
 */
class Batch {
  private lines: string[] = [];
  constructor(public sinks: Sink[]) {}

  add(line: string): void {
    if (this.sinks.length > 0) this.lines.push(line);
  }

  write(): void {
    if (this.lines.length === 0) return;
    this.lines.push('');
    const text = this.lines.join('\n');
    this.lines = [];
    for (const sink of this.sinks) sink.write(text);
  }
}

/** Statuses as text, made once each (a number turned into a string per request is a new string each time). */
const statusTexts: string[] = [];
/** A status or a length as text (most lengths already are). */
function asText(value: number | string): string {
  if (typeof value === 'string') return value;
  if (value >= 100 && value <= 599 && Number.isInteger(value)) return (statusTexts[value] ??= String(value));
  return String(value);
}

export interface LogOptions { screen: boolean; accessFile: string; errorFile: string }

export class Log {
  private readonly access = new AccessBatch();
  private accessSinks: Sink[] = [];
  private readonly errors = new Batch([]);
  private flushTimer: NodeJS.Timeout | undefined;
  private flushSoon = false;

  constructor(opts: LogOptions | { access: Sink[]; errors: Sink[] } = { screen: true, accessFile: '', errorFile: '' }) {
    if ('access' in opts) {
      this.accessSinks = opts.access;
      this.errors.sinks = opts.errors;
    } else this.configure(opts);
  }

  /** (Re)opens the destinations; throws if a log file cannot be opened. */
  configure(opts: LogOptions): void {
    this.flush();
    for (const sink of this.sinks()) sink.close?.();
    this.accessSinks = opts.screen ? [screen(process.stdout)] : [];
    this.errors.sinks = opts.screen ? [screen(process.stderr)] : [];
    if (opts.accessFile) this.accessSinks.push(fileSink(opts.accessFile));
    if (opts.errorFile) this.errors.sinks.push(fileSink(opts.errorFile));
  }

  /** Reopens log files at the same paths (after logrotate moved them). */
  reopen(): void {
    this.flush();
    for (const sink of this.sinks()) sink.reopen?.();
  }

  /**
   * One request in the access log, as CherryPy writes it:
   * `ip - - [time] "METHOD target HTTP/1.1" status length "referer" "user-agent"`.
   * What the client sent is escaped, so a request is always one parseable line;
   * `ip`, `referer` and `agent` may come escaped already (accesslog.ts Field).
   */
  request(ip: Field, method: string, target: string, version: string, status: number | string, length: number | string, referer: Field, agent: Field): void {
    if (this.accessSinks.length === 0) return;
    if (stampTimer === undefined) refreshTimestamp();
    if (this.access.add(ip, accessStamp, method, target, version, asText(status), asText(length), referer, agent)) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), 50).unref();
  }

  /** An error-log line: `[time] CONTEXT message` (CONTEXT is ENGINE or HTTP, as in CherryPy). */
  error(message: string, context = 'HTTP'): void {
    this.errors.add(`${timestamp()} ${context} ${message}`);
    if (this.flushSoon) return;
    this.flushSoon = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushSoon = false;
    for (const chunk of this.access.take()) for (const sink of this.accessSinks) sink.write(chunk);
    this.errors.write();
  }

  private sinks(): Sink[] {
    return [...this.accessSinks, ...this.errors.sinks];
  }
}

/** The process's log, used by the engine and every server it runs. */
export const log = new Log();
process.on('exit', () => log.flush());
