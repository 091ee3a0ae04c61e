import type { ApplyRecord } from '../core/ports.js';
import type { Reconciler } from '../core/reconcile/reconciler.js';
import { describeRoute } from '../render/explain.js';
import type { Model } from '../render/model.js';
import { orderRoutes, type RouteOrder } from '../render/routes.js';
import type { PeerState } from './peerStatus.js';
import { parseServerStats, type ServerStat } from './statsCsv.js';

/** A call the API refused (4xx), kept for the dashboard. */
export interface Refusal {
  ServiceName: string;
  Endpoint: string;
  Status: number;
  Reason: string;
  At: string;
  ChangeId: string;
}

export interface DashboardDeps {
  engine: Pick<Reconciler, 'registry' | 'quarantined' | 'recentApplies' | 'liveModel'>;
  routeOrder: RouteOrder;
  /** HAProxy's `show stat` CSV. */
  stats: () => Promise<string>;
  peers: () => Promise<PeerState[]>;
  self: () => { Instance: string; Digest: string };
  refused: () => readonly Refusal[];
  ready: () => boolean;
  discovery: 'docker' | 'none';
}

type Health = 'up' | 'degraded' | 'down' | 'unknown' | 'none';

interface ServerRow {
  Backend: string;
  Name: string;
  Address: string;
  Status: string;
  Check: string;
  LastChangeS: number | null;
  Sessions: number | null;
}

/**
 * What the dashboard shows, from data the API has already: the registry and
 * quarantine, the live model (routes in evaluation order, backends and
 * servers), HAProxy's server states, the apply records and the replicas.
 * Like every read endpoint it carries no password, key or token: users are
 * counted, never listed with their passwords.
 */
export async function dashboardState(deps: DashboardDeps): Promise<Record<string, unknown>> {
  const model = deps.engine.liveModel;
  let statsError: string | undefined;
  const stats = await deps.stats().then(parseServerStats, (e: unknown) => {
    statsError = e instanceof Error ? e.message : String(e);
    return new Map<string, Map<string, ServerStat>>();
  });
  const peers = await deps.peers();
  const quarantined = new Map(deps.engine.quarantined.map((q) => [q.name, q]));
  const ordered = model ? orderRoutes(model.routes, deps.routeOrder) : [];
  // Indexed once: a proxy with 10,000 services must not scan every route and backend per service.
  const routesOf = new Map<string, Array<{ Order: number; Route: string; Backend: string }>>();
  ordered.forEach((r, i) => push(routesOf, r.owner, { Order: i + 1, Route: describeRoute(r), Backend: r.backend }));
  const backendsOf = new Map<string, string[]>();
  for (const name of model?.layout.order ?? []) {
    const owner = model?.layout.backends.get(name)?.view.owner;
    if (owner !== undefined) push(backendsOf, owner, name);
  }
  const services = [...deps.engine.registry.entries.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((e) => {
      const s = e.spec;
      const q = quarantined.get(e.name);
      const servers = model && !q ? serversOf(model, e.name, backendsOf.get(e.name) ?? [], stats, statsError !== undefined) : [];
      return {
        Name: e.name,
        Owner: e.owner,
        State: q ? 'quarantined' : 'live',
        ...(q && { Reason: q.reason }),
        AclName: s.aclName,
        IsDefaultBackend: s.isDefaultBackend,
        Auth: s.users.length > 0 || s.usersDenyAll,
        Health: q ? 'none' : health(servers),
        Destinations: s.destinations.map((d) => ({
          Index: d.index,
          Mode: d.reqMode,
          Port: d.port ?? null,
          HttpsPort: d.httpsPort ?? null,
          SrcPort: d.srcPort ?? null,
          Paths: d.servicePath,
          PathType: d.pathType,
          Domains: d.serviceDomain,
        })),
        Routes: routesOf.get(e.name) ?? [],
        Servers: servers,
      };
    });
  const applies = [...deps.engine.recentApplies].slice(-30).reverse().map((a: ApplyRecord) => ({
    Id: a.id,
    Kind: a.kind,
    Ok: a.ok,
    Reason: a.reason,
    DurationMs: Math.round(a.durationMs * 10) / 10,
    ChangeIds: a.changeIds,
    At: new Date(a.at).toISOString(),
  }));
  return {
    Status: 'OK',
    GeneratedAt: new Date().toISOString(),
    Proxy: {
      Ready: deps.ready(),
      RouteOrder: deps.routeOrder,
      Discovery: deps.discovery,
      Routes: ordered.length,
      HttpBinds: model?.view.http.binds.map((b) => b.split(' ')[0]) ?? [],
      ...(statsError !== undefined && { StatsError: statsError }),
    },
    Services: services,
    Quarantined: deps.engine.quarantined.map((q) => ({ ServiceName: q.name, Owner: q.owner, Reason: q.reason })),
    Refused: [...deps.refused()].reverse(),
    Applies: applies,
    Replicas: { Self: deps.self(), Peers: peers },
  };
}

/** The servers of a service's backends and TCP groups, with HAProxy's view of each. */
function serversOf(model: Model, name: string, backends: readonly string[], stats: Map<string, Map<string, ServerStat>>, statsDown: boolean): ServerRow[] {
  const rows: ServerRow[] = [];
  const row = (backend: string, server: string, address: string): ServerRow => {
    const st = stats.get(backend)?.get(server);
    return {
      Backend: backend,
      Name: server,
      Address: address,
      Status: st?.status ?? (statsDown ? 'unknown' : 'not in HAProxy yet'),
      Check: st?.check ?? '',
      LastChangeS: st?.lastChange ?? null,
      Sessions: st?.sessions ?? null,
    };
  };
  for (const backend of backends) {
    const view = model.layout.backends.get(backend)?.view;
    if (!view) continue;
    for (const s of view.servers) rows.push(row(backend, s.name, s.address));
    if (view.serverTemplate) for (const st of stats.get(backend)?.values() ?? []) rows.push(row(backend, st.server, st.address ?? view.serverTemplate.address));
  }
  for (const l of model.view.listens) {
    if (!l.owners.includes(name)) continue;
    for (const s of l.servers) rows.push(row(l.name, s.name, s.address));
  }
  return rows;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function health(servers: ServerRow[]): Health {
  if (servers.length === 0) return 'none';
  const up = servers.filter((s) => /^(UP|no check|OPEN|DRAIN|NOLB)/.test(s.Status)).length;
  const unknown = servers.filter((s) => s.Status === 'unknown').length;
  if (unknown === servers.length) return 'unknown';
  return up === servers.length ? 'up' : up === 0 ? 'down' : 'degraded';
}
