// The engine as a user meets it: programs started as child processes, real
// signals, exit codes, start-up lines and log files.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import '../../run.ts';
import { tempDir } from '../testing.ts';

const projectDir = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('fixtures/app.ts', import.meta.url));
const poolFixture = fileURLToPath(new URL('fixtures/pool.ts', import.meta.url));
const tmp = tempDir('cp-engine-');

interface Program {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; ms: number }>;
  signalledAt: number;
}

/** Starts `node --import tsx script`; resolves once it logged its URL (or exited). */
function start(script: string, env: Record<string, string> = {}): Promise<Program> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: projectDir, env: { ...process.env, NODE_ENV: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '', err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const program: Program = {
    child, port: 0, stdout: () => out, stderr: () => err, signalledAt: 0,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve({ code, ms: Date.now() - program.signalledAt }))),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { clearInterval(poll); child.kill('SIGKILL'); reject(new Error(`no start line in 10 s:\n${err}`)); }, 10000);
    // The start line goes to stderr, or only to the error log file when log.screen is off.
    const poll = setInterval(() => {
      const logged = err + (env.ERROR_FILE && existsSync(env.ERROR_FILE) ? readFileSync(env.ERROR_FILE, 'utf8') : '');
      const match = /Serving on http:\/\/[^\s]+:(\d+)/.exec(logged);
      if (match) {
        program.port = Number(match[1]);
        done();
      }
    }, 20);
    const done = () => { clearTimeout(timer); clearInterval(poll); resolve(program); };
    child.on('exit', done);
  });
}

/** Retries `check` for up to 2 s: log lines are written in batches. */
async function eventually(check: () => void): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return check();
    } catch (err) {
      if (i >= 100) throw err;
      await sleep(20);
    }
  }
}

function signal(program: Program, name: NodeJS.Signals): void {
  program.signalledAt = Date.now();
  program.child.kill(name);
}

function get(port: number, path: string, agent = false): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: agent ? undefined : false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('engine: run.ts as a program', function () {
  this.timeout(30000);

  it('is not started by importing run.ts', () => {
    expect(cherrypy.engine.state).to.equal('STOPPED');
    expect(cherrypy.engine.server).to.equal(undefined);
  });

  it('serves /, /healthcheck and /logo.png, logs visits, and exits 0 on SIGTERM', async () => {
    const app = await start('run.ts', { PORT: '0' });
    try {
      expect(app.stderr()).to.match(/ENGINE Serving on http:\/\/0\.0\.0\.0:\d+/);
      expect(app.stderr()).to.contain('ENGINE Route /healthcheck/');
      expect(app.stderr()).to.match(/ENGINE Static \/logo\.png -> .*logo\.png/);
      expect((await get(app.port, '/')).body).to.equal('<html><body>scripted landing</body></html>');
      expect((await get(app.port, '/healthcheck')).body).to.equal('Yay<br />\n');
      const logo = await get(app.port, '/logo.png');
      expect(logo.headers['content-type']).to.equal('image/png');
    } finally {
      signal(app, 'SIGTERM');
    }
    const { code, ms } = await app.exited;
    expect(code).to.equal(0);
    expect(ms).to.be.below(3000);
    expect(app.stdout()).to.match(/"GET \/healthcheck HTTP\/1\.1" 200 10 "" ""/);
    expect(app.stderr()).to.contain('ENGINE Bus STOPPED');
  });

  it('exits 70 with one clear line when the port is taken', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const app = await start(fixture, { PORT: String(port) });
      const { code } = await app.exited;
      expect(code).to.equal(70);
      expect(app.stderr()).to.match(/ENGINE Error: port 127\.0\.0\.1:\d+ is already in use\. Exiting\./);
    } finally {
      blocker.close();
    }
  });

  it('exits 78 naming file:line for a bad config file, before binding', async () => {
    const conf = join(tmp, 'bad.conf');
    writeFileSync(conf, '[global]\nserver.thread_pool = 100\n\n[/logo.png]\ntools.staticfile.on = yes\n');
    const app = await start(fixture, { CONF: conf });
    const { code } = await app.exited;
    expect(code).to.equal(78);
    expect(app.stderr()).to.contain(`Config error: ${conf}:5: tools.staticfile.on: 'yes' is not a literal`);
    expect(app.stderr()).not.to.contain('Serving on');
  });
});

describe('engine: graceful shutdown', function () {
  this.timeout(30000);

  it('finishes requests in flight, closes idle keep-alive connections at once, refuses new ones, exits 0', async () => {
    const app = await start(fixture, { SOCKET_TIMEOUT: '65' });
    const idle = connect(app.port, '127.0.0.1');
    await new Promise((r) => idle.once('connect', r));
    idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => idle.once('data', r));
    const idleClosed = new Promise((r) => idle.once('close', () => r(Date.now())));
    const inFlight = get(app.port, '/slow/800');
    await sleep(100);
    signal(app, 'SIGTERM');
    expect(await idleClosed as number - app.signalledAt).to.be.below(500);
    await sleep(50);
    let refused = false;
    await get(app.port, '/').catch(() => (refused = true));
    expect(refused).to.equal(true);
    const res = await inFlight;
    expect([res.status, res.body, res.headers.connection]).to.deep.equal([200, 'slept 800', 'close']);
    const { code, ms } = await app.exited;
    expect(code).to.equal(0);
    expect(ms).to.be.below(3000); // not the 65 s keep-alive
  });

  it('with server.lame_duck, keeps serving for that long (readiness says 503), then drains and exits 0', async () => {
    const app = await start(fixture, { LAME_DUCK: '1' });
    signal(app, 'SIGTERM');
    await sleep(200);
    const served = await get(app.port, '/');
    expect([served.status, served.body, served.headers.connection]).to.deep.equal([200, 'fixture', 'close']);
    expect((await get(app.port, '/ready')).status).to.equal(503);
    const { code, ms } = await app.exited;
    expect(code).to.equal(0);
    expect(ms).to.be.within(1000, 4000);
    expect(app.stderr()).to.contain('lame duck for 1 s');
  });

  it('cuts what is left at shutdown_timeout, logs it, and says so in the exit code', async () => {
    const app = await start(fixture, { SHUTDOWN_TIMEOUT: '0.5' });
    const stuck = get(app.port, '/slow/20000').catch((err: Error) => err);
    await sleep(100);
    signal(app, 'SIGTERM');
    const { code, ms } = await app.exited;
    expect(code).to.equal(1);
    expect(ms).to.be.within(400, 3000);
    expect(app.stderr()).to.contain('Cut off at shutdown_timeout: GET /slow/20000');
    expect(await stuck).to.be.instanceOf(Error);
  });

  it('exits at once on a second signal', async () => {
    const app = await start(fixture, { SHUTDOWN_TIMEOUT: '20' });
    const stuck = get(app.port, '/slow/20000').catch((err: Error) => err);
    await sleep(100);
    signal(app, 'SIGINT');
    await sleep(200);
    signal(app, 'SIGTERM');
    const { code, ms } = await app.exited;
    expect(code).to.equal(130);
    expect(ms).to.be.below(2000);
    expect(app.stderr()).to.contain('SIGTERM again: exiting now');
    await stuck;
  });
});

describe('engine: log files', function () {
  this.timeout(30000);

  it('appends to log.access_file and log.error_file, and reopens them on SIGUSR1', async () => {
    const access = join(tmp, 'logs', 'access.log');
    const errors = join(tmp, 'logs', 'error.log');
    const app = await start(fixture, { ACCESS_FILE: access, ERROR_FILE: errors, SCREEN: 'off' });
    try {
      expect(app.port).to.be.above(0);
      await get(app.port, '/');
      await eventually(() => expect(readFileSync(access, 'utf8')).to.match(/"GET \/ HTTP\/1\.1" 200 7 /));
      expect(readFileSync(errors, 'utf8')).to.contain('ENGINE Serving on');
      expect(app.stdout()).to.equal('');
      renameSync(access, access + '.1');
      app.child.kill('SIGUSR1');
      await sleep(200);
      await get(app.port, '/ready');
      await eventually(() => expect(readFileSync(access, 'utf8')).to.match(/"GET \/ready HTTP\/1\.1" 200 5 /));
      expect(readFileSync(access + '.1', 'utf8')).not.to.contain('/ready');
    } finally {
      signal(app, 'SIGTERM');
    }
    expect((await app.exited).code).to.equal(0);
  });
});

describe('engine: the bus, plugins and several apps', function () {
  this.timeout(30000);
  const events = (app: Program) => app.stdout().split('\n').filter((l) => l.startsWith('EVENT ')).map((l) => l.slice(6));

  it('opens the pool before serving, serves two mounted apps, and closes the pool after the drain', async () => {
    const app = await start(poolFixture);
    expect(events(app)[0]).to.equal('pool opened');
    expect((await get(app.port, '/')).body).to.equal('main, pool open');
    const api = await get(app.port, '/api/', false);
    expect(JSON.parse(api.body)).to.deep.equal({ app: 'api', self: `http://127.0.0.1:${app.port}/api/items?page=2` });
    expect(app.stderr()).to.contain('ENGINE Route /api/');
    await sleep(450);
    expect(events(app)).to.include('monitor tick');
    const inFlight = get(app.port, '/slow/600');
    await sleep(100);
    signal(app, 'SIGTERM');
    expect((await inFlight).body).to.equal('slept 600, pool open');
    const { code } = await app.exited;
    expect(code).to.equal(0);
    const order = events(app).filter((e) => e !== 'monitor tick');
    expect(order).to.deep.equal(['pool opened', 'slow request done', 'pool closed']);
  });

  it('a stop listener that hangs is cut at its deadline, logged, and the exit code says so', async () => {
    const app = await start(poolFixture, { STOP_HANGS: '1', SHUTDOWN_TIMEOUT: '0.3' });
    signal(app, 'SIGTERM');
    const { code } = await app.exited;
    expect(code).to.equal(1);
    expect(app.stderr()).to.contain("a 'stop' listener (PoolPlugin.stop) did not finish within 0.3 s");
  });

  it('a start listener that fails stops the start: one line, exit 70, the port never bound', async () => {
    const app = await start(poolFixture, { START_FAILS: '1' });
    const { code } = await app.exited;
    expect(code).to.equal(70);
    expect(app.stderr()).to.contain('the database is unreachable');
    expect(app.stderr()).not.to.contain('Serving on');
  });
});
