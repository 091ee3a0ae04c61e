// Long on purpose: one backend view per service, with every HAProxy option a service can set.
import crypto from 'node:crypto';
import type { Destination, HeaderRules, ServiceSpec } from '../domain/spec.js';
import { withFields } from '../domain/withFields.js';
import { formatAddress } from '../domain/values.js';
import { renderMemo, type RenderMemo } from './memo.js';
import type { RenderSettings } from './settings.js';

export interface ServerView {
  name: string;
  host: string;
  port: number;
  /** The IP the server is reached at: the host itself when it is one, else what flow-proxy resolved it to. */
  ip?: string;
  /** What the config gives HAProxy: `ip:port` (bracketed for IPv6), or `host:port` for a name not resolved yet. */
  address: string;
  /** `init-addr` for a name not resolved yet: HAProxy must never resolve it through libc while it loads. */
  initAddr?: string;
  /** Identity used to keep a server's name when others come and go. */
  identity: string;
}

/** Everything a backend template needs; templates only lay it out. */
export interface BackendView {
  name: string;
  /** Service that owns it; not part of the structure (a spare can host any service). */
  owner?: string;
  mode: 'http' | 'tcp';
  httpsRedirect?: { code?: number };
  connectionMode?: string;
  log: boolean;
  headers: HeaderRules;
  timeoutServer?: number;
  timeoutTunnel?: number;
  setPaths: string[];
  verifyClientSsl: boolean;
  allowedMethods: string[];
  deniedMethods: string[];
  denyHttp: boolean;
  compression?: { algo?: string; type?: string };
  balance?: string;
  cookie?: string;
  /** Cookie values derived from each server's address (`cookie ... dynamic`): the servers come from DNS. */
  dynamicCookieKey?: string;
  tcpCheck: boolean;
  /** `option httpchk GET <path>`: an HTTP health check. */
  httpCheck?: string;
  /** The backend's own `retries` and `retry-on` (the defaults section has RETRIES and RETRY_ON). */
  retries?: number;
  retryOn?: string;
  /** HTTP: the methods L7 retries (retry-on beyond connection failures) apply to; `none` turns them off. */
  l7RetryMethods?: string;
  /** Options appended to every server line, with a leading space. */
  serverOptions: string;
  /**
   * Its server options and retry rule are the standard ones (the settings'):
   * it is rendered `from fp_std`, the defaults section that holds them once,
   * instead of on each of its lines (a third less for HAProxy to parse at
   * 10,000 services). Servers added at run time still get every option.
   */
  standard: boolean;
  servers: ServerView[];
  serverTemplate?: { prefix: string; count: number; address: string };
  auth: { userlist?: string; realm?: string; global: boolean };
  extra?: string;
  /** Servers can be added, removed and moved through the runtime API. */
  dynamic: boolean;
}

/** Which backend of which service: stable across renders. */
export interface BackendSlot {
  key: string;
  canonicalName: string;
  view: BackendView;
}

export type Variant = 'http' | 'https' | 'tcp';

export function backendKey(serviceName: string, index: number, variant: Variant): string {
  return `${serviceName}\u0000${index}\u0000${variant}`;
}

export function canonicalBackendName(spec: ServiceSpec, d: Destination, variant: Variant): string {
  return variant === 'https' ? `https-${spec.aclName}-be${d.httpsPort}_${d.index}` : `${spec.aclName}-be${d.port}_${d.index}`;
}

const EMPTY_HEADERS: HeaderRules = { addReq: [], setReq: [], delReq: [], addRes: [], setRes: [], delRes: [] };

/** The backends a service needs, one per destination and variant, in a stable order (remembered per spec and settings). */
export function backendsFor(spec: ServiceSpec, settings: RenderSettings, memo: RenderMemo = renderMemo()): BackendSlot[] {
  const cached = memo.slots.get(spec);
  if (cached && cached.settings === settings) return cached.slots;
  const slots = computeSlots(spec, settings, memo);
  memo.slots.set(spec, { settings, slots });
  return slots;
}

function computeSlots(spec: ServiceSpec, settings: RenderSettings, memo: RenderMemo): BackendSlot[] {
  const slots: BackendSlot[] = [];
  for (const d of spec.destinations) {
    if (d.reqMode === 'http') {
      if (d.port !== undefined) slots.push(slot(spec, d, 'http', settings, memo));
      if (d.httpsPort !== undefined) slots.push(slot(spec, d, 'https', settings, memo));
    } else if (d.serviceGroup === undefined && d.port !== undefined) {
      slots.push(slot(spec, d, 'tcp', settings, memo));
    }
  }
  return slots;
}

function slot(spec: ServiceSpec, d: Destination, variant: Variant, settings: RenderSettings, memo: RenderMemo): BackendSlot {
  const name = canonicalBackendName(spec, d, variant);
  return { key: backendKey(spec.serviceName, d.index, variant), canonicalName: name, view: backendView(spec, d, variant, name, settings, memo) };
}

export { formatAddress };

/** The servers of one destination: discovered instances, or the service name (Swarm VIP) at its port. */
export function serversFor(spec: ServiceSpec, d: Destination, variant: Variant): ServerView[] {
  const port = (variant === 'https' ? d.httpsPort : d.port) as number;
  const list = spec.servers && spec.servers.length > 0
    ? spec.servers.map((s) => ({ host: s.host, port: variant === 'https' ? port : s.port ?? port, id: s.id }))
    : [{ host: d.outboundHostname ?? spec.serviceName, port, id: undefined }];
  const seen = new Map<string, number>();
  return list.map((s) => {
    const identity = s.id ?? formatAddress(s.host, s.port);
    const base = serverName(identity);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const ip = literalIp(s.host);
    return { name: n === 1 ? base : `${base}-${n}`, host: s.host, port: s.port, ...(ip !== undefined && { ip }), address: formatAddress(s.host, s.port), identity };
  });
}

/** The host when it is an IP literal (brackets removed). */
export function literalIp(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(bare) || bare.includes(':') ? bare : undefined;
}

/** Names this backend's servers reach and that flow-proxy resolves (HAProxy resolves those of backends with resolvers). */
export function namesToResolve(view: BackendView): string[] {
  if (usesResolvers(view)) return [];
  return view.servers.filter((s) => s.ip === undefined).map((s) => s.host);
}

function usesResolvers(view: BackendView): boolean {
  return view.serverTemplate !== undefined || / resolvers /.test(view.serverOptions);
}

/** Distinct strings kept for sharing; past this many the table starts over, so that it never grows without end. */
const INTERNED = 4096;

/** One copy of a string many views share (memo.strings). */
function intern(memo: RenderMemo, text: string): string {
  const known = memo.strings.get(text);
  if (known !== undefined) return known;
  if (memo.strings.size >= INTERNED) memo.strings.clear();
  memo.strings.set(text, text);
  return text;
}

/**
 * The view with its server names replaced by the addresses flow-proxy
 * resolved; a name that did not resolve stays, with `init-addr last,none`
 * (the address saved at the last reload, else none until a late answer
 * renders it). Remembered per view and addresses, so unchanged backends
 * keep their rendered text.
 */
export function withAddresses(view: BackendView, addresses: ReadonlyMap<string, string | undefined>, memo: RenderMemo = renderMemo()): BackendView {
  const names = namesToResolve(view);
  if (names.length === 0) return view;
  const key = names.map((n) => addresses.get(n) ?? '').join(',');
  const hit = memo.resolved.get(view);
  if (hit && hit.key === key) return hit.view;
  const servers = view.servers.map((s): ServerView => {
    if (s.ip !== undefined) return s;
    const ip = addresses.get(s.host);
    return ip !== undefined ? withFields(s, { ip, address: formatAddress(ip, s.port) }) : withFields(s, { initAddr: 'last,none' });
  });
  const resolved = { ...view, servers };
  memo.resolved.set(view, { key, view: resolved });
  return resolved;
}

/**
 * A server's name comes from its identity (container id, else address): the
 * same instance keeps its name through every runtime change, reload and
 * restart, and a name never passes to another instance. HAProxy restores
 * saved server state (address, maintenance) by name, so positional names
 * would hand one instance's state to another.
 */
export function serverName(identity: string): string {
  return `s-${crypto.createHash('sha1').update(identity).digest('hex').slice(0, 10)}`;
}

function backendView(spec: ServiceSpec, d: Destination, variant: Variant, name: string, settings: RenderSettings, memo: RenderMemo): BackendView {
  const http = variant !== 'tcp';
  const sticky = spec.sessionType === 'sticky-server';
  const port = (variant === 'https' ? d.httpsPort : d.port) as number;
  const host = d.outboundHostname ?? spec.serviceName;
  // A sticky service known only by its name (a Swarm VIP, as the listener sends it) must pin clients to
  // tasks, not to the VIP: its servers are the tasks (DNS tasks.<name>), followed by HAProxy.
  const stickyTasks = sticky && !(spec.servers && spec.servers.length > 0) && literalIp(host) === undefined && settings.resolvers.length > 0;
  const dns = spec.discoveryType === 'DNS' || stickyTasks;
  const resolvers = settings.resolvers.length > 0 && (spec.params.checkResolvers !== undefined ? spec.checkResolvers : settings.checkResolvers);
  const health = d.healthCheck ?? settings.healthChecks.enabled;
  const options = [
    POOL_OPTIONS,
    health ? checkOptions(settings, d.slowStart) : d.checkTcp || dns || resolvers ? ' check' : '',
    // With resolvers, HAProxy resolves names itself at run time; the system resolver is never asked.
    resolvers && !dns ? ' resolvers docker init-addr none' : dns ? ' resolvers docker' : '',
    d.sslVerifyNone ? ' ssl verify none' : '',
  ].join('');
  const retryMethods = d.retryMethods ?? settings.retry.methods;
  const servers = dns ? [] : serversFor(spec, d, variant);
  const withAuth = http && !d.ignoreAuthorization;
  const serviceAuth = withAuth && (spec.users.length > 0 || spec.usersDenyAll);
  const view: BackendView = {
    name,
    owner: spec.serviceName,
    mode: http ? 'http' : 'tcp',
    ...(variant === 'http' && d.httpsOnly && { httpsRedirect: d.httpsRedirectCode !== undefined ? { code: d.httpsRedirectCode } : {} }),
    ...(http && spec.connectionMode !== undefined && { connectionMode: spec.connectionMode }),
    log: settings.debug,
    headers: http ? d.headers : EMPTY_HEADERS,
    ...(d.timeoutServer !== undefined && { timeoutServer: d.timeoutServer }),
    // In TCP mode HAProxy's tunnel timeout replaces the client timeout once connected, so timeoutClient
    // (docker-flow-proxy's idle limit for TCP clients) becomes the backend's tunnel timeout unless one is given.
    ...((d.timeoutTunnel ?? (!http ? d.timeoutClient : undefined)) !== undefined && { timeoutTunnel: (d.timeoutTunnel ?? d.timeoutClient) as number }),
    setPaths: http ? d.reqPathSearchReplace.map((r) => `%[path,regsub("${r.search}","${r.replace}")]`) : [],
    verifyClientSsl: http && d.verifyClientSsl,
    allowedMethods: http ? d.allowedMethods : [],
    deniedMethods: http ? d.deniedMethods : [],
    denyHttp: http && variant === 'http' && d.denyHttp,
    ...(http && (spec.compressionAlgo !== undefined || spec.compressionType !== undefined) && {
      compression: {
        ...(spec.compressionAlgo !== undefined && { algo: spec.compressionAlgo }),
        ...(spec.compressionType !== undefined && { type: spec.compressionType }),
      },
    }),
    ...(sticky && { balance: 'roundrobin', cookie: spec.serviceName }),
    ...(stickyTasks && { dynamicCookieKey: crypto.createHash('sha1').update(`flow-proxy sticky ${spec.serviceName}`).digest('hex').slice(0, 16) }),
    tcpCheck: !http && d.checkTcp,
    ...(d.checkHttpPath !== undefined && { httpCheck: d.checkHttpPath }),
    ...(d.retries !== undefined && { retries: d.retries }),
    ...(d.retryOn !== undefined && { retryOn: d.retryOn.join(' ') }),
    ...(http && { l7RetryMethods: intern(memo, retryMethods.join(' ')) }),
    // The same few option strings serve thousands of backends: one copy each.
    serverOptions: intern(memo, options),
    standard: http && options === standardServerOptions(settings) && retryMethods.join(' ') === settings.retry.methods.join(' '),
    servers,
    ...(dns && {
      serverTemplate: {
        prefix: spec.serviceName,
        // Without a replica count (a global service) ten task slots; unused slots stay empty.
        count: Math.max(1, spec.replicas ?? (stickyTasks ? 10 : 1)),
        address: formatAddress(stickyTasks ? `tasks.${host}` : host, port),
      },
    }),
    auth: {
      ...(serviceAuth && { userlist: `${spec.serviceName}Users`, realm: `${spec.serviceName}Realm` }),
      global: withAuth && settings.users.length > 0,
    },
    ...(spec.backendExtra !== undefined && { extra: spec.backendExtra }),
    // Dynamic (runtime API) servers cannot use resolvers or cookies; those backends change by reload.
    dynamic: !sticky && !dns && !resolvers && spec.templateBePath === undefined,
  };
  return view;
}

/**
 * Idle server connections are kept and reused, as for a server of the
 * config: servers added at run time do not get these defaults (their idle
 * pool is off, so every request opened a new connection and such a service
 * was served 2-4x slower than one rendered at a reload).
 */
export const POOL_OPTIONS = ' pool-max-conn -1 pool-purge-delay 5s';

/**
 * Health checks of a server: cheap layer-4 checks with a fast fall, and
 * passive observation, so that one refused connection marks a server down
 * at once (the request itself is retried on another server). Written on
 * every server line, because servers added at run time do not inherit
 * `default-server`.
 */
export function checkOptions(settings: RenderSettings, slowStartSeconds?: number): string {
  const inter = settings.healthChecks.intervalMs;
  const fast = Math.min(1000, inter);
  return ` check inter ${inter}ms fastinter ${fast}ms downinter ${fast}ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down${slowStartSeconds ? ` slowstart ${slowStartSeconds}s` : ''}`;
}

/** The server options of a plain HTTP service under these settings (fp_std's `default-server`). */
export function standardServerOptions(settings: RenderSettings): string {
  return `${POOL_OPTIONS}${settings.healthChecks.enabled ? checkOptions(settings) : ''}`;
}

/** A spare backend: what a plain HTTP service's backend looks like, with no servers. */
export function spareView(name: string, settings: RenderSettings): BackendView {
  return {
    name,
    mode: 'http',
    log: settings.debug,
    headers: EMPTY_HEADERS,
    setPaths: [],
    verifyClientSsl: false,
    allowedMethods: [],
    deniedMethods: [],
    denyHttp: false,
    tcpCheck: false,
    l7RetryMethods: settings.retry.methods.join(' '),
    serverOptions: standardServerOptions(settings),
    standard: true,
    servers: [],
    auth: { global: settings.users.length > 0 },
    dynamic: true,
  };
}

/**
 * The part of a backend that only a reload can change: everything but its
 * name, its owner and (for dynamic backends) its servers. Views are built
 * by this module in a fixed shape, so plain JSON of a fixed field list is
 * deterministic; the result is remembered per view.
 */
export function structureOf(view: BackendView, memo: RenderMemo = renderMemo()): string {
  const hit = memo.structure.get(view);
  if (hit !== undefined) return hit;
  // Most backends have the same structure: one copy of each text, not one per backend.
  const text = intern(memo, structureText(view));
  memo.structure.set(view, text);
  return text;
}

function structureText(v: BackendView): string {
  return JSON.stringify([
    v.mode, v.httpsRedirect ?? null, v.connectionMode ?? null, v.log, v.headers, v.timeoutServer ?? null,
    v.timeoutTunnel ?? null, v.setPaths, v.verifyClientSsl, v.allowedMethods, v.deniedMethods, v.denyHttp, v.compression ?? null,
    v.balance ?? null, v.cookie ?? null, v.dynamicCookieKey ?? null, v.tcpCheck, v.httpCheck ?? null, v.retries ?? null, v.retryOn ?? null,
    v.l7RetryMethods ?? null, v.serverOptions, v.serverTemplate ?? null, v.auth.userlist ?? null,
    v.auth.realm ?? null, v.auth.global, v.extra ?? null, v.dynamic, v.standard,
    v.dynamic ? null : v.servers.map((s) => [s.name, s.address]),
  ]);
}
