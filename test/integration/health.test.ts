import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { silentLog } from '../../src/core/log.js';
import { toEntry } from '../../src/domain/entry.js';
import { fromRecord } from '../../src/domain/params.js';
import { parseContext, startProxy, type Proxy } from '../../src/proxy.js';
import { loadSettings } from '../../src/settings.js';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, request } from '../support/http.js';
import { eventually } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

// Retries and health: a request that a dying server takes but never answers is retried on another server
// (idempotent methods only, unless the service asks), and HAProxy's view of each server shows in the API.

let good: Backend;
let dying: net.Server;
let dyingPort: number;
let sick: http.Server;
let sickPort: number;
let proxy: Proxy;
let httpPort: number;
let dataDir: string;
let ctx: ReturnType<typeof parseContext>;

test.before(async () => {
  good = await startBackend('good');
  // Accepts, reads the request, and closes without a word: a replica that died while it had the request.
  dying = net.createServer((socket) => socket.once('data', () => socket.destroy()));
  await new Promise<void>((resolve) => dying.listen(0, '127.0.0.1', () => resolve()));
  dyingPort = (dying.address() as net.AddressInfo).port;
  // Serves, but its health endpoint says it is not well.
  sick = http.createServer((req, res) => {
    res.writeHead(req.url === '/health' ? 500 : 200);
    res.end(JSON.stringify({ backend: 'sick' }));
  });
  await new Promise<void>((resolve) => sick.listen(0, '127.0.0.1', () => resolve()));
  sickPort = (sick.address() as net.AddressInfo).port;
  dataDir = tempDir('fp-health-');
  httpPort = await freePort();
  const env = { DATA_DIR: dataDir, PORT: '0', IP: '127.0.0.1', DEFAULT_PORTS: String(httpPort), DISCOVERY: 'none', SECRETS_DIR: path.join(dataDir, 'secrets'), STOP_GRACE: '1', HEALTH_CHECK_INTERVAL: '300' };
  const loaded = loadSettings(env);
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  ctx = parseContext(loaded.settings);
  proxy = await startProxy({ settings: loaded.settings, env, log: silentLog });
});

test.after.always(async () => {
  await proxy?.stop();
  await good?.close();
  dying?.close();
  sick?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A discovered service with these servers (what Docker discovery submits). */
async function discovered(params: Record<string, string>, ports: number[]): Promise<void> {
  const parsed = toEntry({ params: fromRecord(params), issues: [] }, ctx, 'docker');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const entry = { ...parsed.entry, spec: { ...parsed.entry.spec, servers: ports.map((port, i) => ({ host: '127.0.0.1', port, id: `${params.serviceName}-${i}` })) } };
  const r = await proxy.engine.submit({ kind: 'sync', owner: 'docker', entries: [entry] });
  if (!r.ok) throw new Error(r.message);
}

const api = (endpoint: string, query: Record<string, string> = {}) =>
  request({ port: proxy.port, path: `/v1/docker-flow-proxy/${endpoint}?${new URLSearchParams(query).toString()}` }).then((r) => ({ ...r, json: JSON.parse(r.body) as Record<string, unknown> }));

interface ServerJson { Server: string; Address: string; Health: string; Check: string }
async function serversOf(name: string): Promise<ServerJson[]> {
  const services = (await api('services')).json.Services as Array<{ ServiceName: string; Servers: ServerJson[] }>;
  return services.find((s) => s.ServiceName === name)?.Servers ?? [];
}

test.serial('a GET taken by a server that closes without answering is retried on another one; a POST is not', async (t) => {
  await discovered({ serviceName: 'retry', servicePath: '/retry', port: '80', healthCheck: 'false' }, [dyingPort, good.port]);
  const gets = await Promise.all(Array.from({ length: 20 }, () => request({ port: httpPort, path: '/retry/x' })));
  t.deepEqual(gets.map((r) => r.status), Array(20).fill(200));
  t.true(gets.every((r) => answeredBy(r) === 'good'));
  const posts = await Promise.all(Array.from({ length: 10 }, () => request({ port: httpPort, path: '/retry/x', method: 'POST', body: 'x' })));
  t.true(posts.some((r) => r.status === 502), `a POST the dying server took must not be replayed: ${posts.map((r) => r.status).join(' ')}`);
});

test.serial('a plain service gets the same retries from the shared defaults (backend ... from fp_std): GETs retried, POSTs not', async (t) => {
  await discovered({ serviceName: 'shared', servicePath: '/shared', port: '80' }, [dyingPort, good.port]);
  const config = (await request({ port: proxy.port, path: '/v1/docker-flow-proxy/config' })).body;
  // Its backend (a spare taken at run time, or one rendered at a reload) is the section with its servers.
  const section = config.split('\n\n').find((b) => b.startsWith('backend ') && b.includes(`127.0.0.1:${dyingPort}`)) ?? '';
  t.regex(section, /^backend \S+ from fp_std\n/, `rendered from the shared defaults: ${section}`);
  t.notRegex(section, /disable-l7-retry| check /, 'no rule or server option of its own');
  const gets = await Promise.all(Array.from({ length: 20 }, () => request({ port: httpPort, path: '/shared/x' })));
  t.deepEqual(gets.map((r) => r.status), Array(20).fill(200));
  const posts = await Promise.all(Array.from({ length: 10 }, () => request({ port: httpPort, path: '/shared/x', method: 'POST', body: 'x' })));
  t.true(posts.some((r) => r.status === 502), `the shared rule keeps POSTs from being replayed: ${posts.map((r) => r.status).join(' ')}`);
});

test.serial('retryMethods=GET,POST lets a service ask for its POSTs to be retried too; retryOn=none turns retries off', async (t) => {
  await discovered({ serviceName: 'retry', servicePath: '/retry', port: '80', healthCheck: 'false', retryMethods: 'GET,POST' }, [dyingPort, good.port]);
  const posts = await Promise.all(Array.from({ length: 10 }, () => request({ port: httpPort, path: '/retry/x', method: 'POST', body: 'x' })));
  t.deepEqual(posts.map((r) => r.status), Array(10).fill(200));
  await discovered({ serviceName: 'retry', servicePath: '/retry', port: '80', healthCheck: 'false', retryOn: 'none' }, [dyingPort, good.port]);
  const gets = await Promise.all(Array.from({ length: 10 }, () => request({ port: httpPort, path: '/retry/x' })));
  t.true(gets.some((r) => r.status === 502), gets.map((r) => r.status).join(' '));
});

test.serial('health checks by default: a server that refuses connections is DOWN in /services and gets no traffic; the others are UP', async (t) => {
  const closed = await freePort();
  await discovered({ serviceName: 'checked', servicePath: '/checked', port: '80' }, [closed, good.port]);
  const servers = await eventually(() => serversOf('checked'), (s) => s.some((x) => x.Health.startsWith('DOWN')), 10_000);
  t.is(servers.length, 2);
  t.regex(servers.find((s) => s.Address.endsWith(`:${closed}`))?.Health ?? '', /^DOWN/);
  t.regex(servers.find((s) => s.Address.endsWith(`:${good.port}`))?.Health ?? '', /^UP/);
  const answers = await Promise.all(Array.from({ length: 10 }, () => request({ port: httpPort, path: '/checked/x' })));
  t.true(answers.every((r) => answeredBy(r) === 'good'));
  const json = (await api('config', { type: 'json' })).json.checked as { ServerHealth: ServerJson[] };
  t.is(json.ServerHealth.length, 2, 'config?type=json shows the same health');
});

// A container is a server as soon as it starts, often before its app listens: the request that finds it closed is
// retried elsewhere and marks it down, and it must come back on its own once it listens (the README's promise).
test.serial('a server marked down before it listened is UP again once its checks pass, and serves', async (t) => {
  const late = await freePort();
  await discovered({ serviceName: 'late', servicePath: '/late', port: '80' }, [late, good.port]);
  const early = await Promise.all(Array.from({ length: 6 }, () => request({ port: httpPort, path: '/late/x' })));
  t.true(early.every((r) => answeredBy(r) === 'good'), 'no request failed while it was not listening');
  const down = await eventually(() => serversOf('late'), (s) => s.some((x) => x.Address.endsWith(`:${late}`) && x.Health.startsWith('DOWN')), 10_000);
  t.regex(down.find((x) => x.Address.endsWith(`:${late}`))?.Health ?? '', /^DOWN/, JSON.stringify(down));
  const app = await startBackend('late', late);
  try {
    const since = Date.now();
    const up = await eventually(() => serversOf('late'), (s) => s.some((x) => x.Address.endsWith(`:${late}`) && x.Health === 'UP'), 10_000);
    const tookMs = Date.now() - since;
    t.is(up.find((x) => x.Address.endsWith(`:${late}`))?.Health, 'UP', JSON.stringify(up));
    // HEALTH_CHECK_INTERVAL is 300 ms here: "UP" after 3 passed checks ("UP 1/2" after 2), with room for a loaded machine.
    t.true(tookMs < 3000, `UP ${tookMs} ms after it listened`);
    const answers = await Promise.all(Array.from({ length: 10 }, () => request({ port: httpPort, path: '/late/x' })));
    t.true(answers.some((r) => answeredBy(r) === 'late'), 'it takes requests again');
  } finally {
    await app.close();
  }
});

// The next worker starts from the state the old one had: a server found DOWN does not come back UP (and take requests) for a reload.
test.serial('a server found DOWN is still DOWN right after a reload of another service\'s change', async (t) => {
  const closed = await freePort();
  await discovered({ serviceName: 'carried', servicePath: '/carried', port: '80' }, [closed, good.port]);
  await eventually(() => serversOf('carried'), (s) => s.some((x) => x.Address.endsWith(`:${closed}`) && x.Health.startsWith('DOWN')), 10_000);
  const other = { serviceName: 'other', servicePath: '/other', port: String(good.port), outboundHostname: '127.0.0.1' };
  t.is((await api('reconfigure', other)).status, 200);
  // A response header is an option of the backend: HAProxy takes it with a reload only.
  t.is((await api('reconfigure', { ...other, setResHeader: 'X-Carried yes' })).status, 200);
  const servers = await serversOf('carried');
  t.is((await request({ port: httpPort, path: '/other/x' })).headers['x-carried'], 'yes', 'the reload is live');
  t.regex(servers.find((s) => s.Address.endsWith(`:${closed}`))?.Health ?? '', /^DOWN/, JSON.stringify(servers));
  // What the new worker loaded (show servers state: be_id be_name srv_id srv_name srv_addr srv_op_state ...): that server, stopped (0).
  const loaded = fs.readFileSync(path.join(dataDir, 'haproxy', 'run', 'server-state'), 'utf8').split('\n').map((l) => l.split(' '));
  const down = servers.find((s) => s.Address.endsWith(`:${closed}`));
  const line = loaded.find((f) => f[3] === down?.Server);
  t.is(line?.[5], '0', `server-state line of ${down?.Server}: ${line?.join(' ')}`);
});

test.serial('checkHttpPath: a server whose health path fails is DOWN; healthCheck=false shows "no check"', async (t) => {
  await discovered({ serviceName: 'httpcheck', servicePath: '/httpcheck', port: '80', checkHttpPath: '/health' }, [sickPort, good.port]);
  const servers = await eventually(() => serversOf('httpcheck'), (s) => s.some((x) => x.Health.startsWith('DOWN')), 10_000);
  t.regex(servers.find((s) => s.Address.endsWith(`:${sickPort}`))?.Health ?? '', /^DOWN/);
  t.regex(servers.find((s) => s.Address.endsWith(`:${sickPort}`))?.Check ?? '', /L7STS/);
  await discovered({ serviceName: 'httpcheck', servicePath: '/httpcheck', port: '80', healthCheck: 'false' }, [sickPort, good.port]);
  const unchecked = await eventually(() => serversOf('httpcheck'), (s) => s.every((x) => x.Health === 'no check'), 10_000);
  t.deepEqual(unchecked.map((s) => s.Health), ['no check', 'no check']);
});

test.serial('bad retry and health values are a 400 naming them', async (t) => {
  for (const [param, value, message] of [
    ['retryOn', 'sometimes', /retryOn "sometimes" is not a retry-on condition/],
    ['retries', '99', /retries "99" is larger than 10/],
    ['retryMethods', 'get', /retryMethods "get" is not an HTTP method in upper case/],
    ['checkHttpPath', 'health', /checkHttpPath "health" must be a path starting with "\/"/],
    ['checkHttpPath', "/h' or 1", /checkHttpPath/],
    ['slowStart', '-1', /slowStart "-1"/],
  ] as const) {
    const r = await api('reconfigure', { serviceName: 'bad', servicePath: '/bad', port: String(good.port), outboundHostname: '127.0.0.1', [param]: value });
    t.is(r.status, 400, `${param}=${value}`);
    t.regex(String(r.json.Message), message);
  }
});
