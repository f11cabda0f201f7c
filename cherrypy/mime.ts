/**
 * Content types for static files, by extension.
 *
 * Unknown extensions get `application/octet-stream`, so a browser downloads the
 * file instead of guessing (CherryPy sends its default `text/html`, which lets an
 * uploaded file run as a page). Text types carry `; charset=utf-8`.
 */
import { extname } from 'node:path';

const TYPES: Record<string, string> = Object.assign(Object.create(null), {
  html: 'text/html', htm: 'text/html', css: 'text/css', js: 'text/javascript', mjs: 'text/javascript',
  json: 'application/json', map: 'application/json', txt: 'text/plain', md: 'text/markdown', csv: 'text/csv',
  xml: 'application/xml', svg: 'image/svg+xml', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg',
  gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', ico: 'image/x-icon', bmp: 'image/bmp',
  woff: 'font/woff', woff2: 'font/woff2', ttf: 'font/ttf', otf: 'font/otf', eot: 'application/vnd.ms-fontobject',
  pdf: 'application/pdf', zip: 'application/zip', gz: 'application/gzip', tar: 'application/x-tar',
  wasm: 'application/wasm', mp4: 'video/mp4', webm: 'video/webm', mp3: 'audio/mpeg', ogg: 'audio/ogg',
  wav: 'audio/wav', webmanifest: 'application/manifest+json', yaml: 'application/yaml', yml: 'application/yaml',
});

const UTF8 = new Set(['application/json', 'application/xml', 'image/svg+xml', 'application/manifest+json', 'application/yaml']);

/** The Content-Type for `file`; `overrides` maps extensions without the dot (CherryPy's content_types). */
export function contentType(file: string, overrides: Record<string, string> = {}): string {
  const ext = extname(file).slice(1).toLowerCase();
  const type = (Object.hasOwn(overrides, ext) ? overrides[ext] : TYPES[ext]) ?? 'application/octet-stream';
  return type.startsWith('text/') || UTF8.has(type) ? `${type}; charset=utf-8` : type;
}
