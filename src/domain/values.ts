import { hasControl } from './haproxyText.js';

/** Pure checks of single values; each returns an error sentence or undefined. */

export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})?(\.[a-z0-9_]([a-z0-9_-]{0,62})?)*\.?$/;
const IPV6 = /^\[?[0-9a-f:.]+\]?$/i;
/** Characters a path pattern may hold (RFC 3986 path characters, minus quoting and comment characters). */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&()*+,;=:@%/?[\]|^{}]+$/;
/** Anything printable except a single quote: patterns are rendered strongly quoted. */
const QUOTABLE = /^[^'\u0000-\u001f\u007f\u0085\u2028\u2029]+$/;
/** HTTP token characters, minus those HAProxy's parser gives a meaning ("#" comment, "$" expansion, "'" quote). */
const TOKEN = /^[A-Za-z0-9!%&*+.^_`|~-]+$/;

export function checkName(value: string): string | undefined {
  return NAME.test(value) ? undefined : 'must start with a letter or digit and hold only letters, digits, ".", "_" and "-" (at most 128)';
}

export function parsePort(value: string): number | string {
  if (!/^\d{1,5}$/.test(value)) return 'is not a port number';
  const n = Number(value);
  return n >= 1 && n <= 65535 ? n : 'is not a port number between 1 and 65535';
}

export function parseNonNegative(value: string, max = 2_147_483_647): number | string {
  if (!/^\d{1,10}$/.test(value)) return 'is not a non-negative whole number';
  const n = Number(value);
  return n <= max ? n : `is larger than ${max}`;
}

/** Go's strconv.ParseBool, which docker-flow-proxy used; anything else is an error here. */
export function parseBool(value: string): boolean | string {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return 'is not a boolean (use true or false)';
}

export function checkHost(value: string): string | undefined {
  if (HOST.test(value)) return undefined;
  if (IPV6.test(value) && value.includes(':')) return undefined;
  return 'is not a host name or IP address';
}

/** A serviceDomain entry: a host name, optionally starting with `*` for a wildcard. */
export function checkDomain(value: string): string | undefined {
  const lower = value.toLowerCase();
  const host = lower.startsWith('*.') ? lower.slice(2) : lower.startsWith('*') ? lower.slice(1) : lower;
  if (host.includes('*')) return 'may hold "*" only as its first character';
  return HOST.test(host) ? undefined : 'is not a domain name (letters, digits, "-", "." and a leading "*" only)';
}

/** A path for the path fetches that compare literally (path, path_beg, url_beg, ...). */
export function checkPath(value: string): string | undefined {
  if (hasControl(value)) return 'contains a newline or control character';
  return PATH_CHARS.test(value) ? undefined : 'holds characters a path may not hold (spaces, quotes, "#", "\\" or "<>")';
}

/** A regular expression or other pattern rendered strongly quoted. */
export function checkQuotable(value: string): string | undefined {
  if (hasControl(value)) return 'contains a newline or control character';
  return QUOTABLE.test(value) ? undefined : 'may not contain a single quote';
}

/** A regular expression used in an argument of a converter such as regsub(). */
export function checkConverterArg(value: string): string | undefined {
  if (hasControl(value)) return 'contains a newline or control character';
  if (/['"]/.test(value)) return 'may not contain quotes';
  if (value.includes('%[')) return 'may not contain a sample expression';
  return undefined;
}

export function checkToken(value: string): string | undefined {
  return TOKEN.test(value) ? undefined : 'is not a valid HTTP token';
}

export function checkMethod(value: string): string | undefined {
  return /^[A-Z][A-Z-]{0,31}$/.test(value) ? undefined : 'is not an HTTP method in upper case';
}

/** A value for a header match or user agent: printable, no spaces, rendered strongly quoted. */
export function checkWord(value: string): string | undefined {
  if (hasControl(value)) return 'contains a newline or control character';
  if (/\s/.test(value)) return 'may not contain spaces';
  return QUOTABLE.test(value) ? undefined : 'may not contain a single quote';
}

/** A free text value with no control characters, quotes, comments, escapes or expansions. */
export function checkPlainText(value: string): string | undefined {
  if (hasControl(value)) return 'contains a newline or control character';
  return /^[^'"#\\$]*$/.test(value) ? undefined : 'may not contain quotes, "#", "\\" or "$"';
}

/** Splits a list on the separator, keeping quoted parts and `%[...]`/`(...)` groups whole (docker-flow-proxy #333). */
export function splitList(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quote) {
      if (c === '\\' && quote === '"' && i + 1 < value.length) {
        current += c + value[++i];
        continue;
      }
      if (c === quote) quote = null;
      current += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      current += c;
      continue;
    }
    if (c === '[' || c === '(' || c === '{') depth++;
    if ((c === ']' || c === ')' || c === '}') && depth > 0) depth--;
    if (depth === 0 && value.startsWith(separator, i) && separator.length > 0) {
      parts.push(current);
      current = '';
      i += separator.length - 1;
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Splits a plain list (paths, domains, methods) on the separator; no quoting applies. */
export function splitPlain(value: string, separator: string): string[] {
  return value.split(separator).map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Host matches SERVICE_DOMAIN_ALGO and serviceDomainAlgo accept. */
export const DOMAIN_ALGO = /^(hdr|hdr_beg|hdr_end|hdr_dom|hdr_reg|hdr_sub|hdr_dir)\((host|Host)\)( -i| -m (str|beg|end|sub|reg|dir|dom))*$|^(req_ssl_sni|req\.ssl_sni|ssl_fc_sni)( -i| -m (str|beg|end|sub|reg|dir|dom))*$/;
/** HAProxy 2's HTTP connection modes (CONNECTION_MODE, connectionMode). */
export const CONNECTION_MODES: ReadonlySet<string> = new Set(['http-keep-alive', 'http-server-close', 'httpclose']);
/** Compression algorithms (COMPRESSION_ALGO, compressionAlgo). */
export const COMPRESSION_ALGO = /^(identity|gzip|deflate|raw-deflate)( (identity|gzip|deflate|raw-deflate))*$/;
/** HAProxy 2.6's retry-on conditions (RETRY_ON, retryOn). */
export const RETRY_ON: ReadonlySet<string> = new Set(['conn-failure', 'empty-response', 'junk-response', 'response-timeout', '0rtt-rejected', 'all-retryable-errors', '404', '408', '425', '500', '501', '502', '503', '504']);

/** host:port, with an IPv6 address in brackets (given with or without them). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]:${port}` : `${host}:${port}`;
}

/** Plain string order (code units), the one every sorted list of the config uses. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
