// Long on purpose: the view model of the whole config (frontends, maps, backends, userlists, TCP, listens) is one function of the services; its parts are the helpers below.
import crypto from 'node:crypto';
import type { Destination, ServiceSpec, User } from '../domain/spec.js';
import { Lazy } from '../domain/lazy.js';
import { cmp } from '../domain/values.js';
import { backendKey, backendsFor, formatAddress, literalIp, namesToResolve, spareView, standardServerOptions, structureOf, withAddresses, type BackendSlot, type BackendView, type ServerView } from './backend.js';
import { hostCondition, pathCondition, planRoutes, LOOKUPS, type HostMatch, type Lookup, type MapEntry, type PathMatch, type RouteInput, type RoutingStep, type ShadowedRoute } from './routes.js';
import { renderMemo, type RenderMemo } from './memo.js';
import type { BindSpec, RenderSettings } from './settings.js';

/**
 * The view model: everything the templates print, computed here so that the
 * templates hold no logic. Built from the applied services and, for a
 * runtime-only apply, the layout of the live config (which backend serves
 * which service, which spares are free).
 */

export interface UserlistView {
  name: string;
  /** Marker of the owning service, for error attribution. */
  owner?: string;
  users: Array<{ name: string; keyword: 'password' | 'insecure-password'; password: string }>;
}

export interface MapStepView {
  lookup: Lookup;
  /** Sample expression the key is built from. */
  key: string;
  converter: 'map_str' | 'map_beg';
  file: string;
}

export interface RouteStepView {
  map?: MapStepView;
  rule?: { backend: string; condition: string; owner: string };
}

export interface FrontRuleView {
  owner: string;
  line: string;
}

export interface TcpFrontendView {
  name: string;
  port: number;
  owners: string[];
  sni: boolean;
  clitcpka: boolean;
  timeoutClient?: number;
  log: boolean;
  logFormat?: string;
  rules: Array<{ owner: string; backend: string; condition: string }>;
  defaultBackend?: string;
}

export interface ListenView {
  name: string;
  port: number;
  owners: string[];
  balance?: string;
  clitcpka: boolean;
  timeoutClient?: number;
  tcpCheck: boolean;
  servers: Array<{ name: string; address: string; options: string }>;
}

export interface ConfigView {
  global: {
    adminSocket: string;
    serverStateFile: string;
    hardStopAfter: string;
    maxReloads: number;
    maxconn: number;
    nbthread?: number;
    sslBindOptions: string;
    sslBindCiphers: string;
    debug: boolean;
    extra: string[];
    /** HAProxy's internal HTTP client is unused unless EXTRA_GLOBAL loads Lua or configures it. */
    httpClientUnused: boolean;
  };
  resolvers: string[];
  defaults: {
    connectionMode: string;
    timeouts: RenderSettings['timeouts'];
    retry: { retries: number; on: string };
    compression?: { algo?: string; type?: string };
    errorDir: string;
    debug: boolean;
    /** What `defaults fp_std` holds for the backends rendered `from` it (see BackendView.standard). */
    standardBackend: { serverOptions: string; l7RetryMethods: string };
  };
  userlists: UserlistView[];
  http: {
    binds: string[];
    captures: Array<{ name: string; length: number }>;
    extra: string[];
    stats?: { uri: string; auth?: string };
    redirects: FrontRuleView[];
    routing: RouteStepView[];
    defaultBackend: string;
    customFrontends: Array<{ owner: string; text: string }>;
    debug: boolean;
    debugErrorsOnly: boolean;
    logFormat?: string;
    /** ACME: the map HTTP-01 tokens are answered from, before any other rule. */
    acmeChallengeMap?: string;
  };
  statsFrontend?: { port: number; uri: string; auth?: string };
  metricsFrontend?: { port: number };
  tcpFrontends: TcpFrontendView[];
  listens: ListenView[];
  backends: BackendView[];
  customBackends: Array<{ owner: string; text: string }>;
}

/** Which backend serves what in a rendered config; kept to plan runtime-only applies. */
export interface Layout {
  order: string[];
  backends: ReadonlyMap<string, { key?: string; view: BackendView }>;
}

export interface Model {
  view: ConfigView;
  layout: Layout;
  maps: Record<Lookup, MapEntry[]>;
  /** Every HTTP route before placement (what the maps and rules were planned from), for explanations. */
  routes: readonly RouteInput[];
  /** Services that cannot be rendered, with the reason (port clashes and the like). */
  conflicts: Map<string, string>;
  /** Routes no request reaches because an identical route of another service comes first. */
  shadowed: ShadowedRoute[];
  /** The routes placed as rules rather than map entries (a runtime patch must not touch what they overlap). */
  ruleRoutes: RouteInput[];
  /**
   * Compares equal exactly when two configs differ only in maps and dynamic servers. Computed when
   * first compared (a digest over every backend: 25-50 ms at 10,000 services): the model of a
   * reload, and the patched models after it, are compared only if a later change builds a whole model.
   */
  structure: Lazy<string>;
  /** The certificates it was built with (ModelInput.certsKey): new ones need a reload. */
  certsKey: string;
}

export interface ModelInput {
  settings: RenderSettings;
  services: readonly ServiceSpec[];
  /** Certificates exist: `:ssl` binds terminate TLS. */
  hasCerts: boolean;
  /** Changes when certificates change; HAProxy loads them only on a reload. */
  certsKey?: string;
  /** Rendered custom frontend/backend snippets by service (templateFePath/templateBePath). */
  custom: ReadonlyMap<string, { frontend?: string; backend?: string }>;
  /**
   * Addresses flow-proxy resolved for server names (see NameResolver). Given, every server is rendered at an
   * address, or with `init-addr last,none` when its name did not resolve, so HAProxy never resolves names
   * through libc while it loads. Absent, names are left to HAProxy.
   */
  addresses?: ReadonlyMap<string, string | undefined>;
  /** What render may remember between calls (the apply side keeps one); absent, nothing is kept. */
  memo?: RenderMemo;
}

export const NO_ROUTE_BACKEND = '_fp_no_route';
export const SPARE_PREFIX = '_spare_';

const MAP_FILES: Record<Lookup, { file: string; key: string; converter: 'map_str' | 'map_beg' }> = {
  hostPathExact: { file: 'host_path_exact.map', key: 'var(txn.fp_hp)', converter: 'map_str' },
  hostPathPrefix: { file: 'host_path_prefix.map', key: 'var(txn.fp_hp)', converter: 'map_beg' },
  pathExact: { file: 'path_exact.map', key: 'path', converter: 'map_str' },
  pathPrefix: { file: 'path_prefix.map', key: 'path', converter: 'map_beg' },
  hostRoot: { file: 'host_root.map', key: 'var(txn.fp_host)', converter: 'map_str' },
  pathRoot: { file: 'path_root.map', key: 'path', converter: 'map_beg' },
};

export function mapFileName(lookup: Lookup): string {
  return MAP_FILES[lookup].file;
}

/**
 * Builds the model. With `previous`, backends keep the names they have in
 * the live config and new services take free spares, so that a change that
 * only touches routes and servers renders the same structure.
 */
export function buildModel(input: ModelInput, assign: AssignBackends = canonicalBackends): Model {
  const { settings } = input;
  const memo = input.memo ?? renderMemo();
  const conflicts = new Map<string, string>();
  const services = [...input.services].sort((a, b) => cmp(a.aclName, b.aclName) || cmp(a.serviceName, b.serviceName));
  const httpPorts = new Set([...settings.defaultPorts, ...settings.bindPorts].map((b) => b.port));
  const usable = services.filter((s) => !portConflict(s, settings, httpPorts, conflicts));

  // A service with templateBePath brings its own backends; routes still point at the canonical names.
  const addresses = input.addresses;
  const slots = usable.flatMap((s) => (s.templateBePath !== undefined ? [] : backendsFor(s, settings, memo)))
    .map((slot) => (addresses ? { ...slot, view: withAddresses(slot.view, addresses, memo) } : slot));
  const { names, backends, order } = assign(slots, settings, memo);
  const customBackendNames = new Map(
    usable.filter((s) => s.templateBePath !== undefined).flatMap((s) => backendsForNames(s, settings)),
  );
  const nameOf = (spec: ServiceSpec, d: Destination, variant: 'http' | 'https' | 'tcp') => {
    const key = `${spec.serviceName}\u0000${d.index}\u0000${variant}`;
    return names.get(key) ?? customBackendNames.get(key);
  };

  const routeInputs: RouteInput[] = [];
  const redirects: FrontRuleView[] = [];
  let defaultBackend: string | undefined;
  for (const spec of usable) {
    // A service with templateFePath brings its own frontend rules instead of ours.
    if (spec.templateFePath !== undefined) continue;
    for (const d of spec.destinations) {
      if (d.reqMode !== 'http') continue;
      const plain = nameOf(spec, d, 'http');
      const tls = nameOf(spec, d, 'https');
      const routes = httpRoutesOf(spec, d, plain, tls, memo);
      routeInputs.push(...routes);
      redirects.push(...frontRedirects(spec, d));
      const first = plain ?? tls;
      if (spec.isDefaultBackend && defaultBackend === undefined && first) defaultBackend = first;
    }
  }
  const plan = planRoutes(routeInputs, settings.routeOrder);
  const routing = plan.steps.map((step) => routeStepView(step, settings.mapDir));

  const view: ConfigView = {
    global: {
      adminSocket: settings.adminSocket,
      serverStateFile: settings.serverStateFile,
      hardStopAfter: settings.hardStopAfter,
      maxReloads: settings.maxReloads,
      maxconn: settings.maxconn,
      ...(settings.nbthread !== undefined && { nbthread: settings.nbthread }),
      sslBindOptions: settings.sslBindOptions,
      sslBindCiphers: settings.sslBindCiphers,
      debug: settings.debug,
      extra: settings.extraGlobal,
      httpClientUnused: !settings.extraGlobal.some((line) => /^\s*(lua-|httpclient\.)/.test(line)),
    },
    resolvers: settings.resolvers,
    defaults: {
      connectionMode: settings.connectionMode,
      timeouts: settings.timeouts,
      retry: { retries: settings.retry.retries, on: settings.retry.on.join(' ') },
      ...(settings.compression && { compression: settings.compression }),
      errorDir: settings.errorDir,
      debug: settings.debug,
      standardBackend: { serverOptions: standardServerOptions(settings), l7RetryMethods: settings.retry.methods.join(' ') },
    },
    userlists: userlists(usable, settings.users),
    http: {
      binds: [...settings.defaultPorts, ...settings.bindPorts].map((b) => bindLine(b, input.hasCerts, settings)),
      captures: settings.captureRequestHeaders,
      extra: settings.extraFrontend,
      ...(settings.stats && settings.stats.port === undefined && { stats: statsView(settings.stats) }),
      redirects,
      routing,
      defaultBackend: defaultBackend ?? NO_ROUTE_BACKEND,
      customFrontends: customTexts(usable, input.custom, 'frontend'),
      debug: settings.debug,
      debugErrorsOnly: settings.debug && settings.debugErrorsOnly === true,
      ...(settings.debug && settings.debugHttpFormat !== undefined && { logFormat: settings.debugHttpFormat }),
      ...(settings.acme && { acmeChallengeMap: settings.acme.challengeMap }),
    },
    ...(settings.stats?.port !== undefined && { statsFrontend: { port: settings.stats.port, ...statsView(settings.stats) } }),
    ...(settings.metricsPort !== undefined && { metricsFrontend: { port: settings.metricsPort } }),
    tcpFrontends: tcpFrontends(usable, nameOf, settings.debug).map((f) => (settings.debug && settings.debugTcpFormat !== undefined ? { ...f, logFormat: settings.debugTcpFormat } : f)),
    listens: listens(usable, addresses),
    backends: order.map((name) => backends.get(name) as BackendView),
    customBackends: customTexts(usable, input.custom, 'backend'),
  };
  // Loops, not maps of [key, value] pairs: at 10,000 services every pair is garbage the next moment.
  const keys = new Map<string, string>();
  names.forEach((name, key) => keys.set(name, key));
  const layoutBackends = new Map<string, { key: string | undefined; view: BackendView }>();
  for (const name of order) layoutBackends.set(name, { key: keys.get(name), view: backends.get(name) as BackendView });
  const layout: Layout = { order, backends: layoutBackends };
  const ruleRoutes = plan.steps.flatMap((step) => (step.kind === 'rule' ? [step.rule.route] : []));
  const certsKey = input.certsKey ?? '';
  return { view, layout, maps: plan.maps, routes: routeInputs, conflicts, shadowed: plan.shadowed, ruleRoutes, certsKey, structure: structureOfModel(certsKey, view, memo) };
}

/** A model whose view was changed in place of being built (a reload patch): its structure key again, when first compared. */
export function restructured(model: Model, memo: RenderMemo): Model {
  return { ...model, structure: structureOfModel(model.certsKey, model.view, memo) };
}

/** Model.structure of a view built with these certificates. */
function structureOfModel(certsKey: string, view: ConfigView, memo: RenderMemo): Lazy<string> {
  return new Lazy(() => `${certsKey}|${structureKey(view, memo)}`);
}

/** The server names the model of these services needs resolved (see ModelInput.addresses). */
export function namesToResolveFor(services: Iterable<ServiceSpec>, settings: RenderSettings, memo: RenderMemo = renderMemo()): Set<string> {
  const names = new Set<string>();
  for (const spec of services) {
    if (spec.templateBePath === undefined) for (const slot of backendsFor(spec, settings, memo)) for (const n of namesToResolve(slot.view)) names.add(n);
    for (const d of spec.destinations) {
      if (d.serviceGroup === undefined || d.srcPort === undefined || d.port === undefined) continue;
      const hosts = spec.servers && spec.servers.length > 0 ? spec.servers.map((x) => x.host) : [d.outboundHostname ?? spec.serviceName];
      for (const h of hosts) if (literalIp(h) === undefined) names.add(h);
    }
  }
  return names;
}

function backendsForNames(spec: ServiceSpec, settings: RenderSettings): Array<[string, string]> {
  return backendsFor(spec, settings).map((b) => [b.key, b.canonicalName]);
}


/**
 * Everything but owners and dynamic servers: two views with equal keys render configs a reload would
 * not change. A digest of those parts (the parts themselves run to megabytes at 10,000 services).
 */
export function structureKey(view: ConfigView, memo: RenderMemo = renderMemo()): string {
  const { backends, userlists, http, tcpFrontends, listens, ...rest } = view;
  const digest = crypto.createHash('sha256');
  for (const part of [
    JSON.stringify(rest),
    JSON.stringify(userlists.map(({ owner: _o, ...u }) => u)),
    JSON.stringify({ ...http, redirects: http.redirects.map((r) => r.line), routing: http.routing.map((r) => (r.rule ? { ...r.rule, owner: '' } : r)), customFrontends: http.customFrontends.map((c) => c.text) }),
    JSON.stringify(tcpFrontends.map(({ owners: _o, rules, ...t }) => ({ ...t, rules: rules.map((r) => ({ ...r, owner: '' })) }))),
    JSON.stringify(listens.map(({ owners: _o, ...l }) => l)),
  ]) digest.update(part).update('\n');
  // In slices: one update per backend costs more than the hashing itself.
  for (let i = 0; i < backends.length; i += 512) digest.update(`${backends.slice(i, i + 512).map((b) => structureOf(b, memo)).join('\n')}\n`);
  return digest.digest('hex');
}

/** `httpPorts`: the ports the HTTP frontend binds (DEFAULT_PORTS and BIND_PORTS). */
function portConflict(spec: ServiceSpec, settings: RenderSettings, httpPorts: ReadonlySet<number>, conflicts: Map<string, string>): boolean {
  for (const d of spec.destinations) {
    // An HTTP srcPort only selects traffic that arrived on that port: one the frontend does not bind would never match.
    if (d.reqMode === 'http') {
      const unbound = d.srcPort !== undefined && !httpPorts.has(d.srcPort) ? 'srcPort' : d.srcHttpsPort !== undefined && !httpPorts.has(d.srcHttpsPort) ? 'srcHttpsPort' : undefined;
      if (unbound !== undefined) {
        const param = d.index > 0 ? `${unbound}.${d.index}` : unbound;
        conflicts.set(spec.serviceName, `${param} ${d[unbound]} of service "${spec.serviceName}" is not a port the HTTP frontend binds (${[...httpPorts].join(', ') || 'none'}); add it to BIND_PORTS or DEFAULT_PORTS.`);
        return true;
      }
    }
    if (d.reqMode !== 'http' && d.srcPort !== undefined && httpPorts.has(d.srcPort)) {
      conflicts.set(spec.serviceName, `srcPort ${d.srcPort} of service "${spec.serviceName}" is already bound by the HTTP frontend (DEFAULT_PORTS/BIND_PORTS).`);
      return true;
    }
    if (settings.stats?.port !== undefined && d.srcPort === settings.stats.port) {
      conflicts.set(spec.serviceName, `srcPort ${d.srcPort} of service "${spec.serviceName}" is the stats port (STATS_PORT).`);
      return true;
    }
  }
  return false;
}

/** Which backend name each slot got, and the backends in config order. */
export interface Assignment {
  names: Map<string, string>;
  backends: Map<string, BackendView>;
  order: string[];
}

/**
 * Names the backends of a model. The canonical one (a fresh config) is
 * below; the apply side passes one that keeps the live names
 * (core/apply/layout.ts) when a change may go live without a reload.
 */
export type AssignBackends = (slots: readonly BackendSlot[], settings: RenderSettings, memo: RenderMemo) => Assignment;

/** Every backend under its canonical name, sorted, then the spare backends new plain services can take at run time. */
export function canonicalBackends(slots: readonly BackendSlot[], settings: RenderSettings, memo: RenderMemo = renderMemo()): Assignment {
  const names = new Map<string, string>();
  const backends = new Map<string, BackendView>();
  for (const s of slots) {
    names.set(s.key, s.canonicalName);
    backends.set(s.canonicalName, s.view);
  }
  const order = [...backends.keys()].sort(cmp);
  for (const spare of sparesFor(slots.filter((s) => s.view.mode === 'http').length, settings, memo)) {
    backends.set(spare.name, spare);
    order.push(spare.name);
  }
  return { names, backends, order };
}

/** The backends the frontends name by name (default_backend, TCP use_backend), not through a map. */
export function backendsNamedByFrontends(view: ConfigView): string[] {
  const named = [view.http.defaultBackend];
  for (const f of view.tcpFrontends) {
    if (f.defaultBackend !== undefined) named.push(f.defaultBackend);
    for (const r of f.rules) named.push(r.backend);
  }
  return named;
}

/** The spare backends a canonical config ends with, for this many HTTP backends. */
export function sparesFor(httpCount: number, settings: RenderSettings, memo: RenderMemo): BackendView[] {
  const spares = Math.max(settings.spareBackends, Math.ceil(httpCount * 0.05));
  return Array.from({ length: spares }, (_, i) => spareOf(`${SPARE_PREFIX}${i + 1}`, settings, memo));
}

/** The spare backend of this name, the same object across applies (so its rendered text is reused). */
function spareOf(name: string, settings: RenderSettings, memo: RenderMemo): BackendView {
  const hit = memo.spares.get(name);
  if (hit && hit.settings === settings) return hit.view;
  const view = spareView(name, settings);
  memo.spares.set(name, { settings, view });
  return view;
}

function hostMatches(spec: ServiceSpec, d: Destination): HostMatch[] {
  if (d.serviceDomain.length === 0) return [{ kind: 'any' }];
  if (spec.serviceDomainAlgo !== undefined) {
    const starred = d.serviceDomain.some((x) => x.startsWith('*'));
    return [{
      kind: 'algo',
      algo: starred ? 'hdr_end(host)' : spec.serviceDomainAlgo,
      patterns: d.serviceDomain.map((x) => x.replace(/^\*/, '')),
    }];
  }
  const exact = d.serviceDomain.filter((x) => !x.startsWith('*'));
  const wild = d.serviceDomain.filter((x) => x.startsWith('*'));
  return [
    ...(exact.length > 0 ? [{ kind: 'exact', hosts: exact } as HostMatch] : []),
    ...wild.map((w): HostMatch => ({ kind: 'wildcard', suffix: w.slice(1) })),
  ];
}

function pathMatch(d: Destination): PathMatch {
  if (d.pathType === 'path_beg') return { kind: 'prefix', paths: d.servicePath };
  if (d.pathType === 'path') return { kind: 'exact', paths: d.servicePath };
  return { kind: 'other', fetch: d.pathType, patterns: d.servicePath };
}

const q = (s: string) => `'${s}'`;

function destinationConditions(d: Destination): string[] {
  const conditions: string[] = [];
  if (d.servicePathExclude.length > 0) conditions.push(`!{ path_beg ${d.servicePathExclude.map(q).join(' ')} }`);
  for (const h of d.serviceHeader) conditions.push(`{ req.hdr(${h.name}) -m str ${q(h.value)} }`);
  if (d.userAgent.length > 0) conditions.push(`{ req.hdr(User-Agent) -m sub -i ${d.userAgent.map(q).join(' ')} }`);
  return conditions;
}

/** The texts custom templates rendered for these services (templateFePath, templateBePath), in their order. */
function customTexts(services: readonly ServiceSpec[], custom: ModelInput['custom'], part: 'frontend' | 'backend'): Array<{ owner: string; text: string }> {
  const texts: Array<{ owner: string; text: string }> = [];
  if (custom.size === 0) return texts;
  for (const s of services) {
    const text = custom.get(s.serviceName)?.[part];
    if (text !== undefined) texts.push({ owner: s.serviceName, text });
  }
  return texts;
}

/** httpRoutes, the same array again for the same spec and backend names (a model of 10,000 services made them all anew). */
function httpRoutesOf(spec: ServiceSpec, d: Destination, plain: string | undefined, tls: string | undefined, memo: RenderMemo): readonly RouteInput[] {
  let known = memo.routes.get(spec);
  if (known === undefined) {
    // Sized once: an empty array given an element grows a backing store of 17 (this memo holds 10,000 of them).
    known = new Array(Math.max(spec.destinations.length, d.index + 1));
    memo.routes.set(spec, known);
  }
  const hit = known[d.index];
  if (hit && hit.plain === plain && hit.tls === tls) return hit.routes;
  const routes = httpRoutes(spec, d, plain, tls);
  known[d.index] = { plain, tls, routes };
  return routes;
}

/** The routes of one HTTP destination; with httpsPort, plain and TLS traffic go to different backends. */
function httpRoutes(spec: ServiceSpec, d: Destination, plain: string | undefined, tls: string | undefined): RouteInput[] {
  const base = destinationConditions(d);
  const variants: Array<{ backend: string; conditions: string[] }> = [];
  if (d.httpsPort !== undefined) {
    if (plain) variants.push({ backend: plain, conditions: [...base, `{ dst_port ${d.srcPort ?? 80} }`] });
    if (tls) variants.push({ backend: tls, conditions: [...base, `{ dst_port ${d.srcHttpsPort ?? 443} }`] });
  } else if (plain) {
    variants.push({ backend: plain, conditions: d.srcPort !== undefined ? [...base, `{ dst_port ${d.srcPort} }`] : base });
  }
  const routes: RouteInput[] = [];
  let part = 0;
  for (const v of variants) {
    for (const host of hostMatches(spec, d)) {
      routes.push({
        owner: spec.serviceName,
        aclName: spec.aclName,
        destIndex: d.index,
        part: part++,
        backend: v.backend,
        host,
        path: pathMatch(d),
        conditions: v.conditions,
      });
    }
  }
  return routes;
}

/**
 * What one service adds to a model when all it adds is plain HTTP backends
 * and routes: no userlist, redirect, TCP frontend, listen, custom template,
 * default backend or port condition. That is the case the apply side can
 * patch into the live model without building the whole model again
 * (core/apply/patch.ts); undefined for any other service.
 */
export function plainParts(spec: ServiceSpec, settings: RenderSettings, memo: RenderMemo): { slots: BackendSlot[]; routes: (nameOf: (key: string) => string | undefined) => RouteInput[] } | undefined {
  if (spec.templateFePath !== undefined || spec.templateBePath !== undefined || spec.users.length > 0 || spec.usersDenyAll || spec.isDefaultBackend || spec.redirectWhenHttpProto || spec.redirectUnlessHttpsProto) return undefined;
  for (const d of spec.destinations) {
    if (d.reqMode !== 'http' || d.serviceGroup !== undefined || d.srcPort !== undefined || d.srcHttpsPort !== undefined || d.httpsPort !== undefined || d.redirectFromDomain.length > 0) return undefined;
  }
  const slots = backendsFor(spec, settings, memo);
  if (slots.some((s) => s.view.mode !== 'http')) return undefined;
  return { slots, routes: (nameOf) => spec.destinations.flatMap((d) => httpRoutes(spec, d, nameOf(backendKey(spec.serviceName, d.index, 'http')), undefined)) };
}

const NO_RULES: readonly FrontRuleView[] = [];

function frontRedirects(spec: ServiceSpec, d: Destination): readonly FrontRuleView[] {
  if (d.redirectFromDomain.length === 0 && !spec.redirectWhenHttpProto && !spec.redirectUnlessHttpsProto) return NO_RULES;
  const rules: FrontRuleView[] = [];
  const owner = spec.serviceName;
  const target = d.serviceDomain.find((x) => !x.startsWith('*'));
  if (d.redirectFromDomain.length > 0 && target !== undefined) {
    const exact = d.redirectFromDomain.filter((x) => !x.startsWith('*'));
    const wild = d.redirectFromDomain.filter((x) => x.startsWith('*')).map((x) => x.slice(1));
    const location = `'%[ssl_fc,iif(https,http)]://${target}%[capture.req.uri]'`;
    if (exact.length > 0) rules.push({ owner, line: `http-request redirect code 301 location ${location} if { var(txn.fp_host) -m str ${exact.map(q).join(' ')} }` });
    for (const w of wild) rules.push({ owner, line: `http-request redirect code 301 location ${location} if { var(txn.fp_host) -m end ${q(w)} }` });
  }
  if ((spec.redirectWhenHttpProto || spec.redirectUnlessHttpsProto) && d.port !== undefined) {
    const code = d.httpsRedirectCode !== undefined ? ` code ${d.httpsRedirectCode}` : '';
    const proto = spec.redirectWhenHttpProto ? `{ req.hdr(X-Forwarded-Proto) -m str http }` : `!{ req.hdr(X-Forwarded-Proto) -m str https }`;
    for (const host of hostMatches(spec, d)) {
      const conds = [proto, hostCondition(host), pathCondition(pathMatch(d)), ...destinationConditions(d)];
      if (d.srcPort !== undefined) conds.push(`{ dst_port ${d.srcPort} }`);
      rules.push({ owner, line: `http-request redirect scheme https${code} if ${conds.filter((c) => c !== '').join(' ')}` });
    }
  }
  return rules;
}

function routeStepView(step: RoutingStep, mapDir: string): RouteStepView {
  if (step.kind === 'rule') return { rule: { backend: step.rule.backend, condition: step.rule.condition, owner: step.rule.owner } };
  const m = MAP_FILES[step.lookup];
  return { map: { lookup: step.lookup, key: m.key, converter: m.converter, file: `${mapDir}/${m.file}` } };
}

function userlists(services: readonly ServiceSpec[], globalUsers: readonly User[]): UserlistView[] {
  const lists: UserlistView[] = [];
  const entries = (users: readonly User[]) =>
    users.map((u) => ({ name: u.name, keyword: u.encrypted ? ('password' as const) : ('insecure-password' as const), password: u.password }));
  if (globalUsers.length > 0) lists.push({ name: 'defaultUsers', users: entries(globalUsers) });
  for (const s of services) {
    if (s.users.length === 0 && !s.usersDenyAll) continue;
    const users = s.usersDenyAll ? [{ name: 'dummyUser', password: `denied-${s.serviceName}`, encrypted: true }] : s.users;
    lists.push({ name: `${s.serviceName}Users`, owner: s.serviceName, users: entries(users) });
  }
  return lists;
}

function bindLine(b: BindSpec, hasCerts: boolean, settings: RenderSettings): string {
  const address = `${b.address}:${b.port}`;
  // HAProxy refuses an ssl bind without any certificate, so :ssl binds stay plain until one exists.
  // With ACME they are TLS from the start: an empty crt-list is accepted with strict-sni, and
  // issued certificates join it at run time.
  const tls = b.ssl && (hasCerts || settings.acme)
    ? ` ssl crt-list ${settings.crtList}${hasCerts ? '' : ' strict-sni'} alpn ${settings.enableH2 ? 'h2,http/1.1' : 'http/1.1'}${settings.caFile ? ` ca-file ${settings.caFile} verify optional ca-ignore-err all crt-ignore-err all` : ''}`
    : '';
  return `${address}${tls}${b.options ? ` ${b.options}` : ''}`;
}

function statsView(stats: NonNullable<RenderSettings['stats']>): { uri: string; auth?: string } {
  const open = stats.user === 'none' || stats.pass === 'none';
  return { uri: stats.uri, ...(!open && { auth: `${stats.user}:${stats.pass}` }) };
}

type NameOf = (spec: ServiceSpec, d: Destination, variant: 'http' | 'https' | 'tcp') => string | undefined;

function tcpFrontends(services: readonly ServiceSpec[], nameOf: NameOf, debug: boolean): TcpFrontendView[] {
  const byPort = new Map<number, TcpFrontendView>();
  for (const spec of services) {
    for (const d of spec.destinations) {
      if (d.reqMode === 'http' || d.serviceGroup !== undefined || d.srcPort === undefined) continue;
      const backend = nameOf(spec, d, 'tcp');
      if (!backend) continue;
      const sni = d.reqMode === 'sni';
      const fe = byPort.get(d.srcPort) ?? {
        name: sni ? `service_${d.srcPort}` : `tcpFE_${d.srcPort}`,
        port: d.srcPort,
        owners: [],
        sni,
        clitcpka: false,
        log: debug,
        rules: [],
      };
      if (!fe.owners.includes(spec.serviceName)) fe.owners.push(spec.serviceName);
      fe.clitcpka ||= d.clitcpka;
      if (d.timeoutClient !== undefined) fe.timeoutClient = d.timeoutClient;
      const patterns = sni ? (d.servicePath.length > 0 ? d.servicePath : d.serviceDomain) : d.serviceDomain;
      if (sni || patterns.length > 0) {
        fe.sni ||= patterns.length > 0;
        const fetch = sni ? d.pathType : 'req.ssl_sni -i';
        const list = sni ? patterns : patterns.map((p) => p.replace(/^\*/, ''));
        const matcher = !sni && patterns.some((p) => p.startsWith('*')) ? 'req.ssl_sni -i -m end' : fetch;
        fe.rules.push({ owner: spec.serviceName, backend, condition: `{ ${matcher} ${list.map(q).join(' ')} }` });
      } else {
        fe.defaultBackend = backend;
      }
      byPort.set(d.srcPort, fe);
    }
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

function listens(services: readonly ServiceSpec[], addresses: ReadonlyMap<string, string | undefined> | undefined): ListenView[] {
  const groups = new Map<string, ListenView>();
  for (const spec of services) {
    for (const d of spec.destinations) {
      if (d.serviceGroup === undefined || d.srcPort === undefined || d.port === undefined) continue;
      const id = `${d.serviceGroup}_${d.srcPort}`;
      const l = groups.get(id) ?? {
        name: `tcpListen_${id}`,
        port: d.srcPort,
        owners: [],
        ...(d.balanceGroup !== undefined && { balance: d.balanceGroup }),
        clitcpka: d.clitcpka,
        ...(d.timeoutClient !== undefined && { timeoutClient: d.timeoutClient }),
        tcpCheck: d.checkTcp,
        servers: [],
      };
      l.owners.push(spec.serviceName);
      const hosts = spec.servers && spec.servers.length > 0 ? spec.servers.map((s) => ({ host: s.host, port: s.port ?? d.port as number })) : [{ host: d.outboundHostname ?? spec.serviceName, port: d.port }];
      hosts.forEach((h, i) => {
        const ip = literalIp(h.host) ?? addresses?.get(h.host);
        const unresolved = addresses !== undefined && ip === undefined;
        const address = formatAddress(ip ?? h.host, h.port);
        l.servers.push({ name: `${d.serviceGroup}-${spec.serviceName}${h.port}_${i + 1}`, address, options: `${unresolved ? ' init-addr last,none' : ''}${l.tcpCheck ? ' check' : ''}` });
      });
      groups.set(id, l);
    }
  }
  return [...groups.values()].sort((a, b) => a.port - b.port || cmp(a.name, b.name));
}

export { LOOKUPS };
