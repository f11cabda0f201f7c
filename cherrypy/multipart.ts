/**
 * File uploads: multipart/form-data bodies, parsed as they arrive (busboy).
 *
 * Like every body, an upload is received before its request takes a slot
 * (body.ts, which feeds it here chunk by chunk), but it is never held whole: fields go to `request.params`, and
 * each file to an UploadedFile that keeps its bytes in memory up to
 * `server.multipart_memory_size` and past that in a temporary file, removed
 * when the response is over (or the client went away). The limits:
 *
 *   server.max_request_body_size     the whole body            -> 413
 *   server.multipart_max_parts       fields + files            -> 413
 *   server.multipart_max_field_size  one field's value         -> 413
 *   no boundary, broken framing      -> 400
 *
 * A file's name is what the client said it was called, reduced to its last
 * path segment without control characters: never a path to write to.
 * Part names are only keys (the maps have no prototype: `__proto__` is a name).
 */
import { createReadStream, createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { HTTPError } from './errors.ts';
import { addValue, bag } from './bag.ts';
import type { Settings } from './config.ts';
import { rawHeader, type Params } from './request.ts';

/** One uploaded file (`cherrypy.request.files.NAME`). */
export class UploadedFile {
  constructor(
    /** The client's name for it, reduced to a bare file name ('' if none). */
    readonly filename: string,
    readonly content_type: string,
    readonly size: number,
    /** The bytes, when the file was small enough to stay in memory. */
    readonly bytes: Buffer | undefined,
    /** The temporary file holding it otherwise (removed when the response is over). */
    readonly path: string | undefined,
  ) {}

  /** The whole file. */
  read(): Promise<Buffer> {
    return this.bytes ? Promise.resolve(this.bytes) : fs.readFile(this.path!);
  }

  /** The file as a stream (for large files: store it without reading it into memory). */
  stream(): Readable {
    if (this.path) return createReadStream(this.path);
    return (async function* (bytes: Buffer) { yield bytes; })(this.bytes ?? Buffer.alloc(0)) as unknown as Readable;
  }
}

export interface Multipart {
  fields: Params;
  files: Record<string, UploadedFile | UploadedFile[]>;
  /** Temporary files to remove when the response is over. */
  temporary: string[];
}

/** What a file name may need cleaned: a path separator, a control character, or nothing but dots. */
const UNSAFE_FILENAME = /[/\\\x00-\x1f\x7f]|^\.+$/;

/** A file name as a bare name: the last segment of whatever path the client sent, without control characters. */
export function safeFilename(name: string | undefined): string {
  if (name === undefined) return '';
  if (!UNSAFE_FILENAME.test(name)) return name.slice(0, 255); // most names: one test instead of a split and two replaces
  return name.split(/[/\\]/).pop()!.replace(/[\x00-\x1f\x7f]/g, '').replace(/^\.+$/, '').slice(0, 255);
}

/**
 * A multipart body being parsed: body.ts feeds it the bytes as they arrive;
 * the constructor throws 400 when there is no usable boundary. A class rather
 * than closures, as body.ts's BodyReceiver: every upload would otherwise pay
 * for naming each of them.
 */
export class MultipartReceiver {
  /** The fields and files, or the HTTP error to answer. */
  readonly result: Promise<Multipart>;
  private readonly parsed: Multipart = { fields: bag(), files: bag(), temporary: [] };
  private readonly parser: busboy.Busboy;
  /** Files being written to disk (made for the first: most uploads stay in memory), and the writes still to finish before the result. */
  private writers: Set<WriteStream> | undefined = undefined;
  private readonly pending: Promise<void>[] = [];
  private failed = false;
  private settle!: { resolve: (m: Multipart) => void; reject: (e: HTTPError) => void };

  constructor(req: IncomingMessage, private readonly settings: Settings) {
    try {
      this.parser = busboy({
        // busboy reads only the content type: handing it just that spares node building `req.headers`.
        headers: { 'content-type': rawHeader(req, 'content-type') },
        limits: {
          fileSize: settings['server.max_request_body_size'],
          parts: settings['server.multipart_max_parts'],
          fieldSize: settings['server.multipart_max_field_size'],
          headerPairs: 100,
        },
      });
    } catch (err) {
      throw new HTTPError(400, `Bad multipart body: ${(err as Error).message}`);
    }
    // The caller (body.ts) handles both outcomes at once, so a rejection is never unhandled.
    this.result = new Promise<Multipart>((resolve, reject) => (this.settle = { resolve, reject }));
    const parser = this.parser;
    parser.on('field', (name, value, info) => this.onField(name, value, info.valueTruncated));
    parser.on('file', (name, stream, info) => this.onFile(name, stream, info));
    parser.on('partsLimit', () => this.fail(new HTTPError(413, `The form has more than server.multipart_max_parts (${settings['server.multipart_max_parts']}) parts`)));
    parser.on('error', (err: Error) => this.fail(new HTTPError(400, `Bad multipart body: ${err.message}`)));
    parser.on('close', () => this.onClose());
  }

  write(chunk: Buffer): void {
    if (!this.failed) this.parser.write(chunk);
  }

  /** The body is complete: `result` settles once every file is stored. */
  end(): void {
    if (!this.failed) this.parser.end();
  }

  /** The body failed (too slow, too large, the client left): temporary files are removed. */
  abort(): void {
    this.fail(new HTTPError(400, 'The request body was not received'));
  }

  private fail(err: HTTPError): void {
    if (this.failed) return;
    this.failed = true;
    if (this.writers) for (const writer of this.writers) writer.destroy();
    void removeAll(this.parsed.temporary);
    this.settle.reject(err);
  }

  private onField(name: string, value: string, truncated: boolean): void {
    if (truncated) return this.fail(new HTTPError(413, `A form field is larger than server.multipart_max_field_size (${this.settings['server.multipart_max_field_size']} bytes)`));
    addValue(this.parsed.fields, name, value);
  }

  private onFile(name: string, stream: Readable, info: busboy.FileInfo): void {
    const { settings, parsed } = this;
    const memoryLimit = settings['server.multipart_memory_size'];
    const chunks: Buffer[] = [];
    let size = 0;
    let file: WriteStream | undefined;
    let path: string | undefined;
    stream.on('data', (chunk: Buffer) => {
      if (this.failed) return;
      size += chunk.length;
      if (file) return void file.write(chunk);
      chunks.push(chunk);
      if (size > memoryLimit) {
        // Too large for memory: from here on the file goes to disk.
        path = join(settings['server.multipart_tmp_dir'] || tmpdir(), `cherrypy-upload-${randomBytes(12).toString('hex')}`);
        parsed.temporary.push(path);
        file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
        (this.writers ??= new Set()).add(file);
        file.on('error', () => this.fail(new HTTPError(500, 'Could not store the upload')));
        for (const c of chunks.splice(0)) file.write(c);
      }
    });
    stream.on('limit', () => this.fail(new HTTPError(413, `The request body exceeds the maximum allowed size (${settings['server.max_request_body_size']} bytes)`)));
    stream.on('end', () => {
      if (this.failed) return;
      addValue(parsed.files, name, new UploadedFile(safeFilename(info.filename), info.mimeType, size, file ? undefined : Buffer.concat(chunks, size), path));
      if (file) {
        const writer = file;
        this.pending.push(new Promise((stored) => writer.end(() => { this.writers!.delete(writer); stored(); })));
      }
    });
  }

  private onClose(): void {
    if (this.failed) return;
    if (this.pending.length === 0) return this.settle.resolve(this.parsed);
    void Promise.all(this.pending).then(() => (this.failed ? undefined : this.settle.resolve(this.parsed)));
  }
}

/** Removes temporary upload files; a file already gone is fine. */
export function removeAll(paths: string[]): Promise<void> | undefined {
  if (paths.length === 0) return undefined;
  return Promise.all(paths.map((p) => fs.rm(p, { force: true }))).then(() => undefined);
}
