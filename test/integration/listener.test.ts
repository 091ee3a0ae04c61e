import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { FileStore } from '../../src/adapters/store/fileStore.js';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy } from '../support/http.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';
import { startListener, type FakeListener } from '../support/swarmListener.js';
import { startDns } from '../support/dns.js';
import http from 'node:http';
import { tempDir } from '../support/tmp.js';

let a: Backend;
let b: Backend;
const proxies: FlowProxy[] = [];
const listeners: FakeListener[] = [];

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
});

test.after.always(async () => {
  for (const p of proxies) await p.cleanup();
  for (const l of listeners) await l.close();
  await a?.close();
  await b?.close();
});

async function start(env: Record<string, string>, options: Parameters<typeof startFlowProxy>[0] = {}) {
  const p = await startFlowProxy({ ...options, env: { RELOAD_INTERVAL: '500', ...env } });
  proxies.push(p);
  return p;
}

async function listener(services: Array<Record<string, string>>, port?: number) {
  const l = await startListener(services, port);
  listeners.push(l);
  return l;
}

/** A service as the real listener lists it (the same keys as a reconfigure query, plus what it adds). */
const listed = (name: string, to: Backend, extra: Record<string, string> = {}) => ({
  serviceName: name, servicePath: `/${name}`, port: String(to.port), outboundHostname: '127.0.0.1', distribute: 'true', replicas: '2', ...extra,
});

interface Apply {
  Kind: string;
  ChangeIds: string[];
}

test('with LISTENER_ADDRESS and an empty DATA_DIR, every service the listener lists is live in one apply before the proxy is ready', async (t) => {
  const l = await listener([listed('one', a), listed('two', b), listed('three', a, { 'servicePath.1': '/three', 'port.1': String(b.port) })]);
  const p = await start({ LISTENER_ADDRESS: l.address });
  await eventually(() => p.api('successfulinitreload'), (r) => r.status === 200);
  // Ready means live: no wait between readiness and traffic.
  t.is(answeredBy(await p.get('/one/x')), 'a');
  t.is(answeredBy(await p.get('/two/x')), 'b');
  t.is(answeredBy(await p.get('/three/x')), 'b');
  const applies = ((await p.api('services')).json.Applies as Apply[]).filter((x) => x.ChangeIds.includes('listener-pull'));
  t.is(applies.length, 1, JSON.stringify(applies));
  const status = (await p.api('services')).json.Listener as { FirstPullsLive: boolean; Listeners: Array<{ State: string; Services: number }> };
  t.true(status.FirstPullsLive);
  t.is(status.Listeners[0]?.State, 'live');
  t.is(status.Listeners[0]?.Services, 3);
  t.true(l.getServicesCalls >= 1);
  // Stored too: a restart without the listener still has them.
  const stored = await new FileStore(p.dataDir).load();
  t.deepEqual(stored?.services.map((s) => s.params.serviceName).sort(), ['one', 'three', 'two']);
});

test('readiness stays 503 while the listener is down, retries with backoff, and turns 200 once its services are live', async (t) => {
  const port = await freePort();
  const p = await start({ LISTENER_ADDRESS: `127.0.0.1:${port}` });
  const waiting = await p.api('successfulinitreload');
  t.is(waiting.status, 503);
  t.regex(String(waiting.json.Message), new RegExp(`waiting for the first pull from the listener \\(http://127\\.0\\.0\\.1:${port}`));
  t.is((await p.api('ready')).status, 503);
  await sleep(700);
  const unreachable = (await p.api('services')).json.Listener as { Listeners: Array<{ State: string; Attempts: number; LastError: string }> };
  t.is(unreachable.Listeners[0]?.State, 'unreachable');
  t.true((unreachable.Listeners[0]?.Attempts ?? 0) >= 2, 'retried');
  const l = await listener([listed('late', a)], port);
  const ready = await eventually(() => p.api('successfulinitreload'), (r) => r.status === 200, 10_000);
  t.is(ready.status, 200);
  t.is(answeredBy(await p.get('/late/x')), 'a');
  t.true(l.getServicesCalls >= 1);
});

test('LISTENER_WAIT bounds the wait: after it the proxy is ready with its stored services, says why, and keeps retrying', async (t) => {
  const port = await freePort();
  const dataDir = tempDir('fp-listener-');
  await new FileStore(dataDir).save({ version: 1, services: [{ owner: 'api', params: { serviceName: 'kept', servicePath: '/kept', port: String(a.port), outboundHostname: '127.0.0.1' } }] });
  const p = await start({ LISTENER_ADDRESS: `127.0.0.1:${port}`, LISTENER_WAIT: '1' }, { dataDir });
  t.is(answeredBy(await p.get('/kept/x')), 'a', 'stored services serve while the listener is awaited');
  const ready = await eventually(() => p.api('ready'), (r) => r.status === 200, 5000);
  t.is(ready.status, 200);
  t.regex(String(ready.json.Message), /ready without the listener's services: no answer within LISTENER_WAIT .*still retrying/);
  const status = (await p.api('services')).json.Listener as { WaitedOut: boolean };
  t.true(status.WaitedOut);
  await listener([listed('after', b)], port);
  await eventually(() => p.get('/after/x'), (r) => answeredBy(r) === 'b', 10_000);
  t.is(answeredBy(await p.get('/after/x')), 'b', 'the retry still brings the listener\'s services');
});

test('the listener\'s version of a service wins over the stored one; stored services it does not list stay', async (t) => {
  const dataDir = tempDir('fp-listener-');
  await new FileStore(dataDir).save({
    version: 1,
    services: [
      { owner: 'api', params: { serviceName: 'both', servicePath: '/both', port: String(a.port), outboundHostname: '127.0.0.1' } },
      { owner: 'api', params: { serviceName: 'onlystored', servicePath: '/onlystored', port: String(a.port), outboundHostname: '127.0.0.1' } },
    ],
  });
  const l = await listener([listed('both', b)]);
  const p = await start({ LISTENER_ADDRESS: l.address }, { dataDir });
  await eventually(() => p.api('ready'), (r) => r.status === 200);
  t.is(answeredBy(await p.get('/both/x')), 'b');
  t.is(answeredBy(await p.get('/onlystored/x')), 'a');
});

test('several listeners (a comma list of host:port and http:// forms): all are pulled; reload?fromListener=true asks each to notify', async (t) => {
  const l1 = await listener([listed('from1', a)]);
  const l2 = await listener([listed('from2', b)]);
  const p = await start({ LISTENER_ADDRESS: `${l1.address},http://${l2.address}` });
  await eventually(() => p.api('ready'), (r) => r.status === 200);
  t.is(answeredBy(await p.get('/from1/x')), 'a');
  t.is(answeredBy(await p.get('/from2/x')), 'b');
  const r = await p.api('reload', { fromListener: 'true' });
  t.is(r.status, 200, r.body);
  t.deepEqual((r.json.Listeners as Array<{ Status: string }>).map((x) => x.Status), ['OK', 'OK']);
  t.is(l1.notifyCalls, 1);
  t.is(l2.notifyCalls, 1);
  await l2.close();
  const down = await p.api('reload', { fromListener: 'true', recreate: 'true' });
  t.is(down.status, 500);
  t.regex(String(down.json.Message), new RegExp(`listener http://127\\.0\\.0\\.1:${l2.port} cannot be reached`));
  t.is(l1.notifyCalls, 2, 'the reachable listener was still asked');
});

test('REPEAT_RELOAD pulls again every RELOAD_INTERVAL', async (t) => {
  const l = await listener([listed('first', a)]);
  const p = await start({ LISTENER_ADDRESS: l.address, REPEAT_RELOAD: 'true', RELOAD_INTERVAL: '300' });
  await eventually(() => p.api('ready'), (r) => r.status === 200);
  l.services = [listed('first', a), listed('second', b)];
  const second = await eventually(() => p.get('/second/x'), (r) => answeredBy(r) === 'b', 5000);
  t.is(answeredBy(second), 'b');
  t.true(l.getServicesCalls >= 2);
});

test('without LISTENER_ADDRESS, fromListener=true is a 400 and nothing is reloaded; readiness does not wait for a listener', async (t) => {
  const p = await start({});
  t.is((await p.api('ready')).status, 200);
  const before = ((await p.api('services')).json.Applies as Apply[]).length;
  const r = await p.api('reload', { fromListener: 'true' });
  t.is(r.status, 400);
  t.regex(String(r.json.Message), /fromListener=true needs LISTENER_ADDRESS/);
  t.is(((await p.api('services')).json.Applies as Apply[]).length, before);
});

test('a bad LISTENER_ADDRESS is reported at start', async (t) => {
  const p = await startFlowProxy({ env: { LISTENER_ADDRESS: 'ftp://x:1/' }, wait: false });
  proxies.push(p);
  const code = p.child.exitCode ?? (await new Promise<number | null>((resolve) => p.child.once('exit', resolve)));
  t.not(code, 0);
  t.regex(p.output(), /LISTENER_ADDRESS "ftp:\/\/x:1\/" is not a list of listener addresses/);
});

test('values docker-flow-proxy tolerated route, with Warnings in the answer and in /services; repeated keys take the first value', async (t) => {
  const p = await start({});
  const tolerated = await p.api('reconfigure', 'serviceName=lenient&servicePath=/lenient&port=' + a.port + '&outboundHostname=127.0.0.1&httpsOnly=yes&sessionType=sticky&connectionMode=http-tunnel&distribute=false&distribute=true');
  t.is(tolerated.status, 200, tolerated.body);
  const warnings = tolerated.json.Warnings as string[];
  t.is(warnings.length, 4, JSON.stringify(warnings));
  for (const fragment of ['httpsOnly "yes"', 'sessionType "sticky"', 'connectionMode "http-tunnel"', 'distribute is given more than once']) {
    t.true(warnings.some((w) => w.includes(fragment)), fragment);
  }
  t.is(answeredBy(await p.get('/lenient/x')), 'a', 'routed, and plain HTTP is not redirected (httpsOnly read as false)');
  const services = (await p.api('services')).json.Services as Array<{ ServiceName: string; Warnings?: string[] }>;
  t.deepEqual(services.find((s) => s.ServiceName === 'lenient')?.Warnings, warnings);
  t.regex(p.output(), /reconfigure accepted with warnings/);
  const refused = await p.api('reconfigure', { serviceName: 'lenient', servicePath: '/lenient', port: String(a.port), outboundHostname: '127.0.0.1', timeoutServer: 'abc' });
  t.is(refused.status, 400);
  t.is(answeredBy(await p.get('/lenient/x')), 'a', 'a refused change keeps the last good one live');
});

test('sessionType=sticky-server for a swarm service known by its name pins each client to one task (servers from DNS tasks.<name>)', async (t) => {
  // Three tasks of the service: the same port on 127.0.0.1, .2 and .3, each answering with its own name.
  const port = await freePort();
  const tasks = await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((ip, i) => new Promise<http.Server>((resolve) => {
    const s = http.createServer((_req, res) => res.end(JSON.stringify({ backend: `task${i + 1}` })));
    s.listen(port, ip, () => resolve(s));
  })));
  const dns = await startDns({ 'tasks.stickyweb': ['127.0.0.1', '127.0.0.2', '127.0.0.3'] });
  try {
    const p = await start({ RESOLVERS: `nameserver local 127.0.0.1:${dns.port}` });
    // What the listener sends for a replicated swarm service: no address, only its name (the VIP) and replicas.
    const r = await p.api('reconfigure', { serviceName: 'stickyweb', servicePath: '/sticky', port: String(port), sessionType: 'sticky-server', replicas: '3' });
    t.is(r.status, 200, r.body);
    // Without the cookie, requests spread over the tasks: there really are three servers.
    const spread = await eventually(async () => {
      const who = new Set<string>();
      for (let i = 0; i < 12; i++) who.add(answeredBy(await p.get('/sticky')) ?? 'none');
      return who;
    }, (w) => w.size === 3, 15_000);
    t.deepEqual([...spread].sort(), ['task1', 'task2', 'task3']);
    // With the cookie HAProxy set, every request reaches the same task.
    for (let client = 0; client < 3; client++) {
      const first = await p.get('/sticky');
      const cookie = String(first.headers['set-cookie'] ?? '').split(';')[0] as string;
      t.regex(cookie, /^stickyweb=/);
      const pinned = answeredBy(first);
      for (let i = 0; i < 10; i++) t.is(answeredBy(await p.get('/sticky', { headers: { Cookie: cookie } })), pinned, `client ${client}, request ${i}`);
    }
  } finally {
    await dns.close();
    for (const s of tasks) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});
