/**
 * tools.gzip (before_finalize, 80): compresses responses of the listed types
 * (`mime_types`, `text/*` works; `compress_level`) for clients that accept
 * gzip, and says `Vary: Accept-Encoding`. The hook marks the response; the
 * compressing happens as it is sent (respond.ts), where its type is final.
 * A client that refuses both gzip and identity gets 406 `identity, gzip`.
 */
import { HTTPError } from '../errors.ts';
import { Tool } from '../hooks.ts';
import { rawHeaderValues, type Request, type Response } from '../request.ts';

/** Set on a response the gzip tool ran for (a property of its own: a WeakSet costs every response an entry to make and collect). */
const MARKED = Symbol('gzip');
type Marked = Response & { [MARKED]?: true };

export function compressing(response: Response): boolean {
  return (response as Marked)[MARKED] === true;
}

export const gzip = new Tool('before_finalize', (_, { response }) => void ((response as Marked)[MARKED] = true), { priority: 80, context: false });

/**
 * Should this response be gzipped? `headers` are the response's (wire names).
 * Throws 406 when the client accepts neither gzip nor the identity coding
 * (`Accept-Encoding: *;q=0`, `identity;q=0`), as CherryPy does, unless
 * `mayRefuse` is false (error pages).
 */
export function wantsGzip(request: Request, headers: Record<string, string | string[]>, mayRefuse: boolean): boolean {
  const s = request.config;
  if (headers['Content-Encoding']) return false;
  const type = String(headers['Content-Type'] ?? '').split(';')[0]!.trim();
  const listed = s['tools.gzip.mime_types'].some((t) => t === type || (t.endsWith('/*') && type.startsWith(t.slice(0, -1))));
  if (listed) headers['Vary'] = headers['Vary'] ? `${String(headers['Vary'])}, Accept-Encoding` : 'Accept-Encoding';
  const header = rawHeaderValues(request.raw, 'accept-encoding')?.join(',');
  if (!header) return false; // no preference: identity
  const q = codingWeights(header);
  const gzipQ = q.get('gzip') ?? q.get('x-gzip') ?? q.get('*') ?? 0;
  if (listed && gzipQ > 0) return true;
  const identity = q.get('identity') ?? (q.get('*') === 0 ? 0 : 1);
  if (identity === 0 && mayRefuse) throw new HTTPError(406, 'identity, gzip');
  return false;
}

/** Accept-Encoding values seen lately, parsed: browsers send a handful of them, over and over. */
const parsed = new Map<string, Map<string, number>>();

/** Accept-Encoding as coding -> q (RFC 9110 §12.5.3); a coding without q= has q=1. */
function codingWeights(header: string): Map<string, number> {
  let weights = parsed.get(header);
  if (weights) return weights;
  weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [coding, ...params] = part.split(';');
    const name = coding!.trim().toLowerCase();
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name, Number.isNaN(weight) ? 0 : weight);
  }
  if (parsed.size >= 64) parsed.clear(); // a client inventing values only makes the cache start over
  parsed.set(header, weights);
  return weights;
}
