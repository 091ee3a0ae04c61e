import test from 'ava';
import fc from 'fast-check';
import { orderRoutes, planRoutes, type HostMatch, type Lookup, type PathMatch, type RouteInput, type RoutingPlan } from '../../src/render/routes.js';

/** A request as the simulator sees it: host, path and which opaque conditions hold. */
interface Req {
  host: string;
  path: string;
  conditions: Set<string>;
}

function hostMatches(h: HostMatch, host: string): boolean {
  switch (h.kind) {
    case 'any':
      return true;
    case 'exact':
      return h.hosts.includes(host);
    case 'wildcard':
      return host.endsWith(h.suffix);
    case 'algo':
      return h.patterns.some((p) => host.startsWith(p));
  }
}

function pathMatches(p: PathMatch, path: string): boolean {
  switch (p.kind) {
    case 'prefix':
      return p.paths.some((x) => path.startsWith(x));
    case 'exact':
      return p.paths.includes(path);
    case 'other':
      return p.patterns.some((x) => path.endsWith(x));
  }
}

function routeMatches(r: RouteInput, req: Req): boolean {
  return hostMatches(r.host, req.host) && pathMatches(r.path, req.path) && r.conditions.every((c) => req.conditions.has(c));
}

/** What the ordered list says: the first matching route wins. */
function naive(routes: RouteInput[], req: Req): string | undefined {
  return routes.find((r) => routeMatches(r, req))?.backend;
}

function lookup(plan: RoutingPlan, l: Lookup, req: Req): string | undefined {
  const entries = plan.maps[l];
  const longest = (subject: string) =>
    entries.filter((e) => subject.startsWith(e.key)).sort((a, b) => b.key.length - a.key.length)[0]?.backend;
  switch (l) {
    case 'hostPathExact':
      return entries.find((e) => e.key === req.host + req.path)?.backend;
    case 'hostPathPrefix':
      return longest(req.host + req.path);
    case 'pathExact':
      return entries.find((e) => e.key === req.path)?.backend;
    case 'pathPrefix':
    case 'pathRoot':
      return longest(req.path);
    case 'hostRoot':
      return entries.find((e) => e.key === req.host)?.backend;
  }
}

/** What HAProxy does with the plan: steps in order until one sets the backend. */
function simulate(plan: RoutingPlan, req: Req): string | undefined {
  for (const step of plan.steps) {
    if (step.kind === 'map') {
      const hit = lookup(plan, step.lookup, req);
      if (hit !== undefined) return hit;
    } else if (routeMatches(step.rule.route, req)) {
      return step.rule.backend;
    }
  }
  return undefined;
}

const hostArb = fc.constantFrom('a.com', 'b.com', 'x.a.com', 'y.x.a.com');
const pathArb = fc.constantFrom('/', '/api', '/api/v2', '/apix', '/b', '/.well-known/acme', '/api/v2/deep');
const hostMatchArb: fc.Arbitrary<HostMatch> = fc.oneof(
  fc.constant<HostMatch>({ kind: 'any' }),
  fc.uniqueArray(hostArb, { minLength: 1, maxLength: 2 }).map((hosts): HostMatch => ({ kind: 'exact', hosts })),
  fc.constantFrom('.a.com', '.x.a.com').map((suffix): HostMatch => ({ kind: 'wildcard', suffix })),
  fc.constant<HostMatch>({ kind: 'algo', algo: 'hdr_beg(host)', patterns: ['x.'] }),
);
const pathMatchArb: fc.Arbitrary<PathMatch> = fc.oneof(
  { weight: 4, arbitrary: fc.uniqueArray(pathArb, { minLength: 1, maxLength: 2 }).map((paths): PathMatch => ({ kind: 'prefix', paths })) },
  { weight: 1, arbitrary: fc.uniqueArray(pathArb, { minLength: 1, maxLength: 2 }).map((paths): PathMatch => ({ kind: 'exact', paths })) },
  { weight: 1, arbitrary: fc.constantFrom('2', 'x').map((s): PathMatch => ({ kind: 'other', fetch: 'path_end', patterns: [s] })) },
);
const condArb: fc.Arbitrary<string[]> = fc.oneof({ weight: 3, arbitrary: fc.constant<string[]>([]) }, { weight: 1, arbitrary: fc.constantFrom('{ c1 }', '{ c2 }').map((c) => [c]) });

const routesArb = fc.array(
  fc.record({ host: hostMatchArb, path: pathMatchArb, conditions: condArb, acl: fc.constantFrom('a', 'b', 'c', 'd') }),
  { minLength: 1, maxLength: 12 },
).map((rs) =>
  rs.map((r, i): RouteInput => ({
    owner: `svc${i}`,
    aclName: `${r.acl}${i}`,
    destIndex: 0,
    part: 0,
    backend: `be${i}`,
    host: r.host,
    path: r.path,
    conditions: r.conditions,
  })),
);

const reqArb = fc.record({
  host: hostArb,
  path: fc.oneof(pathArb, pathArb.map((p) => `${p}/more`), fc.constant('/other')),
  conditions: fc.subarray(['{ c1 }', '{ c2 }']).map((c) => new Set(c)),
});

for (const order of ['specific', 'acl'] as const) {
  test(`${order} order: the planned maps and rules pick the same backend as the ordered list`, (t) => {
    let compared = 0;
    let routed = 0;
    fc.assert(
      fc.property(routesArb, fc.array(reqArb, { minLength: 1, maxLength: 25 }), (routes, reqs) => {
        const ordered = orderRoutes(routes, order);
        const plan = planRoutes(routes, order);
        for (const req of reqs) {
          const want = naive(ordered, req);
          const got = simulate(plan, req);
          compared++;
          if (want !== undefined) routed++;
          if (want !== got) {
            throw new Error(`${req.host}${req.path} [${[...req.conditions]}]: ordered list says ${want}, plan says ${got}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
    // The comparison ran on many requests, and enough of them reached a route for it to mean something.
    t.true(compared >= 3000, `${compared} requests compared`);
    t.true(routed > compared / 10, `${routed} of ${compared} requests matched a route`);
  });
}

const route = (over: Partial<RouteInput> & { backend: string }): RouteInput => ({
  owner: over.backend,
  aclName: over.backend,
  destIndex: 0,
  part: 0,
  host: { kind: 'any' },
  path: { kind: 'prefix', paths: ['/'] },
  conditions: [],
  ...over,
});

test('specific order: longer path before its prefix, whatever the aclName', (t) => {
  const ordered = orderRoutes([
    route({ backend: 'api', path: { kind: 'prefix', paths: ['/api'] } }),
    route({ backend: 'api-v2', path: { kind: 'prefix', paths: ['/api/v2'] } }),
  ], 'specific');
  t.deepEqual(ordered.map((r) => r.backend), ['api-v2', 'api']);
});

test('acl order: aclName decides, as in docker-flow-proxy', (t) => {
  const ordered = orderRoutes([
    route({ backend: 'api-v2', path: { kind: 'prefix', paths: ['/api/v2'] } }),
    route({ backend: 'api', path: { kind: 'prefix', paths: ['/api'] } }),
  ], 'acl');
  t.deepEqual(ordered.map((r) => r.backend), ['api', 'api-v2']);
});

test('.well-known first and root last in both orders', (t) => {
  for (const order of ['specific', 'acl'] as const) {
    const ordered = orderRoutes([
      route({ backend: 'root', aclName: 'a' }),
      route({ backend: 'z', aclName: 'z', path: { kind: 'prefix', paths: ['/z'] } }),
      route({ backend: 'acme', aclName: 'zz', path: { kind: 'prefix', paths: ['/.well-known/acme-challenge'] } }),
    ], order);
    t.deepEqual(ordered.map((r) => r.backend), ['acme', 'z', 'root'], order);
  }
});

test('exact domain before wildcard, wildcard before any host', (t) => {
  const ordered = orderRoutes([
    route({ backend: 'any', aclName: 'a', path: { kind: 'prefix', paths: ['/x'] } }),
    route({ backend: 'wild', aclName: 'b', host: { kind: 'wildcard', suffix: '.a.com' }, path: { kind: 'prefix', paths: ['/x'] } }),
    route({ backend: 'exact', aclName: 'c', host: { kind: 'exact', hosts: ['x.a.com'] }, path: { kind: 'prefix', paths: ['/x'] } }),
  ], 'specific');
  t.deepEqual(ordered.map((r) => r.backend), ['exact', 'wild', 'any']);
});

test('the same path in two services: the lower aclName wins', (t) => {
  const plan = planRoutes([
    route({ backend: 'second', aclName: 'b', path: { kind: 'prefix', paths: ['/p'] } }),
    route({ backend: 'first', aclName: 'a', path: { kind: 'prefix', paths: ['/p'] } }),
  ], 'specific');
  t.deepEqual(plan.maps.pathPrefix, [{ key: '/p', backend: 'first', owner: 'first' }]);
});

test('plain routes go to maps, conditional ones to rules', (t) => {
  const plan = planRoutes([
    route({ backend: 'plain', path: { kind: 'prefix', paths: ['/a', '/b'] }, host: { kind: 'exact', hosts: ['h.com'] } }),
    route({ backend: 'ua', path: { kind: 'prefix', paths: ['/c'] }, conditions: ["{ req.hdr(User-Agent) -m sub -i 'mobile' }"] }),
  ], 'specific');
  t.deepEqual(plan.maps.hostPathPrefix.map((e) => e.key), ['h.com/a', 'h.com/b']);
  const rules = plan.steps.filter((s) => s.kind === 'rule');
  t.is(rules.length, 1);
});
