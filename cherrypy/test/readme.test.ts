// The README's "Add a handler" snippet, pasted as a user would: it must
// type-check under the project's settings and answer what its comments say.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { serve, tempDir } from '../testing.ts';

const projectDir = fileURLToPath(new URL('../..', import.meta.url));

/** The first ```ts block after `heading` in the README. */
function snippetAfter(heading: string): string {
  const readme = readFileSync(join(projectDir, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  expect(at, heading).to.be.greaterThan(-1);
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  return match![1]!;
}

describe('README: the "Add a handler" snippet', function () {
  this.timeout(30000);
  // Written outside the project (whose files are read-only in the image), importing it by absolute path.
  const dir = tempDir('cp-readme-');
  const file = join(dir, 'run.ts');
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(file, [
    `import * as cherrypy from ${JSON.stringify(join(projectDir, 'cherrypy/index.ts'))};`,
    "class HealthCheck { index = cherrypy.expose(() => 'Yay<br />\\n'); } // as in run.ts",
    snippetAfter('### Add a handler'),
  ].join('\n'));

  it('type-checks as it is', () => {
    const tsc = spawnSync(join(projectDir, 'node_modules/.bin/tsc'), [
      '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2023', '--lib', 'es2023,esnext.decorators',
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--allowImportingTsExtensions',
      '--verbatimModuleSyntax', '--types', 'node', '--typeRoots', join(projectDir, 'node_modules/@types'), file,
    ], { encoding: 'utf8' });
    expect(tsc.status, tsc.stdout + tsc.stderr).to.equal(0);
  });

  it('answers what its comments say', async () => {
    const { Landing } = await import(pathToFileURL(file).href) as { Landing: new () => object };
    const site = await serve(new Landing(), '/', undefined, { defaults: true, global: { 'tools.trailing_slash.on': false } });
    expect((await site.get('/hello/ada')).body).to.equal('Hello ada');
    expect((await site.get('/hello')).body).to.equal('Hello world');
    expect(JSON.parse((await site.get('/api/')).body)).to.deep.equal({ version: 1 });
    expect(JSON.parse((await site.get('/orders?status=open')).body)).to.deep.equal([{ id: 1, status: 'open' }]);
    expect(JSON.parse((await site.get('/orders')).body)).to.have.lengthOf(2);
    expect((await site.get('/')).status).to.equal(200);
  });
});
