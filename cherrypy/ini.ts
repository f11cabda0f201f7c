/**
 * The INI format CherryPy reads config files in, with values as Python literals.
 *
 *   [global]
 *   server.thread_pool = 100        # 10 is default
 *   [/logo.png]
 *   tools.staticfile.on = True
 *   tools.staticfile.filename = "logo.png"
 *
 * Sections are `[global]` or a URL path. Keys keep their case; `=` or `:` separate
 * key and value; lines starting with `#` or `;` are comments, and so is a `#` or `;`
 * after whitespace outside a string. An indented line continues the previous value
 * (for long lists). Values are Python literals only: True, False, None, numbers,
 * quoted strings, and lists, tuples and dicts of those. CherryPy evaluates more
 * (names, calls, arithmetic); arbitrary expressions in a config file are a
 * foot-gun, so here they are an error that names file:line.
 */
import { ConfigError } from './errors.ts';

export type Literal = null | boolean | number | string | Literal[] | { [key: string]: Literal };

export interface IniEntry {
  key: string;
  value: Literal;
  /** "file:line", for error messages. */
  where: string;
}

export interface IniSection {
  name: string;
  where: string;
  entries: IniEntry[];
}

export function parseIni(text: string, file: string): IniSection[] {
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  let pending: { key: string; value: string; line: number } | undefined;

  const flush = () => {
    if (!pending) return;
    const where = `${file}:${pending.line}`;
    if (!current) throw new ConfigError(`${where}: '${pending.key}' comes before any [section]`);
    if (current.entries.some((e) => e.key === pending!.key)) {
      throw new ConfigError(`${where}: '${pending.key}' is set twice in [${current.name}]`);
    }
    current.entries.push({ key: pending.key, value: parseLiteral(pending.value, `${where}: ${pending.key}`), where });
    pending = undefined;
  };

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (/^\s/.test(line) && pending) {
      pending.value += '\n' + trimmed;
      continue;
    }
    flush();
    const where = `${file}:${i + 1}`;
    if (trimmed.startsWith('[')) {
      const match = /^\[([^\]]+)\]\s*(?:[#;].*)?$/.exec(trimmed);
      if (!match) throw new ConfigError(`${where}: malformed section header ${trimmed}`);
      const name = match[1]!.trim();
      if (sections.some((s) => s.name === name)) throw new ConfigError(`${where}: section [${name}] appears twice`);
      current = { name, where, entries: [] };
      sections.push(current);
      continue;
    }
    const match = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (!match) throw new ConfigError(`${where}: expected 'key = value', got ${trimmed}`);
    pending = { key: match[1]!, value: match[2]!, line: i + 1 };
  }
  flush();
  return sections;
}

/** Parses one Python literal; `context` prefixes error messages ("file:line: key"). */
export function parseLiteral(source: string, context: string): Literal {
  const parser = new LiteralParser(source, context);
  if (parser.atEnd()) return ''; // an empty value is '' in CherryPy too
  const value = parser.value();
  if (!parser.atEnd()) parser.fail('unexpected text after the value');
  return value;
}

/** Other languages' spellings of Python's three named literals: `true` is surely meant as True, not as a string. */
const PYTHON_SPELLING: Record<string, string> = { true: 'True', false: 'False', none: 'None', null: 'None' };

class LiteralParser {
  private pos = 0;
  constructor(private readonly src: string, private readonly context: string) {}

  fail(why: string, hintQuotes = true): never {
    const hint = hintQuotes && /^[\w./-]+$/.test(this.src.trim()) && !/^-?\d/.test(this.src.trim())
      ? ` (strings must be quoted: "${this.src.trim()}")` : '';
    throw new ConfigError(`${this.context}: ${why}: ${this.src.trim()}${hint}. ` +
      'Values must be Python literals: True, False, None, numbers, quoted strings, lists, tuples, dicts.');
  }

  /** Skips white space and comments (a comment must follow white space or start the text). */
  private skip(): void {
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else if ((c === '#' || c === ';') && (this.pos === 0 || /\s/.test(this.src[this.pos - 1]!))) {
        const end = this.src.indexOf('\n', this.pos);
        this.pos = end < 0 ? this.src.length : end;
      } else break;
    }
  }

  atEnd(): boolean {
    this.skip();
    return this.pos >= this.src.length;
  }

  value(): Literal {
    this.skip();
    const c = this.src[this.pos];
    if (c === '"' || c === "'") return this.string();
    if (c === '[') return this.sequence('[', ']');
    if (c === '(') return this.sequence('(', ')');
    if (c === '{') return this.dict();
    const word = /^[A-Za-z_][\w.]*/.exec(this.src.slice(this.pos));
    if (word) {
      this.pos += word[0].length;
      if (word[0] === 'True') return true;
      if (word[0] === 'False') return false;
      if (word[0] === 'None') return null;
      const python = PYTHON_SPELLING[word[0].toLowerCase()];
      if (python) this.fail(`'${word[0]}' is not a literal; Python spells it ${python}`, false);
      this.fail(`'${word[0]}' is not a literal`);
    }
    const num = /^[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)/.exec(this.src.slice(this.pos));
    if (num && num[0] !== '') {
      this.pos += num[0].length;
      const text = num[0].replace(/_/g, '');
      const n = /0[xX]/.test(text) ? Number.parseInt(text, 16) : Number(text);
      if (Number.isNaN(n)) this.fail(`bad number ${num[0]}`);
      return n;
    }
    this.fail('not a literal');
  }

  private string(): string {
    const quote = this.src[this.pos++]!;
    let out = '';
    while (this.pos < this.src.length) {
      const c = this.src[this.pos++]!;
      if (c === quote) return out;
      if (c === '\n') break;
      if (c !== '\\') { out += c; continue; }
      const e = this.src[this.pos++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case 'x': case 'u': {
          const len = e === 'x' ? 2 : 4;
          const hex = this.src.slice(this.pos, this.pos + len);
          if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) this.fail(`bad \\${e} escape`);
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.pos += len;
          break;
        }
        case '\\': case '"': case "'": out += e; break;
        default: out += '\\' + (e ?? '');
      }
    }
    this.fail('unterminated string');
  }

  private sequence(open: string, close: string): Literal[] {
    this.pos++; // open
    const items: Literal[] = [];
    for (;;) {
      this.skip();
      if (this.src[this.pos] === close) { this.pos++; return items; }
      items.push(this.value());
      this.skip();
      if (this.src[this.pos] === ',') { this.pos++; continue; }
      if (this.src[this.pos] === close) { this.pos++; return items; }
      this.fail(`expected ',' or '${close}'`);
    }
  }

  private dict(): { [key: string]: Literal } {
    this.pos++; // {
    const out: { [key: string]: Literal } = Object.create(null);
    for (;;) {
      this.skip();
      if (this.src[this.pos] === '}') { this.pos++; return out; }
      const key = this.value();
      if (typeof key !== 'string' && typeof key !== 'number') this.fail('dict keys must be strings or numbers');
      this.skip();
      if (this.src[this.pos++] !== ':') this.fail("expected ':' in dict");
      out[String(key)] = this.value();
      this.skip();
      if (this.src[this.pos] === ',') { this.pos++; continue; }
      if (this.src[this.pos] === '}') { this.pos++; return out; }
      this.fail("expected ',' or '}'");
    }
  }
}
