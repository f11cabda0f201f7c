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
 * Lines are collected and written once per turn of the event loop: under load
 * that is one write for many requests instead of one each. `flush()` writes
 * what is pending at once (on exit).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? '0' + n : String(n));

let stampSecond = -1;
let stampText = '';
/** `[25/Nov/2026:18:40:51]` in local time, as CherryPy writes it; made once per second. */
export function timestamp(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== stampSecond) {
    const d = new Date(now);
    stampSecond = second;
    stampText = `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}]`;
  }
  return stampText;
}

/** Escapes what a client sent so one request is always one log line. */
export function escapeLogValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  return /["\\\x00-\x1f\x7f]/.test(value)
    ? value.replace(/["\\\x00-\x1f\x7f]/g, (c) => (c === '"' ? '\\"' : c === '\\' ? '\\\\' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')))
    : value;
}

/** Where log text goes: the screen, a file, or memory (the test helper's). */
interface Sink {
  pending: string;
  write(text: string): void;
  reopen?(): void;
  close?(): void;
}

const screen = (stream: NodeJS.WriteStream): Sink => ({
  pending: '',
  write(text) {
    // Writes to pipes and files are synchronous on Linux; a closed pipe (EPIPE)
    // is reported on the stream's error event, which must not crash the server.
    if (stream.listenerCount('error') === 0) stream.on('error', () => {});
    stream.write(text);
  },
});

function fileSink(file: string): Sink {
  const open = () => {
    mkdirSync(dirname(file), { recursive: true });
    return openSync(file, 'a');
  };
  let fd = open();
  return {
    pending: '',
    write(text) {
      try {
        writeSync(fd, text);
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
  return { pending: '', write(text) { lines.push(...text.slice(0, -1).split('\n')); } };
}

export interface LogOptions { screen: boolean; accessFile: string; errorFile: string }

export class Log {
  private access: Sink[] = [];
  private errors: Sink[] = [];
  private scheduled = false;

  constructor(opts: LogOptions | { access: Sink[]; errors: Sink[] } = { screen: true, accessFile: '', errorFile: '' }) {
    if ('access' in opts) {
      this.access = opts.access;
      this.errors = opts.errors;
    } else this.configure(opts);
  }

  /** (Re)opens the destinations; throws if a log file cannot be opened. */
  configure(opts: LogOptions): void {
    this.flush();
    for (const sink of this.sinks()) sink.close?.();
    this.access = opts.screen ? [screen(process.stdout)] : [];
    this.errors = opts.screen ? [screen(process.stderr)] : [];
    if (opts.accessFile) this.access.push(fileSink(opts.accessFile));
    if (opts.errorFile) this.errors.push(fileSink(opts.errorFile));
  }

  /** Reopens log files at the same paths (after logrotate moved them). */
  reopen(): void {
    this.flush();
    for (const sink of this.sinks()) sink.reopen?.();
  }

  accessLine(line: string): void {
    for (const sink of this.access) sink.pending += line + '\n';
    this.schedule();
  }

  /** An error-log line: `[time] CONTEXT message` (CONTEXT is ENGINE or HTTP, as in CherryPy). */
  error(message: string, context = 'HTTP'): void {
    const line = `${timestamp()} ${context} ${message}\n`;
    for (const sink of this.errors) sink.pending += line;
    this.schedule();
  }

  flush(): void {
    this.scheduled = false;
    for (const sink of this.sinks()) {
      if (!sink.pending) continue;
      const text = sink.pending;
      sink.pending = '';
      sink.write(text);
    }
  }

  private sinks(): Sink[] {
    return [...this.access, ...this.errors];
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
}

/** The process's log, used by the engine and every server it runs. */
export const log = new Log();
