/** One environment variable of `flow-proxy run`, as `flow-proxy --help` lists it. */
export interface SettingHelp {
  name: string;
  /** The default, in words ('' when unset means off). */
  default: string;
  meaning: string;
  /** Also read from the Docker secret /run/secrets/dfp_<lower-case name>, which wins. */
  secret?: boolean;
}

const S = true;

/**
 * Every variable settings.ts reads (a unit test checks that none is
 * missing), grouped as the README's tables group them.
 */
export const SETTINGS_HELP: ReadonlyArray<{ group: string; settings: SettingHelp[] }> = [
  {
    group: 'API and files',
    settings: [
      { name: 'PORT', default: '8080', meaning: 'API port.' },
      { name: 'IP', default: '0.0.0.0', meaning: 'API bind address.' },
      { name: 'DATA_DIR', default: './data', meaning: 'State (state.json and its backup) and the generated HAProxy files.' },
      { name: 'HAPROXY_BIN', default: 'haproxy from PATH', meaning: 'The HAProxy binary (2.6 or newer).' },
      { name: 'PATH', default: '(the environment\'s)', meaning: 'Where HAPROXY_BIN is looked up.' },
      { name: 'API_TOKEN', default: '', meaning: 'Token required on mutating endpoints (at least 16 characters); the CLI sends it too.', secret: S },
      { name: 'LOG_LEVEL', default: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent.' },
      { name: 'LOG_FORMAT', default: 'json (pretty at a terminal)', meaning: 'json: JSON lines; pretty: readable lines.' },
      { name: 'CONSOLIDATE_AFTER', default: '30', meaning: 'Seconds without a change after runtime changes before one reload gives every backend its canonical name; 0: never.' },
      { name: 'ROUTE_CONFLICT', default: 'warn', meaning: 'A route another service has too: warn (accept, with a warning) or reject (409).' },
      { name: 'SECRETS_DIR', default: '/run/secrets', meaning: 'Where Docker secrets are read from.' },
      { name: 'STOP_GRACE', default: '5', meaning: 'Seconds HAProxy may finish requests on SIGTERM before it is stopped hard.' },
    ],
  },
  {
    group: 'HTTP frontend and HAProxy',
    settings: [
      { name: 'DEFAULT_PORTS', default: '80,443:ssl', meaning: 'HTTP binds: [address:]port[:ssl][ options]; :ssl binds terminate TLS once certificates exist.', secret: S },
      { name: 'BIND_PORTS', default: '', meaning: 'More binds of the HTTP frontend, same format.', secret: S },
      { name: 'SERVICE_NAME', default: 'proxy', meaning: "This proxy's own Swarm service name (for tasks.<SERVICE_NAME>)." },
      { name: 'CONNECTION_MODE', default: 'http-keep-alive', meaning: 'http-keep-alive, http-server-close or httpclose.', secret: S },
      { name: 'TIMEOUT_CONNECT', default: '5', meaning: 'Seconds.', secret: S },
      { name: 'TIMEOUT_CLIENT', default: '20', meaning: 'Seconds.', secret: S },
      { name: 'TIMEOUT_SERVER', default: '20', meaning: 'Seconds.', secret: S },
      { name: 'TIMEOUT_QUEUE', default: '30', meaning: 'Seconds.', secret: S },
      { name: 'TIMEOUT_TUNNEL', default: '3600', meaning: 'Seconds (websockets).', secret: S },
      { name: 'TIMEOUT_HTTP_REQUEST', default: '5', meaning: 'Seconds.', secret: S },
      { name: 'TIMEOUT_HTTP_KEEP_ALIVE', default: '15', meaning: 'Seconds.', secret: S },
      { name: 'SERVICE_DOMAIN_ALGO', default: '(exact host)', meaning: 'Default host match for every service, such as hdr_beg(host); unset matches hosts exactly through maps.' },
      { name: 'SEPARATOR', default: ',', meaning: 'List separator of parameters.' },
      { name: 'EXTRA_GLOBAL', default: '', meaning: 'Lines (comma separated) added to global.', secret: S },
      { name: 'EXTRA_FRONTEND', default: '', meaning: 'Lines (comma separated) added to the HTTP frontend.', secret: S },
      { name: 'CAPTURE_REQUEST_HEADER', default: '', meaning: 'Header:length,… captured in logs (Host:15,X-Forwarded-For:20).' },
      { name: 'COMPRESSION_ALGO', default: '', meaning: 'Compression algorithms for every service.' },
      { name: 'COMPRESSION_TYPE', default: '', meaning: 'MIME types compressed for every service.' },
      { name: 'ROUTE_ORDER', default: 'specific', meaning: "specific (the more specific route wins) or acl (docker-flow-proxy's order)." },
      { name: 'HARD_STOP_AFTER', default: '30s', meaning: 'Old HAProxy workers are stopped this long after a reload.' },
      { name: 'MWORKER_MAX_RELOADS', default: '50', meaning: 'A worker that survived this many reloads is stopped.' },
      { name: 'SPARE_BACKENDS', default: '32', meaning: 'Empty backends kept ready so that a new plain service needs no reload.' },
      { name: 'MAXCONN', default: '5000', meaning: 'maxconn of HAProxy.' },
      { name: 'NBTHREAD', default: "(HAProxy's)", meaning: 'HAProxy threads.' },
      { name: 'TERMINATE_ON_RELOAD', default: 'false', meaning: 'Stop old workers right after a reload instead of letting them finish.' },
      { name: 'HAPROXY_METRICS_PORT', default: '', meaning: "Port of HAProxy's own Prometheus exporter." },
      { name: 'DEFAULT_REQ_MODE', default: 'http', meaning: 'Only http; TCP services use reqMode=tcp.', secret: S },
    ],
  },
  {
    group: 'Services, users and templates',
    settings: [
      { name: 'DFP_SERVICE_<PARAM>, DFP_SERVICE_<N>_<PARAM>[_<I>]', default: '', meaning: 'Services defined in the environment, applied at start.' },
      { name: 'DEFAULT_PROTOCOL', default: 'http', meaning: 'reqMode of DFP_SERVICE_* services.', secret: S },
      { name: 'USERS', default: '', meaning: 'Basic auth for every service: user:password,…', secret: S },
      { name: 'USERS_PASS_ENCRYPTED', default: 'false', meaning: 'USERS passwords are crypt(3) hashes.', secret: S },
      { name: 'HTTPS_ONLY', default: 'false', meaning: 'Redirect HTTP to HTTPS for every service.' },
      { name: 'ALLOW_RAW_SNIPPETS', default: 'false', meaning: 'Let raw parameters use directives that run code or read files.' },
      { name: 'TEMPLATE_DIRS', default: '/templates', meaning: 'Directories templateFePath/templateBePath may read from.' },
      { name: 'TEMPLATES_DIR', default: '(built in)', meaning: 'Directory with haproxy.cfg.hbs and partials/ replacing the built-in templates.' },
      { name: 'CFG_TEMPLATE_PATH', default: '', meaning: 'A Handlebars main template (file or consul://key) replacing haproxy.cfg.hbs.' },
      { name: 'FILTER_PROXY_INSTANCE_NAME', default: 'false', meaning: "Ignore (and acknowledge) requests whose proxyInstanceName is another instance's." },
      { name: 'PROXY_INSTANCE_NAME', default: 'docker-flow', meaning: "This instance's name for FILTER_PROXY_INSTANCE_NAME." },
    ],
  },
  {
    group: 'Stats and debugging',
    settings: [
      { name: 'STATS_USER', default: '', meaning: "With STATS_PASS: HAProxy's stats page; none turns authentication off.", secret: S },
      { name: 'STATS_PASS', default: '', meaning: 'Password of the stats page.', secret: S },
      { name: 'STATS_URI', default: '/admin?stats', meaning: 'Stats page URI.', secret: S },
      { name: 'STATS_PORT', default: '', meaning: 'Serve stats on this port only (else on the HTTP frontend).', secret: S },
      { name: 'STATS_USER_ENV, STATS_PASS_ENV, STATS_URI_ENV', default: '', meaning: 'Names of other variables to read the stats settings from.' },
      { name: 'DEBUG', default: 'false', meaning: "HAProxy traffic logs to the proxy's output.", secret: S },
      { name: 'DEBUG_ERRORS_ONLY', default: 'false', meaning: 'With DEBUG, log only failed requests.', secret: S },
      { name: 'DEBUG_HTTP_FORMAT', default: '', meaning: 'With DEBUG, log-format of the HTTP frontend.', secret: S },
      { name: 'DEBUG_TCP_FORMAT', default: '', meaning: 'With DEBUG, log-format of the TCP frontends.', secret: S },
    ],
  },
  {
    group: 'TLS and DNS',
    settings: [
      { name: 'CERTS_DIR', default: 'DATA_DIR/certs', meaning: 'Certificates directory.' },
      { name: 'PREFERRED_CERTIFICATE', default: '', meaning: 'Certificates (patterns) listed first: the default for clients without SNI.' },
      { name: 'CRT_LIST_PATH', default: '', meaning: 'Use this crt-list instead of generating one.' },
      { name: 'CA_FILE', default: '', meaning: 'CA for client certificates on :ssl binds.' },
      { name: 'ENABLE_H2', default: 'true', meaning: 'Offer HTTP/2 on TLS binds.' },
      { name: 'SSL_BIND_OPTIONS', default: 'no-sslv3', meaning: 'ssl-default-bind-options.', secret: S },
      { name: 'SSL_BIND_CIPHERS', default: '(modern list)', meaning: 'ssl-default-bind-ciphers.', secret: S },
      { name: 'RESOLVERS', default: 'nameserver dns 127.0.0.11:53', meaning: 'Lines of the resolvers section for discoveryType=DNS and checkResolvers.', secret: S },
      { name: 'CHECK_RESOLVERS', default: 'false', meaning: "Default for checkResolvers (a service's own value wins)." },
      { name: 'DO_NOT_RESOLVE_ADDR', default: 'false', meaning: 'Accepted for compatibility (unresolvable hosts never break the config).' },
    ],
  },
  {
    group: 'Behind docker-flow-swarm-listener',
    settings: [
      { name: 'LISTENER_ADDRESS', default: '', meaning: 'Listeners to pull every service from at start: host (port 8080), host:port or http(s)://host:port, comma separated.' },
      { name: 'RELOAD_INTERVAL', default: '5000', meaning: 'Milliseconds: the longest wait between pull retries, and the period of REPEAT_RELOAD.' },
      { name: 'REPEAT_RELOAD', default: 'false', meaning: 'Pull from the listeners every RELOAD_INTERVAL, not only until the first success.' },
      { name: 'LISTENER_WAIT', default: '60', meaning: 'Seconds readiness waits for the first pull of every listener.' },
    ],
  },
  {
    group: 'Automatic HTTPS (ACME)',
    settings: [
      { name: 'ACME_EMAIL', default: '', meaning: 'ACME is on when set: the account e-mail for the CA.', secret: S },
      { name: 'ACME_DIRECTORY', default: "Let's Encrypt production", meaning: 'The ACME directory URL (staging: https://acme-staging-v02.api.letsencrypt.org/directory).', secret: S },
      { name: 'ACME_CA_FILE', default: '', meaning: 'Extra CA certificates to trust for the connection to the ACME server.', secret: S },
      { name: 'ACME_RETRY_BASE', default: '300', meaning: 'Seconds before the first retry of a failed order (then doubled, jittered).' },
      { name: 'ACME_RETRY_MAX', default: '86400', meaning: 'The longest wait between retries of a failed order, in seconds.' },
    ],
  },
  {
    group: 'Retries and health',
    settings: [
      { name: 'RETRIES', default: '3', meaning: 'Retries of a failed request, each on another server.' },
      { name: 'RETRY_ON', default: 'conn-failure,empty-response,junk-response', meaning: 'HAProxy retry-on conditions, or none.' },
      { name: 'RETRY_METHODS', default: 'GET,HEAD,OPTIONS', meaning: 'Methods retried on more than a connection failure, or none.' },
      { name: 'HEALTH_CHECKS', default: 'true', meaning: 'Active (layer 4) and passive health checks on every server.' },
      { name: 'HEALTH_CHECK_INTERVAL', default: '5000', meaning: 'Milliseconds between checks of a healthy server.' },
    ],
  },
  {
    group: 'Docker discovery',
    settings: [
      { name: 'DISCOVERY', default: 'docker if DOCKER_HOST or DOCKER_HOSTS is set or /var/run/docker.sock exists, else none', meaning: 'docker routes containers and swarm services by their labels; none is API-only.' },
      { name: 'DOCKER_HOST', default: 'unix:///var/run/docker.sock', meaning: 'The Docker API of the proxy\'s own engine: unix:///path or tcp://host:port.' },
      { name: 'DOCKER_HOSTS', default: '', meaning: 'Several engines (replaces DOCKER_HOST): [name=]unix:///path or [name=]tcp://host:port, comma separated, each with ?tls=verify|noverify|off&certs=/dir&address=host&network=name. A bad entry is reported and skipped.' },
      { name: 'DOCKER_TLS_VERIFY', default: 'false', meaning: 'tcp:// engines use TLS and verify the engine\'s certificate (ca.pem), with a client certificate.' },
      { name: 'DOCKER_TLS', default: 'false', meaning: 'tcp:// engines use TLS without verifying the engine\'s certificate.' },
      { name: 'DOCKER_CERT_PATH', default: '$HOME/.docker', meaning: 'Directory with ca.pem, cert.pem and key.pem for TLS engines (certs= of an entry wins).' },
      { name: 'HOME', default: '(the environment\'s)', meaning: 'Where DOCKER_CERT_PATH defaults to ($HOME/.docker).' },
      { name: 'DF_NOTIFY_LABEL', default: 'com.df.notify', meaning: 'Only containers and services with this label set to true are routed.' },
      { name: 'DOCKER_NETWORK', default: '', meaning: 'The network flow-proxy shares with containers (their IP on it is used).' },
    ],
  },
  {
    group: 'Replicas and stores',
    settings: [
      { name: 'PEERS', default: '', meaning: 'Other replicas: host:port or dns:<name>[:port], comma separated.' },
      { name: 'PEER_DISCOVERY', default: 'none', meaning: 'dns: also the replicas at tasks.<SERVICE_NAME>:<PORT> (Swarm).' },
      { name: 'PEER_TIMEOUT', default: '5000', meaning: 'Milliseconds per call to a peer.' },
      { name: 'PEER_ATTEMPTS', default: '3', meaning: 'Attempts per peer for a distributed change.' },
      { name: 'ANTI_ENTROPY_INTERVAL', default: '5000', meaning: 'Milliseconds between comparisons with the peers; 0 turns it off.' },
      { name: 'STORE', default: 'file', meaning: 'file (DATA_DIR) or consul (Consul KV, shared by the replicas).' },
      { name: 'CONSUL_HTTP_ADDR', default: '', meaning: 'Consul address (host:port or http(s)://host:port), needed with STORE=consul.' },
      { name: 'CONSUL_PREFIX', default: 'flow-proxy', meaning: 'Key prefix in Consul KV.' },
      { name: 'CONSUL_HTTP_TOKEN', default: '', meaning: 'Consul ACL token.', secret: S },
    ],
  },
  {
    group: 'Accepted without effect (docker-flow-proxy compatibility)',
    settings: [
      { name: 'RELOAD_ATTEMPTS, RECONFIGURE_ATTEMPTS', default: '', meaning: 'Every listener is retried until it answers; a config is checked once.' },
      { name: 'DISPLAY_CONFIG_ON_ERROR, DNS_LOOKUP_PAUSE_MS, CERTS, MODE, HEALTHCHECK', default: '', meaning: 'Not needed by flow-proxy.' },
    ],
  },
];

/** The settings as `--help` prints them: name, default and meaning, wrapped to `width`. */
export function formatSettingsHelp(width = 100): string {
  const out: string[] = ['Settings: environment variables of `flow-proxy run` (S: also read from the Docker secret', '/run/secrets/dfp_<lower-case name>, which wins). Every invalid one is reported at start.'];
  const column = 30;
  for (const { group, settings } of SETTINGS_HELP) {
    out.push('', `  ${group}`);
    for (const s of settings) {
      const name = `    ${s.name}${s.secret ? ' (S)' : ''}`;
      const fallback = s.default.replace(/^\((.*)\)$/, '$1');
      const text = `${s.meaning} ${fallback === '' ? '(default: unset)' : `(default: ${fallback})`}`;
      const lines = wrap(text, width - column);
      if (name.length + 2 > column) out.push(name, ...lines.map((l) => ' '.repeat(column) + l));
      else out.push(name.padEnd(column) + (lines[0] ?? ''), ...lines.slice(1).map((l) => ' '.repeat(column) + l));
    }
  }
  return out.join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
