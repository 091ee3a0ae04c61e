import path from 'node:path';
import { z } from 'zod';
import { loadAcmeSettings } from '../acmeSettings.js';
import { DEFAULT_DOCKER_HOST } from '../adapters/docker/dockerHost.js';
import { dockerEngines, tlsDefaults } from '../adapters/docker/dockerHosts.js';
import { parsePeers } from '../adapters/peers/peerList.js';
import { fail, type Field, type SettingsHost } from './fields.js';
import { SECRET_VARS, SETTINGS, type SettingDef } from './schema.js';
import type { Env, Settings, SettingsResult } from './types.js';

type Defs = typeof SETTINGS;
type Parsed = { [K in keyof Defs as Defs[K] extends { parse: Field } ? K : never]: Defs[K] extends { parse: Field<infer T> } ? T : never };

/** The built-in templates, beside dist/ (this file is dist/src/settings/parse.js). */
const BUILT_IN_TEMPLATES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'templates');

/**
 * The environment and docker-flow-proxy's secrets (`readSecret` gets
 * `dfp_<lower-case name>`) as Settings. Pure: the machine is asked only
 * through `host`. Every invalid variable is reported, not just the first.
 */
export function parseSettings(env: Env, readSecret: (name: string) => string | undefined, host: SettingsHost): SettingsResult {
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
  const result = objectSchema(host).safeParse(raw);
  const acme = loadAcmeSettings(raw, () => undefined, {
    ...(raw.CRT_LIST_PATH && { crtListPath: raw.CRT_LIST_PATH }),
    peers: raw.PEERS?.trim() || raw.PEER_DISCOVERY === 'dns' ? 1 : 0,
    ...(raw.API_TOKEN && { apiToken: raw.API_TOKEN }),
    cwd: host.cwd,
    readFile: host.readFile,
  });
  if (!result.success || !acme.ok) return { ok: false, errors: [...(result.success ? [] : result.error.issues.map((i) => i.message)), ...(acme.ok ? [] : acme.errors)] };
  return { ok: true, settings: acme.acme ? { ...result.data, acme: acme.acme } : result.data };
}

/** Every parsed variable of the schema, then the rules between variables. */
function objectSchema(host: SettingsHost) {
  const shape: Record<string, z.ZodType<unknown, string | undefined>> = {};
  for (const [name, def] of Object.entries(SETTINGS) as Array<[string, SettingDef]>) {
    if (def.parse) shape[name] = def.parse({ name, hide: def.hide === true, host });
  }
  return (z.object(shape) as unknown as z.ZodType<Parsed, Env>).transform((r, ctx) => toSettings(r, ctx, host));
}

function toSettings(r: Parsed, ctx: z.RefinementCtx, host: SettingsHost): Settings {
  const bin = host.findInPath(r.HAPROXY_BIN ?? 'haproxy', r.PATH);
  if (!bin) fail(ctx, 'HAPROXY_BIN', r.HAPROXY_BIN ?? 'haproxy', 'was not found: install HAProxy 2.6 or newer (apt-get install -y haproxy) or set HAPROXY_BIN to its path');
  const statsOn = r.STATS_USER !== undefined && r.STATS_PASS !== undefined;
  if ((r.STATS_USER === undefined) !== (r.STATS_PASS === undefined)) {
    fail(ctx, r.STATS_USER === undefined ? 'STATS_USER' : 'STATS_PASS', undefined, 'must be set together with ' + (r.STATS_USER === undefined ? 'STATS_PASS' : 'STATS_USER') + ' (use "none" for no authentication)');
  }
  const settings: Settings = {
    port: r.PORT,
    ip: r.IP,
    dataDir: r.DATA_DIR,
    haproxyBin: bin ?? 'haproxy',
    serviceName: r.SERVICE_NAME,
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
    separator: r.SEPARATOR,
    extraGlobal: r.EXTRA_GLOBAL,
    extraFrontend: r.EXTRA_FRONTEND,
    ...(statsOn && {
      stats: { user: r.STATS_USER as string, pass: r.STATS_PASS as string, uri: r.STATS_URI, ...(r.STATS_PORT !== undefined && r.STATS_PORT !== 80 && { port: r.STATS_PORT }) },
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
    sslBindOptions: r.SSL_BIND_OPTIONS,
    sslBindCiphers: r.SSL_BIND_CIPHERS,
    routeOrder: r.ROUTE_ORDER,
    hardStopAfter: r.HARD_STOP_AFTER,
    maxReloads: r.MWORKER_MAX_RELOADS,
    spareBackends: r.SPARE_BACKENDS,
    allowRawSnippets: r.ALLOW_RAW_SNIPPETS,
    templatesDir: r.TEMPLATES_DIR ?? BUILT_IN_TEMPLATES,
    templateDirs: r.TEMPLATE_DIRS,
    secretsDir: r.SECRETS_DIR,
    defaultProtocol: r.DEFAULT_PROTOCOL,
    filterProxyInstanceName: r.FILTER_PROXY_INSTANCE_NAME,
    proxyInstanceName: r.PROXY_INSTANCE_NAME,
    logLevel: r.LOG_LEVEL,
    maxconn: r.MAXCONN,
    ...(r.NBTHREAD !== undefined && { nbthread: r.NBTHREAD }),
    stopGraceMs: r.STOP_GRACE * 1000,
    // Unset DISCOVERY follows Docker only where there is one (DOCKER_HOST set or the default socket present),
    // so machines without Docker start in API-only mode.
    discovery: r.DISCOVERY ?? (r.DOCKER_HOST !== undefined || r.DOCKER_HOSTS !== undefined || host.exists('/var/run/docker.sock') ? 'docker' : 'none'),
    dockerHost: r.DOCKER_HOST ?? DEFAULT_DOCKER_HOST,
    docker: { engines: [], multiple: false, problems: [] },
    notifyLabel: r.DF_NOTIFY_LABEL,
    ...(r.DOCKER_NETWORK !== undefined && { dockerNetwork: r.DOCKER_NETWORK }),
    swarmRouting: r.SWARM_ROUTING,
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
    store: r.STORE,
    routeConflict: r.ROUTE_CONFLICT,
    consolidateAfterMs: r.CONSOLIDATE_AFTER * 1000,
    checkBeforeReload: r.CHECK_BEFORE_RELOAD,
    ...(r.LOG_FORMAT !== undefined && { logFormat: r.LOG_FORMAT }),
    retry: { retries: r.RETRIES, on: r.RETRY_ON, methods: r.RETRY_METHODS },
    healthChecks: { enabled: r.HEALTH_CHECKS, intervalMs: r.HEALTH_CHECK_INTERVAL },
    listeners: r.LISTENER_ADDRESS,
    reloadIntervalMs: r.RELOAD_INTERVAL,
    repeatReload: r.REPEAT_RELOAD,
    listenerWaitMs: r.LISTENER_WAIT * 1000,
    ...(r.STORE === 'consul' && r.CONSUL_HTTP_ADDR !== undefined && {
      consul: { address: r.CONSUL_HTTP_ADDR, prefix: r.CONSUL_PREFIX, ...(r.CONSUL_HTTP_TOKEN !== undefined && { token: r.CONSUL_HTTP_TOKEN }) },
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
}
