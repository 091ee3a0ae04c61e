import test from 'ava';
import fc from 'fast-check';
import { explain, type ExplainRequest } from '../../src/render/explain.js';
import type { RouteOrder } from '../../src/render/routes.js';
import { baseSettings, render, svc } from '../support/render.js';

const model = (queries: string[], order: RouteOrder = 'specific') => render(queries.map((q) => svc(q)), baseSettings({ routeOrder: order })).model;
const ask = (queries: string[], r: Partial<ExplainRequest>, order: RouteOrder = 'specific') =>
  explain(model(queries, order), { path: '/', method: 'GET', headers: [], ...r }, order);
const s = (name: string, extra: string) => `serviceName=${name}&port=3000&${extra}`;

test('the host is matched as HAProxy matches it: lower-cased, port stripped; no Host header matches no domain', (t) => {
  const services = [s('dom', 'serviceDomain=a.com'), s('any', 'servicePath=/')];
  const mixed = ask(services, { host: 'A.Com:8080', path: '/x' });
  t.is(mixed.Service, 'dom');
  t.is(mixed.Request.Host, 'a.com');
  t.is(mixed.Request.Port, 80, 'the first HTTP bind when no port is given');
  const none = ask(services, { path: '/x' });
  t.is(none.Service, 'any');
  t.is(none.Request.Host, null);
  const missed = none.Candidates.find((c) => c.Service === 'dom');
  t.false(missed?.Matched);
  t.regex(missed?.Why ?? '', /no host/);
  t.is(ask(services, { host: 'a.com.evil.net' }).Service, 'any', 'an exact domain does not match a longer host');
});

test('the longer prefix wins, and the shorter one is listed as matched but lost, with why', (t) => {
  const e = ask([s('api', 'servicePath=/api'), s('v2', 'servicePath=/api/v2')], { path: '/api/v2/users' });
  t.is(e.Service, 'v2');
  t.regex(e.Reason, /path prefix \/api\/v2/);
  const lost = e.Candidates.find((c) => c.Service === 'api');
  t.true(lost?.Matched);
  t.regex(lost?.Why ?? '', /longer path .* comes before the shorter/);
});

test('two services with the same route: aclName decides (the loser never reaches the maps, and is still listed)', (t) => {
  const e = ask([s('zeta', 'servicePath=/same&aclName=b'), s('alpha', 'servicePath=/same&aclName=a')], { path: '/same' });
  t.is(e.Service, 'alpha');
  const lost = e.Candidates.find((c) => c.Service === 'zeta');
  t.true(lost?.Matched);
  t.regex(lost?.Why ?? '', /aclName "a" sorts before "b"/);
});

test('ROUTE_ORDER=acl: aclName beats specificity, and the reason says so', (t) => {
  const services = [s('api', 'servicePath=/api&aclName=a'), s('v2', 'servicePath=/api/v2&aclName=b')];
  const e = ask(services, { path: '/api/v2' }, 'acl');
  t.is(e.Service, 'api');
  t.regex(e.Candidates.find((c) => c.Service === 'v2')?.Why ?? '', /aclName "a" sorts before "b" \(ROUTE_ORDER=acl\)/);
  t.is(ask(services, { path: '/api/v2' }).Service, 'v2');
});

test('an exact host beats a wildcard, which beats any host', (t) => {
  const services = [s('exact', 'serviceDomain=x.a.com'), s('wild', 'serviceDomain=*.a.com'), s('any', 'servicePath=/')];
  t.is(ask(services, { host: 'x.a.com' }).Service, 'exact');
  const w = ask(services, { host: 'y.a.com' });
  t.is(w.Service, 'wild');
  t.regex(w.Candidates.find((c) => c.Service === 'any')?.Why ?? '', /a wildcard host comes before any host/);
});

test('header, user agent and port conditions: the request decides', (t) => {
  const services = [s('v2', 'servicePath=/api&serviceHeader=X-Version:2'), s('bots', 'servicePath=/api&userAgent=bot'), s('api', 'servicePath=/api'), s('tls', 'servicePath=/t&srcPort=8443')];
  t.is(ask(services, { path: '/api', headers: [['X-Version', '2']] }).Service, 'v2');
  t.is(ask(services, { path: '/api', headers: [['User-Agent', 'GoodBot/1']] }).Service, 'bots');
  const plain = ask(services, { path: '/api', headers: [['x-version', '3']] });
  t.is(plain.Service, 'api');
  t.regex(plain.Candidates.find((c) => c.Service === 'v2')?.Why ?? '', /header X-Version "3" is not "2"/);
  t.is(ask(services, { path: '/t', port: 443 }).Service, null);
  const notHere = ask([...services], { path: '/t', port: 8443 });
  t.is(notHere.Service, null, 'port 8443 is not an HTTP bind here');
  t.regex(notHere.Reason, /nothing listens on port 8443/);
});

test('no route: the default backend, else none (503); redirects and backend rules are reported', (t) => {
  t.deepEqual([ask([s('a', 'servicePath=/a')], { path: '/b' })].map((e) => [e.Service, e.Backend]), [[null, '_fp_no_route']]);
  const d = ask([s('a', 'servicePath=/a'), s('fallback', 'servicePath=/f&isDefaultBackend=true')], { path: '/b' });
  t.is(d.Service, 'fallback');
  t.regex(d.Reason, /default backend/);
  const r = ask([s('shop', 'serviceDomain=shop.com&redirectFromDomain=old.com')], { host: 'OLD.com', path: '/x' });
  t.is(r.Service, null);
  t.regex(r.Reason, /redirected before routing by service "shop"/);
  const m = ask([s('ro', 'servicePath=/ro&allowedMethods=GET')], { path: '/ro', method: 'DELETE' });
  t.is(m.Service, 'ro');
  t.true(m.Notes.some((n) => /403: method DELETE is not in allowedMethods/.test(n)));
});

test('TCP and SNI services are explained by port and server name', (t) => {
  const services = [s('db', 'reqMode=tcp&srcPort=5432'), s('tls', 'reqMode=sni&servicePath=a.com&srcPort=8443&pathType=req_ssl_sni -i')];
  const db = ask(services, { port: 5432 });
  t.is(db.Service, 'db');
  t.is(ask(services, { port: 8443, host: 'A.COM' }).Service, 'tls');
  const other = ask(services, { port: 8443, host: 'b.com' });
  t.is(other.Service, null);
  t.is(other.Candidates[0]?.Service, 'tls');
});

// The routing steps HAProxy runs (maps and rules as placed) and the ordered route list they were
// planned from must name the same winner: explain takes the first, and explains with the second.
const pathArb = fc.constantFrom('/', '/a', '/a/b', '/ab', '/.well-known/x', '/b');
const serviceArb = fc.record({
  paths: fc.uniqueArray(pathArb, { minLength: 1, maxLength: 2 }),
  domain: fc.constantFrom('', 'a.com', '*.a.com', 'x.a.com'),
  exact: fc.boolean(),
  header: fc.constantFrom('', 'X-V:1'),
});
const requestArb = fc.record({
  path: fc.constantFrom('/', '/a', '/a/b', '/a/b/c', '/ab', '/.well-known/x', '/b', '/c'),
  host: fc.constantFrom(undefined, 'a.com', 'X.A.com:80', 'y.a.com', 'b.com'),
  header: fc.boolean(),
});

for (const order of ['specific', 'acl'] as const) {
  test(`property (${order}): explain's winner is the first matching route of the ordered list; matched losers come after it`, (t) => {
    fc.assert(
      fc.property(fc.array(serviceArb, { minLength: 1, maxLength: 6 }), fc.array(requestArb, { minLength: 1, maxLength: 10 }), (services, requests) => {
        const queries = services.map((x, i) => s(`s${i}`, [`servicePath=${x.paths.join(',')}`, x.domain ? `serviceDomain=${x.domain}` : '', x.exact ? 'pathType=path' : '', x.header ? `serviceHeader=${x.header}` : '', `aclName=acl${(i * 7) % 10}${i}`].filter(Boolean).join('&')));
        const m = model(queries, order);
        for (const r of requests) {
          const e = explain(m, { path: r.path, ...(r.host !== undefined && { host: r.host }), method: 'GET', headers: r.header ? [['X-V', '1']] : [] }, order);
          t.false(e.Notes.some((n) => /disagree|puts route/.test(n)), JSON.stringify({ queries, r, e }));
          const winner = /^route #(\d+)/.exec(e.Reason)?.[1];
          for (const c of e.Candidates.filter((x) => x.Matched)) {
            t.true(winner !== undefined && Number(/^#(\d+)/.exec(c.Route)?.[1]) > Number(winner), JSON.stringify({ r, e }));
            t.notRegex(c.Why, /is not reached|listed first in the same destination$/, 'a real reason');
          }
        }
      }),
      { seed: 1919, numRuns: 150 },
    );
  });
}
