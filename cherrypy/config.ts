/**
 * Configuration: one table of known keys, two scopes, checked once at start.
 *
 * CherryPy keeps config in dicts keyed by dotted names ('server.socket_port',
 * 'tools.staticfile.on'). So does this module, but every key is declared in
 * SPEC below with its scope, type and default:
 *  - from TypeScript, `config.update({...})` is typed from SPEC, so a misspelt
 *    key or a wrong type is a compile error;
 *  - from an INI file or an untyped object, an unknown key or a bad value is a
 *    ConfigError naming the key and where it came from (file:line), raised
 *    before the server binds.
 *
 * Scopes, as in CherryPy:
 *  - global keys (server.*, log.*, environment) live in `config` (the global
 *    config) and a [global] section;
 *  - path keys (tools.*, request.*) may also appear in a [/path] section of an
 *    app's config, and apply to that path and everything below it: the deepest
 *    section wins. Global values of path keys are the defaults for every path.
 *
 * `environment: 'production'` (the default when NODE_ENV=production) switches
 * off tracebacks and parameter-mismatch details in error pages; the keys it sets
 * are applied only where the same update does not set them itself.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors.ts';
import { bodyBudget, connectionBudget, fileStreamBudget } from './memory.ts';
import { connectionsAllowedBy, openFileLimit } from './connections.ts';
import { parseIni, type Literal } from './ini.ts';
import { registeredTool, type ToolSettings } from './hooks.ts';
import { recordMethodConfig } from './expose.ts';
import type { Dispatcher } from './dispatch.ts';

type Tag = 'string' | 'bool' | 'int' | 'seconds' | 'port' | 'path' | 'strings' | 'headers' | 'types' | 'environment'
  | 'number' | 'list' | 'dict' | 'function' | 'dispatcher' | 'errorpage' | 'checked';

interface KeySpec {
  readonly scope: 'global' | 'path';
  readonly type: Tag;
  readonly default: unknown;
  readonly min?: number;
  readonly max?: number;
  /** For 'checked': what is wrong with a value, or undefined (a tool's own check, ToolOptions.checks). */
  readonly check?: (value: unknown) => string | undefined;
}

export const ENVIRONMENTS = ['development', 'staging', 'production', 'test_suite'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

const MiB = 1024 * 1024;

export const SPEC = {
  'environment': { scope: 'global', type: 'environment', default: 'development' },
  'server.socket_host': { scope: 'global', type: 'string', default: '127.0.0.1' },
  'server.socket_port': { scope: 'global', type: 'port', default: 8080 },
  'server.thread_pool': { scope: 'global', type: 'int', default: 10, min: 1 },
  'server.accepted_queue_size': { scope: 'global', type: 'int', default: 1000, min: 0 },
  'server.max_connections': { scope: 'global', type: 'int', default: Math.min(connectionBudget(), connectionsAllowedBy(openFileLimit())), min: 1 },
  'server.max_file_streams': { scope: 'global', type: 'int', default: fileStreamBudget(), min: 1 },
  'server.socket_queue_size': { scope: 'global', type: 'int', default: 511, min: 1 },
  'server.socket_timeout': { scope: 'global', type: 'seconds', default: 10, min: 0.05 },
  'server.request_timeout': { scope: 'global', type: 'seconds', default: 300, min: 0.05 },
  'server.shutdown_timeout': { scope: 'global', type: 'seconds', default: 5, min: 0 },
  'server.lame_duck': { scope: 'global', type: 'seconds', default: 0, min: 0 },
  'server.max_request_header_size': { scope: 'global', type: 'int', default: 16 * 1024, min: 1024 },
  'server.max_request_body_size': { scope: 'global', type: 'int', default: 100 * MiB, min: 0 },
  'server.min_body_rate': { scope: 'global', type: 'int', default: 1024, min: 0 },
  'server.max_buffered_body_size': { scope: 'global', type: 'int', default: bodyBudget(), min: 0 },
  'server.multipart_max_parts': { scope: 'global', type: 'int', default: 1000, min: 1 },
  'server.multipart_max_field_size': { scope: 'global', type: 'int', default: MiB, min: 1 },
  'server.multipart_memory_size': { scope: 'global', type: 'int', default: MiB, min: 0 },
  'server.multipart_tmp_dir': { scope: 'global', type: 'path', default: '' },
  'server.urlencoded_max_size': { scope: 'global', type: 'int', default: MiB, min: 0 },
  'server.urlencoded_max_fields': { scope: 'global', type: 'int', default: 1000, min: 1 },
  'log.screen': { scope: 'global', type: 'bool', default: true },
  'log.access_file': { scope: 'global', type: 'path', default: '' },
  'log.error_file': { scope: 'global', type: 'path', default: '' },
  'request.show_tracebacks': { scope: 'path', type: 'bool', default: true },
  'request.show_mismatched_params': { scope: 'path', type: 'bool', default: true },
  'response.timeout': { scope: 'path', type: 'seconds', default: 300, min: 0 },
  'tools.trailing_slash.on': { scope: 'path', type: 'bool', default: true },
  'tools.trailing_slash.missing': { scope: 'path', type: 'bool', default: true },
  'tools.trailing_slash.extra': { scope: 'path', type: 'bool', default: false },
  'tools.trailing_slash.status': { scope: 'path', type: 'int', default: 301, min: 300, max: 399 },
  'tools.staticfile.on': { scope: 'path', type: 'bool', default: false },
  'tools.staticfile.filename': { scope: 'path', type: 'path', default: '' },
  'tools.staticfile.root': { scope: 'path', type: 'path', default: '' },
  'tools.staticfile.content_types': { scope: 'path', type: 'types', default: {} },
  'tools.staticdir.on': { scope: 'path', type: 'bool', default: false },
  'tools.staticdir.dir': { scope: 'path', type: 'path', default: '' },
  'tools.staticdir.root': { scope: 'path', type: 'path', default: '' },
  'tools.staticdir.index': { scope: 'path', type: 'string', default: '' },
  'tools.staticdir.section': { scope: 'path', type: 'string', default: '' },
  'tools.staticdir.content_types': { scope: 'path', type: 'types', default: {} },
  'tools.json_in.on': { scope: 'path', type: 'bool', default: false },
  'tools.json_in.max_size': { scope: 'path', type: 'int', default: MiB, min: 0 },
  'tools.json_out.on': { scope: 'path', type: 'bool', default: false },
  'tools.response_headers.on': { scope: 'path', type: 'bool', default: false },
  'tools.response_headers.headers': { scope: 'path', type: 'headers', default: [] },
  'tools.gzip.on': { scope: 'path', type: 'bool', default: false },
  'tools.gzip.compress_level': { scope: 'path', type: 'int', default: 5, min: 1, max: 9 },
  'tools.gzip.mime_types': { scope: 'path', type: 'strings', default: ['text/html', 'text/plain'] },
  'tools.allow.on': { scope: 'path', type: 'bool', default: false },
  'tools.allow.methods': { scope: 'path', type: 'strings', default: ['GET', 'HEAD'] },
  'tools.proxy.on': { scope: 'path', type: 'bool', default: false },
  'tools.proxy.base': { scope: 'path', type: 'string', default: '' },
  'tools.proxy.local': { scope: 'path', type: 'string', default: 'X-Forwarded-Host' },
  'tools.proxy.remote': { scope: 'path', type: 'string', default: 'X-Forwarded-For' },
  'tools.proxy.scheme': { scope: 'path', type: 'string', default: 'X-Forwarded-Proto' },
  'tools.proxy.hops': { scope: 'path', type: 'int', default: 1, min: 1 },
} as const satisfies Record<string, KeySpec>;

type TypeOf<T extends Tag> =
  T extends 'string' | 'path' ? string :
  T extends 'bool' ? boolean :
  T extends 'int' | 'seconds' | 'port' ? number :
  T extends 'strings' ? string[] :
  T extends 'headers' ? [string, string][] :
  T extends 'types' ? Record<string, string> :
  T extends 'environment' ? Environment : never;

/** `error_page.404` (or `error_page.default`): a template file, or a function that writes the page. */
export type ErrorPage = string | ((page: { status: string; message: string; traceback: string; version: string }) => string);

/** Keys outside SPEC: the app's tools (hooks.ts), error pages and the dispatcher of a path. */
type ExtraPathSettings = ToolSettings & {
  [K in `error_page.${number}` | 'error_page.default']?: ErrorPage;
} & { 'request.dispatch'?: Dispatcher };

export type Key = keyof typeof SPEC;
/** Every setting, fully resolved (what the server reads). */
export type Settings = { readonly [K in Key]: TypeOf<(typeof SPEC)[K]['type']> } & Readonly<ExtraPathSettings>;
/** What `config.update` takes: any subset of the known keys. */
export type SettingsUpdate = { -readonly [K in Key]?: TypeOf<(typeof SPEC)[K]['type']> } & ExtraPathSettings;
type PathKey = { [K in Key]: (typeof SPEC)[K]['scope'] extends 'path' ? K : never }[Key];
/** A [/path] section, `_cp_config` or `@cherrypy.config()`: only path-scoped keys. */
export type PathSettings = { [K in PathKey]?: TypeOf<(typeof SPEC)[K]['type']> } & ExtraPathSettings;
/** An app config as quickstart/mount take it: `{ global: {...}, '/logo.png': {...} }`. */
export type AppConfig = { global?: SettingsUpdate } & { [path: `/${string}`]: PathSettings };

const PRESETS: Record<Environment, SettingsUpdate> = {
  development: {},
  staging: { 'request.show_tracebacks': false, 'request.show_mismatched_params': false },
  production: { 'request.show_tracebacks': false, 'request.show_mismatched_params': false },
  test_suite: { 'request.show_tracebacks': true, 'request.show_mismatched_params': true },
};

function defaults(): Settings {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SPEC)) out[key] = structuredClone(spec.default);
  if (process.env.NODE_ENV === 'production') {
    out.environment = 'production';
    Object.assign(out, PRESETS.production);
  }
  return out as Settings;
}

/** One key=value as it arrived, with where it came from and how to resolve relative paths. */
interface RawEntry { key: string; value: unknown; where: string; baseDir: string }

/** The spec of a key outside SPEC: a registered tool's switch or argument, an error page, the dispatcher. */
function extraSpec(key: string, where: string): KeySpec | undefined {
  const tool = /^tools\.([^.]+)\.(.+)$/.exec(key);
  if (tool) {
    const found = registeredTool(tool[1]!);
    if (!found) return undefined;
    if (tool[2] === 'on') return { scope: 'path', type: 'bool', default: false };
    const args = found.defaults as Record<string, unknown>;
    if (!(tool[2]! in args)) {
      const names = Object.keys(args);
      throw new ConfigError(`${where}: tools.${tool[1]} has no argument '${tool[2]}' (${names.length ? `it takes ${names.join(', ')}` : 'it takes none'})`);
    }
    const check = (found.checks as Record<string, ((value: unknown) => string | undefined) | undefined>)[tool[2]!];
    if (check) return { scope: 'path', type: 'checked', default: args[tool[2]!], check };
    return { scope: 'path', type: tagOf(args[tool[2]!]), default: args[tool[2]!] };
  }
  if (/^error_page\.(\d{3}|default)$/.test(key)) return { scope: 'path', type: 'errorpage', default: undefined };
  if (key === 'request.dispatch') return { scope: 'path', type: 'dispatcher', default: undefined };
  return undefined;
}

/** The type a tool argument's default implies for values given in config. */
function tagOf(value: unknown): Tag {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'function') return 'function';
  if (Array.isArray(value)) return 'list';
  return 'dict';
}

/** Checks one value against its key's spec and returns it normalised. */
function checkValue(key: string, value: unknown, where: string, scope: 'global' | 'path'): unknown {
  const spec = (SPEC as Record<string, KeySpec>)[key] ?? extraSpec(key, where);
  if (!spec) throw new ConfigError(`${where}: unknown config key '${key}'${suggest(key)}`);
  if (scope === 'path' && spec.scope === 'global') {
    throw new ConfigError(`${where}: '${key}' applies to the whole server; put it in [global], not in a path section`);
  }
  const bad = (want: string): never => {
    throw new ConfigError(`${where}: '${key}' must be ${want}, got ${JSON.stringify(value)}`);
  };
  const range = (n: number) => {
    if (spec.min !== undefined && n < spec.min) bad(`at least ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) bad(`at most ${spec.max}`);
    return n;
  };
  switch (spec.type) {
    case 'bool': return typeof value === 'boolean' ? value : bad('True or False');
    case 'string': case 'path':
      if (typeof value !== 'string') bad('a quoted string');
      if ((value as string).includes('\0')) bad('a string without NUL');
      return value;
    case 'int': return Number.isInteger(value) ? range(value as number) : bad('a whole number');
    case 'seconds': return typeof value === 'number' && Number.isFinite(value) ? range(value) : bad('a number of seconds');
    case 'port': return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535 ? value : bad('a port number 0-65535');
    case 'environment': return (ENVIRONMENTS as readonly unknown[]).includes(value) ? value : bad(`one of ${ENVIRONMENTS.join(', ')}`);
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? [...value] : bad('a list of strings');
    case 'headers':
      return Array.isArray(value) && value.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'string'))
        ? value.map((p) => [p[0], p[1]]) : bad("a list of (name, value) pairs, e.g. [('X-Frame-Options', 'DENY')]");
    case 'types':
      return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string')
        ? { ...(value as Record<string, string>) } : bad("a dict of extension to type, e.g. {'md': 'text/markdown'}");
    case 'number': return typeof value === 'number' && Number.isFinite(value) ? value : bad('a number');
    case 'list': return Array.isArray(value) ? value : bad('a list');
    case 'dict': return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : bad('a dict');
    case 'function': return typeof value === 'function' ? value : bad('a function (set it in code, not in a config file)');
    case 'dispatcher':
      return value !== null && typeof value === 'object' && typeof (value as Dispatcher).find === 'function'
        ? value : bad('a dispatcher, e.g. new cherrypy.dispatch.MethodDispatcher() (set it in code)');
    case 'errorpage': return typeof value === 'string' || typeof value === 'function' ? value : bad('a file name or a function');
    case 'checked': {
      const wrong = spec.check!(value);
      return wrong === undefined ? value : bad(wrong);
    }
  }
}

function suggest(key: string): string {
  let best = '', bestScore = Infinity;
  for (const known of Object.keys(SPEC)) {
    const d = editDistance(key, known);
    if (d < bestScore) { best = known; bestScore = d; }
  }
  return bestScore <= 3 ? ` (did you mean '${best}'?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Validates a section's entries into a settings object. Relative static paths
 * resolve against the folder of the file that named them (for code: the current
 * directory); a relative filename or dir resolves against the section's root.
 */
function checkSection(entries: RawEntry[], scope: 'global' | 'path'): SettingsUpdate {
  const out: Record<string, unknown> = {};
  for (const e of entries) out[e.key] = checkValue(e.key, e.value, e.where, scope);
  const env = out.environment as Environment | undefined;
  if (env) for (const [k, v] of Object.entries(PRESETS[env])) if (!(k in out)) out[k] = v;
  const baseDir = entries[0]?.baseDir ?? process.cwd(); // all entries of a section share it
  for (const tool of ['staticfile', 'staticdir'] as const) {
    const rootKey = `tools.${tool}.root`;
    const targetKey = tool === 'staticfile' ? 'tools.staticfile.filename' : 'tools.staticdir.dir';
    if (out[rootKey]) out[rootKey] = resolve(baseDir, out[rootKey] as string);
    if (out[targetKey]) out[targetKey] = resolve((out[rootKey] as string) || baseDir, out[targetKey] as string);
  }
  for (const key of ['log.access_file', 'log.error_file'] as const) {
    if (out[key]) out[key] = resolve(baseDir, out[key] as string);
  }
  for (const key of Object.keys(out)) {
    if (key.startsWith('error_page.') && typeof out[key] === 'string') out[key] = resolve(baseDir, out[key] as string);
  }
  return out as SettingsUpdate;
}

function entriesOf(obj: object, where: string): RawEntry[] {
  return Object.entries(obj).map(([key, value]) => ({ key, value, where, baseDir: process.cwd() }));
}

/** Validates path settings given in code (`_cp_config`, `@cherrypy.config()`); `where` names them in errors. */
export function checkPathSettings(settings: object, where: string): PathSettings {
  return checkSection(entriesOf(settings, where), 'path') as PathSettings;
}

/** Validates global settings given in code (applying an environment preset); `where` names the caller in errors. */
export function checkSettings(settings: SettingsUpdate, where = 'config.update()'): SettingsUpdate {
  return checkSection(entriesOf(settings, where), 'global');
}

/** A config source read into sections: `global` plus URL paths, each already validated. */
export interface ParsedConfig { global: SettingsUpdate; paths: Map<string, PathSettings> }

/** Normalises a section path: '/a/b/' and '/a//b' are both '/a/b'; '/' stays '/'. */
export function sectionPath(name: string): string {
  return '/' + name.split('/').filter(Boolean).join('/');
}

function fromSections(sections: { name: string; where: string; entries: RawEntry[] }[]): ParsedConfig {
  const parsed: ParsedConfig = { global: {}, paths: new Map() };
  for (const section of sections) {
    if (section.name === 'global') {
      Object.assign(parsed.global, checkSection(section.entries, 'global'));
    } else if (section.name.startsWith('/')) {
      parsed.paths.set(sectionPath(section.name), checkSection(section.entries, 'path') as PathSettings);
    } else {
      throw new ConfigError(`${section.where}: section [${section.name}] must be [global] or a URL path such as [/static]`);
    }
  }
  return parsed;
}

/** Reads an INI config file (CherryPy's format). */
export function readConfigFile(file: string): ParsedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const baseDir = dirname(resolve(file));
  return fromSections(parseIni(text, file).map((s) => ({
    name: s.name,
    where: s.where,
    entries: s.entries.map((e) => ({ key: e.key, value: e.value as Literal, where: e.where, baseDir })),
  })));
}

/** Reads a config given as a file name or an object of sections. */
export function readConfig(source: string | AppConfig | undefined, what = 'config'): ParsedConfig {
  if (source === undefined) return { global: {}, paths: new Map() };
  if (typeof source === 'string') return readConfigFile(source);
  return fromSections(Object.entries(source).map(([name, body]) => {
    if (body === null || typeof body !== 'object') throw new ConfigError(`${what}: section '${name}' must be an object of settings`);
    return { name, where: `${what} [${name}]`, entries: entriesOf(body, `${what} [${name}]`) };
  }));
}

/**
 * The global config: `cherrypy.config`. `update` takes settings (typed) or a
 * file name, whose [global] section is applied, as in CherryPy.
 */
export class GlobalConfig {
  private values: Settings = defaults();

  update(settings: SettingsUpdate | string): void {
    const next = typeof settings === 'string' ? readConfigFile(settings).global : checkSettings(settings);
    this.values = { ...this.values, ...next };
  }

  get<K extends Key>(key: K): Settings[K] {
    return this.values[key];
  }

  /** A frozen copy of every setting, with `overrides` applied on top. */
  snapshot(overrides: SettingsUpdate = {}): Settings {
    return Object.freeze({ ...this.values, ...overrides });
  }

  /** Back to the defaults (for tests). */
  reset(): void {
    this.values = defaults();
  }
}

type ConfigDecorator = <T>(target: T, context: ClassDecoratorContext | ClassMethodDecoratorContext) => T;

/**
 * `@cherrypy.config({...})` on a class or a handler: path settings for it and
 * everything below it, as CherryPy's decorator and `_cp_config` give them
 * (checked when the app is mounted).
 */
function configDecorator(settings: PathSettings): ConfigDecorator {
  return (target, context) => {
    recordMethodConfig(context, settings as Record<string, unknown>, '@cherrypy.config()');
    return target;
  };
}

const globalConfig = new GlobalConfig();

/** `cherrypy.config`: the global config (`update`, `get`), and the decorator `@cherrypy.config({...})`. */
export const config: typeof configDecorator & Pick<GlobalConfig, 'update' | 'get' | 'snapshot' | 'reset'> = Object.assign(configDecorator, {
  update: (settings: SettingsUpdate | string) => globalConfig.update(settings),
  get: <K extends Key>(key: K) => globalConfig.get(key),
  snapshot: (overrides?: SettingsUpdate) => globalConfig.snapshot(overrides),
  reset: () => globalConfig.reset(),
});

/** The defaults alone, ignoring every update (for tests that must not see the app's settings). */
export function defaultSettings(overrides: SettingsUpdate = {}): Settings {
  return Object.freeze({ ...defaults(), ...overrides });
}
