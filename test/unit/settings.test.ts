import test from 'ava';
import type { SettingsHost } from '../../src/settings/fields.js';
import { parseSettings } from '../../src/settings/parse.js';
import type { Env, Settings } from '../../src/settings/types.js';

/** A machine with HAProxy at /usr/sbin/haproxy and only the given files. */
function host(files: Record<string, string> = {}, haproxy: string | null = '/usr/sbin/haproxy'): SettingsHost {
  return {
    cwd: '/srv',
    exists: (file) => file in files,
    findInPath: (bin) => (bin === 'haproxy' ? haproxy ?? undefined : bin.startsWith('/') ? bin : undefined),
    readFile: (file) => {
      if (file in files) return files[file] as string;
      throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
    },
  };
}

const noSecrets = () => undefined;

function settings(env: Env, secrets: Record<string, string> = {}, machine = host()): Settings {
  const result = parseSettings(env, (name) => secrets[name], machine);
  if (!result.ok) throw new Error(result.errors.join(' '));
  return result.settings;
}

function errors(env: Env, secrets: Record<string, string> = {}, machine = host()): string[] {
  const result = parseSettings(env, (name) => secrets[name], machine);
  return result.ok ? [] : result.errors;
}

test('no variables: the documented defaults', (t) => {
  const s = settings({});
  t.like(s, {
    port: 8080, ip: '0.0.0.0', dataDir: '/srv/data', haproxyBin: '/usr/sbin/haproxy', serviceName: 'proxy', connectionMode: 'http-keep-alive',
    timeouts: { connect: 5, client: 20, server: 20, queue: 30, tunnel: 3600, httpRequest: 5, httpKeepAlive: 15 },
    separator: ',', debug: false, httpsOnly: false, certsDir: '/srv/data/certs', enableH2: true, sslBindOptions: 'no-sslv3', routeOrder: 'specific',
    hardStopAfter: '30s', maxReloads: 50, spareBackends: 32, templateDirs: ['/templates'], secretsDir: '/run/secrets', defaultProtocol: 'http',
    proxyInstanceName: 'docker-flow', logLevel: 'info', maxconn: 5000, stopGraceMs: 5000, discovery: 'none', dockerHost: 'unix:///var/run/docker.sock',
    notifyLabel: 'com.df.notify', peerTimeoutMs: 5000, peerAttempts: 3, antiEntropyMs: 5000, store: 'file', routeConflict: 'warn', consolidateAfterMs: 30_000,
    retry: { retries: 3, on: ['conn-failure', 'empty-response', 'junk-response'], methods: ['GET', 'HEAD', 'OPTIONS'] },
    healthChecks: { enabled: true, intervalMs: 5000 }, reloadIntervalMs: 5000, repeatReload: false, listenerWaitMs: 60_000,
  });
  t.deepEqual(s.defaultPorts, [{ address: '*', port: 80, ssl: false, options: '' }, { address: '*', port: 443, ssl: true, options: '' }]);
  t.deepEqual([s.bindPorts, s.users, s.peers, s.listeners, s.extraGlobal], [[], [], [], [], []]);
  t.deepEqual(s.resolvers, ['nameserver dns 127.0.0.11:53']);
  t.regex(s.templatesDir, /\/templates$/);
  for (const key of ['stats', 'compression', 'apiToken', 'consul', 'acme', 'nbthread', 'logFormat', 'serviceDomainAlgo'] as const) t.false(key in s, key);
  t.is(settings({}, {}, host({ '/var/run/docker.sock': '' })).discovery, 'docker', 'Docker is followed where its socket is');
  t.is(settings({ DOCKER_HOST: 'tcp://docker:2375' }).discovery, 'docker');
});

test('an empty variable is unset', (t) => {
  t.is(settings({ PORT: '', LOG_LEVEL: '' }).port, 8080);
});

const valid: Array<[string, Env, Partial<Settings>]> = [
  ['ports and binds', { PORT: '9000', DEFAULT_PORTS: '127.0.0.1:8443:ssl alpn h2' }, { port: 9000, defaultPorts: [{ address: '127.0.0.1', port: 8443, ssl: true, options: 'alpn h2' }] }],
  ['relative paths against the directory', { DATA_DIR: 'state', CERTS_DIR: '/certs', TEMPLATE_DIRS: 'a, /b' }, { dataDir: '/srv/state', certsDir: '/certs', templateDirs: ['/srv/a', '/b'] }],
  ['seconds become milliseconds', { STOP_GRACE: '7', CONSOLIDATE_AFTER: '0', LISTENER_WAIT: '2' }, { stopGraceMs: 7000, consolidateAfterMs: 0, listenerWaitMs: 2000 }],
  ['stats', { STATS_USER: 'admin', STATS_PASS: 'pw', STATS_PORT: '81' }, { stats: { user: 'admin', pass: 'pw', uri: '/admin?stats', port: 81 } }],
  ['users and their encryption', { USERS: 'a:x, b:y:z', USERS_PASS_ENCRYPTED: 'true' }, { users: [{ name: 'a', password: 'x', encrypted: true }, { name: 'b', password: 'y:z', encrypted: true }] }],
  ['peers by DNS', { PEER_DISCOVERY: 'dns', SERVICE_NAME: 'edge', PORT: '8081' }, { peers: [{ kind: 'dns', host: 'tasks.edge', port: 8081 }] }],
  ['Consul', { STORE: 'consul', CONSUL_HTTP_ADDR: 'consul:8500', CONSUL_HTTP_TOKEN: 'tok' }, { store: 'consul', consul: { address: 'consul:8500', prefix: 'flow-proxy', token: 'tok' } }],
  ['retries off', { RETRIES: '0', RETRY_ON: 'none', RETRY_METHODS: 'GET POST' }, { retry: { retries: 0, on: ['none'], methods: ['GET', 'POST'] } }],
  ['booleans in docker-flow-proxy spellings', { DEBUG: 'True', HTTPS_ONLY: '1', ENABLE_H2: 'f' }, { debug: true, httpsOnly: true, enableH2: false }],
  ['a HAProxy of its own', { HAPROXY_BIN: '/opt/haproxy' }, { haproxyBin: '/opt/haproxy' }],
];
for (const [title, env, expected] of valid) {
  test(`valid: ${title}`, (t) => {
    t.like(settings(env), expected);
  });
}

test('valid: a main template that exists is resolved; consul:// keys are kept', (t) => {
  t.is(settings({ CFG_TEMPLATE_PATH: 'main.hbs' }, {}, host({ '/srv/main.hbs': '' })).mainTemplatePath, '/srv/main.hbs');
  t.is(settings({ CFG_TEMPLATE_PATH: 'consul://tpl/main' }).mainTemplatePath, 'consul://tpl/main');
});

const invalid: Array<[Env, string]> = [
  [{ PORT: 'abc' }, 'PORT "abc" must be a whole number from 0 to 65535.'],
  [{ PORT: '70000' }, 'PORT "70000" must be a whole number from 0 to 65535.'],
  [{ DEBUG: 'maybe' }, 'DEBUG "maybe" is not a boolean (use true or false).'],
  [{ CONNECTION_MODE: 'forceclose' }, 'CONNECTION_MODE "forceclose" is refused by HAProxy 2.x; use http-keep-alive, http-server-close or httpclose.'],
  [{ DEFAULT_PORTS: '80,x' }, 'DEFAULT_PORTS "x" must be a list of [address:]port[:ssl][ bind options], for example 80,443:ssl.'],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL "loud" must be one of fatal, error, warn, info, debug, trace, silent.'],
  [{ STATS_URI: '/s"x' }, 'STATS_URI "/s"x" may not contain quotes, "#" or "\\".'],
  [{ STATS_USER: 'admin' }, 'STATS_PASS must be set together with STATS_USER (use "none" for no authentication).'],
  [{ STORE: 'consul' }, 'CONSUL_HTTP_ADDR must be set when STORE=consul.'],
  [{ CFG_TEMPLATE_PATH: 'nope.hbs' }, 'CFG_TEMPLATE_PATH "nope.hbs" does not exist.'],
  [{ RETRY_ON: 'conn-failure,later' }, `RETRY_ON "conn-failure,later" holds "later", which is not a retry-on condition (conn-failure, empty-response, junk-response, response-timeout, 0rtt-rejected, all-retryable-errors, 404, 408, 425, 500, 501, 502, 503, 504, or none).`],
  [{ DEFAULT_REQ_MODE: 'tcp' }, 'DEFAULT_REQ_MODE "tcp" is not supported: the HTTP frontend is always in http mode; give TCP services reqMode=tcp.'],
  [{ SEPARATOR: 'x'.repeat(100) }, `SEPARATOR "${'x'.repeat(80)}…" must be one to four characters, no spaces or quotes.`],
  [{ ACME_RETRY_BASE: 'soon', ACME_EMAIL: 'ops@example.com' }, 'ACME_RETRY_BASE "soon" must be a number of seconds from 0.05 to 86400.'],
];
for (const [env, message] of invalid) {
  test(`invalid: ${JSON.stringify(env)} is refused naming the variable and the value`, (t) => {
    t.deepEqual(errors(env), [message]);
  });
}

test('invalid: every bad variable is reported at once', (t) => {
  t.deepEqual(errors({ PORT: 'x', MAXCONN: '0', PEER_ATTEMPTS: '99' }), [
    'PORT "x" must be a whole number from 0 to 65535.',
    'MAXCONN "0" must be a whole number from 1 to 10000000.',
    'PEER_ATTEMPTS "99" must be a whole number from 1 to 20.',
  ]);
});

test('invalid: a HAProxy that is not there is named', (t) => {
  t.deepEqual(errors({}, {}, host({}, null)), ['HAPROXY_BIN "haproxy" was not found: install HAProxy 2.6 or newer (apt-get install -y haproxy) or set HAPROXY_BIN to its path.']);
});

test('secrets win over the environment, trimmed, only for the variables marked S', (t) => {
  const s = settings({ DEFAULT_PORTS: '81', PORT: '9000', API_TOKEN: 'from-the-environment' }, { dfp_default_ports: '82\n', dfp_port: '9999', dfp_api_token: 'from-the-secret-file\n' });
  t.deepEqual(s.defaultPorts.map((b) => b.port), [82]);
  t.is(s.port, 9000, 'PORT is not read from a secret');
  t.is(s.apiToken, 'from-the-secret-file');
  t.like(settings({ ACME_EMAIL: 'env@example.com' }, { dfp_acme_email: 'secret@example.com' }).acme, { email: 'secret@example.com' });
  // docker-flow-proxy reads the DEBUG_* variables through getSecretOrEnvVar too.
  const debug = settings({ DEBUG: 'true', DEBUG_ERRORS_ONLY: 'false' }, { dfp_debug_errors_only: 'true', dfp_debug_http_format: '%ci %ST' });
  t.true(debug.debugErrorsOnly);
  t.is(debug.debugHttpFormat, '%ci %ST');
});

test('STATS_*_ENV name the variables holding the stats settings', (t) => {
  t.like(settings({ STATS_USER_ENV: 'U', STATS_PASS_ENV: 'P', U: 'admin', P: 'pw' }).stats, { user: 'admin', pass: 'pw' });
});

test('ACME_CA_FILE is read through the host', (t) => {
  const pem = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n';
  t.like(settings({ ACME_EMAIL: 'ops@example.com', ACME_CA_FILE: 'ca.pem' }, {}, host({ '/srv/ca.pem': pem })).acme, { caPem: pem, caFile: 'ca.pem' });
  t.deepEqual(errors({ ACME_EMAIL: 'ops@example.com', ACME_CA_FILE: 'gone.pem' }), ['ACME_CA_FILE "gone.pem" cannot be read (ENOENT).']);
});

const secretValues: Array<[string, Env, Record<string, string>]> = [
  ['API_TOKEN', { API_TOKEN: 'hunter2' }, {}],
  ['API_TOKEN', {}, { dfp_api_token: 'hunter2' }],
  ['STATS_PASS', { STATS_USER: 'admin', STATS_PASS: 'hunter2 x' }, {}],
  ['USERS', { USERS: "ann:hunter2,bob:it's" }, {}],
  ['USERS', {}, { dfp_users: 'nocolonhunter2' }],
  ['CONSUL_HTTP_TOKEN', { CONSUL_HTTP_TOKEN: 'hunter2\u0001' }, {}],
];
for (const [name, env, secrets] of secretValues) {
  test(`a bad ${name} is named, its value is not shown (${Object.keys(secrets).length > 0 ? 'secret file' : 'environment'})`, (t) => {
    const found = errors(env, secrets);
    t.is(found.length, 1, found.join(' '));
    t.true(found[0]?.startsWith(`${name} (value hidden) `), found[0]);
    t.false(found.some((e) => e.includes('hunter2')), found.join(' '));
  });
}

test('USERS refuses Unicode line breaks and control characters in a password, without showing it (found by the hostile-input property)', (t) => {
  for (const password of ['\u0085', 'a\u2028b', 'x\u0000', "it's"]) {
    const problems = errors({ USERS: `admin:${password}` });
    t.true(problems.some((e) => e.includes('USERS')), JSON.stringify(problems));
    t.false(problems.some((e) => e.includes(password)), 'the value is not shown');
  }
  t.deepEqual(settings({ USERS: 'admin:s3cret' }).users.map((u) => u.name), ['admin']);
});
