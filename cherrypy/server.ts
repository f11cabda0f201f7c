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
 * Limits: `socket_timeout` is the idle keep-alive time and the time allowed
 * for the headers (408 past it); `request_timeout` bounds the whole request;
 * `max_request_header_size` -> 431; the body limits live in body.ts. Malformed
 * requests never reach the app: they get a 400 (431, 408) and a closed socket,
 * and one line in the error log.
 *
 * `shutdown()` drains: the listening socket closes at once, every response
 * from then on carries `Connection: close`, idle connections are closed at
 * once and again whenever a request finishes, in-flight requests complete.
 * What is still running at `shutdown_timeout` is cut and logged.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { handleRequest, type Host, type Route } from './pipeline.ts';
import type { Log } from './log.ts';
import type { Tree } from './app.ts';
import type { Settings } from './config.ts';
import { rawHeader, type Request } from './request.ts';

const PEER = Symbol('peer address');
type PeerSocket = Socket & { [PEER]?: string };

const REJECT_BODY = 'Server busy: too many requests are waiting. Try again shortly.\n';

/** One request from arrival to the end of its response (or of its connection). */
interface Job {
  req: IncomingMessage;
  res: ServerResponse;
  /** The unfinished requests of this job's connection, once it is one of them (queued, or not done at once). */
  siblings: Set<Job> | undefined;
  request?: Request;
  started: boolean;
  done: boolean;
}

export class Server implements Host {
  readonly http: HttpServer;
  draining = false;
  readonly routes = new Map<string, Route>();
  private active = 0;
  private readonly queue: Job[] = [];
  private queueHead = 0;
  private starting = false;
  /** Open sockets and their requests not yet finished (started or queued). */
  private readonly sockets = new Map<Socket, Set<Job>>();
  private readonly poolSize: number;
  private readonly queueLimit: number;

  constructor(readonly tree: Tree, readonly settings: Settings, readonly log: Log) {
    this.poolSize = settings['server.thread_pool'];
    this.queueLimit = settings['server.accepted_queue_size'];
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
    }, this.onRequest);
    this.http.on('connection', (socket: Socket) => {
      const jobs = new Set<Job>();
      this.sockets.set(socket, jobs);
      // The peer's address, read once: the access log needs it for every
      // request, and a socket that closed early no longer knows it.
      (socket as PeerSocket)[PEER] = socket.remoteAddress ?? '-';
      // Pipelined responses still waiting their turn get no 'close' of their
      // own when the client goes away: finish them here, or their slots leak.
      socket.once('close', () => {
        this.sockets.delete(socket);
        for (const job of jobs) this.finish(job);
      });
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
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
    const job: Job = { req, res, siblings: undefined, started: false, done: false };
    if (this.active < this.poolSize) return this.start(job);
    if (this.queue.length - this.queueHead >= this.queueLimit) return this.reject(job);
    this.track(job);
    this.queue.push(job);
  };

  /** Records an unfinished request with its connection (see the 'connection' handler). */
  private track(job: Job): void {
    if (job.siblings) return;
    job.siblings = this.sockets.get(job.req.socket);
    job.siblings?.add(job);
  }

  private start(job: Job): void {
    job.started = true;
    this.active++;
    const { req, res } = job;
    job.request = handleRequest(this, req, res);
    // Most responses are complete when the handler returns: finish at once,
    // without a listener. Others finish when their response closes (or, if the
    // client leaves first, when its connection does).
    if (res.writableEnded) return this.finish(job);
    this.track(job);
    res.on('close', () => this.finish(job));
  }

  /** Called once per request: its response is complete, or its connection is gone. */
  private finish(job: Job): void {
    if (job.done) return;
    job.done = true;
    if (job.started) this.active--;
    job.siblings?.delete(job);
    this.accessLog(job);
    if (this.draining) this.closeIdle();
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
      'content-type': 'text/plain;charset=utf-8', 'content-length': REJECT_BODY.length,
      'retry-after': '1', 'connection': 'close',
    });
    job.res.end(REJECT_BODY);
    this.finish(job);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
      this.log.error(`${socket.remoteAddress ?? '-'} ${status}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '));
    }
    if (socket.writable && !(socket as { _httpMessage?: unknown })._httpMessage) {
      const text = `${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}`;
      socket.end(`HTTP/1.1 ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\nConnection: close\r\n\r\n${text}\n`);
    }
    socket.destroy();
  }

  private accessLog(job: Job): void {
    const { req, res, request } = job;
    const sent = res.headersSent;
    this.log.request(
      request?.remoteIpIfUsed || ((req.socket as PeerSocket)[PEER] ?? '-'), req.method ?? '-', req.url ?? '', req.httpVersion,
      sent ? res.statusCode : '-', request ? request.sentLength ?? '-' : sent ? REJECT_BODY.length : '-',
      rawHeader(req, 'referer') ?? '', rawHeader(req, 'user-agent') ?? '',
    );
  }

  /** Closes connections that have no request in progress. */
  private closeIdle(): void {
    this.http.closeIdleConnections();
    // node leaves sockets that never sent a byte; they have no request to lose.
    for (const [socket, jobs] of this.sockets) if (jobs.size === 0 && socket.bytesRead === 0) socket.destroy();
  }

  /**
   * Graceful stop; resolves true when everything finished in time, false when
   * requests had to be cut at `shutdown_timeout`.
   */
  shutdown(): Promise<boolean> {
    this.draining = true;
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
      this.closeIdle();
      // Sockets can turn idle without a request finishing (e.g. a slow client gives up).
      const sweep = setInterval(() => this.closeIdle(), 100);
      const deadline = setTimeout(() => {
        let cut = 0;
        for (const jobs of this.sockets.values()) {
          for (const { req, started } of jobs) {
            if (!started) continue;
            cut++;
            this.log.error(`Cut off at shutdown_timeout: ${req.method} ${req.url} from ${req.socket.remoteAddress}`, 'ENGINE');
          }
        }
        this.http.closeAllConnections();
        for (const socket of this.sockets.keys()) socket.destroy();
        finish(cut === 0);
      }, this.settings['server.shutdown_timeout'] * 1000);
    });
  }

  /** Requests being handled now, and waiting for a slot (for tests and health checks). */
  get load(): { active: number; queued: number } {
    return { active: this.active, queued: this.queue.length - this.queueHead };
  }
}
