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

export function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\/form-data\b/i.test(rawHeader(req, 'content-type') ?? '');
}

/** A file name as a bare name: the last segment of whatever path the client sent, without control characters. */
function safeFilename(name: string | undefined): string {
  return (name ?? '').split(/[/\\]/).pop()!.replace(/[\x00-\x1f\x7f]/g, '').replace(/^\.+$/, '').slice(0, 255);
}

/** A multipart body being parsed: body.ts feeds it the bytes as they arrive. */
export interface MultipartReceiver {
  write(chunk: Buffer): void;
  /** The body is complete: `result` settles once every file is stored. */
  end(): void;
  /** The body failed (too slow, too large, the client left): temporary files are removed. */
  abort(): void;
  /** The fields and files, or the HTTP error to answer. */
  readonly result: Promise<Multipart>;
}

/** Starts parsing `req`'s multipart body; throws 400 when it has no usable boundary. */
export function receiveMultipart(req: IncomingMessage, settings: Settings): MultipartReceiver {
  const parsed: Multipart = { fields: bag(), files: bag(), temporary: [] };
  const memoryLimit = settings['server.multipart_memory_size'];
  const dir = settings['server.multipart_tmp_dir'] || tmpdir();
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
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
  const writers = new Set<WriteStream>();
  const pending = new Set<Promise<void>>();
  let settle!: { resolve: (m: Multipart) => void; reject: (e: HTTPError) => void };
  const result = new Promise<Multipart>((resolve, reject) => (settle = { resolve, reject }));
  result.catch(() => {}); // handled by the caller; never an unhandled rejection
  let failed = false;
  const fail = (err: HTTPError) => {
    if (failed) return;
    failed = true;
    for (const writer of writers) writer.destroy();
    void removeAll(parsed.temporary);
    settle.reject(err);
  };
  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) return fail(new HTTPError(413, `A form field is larger than server.multipart_max_field_size (${settings['server.multipart_max_field_size']} bytes)`));
    addValue(parsed.fields, name, value);
  });
  parser.on('file', (name, stream, info) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let file: WriteStream | undefined;
    let path: string | undefined;
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (file) return void file.write(chunk);
      chunks.push(chunk);
      if (size > memoryLimit) {
        // Too large for memory: from here on the file goes to disk.
        path = join(dir, `cherrypy-upload-${randomBytes(12).toString('hex')}`);
        parsed.temporary.push(path);
        file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
        writers.add(file);
        file.on('error', () => fail(new HTTPError(500, 'Could not store the upload')));
        for (const c of chunks.splice(0)) file.write(c);
      }
    });
    stream.on('limit', () => fail(new HTTPError(413, `The request body exceeds the maximum allowed size (${settings['server.max_request_body_size']} bytes)`)));
    stream.on('end', () => {
      if (failed) return;
      addValue(parsed.files, name, new UploadedFile(safeFilename(info.filename), info.mimeType, size, file ? undefined : Buffer.concat(chunks, size), path));
      if (file) {
        const writer = file;
        pending.add(new Promise((stored) => writer.end(() => { writers.delete(writer); stored(); })));
      }
    });
  });
  parser.on('partsLimit', () => fail(new HTTPError(413, `The form has more than server.multipart_max_parts (${settings['server.multipart_max_parts']}) parts`)));
  parser.on('error', (err: Error) => fail(new HTTPError(400, `Bad multipart body: ${err.message}`)));
  parser.on('close', () => {
    if (!failed) void Promise.all(pending).then(() => (failed ? undefined : settle.resolve(parsed)));
  });
  return {
    write: (chunk) => { if (!failed) parser.write(chunk); },
    end: () => { if (!failed) parser.end(); },
    abort: () => fail(new HTTPError(400, 'The request body was not received')),
    result,
  };
}

/** Removes temporary upload files; a file already gone is fine. */
export function removeAll(paths: string[]): Promise<void> {
  return Promise.all(paths.map((p) => fs.rm(p, { force: true }))).then(() => undefined);
}
