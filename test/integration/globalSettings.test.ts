import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { makeCert } from '../support/certs.js';
import { startDns, type DnsServer } from '../support/dns.js';
import { answeredBy, request } from '../support/http.js';
import { eventually, MAIN, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';
import { haproxyWorkers } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

// Environment variables that shape every service, each with its own proxy.
let a: Backend;
let b: Backend;
let dns: DnsServer;
let a2: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
  // A second backend on another loopback address but the same port, for DNS answers.
  a2 = await startBackend('a2-on-127.0.0.2', 0);
  dns = await startDns();
});

test.after.always(async () => {
  for (const p of [...proxies].reverse()) await p.cleanup();
  await Promise.all([a, b, a2].map((x) => x?.close()));
  await dns?.close();
});

async function start(env: Record<string, string>, dataDir?: string) {
  const p = await startFlowProxy({ env, ...(dataDir && { dataDir }) });
  proxies.push(p);
  return p;
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const svc = (name: string, to: Backend, extra: Record<string, string> = {}) => ({ serviceName: name, port: String(to.port), outboundHostname: '127.0.0.1', ...extra });

test('USERS protects every service (realm defaultRealm); service users must pass too; ignoreAuthorization exempts', async (t) => {
  const p = await start({ USERS: 'admin:adminpw' });
  t.is((await p.api('reconfigure', svc('open', a, { servicePath: '/open' }))).status, 200);
  t.is((await p.api('reconfigure', svc('both', a, { servicePath: '/both', users: 'bob:bobpw' }))).status, 200);
  t.is((await p.api('reconfigure', svc('free', a, { servicePath: '/free', ignoreAuthorization: 'true' }))).status, 200);
  const denied = await p.get('/open');
  t.is(denied.status, 401);
  t.is(denied.headers['www-authenticate'], 'Basic realm="defaultRealm"');
  t.is((await p.get('/open', { headers: { Authorization: basic('admin', 'adminpw') } })).status, 200);
  t.is((await p.get('/both', { headers: { Authorization: basic('admin', 'adminpw') } })).status, 401, 'global users alone do not open a service with its own users');
  t.is((await p.get('/free')).status, 200);
  t.false(p.output().includes('adminpw'));
  t.false((await p.api('config')).body.includes('adminpw'));
});

test('HTTPS_ONLY redirects every service; STATS_* serve the stats page with auth; secrets win over the environment', async (t) => {
  const dataDir = tempDir('fp-stats-');
  fs.mkdirSync(path.join(dataDir, 'secrets'));
  fs.writeFileSync(path.join(dataDir, 'secrets', 'dfp_stats_pass'), 'from-secret\n');
  const p = await start({ HTTPS_ONLY: 'true', STATS_USER: 'ops', STATS_PASS: 'from-env', STATS_URI: '/hapstats' }, dataDir);
  t.is((await p.api('reconfigure', svc('web', a, { servicePath: '/web' }))).status, 200);
  t.is((await p.get('/web', { host: 'h.test' })).headers.location, 'https://h.test/web');
  t.is((await p.get('/hapstats')).status, 401);
  t.is((await p.get('/hapstats', { headers: { Authorization: basic('ops', 'from-env') } })).status, 401);
  const stats = await p.get('/hapstats', { headers: { Authorization: basic('ops', 'from-secret') } });
  t.is(stats.status, 200);
  t.regex(stats.body, /Statistics Report/);
  t.false((await p.api('config')).body.includes('from-secret'));
});

test('STATS_PORT serves stats on its own port; "none" turns authentication off', async (t) => {
  const port = await freePort();
  const p = await start({ STATS_USER: 'none', STATS_PASS: 'none', STATS_PORT: String(port) });
  const stats = await request({ port, path: '/admin?stats' });
  t.is(stats.status, 200);
  t.regex(stats.body, /Statistics Report/);
  t.is((await p.get('/admin?stats')).status, 503, 'not on the HTTP frontend');
});

test('COMPRESSION_ALGO/TYPE compress every service; EXTRA_FRONTEND and EXTRA_GLOBAL lines apply', async (t) => {
  const p = await start({ COMPRESSION_ALGO: 'gzip', COMPRESSION_TYPE: 'application/json', EXTRA_FRONTEND: 'http-response set-header X-Front yes', EXTRA_GLOBAL: 'tune.bufsize 32768' });
  t.is((await p.api('reconfigure', svc('web', a, { servicePath: '/web' }))).status, 200);
  const r = await p.get('/web?pad=2000', { headers: { 'Accept-Encoding': 'gzip' } });
  t.is(r.headers['content-encoding'], 'gzip');
  t.is(r.headers['x-front'], 'yes');
  t.regex((await p.api('config')).body, /\n {4}tune\.bufsize 32768\n/);
});

test('DEBUG logs every request through HAProxy with CAPTURE_REQUEST_HEADER values', async (t) => {
  const p = await start({ DEBUG: 'true', CAPTURE_REQUEST_HEADER: 'X-Trace:20' });
  t.is((await p.api('reconfigure', svc('web', a, { servicePath: '/web' }))).status, 200);
  t.is((await p.get('/web/logged', { headers: { 'X-Trace': 'trace-42' } })).status, 200);
  const output = await eventually(async () => p.output(), (o) => o.includes('trace-42'), 5000);
  t.regex(output, /"haproxy":"[^\n]*\{trace-42\}[^\n]*GET \/web\/logged/);
});

test('SERVICE_DOMAIN_ALGO=hdr_beg(host) restores docker-flow-proxy prefix host matching; SEPARATOR changes lists', async (t) => {
  const p = await start({ SERVICE_DOMAIN_ALGO: 'hdr_beg(host)', SEPARATOR: ';' });
  t.is((await p.api('reconfigure', svc('beg', a, { serviceDomain: 'beg.test', servicePath: '/x;/y' }))).status, 200);
  t.is(answeredBy(await p.get('/y', { host: 'beg.test.other' })), 'a');
  t.is(answeredBy(await p.get('/x', { host: 'beg.test' })), 'a');
});

test('FILTER_PROXY_INSTANCE_NAME acknowledges and ignores requests for another instance', async (t) => {
  const p = await start({ FILTER_PROXY_INSTANCE_NAME: 'true', PROXY_INSTANCE_NAME: 'edge-1' });
  const other = await p.api('reconfigure', svc('other', a, { servicePath: '/other', proxyInstanceName: 'edge-2' }));
  t.is(other.status, 200);
  t.is((await p.get('/other')).status, 503);
  t.is((await p.api('reconfigure', svc('mine', a, { servicePath: '/mine', proxyInstanceName: 'edge-1' }))).status, 200);
  t.is(answeredBy(await p.get('/mine')), 'a');
});

test('discoveryType=DNS fills a server-template from RESOLVERS; checkResolvers follows DNS changes at run time', async (t) => {
  // Both backends listen on the same port, on 127.0.0.1 and 127.0.0.2.
  const shared = await freePort();
  const one = await startBackend('dns-one', shared);
  const twoServer = await import('node:http').then((http) => {
    const s = http.createServer((_req, res) => res.end(JSON.stringify({ backend: 'dns-two' })));
    return new Promise<import('node:http').Server>((resolve) => s.listen(shared, '127.0.0.2', () => resolve(s)));
  });
  try {
    dns.records.set('tasks.web.test', ['127.0.0.1', '127.0.0.2']);
    dns.records.set('moving.test', ['127.0.0.1']);
    const p = await start({ RESOLVERS: `nameserver local 127.0.0.1:${dns.port}` });
    const res = await p.api('reconfigure', { serviceName: 'dnsweb', servicePath: '/dns', port: String(shared), discoveryType: 'DNS', replicas: '3', outboundHostname: 'tasks.web.test' });
    t.is(res.status, 200, res.body);
    const seen = await eventually(async () => {
      const who = new Set<string>();
      for (let i = 0; i < 8; i++) who.add(answeredBy(await p.get('/dns')) ?? 'none');
      return who;
    }, (w) => w.has('dns-one') && w.has('dns-two'), 15_000);
    t.deepEqual([...seen].sort(), ['dns-one', 'dns-two']);

    t.is((await p.api('reconfigure', { serviceName: 'moving', servicePath: '/moving', port: String(shared), checkResolvers: 'true', outboundHostname: 'moving.test' })).status, 200);
    t.is(answeredBy(await eventually(() => p.get('/moving'), (r) => r.status === 200, 15_000)), 'dns-one');
    dns.records.set('moving.test', ['127.0.0.2']);
    const moved = await eventually(() => p.get('/moving'), (r) => answeredBy(r) === 'dns-two', 20_000);
    t.is(answeredBy(moved), 'dns-two');
    t.true(dns.queries > 0);

    // A name that does not resolve never breaks the config: that service answers 503, the others keep working.
    const missing = await p.api('reconfigure', { serviceName: 'missing', servicePath: '/missing', port: String(shared), checkResolvers: 'true', outboundHostname: 'nowhere.test' });
    t.is(missing.status, 200, missing.body);
    t.is((await p.get('/missing')).status, 503);
    t.is(answeredBy(await p.get('/moving')), 'dns-two');
  } finally {
    await one.close();
    twoServer.close();
  }
});

test('BIND_PORTS adds binds; srcPort keeps a route to the port it names', async (t) => {
  const extra = await freePort();
  const p = await start({ BIND_PORTS: String(extra) });
  t.is((await p.api('reconfigure', svc('both', a, { servicePath: '/both' }))).status, 200);
  t.is((await p.api('reconfigure', svc('only-extra', b, { servicePath: '/only-extra', srcPort: String(extra) }))).status, 200);
  t.is(answeredBy(await request({ port: extra, path: '/both' })), 'a');
  t.is(answeredBy(await request({ port: extra, path: '/only-extra' })), 'b');
  t.is((await p.get('/only-extra')).status, 503);
  // A port the frontend does not bind could never match: refused, naming it, and nothing changes.
  const unbound = await p.api('reconfigure', svc('only-extra', a, { servicePath: '/only-extra', srcPort: '1' }));
  t.is(unbound.status, 400);
  t.regex(String(unbound.json.Message), /srcPort 1 of service "only-extra" is not a port the HTTP frontend binds .*BIND_PORTS/);
  t.is(answeredBy(await request({ port: extra, path: '/only-extra' })), 'b');
});

test('CFG_TEMPLATE_PATH, CRT_LIST_PATH and the DEBUG_* formats shape the config; DEFAULT_REQ_MODE=tcp is refused', async (t) => {
  const dir = tempDir('fp-cfgtpl-');
  const main = fs.readFileSync(path.join(process.cwd(), 'templates', 'haproxy.cfg.hbs'), 'utf8').replace('# Generated by flow-proxy.', '# Generated by flow-proxy from a custom main template.');
  fs.writeFileSync(path.join(dir, 'main.hbs'), main);
  const cert = makeCert(['op.test']);
  fs.writeFileSync(path.join(dir, 'op.pem'), cert.pem);
  fs.writeFileSync(path.join(dir, 'crt-list.txt'), `${path.join(dir, 'op.pem')}\n`);
  const p = await start({
    CFG_TEMPLATE_PATH: path.join(dir, 'main.hbs'),
    CRT_LIST_PATH: path.join(dir, 'crt-list.txt'),
    DEFAULT_PORTS: `${await freePort()},${await freePort()}:ssl`,
    DEBUG: 'true',
    DEBUG_ERRORS_ONLY: 'true',
    DEBUG_HTTP_FORMAT: '%ci %HM %HU %ST',
  });
  const cfg = (await p.api('config')).body;
  t.regex(cfg, /custom main template/);
  t.regex(cfg, new RegExp(`ssl crt-list ${path.join(dir, 'crt-list.txt').replace(/[.]/g, '\\.')}`));
  t.regex(cfg, /option dontlog-normal\n\s+log-format '%ci %HM %HU %ST'/);
  const bad = await import('node:child_process').then(({ spawnSync }) =>
    spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', DEFAULT_REQ_MODE: 'tcp', DATA_DIR: dir }, encoding: 'utf8' }),
  );
  t.not(bad.status, 0);
  t.regex(bad.stderr, /DEFAULT_REQ_MODE "tcp" is not supported/);
});

test('TERMINATE_ON_RELOAD stops the old worker at once, even with a client connected', async (t) => {
  const p = await start({ TERMINATE_ON_RELOAD: 'true' });
  t.is((await p.api('reconfigure', svc('web', a, { servicePath: '/web' }))).status, 200);
  const http = await import('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.is((await request({ port: p.httpPort, path: '/web', agent })).status, 200);
  t.is((await p.api('reload', { recreate: 'true' })).status, 200);
  const workers = await eventually(async () => haproxyWorkers(p.dataDir), (n) => n === 1, 3000);
  t.is(workers, 1);
  agent.destroy();
});

