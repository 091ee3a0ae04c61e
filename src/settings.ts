// Long on purpose: every environment variable of flow-proxy (the schema is being made the single definition, issue 16).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_DOCKER_HOST, parseDockerHost } from './adapters/docker/dockerHost.js';
import { dockerEngines, tlsDefaults, type EngineSpec } from './adapters/docker/dockerHosts.js';
import { checkRawLine, hasControl } from './domain/haproxyText.js';
import type { ReqMode, User } from './domain/spec.js';
import { parseBool } from './domain/values.js';
import type { BindSpec, Timeouts } from './render/settings.js';
import type { RouteOrder } from './render/routes.js';
import { parsePeers, type PeerSpec } from './adapters/peers/peerList.js';
import { parseListenerAddresses } from './adapters/listener/swarmListener.js';
import { loadAcmeSettings, type AcmeSettings } from './acmeSettings.js';

/** Every setting of flow-proxy, typed; built from the environment by loadSettings. */
export interface Settings {
  port: number;
  ip: string;
  dataDir: string;
  haproxyBin: string;
  serviceName: string;
  defaultPorts: BindSpec[];
  bindPorts: BindSpec[];
  connectionMode: string;
  timeouts: Timeouts;
  serviceDomainAlgo?: string;
  separator: string;
  extraGlobal: string[];
  extraFrontend: string[];
  stats?: { user: string; pass: string; uri: string; port?: number };
  debug: boolean;
  users: User[];
  httpsOnly: boolean;
  captureRequestHeaders: Array<{ name: string; length: number }>;
  compression?: { algo?: string; type?: string };
  checkResolvers: boolean;
  resolvers: string[];
  caFile?: string;
  certsDir: string;
  preferredCertificates: string[];
  enableH2: boolean;
  sslBindOptions: string;
  sslBindCiphers: string;
  routeOrder: RouteOrder;
  hardStopAfter: string;
  maxReloads: number;
  spareBackends: number;
  allowRawSnippets: boolean;
  templatesDir: string;
  templateDirs: string[];
  secretsDir: string;
  defaultProtocol: ReqMode;
  filterProxyInstanceName: boolean;
  proxyInstanceName: string;
  logLevel: string;
  maxconn: number;
  nbthread?: number;
  stopGraceMs: number;
  /** DISCOVERY: `docker` follows containers and swarm services by their labels; `none` is API-only. */
  discovery: 'docker' | 'none';
  /** DOCKER_HOST: the Docker API discovery talks to. */
  dockerHost: string;
  /** DOCKER_HOSTS (else DOCKER_HOST), with DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH: the engines discovery follows. */
  docker: { engines: EngineSpec[]; multiple: boolean; problems: string[] };
  /** DF_NOTIFY_LABEL: only containers and services with `<label>=true` are routed. */
  notifyLabel: string;
  /** DOCKER_NETWORK: the network the proxy shares with containers (their IP there is used). */
  dockerNetwork?: string;
  /** CFG_TEMPLATE_PATH: a main template file replacing the built-in haproxy.cfg.hbs. */
  mainTemplatePath?: string;
  /** CRT_LIST_PATH: a crt-list of the operator's; flow-proxy does not write one. */
  crtListPath?: string;
  debugErrorsOnly: boolean;
  debugHttpFormat?: string;
  debugTcpFormat?: string;
  terminateOnReload: boolean;
  /** API_TOKEN: mutating endpoints need it when set. */
  apiToken?: string;
  /** HAPROXY_METRICS_PORT: HAProxy's own Prometheus exporter listens here. */
  haproxyMetricsPort?: number;
  /** Other replicas: `host:port` entries and `dns:name[:port]` entries (PEERS, PEER_DISCOVERY=dns). */
  peers: PeerSpec[];
  peerTimeoutMs: number;
  peerAttempts: number;
  /** ANTI_ENTROPY_INTERVAL in ms; 0 turns the background comparison with peers off. */
  antiEntropyMs: number;
  /** STORE: where the registry lives; `consul` shares it between replicas. */
  store: 'file' | 'consul';
  consul?: { address: string; prefix: string; token?: string };
  /** RETRIES, RETRY_ON, RETRY_METHODS: a failed request is retried on another server. */
  retry: { retries: number; on: string[]; methods: string[] };
  /** HEALTH_CHECKS, HEALTH_CHECK_INTERVAL (ms). */
  healthChecks: { enabled: boolean; intervalMs: number };
  /** LOG_FORMAT: JSON lines, or lines for people; unset: for people when the output is a terminal. */
  logFormat?: 'json' | 'pretty';
  /** CONSOLIDATE_AFTER (ms): quiet time after runtime changes before one reload makes backend names canonical; 0 never. */
  consolidateAfterMs: number;
  /** ROUTE_CONFLICT: a change whose route another service has too is accepted with a warning, or refused (409). */
  routeConflict: 'warn' | 'reject';
  /** LISTENER_ADDRESS: docker-flow-swarm-listener base URLs, pulled at start (get-services). */
  listeners: string[];
  /** RELOAD_INTERVAL (ms): the longest wait between pull retries, and the period of REPEAT_RELOAD. */
  reloadIntervalMs: number;
  /** REPEAT_RELOAD: pull from the listeners every RELOAD_INTERVAL, not only until the first success. */
  repeatReload: boolean;
  /** LISTENER_WAIT (s): how long readiness waits for the first pull from every listener. */
  listenerWaitMs: number;
  /** Automatic HTTPS: on when ACME_EMAIL is set (src/acmeSettings.ts). */
  acme?: AcmeSettings;
}

/** Variables docker-flow-proxy also reads from /run/secrets/dfp_<name>, which win over the environment. */
const SECRET_VARS = [
  'DEFAULT_PORTS', 'BIND_PORTS', 'CONNECTION_MODE', 'TIMEOUT_CONNECT', 'TIMEOUT_CLIENT', 'TIMEOUT_SERVER', 'TIMEOUT_QUEUE',
  'TIMEOUT_TUNNEL', 'TIMEOUT_HTTP_REQUEST', 'TIMEOUT_HTTP_KEEP_ALIVE', 'STATS_USER', 'STATS_PASS', 'STATS_URI', 'STATS_PORT',
  'USERS', 'USERS_PASS_ENCRYPTED', 'EXTRA_GLOBAL', 'EXTRA_FRONTEND', 'RESOLVERS', 'SSL_BIND_OPTIONS', 'SSL_BIND_CIPHERS',
  'DEBUG', 'DEFAULT_PROTOCOL', 'API_TOKEN', 'CONSUL_HTTP_TOKEN',
] as const;

export type Env = Readonly<Record<string, string | undefined>>;

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; errors: string[] };

const SHOWN_SECRET = new Set(['STATS_PASS', 'USERS', 'API_TOKEN']);

/**
 * Reads the environment (and docker-flow-proxy's /run/secrets/dfp_* files)
 * into Settings. Every invalid variable is reported, not just the first.
 */
export function loadSettings(env: Env, readSecret: (name: string) => string | undefined = () => undefined, cwd = process.cwd()): SettingsResult {
  const raw: Record<string, string | undefined> = { ...env };
  for (const name of SECRET_VARS) {
    const secret = readSecret(`dfp_${name.toLowerCase()}`);
    if (secret !== undefined) raw[name] = secret.trim();
  }
  // docker-flow-proxy's indirection: STATS_USER_ENV names the variable holding the user, and so on.
  for (const name of ['STATS_USER', 'STATS_PASS', 'STATS_URI']) {
    const indirect = env[`${name}_ENV`];
    if (indirect !== undefined && indirect !== name) raw[name] = env[indirect];
  }
  const result = schema(cwd).safeParse(raw);
  const acme = loadAcmeSettings(env, readSecret, { ...(raw.CRT_LIST_PATH && { crtListPath: raw.CRT_LIST_PATH }), peers: raw.PEERS?.trim() || raw.PEER_DISCOVERY === 'dns' ? 1 : 0, ...(raw.API_TOKEN && { apiToken: raw.API_TOKEN }), cwd });
  if (!result.success || !acme.ok) return { ok: false, errors: [...(result.success ? [] : result.error.issues.map((i) => i.message)), ...(acme.ok ? [] : acme.errors)] };
  return { ok: true, settings: acme.acme ? { ...result.data, acme: acme.acme } : result.data };
}

type Ctx = z.RefinementCtx;

function fail(ctx: Ctx, name: string, value: string | undefined, problem: string): never {
  const shown = value === undefined ? '' : SHOWN_SECRET.has(name) ? ' (value hidden)' : ` "${value.length > 80 ? `${value.slice(0, 80)}…` : value}"`;
  ctx.addIssue({ code: 'custom', message: `${name}${shown} ${problem}.` });
  return z.NEVER;
}

const str = () => z.string().optional();

function field<T>(name: string, parse: (value: string | undefined, ctx: Ctx) => T) {
  return str().transform((v, ctx) => parse(v === '' ? undefined : v, ctx));
}

function bool(name: string, fallback: boolean) {
  return field(name, (v, ctx) => {
    if (v === undefined) return fallback;
    const parsed = parseBool(v);
    return typeof parsed === 'string' ? fail(ctx, name, v, parsed) : parsed;
  });
}

function int(name: string, fallback: number, min: number, max: number) {
  return field(name, (v, ctx) => {
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) return fail(ctx, name, v, `must be a whole number from ${min} to ${max}`);
    return Number(v);
  });
}

function optionalInt(name: string, min: number, max: number) {
  return field(name, (v, ctx) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) return fail(ctx, name, v, `must be a whole number from ${min} to ${max}`);
    return Number(v);
  });
}

function pattern(name: string, fallback: string | undefined, re: RegExp, what: string) {
  return field(name, (v, ctx) => {
    if (v === undefined) return fallback;
    if (hasControl(v) || !re.test(v)) return fail(ctx, name, v, what);
    return v;
  });
}

function lines(name: string) {
  return field(name, (v, ctx) => {
    if (v === undefined) return [] as string[];
    const out = v.split(/[,\n]/).map((l) => l.trim()).filter((l) => l !== '');
    for (const line of out) {
      const check = checkRawLine(line, 'directive', true);
      if (!check.ok) return fail(ctx, name, line, check.reason ?? 'is not allowed');
    }
    return out;
  });
}

function binds(name: string, fallback: string) {
  return field(name, (v, ctx) => {
    const text = v ?? fallback;
    if (text.trim() === '') return [] as BindSpec[];
    const out: BindSpec[] = [];
    for (const item of text.split(',').map((i) => i.trim()).filter((i) => i !== '')) {
      const m = /^(?:(\*|[0-9.]+|\[[0-9a-fA-F:]+\]):)?(\d{1,5})(:ssl)?(?:\s+(.*))?$/.exec(item);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return fail(ctx, name, item, 'must be a list of [address:]port[:ssl][ bind options], for example 80,443:ssl');
      const options = (m[4] ?? '').trim();
      if (options !== '') {
        const check = checkRawLine(options, 'header', true);
        if (!check.ok || /[{}]/.test(options)) return fail(ctx, name, item, `has bind options that are not allowed (${check.reason ?? 'braces'})`);
      }
      out.push({ address: m[1] ?? '*', port: Number(m[2]), ssl: m[3] !== undefined, options });
    }
    return out;
  });
}

/** The executable `bin` (a path, or a name looked up in `envPath` the way a shell does). */
export function findInPath(bin: string, envPath: string | undefined): string | undefined {
  if (bin.includes('/')) return fs.existsSync(bin) ? bin : undefined;
  for (const dir of (envPath ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const candidate = path.join(dir, bin);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** A log-format string: one line of HAProxy text, quoted when rendered. */
function logFormat(ctx: Ctx, name: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const check = checkRawLine(v, 'header', false);
  if (!check.ok || v.includes("'")) return fail(ctx, name, v, check.reason ?? 'may not contain a single quote');
  return v;
}

/** HAProxy 2.6's retry-on conditions. */
const RETRY_ON = new Set(['conn-failure', 'empty-response', 'junk-response', 'response-timeout', '0rtt-rejected', 'all-retryable-errors', '404', '408', '425', '500', '501', '502', '503', '504']);

const DOMAIN_ALGO = /^(hdr|hdr_beg|hdr_end|hdr_dom|hdr_reg|hdr_sub|hdr_dir)\((host|Host)\)( -i| -m (str|beg|end|sub|reg|dir|dom))*$|^(req_ssl_sni|req\.ssl_sni|ssl_fc_sni)( -i| -m (str|beg|end|sub|reg|dir|dom))*$/;
const TIME = /^\d+(us|ms|s|m|h|d)?$/;

function schema(cwd: string) {
  return z
    .object({
      PORT: int('PORT', 8080, 0, 65535),
      IP: pattern('IP', '0.0.0.0', /^[0-9.]+$|^[0-9a-fA-F:]+$/, 'must be an IP address'),
      DATA_DIR: field('DATA_DIR', (v) => path.resolve(cwd, v ?? './data')),
      HAPROXY_BIN: str(),
      PATH: str(),
      SERVICE_NAME: pattern('SERVICE_NAME', 'proxy', /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a service name'),
      DEFAULT_PORTS: binds('DEFAULT_PORTS', '80,443:ssl'),
      BIND_PORTS: binds('BIND_PORTS', ''),
      CONNECTION_MODE: field('CONNECTION_MODE', (v, ctx) => {
        const value = v ?? 'http-keep-alive';
        if (!['http-keep-alive', 'http-server-close', 'httpclose'].includes(value)) {
          return fail(ctx, 'CONNECTION_MODE', value, ['http-tunnel', 'forceclose'].includes(value) ? 'is refused by HAProxy 2.x; use http-keep-alive, http-server-close or httpclose' : 'must be http-keep-alive, http-server-close or httpclose');
        }
        return value;
      }),
      TIMEOUT_CONNECT: int('TIMEOUT_CONNECT', 5, 0, 2_147_483),
      TIMEOUT_CLIENT: int('TIMEOUT_CLIENT', 20, 0, 2_147_483),
      TIMEOUT_SERVER: int('TIMEOUT_SERVER', 20, 0, 2_147_483),
      TIMEOUT_QUEUE: int('TIMEOUT_QUEUE', 30, 0, 2_147_483),
      TIMEOUT_TUNNEL: int('TIMEOUT_TUNNEL', 3600, 0, 2_147_483),
      TIMEOUT_HTTP_REQUEST: int('TIMEOUT_HTTP_REQUEST', 5, 0, 2_147_483),
      TIMEOUT_HTTP_KEEP_ALIVE: int('TIMEOUT_HTTP_KEEP_ALIVE', 15, 0, 2_147_483),
      SERVICE_DOMAIN_ALGO: pattern('SERVICE_DOMAIN_ALGO', undefined, DOMAIN_ALGO, 'is not a supported host match (hdr(host), hdr_beg(host), hdr_end(host), hdr_dom(host), ...)'),
      SEPARATOR: pattern('SEPARATOR', ',', /^[^\s'"\\#]{1,4}$/, 'must be one to four characters, no spaces or quotes'),
      EXTRA_GLOBAL: lines('EXTRA_GLOBAL'),
      EXTRA_FRONTEND: lines('EXTRA_FRONTEND'),
      STATS_USER: pattern('STATS_USER', undefined, /^[^\s:'"#\\$]+$/, 'may not contain spaces, ":", quotes, "#", "\\" or "$"'),
      STATS_PASS: pattern('STATS_PASS', undefined, /^[^\s'"#\\$]+$/, 'may not contain spaces, quotes, "#", "\\" or "$"'),
      STATS_URI: pattern('STATS_URI', '/admin?stats', /^\/[!-~]*$/, 'must be a path starting with "/"').transform((v, ctx) => (v !== undefined && /['"#\\]/.test(v) ? fail(ctx, 'STATS_URI', v, 'may not contain quotes, "#" or "\\"') : v)),
      STATS_PORT: optionalInt('STATS_PORT', 1, 65535),
      DEBUG: bool('DEBUG', false),
      USERS: field('USERS', (v, ctx) => {
        if (v === undefined) return [] as Array<{ name: string; password: string }>;
        const users: Array<{ name: string; password: string }> = [];
        for (const item of v.split(/[,\n]/).map((i) => i.trim()).filter((i) => i !== '')) {
          const colon = item.indexOf(':');
          const name = colon < 0 ? '' : item.slice(0, colon);
          const password = colon < 0 ? '' : item.slice(colon + 1);
          if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name) || password === '' || /['\u0000-\u001f\u007f]/.test(password)) {
            return fail(ctx, 'USERS', v, 'must be a list of user:password pairs (no single quotes or control characters)');
          }
          users.push({ name, password });
        }
        return users;
      }),
      USERS_PASS_ENCRYPTED: bool('USERS_PASS_ENCRYPTED', false),
      HTTPS_ONLY: bool('HTTPS_ONLY', false),
      CAPTURE_REQUEST_HEADER: field('CAPTURE_REQUEST_HEADER', (v, ctx) => {
        if (v === undefined) return [] as Array<{ name: string; length: number }>;
        const out: Array<{ name: string; length: number }> = [];
        for (const item of v.split(',').map((i) => i.trim()).filter((i) => i !== '')) {
          const m = /^([A-Za-z0-9-]+):(\d{1,5})$/.exec(item);
          if (!m) return fail(ctx, 'CAPTURE_REQUEST_HEADER', item, 'must be a list of Header:length, for example Host:15');
          out.push({ name: m[1] as string, length: Number(m[2]) });
        }
        return out;
      }),
      COMPRESSION_ALGO: pattern('COMPRESSION_ALGO', undefined, /^(identity|gzip|deflate|raw-deflate)( (identity|gzip|deflate|raw-deflate))*$/, 'must be a list of identity, gzip, deflate, raw-deflate'),
      COMPRESSION_TYPE: pattern('COMPRESSION_TYPE', undefined, /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+*-]+( [A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+*-]+)*$/, 'must be a space separated list of MIME types'),
      CHECK_RESOLVERS: bool('CHECK_RESOLVERS', false),
      DO_NOT_RESOLVE_ADDR: bool('DO_NOT_RESOLVE_ADDR', false),
      RESOLVERS: lines('RESOLVERS').transform((l) => (l.length > 0 ? l : ['nameserver dns 127.0.0.11:53'])),
      CA_FILE: pattern('CA_FILE', undefined, /^\/[A-Za-z0-9_./-]+$/, 'must be an absolute file path'),
      CERTS_DIR: field('CERTS_DIR', (v) => (v === undefined ? undefined : path.resolve(cwd, v))),
      PREFERRED_CERTIFICATE: pattern('PREFERRED_CERTIFICATE', undefined, /^[A-Za-z0-9_.*?,\-[\]]+$/, 'must be a list of file name patterns'),
      ENABLE_H2: bool('ENABLE_H2', true),
      SSL_BIND_OPTIONS: pattern('SSL_BIND_OPTIONS', 'no-sslv3', /^[A-Za-z0-9._-]+( [A-Za-z0-9._-]+)*$/, 'must be a space separated list of bind options'),
      SSL_BIND_CIPHERS: pattern('SSL_BIND_CIPHERS', 'ECDH+AESGCM:ECDH+CHACHA20:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:RSA+AES:!aNULL:!MD5:!DSS', /^[A-Za-z0-9:+!@._-]+$/, 'must be an OpenSSL cipher list'),
      ROUTE_ORDER: field('ROUTE_ORDER', (v, ctx) => (v === undefined ? 'specific' : v === 'specific' || v === 'acl' ? v : fail(ctx, 'ROUTE_ORDER', v, 'must be specific or acl')) as RouteOrder),
      HARD_STOP_AFTER: pattern('HARD_STOP_AFTER', '30s', TIME, 'must be a HAProxy time such as 30s or 5m'),
      MWORKER_MAX_RELOADS: int('MWORKER_MAX_RELOADS', 50, 1, 1_000_000),
      SPARE_BACKENDS: int('SPARE_BACKENDS', 32, 0, 100_000),
      ALLOW_RAW_SNIPPETS: bool('ALLOW_RAW_SNIPPETS', false),
      TEMPLATES_DIR: field('TEMPLATES_DIR', (v) => (v === undefined ? undefined : path.resolve(cwd, v))),
      TEMPLATE_DIRS: field('TEMPLATE_DIRS', (v) => (v ?? '/templates').split(',').map((d) => path.resolve(cwd, d.trim())).filter((d) => d !== '')),
      SECRETS_DIR: field('SECRETS_DIR', (v) => v ?? '/run/secrets'),
      DEFAULT_PROTOCOL: field('DEFAULT_PROTOCOL', (v, ctx) => (v === undefined ? 'http' : v === 'http' || v === 'tcp' || v === 'sni' ? v : fail(ctx, 'DEFAULT_PROTOCOL', v, 'must be http, tcp or sni')) as ReqMode),
      FILTER_PROXY_INSTANCE_NAME: bool('FILTER_PROXY_INSTANCE_NAME', false),
      PROXY_INSTANCE_NAME: pattern('PROXY_INSTANCE_NAME', 'docker-flow', /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a name'),
      LOG_LEVEL: field('LOG_LEVEL', (v, ctx) => (v === undefined ? 'info' : ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(v) ? v : fail(ctx, 'LOG_LEVEL', v, 'must be one of fatal, error, warn, info, debug, trace, silent'))),
      MAXCONN: int('MAXCONN', 5000, 1, 10_000_000),
      NBTHREAD: optionalInt('NBTHREAD', 1, 64),
      STOP_GRACE: int('STOP_GRACE', 5, 0, 3600),
      DISCOVERY: field('DISCOVERY', (v, ctx) => (v === undefined || v === 'docker' || v === 'none' ? v : fail(ctx, 'DISCOVERY', v, 'must be docker or none'))),
      DOCKER_HOST: field('DOCKER_HOST', (v, ctx) => (v === undefined || parseDockerHost(v) ? v : fail(ctx, 'DOCKER_HOST', v, 'must be unix:///path/to/docker.sock or tcp://host:port'))),
      DOCKER_HOSTS: field('DOCKER_HOSTS', (v) => v),
      DOCKER_TLS_VERIFY: bool('DOCKER_TLS_VERIFY', false),
      DOCKER_TLS: bool('DOCKER_TLS', false),
      DOCKER_CERT_PATH: pattern('DOCKER_CERT_PATH', undefined, /^\/[A-Za-z0-9_.\/@+-]*$/, 'must be an absolute directory path'),
      HOME: str(),
      DF_NOTIFY_LABEL: pattern('DF_NOTIFY_LABEL', 'com.df.notify', /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, 'must be a label name such as com.df.notify'),
      DOCKER_NETWORK: pattern('DOCKER_NETWORK', undefined, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be a Docker network name'),
      DEFAULT_REQ_MODE: field('DEFAULT_REQ_MODE', (v, ctx) => (v === undefined || v === 'http' ? 'http' : fail(ctx, 'DEFAULT_REQ_MODE', v, 'is not supported: the HTTP frontend is always in http mode; give TCP services reqMode=tcp'))),
      CFG_TEMPLATE_PATH: field('CFG_TEMPLATE_PATH', (v, ctx) => {
        if (v === undefined) return undefined;
        if (/^consul:\/\/[A-Za-z0-9_./-]+$/.test(v) && !v.includes('..')) return v;
        const file = path.resolve(cwd, v);
        return fs.existsSync(file) ? file : fail(ctx, 'CFG_TEMPLATE_PATH', v, 'does not exist');
      }),
      CRT_LIST_PATH: pattern('CRT_LIST_PATH', undefined, /^\/[A-Za-z0-9_./-]+$/, 'must be an absolute file path'),
      DEBUG_ERRORS_ONLY: bool('DEBUG_ERRORS_ONLY', false),
      DEBUG_HTTP_FORMAT: field('DEBUG_HTTP_FORMAT', (v, ctx) => logFormat(ctx, 'DEBUG_HTTP_FORMAT', v)),
      DEBUG_TCP_FORMAT: field('DEBUG_TCP_FORMAT', (v, ctx) => logFormat(ctx, 'DEBUG_TCP_FORMAT', v)),
      TERMINATE_ON_RELOAD: bool('TERMINATE_ON_RELOAD', false),
      API_TOKEN: field('API_TOKEN', (v, ctx) => (v === undefined ? undefined : v.length >= 16 && !hasControl(v) ? v : fail(ctx, 'API_TOKEN', v, 'must be at least 16 characters without control characters'))),
      HAPROXY_METRICS_PORT: optionalInt('HAPROXY_METRICS_PORT', 1, 65535),
      PEERS: str(),
      PEER_DISCOVERY: field('PEER_DISCOVERY', (v, ctx) => (v === undefined || v === 'none' || v === 'dns' ? v ?? 'none' : fail(ctx, 'PEER_DISCOVERY', v, 'must be none or dns'))),
      PEER_TIMEOUT: int('PEER_TIMEOUT', 5000, 100, 600_000),
      PEER_ATTEMPTS: int('PEER_ATTEMPTS', 3, 1, 20),
      ANTI_ENTROPY_INTERVAL: int('ANTI_ENTROPY_INTERVAL', 5000, 0, 3_600_000),
      STORE: field('STORE', (v, ctx) => (v === undefined || v === 'file' || v === 'consul' ? v ?? 'file' : fail(ctx, 'STORE', v, 'must be file or consul'))),
      CONSUL_HTTP_ADDR: pattern('CONSUL_HTTP_ADDR', undefined, /^(https?:\/\/)?[A-Za-z0-9._-]+(:\d{1,5})?\/?$/, 'must be host:port or http(s)://host:port'),
      CONSUL_PREFIX: pattern('CONSUL_PREFIX', 'flow-proxy', /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be a Consul key prefix (letters, digits, "_", ".", "-", "/")'),
      LOG_FORMAT: field('LOG_FORMAT', (v, ctx) => (v === undefined || v === 'json' || v === 'pretty' ? v : fail(ctx, 'LOG_FORMAT', v, 'must be json or pretty'))),
      CONSOLIDATE_AFTER: int('CONSOLIDATE_AFTER', 30, 0, 86_400),
      ROUTE_CONFLICT: field('ROUTE_CONFLICT', (v, ctx) => (v === undefined || v === 'warn' || v === 'reject' ? v ?? 'warn' : fail(ctx, 'ROUTE_CONFLICT', v, 'must be warn or reject'))),
      RETRIES: int('RETRIES', 3, 0, 10),
      RETRY_ON: field('RETRY_ON', (v, ctx) => {
        const items = (v ?? 'conn-failure,empty-response,junk-response').split(/[,\s]+/).filter((i) => i !== '');
        if (items.length === 1 && items[0] === 'none') return ['none'];
        const bad = items.find((i) => !RETRY_ON.has(i));
        return bad !== undefined ? fail(ctx, 'RETRY_ON', v, `holds "${bad}", which is not a retry-on condition (${[...RETRY_ON].join(', ')}, or none)`) : items;
      }),
      RETRY_METHODS: field('RETRY_METHODS', (v, ctx) => {
        const items = (v ?? 'GET,HEAD,OPTIONS').split(/[,\s]+/).filter((i) => i !== '');
        if (items.length === 1 && items[0] === 'none') return ['none'];
        return items.every((i) => /^[A-Z][A-Z-]{0,31}$/.test(i)) ? items : fail(ctx, 'RETRY_METHODS', v, 'must be a list of HTTP methods in upper case, or none');
      }),
      HEALTH_CHECKS: bool('HEALTH_CHECKS', true),
      HEALTH_CHECK_INTERVAL: int('HEALTH_CHECK_INTERVAL', 5000, 100, 3_600_000),
      LISTENER_ADDRESS: field('LISTENER_ADDRESS', (v, ctx) => {
        const urls = parseListenerAddresses(v ?? '');
        return typeof urls === 'string' ? fail(ctx, 'LISTENER_ADDRESS', v, `is not a list of listener addresses: ${urls}`) : urls;
      }),
      RELOAD_INTERVAL: int('RELOAD_INTERVAL', 5000, 100, 3_600_000),
      REPEAT_RELOAD: bool('REPEAT_RELOAD', false),
      LISTENER_WAIT: int('LISTENER_WAIT', 60, 0, 86_400),
      CONSUL_HTTP_TOKEN: field('CONSUL_HTTP_TOKEN', (v, ctx) => (v === undefined || !hasControl(v) ? v : fail(ctx, 'CONSUL_HTTP_TOKEN', v, 'may not contain control characters'))),
    })
    .transform((r, ctx) => {
      const bin = findInPath(r.HAPROXY_BIN ?? 'haproxy', r.PATH);
      if (!bin) fail(ctx, 'HAPROXY_BIN', r.HAPROXY_BIN ?? 'haproxy', 'was not found: install HAProxy 2.6 or newer (apt-get install -y haproxy) or set HAPROXY_BIN to its path');
      const statsOn = r.STATS_USER !== undefined && r.STATS_PASS !== undefined;
      if ((r.STATS_USER === undefined) !== (r.STATS_PASS === undefined)) {
        fail(ctx, r.STATS_USER === undefined ? 'STATS_USER' : 'STATS_PASS', undefined, 'must be set together with ' + (r.STATS_USER === undefined ? 'STATS_PASS' : 'STATS_USER') + ' (use "none" for no authentication)');
      }
      const settings: Settings = {
        port: r.PORT,
        ip: r.IP as string,
        dataDir: r.DATA_DIR,
        haproxyBin: bin ?? 'haproxy',
        serviceName: r.SERVICE_NAME as string,
        defaultPorts: r.DEFAULT_PORTS,
        bindPorts: r.BIND_PORTS,
        connectionMode: r.CONNECTION_MODE,
        timeouts: {
          connect: r.TIMEOUT_CONNECT,
          client: r.TIMEOUT_CLIENT,
          server: r.TIMEOUT_SERVER,
          queue: r.TIMEOUT_QUEUE,
          tunnel: r.TIMEOUT_TUNNEL,
          httpRequest: r.TIMEOUT_HTTP_REQUEST,
          httpKeepAlive: r.TIMEOUT_HTTP_KEEP_ALIVE,
        },
        ...(r.SERVICE_DOMAIN_ALGO !== undefined && { serviceDomainAlgo: r.SERVICE_DOMAIN_ALGO }),
        separator: r.SEPARATOR as string,
        extraGlobal: r.EXTRA_GLOBAL,
        extraFrontend: r.EXTRA_FRONTEND,
        ...(statsOn && {
          stats: { user: r.STATS_USER as string, pass: r.STATS_PASS as string, uri: r.STATS_URI as string, ...(r.STATS_PORT !== undefined && r.STATS_PORT !== 80 && { port: r.STATS_PORT }) },
        }),
        debug: r.DEBUG,
        users: r.USERS.map((u) => ({ ...u, encrypted: r.USERS_PASS_ENCRYPTED })),
        httpsOnly: r.HTTPS_ONLY,
        captureRequestHeaders: r.CAPTURE_REQUEST_HEADER,
        ...((r.COMPRESSION_ALGO !== undefined || r.COMPRESSION_TYPE !== undefined) && {
          compression: { ...(r.COMPRESSION_ALGO !== undefined && { algo: r.COMPRESSION_ALGO }), ...(r.COMPRESSION_TYPE !== undefined && { type: r.COMPRESSION_TYPE }) },
        }),
        checkResolvers: r.CHECK_RESOLVERS,
        resolvers: r.RESOLVERS,
        ...(r.CA_FILE !== undefined && { caFile: r.CA_FILE }),
        certsDir: r.CERTS_DIR ?? path.join(r.DATA_DIR, 'certs'),
        preferredCertificates: (r.PREFERRED_CERTIFICATE ?? '').split(',').filter((p) => p !== ''),
        enableH2: r.ENABLE_H2,
        sslBindOptions: r.SSL_BIND_OPTIONS as string,
        sslBindCiphers: r.SSL_BIND_CIPHERS as string,
        routeOrder: r.ROUTE_ORDER,
        hardStopAfter: r.HARD_STOP_AFTER as string,
        maxReloads: r.MWORKER_MAX_RELOADS,
        spareBackends: r.SPARE_BACKENDS,
        allowRawSnippets: r.ALLOW_RAW_SNIPPETS,
        templatesDir: r.TEMPLATES_DIR ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'templates'),
        templateDirs: r.TEMPLATE_DIRS,
        secretsDir: r.SECRETS_DIR,
        defaultProtocol: r.DEFAULT_PROTOCOL,
        filterProxyInstanceName: r.FILTER_PROXY_INSTANCE_NAME,
        proxyInstanceName: r.PROXY_INSTANCE_NAME as string,
        logLevel: r.LOG_LEVEL,
        maxconn: r.MAXCONN,
        ...(r.NBTHREAD !== undefined && { nbthread: r.NBTHREAD }),
        stopGraceMs: r.STOP_GRACE * 1000,
        // Unset DISCOVERY follows Docker only where there is one (DOCKER_HOST set or the default socket present),
        // so machines without Docker start in API-only mode.
        discovery: (r.DISCOVERY ?? (r.DOCKER_HOST !== undefined || r.DOCKER_HOSTS !== undefined || fs.existsSync('/var/run/docker.sock') ? 'docker' : 'none')) as 'docker' | 'none',
        dockerHost: r.DOCKER_HOST ?? DEFAULT_DOCKER_HOST,
        docker: { engines: [], multiple: false, problems: [] },
        notifyLabel: r.DF_NOTIFY_LABEL as string,
        ...(r.DOCKER_NETWORK !== undefined && { dockerNetwork: r.DOCKER_NETWORK }),
        ...(r.CFG_TEMPLATE_PATH !== undefined && { mainTemplatePath: r.CFG_TEMPLATE_PATH }),
        ...(r.CRT_LIST_PATH !== undefined && { crtListPath: r.CRT_LIST_PATH }),
        debugErrorsOnly: r.DEBUG_ERRORS_ONLY,
        ...(r.DEBUG_HTTP_FORMAT !== undefined && { debugHttpFormat: r.DEBUG_HTTP_FORMAT }),
        ...(r.DEBUG_TCP_FORMAT !== undefined && { debugTcpFormat: r.DEBUG_TCP_FORMAT }),
        terminateOnReload: r.TERMINATE_ON_RELOAD,
        ...(r.API_TOKEN !== undefined && { apiToken: r.API_TOKEN }),
        ...(r.HAPROXY_METRICS_PORT !== undefined && { haproxyMetricsPort: r.HAPROXY_METRICS_PORT }),
        peers: [],
        peerTimeoutMs: r.PEER_TIMEOUT,
        peerAttempts: r.PEER_ATTEMPTS,
        antiEntropyMs: r.ANTI_ENTROPY_INTERVAL,
        store: r.STORE as 'file' | 'consul',
        routeConflict: r.ROUTE_CONFLICT as 'warn' | 'reject',
        consolidateAfterMs: r.CONSOLIDATE_AFTER * 1000,
        ...(r.LOG_FORMAT !== undefined && { logFormat: r.LOG_FORMAT as 'json' | 'pretty' }),
        retry: { retries: r.RETRIES, on: r.RETRY_ON, methods: r.RETRY_METHODS },
        healthChecks: { enabled: r.HEALTH_CHECKS, intervalMs: r.HEALTH_CHECK_INTERVAL },
        listeners: r.LISTENER_ADDRESS,
        reloadIntervalMs: r.RELOAD_INTERVAL,
        repeatReload: r.REPEAT_RELOAD,
        listenerWaitMs: r.LISTENER_WAIT * 1000,
        ...(r.STORE === 'consul' && r.CONSUL_HTTP_ADDR !== undefined && {
          consul: { address: r.CONSUL_HTTP_ADDR, prefix: r.CONSUL_PREFIX as string, ...(r.CONSUL_HTTP_TOKEN !== undefined && { token: r.CONSUL_HTTP_TOKEN }) },
        }),
      };
      if (r.STORE === 'consul' && r.CONSUL_HTTP_ADDR === undefined) fail(ctx, 'CONSUL_HTTP_ADDR', undefined, 'must be set when STORE=consul');
      const docker = dockerEngines({ hosts: r.DOCKER_HOSTS, host: r.DOCKER_HOST, fallback: DEFAULT_DOCKER_HOST, tls: tlsDefaults({ verify: r.DOCKER_TLS_VERIFY, tls: r.DOCKER_TLS, certPath: r.DOCKER_CERT_PATH, home: r.HOME }) });
      if (docker.error && !(docker.error.variable === 'DOCKER_HOST' && r.DOCKER_HOST !== undefined)) fail(ctx, docker.error.variable, docker.error.value, docker.error.problem);
      else settings.docker = { engines: docker.engines, multiple: docker.multiple, problems: docker.problems };
      const peers = parsePeers(r.PEERS ?? '', r.PORT);
      if (typeof peers === 'string') fail(ctx, 'PEERS', r.PEERS, `is not a list of peers: ${peers}`);
      else settings.peers = peers;
      // docker-flow-proxy found its replicas at tasks.<SERVICE_NAME>, as Swarm provides.
      if (r.PEER_DISCOVERY === 'dns') settings.peers.push({ kind: 'dns', host: `tasks.${r.SERVICE_NAME}`, port: r.PORT });
      return settings;
    });
}
