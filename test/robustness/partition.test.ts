import fs from 'node:fs';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy } from '../support/http.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { recordFigure } from '../support/figures.js';
import { createNetns, type Netns } from '../support/netns.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

// Two replicas, one in a network namespace of this test's own, joined by a
// veth pair. The link is cut while both take changes, then restored.
let ns: Netns;
let backend: Backend;
const proxies: FlowProxy[] = [];
const TOKEN = 'partition-token-0123456789';

test.before(async () => {
  ns = createNetns('pt');
  backend = await startBackend('host-backend');
  // The same port inside the namespace, so one service definition routes on both sides.
  const inner = ns.spawn(process.execPath, ['-e', `require('http').createServer((q,s)=>s.end(JSON.stringify({backend:'ns-backend'}))).listen(${backend.port},'127.0.0.1')`]);
  inner.stderr?.on('data', () => undefined);
});

test.after.always(async () => {
  for (const p of [...proxies].reverse()) await p.cleanup();
  await backend?.close();
  ns?.destroy();
});

test('a partitioned peer keeps serving, both sides take changes, and they converge when the link is back', async (t) => {
  const apiA = await freePort();
  const apiB = await freePort();
  const common = { ANTI_ENTROPY_INTERVAL: '300', PEER_TIMEOUT: '700', PEER_ATTEMPTS: '2', API_TOKEN: TOKEN, IP: '0.0.0.0' };
  const pa = await startFlowProxy({ apiPort: apiA, env: { ...common, PEERS: `${ns.nsIp}:${apiB}` } });
  proxies.push(pa);
  const pb = await startFlowProxy({
    apiPort: apiB,
    httpPort: await freePort(),
    dataDir: tempDir('fp-part-'),
    wrap: ['nsenter', `--net=/run/netns/${ns.name}`],
    address: ns.nsIp,
    env: { ...common, PEERS: `${ns.hostIp}:${apiA}` },
  });
  proxies.push(pb);
  const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };
  const svc = (name: string, extra: Record<string, string> = {}) => ({ serviceName: name, servicePath: `/${name}`, port: String(backend.port), outboundHostname: '127.0.0.1', ...extra });

  t.is((await pa.api('reconfigure', svc('s1', { distribute: 'true' }), auth)).status, 200);
  t.is(answeredBy(await pa.get('/s1')), 'host-backend');
  t.is(answeredBy(await pb.get('/s1')), 'ns-backend');

  ns.partition();
  const during = await pa.api('reconfigure', svc('s2', { distribute: 'true' }), auth);
  t.is(during.status, 200, 'the change is made here even though the peer is unreachable');
  t.is((during.json.Peers as Array<{ Status: string }>)[0]?.Status, 'failed');
  t.is(answeredBy(await pa.get('/s2')), 'host-backend');
  // The cut-off side keeps serving and taking changes of its own (reached from inside its namespace).
  const inside = (pathname: string) => ns.exec('curl', ['-s', '-m', '5', '-H', `Authorization: Bearer ${TOKEN}`, `http://127.0.0.1:${pb.httpPort}${pathname}`]);
  t.regex(inside('/s1'), /ns-backend/);
  const removeOnB = ns.exec('curl', ['-s', '-m', '10', '-H', `Authorization: Bearer ${TOKEN}`, `http://127.0.0.1:${apiB}/v1/docker-flow-proxy/remove?serviceName=s1`]);
  t.regex(removeOnB, /"Status":"OK"/);
  t.regex(inside('/s1'), /503/);
  t.is(answeredBy(await pa.get('/s1')), 'host-backend', 'the other side still has it until the link is back');

  const healedAt = Date.now();
  ns.heal();
  await eventually(() => pa.get('/s1'), (r) => r.status === 503, 15_000);
  await eventually(() => pb.get('/s2'), (r) => r.status === 200, 15_000);
  const convergeMs = Date.now() - healedAt;
  t.is((await pa.get('/s1')).status, 503, 'the removal made during the partition wins (it is newer)');
  t.is(answeredBy(await pb.get('/s2')), 'ns-backend', 'the change made during the partition arrives');
  const digests = [(await pa.api('replica')).json.Digest, (await pb.api('replica')).json.Digest];
  t.is(digests[0], digests[1]);
  t.true(convergeMs < 10_000, `${convergeMs} ms`);
  recordFigure('peer-partition', { changesDuringPartition: 2, convergeMsAfterHeal: convergeMs, routesLost: 0 });
});
