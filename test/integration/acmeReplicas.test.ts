import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { acmeCert, metric, verifiedHandshake } from '../support/acme.js';
import { ConsulEmulator } from '../support/consulEmulator.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { havePebble, startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

// One order per name whatever the number of replicas. Pebble validates at the replica that did NOT order,
// so an issuance proves that the other replica answered the orderer's challenge.

const it = havePebble() ? test.serial : test.skip;
let web: Backend;
const proxies: FlowProxy[] = [];
const pebbles: Pebble[] = [];
const consuls: ConsulEmulator[] = [];
const TOKEN = 'acme-replica-test-token-0123456789';

test.before(async () => {
  web = await startBackend('web');
});

test.after.always(async () => {
  for (const p of proxies) await p.cleanup();
  for (const p of pebbles) await p.stop();
  for (const c of consuls) await c.stop();
  await web?.close();
});

interface Replica {
  p: FlowProxy;
  http: number;
  https: number;
}

async function replica(env: Record<string, string>, o: { instance?: string; apiPort?: number } = {}): Promise<Replica> {
  const http = await freePort();
  const https = await freePort();
  const dataDir = tempDir('fp-acme-replica-');
  if (o.instance) {
    fs.mkdirSync(path.join(dataDir, 'acme'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'acme', 'instance'), o.instance);
  }
  const p = await startFlowProxy({ dataDir, httpPort: http, ...(o.apiPort !== undefined && { apiPort: o.apiPort }), env: { DEFAULT_PORTS: `127.0.0.1:${http},127.0.0.1:${https}:ssl`, API_TOKEN: TOKEN, ...env } });
  proxies.push(p);
  return { p, http, https };
}

const service = (domain: string) => ({ serviceName: domain.split('.')[0] as string, serviceDomain: domain, port: String(web.port), outboundHostname: '127.0.0.1', 'letsencrypt.host': domain });
const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };

it('with PEERS: the lowest instance orders once, the other replica answers its challenge, both serve the certificate, and a replica that joins later gets it without ordering', async (t) => {
  const [apiA, apiB, apiC] = await Promise.all([freePort(), freePort(), freePort()]);
  const pebblePort = await freePort();
  // Pebble validates on B's HTTP port: only B can answer, though A orders.
  const b = { http: pebblePort };
  const pebble = await startPebble({ httpPort: b.http });
  pebbles.push(pebble);
  const acmeEnv = { ACME_EMAIL: 'ops@example.com', ACME_DIRECTORY: pebble.directory, ACME_CA_FILE: pebble.caFile, ANTI_ENTROPY_INTERVAL: '1000' };
  const A = await replica({ ...acmeEnv, PEERS: `127.0.0.1:${apiB},127.0.0.1:${apiC}` }, { instance: '00000000-0000-4000-8000-000000000001', apiPort: apiA });
  const B = await (async () => {
    const https = await freePort();
    const dataDir = tempDir('fp-acme-replica-');
    fs.mkdirSync(path.join(dataDir, 'acme'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'acme', 'instance'), '00000000-0000-4000-8000-000000000002');
    const p = await startFlowProxy({ dataDir, httpPort: b.http, apiPort: apiB, env: { DEFAULT_PORTS: `127.0.0.1:${b.http},127.0.0.1:${https}:ssl`, API_TOKEN: TOKEN, ...acmeEnv, PEERS: `127.0.0.1:${apiA},127.0.0.1:${apiC}` } });
    proxies.push(p);
    return { p, http: b.http, https };
  })();
  const root = await pebble.root();
  const answer = await A.p.api('reconfigure', { ...service('shared.test'), distribute: 'true' }, auth);
  t.is(answer.status, 200, answer.body);
  for (const r of [A, B]) {
    const c = await eventually(() => acmeCert(r.p, 'shared.test'), (x) => x?.Acme.State === 'valid', 30_000);
    t.is(c?.Acme.State, 'valid', JSON.stringify(c));
  }
  const fa = (await acmeCert(A.p, 'shared.test'))?.Fingerprint256;
  t.truthy(fa);
  t.is((await acmeCert(B.p, 'shared.test'))?.Fingerprint256, fa, 'the same certificate on both');
  for (const r of [A, B]) {
    const h = await eventually(() => verifiedHandshake(r.https, 'shared.test', root), (x) => x.authorized, 10_000);
    t.true(h.authorized, h.error);
    t.is(h.fingerprint256, fa);
  }
  t.is(await metric(A.p, 'flowproxy_acme_orders_total', { outcome: 'issued' }), 1, 'A ordered once');
  t.is(await metric(B.p, 'flowproxy_acme_orders_total'), 0, 'B never ordered');
  t.false(/ACME order started/.test(B.p.output()));
  // C joins later: it pulls the certificate and the service, and orders nothing (it would be refused anyway: Pebble cannot reach it).
  const C = await replica({ ...acmeEnv, PEERS: `127.0.0.1:${apiA},127.0.0.1:${apiB}` }, { instance: '00000000-0000-4000-8000-000000000000', apiPort: apiC });
  const joined = await eventually(() => acmeCert(C.p, 'shared.test'), (x) => x?.Acme.State === 'valid', 15_000);
  t.is(joined?.Fingerprint256, fa);
  const hc = await eventually(() => verifiedHandshake(C.https, 'shared.test', root), (x) => x.authorized, 10_000);
  t.true(hc.authorized, hc.error);
  t.is(await metric(C.p, 'flowproxy_acme_orders_total'), 0);
});

it('with Consul: the lock holder orders once, the other replica answers its challenge through the store, both serve the certificate; when the holder goes, the other takes the lock and orders', async (t) => {
  const consul = await ConsulEmulator.start();
  consuls.push(consul);
  const pebblePort = await freePort();
  const pebble = await startPebble({ httpPort: pebblePort });
  pebbles.push(pebble);
  const env = { STORE: 'consul', CONSUL_HTTP_ADDR: consul.address, ACME_EMAIL: 'ops@example.com', ACME_DIRECTORY: pebble.directory, ACME_CA_FILE: pebble.caFile };
  const A = await replica(env);
  // A holds the lock before B starts.
  await eventually(async () => consul.entry('flow-proxy/acme/lock')?.session, (s) => s !== undefined, 10_000);
  const B = await (async () => {
    const https = await freePort();
    const p = await startFlowProxy({ dataDir: tempDir('fp-acme-consul-'), httpPort: pebblePort, env: { DEFAULT_PORTS: `127.0.0.1:${pebblePort},127.0.0.1:${https}:ssl`, API_TOKEN: TOKEN, ...env } });
    proxies.push(p);
    return { p, https };
  })();
  await eventually(async () => Object.keys(consul.dump('flow-proxy/acme/serving/')).length, (n) => n === 2, 10_000);
  t.is(consul.liveSessions.length, 2);
  const root = await pebble.root();
  t.is((await A.p.api('reconfigure', service('consul.test'), auth)).status, 200);
  for (const r of [A, B]) {
    const c = await eventually(() => acmeCert(r.p, 'consul.test'), (x) => x?.Acme.State === 'valid', 30_000);
    t.is(c?.Acme.State, 'valid', JSON.stringify(c));
  }
  const fa = (await acmeCert(A.p, 'consul.test'))?.Fingerprint256;
  t.is((await acmeCert(B.p, 'consul.test'))?.Fingerprint256, fa);
  for (const r of [A, B]) {
    const h = await eventually(() => verifiedHandshake(r.https, 'consul.test', root), (x) => x.authorized, 10_000);
    t.true(h.authorized, h.error);
    t.is(h.fingerprint256, fa);
  }
  t.is(await metric(A.p, 'flowproxy_acme_orders_total', { outcome: 'issued' }), 1);
  t.is(await metric(B.p, 'flowproxy_acme_orders_total'), 0);
  t.truthy(consul.value('flow-proxy/acme/certs/consul.test'));
  t.false(/PRIVATE KEY/.test(B.p.output() + A.p.output()));

  // The orderer goes: its session is destroyed, the lock is free, and B takes over the next order.
  await A.p.stop();
  await eventually(async () => consul.entry('flow-proxy/acme/lock')?.session, (s) => s !== undefined && consul.liveSessions.length === 1, 15_000);
  t.is((await B.p.api('reconfigure', service('later.test'), auth)).status, 200);
  const later = await eventually(() => acmeCert(B.p, 'later.test'), (x) => x?.Acme.State === 'valid', 30_000);
  t.is(later?.Acme.State, 'valid', JSON.stringify(later));
  t.is(await metric(B.p, 'flowproxy_acme_orders_total', { outcome: 'issued' }), 1, 'B ordered the new name once it held the lock');
  t.true((await verifiedHandshake(B.https, 'later.test', root)).authorized);
});
