/**
 * Evaluates the anonymous ACLs flow-proxy renders (`{ fetch [flags] 'pattern' … }`,
 * negated with `!`, ANDed by juxtaposition) against a described request, the
 * way HAProxy matches them. Only the fetches flow-proxy can render are known;
 * anything else is reported as not evaluable instead of guessed.
 */

/** A request as the frontend sees it. */
export interface AclRequest {
  /** `var(txn.fp_host)`: the Host header, port stripped, lower-cased; undefined without a Host header. */
  host?: string;
  /** The path, without the query string. */
  path: string;
  /** The path with the query string (`url`). */
  url: string;
  method: string;
  /** The port the request arrived on (`dst_port`). */
  port: number;
  /** Header name (lower case) -> values in order, as sent; the Host header too. */
  headers: ReadonlyMap<string, readonly string[]>;
  /** TLS server name, for SNI fetches. */
  sni?: string;
}

export interface AclTerm {
  negated: boolean;
  fetch: string;
  flags: { ignoreCase: boolean; method?: string };
  patterns: string[];
  /** The term as written. */
  text: string;
}

export interface TermResult {
  term: AclTerm;
  matched: boolean;
  /** Why it failed, in words ("host "b.com" is not "a.com""). */
  why: string;
}

export class AclSyntaxError extends Error {}

/** Splits a condition into its terms. */
export function parseCondition(condition: string): AclTerm[] {
  const terms: AclTerm[] = [];
  let i = 0;
  const s = condition;
  const skip = () => {
    while (i < s.length && /\s/.test(s[i] as string)) i++;
  };
  for (;;) {
    skip();
    if (i >= s.length) return terms;
    const start = i;
    let negated = false;
    if (s[i] === '!') {
      negated = true;
      i++;
      skip();
    }
    if (s[i] !== '{') throw new AclSyntaxError(`expected "{" at ${i} in ${condition}`);
    i++;
    const words: string[] = [];
    for (;;) {
      skip();
      if (i >= s.length) throw new AclSyntaxError(`unclosed "{" in ${condition}`);
      if (s[i] === '}') {
        i++;
        break;
      }
      if (s[i] === "'") {
        const end = s.indexOf("'", i + 1);
        if (end < 0) throw new AclSyntaxError(`unclosed quote in ${condition}`);
        words.push(s.slice(i + 1, end));
        i = end + 1;
      } else {
        let j = i;
        while (j < s.length && !/\s/.test(s[j] as string) && s[j] !== '}') j++;
        words.push(s.slice(i, j));
        i = j;
      }
    }
    const [fetch, ...rest] = words;
    if (fetch === undefined) throw new AclSyntaxError(`empty term in ${condition}`);
    const flags: AclTerm['flags'] = { ignoreCase: false };
    let k = 0;
    while (k < rest.length) {
      if (rest[k] === '-i') {
        flags.ignoreCase = true;
        k++;
      } else if (rest[k] === '-m' && rest[k + 1] !== undefined) {
        flags.method = rest[k + 1] as string;
        k += 2;
      } else break;
    }
    terms.push({ negated, fetch, flags, patterns: rest.slice(k), text: s.slice(start, i) });
  }
}

const DEFAULT_METHOD: Record<string, string> = {
  path: 'str', path_beg: 'beg', path_end: 'end', path_reg: 'reg', path_dir: 'dir', path_sub: 'sub', path_dom: 'dom', path_len: 'len',
  url: 'str', url_beg: 'beg', url_end: 'end', url_reg: 'reg', url_dir: 'dir', url_sub: 'sub', url_dom: 'dom', url_len: 'len',
  base: 'str', base_beg: 'beg', base_end: 'end', base_reg: 'reg', base_dir: 'dir', base_sub: 'sub', base_dom: 'dom', base_len: 'len',
  hdr: 'str', hdr_beg: 'beg', hdr_end: 'end', hdr_reg: 'reg', hdr_dir: 'dir', hdr_sub: 'sub', hdr_dom: 'dom', hdr_len: 'len',
  'req.hdr': 'str', var: 'str', dst_port: 'int', req_ssl_sni: 'str', 'req.ssl_sni': 'str', ssl_fc_sni: 'str',
};

/** What a fetch yields for a request: the values to match (none when it fails), and how to name it. */
function sample(term: AclTerm, req: AclRequest): { values: string[]; name: string; method: string } {
  const call = /^([a-z_.]+)(?:\(([^)]*)\))?$/.exec(term.fetch);
  if (!call) throw new AclSyntaxError(`unknown fetch ${term.fetch}`);
  const fn = call[1] as string;
  const arg = call[2];
  const family = /^(path|url|base|hdr)(_[a-z]+)?$/.exec(fn);
  const base = family ? (family[1] as string) : fn;
  const method = term.flags.method ?? DEFAULT_METHOD[fn];
  if (method === undefined) throw new AclSyntaxError(`unknown fetch ${term.fetch}`);
  switch (base) {
    case 'path':
      return { values: [req.path], name: 'path', method };
    case 'url':
      return { values: [req.url], name: 'URL', method };
    case 'base': {
      const first = req.headers.get('host')?.[0];
      return { values: first === undefined ? [] : [first + req.path], name: 'host and path', method };
    }
    case 'hdr':
    case 'req.hdr': {
      const name = (arg ?? '').trim().toLowerCase();
      if (name === '') throw new AclSyntaxError(`header fetch without a name: ${term.fetch}`);
      return { values: headerValues(req, name), name: name === 'host' ? 'Host header' : `header ${arg}`, method };
    }
    case 'var':
      if (arg === 'txn.fp_host') return { values: req.host === undefined ? [] : [req.host], name: 'host', method };
      if (arg === 'txn.fp_path') return { values: [req.path], name: 'path', method };
      if (arg === 'txn.fp_hp') return { values: req.host === undefined ? [] : [req.host + req.path], name: 'host and path', method };
      throw new AclSyntaxError(`unknown variable ${arg ?? ''}`);
    case 'dst_port':
      return { values: [String(req.port)], name: 'port', method };
    case 'req_ssl_sni':
    case 'req.ssl_sni':
    case 'ssl_fc_sni':
      return { values: req.sni === undefined ? [] : [req.sni], name: 'TLS server name', method };
    default:
      throw new AclSyntaxError(`unknown fetch ${term.fetch}`);
  }
}

/**
 * Values of a header as an ACL iterates them: every occurrence, each split
 * at commas (HAProxy's req.hdr treats commas as delimiters).
 */
export function headerValues(req: AclRequest, name: string): string[] {
  return (req.headers.get(name) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());
}

function matchOne(method: string, value: string, pattern: string, ignoreCase: boolean): boolean {
  const v = ignoreCase && method !== 'reg' ? value.toLowerCase() : value;
  const p = ignoreCase && method !== 'reg' ? pattern.toLowerCase() : pattern;
  switch (method) {
    case 'str':
      return v === p;
    case 'beg':
      return v.startsWith(p);
    case 'end':
      return v.endsWith(p);
    case 'sub':
      return v.includes(p);
    case 'reg':
      return new RegExp(pattern, ignoreCase ? 'i' : '').test(value);
    case 'dir':
      return delimited(v, p, '/?');
    case 'dom':
      return delimited(v, p, '/?.:');
    case 'len':
      return intMatch(v.length, p);
    case 'int':
      return /^\d+$/.test(v) && intMatch(Number(v), p);
    case 'found':
      return true;
    default:
      throw new AclSyntaxError(`unknown match method ${method}`);
  }
}

/** HAProxy's dir/dom matching: the pattern appears between delimiters (or the ends). */
function delimited(value: string, pattern: string, delimiters: string): boolean {
  const p = pattern.replace(new RegExp(`^[${escapeClass(delimiters)}]+|[${escapeClass(delimiters)}]+$`, 'g'), '');
  if (p === '') return false;
  const parts = value.split(new RegExp(`[${escapeClass(delimiters)}]`));
  const wanted = p.split(new RegExp(`[${escapeClass(delimiters)}]`));
  for (let i = 0; i + wanted.length <= parts.length; i++) {
    if (wanted.every((w, j) => parts[i + j] === w)) return true;
  }
  return false;
}

function escapeClass(chars: string): string {
  return chars.replace(/[\\\]^-]/g, '\\$&');
}

/** `80`, `80:90`, `:90`, `80:` as HAProxy integer patterns. */
function intMatch(n: number, pattern: string): boolean {
  const range = /^(\d*):(\d*)$/.exec(pattern);
  if (range) return (range[1] === '' || n >= Number(range[1])) && (range[2] === '' || n <= Number(range[2]));
  return /^\d+$/.test(pattern) && n === Number(pattern);
}

/** Evaluates one term; `why` says in words why it did not match (or why it did, for negations). */
export function evaluateTerm(term: AclTerm, req: AclRequest): TermResult {
  const { values, name, method } = sample(term, req);
  const hit = values.some((v) => term.patterns.some((p) => matchOne(method, v, p, term.flags.ignoreCase)));
  const matched = term.negated ? !hit : hit;
  if (matched) return { term, matched, why: '' };
  const shown = values.length === 0 ? `no ${name}` : `${name} ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  const wanted = term.patterns.map((p) => JSON.stringify(p)).join(' or ');
  const verb = VERBS[method] ?? `does not match (${method})`;
  const why = term.negated ? `${shown} is excluded (${term.text})` : values.length === 0 ? `${shown} (needs ${wanted})` : `${shown} ${verb} ${wanted}${term.flags.ignoreCase ? ' (case ignored)' : ''}`;
  return { term, matched, why };
}

const VERBS: Record<string, string> = {
  str: 'is not',
  beg: 'does not begin with',
  end: 'does not end with',
  sub: 'does not contain',
  reg: 'does not match the regular expression',
  dir: 'has no path segment',
  dom: 'has no domain part',
  len: 'does not have the length',
  int: 'is not',
};

/** Evaluates a whole condition: it matches when every term does. */
export function evaluateCondition(condition: string, req: AclRequest): { matched: boolean; results: TermResult[] } {
  const results = parseCondition(condition).map((t) => evaluateTerm(t, req));
  return { matched: results.every((r) => r.matched), results };
}
