import type { User } from '../domain/spec.js';
import type { RouteOrder } from './routes.js';

/** One bind of the HTTP frontend: `[addr:]port[:ssl][ options]`. */
export interface BindSpec {
  address: string;
  port: number;
  ssl: boolean;
  options: string;
}

export interface Timeouts {
  connect: number;
  client: number;
  server: number;
  queue: number;
  tunnel: number;
  httpRequest: number;
  httpKeepAlive: number;
}

/** Everything from the environment that shapes haproxy.cfg, as plain data. */
export interface RenderSettings {
  adminSocket: string;
  serverStateFile: string;
  errorDir: string;
  /** Where map files live, as written into the config. */
  mapDir: string;
  crtList: string;
  defaultPorts: BindSpec[];
  bindPorts: BindSpec[];
  connectionMode: string;
  timeouts: Timeouts;
  extraGlobal: string[];
  extraFrontend: string[];
  stats?: { user: string; pass: string; uri: string; port?: number };
  debug: boolean;
  users: User[];
  compression?: { algo?: string; type?: string };
  captureRequestHeaders: Array<{ name: string; length: number }>;
  resolvers: string[];
  checkResolvers: boolean;
  sslBindOptions: string;
  sslBindCiphers: string;
  caFile?: string;
  enableH2: boolean;
  hardStopAfter: string;
  maxReloads: number;
  routeOrder: RouteOrder;
  /** Spare backends kept free so a plain new service needs no reload. */
  spareBackends: number;
  /** Port of the HAProxy Prometheus exporter frontend, if any. */
  metricsPort?: number;
  maxconn: number;
  nbthread?: number;
  /** RETRIES, RETRY_ON and RETRY_METHODS: what a failed request is retried on (another server), and for which methods. */
  retry: { retries: number; on: string[]; methods: string[] };
  /** HEALTH_CHECKS and HEALTH_CHECK_INTERVAL (ms): active checks of every server, and the passive ones that come with them. */
  healthChecks: { enabled: boolean; intervalMs: number };
  debugErrorsOnly?: boolean;
  debugHttpFormat?: string;
  debugTcpFormat?: string;
  /**
   * ACME is on: `:ssl` binds are TLS from the start (strict-sni while no other certificate
   * exists, so issued ones go in at run time), and HTTP-01 tokens are answered from this map.
   */
  acme?: { challengeMap: string };
}
