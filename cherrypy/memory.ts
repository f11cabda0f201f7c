/**
 * Defaults that fit the memory the process may use.
 *
 * A replica usually runs under a memory limit (deploy/ gives it 256 MiB), and
 * the kernel kills the process at that limit, whatever it was doing. Four
 * things clients can make the server hold grow with what they do: request
 * bodies, open connections, RAM sessions and files being sent. Each limit's
 * default is its fixed value or what fits an eighth of that memory, whichever
 * is less, so that all four at their limits, with the app itself (~75 MB),
 * stay under it. Measured: four 60 MB bodies posted at once killed a 256 MiB
 * container under the old 256 MiB body default (a body takes twice its size
 * for a moment as it is joined, and the reads it came in wait for V8 to
 * collect them); 9,872 idle connections cost ~130 MB (13 KB each); 100,000
 * small sessions raised RSS by ~70 MB (0.7 KB each, collector's slack
 * included); 500 clients reading a large file slowly ~75 MB (150 KB each: a
 * 64 KB read waiting, and one in the socket). A limit set in config is taken
 * as it is.
 */
import { totalmem } from 'node:os';

const MiB = 1024 * 1024;
/** What one open connection is counted to cost (13 KB measured, with room). */
const CONNECTION_BYTES = 16 * 1024;
/** What one large file being sent to a slow client is counted to cost (150 KB measured, with room). */
const FILE_STREAM_BYTES = 160 * 1024;
/** What one small session is counted to cost (0.35 to 0.7 KB measured, with room). */
const SESSION_BYTES = 1024;

/** The memory this process may use: its container's limit, or the machine's. */
export function availableMemory(): number {
  const limit = process.constrainedMemory?.() || Infinity; // 0, or a huge number: no limit known
  return Math.min(limit, totalmem());
}

/** `most`, or as many things of `bytesEach` as fit an eighth of `memory`, whichever is less. */
function fitting(most: number, bytesEach: number, memory: number): number {
  return Math.min(most, Math.floor(memory / 8 / bytesEach));
}

/** server.max_buffered_body_size: 256 MiB, or an eighth of `memory`. */
export function bodyBudget(memory = availableMemory()): number {
  return fitting(256 * MiB, 1, memory);
}

/** server.max_connections: 10,000, or what fits an eighth of `memory`. */
export function connectionBudget(memory = availableMemory()): number {
  return fitting(10_000, CONNECTION_BYTES, memory);
}

/** tools.sessions.max_sessions: 100,000, or what fits an eighth of `memory`. */
export function sessionBudget(memory = availableMemory()): number {
  return fitting(100_000, SESSION_BYTES, memory);
}

/** server.max_file_streams: 10,000, or what fits an eighth of `memory`. */
export function fileStreamBudget(memory = availableMemory()): number {
  return fitting(10_000, FILE_STREAM_BYTES, memory);
}
