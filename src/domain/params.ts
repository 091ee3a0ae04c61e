import { issue, shown, warning, type Issue, type Warning } from './errors.js';

/**
 * The reconfigure parameters docker-flow-proxy accepts, with their canonical
 * spelling. Every source (query, labels, env) is reduced to RawParams keyed by
 * the lower-cased canonical name, with `.N` for indexed destinations.
 */
export const SERVICE_PARAMS = [
  'serviceName', 'aclName', 'serviceDomainAlgo', 'serviceDomainMatchAll', 'users', 'usersSecret', 'usersPassEncrypted',
  'reqPathSearch', 'reqPathReplace', 'connectionMode', 'checkResolvers', 'discoveryType', 'sessionType',
  'isDefaultBackend', 'compressionAlgo', 'compressionType', 'backendExtra', 'templateFePath', 'templateBePath',
  'serviceCert', 'distribute', 'replicas', 'proxyInstanceName', 'redirectWhenHttpProto', 'redirectUnlessHttpsProto',
  // ACME (issue 18): docker-flow-letsencrypt's parameters and acme=true.
  'letsencrypt.host', 'letsencrypt.email', 'acme',
] as const;

/** Parameters that may carry a `.N` suffix (per destination); the plain name is their default. */
export const DEST_PARAMS = [
  'port', 'servicePath', 'pathType', 'servicePathExclude', 'serviceDomain', 'redirectFromDomain', 'serviceHeader',
  'userAgent', 'srcPort', 'httpsPort', 'srcHttpsPort', 'reqMode', 'httpsOnly', 'httpsRedirectCode', 'denyHttp',
  'allowedMethods', 'deniedMethods', 'verifyClientSsl', 'ignoreAuthorization', 'reqPathSearchReplace',
  'timeoutServer', 'timeoutTunnel', 'timeoutClient', 'sslVerifyNone', 'outboundHostname', 'userDef', 'checkTcp',
  'clitcpka', 'serviceGroup', 'balanceGroup',
  // Retries and health (zero failed requests while replicas come and go).
  'retries', 'retryOn', 'retryMethods', 'healthCheck', 'checkHttpPath', 'slowStart',
  // Header rules are per destination too (docker-flow-proxy #436 asked for it).
  'addReqHeader', 'setReqHeader', 'delReqHeader', 'addResHeader', 'setResHeader', 'delResHeader',
] as const;

/** Old names docker-flow-proxy still accepts. */
export const ALIASES: Readonly<Record<string, string>> = {
  addheader: 'addreqheader',
  setheader: 'setreqheader',
};

const CANONICAL = new Map<string, string>(
  [...SERVICE_PARAMS, ...DEST_PARAMS].map((name) => [name.toLowerCase(), name]),
);

/** Parameters that carry secrets: never echoed, never logged. */
export const SECRET_PARAMS = new Set(['users', 'servicecert']);

/** The canonical (camelCase) spelling of a lower-cased parameter name, if known. */
export function canonicalName(lower: string): string | undefined {
  return CANONICAL.get(lower);
}

/** Parameters of one service from one source; keys are lower-case, `name` or `name.N`. */
export type RawParams = ReadonlyMap<string, string>;

export interface RawResult {
  params: RawParams;
  issues: Issue[];
  /** Things accepted with a meaning of their own (a repeated key: its first value counts). */
  warnings?: Warning[];
}

/** Normalises a key: lower case, aliases resolved, index kept. */
export function normaliseKey(key: string): string {
  const lower = key.trim().toLowerCase();
  const dot = lower.lastIndexOf('.');
  const hasIndex = dot > 0 && /^\d+$/.test(lower.slice(dot + 1));
  const base = hasIndex ? lower.slice(0, dot) : lower;
  const suffix = hasIndex ? lower.slice(dot) : '';
  return (ALIASES[base] ?? base) + suffix;
}

/**
 * Builds RawParams from query entries. A parameter given twice keeps its
 * first value, as docker-flow-proxy (Go's `Query().Get`) did, with a warning
 * when the values differ: docker-flow-swarm-listener appends its parameters
 * to a notify URL that may carry a query of its own.
 */
export function fromEntries(entries: Iterable<[string, string]>, label = 'parameter', duplicates: 'first' | 'refuse' = 'first'): RawResult {
  const params = new Map<string, string>();
  const warnings: Warning[] = [];
  const issues: Issue[] = [];
  for (const [rawKey, value] of entries) {
    const key = normaliseKey(rawKey);
    const seen = params.get(key);
    if (seen !== undefined) {
      if (seen !== value && duplicates === 'refuse') {
        issues.push(issue(rawKey, value, `${label} ${rawKey} is given more than once with different values ("${shown(seen)}" and "${shown(value)}").`));
      } else if (seen !== value) {
        const secret = SECRET_PARAMS.has(key.replace(/\.\d+$/, ''));
        warnings.push(warning(rawKey, secret ? undefined : value, secret
          ? `${label} ${rawKey} is given more than once; the first value is used, as docker-flow-proxy did.`
          : `${label} ${rawKey} is given more than once ("${shown(seen)}" and "${shown(value)}"); the first value is used, as docker-flow-proxy did.`));
      }
      continue;
    }
    params.set(key, value);
  }
  return { params, issues, warnings };
}

/** `com.df.servicePath.1=/a` style labels to RawParams; other labels are ignored. */
export function fromLabels(labels: Readonly<Record<string, string>>, prefix = 'com.df.'): RawResult {
  const entries: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(labels)) {
    if (key.toLowerCase().startsWith(prefix.toLowerCase())) entries.push([key.slice(prefix.length), value]);
  }
  // A label map has no order, so two spellings of one label with different values cannot pick a first: refused.
  return fromEntries(entries, 'label', 'refuse');
}

/** SERVICE_PATH for servicePath: the env spelling docker-flow-proxy's envconfig uses. */
export function envWord(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

const ENV_WORDS = new Map<string, string>(
  // letsencrypt.host is DFP_SERVICE_LETSENCRYPT_HOST.
  [...SERVICE_PARAMS, ...DEST_PARAMS, 'addHeader', 'setHeader'].map((n) => [envWord(n).replace(/\./g, '_'), n.toLowerCase()]),
);

/**
 * Services defined in the environment: `DFP_SERVICE_<PARAM>[_<N>]` and
 * `DFP_SERVICE_<K>_<PARAM>[_<N>]`, in docker-flow-proxy's order (the plain
 * one first, then K = 1, 2, ... until one has no SERVICE_NAME).
 */
export function servicesFromEnv(env: Readonly<Record<string, string | undefined>>): RawResult[] {
  const groups = new Map<string, Array<[string, string]>>();
  const prefix = 'DFP_SERVICE_';
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(prefix) || value === undefined) continue;
    let rest = name.slice(prefix.length);
    let group = '';
    const numbered = /^(\d+)_(.+)$/.exec(rest);
    if (numbered && ENV_WORDS.has(stripIndex(numbered[2] as string).word)) {
      group = numbered[1] as string;
      rest = numbered[2] as string;
    }
    const { word, index } = stripIndex(rest);
    const param = ENV_WORDS.get(word);
    if (!param) continue;
    const key = index === undefined ? param : `${param}.${index}`;
    const list = groups.get(group) ?? [];
    list.push([key, value]);
    groups.set(group, list);
  }
  const results: RawResult[] = [];
  const ordered = [''];
  for (let k = 1; groups.has(String(k)); k++) ordered.push(String(k));
  for (const group of ordered) {
    const entries = groups.get(group);
    if (!entries) continue;
    const result = fromEntries(entries, 'variable');
    if (!result.params.has('servicename')) continue;
    results.push(result);
  }
  return results;
}

function stripIndex(word: string): { word: string; index?: string } {
  const m = /^(.+?)_(\d+)$/.exec(word);
  if (m && ENV_WORDS.has(m[1] as string)) return { word: m[1] as string, index: m[2] as string };
  return { word };
}

/** Re-creates RawParams from a stored canonical record. */
export function fromRecord(record: Readonly<Record<string, string>>): RawParams {
  return new Map(Object.entries(record).map(([k, v]) => [normaliseKey(k), v]));
}

/** Canonical, sorted record of RawParams: what is stored and compared. */
export function toRecord(params: RawParams, omit: ReadonlySet<string> = new Set()): Record<string, string> {
  const record: Record<string, string> = {};
  for (const key of [...params.keys()].sort()) {
    const base = key.replace(/\.\d+$/, '');
    if (omit.has(base)) continue;
    const canonical = canonicalName(base);
    if (!canonical) continue;
    record[canonical + key.slice(base.length)] = params.get(key) as string;
  }
  return record;
}
