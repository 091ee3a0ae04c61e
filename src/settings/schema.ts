// Long on purpose: the one table of every environment variable (name, parse, default, doc line).
import path from 'node:path';
import { parseDockerHost } from '../adapters/docker/dockerHost.js';
import { parseListenerAddresses } from '../adapters/listener/swarmListener.js';
import { hasControl } from '../domain/haproxyText.js';
import type { ReqMode } from '../domain/spec.js';
import { COMPRESSION_ALGO, CONNECTION_MODES, DOMAIN_ALGO, RETRY_ON } from '../domain/values.js';
import type { RouteOrder } from '../render/routes.js';
import { binds, bool, custom, dir, failAt, type Field, int, lines, logFormat, oneOf, optionalInt, pattern, text } from './fields.js';

/** One environment variable: defined once, for parsing, `--help` and the README. */
export interface SettingDef<T = unknown> {
  /** The group `--help` and the README list it under. */
  group: string;
  /** The default, in words ('' when unset means off; parentheses mark a description). */
  default: string;
  /** What it means, in one line. */
  doc: string;
  /** Also read from the Docker secret /run/secrets/dfp_<lower-case name>, which wins. */
  secret?: boolean;
  /** Its value is a password or token: error messages say "(value hidden)". */
  hide?: boolean;
  /** Variables documented in the same entry (`STATS_USER_ENV, STATS_PASS_ENV, ...`). */
  also?: readonly string[];
  /** How parseSettings reads it; absent when something else does (`readBy`). */
  parse?: Field<T>;
  /** Who reads a variable without `parse`: ACME settings, environment services, the loader, or nobody. */
  readBy?: 'acme' | 'services' | 'indirection' | 'ignored';
}

const API = 'API and files';
const HTTP = 'HTTP frontend and HAProxy';
const SERVICES = 'Services, users and templates';
const STATS = 'Stats and debugging';
const TLS = 'TLS and DNS';
const LISTENER = 'Behind docker-flow-swarm-listener';
const ACME = 'Automatic HTTPS (ACME)';
const RETRY = 'Retries and health';
const DOCKER = 'Docker discovery';
const REPLICAS = 'Replicas and stores';
const COMPAT = 'Accepted without effect (docker-flow-proxy compatibility)';

const S = true;
const SECONDS = 2_147_483;

/** A HAProxy time: a number with an optional unit. */
const TIME = /^\d+(us|ms|s|m|h|d)?$/;

/** The users of USERS, before USERS_PASS_ENCRYPTED applies. */
const users = custom((v, ctx, at) => {
  if (v === undefined) return [] as Array<{ name: string; password: string }>;
  const out: Array<{ name: string; password: string }> = [];
  for (const item of v.split(/[,\n]/).map((i) => i.trim()).filter((i) => i !== '')) {
    const colon = item.indexOf(':');
    const name = colon < 0 ? '' : item.slice(0, colon);
    const password = colon < 0 ? '' : item.slice(colon + 1);
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name) || password === '' || password.includes("'") || hasControl(password)) {
      return failAt(ctx, at, v, 'must be a list of user:password pairs (no single quotes or control characters)');
    }
    out.push({ name, password });
  }
  return out;
});

const captureHeaders = custom((v, ctx, at) => {
  if (v === undefined) return [] as Array<{ name: string; length: number }>;
  const out: Array<{ name: string; length: number }> = [];
  for (const item of v.split(',').map((i) => i.trim()).filter((i) => i !== '')) {
    const m = /^([A-Za-z0-9-]+):(\d{1,5})$/.exec(item);
    if (!m) return failAt(ctx, at, item, 'must be a list of Header:length, for example Host:15');
    out.push({ name: m[1] as string, length: Number(m[2]) });
  }
  return out;
});

/** A list of methods or conditions, `none` alone, or the default. */
function retryList(fallback: string, check: (items: string[], v: string | undefined) => string | undefined) {
  return custom((v, ctx, at) => {
    const items = (v ?? fallback).split(/[,\s]+/).filter((i) => i !== '');
    if (items.length === 1 && items[0] === 'none') return ['none'];
    const problem = check(items, v);
    return problem === undefined ? items : failAt(ctx, at, v, problem);
  });
}

/**
 * Every environment variable flow-proxy reads (and the few it accepts
 * without effect), grouped and ordered as `--help` lists them.
 */
export const SETTINGS = {
  // API and files
  PORT: { group: API, default: '8080', doc: 'API port.', parse: int(8080, 0, 65535) },
  IP: { group: API, default: '0.0.0.0', doc: 'API bind address.', parse: pattern('0.0.0.0', /^[0-9.]+$|^[0-9a-fA-F:]+$/, 'must be an IP address') },
  DATA_DIR: { group: API, default: './data', doc: 'State (state.json, its backup and the journal of changes since) and the generated HAProxy files.', parse: dir('./data') },
  HAPROXY_BIN: { group: API, default: 'haproxy from PATH', doc: 'The HAProxy binary (2.6 or newer).', parse: text() },
  PATH: { group: API, default: "(the environment's)", doc: 'Where HAPROXY_BIN is looked up.', parse: text() },
  API_TOKEN: {
    group: API, default: '', doc: 'Token required on mutating endpoints (at least 16 characters); the CLI sends it too.', secret: S, hide: true,
    parse: custom((v, ctx, at) => (v === undefined ? undefined : v.length >= 16 && !hasControl(v) ? v : failAt(ctx, at, v, 'must be at least 16 characters without control characters'))),
  },
  LOG_LEVEL: { group: API, default: 'info', doc: 'fatal, error, warn, info, debug, trace or silent.', parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'must be one of fatal, error, warn, info, debug, trace, silent') },
  LOG_FORMAT: { group: API, default: 'json (pretty at a terminal)', doc: 'json: JSON lines; pretty: readable lines.', parse: oneOf(['json', 'pretty'], undefined, 'must be json or pretty') },
  CONSOLIDATE_AFTER: { group: API, default: '30', doc: 'Seconds without a change after runtime changes before one reload gives every backend its canonical name (under constant churn at the latest 20 times that after the drift began); 0: never.', parse: int(30, 0, 86_400) },
  CHECK_BEFORE_RELOAD: { group: API, default: 'false', doc: "Run haproxy -c on the changed part before every reload. By default a running HAProxy's reload is its own check (its master keeps the live workers when it cannot load a config) and haproxy -c runs only to name the culprits of a refused one.", parse: bool(false) },
  ROUTE_CONFLICT: { group: API, default: 'warn', doc: 'A route another service has too: warn (accept, with a warning) or reject (409).', parse: oneOf(['warn', 'reject'], 'warn', 'must be warn or reject') },
  SECRETS_DIR: { group: API, default: '/run/secrets', doc: 'Where Docker secrets are read from.', parse: custom((v) => v ?? '/run/secrets') },
  STOP_GRACE: { group: API, default: '5', doc: 'Seconds HAProxy may finish requests on SIGTERM before it is stopped hard.', parse: int(5, 0, 3600) },

  // HTTP frontend and HAProxy
  DEFAULT_PORTS: { group: HTTP, default: '80,443:ssl', doc: 'HTTP binds: [address:]port[:ssl][ options]; :ssl binds terminate TLS once certificates exist.', secret: S, parse: binds('80,443:ssl') },
  BIND_PORTS: { group: HTTP, default: '', doc: 'More binds of the HTTP frontend, same format.', secret: S, parse: binds('') },
  SERVICE_NAME: { group: HTTP, default: 'proxy', doc: "This proxy's own Swarm service name (for tasks.<SERVICE_NAME>).", parse: pattern('proxy', /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a service name') },
  CONNECTION_MODE: {
    group: HTTP, default: 'http-keep-alive', doc: 'http-keep-alive, http-server-close or httpclose.', secret: S,
    parse: custom((v, ctx, at) => {
      const value = v ?? 'http-keep-alive';
      if (!CONNECTION_MODES.has(value)) {
        return failAt(ctx, at, value, ['http-tunnel', 'forceclose'].includes(value) ? 'is refused by HAProxy 2.x; use http-keep-alive, http-server-close or httpclose' : 'must be http-keep-alive, http-server-close or httpclose');
      }
      return value;
    }),
  },
  TIMEOUT_CONNECT: { group: HTTP, default: '5', doc: 'Seconds.', secret: S, parse: int(5, 0, SECONDS) },
  TIMEOUT_CLIENT: { group: HTTP, default: '20', doc: 'Seconds.', secret: S, parse: int(20, 0, SECONDS) },
  TIMEOUT_SERVER: { group: HTTP, default: '20', doc: 'Seconds.', secret: S, parse: int(20, 0, SECONDS) },
  TIMEOUT_QUEUE: { group: HTTP, default: '30', doc: 'Seconds.', secret: S, parse: int(30, 0, SECONDS) },
  TIMEOUT_TUNNEL: { group: HTTP, default: '3600', doc: 'Seconds (websockets).', secret: S, parse: int(3600, 0, SECONDS) },
  TIMEOUT_HTTP_REQUEST: { group: HTTP, default: '5', doc: 'Seconds.', secret: S, parse: int(5, 0, SECONDS) },
  TIMEOUT_HTTP_KEEP_ALIVE: { group: HTTP, default: '15', doc: 'Seconds.', secret: S, parse: int(15, 0, SECONDS) },
  SERVICE_DOMAIN_ALGO: {
    group: HTTP, default: '(exact host)', doc: 'Default host match for every service, such as hdr_beg(host); unset matches hosts exactly through maps.',
    parse: pattern(undefined, DOMAIN_ALGO, 'is not a supported host match (hdr(host), hdr_beg(host), hdr_end(host), hdr_dom(host), ...)'),
  },
  SEPARATOR: { group: HTTP, default: ',', doc: 'List separator of parameters.', parse: pattern(',', /^[^\s'"\\#]{1,4}$/, 'must be one to four characters, no spaces or quotes') },
  EXTRA_GLOBAL: { group: HTTP, default: '', doc: 'Lines (comma separated) added to global.', secret: S, parse: lines() },
  EXTRA_FRONTEND: { group: HTTP, default: '', doc: 'Lines (comma separated) added to the HTTP frontend.', secret: S, parse: lines() },
  CAPTURE_REQUEST_HEADER: { group: HTTP, default: '', doc: 'Header:length,… captured in logs (Host:15,X-Forwarded-For:20).', parse: captureHeaders },
  COMPRESSION_ALGO: {
    group: HTTP, default: '', doc: 'Compression algorithms for every service.',
    parse: pattern(undefined, COMPRESSION_ALGO, 'must be a list of identity, gzip, deflate, raw-deflate'),
  },
  COMPRESSION_TYPE: {
    group: HTTP, default: '', doc: 'MIME types compressed for every service.',
    parse: pattern(undefined, /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+*-]+( [A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+*-]+)*$/, 'must be a space separated list of MIME types'),
  },
  ROUTE_ORDER: { group: HTTP, default: 'specific', doc: "specific (the more specific route wins) or acl (docker-flow-proxy's order).", parse: oneOf<RouteOrder, RouteOrder>(['specific', 'acl'], 'specific', 'must be specific or acl') },
  HARD_STOP_AFTER: { group: HTTP, default: '30s', doc: 'Old HAProxy workers are stopped this long after a reload.', parse: pattern('30s', TIME, 'must be a HAProxy time such as 30s or 5m') },
  MWORKER_MAX_RELOADS: { group: HTTP, default: '50', doc: 'A worker that survived this many reloads is stopped.', parse: int(50, 1, 1_000_000) },
  SPARE_BACKENDS: { group: HTTP, default: '32', doc: 'Empty backends kept ready so that a new plain service needs no reload.', parse: int(32, 0, 100_000) },
  MAXCONN: { group: HTTP, default: '5000', doc: 'maxconn of HAProxy.', parse: int(5000, 1, 10_000_000) },
  NBTHREAD: { group: HTTP, default: "(HAProxy's)", doc: 'HAProxy threads (HAProxy uses one per CPU). Each one adds to a reload with thousands of services.', parse: optionalInt(1, 64) },
  TERMINATE_ON_RELOAD: { group: HTTP, default: 'false', doc: 'Stop old workers right after a reload instead of letting them finish.', parse: bool(false) },
  HAPROXY_METRICS_PORT: { group: HTTP, default: '', doc: "Port of HAProxy's own Prometheus exporter.", parse: optionalInt(1, 65535) },
  DEFAULT_REQ_MODE: {
    group: HTTP, default: 'http', doc: 'Only http; TCP services use reqMode=tcp.', secret: S,
    parse: custom((v, ctx, at) => (v === undefined || v === 'http' ? 'http' : failAt(ctx, at, v, 'is not supported: the HTTP frontend is always in http mode; give TCP services reqMode=tcp'))),
  },

  // Services, users and templates
  'DFP_SERVICE_<PARAM>': { group: SERVICES, default: '', doc: 'Services defined in the environment, applied at start.', also: ['DFP_SERVICE_<N>_<PARAM>[_<I>]'], readBy: 'services' },
  DEFAULT_PROTOCOL: { group: SERVICES, default: 'http', doc: 'reqMode of DFP_SERVICE_* services.', secret: S, parse: oneOf<ReqMode, ReqMode>(['http', 'tcp', 'sni'], 'http', 'must be http, tcp or sni') },
  USERS: { group: SERVICES, default: '', doc: 'Basic auth for every service: user:password,…', secret: S, hide: true, parse: users },
  USERS_PASS_ENCRYPTED: { group: SERVICES, default: 'false', doc: 'USERS passwords are crypt(3) hashes.', secret: S, parse: bool(false) },
  HTTPS_ONLY: { group: SERVICES, default: 'false', doc: 'Redirect HTTP to HTTPS for every service.', parse: bool(false) },
  ALLOW_RAW_SNIPPETS: { group: SERVICES, default: 'false', doc: 'Let raw parameters use directives that run code or read files.', parse: bool(false) },
  TEMPLATE_DIRS: {
    group: SERVICES, default: '/templates', doc: 'Directories templateFePath/templateBePath may read from.',
    parse: custom((v, _ctx, at) => (v ?? '/templates').split(',').map((d) => path.resolve(at.host.cwd, d.trim())).filter((d) => d !== '')),
  },
  TEMPLATES_DIR: { group: SERVICES, default: '(built in)', doc: 'Directory with haproxy.cfg.hbs and partials/ replacing the built-in templates.', parse: dir(undefined) },
  CFG_TEMPLATE_PATH: {
    group: SERVICES, default: '', doc: 'A Handlebars main template (file or consul://key) replacing haproxy.cfg.hbs.',
    parse: custom((v, ctx, at) => {
      if (v === undefined) return undefined;
      if (/^consul:\/\/[A-Za-z0-9_./-]+$/.test(v) && !v.includes('..')) return v;
      const file = path.resolve(at.host.cwd, v);
      return at.host.exists(file) ? file : failAt(ctx, at, v, 'does not exist');
    }),
  },
  FILTER_PROXY_INSTANCE_NAME: { group: SERVICES, default: 'false', doc: "Ignore (and acknowledge) requests whose proxyInstanceName is another instance's.", parse: bool(false) },
  PROXY_INSTANCE_NAME: { group: SERVICES, default: 'docker-flow', doc: "This instance's name for FILTER_PROXY_INSTANCE_NAME.", parse: pattern('docker-flow', /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a name') },

  // Stats and debugging
  STATS_USER: { group: STATS, default: '', doc: "With STATS_PASS: HAProxy's stats page; none turns authentication off.", secret: S, parse: pattern(undefined, /^[^\s:'"#\\$]+$/, 'may not contain spaces, ":", quotes, "#", "\\" or "$"') },
  STATS_PASS: { group: STATS, default: '', doc: 'Password of the stats page.', secret: S, hide: true, parse: pattern(undefined, /^[^\s'"#\\$]+$/, 'may not contain spaces, quotes, "#", "\\" or "$"') },
  STATS_URI: {
    group: STATS, default: '/admin?stats', doc: 'Stats page URI.', secret: S,
    parse: custom((v, ctx, at) => {
      if (v === undefined) return '/admin?stats';
      if (hasControl(v) || !/^\/[!-~]*$/.test(v)) return failAt(ctx, at, v, 'must be a path starting with "/"');
      return /['"#\\]/.test(v) ? failAt(ctx, at, v, 'may not contain quotes, "#" or "\\"') : v;
    }),
  },
  STATS_PORT: { group: STATS, default: '', doc: 'Serve stats on this port only (else on the HTTP frontend).', secret: S, parse: optionalInt(1, 65535) },
  STATS_USER_ENV: { group: STATS, default: '', doc: 'Names of other variables to read the stats settings from.', also: ['STATS_PASS_ENV', 'STATS_URI_ENV'], readBy: 'indirection' },
  DEBUG: { group: STATS, default: 'false', doc: "HAProxy traffic logs to the proxy's output.", secret: S, parse: bool(false) },
  DEBUG_ERRORS_ONLY: { group: STATS, default: 'false', doc: 'With DEBUG, log only failed requests.', secret: S, parse: bool(false) },
  DEBUG_HTTP_FORMAT: { group: STATS, default: '', doc: 'With DEBUG, log-format of the HTTP frontend.', secret: S, parse: logFormat() },
  DEBUG_TCP_FORMAT: { group: STATS, default: '', doc: 'With DEBUG, log-format of the TCP frontends.', secret: S, parse: logFormat() },

  // TLS and DNS
  CERTS_DIR: { group: TLS, default: 'DATA_DIR/certs', doc: 'Certificates directory.', parse: dir(undefined) },
  PREFERRED_CERTIFICATE: { group: TLS, default: '', doc: 'Certificates (patterns) listed first: the default for clients without SNI.', parse: pattern(undefined, /^[A-Za-z0-9_.*?,\-[\]]+$/, 'must be a list of file name patterns') },
  CRT_LIST_PATH: { group: TLS, default: '', doc: 'Use this crt-list instead of generating one.', parse: pattern(undefined, /^\/[A-Za-z0-9_./-]+$/, 'must be an absolute file path') },
  CA_FILE: { group: TLS, default: '', doc: 'CA for client certificates on :ssl binds.', parse: pattern(undefined, /^\/[A-Za-z0-9_./-]+$/, 'must be an absolute file path') },
  ENABLE_H2: { group: TLS, default: 'true', doc: 'Offer HTTP/2 on TLS binds.', parse: bool(true) },
  SSL_BIND_OPTIONS: { group: TLS, default: 'no-sslv3', doc: 'ssl-default-bind-options.', secret: S, parse: pattern('no-sslv3', /^[A-Za-z0-9._-]+( [A-Za-z0-9._-]+)*$/, 'must be a space separated list of bind options') },
  SSL_BIND_CIPHERS: {
    group: TLS, default: '(modern list)', doc: 'ssl-default-bind-ciphers.', secret: S,
    parse: pattern('ECDH+AESGCM:ECDH+CHACHA20:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:RSA+AES:!aNULL:!MD5:!DSS', /^[A-Za-z0-9:+!@._-]+$/, 'must be an OpenSSL cipher list'),
  },
  RESOLVERS: {
    group: TLS, default: 'nameserver dns 127.0.0.11:53', doc: 'Lines of the resolvers section for discoveryType=DNS and checkResolvers.', secret: S,
    parse: (at) => lines()(at).transform((l) => (l.length > 0 ? l : ['nameserver dns 127.0.0.11:53'])),
  },
  CHECK_RESOLVERS: { group: TLS, default: 'false', doc: "Default for checkResolvers (a service's own value wins).", parse: bool(false) },
  DO_NOT_RESOLVE_ADDR: { group: TLS, default: 'false', doc: 'Accepted for compatibility (unresolvable hosts never break the config).', parse: bool(false) },

  // Behind docker-flow-swarm-listener
  LISTENER_ADDRESS: {
    group: LISTENER, default: '', doc: 'Listeners to pull every service from at start: host (port 8080), host:port or http(s)://host:port, comma separated.',
    parse: custom((v, ctx, at) => {
      const urls = parseListenerAddresses(v ?? '');
      return typeof urls === 'string' ? failAt(ctx, at, v, `is not a list of listener addresses: ${urls}`) : urls;
    }),
  },
  RELOAD_INTERVAL: { group: LISTENER, default: '5000', doc: 'Milliseconds: the longest wait between pull retries, and the period of REPEAT_RELOAD.', parse: int(5000, 100, 3_600_000) },
  REPEAT_RELOAD: { group: LISTENER, default: 'false', doc: 'Pull from the listeners every RELOAD_INTERVAL, not only until the first success.', parse: bool(false) },
  LISTENER_WAIT: { group: LISTENER, default: '60', doc: 'Seconds readiness waits for the first pull of every listener.', parse: int(60, 0, 86_400) },

  // Automatic HTTPS (ACME): parsed by acmeSettings.ts, which needs other settings' facts.
  ACME_EMAIL: { group: ACME, default: '', doc: 'ACME is on when set: the account e-mail for the CA.', secret: S, readBy: 'acme' },
  ACME_DIRECTORY: { group: ACME, default: "Let's Encrypt production", doc: 'The ACME directory URL (staging: https://acme-staging-v02.api.letsencrypt.org/directory).', secret: S, readBy: 'acme' },
  ACME_CA_FILE: { group: ACME, default: '', doc: 'Extra CA certificates to trust for the connection to the ACME server.', secret: S, readBy: 'acme' },
  ACME_RETRY_BASE: { group: ACME, default: '300', doc: 'Seconds before the first retry of a failed order (then doubled, jittered).', readBy: 'acme' },
  ACME_RETRY_MAX: { group: ACME, default: '86400', doc: 'The longest wait between retries of a failed order, in seconds.', readBy: 'acme' },

  // Retries and health
  RETRIES: { group: RETRY, default: '3', doc: 'Retries of a failed request, each on another server.', parse: int(3, 0, 10) },
  RETRY_ON: {
    group: RETRY, default: 'conn-failure,empty-response,junk-response', doc: 'HAProxy retry-on conditions, or none.',
    parse: retryList('conn-failure,empty-response,junk-response', (items) => {
      const bad = items.find((i) => !RETRY_ON.has(i));
      return bad === undefined ? undefined : `holds "${bad}", which is not a retry-on condition (${[...RETRY_ON].join(', ')}, or none)`;
    }),
  },
  RETRY_METHODS: {
    group: RETRY, default: 'GET,HEAD,OPTIONS', doc: 'Methods retried on more than a connection failure, or none.',
    parse: retryList('GET,HEAD,OPTIONS', (items) => (items.every((i) => /^[A-Z][A-Z-]{0,31}$/.test(i)) ? undefined : 'must be a list of HTTP methods in upper case, or none')),
  },
  HEALTH_CHECKS: { group: RETRY, default: 'true', doc: 'Active (layer 4) and passive health checks on every server.', parse: bool(true) },
  HEALTH_CHECK_INTERVAL: { group: RETRY, default: '5000', doc: 'Milliseconds between checks of a healthy server.', parse: int(5000, 100, 3_600_000) },

  // Docker discovery
  DISCOVERY: {
    group: DOCKER, default: 'docker if DOCKER_HOST or DOCKER_HOSTS is set or /var/run/docker.sock exists, else none', doc: 'docker routes containers and swarm services by their labels; none is API-only.',
    parse: oneOf(['docker', 'none'], undefined, 'must be docker or none'),
  },
  DOCKER_HOST: {
    group: DOCKER, default: 'unix:///var/run/docker.sock', doc: "The Docker API of the proxy's own engine: unix:///path or tcp://host:port.",
    parse: custom((v, ctx, at) => (v === undefined || parseDockerHost(v) ? v : failAt(ctx, at, v, 'must be unix:///path/to/docker.sock or tcp://host:port'))),
  },
  DOCKER_HOSTS: {
    group: DOCKER, default: '',
    doc: 'Several engines (replaces DOCKER_HOST): [name=]unix:///path or [name=]tcp://host:port, comma separated, each with ?tls=verify|noverify|off&certs=/dir&address=host&network=name. A bad entry is reported and skipped.',
    parse: text(),
  },
  DOCKER_TLS_VERIFY: { group: DOCKER, default: 'false', doc: "tcp:// engines use TLS and verify the engine's certificate (ca.pem), with a client certificate.", parse: bool(false) },
  DOCKER_TLS: { group: DOCKER, default: 'false', doc: "tcp:// engines use TLS without verifying the engine's certificate.", parse: bool(false) },
  DOCKER_CERT_PATH: { group: DOCKER, default: '$HOME/.docker', doc: 'Directory with ca.pem, cert.pem and key.pem for TLS engines (certs= of an entry wins).', parse: pattern(undefined, /^\/[A-Za-z0-9_.\/@+-]*$/, 'must be an absolute directory path') },
  HOME: { group: DOCKER, default: "(the environment's)", doc: 'Where DOCKER_CERT_PATH defaults to ($HOME/.docker).', parse: text() },
  DF_NOTIFY_LABEL: { group: DOCKER, default: 'com.df.notify', doc: 'Only containers and services with this label set to true are routed.', parse: pattern('com.df.notify', /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, 'must be a label name such as com.df.notify') },
  SWARM_ROUTING: {
    group: DOCKER, default: 'vip',
    doc: "Swarm services go to their virtual IP (vip: Docker balances) or to each running task's address (tasks: drained by flow-proxy on deploys and crashes; the proxy must share the tasks' network). com.df.swarmRouting overrides it per service.",
    parse: oneOf(['vip', 'tasks'], 'vip', 'must be vip or tasks'),
  },
  DOCKER_NETWORK: { group: DOCKER, default: '', doc: 'The network flow-proxy shares with containers (their IP on it is used).', parse: pattern(undefined, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be a Docker network name') },

  // Replicas and stores
  PEERS: { group: REPLICAS, default: '', doc: 'Other replicas: host:port or dns:<name>[:port], comma separated.', parse: text() },
  PEER_DISCOVERY: { group: REPLICAS, default: 'none', doc: 'dns: also the replicas at tasks.<SERVICE_NAME>:<PORT> (Swarm).', parse: oneOf(['none', 'dns'], 'none', 'must be none or dns') },
  PEER_TIMEOUT: { group: REPLICAS, default: '5000', doc: 'Milliseconds per call to a peer.', parse: int(5000, 100, 600_000) },
  PEER_ATTEMPTS: { group: REPLICAS, default: '3', doc: 'Attempts per peer for a distributed change.', parse: int(3, 1, 20) },
  ANTI_ENTROPY_INTERVAL: { group: REPLICAS, default: '5000', doc: 'Milliseconds between comparisons with the peers; 0 turns it off.', parse: int(5000, 0, 3_600_000) },
  STORE: { group: REPLICAS, default: 'file', doc: 'file (DATA_DIR) or consul (Consul KV, shared by the replicas).', parse: oneOf(['file', 'consul'], 'file', 'must be file or consul') },
  CONSUL_HTTP_ADDR: { group: REPLICAS, default: '', doc: 'Consul address (host:port or http(s)://host:port), needed with STORE=consul.', parse: pattern(undefined, /^(https?:\/\/)?[A-Za-z0-9._-]+(:\d{1,5})?\/?$/, 'must be host:port or http(s)://host:port') },
  CONSUL_PREFIX: { group: REPLICAS, default: 'flow-proxy', doc: 'Key prefix in Consul KV.', parse: pattern('flow-proxy', /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be a Consul key prefix (letters, digits, "_", ".", "-", "/")') },
  CONSUL_HTTP_TOKEN: {
    group: REPLICAS, default: '', doc: 'Consul ACL token.', secret: S, hide: true,
    parse: custom((v, ctx, at) => (v === undefined || !hasControl(v) ? v : failAt(ctx, at, v, 'may not contain control characters'))),
  },

  // Accepted without effect (docker-flow-proxy compatibility)
  RELOAD_ATTEMPTS: { group: COMPAT, default: '', doc: 'Every listener is retried until it answers; a config is checked once.', also: ['RECONFIGURE_ATTEMPTS'], readBy: 'ignored' },
  DISPLAY_CONFIG_ON_ERROR: { group: COMPAT, default: '', doc: 'Not needed by flow-proxy.', also: ['DNS_LOOKUP_PAUSE_MS', 'CERTS', 'MODE', 'HEALTHCHECK'], readBy: 'ignored' },
} satisfies Record<string, SettingDef>;

/** A variable's definition with its name. */
export type NamedSetting = SettingDef & { name: string };

/** Every definition, in `--help` order. */
export const SETTING_LIST: readonly NamedSetting[] = Object.entries(SETTINGS).map(([name, def]) => ({ name, ...(def as SettingDef) }));

/** Variables also read from /run/secrets/dfp_<lower-case name> (the secret wins). */
export const SECRET_VARS: readonly string[] = SETTING_LIST.filter((s) => s.secret).map((s) => s.name);
