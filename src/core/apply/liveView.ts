import type { Layout, Model } from '../../render/model.js';
import type { ShadowedRoute } from '../../render/routes.js';

/**
 * Pure readings of a model: why a change needs a reload, which routes
 * collide, which servers serve which service.
 */

/** A sentence on why the structure changed, from the live and the next (sticky) model. */
export function explainReload(live: Model, next: Model): string {
  const before = new Set(live.layout.order);
  const added = next.layout.order.filter((n) => !before.has(n));
  if (added.length > 0) {
    const owners = added.map((n) => next.layout.backends.get(n)?.view.owner ?? n);
    return `new backend${added.length > 1 ? 's' : ''} for ${[...new Set(owners)].slice(0, 5).join(', ')} (no free spare fits)`;
  }
  for (const name of next.layout.order) {
    const a = live.layout.backends.get(name)?.view;
    const b = next.layout.backends.get(name)?.view;
    if (a && b && JSON.stringify({ ...a, owner: '', servers: [] }) !== JSON.stringify({ ...b, owner: '', servers: [] })) {
      return `options of ${b.owner ?? name} changed (backend ${name})`;
    }
    if (a && b && !b.dynamic && JSON.stringify(a.servers) !== JSON.stringify(b.servers)) return `servers of ${b.owner ?? name} changed (static servers)`;
  }
  if (JSON.stringify(live.view.http.routing) !== JSON.stringify(next.view.http.routing)) return 'routing rules changed';
  return 'frontend or global settings changed';
}

/**
 * ROUTE_CONFLICT=reject: the services, among those upserted, whose change
 * makes one of their routes and another service's the same (whichever of the
 * two would win), with the reason.
 */
export function newRouteConflicts(live: readonly ShadowedRoute[], next: readonly ShadowedRoute[], upserted: ReadonlySet<string>): Map<string, string> {
  const culprits = new Map<string, string>();
  const before = new Set(live.map((x) => `${x.owner}\u0000${x.by}\u0000${x.route}`));
  for (const x of next) {
    if (before.has(`${x.owner}\u0000${x.by}\u0000${x.route}`)) continue;
    for (const [name, other] of [[x.owner, x.by], [x.by, x.owner]] as const) {
      if (upserted.has(name)) culprits.set(name, `route ${x.route} of service "${name}" is the same as one of service "${other}" (ROUTE_CONFLICT=reject): give one of them another path or domain, or remove the other first.`);
    }
  }
  return culprits;
}

/** Routes of this service that another service's identical route takes, or that it takes from another, in words. */
export function routeWarnings(shadowed: readonly ShadowedRoute[], name: string): string[] {
  return shadowed.flatMap((x) => {
    if (x.owner === name) return [`route ${x.route} of service "${name}" is the same as one of service "${x.by}", which comes first in the route order (a lower aclName): "${name}" gets none of those requests.`];
    if (x.by === name) return [`route ${x.route} of service "${x.owner}" is the same as one of this service, which comes first in the route order (a lower aclName): "${x.owner}" gets none of those requests now.`];
    return [];
  });
}

/** Services whose routes another service takes, with the route and the winner. */
export function shadowedServices(shadowed: readonly ShadowedRoute[]): Map<string, Array<{ route: string; by: string }>> {
  const out = new Map<string, Array<{ route: string; by: string }>>();
  for (const x of shadowed) out.set(x.owner, [...(out.get(x.owner) ?? []), { route: x.route, by: x.by }]);
  return out;
}

/** The backends and servers that serve each service (server-template slots included), for health reports. */
export function serversByService(layout: Layout): Map<string, Array<{ backend: string; server: string; address: string }>> {
  const byService = new Map<string, Array<{ backend: string; server: string; address: string }>>();
  for (const [backend, { view }] of layout.backends) {
    if (view.owner === undefined) continue;
    const list = byService.get(view.owner) ?? [];
    for (const s of view.servers) list.push({ backend, server: s.name, address: s.address });
    const template = view.serverTemplate;
    if (template) for (let i = 1; i <= template.count; i++) list.push({ backend, server: `${template.prefix}${i}`, address: template.address });
    byService.set(view.owner, list);
  }
  return byService;
}
