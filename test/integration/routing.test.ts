import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy } from '../support/http.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { proxyDataPlaneProblems } from '../support/dataPlaneCheck.js';
import { freePort } from '../support/ports.js';

// One flow-proxy and a set of real backends for the whole file; tests run one
// after another and use their own paths or host names so they do not overlap.
let proxy: FlowProxy;
const backends: Record<string, Backend> = {};

test.before(async () => {
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) backends[name] = await startBackend(name);
  proxy = await startFlowProxy();
});

// Every test leaves HAProxy running exactly what the live config says (tests here are serial, on one proxy).
test.afterEach(async (t) => {
  t.deepEqual(await proxyDataPlaneProblems(proxy), []);
});

test.after.always(async () => {
  await proxy?.cleanup();
  await Promise.all(Object.values(backends).map((b) => b.close()));
});

/** reconfigure a service that forwards to test backend `to`. */
async function add(serviceName: string, to: string, params: Record<string, string>) {
  return proxy.api('reconfigure', { serviceName, port: String(backends[to]?.port), outboundHostname: '127.0.0.1', ...params });
}

async function who(path: string, host = 'any.test', headers: Record<string, string> = {}) {
  const res = await proxy.get(path, { host, headers });
  return res.status === 200 ? answeredBy(res) : res.status;
}

test.serial('a path routes to its service and the change is live when reconfigure answers 200', async (t) => {
  const res = await add('svc-path', 'a', { servicePath: '/path-a' });
  t.is(res.status, 200, res.body);
  t.is(res.json.Status, 'OK');
  t.is(res.json.ServiceName, 'svc-path');
  t.is(await who('/path-a/x?q=1'), 'a');
  t.is(backends.a?.seen.at(-1)?.url, '/path-a/x?q=1');
});

test.serial('several paths of one service', async (t) => {
  t.is((await add('svc-multi', 'b', { servicePath: '/multi1,/multi2' })).status, 200);
  t.is(await who('/multi1/x'), 'b');
  t.is(await who('/multi2'), 'b');
  t.is(await who('/multi3'), 503);
});

test.serial('servicePathExclude keeps a sub-path out', async (t) => {
  t.is((await add('svc-ex', 'c', { servicePath: '/ex', servicePathExclude: '/ex/private,/ex/secret' })).status, 200);
  t.is(await who('/ex/public'), 'c');
  t.is(await who('/ex/private/data'), 503);
  t.is(await who('/ex/secret'), 503);
});

test.serial('serviceDomain matches the host, port and case ignored', async (t) => {
  t.is((await add('svc-dom', 'd', { servicePath: '/dom', serviceDomain: 'dom.example.test' })).status, 200);
  t.is(await who('/dom', 'dom.example.test'), 'd');
  t.is(await who('/dom', 'DOM.Example.test:8080'), 'd');
  t.is(await who('/dom', 'other.test'), 503);
  t.is(await who('/dom', 'dom.example.test.evil.test'), 503);
});

test.serial('a wildcard domain matches sub-domains only', async (t) => {
  t.is((await add('svc-wild', 'e', { serviceDomain: '*.wild.test' })).status, 200);
  t.is(await who('/anything', 'x.wild.test'), 'e');
  t.is(await who('/anything', 'a.b.wild.test'), 'e');
  t.is(await who('/anything', 'wild.test'), 503);
});

test.serial('a domain-only service takes every path of its host', async (t) => {
  t.is((await add('svc-domonly', 'f', { serviceDomain: 'only.test' })).status, 200);
  t.is(await who('/', 'only.test'), 'f');
  t.is(await who('/deep/path?x=1', 'only.test'), 'f');
  t.is(await who('/', 'notonly.test'), 503);
});

test.serial('the more specific path wins whatever the aclName', async (t) => {
  t.is((await add('api', 'a', { servicePath: '/api' })).status, 200);
  t.is((await add('api-v2', 'b', { servicePath: '/api/v2' })).status, 200);
  t.is(await who('/api/v2/users'), 'b');
  t.is(await who('/api/v1/users'), 'a');
  t.is(await who('/api'), 'a');
});

test.serial('.well-known comes before a root service of the same host; root comes last', async (t) => {
  t.is((await add('site', 'a', { serviceDomain: 'site.test' })).status, 200);
  t.is((await add('acme', 'b', { servicePath: '/.well-known/acme-challenge' })).status, 200);
  t.is((await add('site-api', 'c', { servicePath: '/site-api' })).status, 200);
  t.is(await who('/.well-known/acme-challenge/token', 'site.test'), 'b');
  t.is(await who('/site-api/x', 'site.test'), 'c', 'a path route beats a root route of the host');
  t.is(await who('/page', 'site.test'), 'a');
});

test.serial('an exact domain beats a wildcard that also matches', async (t) => {
  t.is((await add('wild-all', 'a', { serviceDomain: '*.shop.test' })).status, 200);
  t.is((await add('wild-one', 'b', { serviceDomain: 'admin.shop.test' })).status, 200);
  t.is(await who('/', 'admin.shop.test'), 'b');
  t.is(await who('/', 'www.shop.test'), 'a');
});

test.serial('with the same path in two services, aclName decides', async (t) => {
  t.is((await add('same-z', 'c', { servicePath: '/same', aclName: 'zz-same' })).status, 200);
  t.is((await add('same-a', 'd', { servicePath: '/same', aclName: 'aa-same' })).status, 200);
  t.is(await who('/same'), 'd');
});

test.serial('remove takes the route away; removing an unknown service is a no-op', async (t) => {
  t.is((await add('gone', 'a', { servicePath: '/gone' })).status, 200);
  t.is(await who('/gone'), 'a');
  const res = await proxy.api('remove', { serviceName: 'gone' });
  t.is(res.status, 200);
  t.is(res.json.Status, 'OK');
  t.is(await who('/gone'), 503);
  t.is((await proxy.api('remove', { serviceName: 'never-was' })).status, 200);
  t.is((await proxy.api('remove', {})).status, 400);
});

test.serial('replicas=0 removes the service', async (t) => {
  t.is((await add('scaled', 'b', { servicePath: '/scaled', replicas: '2' })).status, 200);
  t.is(await who('/scaled'), 'b');
  t.is((await add('scaled', 'b', { servicePath: '/scaled', replicas: '0' })).status, 200);
  t.is(await who('/scaled'), 503);
});

test.serial('unmatched requests get our 503 page; so does a service whose servers are all down', async (t) => {
  const res = await proxy.get('/no/such/route', { host: 'nobody.test' });
  t.is(res.status, 503);
  t.regex(res.body, /flow-proxy: 503 Service Unavailable/);
  // The page comes from the errors section every backend refers to, a service's own backend too.
  const closed = await freePort();
  t.is((await proxy.api('reconfigure', { serviceName: 'nobody-home', servicePath: '/nobody-home', port: String(closed), outboundHostname: '127.0.0.1' })).status, 200);
  const down = await proxy.get('/nobody-home/x');
  t.is(down.status, 503);
  t.regex(down.body, /flow-proxy: 503 Service Unavailable/);
  t.is((await proxy.api('remove', { serviceName: 'nobody-home' })).status, 200);
});

test.serial('a config HAProxy refuses is rejected with its message; the old config keeps serving', async (t) => {
  t.is((await add('keeps', 'c', { servicePath: '/keeps' })).status, 200);
  const before = (await proxy.api('config')).body;
  const res = await add('breaks', 'd', { servicePath: '/breaks', backendExtra: 'timeout bogus 5s' });
  t.is(res.status, 400);
  t.regex(String(res.json.Message), /breaks/);
  t.regex(String(res.json.Message), /timeout/);
  t.is(await who('/keeps'), 'c');
  t.is(await who('/breaks'), 503);
  t.is((await proxy.api('config')).body, before);
  const json = (await proxy.api('config', { type: 'json' })).json;
  t.false('breaks' in json);
  t.true('keeps' in json);
});

test.serial('injection attempts are refused with a 400 naming the parameter, and change nothing', async (t) => {
  const before = (await proxy.api('config')).body;
  const attempts: Array<[Record<string, string>, RegExp]> = [
    [{ servicePath: '/x\nbackend evil' }, /servicePath/],
    [{ servicePath: '/x\r\n' }, /servicePath/],
    [{ servicePath: '/x', serviceDomain: 'a.test\nfrontend x' }, /serviceDomain/],
    [{ servicePath: '/x', backendExtra: 'http-request deny\nbackend evil' }, /backendExtra/],
    [{ servicePath: '/x', backendExtra: 'lua-load /tmp/x.lua' }, /backendExtra/],
    [{ servicePath: '/x', addReqHeader: 'X-A %[env(STATS_PASS)]' }, /addReqHeader/],
    [{ servicePath: "/x' /y" }, /servicePath/],
    [{ servicePath: '/x#comment' }, /servicePath/],
    [{ servicePath: '/x', users: "bob:pa'ss" }, /users/],
    [{ servicePath: '/x', aclName: 'a b' }, /aclName/],
    [{ servicePath: '/x', pathType: 'path_beg -f /etc/passwd' }, /pathType/],
    [{ servicePath: '/x', port: '80\n' }, /port/],
  ];
  for (const [params, param] of attempts) {
    const res = await add('inject', 'a', params);
    t.is(res.status, 400, `${JSON.stringify(params)} → ${res.body}`);
    t.regex(String(res.json.Message), param, JSON.stringify(params));
  }
  t.is((await proxy.api('config')).body, before);
});

test.serial('status codes: 400 without serviceName or port, 409 without path or domain, 400 tcp without srcPort', async (t) => {
  t.is((await proxy.api('reconfigure', { servicePath: '/x', port: '80' })).status, 400);
  const noPort = await proxy.api('reconfigure', { serviceName: 'np', servicePath: '/x' });
  t.is(noPort.status, 400);
  t.regex(String(noPort.json.Message), /port/);
  t.is((await proxy.api('reconfigure', { serviceName: 'nopath', port: '80' })).status, 409);
  const tcp = await proxy.api('reconfigure', { serviceName: 'tcp1', reqMode: 'tcp', port: '80' });
  t.is(tcp.status, 400);
  t.regex(String(tcp.json.Message), /srcPort/);
});

test.serial('indexed destinations route each path to its own port, plain values act as defaults', async (t) => {
  const res = await proxy.api('reconfigure', {
    serviceName: 'indexed',
    outboundHostname: '127.0.0.1',
    'servicePath.1': '/idx-one',
    'port.1': String(backends.a?.port),
    'servicePath.2': '/idx-two',
    'port.2': String(backends.b?.port),
    'servicePath.4': '/idx-gap',
    'port.4': String(backends.c?.port),
  });
  t.is(res.status, 200, res.body);
  t.is(await who('/idx-one'), 'a');
  t.is(await who('/idx-two'), 'b');
  t.is(await who('/idx-gap'), 503, 'docker-flow-proxy stops at the first missing index');
});

test.serial('isDefaultBackend takes the requests nothing else matches', async (t) => {
  t.is((await add('fallback', 'e', { servicePath: '/fallback', isDefaultBackend: 'true' })).status, 200);
  t.is(await who('/nothing/else', 'nobody.test'), 'e');
  t.is(await who('/api/v2'), 'b', 'routes still win over the default');
});
