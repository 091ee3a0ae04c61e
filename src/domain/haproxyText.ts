/**
 * Checks for text that is spliced into haproxy.cfg. Everything a user sends
 * passes one of these before it can reach a template: either a strict
 * character class for plain values, or the raw-line check below for the few
 * parameters that are HAProxy text by design (header specs, backendExtra).
 */

/** Control characters (including newline, CR, NUL, tab) and DEL. */
export const CONTROL = /[\u0000-\u001f\u007f]/;

/** Unicode line and paragraph separators some tools treat as newlines. */
const UNICODE_BREAKS = /[\u0085\u2028\u2029]/;

export function hasControl(value: string): boolean {
  return CONTROL.test(value) || UNICODE_BREAKS.test(value);
}

/** Fetches, converters and flags that run code, read files or read the environment, anywhere in a line. */
const DANGEROUS_ANYWHERE: Array<[RegExp, string]> = [
  [/\blua\b|\blua[.-]/i, 'Lua'],
  [/\benv\s*\(/i, 'env() fetches'],
  [/\bmap(_[a-z]+)?\s*\(/i, 'map files'],
  [/external-check/i, 'external-check'],
  [/\b(pre|re|un)?setenv\b/i, 'environment directives'],
];

/** Words that, as a whole token, load files or change the process; refused in raw directives. */
const DANGEROUS_TOKENS = new Set([
  'file', 'lf-file', 'ca-file', 'crl-file', 'crt', 'crt-list', 'errorfile', 'errorfiles', 'errorloc',
  'errorloc302', 'errorloc303', 'http-error', 'use-service', 'load-server-state-from-file', 'server-state-file-name',
  'chroot', 'user', 'group', 'uid', 'gid', 'daemon', 'master-worker', 'stats', 'program', 'command', 'spoe',
]);

const SECTION_START = /^(global|defaults|frontend|backend|listen|userlist|peers|resolvers|program|mailers|http-errors|ring|cache|fcgi-app)\b/i;

export interface RawCheck {
  ok: boolean;
  reason?: string;
}

/** Where a raw line goes: a header spec is an argument list, a directive is a whole configuration line. */
export type RawContext = 'header' | 'directive';

/**
 * Validates one raw HAProxy line: no control characters, balanced quotes,
 * no comment start, no escapes that produce line breaks, no environment
 * expansion, no new section, and (unless allowed) nothing that runs code or
 * reads files.
 */
export function checkRawLine(line: string, context: RawContext, allowDangerous: boolean): RawCheck {
  if (hasControl(line)) return { ok: false, reason: 'contains a newline or control character' };
  if (line.trim() === '') return { ok: false, reason: 'is empty' };
  if (line.trimStart().startsWith('.')) return { ok: false, reason: 'starts a conditional block (.if/.diag/...)' };
  if (context === 'directive' && SECTION_START.test(line.trim())) return { ok: false, reason: 'would open a new configuration section' };
  const lex = lexLine(line);
  if (!lex.ok) return lex;
  if (allowDangerous) return { ok: true };
  for (const [pattern, what] of DANGEROUS_ANYWHERE) {
    if (pattern.test(line)) return { ok: false, reason: `uses ${what}, which raw snippets may not use (set ALLOW_RAW_SNIPPETS=true to allow)` };
  }
  for (const token of lex.tokens) {
    const fileFlag = token === '-f' || token === '-M';
    if (fileFlag || (context === 'directive' && DANGEROUS_TOKENS.has(token.toLowerCase()))) {
      return { ok: false, reason: `uses "${token}", which raw snippets may not use (set ALLOW_RAW_SNIPPETS=true to allow)` };
    }
  }
  return { ok: true };
}

interface Lexed extends RawCheck {
  tokens: string[];
}

/**
 * Whether a rendered configuration line is well formed for HAProxy's
 * tokenizer: no control characters, balanced quotes, no unquoted comment,
 * no escapes that produce line breaks. Used by the tests on whole configs.
 */
export function cleanLine(line: string): RawCheck {
  if (hasControl(line)) return { ok: false, reason: 'contains a control character' };
  return line.trim() === '' ? { ok: true } : lexLine(line);
}

/** Walks a line the way HAProxy's tokenizer does and refuses anything that could escape its line. */
function lexLine(line: string): Lexed {
  const tokens: string[] = [];
  let current = '';
  let quote: '"' | "'" | null = null;
  const fail = (reason: string): Lexed => ({ ok: false, reason, tokens });
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else current += c;
      continue;
    }
    if (c === '\\') {
      const next = line[i + 1];
      if (next === undefined) return fail('ends with a backslash');
      if (next === 'n' || next === 'r' || next === 'x' || next === 't') {
        return fail(`uses the escape \\${next}, which could insert a line break`);
      }
      current += next;
      i++;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '$') return fail('uses $ inside double quotes (environment expansion)');
      else current += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      continue;
    }
    if (c === '#') return fail('contains an unquoted # (comment)');
    if (c === ' ') {
      if (current) tokens.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  if (quote) return fail(`has an unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (current) tokens.push(current);
  return { ok: true, tokens };
}

/** Quotes a validated value for HAProxy with strong quoting. The value must not contain a single quote. */
export function strong(value: string): string {
  return `'${value}'`;
}
