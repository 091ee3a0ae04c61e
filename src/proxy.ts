// Long on purpose: the one composition root: every adapter, the reconciler and the routes are wired here and nowhere else.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { CertStore } from './adapters/certs/certStore.js';
import { Metrics } from './adapters/metrics.js';
import { NameResolver } from './adapters/dns/nameResolver.js';
import { HaproxyDataPlane } from './adapters/haproxy/dataPlane.js';
import { isLiveHaproxy, readPidFile } from './adapters/haproxy/pids.js';
import { describeHeld, heldPorts, processTree, type PortUse } from './adapters/net/portHolders.js';
import { tailFile } from './adapters/haproxy/logTail.js';
import { FileStore } from './adapters/store/fileStore.js';
import { fileTemplateReader, loadTemplateSources, ServiceTemplates, type TemplateReader } from './adapters/templates.js';
import { CachedStore } from './adapters/store/cachedStore.js';
import { ConsulStore } from './adapters/store/consulStore.js';
import { ConsulTemplates, isConsulLocation } from './adapters/store/consulTemplates.js';
import { Reconciler, type Quarantined } from './core/reconcile/reconciler.js';
import { ListenerSync } from './core/sources/listenerSync.js';
import { HttpListener } from './adapters/listener/swarmListener.js';
import type { Log } from './core/log.js';
import { MAP_DIR_TOKEN, type StoredService, type Store } from './core/ports.js';
import { toEntry } from './domain/entry.js';
import { describeIssues } from './domain/errors.js';
import { servicesFromEnv } from './domain/params.js';
import { entriesFromStored } from './core/desired/storedState.js';
import type { ParseContext } from './domain/parse.js';
import type { Entry } from './domain/registry.js';
import { FlowError } from './domain/errors.js';
import { createApp } from './http/app.js';
import { dfpRoutes } from './http/dfpRoutes.js';
import { discoveryRoutes } from './http/discoveryRoutes.js';
import { compileTemplates } from './render/render.js';
import { setupReplication } from './replicas.js';
import { acmeLayout, setupAcme, type Acme } from './acme.js';
import { acmeRoutes } from './http/acmeRoutes.js';
import { replicaRoutes } from './http/replicaRoutes.js';
import { insightRoutes, mountAll } from './http/insight.js';
import { insightDeps } from './insightDeps.js';
import type { RenderSettings } from './render/settings.js';
import type { Env, Settings } from './settings.js';

export interface Proxy {
  server: http.Server;
  engine: Reconciler;
  dataPlane: HaproxyDataPlane;
  metrics: Metrics;
  /** Port the API listens on. */
  port: number;
  stop(): Promise<void>;
}

export interface ProxyOptions {
  settings: Settings;
  env: Env;
  log: Log;
  /** Overrides the file store (Consul, tests). */
  store?: Store;
}

/** Translates settings into what the renderer needs; the data plane owns the paths. */
/** The settings render reads as they are, under the same names. */
const RENDERED = [
  'defaultPorts', 'bindPorts', 'connectionMode', 'timeouts', 'extraGlobal', 'extraFrontend', 'stats', 'debug', 'users',
  'compression', 'captureRequestHeaders', 'resolvers', 'checkResolvers', 'sslBindOptions', 'sslBindCiphers', 'caFile',
  'enableH2', 'hardStopAfter', 'maxReloads', 'routeOrder', 'retry', 'healthChecks', 'spareBackends', 'maxconn', 'nbthread',
  'debugErrorsOnly', 'debugHttpFormat', 'debugTcpFormat',
] as const satisfies ReadonlyArray<keyof Settings & keyof RenderSettings>;

type Rendered = Pick<RenderSettings, (typeof RENDERED)[number]>;

export function renderSettings(settings: Settings, files: HaproxyDataPlane['files']): RenderSettings {
  // Optional settings that are unset stay absent (not `undefined`), as render expects.
  const shared = Object.fromEntries(RENDERED.filter((k) => settings[k] !== undefined).map((k) => [k, settings[k]])) as Rendered;
  return {
    ...shared,
    adminSocket: files.adminSocket,
    serverStateFile: files.serverState,
    errorDir: path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'errorfiles'),
    mapDir: MAP_DIR_TOKEN,
    crtList: settings.crtListPath ?? files.crtList,
    ...(settings.haproxyMetricsPort !== undefined && { metricsPort: settings.haproxyMetricsPort }),
    ...(settings.acme && { acme: { challengeMap: acmeLayout(settings.dataDir).challengeMap } }),
  };
}

/**
 * Refuses to start when a port this instance needs is held by another
 * process: HAProxy's SO_REUSEPORT would let two proxies share it and split
 * the traffic. The HAProxy this instance adopts (its pid file) may hold them.
 */
async function refuseTakenPorts(settings: Settings, entries: readonly Entry[], pidFile: string): Promise<void> {
  const master = readPidFile(pidFile);
  const own = master !== undefined && isLiveHaproxy(master) ? processTree(master) : new Set<number>();
  const uses: PortUse[] = [
    { port: settings.port, purpose: 'PORT, the API', address: settings.ip },
    ...settings.defaultPorts.map((b) => ({ port: b.port, purpose: 'DEFAULT_PORTS', address: b.address })),
    ...settings.bindPorts.map((b) => ({ port: b.port, purpose: 'BIND_PORTS', address: b.address })),
    ...(settings.stats?.port !== undefined ? [{ port: settings.stats.port, purpose: 'STATS_PORT', address: '*' }] : []),
    ...(settings.haproxyMetricsPort !== undefined ? [{ port: settings.haproxyMetricsPort, purpose: 'HAPROXY_METRICS_PORT', address: '127.0.0.1' }] : []),
    ...entries.flatMap((e) => e.spec.destinations.filter((d) => d.reqMode !== 'http' && d.srcPort !== undefined).map((d) => ({ port: d.srcPort as number, purpose: `srcPort of service "${e.name}"`, address: '*' }))),
  ];
  const seen = new Set<number>();
  const held = await heldPorts(uses.filter((u) => !seen.has(u.port) && seen.add(u.port) !== undefined), own);
  if (held.length > 0) {
    throw new FlowError('PORT_IN_USE', `cannot start: ${describeHeld(held)}. Is another flow-proxy (or HAProxy) running on these ports? Stop it, or give this instance other ports (DEFAULT_PORTS, PORT) and its own DATA_DIR.`);
  }
}

/** Contents of the `dfp_users_<name>` secrets, keyed by name. */
export function readUserSecrets(dir: string): Map<string, string> {
  const secrets = new Map<string, string>();
  try {
    for (const file of fs.readdirSync(dir)) {
      if (file.startsWith('dfp_users_')) secrets.set(file.slice('dfp_users_'.length), fs.readFileSync(path.join(dir, file), 'utf8'));
    }
  } catch {
    // no secrets directory
  }
  return secrets;
}

export function parseContext(settings: Settings): ParseContext {
  return {
    separator: settings.separator,
    httpsOnly: settings.httpsOnly,
    ...(settings.serviceDomainAlgo !== undefined && { serviceDomainAlgo: settings.serviceDomainAlgo }),
    globalUsers: settings.users,
    userSecrets: readUserSecrets(settings.secretsDir),
    allowRawSnippets: settings.allowRawSnippets,
    templateDirs: settings.templateDirs,
  };
}

/**
 * Starts flow-proxy: restores the stored services, adds the environment's,
 * makes them live in HAProxy with one apply, then opens the API.
 */
export async function startProxy(options: ProxyOptions): Promise<Proxy> {
  const { settings, log } = options;
  fs.mkdirSync(settings.dataDir, { recursive: true, mode: 0o700 });
  const consul = settings.consul;
  const store: Store = options.store ?? (consul
    ? new CachedStore(new ConsulStore({ address: consul.address, prefix: consul.prefix, ...(consul.token !== undefined && { token: consul.token }), log }), new FileStore(path.join(settings.dataDir, 'consul-copy'), log), log)
    : new FileStore(settings.dataDir, log));
  const consulTemplates = consul ? new ConsulTemplates({ address: consul.address, ...(consul.token !== undefined && { token: consul.token }), log }) : undefined;
  const readTemplate: TemplateReader = (location) => (isConsulLocation(location) && consulTemplates ? consulTemplates.readConsulTemplate(location) : fileTemplateReader(location));
  const mainTemplates = async () => {
    const main = settings.mainTemplatePath;
    if (main === undefined || !isConsulLocation(main)) return compileTemplates(loadTemplateSources(settings.templatesDir, undefined, main));
    const sources = loadTemplateSources(settings.templatesDir);
    return compileTemplates({ ...sources, main: await readTemplate(main) });
  };
  const ctx = parseContext(settings);

  const entries = new Map<string, Entry>();
  const invalid: Array<Quarantined & { stored: StoredService }> = [];
  const stored = await store.load();
  const restored = entriesFromStored(stored?.services ?? [], ctx);
  for (const entry of restored.entries) entries.set(entry.name, entry);
  for (const { stored: s, reason } of restored.invalid) invalid.push({ name: s.params.serviceName ?? '(unnamed)', owner: s.owner, reason: `stored service no longer valid: ${reason}`, stored: s });
  const envProblems: string[] = [];
  for (const raw of servicesFromEnv(options.env)) {
    const parsed = toEntry(raw, { ...ctx, defaultReqMode: settings.defaultProtocol }, 'env');
    if (parsed.ok) entries.set(parsed.entry.name, { ...parsed.entry, spec: { ...parsed.entry.spec, replicas: undefined } as Entry['spec'] });
    else envProblems.push(`DFP_SERVICE (${parsed.serviceName ?? raw.params.get('servicename') ?? '?'}): ${describeIssues(parsed.issues)}`);
  }
  if (envProblems.length > 0) throw new FlowError('BAD_ENV_SERVICE', envProblems.join('\n'));

  // Server names are resolved here, never by HAProxy through libc while it loads (a lost DNS answer held reloads 5 s).
  // A name that resolved late, or to another address, is rendered again (called only once the engine below exists).
  const names = new NameResolver({ onChange: (host) => void engine.submit({ kind: 'refresh', reason: `server name ${host} resolved to a new address` }, 'dns') });
  const dataPlane = new HaproxyDataPlane({
    haproxyBin: settings.haproxyBin, dir: path.join(settings.dataDir, 'haproxy'), log, terminateOnReload: settings.terminateOnReload, names,
    // Called only once HAProxy runs, so after the metrics and the engine below exist.
    recovery: { onRecovered: (what) => metrics.haproxyRecoveries.inc({ what }), beforeRecover: () => engine.flushFiles() },
  });
  let acme: Acme | undefined;
  const certs = new CertStore(settings.certsDir, settings.secretsDir, settings.preferredCertificates, () => acme?.manager.crtListEntries() ?? []);
  certs.writeCrtList(dataPlane.files.crtList);
  // With CRT_LIST_PATH the operator owns the crt-list: TLS is on when it lists something.
  const operatorList = (file: string) => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    return { hasCerts: text.split('\n').some((l) => l.trim() !== '' && !l.trim().startsWith('#')), key: text };
  };
  const certState = () => (settings.crtListPath !== undefined ? operatorList(settings.crtListPath) : { hasCerts: certs.list().length > 0, key: certs.key() });
  // Counted when scraped (the engine is made below).
  const metrics = new Metrics((m) => {
    const owners = { api: 0, env: 0, docker: 0 };
    for (const e of engine.registry.entries.values()) owners[e.owner]++;
    for (const [owner, n] of Object.entries(owners)) m.services.set({ owner }, n);
    m.quarantined.set(engine.quarantined.length);
  });
  // Automatic HTTPS: issued certificates are in the crt-list from the first start; new ones join at run time.
  acme = await setupAcme({
    settings,
    adminSocket: dataPlane.files.adminSocket,
    crtList: dataPlane.files.crtList,
    entries: () => engine.registry.entries.values(),
    quarantined: () => new Set(engine.quarantined.map((q) => q.name)),
    writeCrtList: () => certs.writeCrtList(dataPlane.files.crtList),
    uploaded: () => certs.list().map((c) => ({ name: c.name, notAfter: c.notAfter })),
    registry: metrics.registry,
    log,
  });
  if (acme) certs.writeCrtList(dataPlane.files.crtList);
  const engine = new Reconciler({
    dataPlane,
    store,
    settings: renderSettings(settings, dataPlane.files),
    templates: await mainTemplates(),
    custom: new ServiceTemplates(readTemplate),
    certs: certState,
    names,
    routeConflict: settings.routeConflict,
    consolidateAfterMs: settings.consolidateAfterMs,
    checkBeforeReload: settings.checkBeforeReload,
    log,
    onApply: (record) => {
      metrics.recordApply(record);
      acme?.manager.wantedChanged();
    },
  });
  const storeKind = consul ? 'consul' : options.store ? 'custom' : 'file';
  metrics.storeHealthy.set({ store: storeKind }, 1);
  const storeHealth = setInterval(() => metrics.storeHealthy.set({ store: storeKind }, store.healthy?.() === false ? 0 : 1), 1000);
  storeHealth.unref();
  const stopped = new AbortController();
  // HAProxy's own messages (and, with DEBUG, its traffic log) join ours.
  tailFile(dataPlane.files.logFile, (line) => log.info({ haproxy: line }, 'haproxy'), stopped.signal);
  // Docker discovery: a full sync before the first apply, so discovered services go live with the rest;
  // stored and environment services keep their names. Events are followed once HAProxy runs.
  // dockerode (with ssh2 and gRPC) is a fifth of the start-up's module loading: loaded only when discovery is on.
  const discovery = settings.discovery === 'docker'
    ? (await import('./adapters/docker/createDiscovery.js')).createDockerDiscovery({
      dockerHost: settings.docker.multiple ? settings.docker.engines.map((e) => e.url).join(',') : settings.dockerHost,
      engines: settings.docker.engines,
      multiple: settings.docker.multiple,
      problems: settings.docker.problems,
      notifyLabel: settings.notifyLabel,
      ...(settings.dockerNetwork !== undefined && { network: settings.dockerNetwork }),
      swarmRouting: settings.swarmRouting,
      parseContext: ctx,
      log,
      apply: (list, changeIds) => engine.submit({ kind: 'sync', owner: 'docker', entries: list }, changeIds.length > 0 ? changeIds.join(',') : 'docker-sync'),
      onEvent: (event) => metrics.dockerEvents.inc({ type: event.type, action: event.action.split(':')[0] as string }),
      onConnect: (reconnect) => {
        if (reconnect) metrics.dockerReconnects.inc();
      },
      onLive: (ms) => metrics.changeToLive.observe({ source: 'docker' }, ms / 1000),
    })
    : undefined;
  for (const e of (await discovery?.initialSync(stopped.signal)) ?? []) if (!entries.has(e.name)) entries.set(e.name, e);
  await refuseTakenPorts(settings, [...entries.values()], dataPlane.files.pidFile);
  await engine.start([...entries.values()], invalid, stored?.removed ?? []);
  discovery?.start(stopped.signal);
  void acme?.manager.start(stopped.signal).catch((e: unknown) => log.error({ err: e }, 'ACME could not start'));

  // docker-flow-swarm-listener (LISTENER_ADDRESS): every service it knows, pulled after HAProxy serves the stored ones.
  const listeners = new ListenerSync({
    listeners: settings.listeners.map((url) => new HttpListener(url)),
    submitAll: (commands, changeId) => engine.submitAll(commands, changeId),
    parseContext: ctx,
    log,
    intervalMs: settings.reloadIntervalMs,
    repeat: settings.repeatReload,
    waitMs: settings.listenerWaitMs,
  });
  listeners.start(stopped.signal);

  const replication = setupReplication({ settings, engine, certs, parseContext: ctx, metrics, log, certsChanged: () => certs.writeCrtList(dataPlane.files.crtList) });
  let synced = !replication.enabled;
  const insight = insightRoutes(insightDeps({ settings, engine, dataPlane, certs, parseContext: ctx, ...(discovery && { discovery }), replication, ready: () => engine.isStarted && synced }));
  const app = createApp({ log, metrics, ...(settings.apiToken !== undefined && { apiToken: settings.apiToken }) }, mountAll(insight.before, dfpRoutes({
    engine,
    parseContext: ctx,
    ...(settings.filterProxyInstanceName && { instanceFilter: settings.proxyInstanceName }),
    liveConfigText: () => {
      engine.flushFiles();
      return dataPlane.liveConfigText();
    },
    liveMaps: () => {
      engine.flushFiles();
      return dataPlane.liveMaps();
    },
    certs,
    crtListFile: dataPlane.files.crtList,
    metrics,
    haproxyStats: () => dataPlane.stats(),
    saveServiceCert: async (name: string, pem: string) => {
      try {
        certs.put(name, pem);
        certs.writeCrtList(dataPlane.files.crtList);
        return undefined;
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    },
    ready: () => engine.isStarted && synced && listeners.ready(),
    ...(listeners.enabled && { listeners }),
    distribute: replication.distribute,
    ...(acme && { acmeCerts: () => (acme as Acme).manager.list() }),
  })));
  if (acme) acmeRoutes({ acme, ...(settings.apiToken !== undefined && { apiToken: settings.apiToken }) })(app);
  insight.after(app);
  replicaRoutes({ view: replication.view, ...(settings.apiToken !== undefined && { apiToken: settings.apiToken }) })(app);
  discoveryRoutes({ status: () => discovery?.status(), engine })(app);
  // Room for long query strings, so that the API answers 414 with a message instead of Node's bare 431.
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, app.callback());
  server.keepAliveTimeout = 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(settings.port, settings.ip, () => resolve());
    });
  } catch (e) {
    // The port was free a moment ago: whatever took it since, HAProxy must not be left running without its API.
    stopped.abort();
    await discovery?.stop();
    await dataPlane.stop(settings.stopGraceMs);
    throw new FlowError('API_PORT', `cannot listen on ${settings.ip}:${settings.port} (PORT, IP): ${e instanceof Error ? e.message : String(e)}; HAProxy was stopped again.`);
  }
  if (settings.apiToken === undefined && !/^127\.|^::1$|^localhost$/.test(settings.ip)) {
    log.warn({ ip: settings.ip, port: settings.port }, `the API listens on ${settings.ip}:${settings.port} without API_TOKEN: anyone who can reach it can change the routes. Set API_TOKEN (and IP=127.0.0.1 if only this machine needs the API).`);
  }
  const port = (server.address() as AddressInfo).port;
  log.info({ port, ip: settings.ip, services: entries.size }, 'flow-proxy API listening');
  // A new replica pulls the route table from its peers before it reports ready.
  if (!synced) {
    await replication.initialSync().catch((e: unknown) => log.warn({ err: e }, 'initial sync with peers failed'));
    synced = true;
  }
  replication.run(stopped.signal);
  // A shared store: what other replicas write arrives through its watch; no fan-out is needed.
  const fromShared = (state: { services: StoredService[] }): Entry[] => {
    const { entries: restored, invalid: unreadable } = entriesFromStored(state.services, ctx);
    for (const { stored } of unreadable) log.warn({ service: stored.params.serviceName }, 'the shared store holds a service this replica cannot parse');
    return restored;
  };
  // The report says something changed; what is applied is the store's freshest state at that moment.
  store.watch?.((state) => void engine.submit({ kind: 'restore', entries: () => fromShared(store.current?.() ?? state) }, 'store-watch'), stopped.signal);
  consulTemplates?.watch(async (location) => {
    if (location === settings.mainTemplatePath) engine.setTemplates(await mainTemplates());
    await engine.submit({ kind: 'refresh', reason: `template ${location} changed` }, 'template-watch');
  }, stopped.signal);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      stopped.abort();
      await engine.close();
      await acme?.shared.close?.();
      await discovery?.stop();
      await dataPlane.stop(settings.stopGraceMs);
      log.info({}, 'stopped');
    })();
    return stopping;
  };
  return { server, engine, dataPlane, port, stop, metrics };
}
