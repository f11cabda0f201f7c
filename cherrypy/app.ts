/**
 * Applications and the tree they are mounted in (CherryPy's `cherrypy.tree`).
 *
 * An Application is a root object mounted at a script name ('' for '/'), plus
 * its [/path] config sections. Each section's settings are merged once, at
 * mount: global settings, then every ancestor section, then the section itself
 * (the deepest wins). A request then only looks up the deepest section that is
 * a prefix of its path: no merging per request.
 */
import { existsSync, statSync } from 'node:fs';
import { ConfigError } from './errors.ts';
import { sectionPath, type ParsedConfig, type Settings } from './config.ts';

export interface PathConfig {
  settings: Settings;
  /** Segments of the section that declared `tools.staticdir.dir` (the staticdir branch starts after them). */
  staticdirDepth: number;
}

export class Application {
  /** Segments of the mount point: [] for '/', ['api'] for '/api'. */
  readonly mountSegments: string[];
  readonly scriptName: string;
  private readonly sections = new Map<string, PathConfig>();
  private readonly deepest: number;
  readonly rootConfig: PathConfig;
  /** For the start-up banner: each static route and the file or folder behind it. */
  readonly staticRoutes: string[] = [];

  constructor(readonly root: object, scriptName: string, paths: ParsedConfig['paths'], globals: Settings) {
    if (root === null || typeof root !== 'object') throw new ConfigError('mount: the root must be an object (an instance of your app class)');
    this.scriptName = sectionPath(scriptName) === '/' ? '' : sectionPath(scriptName);
    this.mountSegments = this.scriptName.split('/').filter(Boolean);
    const names = [...paths.keys()].sort((a, b) => depth(a) - depth(b));
    for (const name of names) {
      const parent = this.parentOf(name) ?? { settings: globals, staticdirDepth: 0 };
      const own = paths.get(name)!;
      const settings = Object.freeze({ ...parent.settings, ...own }) as Settings;
      const staticdirDepth = 'tools.staticdir.dir' in own ? depth(name) : parent.staticdirDepth;
      checkStaticSettings(name, settings);
      this.sections.set(name, { settings, staticdirDepth });
      if (own['tools.staticfile.on']) {
        const file = settings['tools.staticfile.filename'];
        this.staticRoutes.push(`${this.scriptName}${name} -> ${file}${existsSync(file) ? '' : ' (missing: answers 404)'}`);
      }
      if (own['tools.staticdir.on']) {
        const dir = settings['tools.staticdir.dir'];
        this.staticRoutes.push(`${this.scriptName}${name}/ -> ${dir}/${isFolder(dir) ? '' : ' (missing: answers 404)'}`);
      }
    }
    this.rootConfig = this.sections.get('/') ?? { settings: globals, staticdirDepth: 0 };
    checkStaticSettings('global', this.rootConfig.settings);
    this.deepest = Math.max(0, ...names.map(depth));
  }

  /** The merged config for a path below the mount point. */
  configFor(segments: readonly string[]): PathConfig {
    let found = this.rootConfig;
    const limit = Math.min(segments.length, this.deepest);
    let prefix = '';
    for (let i = 0; i < limit; i++) {
      prefix += '/' + segments[i];
      const section = this.sections.get(prefix);
      if (section) found = section;
    }
    return found;
  }

  private parentOf(name: string): PathConfig | undefined {
    const parts = name.split('/').filter(Boolean);
    for (let n = parts.length - 1; n >= 0; n--) {
      const section = this.sections.get('/' + parts.slice(0, n).join('/'));
      if (section) return section;
    }
    return undefined;
  }
}

function isFolder(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function depth(name: string): number {
  return name.split('/').filter(Boolean).length;
}

function checkStaticSettings(section: string, settings: Settings): void {
  if (settings['tools.staticfile.on'] && !settings['tools.staticfile.filename']) {
    throw new ConfigError(`[${section}]: tools.staticfile.on needs tools.staticfile.filename`);
  }
  if (settings['tools.staticdir.on'] && !settings['tools.staticdir.dir']) {
    throw new ConfigError(`[${section}]: tools.staticdir.on needs tools.staticdir.dir`);
  }
}

/** All mounted applications; a request goes to the one with the longest matching script name. */
export class Tree {
  readonly apps: Application[] = [];

  mount(app: Application): Application {
    const i = this.apps.findIndex((a) => a.scriptName === app.scriptName);
    if (i >= 0) this.apps.splice(i, 1);
    this.apps.push(app);
    this.apps.sort((a, b) => b.mountSegments.length - a.mountSegments.length);
    return app;
  }

  /** The app for these path segments, or undefined when nothing is mounted there. */
  find(segments: readonly string[]): Application | undefined {
    for (const app of this.apps) {
      const mount = app.mountSegments;
      let i = 0;
      while (i < mount.length && mount[i] === segments[i]) i++;
      if (i === mount.length) return app;
    }
    return undefined;
  }
}
