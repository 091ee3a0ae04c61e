import test from 'ava';
import fc from 'fast-check';
import { startBackend, type Backend } from '../support/backend.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { answeredBy, send, type Response } from '../support/http.js';
import { freePort } from '../support/ports.js';

// Explain must agree with HAProxy: many random services, many random requests sent through a real
// HAProxy, and for each one the service explain names is the one whose backend answered.

const NAMES = Array.from({ length: 8 }, (_, i) => `s${i}`);
const backends = new Map<string, Backend>();
const proxies: FlowProxy[] = [];

test.before(async () => {
  for (const name of NAMES) backends.set(name, await startBackend(name));
});

test.after.always(async () => {
  for (const p of proxies) await p.cleanup();
  for (const b of backends.values()) await b.close();
});

interface ServiceCase {
  paths: string[];
  pathType: string;
  domains: string[];
  header: string;
  userAgent: string;
  exclude: string;
  isDefault: boolean;
  /** Only traffic that arrived on the second HTTP port (BIND_PORTS). */
  second: boolean;
  /** serviceDomainAlgo=hdr_beg(host): the host match becomes a rule. */
  algo: boolean;
  acl: number;
}

const serviceArb: fc.Arbitrary<ServiceCase> = fc.record({
  paths: fc.uniqueArray(fc.constantFrom('/', '/a', '/a/b', '/ab', '/b', '/.well-known/t', '/A', '/a/b/c'), { minLength: 1, maxLength: 2 }),
  pathType: fc.constantFrom('', '', '', 'path', 'path_end', 'path_reg', 'path_beg -i'),
  domains: fc.uniqueArray(fc.constantFrom('a.com', 'b.com', '*.a.com', 'x.a.com'), { maxLength: 2 }),
  header: fc.constantFrom('', '', 'X-V:1', 'X-V:2'),
  userAgent: fc.constantFrom('', '', '', 'bot'),
  exclude: fc.constantFrom('', '', '', '/a/b'),
  isDefault: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  second: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  algo: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  acl: fc.integer({ min: 0, max: 99 }),
});

interface RequestCase {
  path: string;
  host: string | undefined;
  version: string | undefined;
  agent: string | undefined;
  method: string;
  second: boolean;
}

const requestArb: fc.Arbitrary<RequestCase> = fc.record({
  path: fc.constantFrom('/', '/a', '/a/b', '/a/b/c', '/ab', '/b', '/b/x', '/.well-known/t', '/A', '/a/B', '/c', '/a?q=1', '/xb'),
  host: fc.constantFrom(undefined, 'a.com', 'A.COM:80', 'x.a.com', 'X.a.Com:8080', 'y.a.com', 'b.com', 'c.com', 'a.com.evil.net'),
  version: fc.constantFrom(undefined, '1', '2'),
  agent: fc.constantFrom(undefined, 'GoodBot/1.0', 'curl/8'),
  method: fc.constantFrom('GET', 'POST'),
  second: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
});


/** `second`: the proxy's second HTTP port, which srcPort services listen to. */
function query(name: string, c: ServiceCase, index: number, second: number): Record<string, string> {
  const backend = backends.get(name) as Backend;
  return {
    serviceName: name,
    // Unique, and unrelated to the name, so that aclName ties are broken in a random order.
    aclName: `acl${String(c.acl).padStart(2, '0')}-${index}`,
    port: String(backend.port),
    outboundHostname: '127.0.0.1',
    servicePath: c.paths.join(','),
    ...(c.pathType !== '' && { pathType: c.pathType }),
    ...(c.domains.length > 0 && { serviceDomain: c.domains.join(',') }),
    ...(c.header !== '' && { serviceHeader: c.header }),
    ...(c.userAgent !== '' && { userAgent: c.userAgent }),
    ...(c.exclude !== '' && { servicePathExclude: c.exclude }),
    ...(c.isDefault && { isDefaultBackend: 'true' }),
    ...(c.second && { srcPort: String(second) }),
    ...(c.algo && c.domains.length > 0 && { serviceDomainAlgo: 'hdr_beg(host)' }),
  };
}

/** The request through HAProxy; without a host, no Host header at all. */
function sendThrough(p: FlowProxy, r: RequestCase, second: number): Promise<Response> {
  const headers: Record<string, string> = {};
  if (r.host !== undefined) headers.Host = r.host;
  if (r.version !== undefined) headers['X-V'] = r.version;
  if (r.agent !== undefined) headers['User-Agent'] = r.agent;
  return send({ host: '127.0.0.1', port: r.second ? second : p.httpPort, path: r.path, method: r.method, headers, setHost: false, agent: false, timeout: 10_000 });
}

async function explainOf(p: FlowProxy, r: RequestCase, second: number): Promise<Record<string, unknown>> {
  const q = new URLSearchParams({ path: r.path, method: r.method });
  if (r.second) q.set('port', String(second));
  if (r.host !== undefined) q.set('host', r.host);
  if (r.version !== undefined) q.append('header', `X-V:${r.version}`);
  if (r.agent !== undefined) q.append('header', `User-Agent:${r.agent}`);
  const res = await p.api('explain', q.toString());
  if (res.status !== 200) throw new Error(`explain answered ${res.status}: ${res.body}`);
  return res.json;
}

for (const order of ['specific', 'acl'] as const) {
  test(`property (ROUTE_ORDER=${order}): explain names the service that answers through HAProxy`, async (t) => {
    const second = await freePort();
    const p = await startFlowProxy({ env: { ROUTE_ORDER: order, DISCOVERY: 'none', BIND_PORTS: String(second) } });
    proxies.push(p);
    let compared = 0;
    const answered = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(serviceArb, { minLength: 1, maxLength: NAMES.length }), fc.array(requestArb, { minLength: 20, maxLength: 30 }), async (services, requests) => {
        for (const name of NAMES) await p.api('remove', { serviceName: name });
        for (const [i, c] of services.entries()) {
          const res = await p.api('reconfigure', query(NAMES[i] as string, c, i, second));
          if (res.status !== 200) throw new Error(`reconfigure ${JSON.stringify(query(NAMES[i] as string, c, i, second))}: ${res.body}`);
        }
        for (const r of requests) {
          const [e, res] = await Promise.all([explainOf(p, r, second), sendThrough(p, r, second)]);
          const actual = answeredBy(res) ?? null;
          const context = JSON.stringify({ services: services.map((c, i) => query(NAMES[i] as string, c, i, second)), request: r, status: res.status, explain: e });
          t.is(e.Service, actual, context);
          if (actual === null) t.is(res.status, 503, context);
          if (actual !== null) answered.add(actual);
          compared++;
        }
      }),
      { seed: order === 'specific' ? 19 : 1919, numRuns: 8, endOnFailure: true },
    );
    t.true(compared >= 160, `${compared} requests compared`);
    t.true(answered.size >= 4, `several services answered (${[...answered].join(', ')}), not only 503s`);
  });
}

test('bad explain input is a 400 naming the parameter and the value; explain is open like every read endpoint', async (t) => {
  const p = await startFlowProxy({ env: { DISCOVERY: 'none', API_TOKEN: 'explain-token-0123456789' } });
  proxies.push(p);
  const cases: Array<[string, RegExp]> = [
    ['path=api', /^Parameter path "api" must be a request path beginning with "\/"/],
    ['path=/a%20b', /^Parameter path "\/a b" must be a request path/],
    ['host=a%20b.com', /^Parameter host "a b.com" must be a host name/],
    ['host=', /^Parameter host "" must be a host name/],
    ['method=G%20T', /^Parameter method "G T" must be an HTTP method/],
    ['port=0', /^Parameter port "0" must be a port number from 1 to 65535/],
    ['port=http', /^Parameter port "http" must be a port number/],
    ['header=novalue', /^Parameter header "novalue" must be Name:value/],
    ['header=X%20Y:1', /^Parameter header "X Y:1" must be Name:value/],
    ['path=/a&path=/b', /^Parameter path "\/b" is given more than once \(also "\/a"\)/],
    ['hots=a.com', /^Parameter hots is not known: explain takes path, host, method, port and header/],
  ];
  for (const [query, message] of cases) {
    const res = await p.api('explain', query);
    t.is(res.status, 400, query);
    t.regex(String(res.json.Message), message, query);
  }
  const ok = await p.api('explain', 'path=/&header=X-A:1&header=X-B:2');
  t.is(ok.status, 200);
  t.deepEqual([ok.json.Service, ok.json.Backend], [null, '_fp_no_route']);
  t.is((await p.api('explain', 'path=/', { method: 'POST' })).status, 405, 'GET only');
});
