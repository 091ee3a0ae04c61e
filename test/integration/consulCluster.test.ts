import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { ConsulEmulator } from '../support/consulEmulator.js';
import { answeredBy, request } from '../support/http.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';

// Real flow-proxy instances sharing one Consul KV (the emulator; see
// consulStore.test.ts for the same suite against a real Consul).
let a: Backend;
const proxies: FlowProxy[] = [];
const consuls: ConsulEmulator[] = [];

test.before(async () => {
  a = await startBackend('a');
});

test.after.always(async () => {
  for (const p of [...proxies].reverse()) await p.cleanup();
  for (const c of consuls) await c.stop();
  await a?.close();
});

async function cluster(n: number, env: Record<string, string> = {}) {
  const consul = await ConsulEmulator.start();
  consuls.push(consul);
  const prefix = `fp-test-${Date.now()}`;
  const members: FlowProxy[] = [];
  for (let i = 0; i < n; i++) {
    const p = await startFlowProxy({ env: { STORE: 'consul', CONSUL_HTTP_ADDR: consul.address, CONSUL_PREFIX: prefix, ...env } });
    proxies.push(p);
    members.push(p);
  }
  return { consul, prefix, members };
}

const svc = (name: string, extra: Record<string, string> = {}) => ({ serviceName: name, servicePath: `/${name}`, port: String(a.port), outboundHostname: '127.0.0.1', ...extra });

test('a change on one replica is live on the others through the Consul watch, with no fan-out', async (t) => {
  const { members, consul, prefix } = await cluster(2);
  const [pa, pb] = members as [FlowProxy, FlowProxy];
  const started = Date.now();
  t.is((await pa.api('reconfigure', svc('shared'))).status, 200);
  t.truthy(consul.value(`${prefix}/services/shared`), 'written to Consul');
  t.is(answeredBy(await eventually(() => pb.get('/shared'), (r) => r.status === 200, 10_000)), 'a');
  t.log(`live on the other replica after ${Date.now() - started} ms`);
  t.is((await pb.api('remove', { serviceName: 'shared' })).status, 200);
  t.is((await eventually(() => pa.get('/shared'), (r) => r.status === 503, 10_000)).status, 503);
});

test('two replicas writing at the same time lose no update', async (t) => {
  const { members, consul, prefix } = await cluster(2);
  const [pa, pb] = members as [FlowProxy, FlowProxy];
  const writes = [
    ...Array.from({ length: 20 }, (_, i) => pa.api('reconfigure', svc(`from-a-${i}`))),
    ...Array.from({ length: 20 }, (_, i) => pb.api('reconfigure', svc(`from-b-${i}`))),
  ];
  const results = await Promise.all(writes);
  t.true(results.every((r) => r.status === 200), results.map((r) => r.status).join(','));
  const keys = Object.keys(consul.dump(`${prefix}/services/`));
  t.is(keys.length, 40);
  for (const p of [pa, pb]) {
    const json = await eventually(async () => (await p.api('config', { type: 'json' })).json, (j) => Object.keys(j).length === 40, 10_000);
    t.is(Object.keys(json).length, 40);
  }
  t.is(answeredBy(await pa.get('/from-b-19')), 'a');
  t.is(answeredBy(await pb.get('/from-a-0')), 'a');
});

test('Consul unreachable: HAProxy keeps serving, writes are refused (503), health and metrics say so; all resumes when it is back', async (t) => {
  const { members, consul } = await cluster(2);
  const [pa, pb] = members as [FlowProxy, FlowProxy];
  t.is((await pa.api('reconfigure', svc('before-outage'))).status, 200);
  await eventually(() => pb.get('/before-outage'), (r) => r.status === 200, 10_000);
  await consul.stop();
  const refused = await pa.api('reconfigure', svc('during-outage'));
  t.is(refused.status, 503);
  t.regex(String(refused.json.Message), /nothing was changed/);
  t.is((await pa.get('/during-outage')).status, 503);
  t.is(answeredBy(await pa.get('/before-outage')), 'a', 'still serving');
  const metrics = await eventually(async () => (await request({ port: pa.apiPort, path: '/metrics' })).body, (m) => /flowproxy_store_healthy\{store="consul"\} 0/.test(m), 10_000);
  t.regex(metrics, /flowproxy_store_healthy\{store="consul"\} 0/);
  // A replica restarted during the outage starts from its local copy and keeps serving.
  await pb.stop();
  const pb2 = await startFlowProxy({ dataDir: pb.dataDir, apiPort: pb.apiPort, httpPort: pb.httpPort, env: pb.env });
  proxies.push(pb2);
  t.is(answeredBy(await pb2.get('/before-outage')), 'a');
  await consul.start();
  t.is((await eventually(() => pa.api('reconfigure', svc('after-outage')), (r) => r.status === 200, 15_000)).status, 200);
  t.is(answeredBy(await eventually(() => pb2.get('/after-outage'), (r) => r.status === 200, 15_000)), 'a');
  await eventually(async () => (await request({ port: pa.apiPort, path: '/metrics' })).body, (m) => /flowproxy_store_healthy\{store="consul"\} 1/.test(m), 10_000);
});

test('templates in Consul KV: a consul:// backend template is used, and a change to its key re-renders', async (t) => {
  const { members, consul, prefix } = await cluster(1);
  const [p] = members as [FlowProxy];
  const key = `${prefix}/templates/be`;
  const template = (value: string) => `{{#each ServiceDest}}backend {{BackendName}}\n    mode http\n    http-response set-header X-Template ${value}\n    server s1 {{OutboundHostname}}:{{Port}}\n{{/each}}`;
  consul.put(key, template('one'));
  const res = await p.api('reconfigure', svc('tpl', { templateBePath: `consul://${key}` }));
  t.is(res.status, 200, res.body);
  t.is((await p.get('/tpl')).headers['x-template'], 'one');
  consul.put(key, template('two'));
  const changed = await eventually(() => p.get('/tpl'), (r) => r.headers['x-template'] === 'two', 10_000);
  t.is(changed.headers['x-template'], 'two');
  t.true(fs.existsSync(path.join(os.tmpdir())));
});
