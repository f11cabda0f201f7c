/**
 * npm run bench [-- --method duel|alternate --duration 3 --connections 50 --pipelining 10 --rounds 3 --idle 1000 --only grown|TEXT --against DIR]
 *
 * Measures the template against bare node:http in the same run, so the ratio
 * means something on a noisy machine:
 *   calibration    the bare GET / server   vs  itself: the noise and bias of this run
 *   GET /          run.ts's Landing        vs  node:http answering the same bytes
 *                  (again not pipelined, and with a browser's User-Agent, Referer and Accept headers)
 *   GET /logo.png  prod.conf's staticfile  vs  node:http that stats and streams the file
 *   what a grown app serves (bench/grown-app.ts vs bench/baseline-grown.ts, the
 *   same work in the least code): JSON in and out, a gzip'd page, path
 *   arguments, a 404, a session, a small upload, a MethodDispatcher resource
 *   /healthcheck latency while `--idle` keep-alive connections sit open and / is under load
 *                  (10 s of checks after 3 s of load), and all of them checked at one instant
 *   start to first 200, and idle RSS, of `node --import tsx run.ts`
 * Each server is its own process (pinned to CPU 0 when taskset exists; the load
 * generator then runs on CPU 1). Requests are pipelined 10 deep by default, as
 * in fastify/benchmarks, so that the server and not the load generator is the
 * limit.
 *
 * Methods: `duel` (the default) runs both servers at the same time on the same
 * core, each under its own load: whatever the machine's speed does, it does to
 * both, and the ratio of their throughputs is the ratio of their costs per
 * request (a server against itself reads 1.00x). `alternate` measures them one
 * after the other, A B B A..., as before. Either way the ratio is the median of
 * the rounds' ratios. `--only grown` runs the grown app's rows, `--only TEXT`
 * the rows whose label contains TEXT (`--only session`). `--against DIR`
 * puts the same app from another checkout (`git worktree add /tmp/before
 * main`) where the bare servers were: did a change make a row slower? Exits non-zero when
 * a server fails to start or answers with errors, never because of speed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { get as httpGet } from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    method: { type: 'string', default: 'duel' },
    duration: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    pipelining: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    idle: { type: 'string', default: '1000' },
    only: { type: 'string', default: '' },
    against: { type: 'string', default: '' },
  },
});
const opts = {
  method: args.method === 'alternate' ? 'alternate' : 'duel', duration: Number(args.duration), connections: Number(args.connections),
  pipelining: Number(args.pipelining), rounds: Number(args.rounds), idle: Number(args.idle), only: args.only,
  against: args.against ? resolve(args.against) : '',
};

const pin = hasTaskset() && cpus().length >= 2;
if (pin) execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Running { name: string; child: ChildProcess; url: string; startMs: number }

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', () => resolve(0));
  });
}

async function start(name: string, script: string, probe = '/', cwd = root): Promise<Running> {
  const port = await freePort();
  const command = pin ? 'taskset' : process.execPath;
  const argv = [...(pin ? ['-c', '0', process.execPath] : []), '--import', 'tsx', script];
  const began = performance.now();
  const child = spawn(command, argv, { cwd, env: { ...process.env, PORT: String(port), NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 2000; i++) {
    if ((await status(url + probe)) === 200) return { name, child, url, startMs: performance.now() - began };
    if (child.exitCode !== null) break;
    await sleep(5);
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not answer 200 on ${probe}:\n${stderr}`);
}

function stop(server: Running): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null) return resolve();
    server.child.once('exit', () => resolve());
    server.child.kill('SIGTERM');
  });
}

interface Sample { rps: number; p50: number; p99: number }

/** What one scenario sends: a path, and for some a method, headers, a body and its own pipelining. */
interface Shot {
  path: string; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string | Buffer;
  /** A status other than 2xx that is the right answer (the 404 row). */
  status?: number;
  /** Each side is loaded with the session cookie it issued on this path (not a new session per request). */
  session?: boolean;
  /** Requests in flight on each connection, if not the command line's (1: each waits for the previous answer). */
  pipelining?: number;
}

/** How to load a server; what is not given here, or in the row's `shot`, is the command line's. */
interface LoadOptions {
  /** How long, in seconds (ignored given `until`). */
  seconds?: number;
  /**
   * Load until this settles instead: the health row keeps one load running
   * under the whole probe, because a load generator's own first second
   * (connecting, compiling) delays every client on its core.
   */
  until?: Promise<unknown>;
  connections?: number;
  shot?: Omit<Shot, 'path'>;
}

async function load(url: string, { seconds = opts.duration, until, connections = opts.connections, shot }: LoadOptions = {}): Promise<Sample> {
  const { status, pipelining = opts.pipelining, ...request } = shot ?? {};
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const run = autocannon({ url, connections, pipelining, duration: until ? 3600 : seconds, ...request }, (err, res) => (err ? reject(err) : resolve(res)));
    const end = () => run.stop();
    until?.then(end, end);
  });
  const byStatus = Object.entries(result.statusCodeStats as Record<string, { count: number }>);
  const wrong = status === undefined ? result.non2xx : byStatus.reduce((n, [code, { count }]) => n + (Number(code) === status ? 0 : count), 0);
  if (result.errors || result.timeouts || wrong) {
    throw new Error(`${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${wrong} unexpected statuses`);
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const medianSample = (xs: Sample[]): Sample => ({ rps: median(xs.map((x) => x.rps)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)) });

/**
 * Each server warmed up once, then measured `opts.rounds` times, by
 * `opts.method` (see the header). The ratio is the median of the rounds'.
 */
async function compare(shot: Shot, ours: Running, bare: Running, theirShot: Shot = shot): Promise<{ a: Sample; b: Sample; ratio: number }> {
  const { path, ...rest } = shot;
  const { path: theirPath, ...theirRest } = theirShot;
  await load(ours.url + path, { seconds: 1, shot: rest });
  await load(bare.url + theirPath, { seconds: 1, shot: theirRest });
  const a: Sample[] = [], b: Sample[] = [], ratios: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    let mine: Sample, theirs: Sample;
    if (opts.method === 'duel') {
      // Both at once, half the connections each: together they load the core as one alone would.
      const half = Math.max(1, Math.round(opts.connections / 2));
      [mine, theirs] = await Promise.all([
        load(ours.url + path, { shot: rest, connections: half }),
        load(bare.url + theirPath, { shot: theirRest, connections: half }),
      ]);
    } else {
      const runOurs = () => load(ours.url + path, { shot: rest });
      const runBare = () => load(bare.url + theirPath, { shot: theirRest });
      if (r % 2 === 0) {
        mine = await runOurs();
        theirs = await runBare();
      } else {
        theirs = await runBare();
        mine = await runOurs();
      }
    }
    a.push(mine);
    b.push(theirs);
    ratios.push(mine.rps / theirs.rps);
  }
  return { a: medianSample(a), b: medianSample(b), ratio: median(ratios) };
}

/** The session cookie `url` sets, so that a session row measures a known session, not a new one per request. */
function sessionCookie(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (res) => {
      res.resume();
      const cookie = [res.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('session_id='));
      if (cookie) resolve(cookie.split(';')[0]!);
      else reject(new Error(`${url} set no session cookie`));
    }).on('error', reject);
  });
}

const UPLOAD = Buffer.from(
  '--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nholiday\r\n' +
  `--b\r\nContent-Disposition: form-data; name="file"; filename="note.txt"\r\nContent-Type: text/plain\r\n\r\n${'x'.repeat(1000)}\r\n--b--\r\n`);

/**
 * What a browser sends besides the request line (no Accept-Encoding: the page would be
 * compressed on one side only). The names in lower case, as the app gets them behind
 * deploy/'s haproxy, which lower-cases HTTP/1 header names when it forwards a request.
 */
const BROWSER: Record<string, string> = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'accept': 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-US,en;q=0.9',
  'referer': 'https://shop.example/items?page=2',
};

/** The grown app's rows: [label, shot]. */
const GROWN: [string, Shot][] = [
  ['object as JSON', { path: '/json' }],
  ['JSON body in and out (json_in + json_out)', { path: '/echo', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"order":42,"items":["a","b","c"]}' }],
  ['object as JSON (MethodDispatcher + json_out)', { path: '/items/7' }],
  ["gzip'd HTML page (tools.gzip)", { path: '/page', headers: { 'accept-encoding': 'gzip' } }],
  ['path arguments', { path: '/hello/ada' }],
  ['404 page', { path: '/no/such/page', status: 404 }],
  ['a session (RAM)', { path: '/count', session: true }],
  ['small multipart upload', { path: '/upload', method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b' }, body: UPLOAD }],
];

/**
 * Opens `count` keep-alive connections that a balancer checks: each sends a
 * health check when it opens and every 4 s after (node's default keep-alive
 * timeout, the bare server's, is 5 s), the connections taking turns, as the
 * nodes of a cluster do, whose checks are not in step. `burst()` checks them
 * all at the same instant and resolves with the time until the last answer.
 */
async function holdIdle(port: number, count: number): Promise<{ stop: () => void; open: () => number; burst: () => Promise<number> }> {
  type Checked = Socket & { asked?: boolean };
  const sockets: Checked[] = [];
  let waiting = 0, allAnswered = () => {};
  const ping = (s: Checked) => {
    if (s.destroyed || s.asked) return;
    s.asked = true;
    waiting++;
    s.write('GET /healthcheck HTTP/1.1\r\nHost: bench\r\n\r\n');
  };
  // An answer (~150 bytes) arrives in one piece; a connection that closes will not answer.
  const settled = (s: Checked) => {
    if (!s.asked) return;
    s.asked = false;
    if (--waiting === 0) allAnswered();
  };
  for (let i = 0; i < count; i++) {
    const s: Checked = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('data', () => settled(s));
    s.on('close', () => settled(s));
    await new Promise((r) => s.once('connect', r));
    ping(s);
    sockets.push(s);
  }
  let next = 0;
  const timer = count > 0 ? setInterval(() => ping(sockets[next++ % count]!), 4000 / count) : undefined;
  const burst = async () => {
    const began = performance.now();
    const answered = new Promise<void>((r) => (allAnswered = r));
    sockets.forEach(ping);
    let late: NodeJS.Timeout | undefined;
    const tooLate = new Promise<never>((_, reject) => (late = setTimeout(() => reject(new Error(`${waiting} health checks unanswered after 10 s`)), 10_000)));
    try {
      if (waiting > 0) await Promise.race([answered, tooLate]);
    } finally {
      clearTimeout(late);
    }
    return performance.now() - began;
  };
  return { stop: () => { clearInterval(timer); sockets.forEach((s) => s.destroy()); }, open: () => sockets.filter((s) => !s.destroyed).length, burst };
}

/** `bench/probe.ts` in its own process (pinned with the load generator): its latencies are not delayed by autocannon's event loop. */
function probe(url: string, seconds: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const command = pin ? 'taskset' : process.execPath;
    const argv = [...(pin ? ['-c', '1', process.execPath] : []), '--import', 'tsx', 'bench/probe.ts', url, String(seconds)];
    const child = spawn(command, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`probe failed: ${err}`))));
  });
}

/** How long the health row probes: ~1,000 latencies, so that its p99 is not the second-slowest of 200. */
const PROBE_SECONDS = 10;
/**
 * How long the health row's load runs before the probe: the row is about the
 * steady state, not a new process's first seconds of load, while its code is
 * still being compiled (bench/README.md says what those cost).
 */
const LOAD_ONSET_MS = 3000;

async function healthUnderLoad(server: Running): Promise<{ p50: number; p99: number; n: number; open: number; burst: number }> {
  const port = Number(new URL(server.url).port);
  const idle = await holdIdle(port, opts.idle);
  try {
    let measured!: () => void;
    const done = new Promise<void>((r) => (measured = r));
    // One load on / (unpipelined: many clients each waiting for their answer, as behind a balancer)
    // under everything that follows. After its first LOAD_ONSET_MS, a prober checks /healthcheck
    // for PROBE_SECONDS; then all the balancer's connections are checked at once, five times.
    const probeThenBurst = async () => {
      try {
        await sleep(LOAD_ONSET_MS);
        const latencies = await probe(`${server.url}/healthcheck`, PROBE_SECONDS);
        // The median of five bursts: one burst's time swings twofold with the load generator's own pace.
        const bursts: number[] = [];
        for (let i = 0; i < 5; i++) {
          bursts.push(await idle.burst());
          await sleep(300);
        }
        return { latencies, burst: median(bursts) };
      } finally {
        measured();
      }
    };
    const [{ latencies, burst }] = await Promise.all([probeThenBurst(), load(`${server.url}/`, { shot: { pipelining: 1 }, until: done })]);
    const sorted = latencies.sort((a, b) => a - b);
    const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
    return { p50: quantile(0.5), p99: quantile(0.99), n: sorted.length, open: idle.open(), burst };
  } finally {
    idle.stop();
  }
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const row = (cells: string[]) => '| ' + cells.join(' | ') + ' |';

async function main(): Promise<void> {
  console.error(`bench: ${opts.method}, ${opts.duration} s x ${opts.rounds} rounds, ${opts.connections} connections, pipelining ${opts.pipelining}, ${pin ? 'servers on CPU 0, load on CPU 1' : 'not pinned'}; node ${process.version}`);
  const rows: string[][] = [];
  let failed = false;
  const guard = async (label: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      console.error(`bench: ${label} failed: ${(err as Error).message}`);
    }
  };

  /** One side-by-side scenario: `ours` against a bare node:http script (or, with --against, the same script in that checkout). */
  const sideBySide = (label: string, shot: Shot, oursScript: string, oursLabel: string, bareScript: string, bareLabel: string, probe = shot.path) =>
    guard(label, async () => {
      const other = opts.against && oursScript !== bareScript;
      if (other && !existsSync(join(opts.against, oursScript))) return void console.error(`bench: ${label}: ${oursScript} is not in ${opts.against}; skipped`);
      const ours = await start('cherrypy', oursScript, probe);
      let bare: Running;
      try {
        bare = other ? await start(oursLabel, oursScript, probe, opts.against) : await start(bareLabel, bareScript, probe);
      } catch (err) {
        await stop(ours); // the other side did not come up (an --against app without this path): leave nothing running
        throw err;
      }
      if (other) bareLabel = `${oursLabel} in ${opts.against}`;
      try {
        let theirShot = shot;
        if (shot.session) {
          const [mine, theirs] = await Promise.all([sessionCookie(ours.url + shot.path), sessionCookie(bare.url + theirShot.path)]);
          theirShot = { ...shot, headers: { cookie: theirs } };
          shot = { ...shot, headers: { cookie: mine } };
        }
        const { a, b, ratio } = await compare(shot, ours, bare, theirShot);
        rows.push([label, oursLabel, fmt(a.rps), fmt(a.p50, 1), fmt(a.p99, 1), fmt(ratio, 2) + 'x']);
        rows.push([label, bareLabel, fmt(b.rps), fmt(b.p50, 1), fmt(b.p99, 1), '1.00x']);
      } finally {
        await Promise.all([stop(ours), stop(bare)]);
      }
    });
  const wanted = (label: string, grown = false) => !opts.only || (opts.only === 'grown' ? grown : label.toLowerCase().includes(opts.only.toLowerCase()));
  // The same server on both sides: how far from 1.00x this run's noise and the method's bias go.
  if (wanted('calibration')) await sideBySide('calibration: bare against itself', { path: '/' }, 'bench/baseline-hello.ts', 'bare node:http', 'bench/baseline-hello.ts', 'bare node:http');
  if (wanted('GET /')) await sideBySide('GET /', { path: '/' }, 'run.ts', 'run.ts Landing', 'bench/baseline-hello.ts', 'bare node:http, same bytes');
  // As a browser or a balancer sends: every request waits for the answer before it. Each request then
  // costs both servers a read and a write of its own, and our extra work weighs more (bench/README.md).
  if (wanted('GET /, not pipelined')) await sideBySide('GET /, not pipelined', { path: '/', pipelining: 1 }, 'run.ts', 'run.ts Landing', 'bench/baseline-hello.ts', 'bare node:http, same bytes');
  if (wanted("GET / with a browser's headers")) await sideBySide("GET / with a browser's headers", { path: '/', headers: BROWSER }, 'run.ts', 'run.ts Landing', 'bench/baseline-hello.ts', 'bare node:http, same bytes');
  if (wanted('GET /logo.png')) await sideBySide('GET /logo.png', { path: '/logo.png' }, 'run.ts', 'prod.conf staticfile', 'bench/baseline-static.ts', 'bare node:http stat + stream');
  for (const [label, shot] of GROWN) {
    if (wanted(label, true)) await sideBySide(label, shot, 'bench/grown-app.ts', 'grown-app.ts', 'bench/baseline-grown.ts', 'bare node:http, same work', '/hello/probe');
  }
  // The same measurement against the bare server (it answers /healthcheck as it answers /): what the machine allows.
  const health = (label: string, script: string, target: boolean) => guard(`/healthcheck with idle connections (${label})`, async () => {
    const server = await start(label, script);
    try {
      const h = await healthUnderLoad(server);
      rows.push([`/healthcheck, ${opts.idle} idle keep-alive (each checked every 4 s) + ${opts.connections} clients on /`, `${label} (${h.open} still open, ${h.n} probes)`, '', fmt(h.p50, 1), fmt(h.p99, 1),
        target ? (h.p99 < 20 ? 'p99 < 20 ms' : 'p99 >= 20 ms') : 'the floor']);
      rows.push([`the same ${opts.idle} connections checked at one instant: until the last answer (median of 5)`, label, '', '', fmt(h.burst, 1), target ? '' : 'the floor']);
    } finally {
      await stop(server);
    }
  });
  if (wanted('healthcheck')) {
    await health('run.ts', 'run.ts', true);
    await health('bare node:http', 'bench/baseline-hello.ts', false);
  }
  if (opts.only) return printRows(rows, failed);

  await guard('start-up', async () => {
    const starts: number[] = [], rss: number[] = [];
    for (let i = 0; i < 3; i++) {
      const ours = await start('cherrypy run.ts', 'run.ts');
      starts.push(ours.startMs);
      await sleep(1000);
      rss.push(rssMb(ours.child.pid!));
      await stop(ours);
    }
    rows.push(['start to first 200', 'node --import tsx run.ts', '', fmt(median(starts)) + ' ms', '', median(starts) < 1500 ? 'under 1.5 s' : 'over 1.5 s']);
    rows.push(['idle RSS', 'after start, 1 s idle', '', fmt(median(rss), 1) + ' MB', '', median(rss) < 100 ? 'under 100 MB' : 'over 100 MB']);
  });

  printRows(rows, failed);
}

function printRows(rows: string[][], failed: boolean): void {
  console.log(row(['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'ratio / target']));
  console.log(row(['---', '---', '---:', '---:', '---:', '---']));
  for (const r of rows) console.log(row(r));
  if (failed) process.exit(1);
}

await main();
