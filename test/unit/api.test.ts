import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import test from 'ava';
import { CertStore } from '../../src/adapters/certs/certStore.js';
import { silentLog } from '../../src/core/log.js';
import { Reconciler } from '../../src/core/reconcile/reconciler.js';
import { FlowError } from '../../src/domain/errors.js';
import { createApp } from '../../src/http/app.js';
import { dfpRoutes } from '../../src/http/dfpRoutes.js';
import { FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings, parseCtx } from '../support/render.js';
import { tempDir } from '../support/tmp.js';

// The API through createApp, in process: docker-flow-proxy's statuses and
// bodies, the error funnel and the token, with a fake data plane (HAProxy is
// not the point here; the integration tests send real traffic).

const TOKEN = 'a-token-of-sixteen-chars';

async function api(t: { teardown(fn: () => unknown): void }, options: { apiToken?: string; maxQueryBytes?: number } = {}) {
  const dataPlane = new FakeDataPlane();
  const store = new MemoryStore();
  const engine = new Reconciler({ dataPlane, store, settings: baseSettings(), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog });
  await engine.start([]);
  dataPlane.calls = [];
  const dir = tempDir('api-');
  const certs = new CertStore(path.join(dir, 'certs'), path.join(dir, 'secrets'), []);
  const app = createApp({ log: silentLog, ...options }, dfpRoutes({
    engine,
    parseContext: parseCtx,
    liveConfigText: () => dataPlane.committed?.config ?? '',
    ready: () => engine.isStarted,
    certs,
    crtListFile: path.join(dir, 'crt-list'),
    haproxyStats: async () => '',
  }));
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (pathAndQuery: string, init: RequestInit = {}) => {
    const res = await fetch(base + pathAndQuery, { redirect: 'manual', ...init });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : text, headers: res.headers };
  };
  return { call, engine, dataPlane, store };
}

const web = '/v1/docker-flow-proxy/reconfigure?serviceName=web&servicePath=/web&port=8080&outboundHostname=127.0.0.1';

test('reconfigure answers 200 with docker-flow-proxy\'s body once the change is live; remove takes it out', async (t) => {
  const { call, engine, dataPlane, store } = await api(t);
  const added = await call(web);
  t.is(added.status, 200);
  t.like(added.body, { Status: 'OK', ServiceName: 'web' });
  t.true(engine.registry.entries.has('web'));
  t.true(dataPlane.calls.some((c) => c.startsWith('runtime') || c === 'commit'), 'the data plane was asked');
  t.is(store.saved?.services.length, 1);
  const removed = await call('/v1/docker-flow-proxy/remove?serviceName=web');
  t.is(removed.status, 200);
  t.like(removed.body, { Status: 'OK', ServiceName: 'web' });
  t.false(engine.registry.entries.has('web'));
  t.is(store.saved?.services.length, 0);
});

test('bad input is a 400 naming the parameter and the value, and changes nothing', async (t) => {
  const { call, engine, dataPlane, store } = await api(t);
  const saves = store.saves;
  const bad = await call('/v1/docker-flow-proxy/reconfigure?serviceName=web&servicePath=/web&port=80x80');
  t.is(bad.status, 400);
  t.like(bad.body, { Status: 'NOK' });
  t.regex(String((bad.body as { Message: string }).Message), /port/);
  t.regex(String((bad.body as { Message: string }).Message), /80x80/);
  t.false(engine.registry.entries.has('web'));
  t.deepEqual(dataPlane.calls, []);
  t.is(store.saves, saves);
});

test('a config HAProxy refuses is a 400 naming the service; the live one stays', async (t) => {
  const { call, engine, dataPlane } = await api(t);
  t.is((await call(web)).status, 200);
  const live = dataPlane.committed;
  dataPlane.refuse = (files) => {
    const line = files.config.split('\n').findIndex((l) => /timeout server 9s$/.test(l));
    return line < 0 ? undefined : { ok: false, output: '', alerts: [{ line: line + 1, message: `[haproxy.cfg:${line + 1}] : refused for the test.`, names: [] }] };
  };
  const refused = await call(`${web}&timeoutServer=9`);
  t.is(refused.status, 400);
  t.like(refused.body, { Status: 'NOK', ServiceName: 'web' });
  t.is(dataPlane.committed, live, 'nothing was committed');
  t.regex(String((refused.body as { Message: string }).Message), /refused for the test/);
  t.is(engine.registry.entries.get('web')?.spec.destinations[0]?.timeoutServer, undefined, 'the old version of web stays');
});

test('a state that cannot be saved is 507 when the disk is full, 503 when the store is down', async (t) => {
  const { call, store, engine } = await api(t);
  store.fail = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  const full = await call(web);
  t.is(full.status, 507);
  t.like(full.body, { Status: 'NOK' });
  t.false(engine.registry.entries.has('web'));
  store.fail = new FlowError('STORE_UNAVAILABLE', 'Consul at 127.0.0.1:1 is unreachable');
  const down = await call(web);
  t.is(down.status, 503);
  t.regex(String((down.body as { Message: string }).Message), /nothing was changed/);
  t.false(engine.registry.entries.has('web'));
  store.fail = undefined;
  t.is((await call(web)).status, 200, 'once the store is back the same change goes live');
});

test('with API_TOKEN a change without the token is 401 and changes nothing; with it, 200', async (t) => {
  const { call, engine } = await api(t, { apiToken: TOKEN });
  const refused = await call(web);
  t.is(refused.status, 401);
  t.false(engine.registry.entries.has('web'));
  t.false(JSON.stringify(refused.body).includes(TOKEN), 'the token is never echoed');
  const accepted = await call(web, { headers: { Authorization: `Bearer ${TOKEN}` } });
  t.is(accepted.status, 200);
  t.true(engine.registry.entries.has('web'));
});

test('the error funnel: unknown endpoints are a NOK 404, a trailing slash redirects, an over-long query is 414', async (t) => {
  const { call } = await api(t, { maxQueryBytes: 2048 });
  const missing = await call('/v1/docker-flow-proxy/nothing-here');
  t.is(missing.status, 404);
  t.like(missing.body, { Status: 'NOK' });
  t.regex(String((missing.body as { Message: string }).Message), /nothing-here/);
  const slash = await call('/v1/docker-flow-proxy/config/?type=json');
  t.is(slash.status, 301);
  t.is(slash.headers.get('location'), '/v1/docker-flow-proxy/config?type=json');
  const long = await call(`${web}&x=${'a'.repeat(4096)}`);
  t.is(long.status, 414);
  t.like(long.body, { Status: 'NOK' });
});
