// The test runner as a user meets it: `npm test` narrowed by arguments, and a
// failing test that never hangs the run (testing.ts closes what a test opened).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import * as cherrypy from '../index.ts';
import { serve } from '../testing.ts';

const projectDir = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a command in the project; resolves with its exit code and output, or null on time-out. */
function run(command: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: projectDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

class App {
  @cherrypy.expose
  index() { return 'ok'; }
}

describe('testing: the runner and the helper', function () {
  this.timeout(60000);

  it('ends a run whose test failed before closing its server, with exit code 1, its temporary folder removed', async () => {
    // --no-exit: only the root hook's closing can let this mocha end.
    const { code, out } = await run('node_modules/.bin/mocha', ['--no-exit', 'cherrypy/test/fixtures/failing-readme-test.ts'], 30000);
    expect(out).to.contain('1 failing');
    expect(code).to.equal(1);
    const dir = /temporary folder: (\S+)/.exec(out)?.[1];
    expect(dir, out).to.be.a('string');
    expect(existsSync(dir!), 'tempDir() removed at the end of the run').to.equal(false);
  });

  it('runs only what the arguments ask for, without the coverage gate', async () => {
    const grep = await run('bash', ['testing.sh', '--grep', 'serves the scripted landing page'], 30000);
    expect(grep.code, grep.out).to.equal(0);
    expect(grep.out).to.contain('1 passing');
    expect(grep.out).not.to.contain('All files');
    const file = await run('bash', ['testing.sh', 'test.ts'], 30000);
    expect(file.code, file.out).to.equal(0);
    expect(file.out).to.contain('the app in run.ts');
    expect(file.out).not.to.contain('dispatch');
  });

  it('closes a server twice without complaint', async () => {
    const site = await serve(new App(), '/', undefined, { defaults: true });
    await Promise.all([site.close(), site.close()]);
    await site.close();
  });
});
