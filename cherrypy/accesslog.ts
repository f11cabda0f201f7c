/**
 * Access-log lines, encoded straight into bytes.
 *
 *   127.0.0.1 - - [25/Nov/2026:18:40:51] "GET /logo.png HTTP/1.1" 200 179 "" "curl/7.88.1"
 *
 * Every request writes one line, so the line is never built as a string
 * (building one per request, and flattening and encoding the batch later,
 * took about twice as long under load): the characters of each field are
 * copied into the batch's buffer one by one, and what a client sent is
 * escaped on the way. What a connection repeats (its address, its
 * User-Agent, mostly its Referer) is escaped once and then copied: a
 * browser's User-Agent escaped character by character cost more than the rest
 * of the line (about 5,000 instructions a request on Node 20).
 * Quotes and backslashes become \" and \\, control characters and anything
 * not ASCII become \xHH (node hands over a request's bytes as latin1
 * characters), so a request is always one line of plain ASCII, and the bytes
 * are the characters.
 *
 * log.ts decides when a batch is written, and where.
 */

const BATCH_BYTES = 64 * 1024;
/** Room left at the end of a batch: past it, the batch should be written. */
const SLACK = 1024;

const SPACE = 0x20, QUOTE = 0x22, BACKSLASH = 0x5c, NEWLINE = 0x0a;

/** Copies `text`, escaping what could break or forge a line. */
function putEscaped(bytes: Buffer, at: number, text: string): number {
  // Small enough to be inlined at each field; the rare escapes are done elsewhere.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= SPACE && c <= 0x7e && c !== QUOTE && c !== BACKSLASH) bytes[at++] = c;
    else at = putEscape(bytes, at, c);
  }
  return at;
}

/** `\"`, `\\`, or `\xHH` for a character that may not appear as it is. */
function putEscape(bytes: Buffer, at: number, c: number): number {
  bytes[at++] = BACKSLASH;
  if (c === QUOTE || c === BACKSLASH) {
    bytes[at++] = c;
    return at;
  }
  bytes[at++] = 0x78; // x
  const hex = c < 0x10 ? '0' + c.toString(16) : c.toString(16);
  for (let h = 0; h < hex.length; h++) bytes[at++] = hex.charCodeAt(h);
  return at;
}

/** A field as text, or as its escaped bytes (encodeField). */
export type Field = string | Uint8Array;

/** Writes a field: text is escaped, bytes are copied. */
function putField(bytes: Buffer, at: number, field: Field): number {
  if (typeof field === 'string') return putEscaped(bytes, at, field);
  bytes.set(field, at);
  return at + field.length;
}

/** Where encodeField escapes a value before copying it out. */
let scratch = Buffer.allocUnsafeSlow(1024);

/**
 * A field's escaped bytes, made once for a value that repeats: copying them
 * costs a fraction of escaping the characters again for every request (a
 * loop over a string's characters costs 10-45 instructions a character).
 */
export function encodeField(text: string): Uint8Array {
  if (scratch.length < 6 * text.length) scratch = Buffer.allocUnsafeSlow(6 * text.length);
  const length = putEscaped(scratch, 0, text);
  // An array of its own: a slice of node's buffer pool would keep a whole 8 KB slab alive for each connection.
  const field = new Uint8Array(length);
  field.set(scratch.subarray(0, length));
  return field;
}

const NONE = new Uint8Array(0);

/** Longer values are escaped where they are written: a client sending a new huge header each time makes nothing to keep. */
const MEMO_MOST = 512;

/** The last value of a field and its bytes. */
class FieldMemo {
  private text = '';
  private bytes: Uint8Array = NONE;

  of(text: string): Field {
    if (text !== this.text) {
      if (text.length > MEMO_MOST) return text;
      this.text = text;
      this.bytes = encodeField(text);
    }
    return this.bytes;
  }
}

/**
 * What the lines of one connection repeat, encoded once: its peer address,
 * and the last User-Agent and Referer (a browser sends the same User-Agent on
 * every request of a connection, the same Referer for every asset of a page).
 */
export class ConnectionFields {
  /** As encodeField() made it, for the access log. */
  readonly addressField: Uint8Array;
  readonly agent = new FieldMemo();
  readonly referer = new FieldMemo();

  /** `address` as text, for error lines. */
  constructor(readonly address: string) {
    this.addressField = encodeField(address);
  }
}

export class AccessBatch {
  private bytes = Buffer.allocUnsafe(BATCH_BYTES);
  /** `bytes.length`, kept as a plain number (a typed array's length is a getter). */
  private capacity = BATCH_BYTES;
  private used = 0;
  /** Batches already full, oldest first. */
  private full: Buffer[] = [];

  /**
   * Appends one line; `prefix` is the bytes between the address and the
   * method (` - - [time] "`). Returns true when the batch should be written now.
   */
  add(ip: Field, prefix: Uint8Array, method: string, target: string, version: string, status: string, length: string, referer: Field, agent: Field): boolean {
    // An escaped character takes at most 6 bytes (\xHHHH).
    const most = 6 * (ip.length + method.length + target.length + version.length + status.length + length.length + referer.length + agent.length) + prefix.length + 32;
    if (this.used + most > this.capacity) {
      if (this.used > 0) this.full.push(this.bytes.subarray(0, this.used));
      this.capacity = Math.max(BATCH_BYTES, most);
      this.bytes = Buffer.allocUnsafe(this.capacity);
      this.used = 0;
    }
    const bytes = this.bytes;
    let at = putField(bytes, this.used, ip);
    bytes.set(prefix, at);
    at += prefix.length;
    at = putEscaped(bytes, at, method);
    bytes[at++] = SPACE;
    at = putEscaped(bytes, at, target);
    // ' HTTP/', byte by byte: cheaper than a copy for six bytes.
    bytes[at++] = SPACE;
    bytes[at++] = 0x48;
    bytes[at++] = 0x54;
    bytes[at++] = 0x54;
    bytes[at++] = 0x50;
    bytes[at++] = 0x2f;
    at = putEscaped(bytes, at, version);
    bytes[at++] = QUOTE;
    bytes[at++] = SPACE;
    at = putEscaped(bytes, at, status);
    bytes[at++] = SPACE;
    at = putEscaped(bytes, at, length);
    bytes[at++] = SPACE;
    bytes[at++] = QUOTE;
    at = putField(bytes, at, referer);
    bytes[at++] = QUOTE;
    bytes[at++] = SPACE;
    bytes[at++] = QUOTE;
    at = putField(bytes, at, agent);
    bytes[at++] = QUOTE;
    bytes[at++] = NEWLINE;
    this.used = at;
    return this.full.length > 0 || at > this.capacity - SLACK;
  }

  /** The lines added since the last call, as byte chunks; the batch starts empty again. */
  take(): Buffer[] {
    const chunks = this.full;
    if (this.used > 0) {
      chunks.push(this.bytes.subarray(0, this.used));
      // A sink may keep the chunk (a stream's write queue): the next lines go to a new buffer.
      this.bytes = Buffer.allocUnsafe(BATCH_BYTES);
      this.capacity = BATCH_BYTES;
      this.used = 0;
    }
    this.full = [];
    return chunks;
  }
}
