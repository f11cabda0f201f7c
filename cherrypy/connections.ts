/**
 * The open connections, and `server.max_connections`.
 *
 * Every open connection costs a file descriptor and some memory (~13 KB when
 * idle), whether it ever sends a request or not. Without a bound, a client
 * opening connections faster than `socket_timeout` closes them takes every
 * descriptor the process may open; from then on the kernel refuses each
 * accept and libuv closes the new connection unseen: every client, health
 * checks included, gets a reset, and the log says nothing.
 *
 * So the server keeps at most `max_connections` open. A connection past the
 * limit makes room the way nginx makes it: the idle connections (no request in
 * progress, nothing left to send) that went longest unused are closed, a
 * batch at a time; only if none is idle is the new connection closed instead.
 * "Unused" is counted in events, not time: each connection's `lastUsed` is the
 * server's count of connections opened and requests finished when it last did
 * either, so ordering costs a request one increment. The first closing is
 * logged at once, the rest in one line a second.
 *
 * Each connection may also be sending a file, so the limit is kept to half
 * the process's own open-file limit (less a margin for the logs and backends
 * the app opens), where the system tells it. The default fits that and the
 * process's memory (memory.ts) without a word; a configured limit over it is
 * lowered, and the log says so.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ConnectionFields } from './accesslog.ts';
import { Roster, type Placed } from './roster.ts';
import type { Log } from './log.ts';

/** What the server keeps for one open connection. */
export interface Connection<J extends Placed> {
  readonly socket: Socket;
  /** Its requests not yet finished, once the server tracks them (queued, or not done at once). */
  readonly jobs: Roster<J>;
  /** Its peer address, and what its access-log lines repeat, encoded once. */
  readonly fields: ConnectionFields;
  /** The server's count of events when it last opened or finished a request (see above). */
  lastUsed: number;
}

type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

/** Files the process keeps for itself beyond its connections and the files they send (logs, sessions, a database pool). */
const FILE_MARGIN = 256;
/** After a full look found no idle connection, new ones are refused without looking again for this long. */
const NO_IDLE_MS = 100;

/** The most files this process may open (node raises its soft limit to the hard one), or Infinity where /proc does not say. */
export function openFileLimit(): number {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    return match ? Number(match[1]) : Infinity;
  } catch {
    return Infinity;
  }
}

/** The most connections `files` open files leave room for (see above). */
export function connectionsAllowedBy(files: number): number {
  return Math.max(1, Math.floor((files - Math.min(FILE_MARGIN, Math.floor(files / 4))) / 2));
}

/** No request in progress on it, and nothing left to send: closing it loses nothing. */
export function isIdle(connection: Connection<Placed>): boolean {
  const socket = connection.socket as HttpSocket;
  return connection.jobs.size === 0 && !socket._httpMessage && socket.writableLength === 0;
}

export class Connections<J extends Placed> implements Iterable<Connection<J>> {
  /** The most connections kept open: `server.max_connections`, or less (see `openFileLimit`). */
  readonly limit: number;
  private readonly open = new Map<Socket, Connection<J>>();
  private events = 0;
  private noIdleUntil = 0;
  private closedIdle = 0;
  private refused = 0;
  private report: NodeJS.Timeout | undefined;

  constructor(configured: number, private readonly log: Log, files = openFileLimit()) {
    this.limit = Math.min(configured, connectionsAllowedBy(files));
    if (this.limit < configured) {
      log.error(`server.max_connections ${configured} lowered to ${this.limit}: this process may open only ${files} files`, 'ENGINE');
    }
  }

  [Symbol.iterator](): Iterator<Connection<J>> {
    return this.open.values();
  }

  /** Takes a new connection in, making room for it at the limit; undefined when it was refused (and closed). */
  add(socket: Socket): Connection<J> | undefined {
    if (this.open.size >= this.limit && !this.makeRoom()) {
      socket.destroy();
      this.refused++;
      this.tell();
      return undefined;
    }
    const connection: Connection<J> = {
      socket, jobs: new Roster<J>(), fields: new ConnectionFields(socket.remoteAddress ?? '-'), lastUsed: ++this.events,
    };
    this.open.set(socket, connection);
    return connection;
  }

  delete(socket: Socket): void {
    this.open.delete(socket);
  }

  /** A request on it finished: it moves to the back of the line for closing. */
  used(connection: Connection<J>): void {
    connection.lastUsed = ++this.events;
  }

  /**
   * Closes the idle connections unused longest: one in 64 of the limit at a
   * time (at least one), so that a stream of new connections does not look
   * through them all for each. False when none is idle.
   */
  private makeRoom(): boolean {
    const now = Date.now();
    if (now < this.noIdleUntil) return false;
    const idle: Connection<J>[] = [];
    for (const connection of this.open.values()) if (isIdle(connection)) idle.push(connection);
    if (idle.length === 0) {
      this.noIdleUntil = now + NO_IDLE_MS;
      return false;
    }
    idle.sort((a, b) => a.lastUsed - b.lastUsed);
    const count = Math.min(idle.length, Math.max(1, this.limit >> 6));
    for (let i = 0; i < count; i++) {
      const { socket } = idle[i]!;
      this.open.delete(socket);
      socket.destroy();
    }
    this.closedIdle += count;
    this.tell();
    return true;
  }

  /** The first closing at once, then what followed in one line a second, while it goes on. */
  private tell(): void {
    if (this.report) return;
    this.say();
    this.report = setTimeout(() => {
      this.report = undefined;
      if (this.closedIdle + this.refused > 0) this.tell();
    }, 1000).unref();
  }

  private say(): void {
    const parts: string[] = [];
    if (this.closedIdle) parts.push(`closed ${this.closedIdle} idle connection${this.closedIdle === 1 ? '' : 's'}`);
    if (this.refused) parts.push(`refused ${this.refused} new one${this.refused === 1 ? '' : 's'} (none was idle)`);
    this.log.error(`server.max_connections (${this.limit}) reached: ${parts.join(', ')}`);
    this.closedIdle = 0;
    this.refused = 0;
  }
}
