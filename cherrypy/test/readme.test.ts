// The README's code, pasted as a user would: the "Add a handler" snippet must
// type-check under the project's settings and answer what its comments say;
// the sessions, uploads and extension snippets must type-check (their
// behaviour has its own tests: state.test.ts, extend.test.ts).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { serve, tempDir } from '../testing.ts';

const projectDir = fileURLToPath(new URL('../..', import.meta.url));

/** The ```ts blocks of the README's section `heading`, up to the next section of its level. */
function snippetsIn(heading: string): string[] {
  const readme = readFileSync(join(projectDir, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  expect(at, heading).to.be.greaterThan(-1);
  const level = heading.slice(0, heading.indexOf(' ') + 1);
  const end = readme.indexOf(`\n${level}`, at + heading.length);
  const section = readme.slice(at, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** Type-checks `file` as strictly as the project (tsconfig.json), outside it. */
function typeCheck(file: string): void {
  const tsc = spawnSync(join(projectDir, 'node_modules/.bin/tsc'), [
    '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2023', '--lib', 'es2023,esnext.decorators',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--allowImportingTsExtensions',
    '--verbatimModuleSyntax', '--types', 'node', '--typeRoots', join(projectDir, 'node_modules/@types'), file,
  ], { encoding: 'utf8' });
  expect(tsc.status, tsc.stdout + tsc.stderr).to.equal(0);
}

const cherrypyDir = join(projectDir, 'cherrypy');

/**
 * `lines` as a module of a folder of their own, after the import a user's
 * file makes. Written outside the project (whose files are read-only in the
 * image), importing it by absolute path.
 */
function pasted(name: string, lines: string[]): string {
  const dir = tempDir('cp-readme-');
  const file = join(dir, name);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(file, [`import * as cherrypy from ${JSON.stringify(join(cherrypyDir, 'index.ts'))};`, ...lines].join('\n'));
  return file;
}

describe('README: the "Add a handler" snippet', function () {
  this.timeout(30000);
  const file = pasted('run.ts', [
    "class HealthCheck { index = cherrypy.expose(() => 'Yay<br />\\n'); } // as in run.ts",
    snippetsIn('### Add a handler')[0]!,
  ]);

  it('type-checks as it is', () => typeCheck(file));

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

describe('README: the sessions, uploads and extension snippets', function () {
  this.timeout(30000);

  it('type-check together, with what their comments say is yours declared', () => {
    const [login, upload] = snippetsIn('## Users: cookies, sessions, uploads');
    const [tool, resource, pool] = snippetsIn('## Extend it');
    typeCheck(pasted('grown.ts', [
      "import { randomUUID } from 'node:crypto';",
      "import { createWriteStream } from 'node:fs';",
      "import { join } from 'node:path';",
      "import { pipeline } from 'node:stream/promises';",
      'declare function checkPassword(username: string, secret: string): boolean;',
      'declare const db: { get(id: string): unknown; list(): unknown[]; put(id: string, value: unknown): unknown; delete(id: string): void };',
      'declare const pool: { connect(): Promise<void>; end(): Promise<void>; prune(): void };',
      login!,
      `class Uploads {\n${upload!}}`,
      // The project's own path to hooks.ts, as the snippet would name it from run.ts.
      tool!.replace("'./cherrypy/hooks.ts'", JSON.stringify(join(cherrypyDir, 'hooks.ts'))),
      resource!,
      pool!,
      'export { Account, Uploads };',
    ]));
  });
});
