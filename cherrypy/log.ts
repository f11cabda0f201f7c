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
 * Access lines are collected and written every 50 ms (or at 64 KiB): under
 * load that is one write for hundreds of requests instead of one each, as
 * nginx's buffered access log does. Error lines go out on the next turn of the
 * event loop. `flush()` writes what is pending at once; it also runs when the
 * process exits.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? '0' + n : String(n));

let stampText = '';
/** ` - - [time] "`: what stands between the address and the request line, made with the time. */
let accessStamp = '';
let stampTimer: NodeJS.Timeout | undefined;

/**
 * `[25/Nov/2026:18:40:51]` in local time, as CherryPy writes it. Made once a
 * second by a timer rather than for every line.
 */
export function timestamp(): string {
  if (stampTimer === undefined) refreshTimestamp();
  return stampText;
}

function refreshTimestamp(): void {
  const now = Date.now();
  const d = new Date(now);
  stampText = `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}]`;
  accessStamp = ` - - ${stampText} "`;
  stampTimer = setTimeout(refreshTimestamp, 1000 - (now % 1000)).unref();
}

// Quotes, backslashes, control characters, and anything not ASCII (node hands
// over a request's bytes as latin1 characters: they are logged as \xHH).
const UNSAFE = /[^\x20-\x21\x23-\x5b\x5d-\x7e]/;

/** Does a value a client sent need escaping before it goes into a log line? */
function needsEscape(value: string): boolean {
  return value !== '' && UNSAFE.test(value);
}

/** Escapes what a client sent so one request is always one log line. */
function escapeLogValue(value: string): string {
  return value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, (c) => (c === '"' ? '\\"' : c === '\\' ? '\\\\' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')));
}

/** Where log text goes: the screen, a file, or memory (the test helper's). */
interface Sink {
  write(text: string, encoding: BufferEncoding): void;
  reopen?(): void;
  close?(): void;
}

const screen = (stream: NodeJS.WriteStream): Sink => ({
  write(text, encoding) {
    // Writes to pipes and files are synchronous on Linux; a closed pipe (EPIPE)
    // is reported on the stream's error event, which must not crash the server.
    if (stream.listenerCount('error') === 0) stream.on('error', () => {});
    stream.write(text, encoding);
  },
});

function fileSink(file: string): Sink {
  const open = () => {
    mkdirSync(dirname(file), { recursive: true });
    return openSync(file, 'a');
  };
  let fd = open();
  return {
    write(text, encoding) {
      try {
        writeSync(fd, text, null, encoding);
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
  return { write(text) { lines.push(...text.slice(0, -1).split('\n')); } };
}

/**
 * Lines waiting for their sinks, joined once per write into one flat string
 * (appending each to a string would build a rope to flatten later).
 */
class Batch {
  private lines: string[] = [];
  size = 0;
  constructor(public sinks: Sink[], private readonly encoding: BufferEncoding) {}

  add(line: string): void {
    if (this.sinks.length === 0) return;
    this.lines.push(line);
    this.size += line.length + 1;
  }

  write(): void {
    if (this.lines.length === 0) return;
    this.lines.push('');
    const text = this.lines.join('\n');
    this.lines = [];
    this.size = 0;
    for (const sink of this.sinks) sink.write(text, this.encoding);
  }
}

export interface LogOptions { screen: boolean; accessFile: string; errorFile: string }

export class Log {
  // Access lines are plain ASCII (escapeLogValue sees to it), so latin1 encodes them fastest.
  private readonly access = new Batch([], 'latin1');
  private readonly errors = new Batch([], 'utf8');
  private flushTimer: NodeJS.Timeout | undefined;
  private flushSoon = false;

  constructor(opts: LogOptions | { access: Sink[]; errors: Sink[] } = { screen: true, accessFile: '', errorFile: '' }) {
    if ('access' in opts) {
      this.access.sinks = opts.access;
      this.errors.sinks = opts.errors;
    } else this.configure(opts);
  }

  /** (Re)opens the destinations; throws if a log file cannot be opened. */
  configure(opts: LogOptions): void {
    this.flush();
    for (const sink of this.sinks()) sink.close?.();
    this.access.sinks = opts.screen ? [screen(process.stdout)] : [];
    this.errors.sinks = opts.screen ? [screen(process.stderr)] : [];
    if (opts.accessFile) this.access.sinks.push(fileSink(opts.accessFile));
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
   * What the client sent is escaped where needed, so a request is always one
   * parseable line.
   */
  request(ip: string, method: string, target: string, version: string, status: number | string, length: number | string, referer: string, agent: string): void {
    if (needsEscape(target) || needsEscape(referer) || needsEscape(agent) || needsEscape(ip)) {
      [ip, target, referer, agent] = [ip, target, referer, agent].map(escapeLogValue) as [string, string, string, string];
    }
    if (stampTimer === undefined) refreshTimestamp();
    // One join makes the line flat at once (a + chain leaves a rope to flatten later);
    // the usual constant parts come pre-joined.
    this.accessLine([ip, accessStamp, method, ' ', target, version === '1.1' ? ' HTTP/1.1" ' : ` HTTP/${version}" `,
      String(status), ' ', String(length), referer === '' && agent === '' ? ' "" ""' : ` "${referer}" "${agent}"`].join(''));
  }

  private accessLine(line: string): void {
    this.access.add(line);
    if (this.access.size > 65536) this.flush();
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
    this.access.write();
    this.errors.write();
  }

  private sinks(): Sink[] {
    return [...this.access.sinks, ...this.errors.sinks];
  }
}

/** The process's log, used by the engine and every server it runs. */
export const log = new Log();
process.on('exit', () => log.flush());
