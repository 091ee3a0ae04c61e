// Long on purpose: one explanation of a request walks the frontend exactly as HAProxy does (redirects, maps, rules, auth, backend); split, the order would be hidden.
import { AclSyntaxError, evaluateCondition, type AclRequest } from './acl.js';
import { NO_ROUTE_BACKEND, type Model } from './model.js';
import { hostCondition, orderRoutes, pathCondition, type HostMatch, type Lookup, type MapEntry, type RouteInput, type RouteOrder } from './routes.js';

/**
 * Which service a request reaches, and why: computed from the model the
 * config was rendered from, by doing what HAProxy does with it (the
 * frontend's redirects, then its routing steps: map lookups and rules in
 * order, then the default backend). The ordered route list (what the maps
 * and rules were planned from) says which other routes matched and lost,
 * and why, and which ones came closest.
 */

/** A request, described by its properties. */
export interface ExplainRequest {
  /** Path, optionally with a query string. */
  path: string;
  /** The Host header as sent (may carry a port and any case); absent: no Host header. */
  host?: string;
  method: string;
  /** The port the request arrives on; default: the first HTTP bind. */
  port?: number;
  /** Other headers, in order. */
  headers: ReadonlyArray<readonly [string, string]>;
}

export interface ExplainCandidate {
  Service: string;
  Matched: boolean;
  Why: string;
  /** The route, in words. */
  Route: string;
  Backend: string;
}

export interface Explanation {
  Service: string | null;
  Backend: string;
  Reason: string;
  Candidates: ExplainCandidate[];
  /** What the frontend matched on: the host as HAProxy computes it (lower case, port stripped), path, port. */
  Request: { Host: string | null; Path: string; Port: number; Method: string };
  /** What the chosen backend does besides forwarding (denials, redirects, auth). */
  Notes: string[];
}

const MAX_MISSES = 5;

/** Explains a request against a model; `order` is ROUTE_ORDER. */
export function explain(model: Model, request: ExplainRequest, order: RouteOrder): Explanation {
  const httpPorts = bindPorts(model.view.http.binds);
  const port = request.port ?? httpPorts[0]?.port ?? 80;
  const req = aclRequest(request, port);
  const summary = { Host: req.host ?? null, Path: req.path, Port: port, Method: req.method };
  const done = (e: Omit<Explanation, 'Request' | 'Notes'> & { Notes?: string[] }): Explanation => ({ ...e, Request: summary, Notes: e.Notes ?? [] });

  const bind = httpPorts.find((b) => b.port === port);
  if (!bind) {
    const tcp = explainTcp(model, req, port);
    if (tcp) return done(tcp);
    if (model.view.statsFrontend?.port === port) return done({ Service: null, Backend: '', Reason: `port ${port} is HAProxy's stats page (STATS_PORT)`, Candidates: [] });
    const known = [...httpPorts.map((b) => b.port), ...model.view.tcpFrontends.map((f) => f.port), ...model.view.listens.map((l) => l.port)];
    return done({ Service: null, Backend: '', Reason: `nothing listens on port ${port} (HTTP ports: ${httpPorts.map((b) => b.port).join(', ') || 'none'}${known.length > httpPorts.length ? `; TCP ports: ${known.slice(httpPorts.length).join(', ')}` : ''})`, Candidates: [] });
  }
  req.sni = bind.ssl ? req.host : undefined;

  const stats = model.view.http.stats;
  if (stats && req.url.startsWith(stats.uri)) {
    return done({ Service: null, Backend: '', Reason: `HAProxy's stats page answers: the URL begins with STATS_URI "${stats.uri}"`, Candidates: [] });
  }
  for (const r of model.view.http.redirects) {
    const condition = conditionOf(r.line);
    if (condition !== undefined && safeMatch(condition, req)) {
      return done({ Service: null, Backend: '', Reason: `redirected before routing by service "${r.owner}": ${r.line.replace(/ if .*$/, '')}`, Candidates: [] });
    }
  }

  const winner = route(model, req);
  const ordered = orderRoutes(model.routes, order);
  const tiers = order === 'acl' ? serviceTiers(model.routes) : undefined;
  const evaluated = ordered.map((r, i) => ({ r, i, ...evaluateRoute(r, req) }));
  const firstMatch = evaluated.find((e) => e.matched);
  const owner = (backend: string) => model.layout.backends.get(backend)?.view.owner ?? null;
  const candidates: ExplainCandidate[] = [];
  // The ordered route that won is the first matching one for the same backend (the plan guarantees it).
  const won = winner ? evaluated.find((e) => e.matched && e.r.backend === winner.backend) : undefined;
  for (const e of evaluated) {
    if (!e.matched || e === won) continue;
    const why = won ? `matched, but route #${won.i + 1} of "${won.r.owner}" (${describeRoute(won.r)}) comes first: ${whyFirst(won.r, e.r, order, tiers)}` : 'matched, but is not reached';
    candidates.push({ Service: e.r.owner, Matched: true, Why: why, Route: `#${e.i + 1}: ${describeRoute(e.r)}`, Backend: e.r.backend });
  }
  const misses = evaluated
    .filter((e) => !e.matched)
    .sort((a, b) => a.failed.length - b.failed.length || closeness(b.r, req) - closeness(a.r, req) || a.i - b.i)
    .slice(0, MAX_MISSES);
  for (const e of misses) candidates.push({ Service: e.r.owner, Matched: false, Why: e.failed.join('; '), Route: `#${e.i + 1}: ${describeRoute(e.r)}`, Backend: e.r.backend });

  const custom = model.view.http.customFrontends.map((c) => c.owner);
  const customNote = custom.length > 0 ? [`the frontend rules of ${custom.map((c) => `"${c}"`).join(', ')} come from custom templates (templateFePath) and are not evaluated here`] : [];
  if (winner) {
    const service = winner.owner ?? owner(winner.backend);
    const at = won ? `route #${won.i + 1} of ${ordered.length} (${describeRoute(won.r)})` : `a route of "${service ?? winner.backend}"`;
    const disagree = firstMatch && won && firstMatch !== won ? [`the ordered route list puts route #${firstMatch.i + 1} of "${firstMatch.r.owner}" first, but HAProxy's routing steps choose ${winner.backend}`] : [];
    return done({
      Service: service,
      Backend: winner.backend,
      Reason: `${at} is the first route that matches; HAProxy finds it through ${winner.via}`,
      Candidates: candidates,
      Notes: [...backendNotes(model, winner.backend, req, bind.ssl), ...disagree, ...customNote],
    });
  }
  const fallback = model.view.http.defaultBackend;
  if (fallback !== NO_ROUTE_BACKEND) {
    const service = owner(fallback);
    return done({ Service: service, Backend: fallback, Reason: `no route matches; "${service ?? fallback}" is the default backend (isDefaultBackend)`, Candidates: candidates, Notes: [...backendNotes(model, fallback, req, bind.ssl), ...customNote] });
  }
  return done({ Service: null, Backend: NO_ROUTE_BACKEND, Reason: 'no route matches and no service is the default backend: HAProxy answers 503', Candidates: candidates, Notes: customNote });
}

/** The request as the frontend's rules see it: Host lower-cased and stripped of its port, path without the query. */
function aclRequest(request: ExplainRequest, port: number): AclRequest {
  const headers = new Map<string, string[]>();
  for (const [name, value] of request.headers) {
    const key = name.toLowerCase();
    if (key === 'host' && request.host !== undefined) continue;
    headers.set(key, [...(headers.get(key) ?? []), value]);
  }
  if (request.host !== undefined) headers.set('host', [request.host]);
  // http-request set-var(txn.fp_host) req.hdr(host),field(1,:),lower: the last value, before the first ':'.
  const hostValues = (headers.get('host') ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());
  const last = hostValues[hostValues.length - 1];
  const host = last === undefined ? undefined : (last.split(':')[0] as string).toLowerCase();
  const q = request.path.indexOf('?');
  return { host, path: q < 0 ? request.path : request.path.slice(0, q), url: request.path, method: request.method, port, headers };
}

function bindPorts(binds: readonly string[]): Array<{ port: number; ssl: boolean }> {
  const out: Array<{ port: number; ssl: boolean }> = [];
  for (const b of binds) {
    const m = /^(?:\[[^\]]*\]|[^\s\[]*?):(\d+)(\s|$)/.exec(b);
    if (m) out.push({ port: Number(m[1]), ssl: /\sssl(\s|$)/.test(b) });
  }
  return out;
}

/** The condition of an `http-request … if <condition>` line: after the first ` if ` outside quotes. */
function conditionOf(line: string): string | undefined {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === "'") quoted = !quoted;
    else if (!quoted && line.startsWith(' if ', i)) return line.slice(i + 4);
  }
  return undefined;
}

function safeMatch(condition: string, req: AclRequest): boolean {
  try {
    return evaluateCondition(condition, req).matched;
  } catch (e) {
    if (e instanceof AclSyntaxError) return false;
    throw e;
  }
}

/** What HAProxy's routing steps pick: the first step that sets a backend. */
function route(model: Model, req: AclRequest): { backend: string; owner?: string; via: string } | undefined {
  for (const step of model.view.http.routing) {
    if (step.map) {
      const hit = lookup(step.map.lookup, model.maps[step.map.lookup], req);
      if (hit) return { backend: hit.backend, owner: hit.owner, via: `the map ${step.map.file.replace(/^.*\//, '')} (key "${hit.key}", ${step.map.converter})` };
    } else if (step.rule && safeMatch(step.rule.condition, req)) {
      return { backend: step.rule.backend, owner: step.rule.owner, via: `the rule ${step.rule.condition}` };
    }
  }
  return undefined;
}

/** map_str is an exact lookup; map_beg finds the longest key the subject begins with. */
function lookup(l: Lookup, entries: readonly MapEntry[], req: AclRequest): MapEntry | undefined {
  const subject = l === 'hostPathExact' || l === 'hostPathPrefix' ? (req.host === undefined ? undefined : req.host + req.path) : l === 'hostRoot' ? req.host : req.path;
  if (subject === undefined) return undefined;
  if (l === 'hostPathExact' || l === 'pathExact' || l === 'hostRoot') return entries.find((e) => e.key === subject);
  let best: MapEntry | undefined;
  for (const e of entries) if (subject.startsWith(e.key) && (!best || e.key.length > best.key.length)) best = e;
  return best;
}

function evaluateRoute(r: RouteInput, req: AclRequest): { matched: boolean; failed: string[] } {
  const condition = [hostCondition(r.host), pathCondition(r.path), ...r.conditions].filter((c) => c !== '').join(' ');
  try {
    const result = evaluateCondition(condition, req);
    return { matched: result.matched, failed: result.results.filter((t) => !t.matched).map((t) => t.why) };
  } catch (e) {
    if (e instanceof AclSyntaxError) return { matched: false, failed: [`cannot be evaluated here (${e.message})`] };
    throw e;
  }
}

/** How close a route that failed comes: a shared path prefix counts, a matching host more. */
function closeness(r: RouteInput, req: AclRequest): number {
  const paths = r.path.kind === 'other' ? r.path.patterns : r.path.paths;
  let shared = 0;
  for (const p of paths) {
    let n = 0;
    while (n < p.length && n < req.path.length && p[n] === req.path[n]) n++;
    shared = Math.max(shared, n);
  }
  const hostHit = r.host.kind === 'exact' && req.host !== undefined && r.host.hosts.includes(req.host) ? 1000 : 0;
  return hostHit + shared;
}

export function describeRoute(r: RouteInput): string {
  const host = describeHost(r.host);
  const path = r.path.kind === 'prefix' ? `path prefix ${r.path.paths.join(' ')}` : r.path.kind === 'exact' ? `exact path ${r.path.paths.join(' ')}` : `${r.path.fetch} ${r.path.patterns.join(' ')}`;
  const when = r.conditions.length > 0 ? ` when ${r.conditions.join(' ')}` : '';
  return `${host}, ${path}${when}`;
}

function describeHost(h: HostMatch): string {
  switch (h.kind) {
    case 'any':
      return 'any host';
    case 'exact':
      return `host ${h.hosts.join(' ')}`;
    case 'wildcard':
      return `host *${h.suffix}`;
    case 'algo':
      return `host ${h.algo} ${h.patterns.join(' ')}`;
  }
}

interface Features {
  tier: number;
  hostRank: number;
  wildcard: number;
  pathRank: number;
  length: number;
  conditional: boolean;
}

const WELL_KNOWN = /^\/\.well-known/i;

/** The properties routes are ordered by (see routes.ts: classify and compareSpecific). */
function features(r: RouteInput): Features {
  const paths = r.path.kind === 'other' ? r.path.patterns : r.path.paths;
  return {
    tier: paths.some((p) => WELL_KNOWN.test(p)) ? 0 : r.path.kind === 'prefix' && paths.includes('/') ? 2 : 1,
    hostRank: r.host.kind === 'exact' ? 0 : r.host.kind === 'wildcard' ? 1 : r.host.kind === 'algo' ? 2 : 3,
    wildcard: r.host.kind === 'wildcard' ? r.host.suffix.length : 0,
    pathRank: r.path.kind === 'exact' ? 0 : r.path.kind === 'prefix' ? 1 : 2,
    length: Math.max(0, ...paths.map((p) => p.length)),
    conditional: r.conditions.length > 0,
  };
}

/** docker-flow-proxy's order ranks whole services: one .well-known route puts a service first, one root route last. */
function serviceTiers(routes: readonly RouteInput[]): Map<string, number> {
  const tiers = new Map<string, number>();
  for (const r of routes) {
    const tier = features(r).tier;
    const t = tiers.get(r.owner);
    tiers.set(r.owner, t === undefined ? tier : t === 0 || tier === 0 ? 0 : Math.max(t, tier));
  }
  return tiers;
}

const HOST_WORDS = ['an exact host', 'a wildcard host', 'a host pattern (serviceDomainAlgo)', 'any host'];
const PATH_WORDS = ['an exact path', 'a path prefix', 'a path pattern'];

/** Why `a` comes before `b` in the route order, in the terms of the first criterion that differs. */
export function whyFirst(a: RouteInput, b: RouteInput, order: RouteOrder, tiers?: ReadonlyMap<string, number>): string {
  const fa = features(a);
  const fb = features(b);
  const ta = tiers?.get(a.owner) ?? fa.tier;
  const tb = tiers?.get(b.owner) ?? fb.tier;
  if (ta !== tb) {
    if (ta === 0) return `/.well-known routes come first${tiers ? ' (ROUTE_ORDER=acl: the whole service)' : ''}`;
    return `root (/) routes come last${tiers ? ' (ROUTE_ORDER=acl: a service with one root route is ordered last)' : ''}`;
  }
  if (order === 'specific') {
    if (fa.hostRank !== fb.hostRank) return `${HOST_WORDS[fa.hostRank]} comes before ${HOST_WORDS[fb.hostRank]}`;
    if (fa.wildcard !== fb.wildcard) return `the longer wildcard host *${(a.host as { suffix: string }).suffix} comes before *${(b.host as { suffix: string }).suffix}`;
    if (fa.pathRank !== fb.pathRank) return `${PATH_WORDS[fa.pathRank]} comes before ${PATH_WORDS[fb.pathRank]}`;
    if (fa.length !== fb.length) return `the longer path (${fa.length} characters) comes before the shorter (${fb.length}): the more specific route wins`;
    if (fa.conditional !== fb.conditional) return 'a route with conditions (headers, user agent, port, exclusions) comes before the same route without';
  }
  if (a.aclName !== b.aclName) return `aclName "${a.aclName}" sorts before "${b.aclName}"${order === 'specific' ? ' (equally specific routes)' : ' (ROUTE_ORDER=acl)'}`;
  if (a.owner !== b.owner) return `service "${a.owner}" sorts before "${b.owner}"`;
  if (a.destIndex !== b.destIndex) return `destination ${a.destIndex} comes before destination ${b.destIndex} of the same service`;
  return 'it is listed first in the same destination';
}

/** TCP frontends and listen sections route by port and TLS server name. */
function explainTcp(model: Model, req: AclRequest, port: number): Omit<Explanation, 'Request' | 'Notes'> | undefined {
  const listen = model.view.listens.find((l) => l.port === port);
  if (listen) {
    return { Service: listen.owners[0] ?? null, Backend: listen.name, Reason: `port ${port} is the TCP group ${listen.name}, balanced over ${listen.owners.map((o) => `"${o}"`).join(', ')}`, Candidates: [] };
  }
  const fe = model.view.tcpFrontends.find((f) => f.port === port);
  if (!fe) return undefined;
  const tls = { ...req, sni: req.host };
  const candidates: ExplainCandidate[] = [];
  let chosen: { backend: string; owner: string; condition: string } | undefined;
  for (const r of fe.rules) {
    let matched = false;
    let why = '';
    try {
      const result = evaluateCondition(r.condition, tls);
      matched = result.matched;
      why = result.results.filter((t) => !t.matched).map((t) => t.why).join('; ');
    } catch (e) {
      if (!(e instanceof AclSyntaxError)) throw e;
      why = `cannot be evaluated here (${e.message})`;
    }
    if (matched && !chosen) chosen = r;
    else candidates.push({ Service: r.owner, Matched: matched, Why: matched ? 'matched, but an earlier rule of this frontend comes first' : why, Route: `port ${port}, ${r.condition}`, Backend: r.backend });
  }
  const owner = (backend: string) => model.layout.backends.get(backend)?.view.owner ?? null;
  if (chosen) return { Service: chosen.owner, Backend: chosen.backend, Reason: `TCP frontend ${fe.name} on port ${port}: the TLS server name matches ${chosen.condition}`, Candidates: candidates };
  if (fe.defaultBackend) return { Service: owner(fe.defaultBackend), Backend: fe.defaultBackend, Reason: `TCP frontend ${fe.name} on port ${port} sends what no rule matches to its default backend`, Candidates: candidates };
  return { Service: null, Backend: '', Reason: `TCP frontend ${fe.name} on port ${port}: no TLS server name rule matches; HAProxy closes the connection`, Candidates: candidates };
}

/** What the backend does before it forwards: the rules of backend.hbs that depend on the request. */
function backendNotes(model: Model, backend: string, req: AclRequest, tls: boolean): string[] {
  const view = model.layout.backends.get(backend)?.view;
  if (!view) return [];
  const notes: string[] = [];
  if (view.httpsRedirect && !tls) notes.push(`plain HTTP is redirected to HTTPS (${view.httpsRedirect.code ?? 302})`);
  if (view.allowedMethods.length > 0 && !view.allowedMethods.includes(req.method)) notes.push(`answers 403: method ${req.method} is not in allowedMethods (${view.allowedMethods.join(', ')})`);
  if (view.deniedMethods.includes(req.method)) notes.push(`answers 403: method ${req.method} is in deniedMethods`);
  if (view.denyHttp && !tls) notes.push('answers 403: plain HTTP is denied (denyHttp)');
  if (view.verifyClientSsl) notes.push('needs a verified client certificate (verifyClientSsl)');
  if (view.auth.userlist || view.auth.global) notes.push('asks for basic authentication');
  if (view.servers.length === 0 && !view.serverTemplate) notes.push('has no server: HAProxy answers 503');
  return notes;
}
