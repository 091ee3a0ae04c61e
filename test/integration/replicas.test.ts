import fs from 'node:fs';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, request } from '../support/http.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

// Several real flow-proxy instances on 127.0.0.1, each with its own API and
// HAProxy ports and data directory, told about each other through PEERS.
let a: Backend;
const running: FlowProxy[] = [];
const TOKEN = 'replica-token-0123456789';

test.before(async () => {
  a = await startBackend('a');
});

test.after.always(async () => {
  for (const p of [...running].reverse()) await p.cleanup();
  await a?.close();
});

interface Slot {
  apiPort: number;
  httpPort: number;
  dataDir: string;
}

async function slots(n: number): Promise<Slot[]> {
  const out: Slot[] = [];
  for (let i = 0; i < n; i++) out.push({ apiPort: await freePort(), httpPort: await freePort(), dataDir: tempDir(`fp-rep${i}-`) });
  return out;
}

async function launch(slot: Slot, all: Slot[], env: Record<string, string> = {}): Promise<FlowProxy> {
  const p = await startFlowProxy({
    ...slot,
    env: { PEERS: all.map((s) => `127.0.0.1:${s.apiPort}`).join(','), ANTI_ENTROPY_INTERVAL: '300', PEER_TIMEOUT: '1000', PEER_ATTEMPTS: '2', API_TOKEN: TOKEN, ...env },
  });
  running.push(p);
  return p;
}

const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };
const svc = (name: string, extra: Record<string, string> = {}) => ({ serviceName: name, port: String(a.port), outboundHostname: '127.0.0.1', ...extra });

test('distribute=true reaches every replica concurrently and lists each outcome', async (t) => {
  const s = await slots(3);
  const [pa, pb, pc] = await Promise.all(s.map((slot) => launch(slot, s)));
  const res = await (pa as FlowProxy).api('reconfigure', svc('everywhere', { servicePath: '/everywhere', distribute: 'true' }), auth);
  t.is(res.status, 200, res.body);
  t.is(res.json.Message, 'Distributed to all instances');
  const peers = res.json.Peers as Array<{ Peer: string; Status: string }>;
  t.deepEqual(peers.map((p) => p.Peer).sort(), [`127.0.0.1:${s[1]?.apiPort}`, `127.0.0.1:${s[2]?.apiPort}`].sort(), 'the instance skips itself');
  t.true(peers.every((p) => p.Status === 'ok'));
  for (const p of [pa, pb, pc]) t.is(answeredBy(await (p as FlowProxy).get('/everywhere')), 'a', 'live on every replica when the answer comes');
  const removed = await (pb as FlowProxy).api('remove', { serviceName: 'everywhere', distribute: 'true' }, auth);
  t.is(removed.status, 200);
  for (const p of [pa, pb, pc]) t.is((await (p as FlowProxy).get('/everywhere')).status, 503);
});

test('a replica that is down does not fail the others, and catches up on its own when back', async (t) => {
  const s = await slots(3);
  const [pa, pb, pc] = await Promise.all(s.map((slot) => launch(slot, s)));
  t.is((await (pa as FlowProxy).api('reconfigure', svc('before', { servicePath: '/before', distribute: 'true' }), auth)).status, 200);
  await (pc as FlowProxy).stop();
  const res = await (pa as FlowProxy).api('reconfigure', svc('while-down', { servicePath: '/while-down', distribute: 'true' }), auth);
  t.is(res.status, 200);
  const outcomes = res.json.Peers as Array<{ Peer: string; Status: string; Attempts: number }>;
  t.is(outcomes.find((o) => o.Peer.endsWith(`:${s[2]?.apiPort}`))?.Status, 'failed');
  t.is(outcomes.find((o) => o.Peer.endsWith(`:${s[1]?.apiPort}`))?.Status, 'ok');
  t.regex(String(res.json.Message), /1 of 2 peers failed/);
  t.is((await (pa as FlowProxy).api('remove', { serviceName: 'before', distribute: 'true' }, auth)).status, 200);
  t.is(answeredBy(await (pb as FlowProxy).get('/while-down')), 'a');
  const back = await launch(s[2] as Slot, s);
  const caught = await eventually(() => back.get('/while-down'), (r) => r.status === 200, 10_000);
  t.is(answeredBy(caught), 'a', 'the change made while it was down');
  t.is((await eventually(() => back.get('/before'), (r) => r.status === 503, 10_000)).status, 503, 'and the removal too');
});

test('without distribute, anti-entropy spreads a change to every replica within seconds', async (t) => {
  const s = await slots(3);
  const [pa, pb, pc] = await Promise.all(s.map((slot) => launch(slot, s)));
  const started = Date.now();
  t.is((await (pb as FlowProxy).api('reconfigure', svc('gossip', { servicePath: '/gossip', users: 'u:sharedpw' }), auth)).status, 200);
  for (const p of [pa, pc]) {
    const r = await eventually(() => (p as FlowProxy).get('/gossip', { headers: { Authorization: `Basic ${Buffer.from('u:sharedpw').toString('base64')}` } }), (x) => x.status === 200, 10_000);
    t.is(answeredBy(r), 'a');
  }
  t.true(Date.now() - started < 5000, `${Date.now() - started} ms`);
  const digests = () => Promise.all([pa, pb, pc].map(async (p) => (await (p as FlowProxy).api('replica')).json.Digest));
  const converged = await eventually(digests, (d) => new Set(d).size === 1, 5000);
  if (new Set(converged).size !== 1) {
    for (const p of [pa, pb, pc]) t.log(JSON.stringify((await (p as FlowProxy).api('replica', { state: 'true' }, auth)).json));
  }
  t.is(new Set(converged).size, 1, 'the replicas converged on one state');
});

test('a new replica serves the full route table by the time it reports ready', async (t) => {
  const s = await slots(3);
  const [pa, pb] = await Promise.all(s.slice(0, 2).map((slot) => launch(slot, s)));
  for (let i = 0; i < 5; i++) t.is((await (pa as FlowProxy).api('reconfigure', svc(`table-${i}`, { servicePath: `/table/${i}` }), auth)).status, 200);
  await eventually(() => (pb as FlowProxy).get('/table/4'), (r) => r.status === 200, 10_000);
  const fresh = await launch(s[2] as Slot, s);
  // The API answers before the first pull from the peers is done; /ready waits for it.
  const ready = await eventually(() => request({ port: fresh.apiPort, path: '/ready' }), (r) => r.status === 200, 15_000);
  t.is(ready.status, 200);
  for (let i = 0; i < 5; i++) t.is(answeredBy(await fresh.get(`/table/${i}`)), 'a', `table-${i}`);
});

test('without the API token, replicas never hand out passwords', async (t) => {
  const s = await slots(2);
  const [pa, pb] = await Promise.all(s.map((slot) => launch(slot, s, { API_TOKEN: '' })));
  t.is((await (pa as FlowProxy).api('reconfigure', svc('secret-svc', { servicePath: '/secret', users: 'u:neverleaks' }))).status, 200);
  t.is((await (pa as FlowProxy).api('reconfigure', svc('plain-svc', { servicePath: '/plain' }))).status, 200);
  const view = await (pa as FlowProxy).api('replica', { state: 'true' });
  t.false(view.body.includes('neverleaks'));
  t.true((view.json.Services as Array<{ redacted?: boolean; params: { serviceName: string } }>).some((x) => x.redacted && x.params.serviceName === 'secret-svc'));
  t.is(answeredBy(await eventually(() => (pb as FlowProxy).get('/plain'), (r) => r.status === 200, 10_000)), 'a');
  t.is((await (pb as FlowProxy).get('/secret')).status, 503, 'a service that needs a password is not copied without it');
});
