/**
 * The HTTP server: node:http with CherryPy's settings, and no starvation.
 *
 * `server.thread_pool` is the most requests handled at once. A request takes a
 * slot when its headers have arrived and gives it back when its response is
 * finished (or its client went away); more requests wait in a FIFO queue of at
 * most `server.accepted_queue_size`, and past that get 503 with Retry-After.
 * Idle keep-alive connections and clients still sending headers hold no slot:
 * node:http parses headers without us, so the article's balancer starving the
 * pool with idle connections cannot happen here.
 *
 * A request with a body receives it (body.ts) before it asks for a slot, so a
 * slow upload holds none. A streamed response (a file, a generator, a
 * Readable) gives its slot back as soon as its headers are sent: a download or
 * a stream of events is paced by its client, not by handler time. A response
 * the client reads nothing of for `socket_timeout` (it stopped reading) is cut,
 * so its socket and buffers are freed too; a stream with nothing to send is not.
 *
 * Limits: `socket_timeout` is the idle keep-alive time and the time allowed
 * for the headers (408 past it); `request_timeout` bounds the whole request;
 * a path's `response.timeout` bounds the wait for its response to begin (503
 * past it, and the slot back: a handler stuck on a dead backend holds none);
 * `max_request_header_size` -> 431; `max_connections` bounds the connections
 * open at once (connections.ts); the body limits live in body.ts. Malformed
 * requests never reach the app: they get a 400 (431, 408, 505) and one line in
 * the error log, and the connection is closed the way nginx closes it (the
 * answer, a half-close, what the client still sends read and dropped for a
 * moment, then the close), so a client still sending sees the answer, not a
 * reset. HTTP/1.0 with Transfer-Encoding is answered and then closed (RFC 9112
 * §6.1: its framing cannot be trusted), and anything after it on that
 * connection is never handled; CONNECT gets 405.
 *
 * `shutdown()` drains: the listening socket closes at once, every response
 * from then on carries `Connection: close`, idle connections are closed at
 * once and again whenever a request finishes, streams of server-sent events
 * are closed (they never finish), in-flight requests complete.
 * What is still running at `shutdown_timeout` is cut and logged.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { endRequest, handleRequest, type Route } from './pipeline.ts';
import { fail } from './respond.ts';
import { HTTPError } from './errors.ts';
import type { Exchange, Host } from './exchange.ts';
import { announcesBody, bodyWelcome, endEmptyRequest, receiveBody, releaseBody, takesBody } from './body.ts';
import { isClosing, lingeringClose, markClosing } from './linger.ts';
import type { Log } from './log.ts';
import type { Tree } from './app.ts';
import type { Settings } from './config.ts';
import { isNamed, rawHeader } from './request.ts';
import type { Roster } from './roster.ts';
import { Connections, isIdle, type Connection } from './connections.ts';
import type { ConnectionFields } from './accesslog.ts';

/** The server's record of the connection (connections.ts), kept on its socket too: the access log needs it for every request. */
const CONNECTION = Symbol('connection');
type TrackedSocket = Socket & { [CONNECTION]?: Connection<Job>; _httpMessage?: ServerResponse | null };
/** A started request whose response did not end at once, kept on its response (see release). */
const JOB = Symbol('job');
type JobResponse = ServerResponse & { [JOB]?: Job };

const REJECT_BODY = 'Server busy: too many requests are waiting. Try again shortly.\n';
/** A complete plain-text response that closes its connection, for answers given before the app sees the request. */
function plainResponse(status: number, text: string, headers = ''): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain;charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\n${headers}Connection: close\r\n\r\n${text}`;
}

/** One request from arrival to the end of its response (or of its connection). */
interface Job {
  req: IncomingMessage;
  res: ServerResponse;
  /** The unfinished requests of this job's connection, once it is one of them (queued, or not done at once). */
  siblings: Roster<Job> | undefined;
  /** Its place among them (roster.ts). */
  place: number;
  exchange?: Exchange;
  started: boolean;
  /** Its slot was given back before the response ended (a file or a stream being sent). */
  released: boolean;
  done: boolean;
  /** It came with a body (body.ts receives it, and counts it until the request is over). */
  withBody: boolean;
  /** Runs out at the path's response.timeout, if the response has not begun by then. */
  deadline: NodeJS.Timeout | undefined;
}

export class Server implements Host {
  readonly http: HttpServer;
  draining = false;
  /** The listener is closed and idle connections are closed as they turn idle. */
  private shuttingDown = false;
  readonly routes = new Map<string, Route>();
  private active = 0;
  private readonly queue: Job[] = [];
  private queueHead = 0;
  private starting = false;
  /** Open connections and their requests not yet finished (started or queued); at most `max_connections`. */
  private readonly connections: Connections<Job>;
  private readonly poolSize: number;
  private readonly queueLimit: number;

  constructor(readonly tree: Tree, readonly settings: Settings, readonly log: Log) {
    this.poolSize = settings['server.thread_pool'];
    this.queueLimit = settings['server.accepted_queue_size'];
    this.connections = new Connections(settings['server.max_connections'], log);
    const socketMs = Math.round(settings['server.socket_timeout'] * 1000);
    const requestMs = Math.max(socketMs, Math.round(settings['server.request_timeout'] * 1000));
    this.http = createServer({
      maxHeaderSize: settings['server.max_request_header_size'],
      keepAliveTimeout: socketMs,
      headersTimeout: socketMs,
      requestTimeout: requestMs,
      // How often node checks the two timeouts above; its 30 s default would let
      // a slow-header client hold a socket three times longer than configured.
      connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.round(socketMs / 4))),
      // A request without a body comes with its stream already ended (24.12
      // and later; older versions ignore this, and endEmptyRequest does it):
      // `GET /` went 7-11% faster on Node 24 (bench/README.md).
      optimizeEmptyRequests: true,
    }, this.onRequest);
    this.http.on('connection', (socket: Socket) => {
      // Past max_connections, idle ones are closed to make room, or else this one (connections.ts).
      const connection = this.connections.add(socket);
      if (!connection) return;
      // The peer's address is read once, with the connection: a socket that closed early no longer knows it.
      (socket as TrackedSocket)[CONNECTION] = connection;
      // Pipelined responses still waiting their turn get no 'close' of their
      // own when the client goes away: finish them here, or their slots leak.
      socket.once('close', () => {
        this.connections.delete(socket);
        connection.jobs.forEachRemovable((job) => this.finish(job));
      });
    });
    // `Expect: 100-continue`: a client that waits before sending its body is told at once when
    // the body is refused (too large, or no room for it now), so it never sends it (as cheroot);
    // node would say 100 first.
    this.http.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      this.onRequest(req, res);
      if (bodyWelcome(req) && !res.headersSent) res.writeContinue();
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    // CONNECT asks for a tunnel, which this server does not make (without a listener node drops the socket unanswered).
    this.http.on('connect', (req: IncomingMessage, socket: Socket) => {
      this.log.error(`${socket.remoteAddress ?? '-'} 405: CONNECT ${String(req.url).slice(0, 100)} refused`);
      lingeringClose(socket, plainResponse(405, 'CONNECT is not supported here.\n', 'Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n'));
    });
  }

  listen(host: string, port: number, backlog: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen({ host, port, backlog }, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const job: Job = { req, res, siblings: undefined, place: -1, started: false, released: false, done: false, withBody: false, deadline: undefined };
    let withBody = false;
    if (!req.readableEnded) { // node 24.12 and later end a request without a body themselves (optimizeEmptyRequests)
      withBody = announcesBody(req);
      if (!withBody) endEmptyRequest(req); // the same, where node is older (body.ts)
    }
    const socket = req.socket as TrackedSocket;
    if (isClosing(socket)) {
      // Bytes that followed a request the connection is closing after: possibly a smuggled request. Never handled.
      this.track(job);
      return;
    }
    if (req.httpVersionMajor !== 1) {
      // HTTP/0.9 (a request line without a version) is malformed; 2.0 and up are another protocol.
      const status = req.httpVersionMajor === 0 ? 400 : 505;
      this.log.error(`${socket[CONNECTION]?.fields.address ?? '-'} ${status}: HTTP/${req.httpVersion} is not spoken here`);
      this.track(job);
      return lingeringClose(socket, plainResponse(status, 'Only HTTP/1.0 and HTTP/1.1 are spoken here.\n'));
    }
    if (takesBody(req.method)) {
      if (req.httpVersionMinor === 0 && rawHeader(req, 'transfer-encoding') !== undefined) {
        // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing: answer it, then close.
        res.shouldKeepAlive = false;
        markClosing(socket);
      }
      if (withBody) {
        // The body first, holding no slot (body.ts); then the request queues for a slot like any other.
        this.track(job);
        job.withBody = true;
        receiveBody(req, res, this.settings, () => {
          if (!job.done) this.admit(job);
        });
        return;
      }
    }
    this.admit(job);
  };

  /** Starts the request now if a slot is free, else queues it (or refuses it when the queue is full). */
  private admit(job: Job): void {
    if (this.active < this.poolSize) return this.start(job);
    if (this.queue.length - this.queueHead >= this.queueLimit) return this.reject(job);
    this.track(job);
    this.queue.push(job);
  }

  /** Records an unfinished request with its connection (see the 'connection' handler). */
  private track(job: Job): void {
    if (job.siblings) return;
    job.siblings = (job.req.socket as TrackedSocket)[CONNECTION]?.jobs;
    job.siblings?.add(job);
  }

  private start(job: Job): void {
    job.started = true;
    this.active++;
    const { req, res } = job;
    job.exchange = handleRequest(this, req, res);
    // Most responses are complete when the handler returns: finish at once,
    // without a listener. Others finish when their response closes (or, if the
    // client leaves first, when its connection does).
    if (res.writableEnded) return this.finish(job);
    this.track(job);
    (res as JobResponse)[JOB] = job;
    res.on('close', () => this.finish(job));
    if (res.headersSent) this.release(res); // begun and not over: it started streaming before it was tracked
    const seconds = job.exchange.request.config['response.timeout'];
    if (seconds > 0 && !res.headersSent) job.deadline = setTimeout(() => this.timedOut(job, seconds), seconds * 1000).unref();
  }

  /**
   * The handler (or a tool) has not begun the response within response.timeout:
   * answer 503 for it, so that its slot and its client are not held for good
   * (a database that never answers). What it does later is dropped (Exchange.abandoned).
   */
  private timedOut(job: Job, seconds: number): void {
    const ex = job.exchange!;
    if (job.done || job.res.headersSent) return;
    this.log.error(`${ex.request.method} ${ex.request.path}: no response within response.timeout (${seconds} s); answered 503`);
    ex.abandoned = true;
    fail(ex, new HTTPError(503, `No response within ${seconds} s`));
  }

  /**
   * Gives the slot of `res`'s request back before its response ends: called
   * once a file's headers are sent (respond.ts), since sending it runs no
   * handler code. The request still counts as unfinished for the drain.
   */
  release(res: ServerResponse): void {
    const job = (res as JobResponse)[JOB];
    if (!job || job.released || job.done) return;
    job.released = true;
    this.active--;
    if (this.queueHead < this.queue.length) this.next();
  }

  /** Called once per request: its response is complete, or its connection is gone. */
  private finish(job: Job): void {
    if (job.done) return;
    job.done = true;
    if (job.deadline) clearTimeout(job.deadline);
    if (job.started && !job.released) this.active--;
    job.siblings?.remove(job);
    if (job.withBody) releaseBody(job.req);
    const connection = (job.req.socket as TrackedSocket)[CONNECTION];
    if (connection) this.connections.used(connection);
    this.accessLog(job, connection?.fields);
    if (job.exchange) endRequest(job.exchange);
    if (this.shuttingDown) this.closeIdle();
    if (this.queueHead < this.queue.length) this.next();
  }

  /** Starts queued requests while slots are free, skipping those whose client left. */
  private next(): void {
    // A started request that finishes at once calls back here: let the outer loop go on instead of recursing.
    if (this.starting) return;
    this.starting = true;
    try {
      this.startQueued();
    } finally {
      this.starting = false;
    }
  }

  private startQueued(): void {
    while (this.active < this.poolSize && this.queueHead < this.queue.length) {
      const job = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as Job;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      if (job.done) continue;
      if (job.req.socket.destroyed) {
        this.finish(job);
        continue;
      }
      this.start(job);
    }
  }

  private reject(job: Job): void {
    job.res.writeHead(503, {
      'Content-Type': 'text/plain;charset=utf-8', 'Content-Length': REJECT_BODY.length,
      'Retry-After': '1', 'Connection': 'close',
    });
    job.res.end(REJECT_BODY);
    this.finish(job);
  }

  /**
   * The request could not be parsed (bad request line, headers or chunked
   * framing), or its headers took too long. One short line in the log; an
   * answer if no response has begun on the connection; then a lingering close.
   */
  private onClientError(err: NodeJS.ErrnoException, socket: TrackedSocket): void {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.log.error(`${socket[CONNECTION]?.fields.address ?? socket.remoteAddress ?? '-'} ${status}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' ').slice(0, 300));
    // A request whose body was still arriving (bad chunked framing) is answered here and never handled.
    const jobs = socket[CONNECTION]?.jobs;
    let answerable = !socket._httpMessage;
    if (jobs && jobs.size > 0) {
      answerable = jobs.snapshot().every((job) => !job.started && !job.res.headersSent);
      if (answerable) jobs.forEachRemovable((job) => this.finish(job));
    }
    lingeringClose(socket, answerable ? plainResponse(status, `${status} ${STATUS_CODES[status]}\n`) : undefined);
  }

  /** `peer`: what the connection's lines repeat, encoded once (accesslog.ts). */
  private accessLog(job: Job, peer: ConnectionFields | undefined): void {
    const { req, res, exchange } = job;
    const sent = res.headersSent;
    // Referer and User-Agent in one pass over the raw headers, told apart by their lengths.
    let referer: string | undefined, agent: string | undefined;
    const list = req.rawHeaders;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]!;
      if (name.length === 7) referer ??= isNamed(name, 'referer') ? list[i + 1] : undefined;
      else if (name.length === 10) agent ??= isNamed(name, 'user-agent') ? list[i + 1] : undefined;
    }
    this.log.request(
      exchange?.request.remoteIpIfUsed || (peer?.addressField ?? '-'), req.method ?? '-', req.url ?? '', req.httpVersion,
      sent ? res.statusCode : '-', exchange ? exchange.sentLength ?? '-' : sent ? REJECT_BODY.length : '-',
      referer === undefined ? '' : peer ? peer.referer.of(referer) : referer,
      agent === undefined ? '' : peer ? peer.agent.of(agent) : agent,
    );
  }

  /**
   * Closes connections that have no request in progress: idle keep-alive ones,
   * and (which node leaves open) those that sent nothing yet or only part of
   * their headers: no request was handed to the app on them, so none is lost.
   */
  private closeIdle(): void {
    this.http.closeIdleConnections();
    for (const connection of this.connections) if (isIdle(connection)) connection.socket.destroy();
  }

  /**
   * Server-sent events never end by themselves: waiting for them would hold
   * every drain to shutdown_timeout and end it as a failure. They are closed
   * when the drain begins (after the lame duck), and their clients reconnect,
   * to another replica, as EventSource does after any close.
   */
  private closeEventStreams(): void {
    let closed = 0;
    for (const { jobs } of this.connections) {
      for (const job of jobs.snapshot()) {
        if (!job.exchange?.events || job.done) continue;
        closed++;
        job.res.destroy();
      }
    }
    if (closed > 0) this.log.error(`Closed ${closed} event stream${closed === 1 ? '' : 's'} for the drain; their clients reconnect`, 'ENGINE');
  }

  /** Keeps listening and serving, but every response closes its connection (before shutdown, see engine.ts). */
  lameDuck(): void {
    this.draining = true;
  }

  /**
   * Graceful stop; resolves true when everything finished in time, false when
   * requests had to be cut at `shutdown_timeout`.
   */
  shutdown(): Promise<boolean> {
    this.draining = true;
    this.shuttingDown = true;
    return new Promise((resolve) => {
      let done = false;
      const finish = (clean: boolean) => {
        if (done) return;
        done = true;
        clearInterval(sweep);
        clearTimeout(deadline);
        resolve(clean);
      };
      this.http.close(() => finish(true));
      this.closeEventStreams();
      this.closeIdle();
      // Sockets can turn idle without a request finishing (e.g. a slow client gives up).
      const sweep = setInterval(() => this.closeIdle(), 100);
      const deadline = setTimeout(() => {
        let cut = 0;
        for (const { jobs } of this.connections) {
          for (const { req, started } of jobs.snapshot()) {
            if (!started) continue;
            cut++;
            this.log.error(`Cut off at shutdown_timeout: ${req.method} ${req.url} from ${req.socket.remoteAddress}`, 'ENGINE');
          }
        }
        this.http.closeAllConnections();
        for (const { socket } of this.connections) socket.destroy();
        finish(cut === 0);
      }, this.settings['server.shutdown_timeout'] * 1000);
    });
  }

  /** Requests being handled now, and waiting for a slot (for tests and health checks). */
  get load(): { active: number; queued: number } {
    return { active: this.active, queued: this.queue.length - this.queueHead };
  }
}
