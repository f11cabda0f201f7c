/**
 * Closing a connection without losing the answer.
 *
 * When the server answers before it has read the whole request (431 for huge
 * headers, 413 for a body over the limit, 400 for bad framing), the client may
 * still be sending. Closing the socket at once makes the kernel reset the
 * connection, and a reset can throw away the answer the client has not read
 * yet. So the close lingers, as nginx's does: send the answer, half-close,
 * read and drop what still arrives until the client closes or LINGER_MS pass,
 * then close.
 *
 * A lingering connection is `closing`: whatever else arrives on it (bytes
 * after a body the server gave up on, a request smuggled behind bad framing)
 * is never handled as a request.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const LINGER_MS = 2000;

const CLOSING = Symbol('closing');
type ClosingSocket = Socket & { [CLOSING]?: true };

/** Is this connection closing? Then the server handles no further request from it. */
export function isClosing(socket: Socket): boolean {
  return (socket as ClosingSocket)[CLOSING] === true;
}

/** Marks the connection as closing once its current answer is out. */
export function markClosing(socket: Socket): void {
  (socket as ClosingSocket)[CLOSING] = true;
}

/** Sends `text` (a whole raw response, or nothing), then closes lingering. */
export function lingeringClose(socket: Socket, text?: string): void {
  markClosing(socket);
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => socket.destroy());
  socket.on('data', () => {}); // dropped
  socket.on('end', () => socket.destroy());
  if (text === undefined) socket.end();
  else socket.end(text);
  socket.resume();
}

/**
 * For a response sent with `Connection: close` while `req`'s body is unread:
 * drop the rest of the body, and when node closes the connection after the
 * response, make that close a lingering one.
 */
export function lingerAfterResponse(req: IncomingMessage): void {
  const socket = req.socket;
  markClosing(socket);
  req.resume();
  socket.destroySoon = () => lingeringClose(socket);
}
