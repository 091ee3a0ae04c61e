import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';

// The data behind the dashboard, from real proxies: replicas and their state, servers and their
// health as HAProxy reports it.

let web: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  web = await startBackend('web');
});

test.after.always(async () => {
  for (const p of proxies) await p.cleanup();
  await web?.close();
});

interface State {
  Services: Array<{ Name: string; Health: string; Servers: Array<{ Status: string; Check: string; Address: string }> }>;
  Replicas: { Self: { Instance: string; Digest: string }; Peers: Array<{ Peer: string; State: string; Error?: string }> };
}

const state = async (p: FlowProxy) => (await p.api('dashboard/state')).json as unknown as State;

test('replicas: a peer with the same state is in sync, one that differs says so, one that is down is unreachable', async (t) => {
  const [mainPort, peerPort, deadPort] = [await freePort(), await freePort(), await freePort()];
  const peer = await startFlowProxy({ apiPort: peerPort, env: { DISCOVERY: 'none' } });
  proxies.push(peer);
  // No anti-entropy here, so that a difference stays visible.
  const main = await startFlowProxy({ apiPort: mainPort, env: { DISCOVERY: 'none', PEERS: `127.0.0.1:${peerPort},127.0.0.1:${deadPort}`, PEER_TIMEOUT: '500', ANTI_ENTROPY_INTERVAL: '0' } });
  proxies.push(main);
  const peers = (s: State) => Object.fromEntries(s.Replicas.Peers.map((p) => [p.Peer, p.State]));
  t.deepEqual(peers(await state(main)), { [`127.0.0.1:${peerPort}`]: 'in-sync', [`127.0.0.1:${deadPort}`]: 'unreachable' });
  t.regex((await state(main)).Replicas.Peers.find((p) => p.State === 'unreachable')?.Error ?? '', /ECONNREFUSED/);
  t.is((await peer.api('reconfigure', { serviceName: 'only-there', servicePath: '/x', port: String(web.port), outboundHostname: '127.0.0.1' })).status, 200);
  const differs = await eventually(() => state(main), (s) => peers(s)[`127.0.0.1:${peerPort}`] === 'differs', 5000);
  t.is(peers(differs)[`127.0.0.1:${peerPort}`], 'differs');
  t.is(differs.Replicas.Self.Digest.length, 64);
});

test('servers carry the state HAProxy reports: a checked server that is down is DOWN, and its service down', async (t) => {
  const p = await startFlowProxy({ env: { DISCOVERY: 'none' } });
  proxies.push(p);
  const closed = await freePort();
  const tcpPort = await freePort();
  t.is((await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', port: String(web.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await p.api('reconfigure', { serviceName: 'db', reqMode: 'tcp', srcPort: String(tcpPort), port: String(closed), outboundHostname: '127.0.0.1', checkTcp: 'true' })).status, 200);
  const s = await eventually(() => state(p), (x) => x.Services.find((v) => v.Name === 'db')?.Servers[0]?.Status.startsWith('DOWN') === true, 15_000);
  const db = s.Services.find((v) => v.Name === 'db');
  t.regex(db?.Servers[0]?.Status ?? '', /^DOWN/);
  t.regex(db?.Servers[0]?.Check ?? '', /^L4/);
  t.is(db?.Health, 'down');
  const w = s.Services.find((v) => v.Name === 'web');
  t.is(w?.Servers[0]?.Address, `127.0.0.1:${web.port}`);
  t.is(w?.Health, 'up');
});
