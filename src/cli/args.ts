/** What `flow-proxy <args>` asks for. */
export type CliCommand =
  | { kind: 'run' }
  | { kind: 'help' }
  | { kind: 'status'; api: string; json: boolean }
  | { kind: 'routes'; api: string; json: boolean }
  | { kind: 'explain'; api: string; json: boolean; url: string; method: string; headers: Array<[string, string]> }
  | { kind: 'diff'; api: string; json: boolean; query: string };

export type ParsedArgs = { ok: true; command: CliCommand } | { ok: false; error: string };

export const DEFAULT_API = 'http://127.0.0.1:8080';

const COMMANDS = new Set(['run', 'help', 'status', 'routes', 'explain', 'diff']);

/** Parses the command line (without node and the script); pure, every mistake is a sentence naming it. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  let api = DEFAULT_API;
  let json = false;
  let help = false;
  let method: string | undefined;
  const headers: Array<[string, string]> = [];
  const positional: string[] = [];
  const value = (i: number, name: string): string | { error: string } => {
    const v = argv[i + 1];
    return v === undefined ? { error: `${name} needs a value` } : v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const take = (): string | { error: string } => {
      if (inline !== undefined) return inline;
      const v = value(i, name);
      if (typeof v === 'string') i++;
      return v;
    };
    if (name === '--help' || name === '-h') help = true;
    else if (name === '--json') json = true;
    else if (name === '--api') {
      const v = take();
      if (typeof v !== 'string') return { ok: false, error: v.error };
      if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(v)) return { ok: false, error: `--api "${v}" must be an http:// or https:// URL such as ${DEFAULT_API}` };
      api = v.replace(/\/+$/, '');
    } else if (name === '-X' || name === '--method' || /^-X.+/.test(arg)) {
      const v = /^-X.+/.test(arg) ? arg.slice(2) : take();
      if (typeof v !== 'string') return { ok: false, error: v.error };
      if (!/^[A-Za-z]{1,32}$/.test(v)) return { ok: false, error: `-X "${v}" is not an HTTP method` };
      method = v.toUpperCase();
    } else if (name === '-H' || name === '--header') {
      const v = take();
      if (typeof v !== 'string') return { ok: false, error: v.error };
      const colon = v.indexOf(':');
      if (colon <= 0) return { ok: false, error: `-H "${v}" must be 'Name: value'` };
      headers.push([v.slice(0, colon).trim(), v.slice(colon + 1).trim()]);
    } else if (arg.startsWith('-') && arg !== '-') {
      return { ok: false, error: `unknown option ${arg} (see flow-proxy --help)` };
    } else {
      positional.push(arg);
    }
  }
  if (help) return { ok: true, command: { kind: 'help' } };
  const [command = 'run', ...rest] = positional;
  if (!COMMANDS.has(command)) return { ok: false, error: `unknown command "${command}" (commands: run, status, routes, explain, diff; see flow-proxy --help)` };
  const usedOnlyBy = (what: string, allowed: string[]) => (allowed.includes(command) ? undefined : `${what} ${what.includes(' and ') ? 'are' : 'is'} for ${allowed.length > 1 ? `${allowed.slice(0, -1).join(', ')} and ${allowed[allowed.length - 1] as string}` : allowed[0] as string} only`);
  const misplaced = (method !== undefined || headers.length > 0 ? usedOnlyBy('-X and -H', ['explain']) : undefined)
    ?? (json && (command === 'run' || command === 'help') ? usedOnlyBy('--json', ['status', 'routes', 'explain', 'diff']) : undefined);
  if (misplaced) return { ok: false, error: misplaced };
  switch (command) {
    case 'run':
    case 'help':
      if (rest.length > 0) return { ok: false, error: `${command} takes no arguments (got "${rest.join(' ')}")` };
      return { ok: true, command: { kind: command } };
    case 'status':
    case 'routes':
      if (rest.length > 0) return { ok: false, error: `${command} takes no arguments (got "${rest.join(' ')}")` };
      return { ok: true, command: { kind: command, api, json } };
    case 'explain':
      if (rest.length !== 1) return { ok: false, error: 'explain needs one URL or path, for example: flow-proxy explain http://example.com/api -H "X-Version: 2"' };
      return { ok: true, command: { kind: 'explain', api, json, url: rest[0] as string, method: method ?? 'GET', headers } };
    default:
      if (rest.length === 0) return { ok: false, error: "diff needs a reconfigure query, for example: flow-proxy diff 'serviceName=web&servicePath=/web&port=3000'" };
      return { ok: true, command: { kind: 'diff', api, json, query: rest.join('&') } };
  }
}

/** The explain query for a URL (`http://host:port/path?q`) or a bare path: host as a client would send it, port only when given. */
export function explainQuery(url: string, method: string, headers: ReadonlyArray<readonly [string, string]>): URLSearchParams | string {
  const q = new URLSearchParams();
  let host: string | undefined;
  let port: string | undefined;
  let path: string;
  if (url.startsWith('/')) {
    path = url;
  } else {
    // Parsed by hand: new URL() would lower-case the host and drop a default port, which the Host header keeps.
    const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?([^/?#\s]+)([^#\s]*)/i.exec(url);
    if (!m) return `"${url}" is neither a URL nor a path`;
    const scheme = (m[1] ?? 'http').toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') return `"${url}" must be an http:// or https:// URL`;
    host = (m[2] as string).replace(/^[^@]*@/, '');
    const explicit = /:(\d+)$/.exec(host)?.[1];
    port = explicit ?? (scheme === 'https' ? '443' : undefined);
    path = m[3] === '' ? '/' : (m[3] as string).startsWith('/') ? (m[3] as string) : `/${m[3] as string}`;
  }
  q.set('path', path);
  const hostHeader = headers.find(([n]) => n.toLowerCase() === 'host');
  if (hostHeader) host = hostHeader[1];
  if (host !== undefined) q.set('host', host);
  q.set('method', method);
  if (port !== undefined) q.set('port', port);
  for (const [n, v] of headers) if (n.toLowerCase() !== 'host') q.append('header', `${n}:${v}`);
  return q;
}

/** The endpoint and query of a `diff` argument: a reconfigure query, or a remove?… one; a leading path or URL is dropped. */
export function diffTarget(arg: string): { endpoint: 'reconfigure' | 'remove'; query: string } {
  const q = arg.indexOf('?');
  const before = q < 0 ? '' : arg.slice(0, q);
  const query = (q < 0 ? arg : arg.slice(q + 1)).split('&').filter((p) => p !== '' && !/^dryrun=/i.test(p)).join('&');
  return { endpoint: /(^|\/)remove$/.test(before) ? 'remove' : 'reconfigure', query };
}
