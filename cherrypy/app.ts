/**
 * Applications and the tree they are mounted in (CherryPy's `cherrypy.tree`).
 *
 * An Application is a root object mounted at a script name ('' for '/'), plus
 * its [/path] config sections. Each section's settings are merged once, at
 * mount: global settings, then every ancestor section, then the section itself
 * (the deepest wins). A request then only looks up the deepest section that is
 * a prefix of its path: no merging per request.
 *
 * Objects may carry config too (CherryPy's `_cp_config`, `@cherrypy.config()`,
 * a tool's decorator): it applies to the object's path and below, after the
 * path sections, along the walk from the root to the handler. All of it is
 * checked at mount, so a bad key fails the start; merged settings are worked
 * out once per route (pipeline.ts keeps them).
 */
import { existsSync, statSync } from 'node:fs';
import { ConfigError } from './errors.ts';
import { checkPathSettings, config, readConfig, sectionPath, type AppConfig, type ParsedConfig, type PathSettings, type Settings } from './config.ts';
import { handlerConfig, isExposed, objectConfig, type ObjectConfig } from './expose.ts';
import { isNode, listRoutes, reachableMembers, type Found } from './dispatch.ts';

export interface PathConfig {
  settings: Settings;
}

/** Config given in code, checked once (at mount), by the object that carried it. */
const checked = new WeakMap<object, PathSettings>();

function checkedConfig(key: object, config: ObjectConfig): PathSettings {
  let settings = checked.get(key);
  if (!settings) {
    settings = checkPathSettings(config.settings, config.where);
    checked.set(key, settings);
  }
  return settings;
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

  constructor(readonly root: object, scriptName: string, readonly paths: ParsedConfig['paths'], globals: Settings) {
    if (root === null || typeof root !== 'object') throw new ConfigError('mount: the root must be an object (an instance of your app class)');
    this.scriptName = sectionPath(scriptName) === '/' ? '' : sectionPath(scriptName);
    this.mountSegments = this.scriptName.split('/').filter(Boolean);
    const names = [...paths.keys()].sort((a, b) => depth(a) - depth(b));
    for (const name of names) {
      const parent = this.parentOf(name) ?? { settings: globals };
      const own = paths.get(name)!;
      // tools.staticdir.section: where `dir` was declared (the folder maps the path below it), as CherryPy records it.
      const section = 'tools.staticdir.dir' in own ? { 'tools.staticdir.section': name } : {};
      const settings = Object.freeze({ ...parent.settings, ...own, ...section }) as Settings;
      checkStaticSettings(name, settings);
      this.sections.set(name, { settings });
      if (own['tools.staticfile.on']) {
        const file = settings['tools.staticfile.filename'];
        this.staticRoutes.push(`${this.scriptName}${name} -> ${file}${existsSync(file) ? '' : ' (missing: answers 404)'}`);
      }
      if (own['tools.staticdir.on']) {
        const dir = settings['tools.staticdir.dir'];
        this.staticRoutes.push(`${this.scriptName}${name}/ -> ${dir}/${isFolder(dir) ? '' : ' (missing: answers 404)'}`);
      }
    }
    this.rootConfig = this.sections.get('/') ?? { settings: globals };
    checkStaticSettings('global', this.rootConfig.settings);
    this.deepest = Math.max(0, ...names.map(depth));
    checkObjectConfigs(root);
  }

  /**
   * `settings` (a path's) with the config of the objects along `found`'s walk
   * and of its handler merged in; the same object when there is none.
   */
  withObjectConfig(settings: Settings, found: Found): Settings {
    let merged: Record<string, unknown> | undefined;
    for (const node of found.trail) {
      const config = objectConfig(node);
      if (config) merged = { ...(merged ?? settings), ...checkedConfig(node, config) };
    }
    const own = handlerConfig(found.owner, found.name, found.handler);
    if (own) merged = { ...(merged ?? settings), ...checkedConfig(found.handler, own) };
    return merged ? Object.freeze(merged) as Settings : settings;
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

  /** The paths this app answers, for the start-up banner: each path's own dispatcher decides what it lists (dispatch.ts listRoutes). */
  routes(): string[] {
    return listRoutes(this.root, (names) => this.configFor(names).settings['request.dispatch']).map((route) => this.scriptName + route);
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

/**
 * Checks the config every object of the tree carries, and that of its exposed
 * handlers, so that a bad key in `_cp_config` or a decorator fails at start.
 */
function checkObjectConfigs(root: object, seen = new Set<object>()): void {
  if (seen.has(root) || seen.size > 1000) return;
  seen.add(root);
  const config = objectConfig(root);
  if (config) checkedConfig(root, config);
  for (const [name, value] of reachableMembers(root)) {
    if (typeof value === 'function') {
      const own = isExposed(root, name, value) ? handlerConfig(root, name, value) : undefined;
      if (own) checkedConfig(value, own);
    } else if (isNode(value)) {
      checkObjectConfigs(value, seen);
    }
  }
}

function isFolder(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** How many segments a section path has ('/' has none). */
export function depth(name: string): number {
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

/**
 * All mounted applications (`cherrypy.tree`); a request goes to the one with
 * the longest matching script name.
 *
 *   cherrypy.tree.mount(new Api(), '/api', { '/': { 'tools.json_out.on': true } });
 *
 * `mount(root, scriptName, config)` takes the config as quickstart does (an
 * INI file or an object of sections; its [global] section updates the global
 * config). The apps are set up again with the global config of the moment
 * the engine starts.
 */
export class Tree {
  readonly apps: Application[] = [];

  mount(root: object, scriptName?: string, appConfig?: string | AppConfig): Application;
  mount(app: Application): Application;
  mount(rootOrApp: object, scriptName = '', appConfig?: string | AppConfig): Application {
    if (rootOrApp instanceof Application) return this.add(rootOrApp);
    const parsed = readConfig(appConfig, `tree.mount config`);
    config.update(parsed.global);
    return this.add(new Application(rootOrApp, scriptName, parsed.paths, config.snapshot()));
  }

  private add(app: Application): Application {
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
