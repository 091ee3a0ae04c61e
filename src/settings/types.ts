import type { EngineSpec } from '../adapters/docker/dockerHosts.js';
import type { SwarmRouting } from '../adapters/docker/swarmTasks.js';
import type { AcmeSettings } from '../acmeSettings.js';
import type { PeerSpec } from '../adapters/peers/peerList.js';
import type { ReqMode, User } from '../domain/spec.js';
import type { RouteOrder } from '../render/routes.js';
import type { BindSpec, Timeouts } from '../render/settings.js';

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
  /** SWARM_ROUTING: swarm services go to their VIP or to their tasks (com.df.swarmRouting per service). */
  swarmRouting: SwarmRouting;
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
  /** CHECK_BEFORE_RELOAD: haproxy -c before every reload, not only to explain a refused one. */
  checkBeforeReload: boolean;
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

/** The environment as parsing sees it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Settings, or every problem found with the variables. */
export type SettingsResult = { ok: true; settings: Settings } | { ok: false; errors: string[] };
