import { spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { listeningPids } from '../../src/adapters/net/portHolders.js';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, request } from '../support/http.js';
import { eventually, flowProxyEnv, ROOT, startFlowProxy, waitForApi, type FlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';
import { haproxyPids } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

// What a new user tripped over in the first hour (issue 15).
let a: Backend;
let b: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
});

test.after.always(async () => {
  for (const p of [...proxies].reverse()) await p.cleanup();
  await a?.close();
  await b?.close();
});

async function exitOf(p: FlowProxy): Promise<number | null> {
  return p.child.exitCode ?? (await new Promise<number | null>((resolve) => p.child.once('exit', resolve)));
}

test('a second instance on the same HTTP port refuses to start, naming the port and the process that holds it; traffic stays with the first', async (t) => {
  const first = await startFlowProxy();
  proxies.push(first);
  t.is((await first.api('reconfigure', { serviceName: 'web', servicePath: '/web', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  const holders = listeningPids(first.httpPort);
  const second = await startFlowProxy({ httpPort: first.httpPort, wait: false });
  proxies.push(second);
  t.not(await exitOf(second), 0);
  t.regex(second.output(), new RegExp(`port ${first.httpPort} \\(DEFAULT_PORTS\\) is already in use by process (${holders.join('|')}) \\(.*haproxy`));
  t.deepEqual(haproxyPids(second.dataDir), [], 'the second instance left no HAProxy');
  const answers = await Promise.all(Array.from({ length: 20 }, () => first.get('/web/x')));
  t.true(answers.every((r) => answeredBy(r) === 'a'), 'every request still reaches the first instance');
});

test('a taken API port stops the start before HAProxy runs: nothing is left on the HTTP ports', async (t) => {
  const apiPort = await freePort();
  const squatter = net.createServer().listen(apiPort, '127.0.0.1');
  await new Promise((resolve) => squatter.once('listening', resolve));
  try {
    const p = await startFlowProxy({ apiPort, wait: false });
    proxies.push(p);
    t.not(await exitOf(p), 0);
    t.regex(p.output(), new RegExp(`port ${apiPort} \\(PORT, the API\\) is already in use by process ${process.pid}`));
    t.deepEqual(haproxyPids(p.dataDir), []);
    t.deepEqual(listeningPids(p.httpPort), [], 'the HTTP port is free');
  } finally {
    squatter.close();
  }
});

test('the README\'s run command (npm start) stops node and HAProxy when it gets SIGTERM', async (t) => {
  const dataDir = tempDir('fp-npm-');
  const apiPort = await freePort();
  const httpPort = await freePort();
  const npm = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...flowProxyEnv({ apiPort, httpPort, dataDir }), DISCOVERY: 'none' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await waitForApi(npm, () => out, () => request({ port: apiPort, path: '/v1/docker-flow-proxy/ping', timeoutMs: 1000 }));
  t.true(haproxyPids(dataDir).length > 0, 'HAProxy runs');
  npm.kill('SIGTERM');
  const gone = await eventually(async () => haproxyPids(dataDir).length + listeningPids(apiPort).length, (n) => n === 0, 15_000);
  t.is(gone, 0, `still running after SIGTERM to npm:\n${out}`);
});

test('a second service with the same route gets a warning naming the service that keeps it; ROUTE_CONFLICT=reject refuses it with 409', async (t) => {
  const p = await startFlowProxy();
  proxies.push(p);
  t.is((await p.api('reconfigure', { serviceName: 'first', servicePath: '/same', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  const second = await p.api('reconfigure', { serviceName: 'second', servicePath: '/same', port: String(b.port), outboundHostname: '127.0.0.1' });
  t.is(second.status, 200);
  t.regex(String((second.json.Warnings as string[])[0]), /route \/same of service "second" is the same as one of service "first", which comes first/);
  t.is(answeredBy(await p.get('/same/x')), 'a');
  const services = (await p.api('services')).json.Services as Array<{ ServiceName: string; State: string; Shadowed?: Array<{ Route: string; By: string }> }>;
  const lost = services.find((s) => s.ServiceName === 'second');
  t.is(lost?.State, 'shadowed');
  t.deepEqual(lost?.Shadowed, [{ Route: '/same', By: 'first' }]);
  // A lower aclName takes the route over, and says whose it was.
  const taker = await p.api('reconfigure', { serviceName: 'third', aclName: '00-third', servicePath: '/same', port: String(b.port), outboundHostname: '127.0.0.1' });
  t.regex(String((taker.json.Warnings as string[]).join(' ')), /route \/same of service "first" is the same as one of this service, which comes first/);

  const strict = await startFlowProxy({ env: { ROUTE_CONFLICT: 'reject' } });
  proxies.push(strict);
  t.is((await strict.api('reconfigure', { serviceName: 'first', servicePath: '/same', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  const refused = await strict.api('reconfigure', { serviceName: 'second', servicePath: '/same', port: String(b.port), outboundHostname: '127.0.0.1' });
  t.is(refused.status, 409);
  t.regex(String(refused.json.Message), /route \/same of service "second" is the same as one of service "first" \(ROUTE_CONFLICT=reject\)/);
  t.false('second' in (await strict.api('config', { type: 'json' })).json);
  t.is(answeredBy(await strict.get('/same/x')), 'a');
});

test('messages a new user meets: the API root answers, /config shows the routes, a fresh start has no HAProxy warning', async (t) => {
  const p = await startFlowProxy();
  proxies.push(p);
  const slash = await request({ port: p.apiPort, path: '/v1/docker-flow-proxy/' });
  t.is(slash.status, 301);
  t.is(slash.headers.location, '/v1/docker-flow-proxy');
  const root = await request({ port: p.apiPort, path: '/v1/docker-flow-proxy' });
  t.is(root.status, 200);
  t.true((JSON.parse(root.body) as { Endpoints: string[] }).Endpoints.includes('/v1/docker-flow-proxy/reconfigure'));
  t.is((await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  const config = (await p.api('config')).body;
  t.regex(config, /# ---- routes \(map files: key -> backend\) ----\n(.*\n)*# path_prefix\.map\n#   \/web \S+/);
  t.notRegex((await p.api('config', { maps: 'false' })).body, /---- routes/);
  await sleep(300);
  t.notRegex(p.output(), /Can't open global server state file/);
  const bad = await p.api('reconfigure', 'serviceName=x&servicePath=/bad%0Aglobal&port=80');
  t.is(bad.status, 400);
  t.notRegex(String(bad.json.Message), /mandatory/, 'one clear message, not also "servicePath or serviceDomain are mandatory"');
});

test('an API open to the network without API_TOKEN is warned about at start', async (t) => {
  const p = await startFlowProxy({ env: { IP: '0.0.0.0' } });
  proxies.push(p);
  t.regex(p.output(), /the API listens on 0\.0\.0\.0:\d+ without API_TOKEN/);
  const local = await startFlowProxy();
  proxies.push(local);
  t.notRegex(local.output(), /without API_TOKEN/);
});
