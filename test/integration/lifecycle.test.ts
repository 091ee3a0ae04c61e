import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, request } from '../support/http.js';
import { MAIN, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { freePort, isListening } from '../support/ports.js';
import { haproxyPids } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

let a: Backend;
let b: Backend;
const cleanups: FlowProxy[] = [];

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
});

test.after.always(async () => {
  for (const p of [...cleanups].reverse()) await p.cleanup();
  await a.close();
  await b.close();
});

async function start(options: Parameters<typeof startFlowProxy>[0] = {}) {
  const p = await startFlowProxy(options);
  cleanups.push(p);
  return p;
}


test('services from DFP_SERVICE_* variables are live at start, with a single reload', async (t) => {
  const p = await start({
    env: {
      DFP_SERVICE_SERVICE_NAME: 'env-a',
      DFP_SERVICE_SERVICE_PATH: '/env-a',
      DFP_SERVICE_PORT: String(a.port),
      DFP_SERVICE_OUTBOUND_HOSTNAME: '127.0.0.1',
      DFP_SERVICE_1_SERVICE_NAME: 'env-b',
      DFP_SERVICE_1_SERVICE_PATH: '/env-b',
      DFP_SERVICE_1_PORT: String(b.port),
      DFP_SERVICE_1_OUTBOUND_HOSTNAME: '127.0.0.1',
      DFP_SERVICE_2_SERVICE_NAME: 'env-c',
      DFP_SERVICE_2_SERVICE_PATH_1: '/env-c1',
      DFP_SERVICE_2_PORT_1: String(a.port),
      DFP_SERVICE_2_SERVICE_PATH_2: '/env-c2',
      DFP_SERVICE_2_PORT_2: String(b.port),
      DFP_SERVICE_2_OUTBOUND_HOSTNAME: '127.0.0.1',
    },
  });
  t.is(answeredBy(await p.get('/env-a')), 'a');
  t.is(answeredBy(await p.get('/env-b')), 'b');
  t.is(answeredBy(await p.get('/env-c1')), 'a');
  t.is(answeredBy(await p.get('/env-c2')), 'b');
  const applies = (await p.api('services')).json.Applies as Array<{ Kind: string }>;
  t.deepEqual(applies.map((x) => x.Kind), ['reload'], 'one apply, one reload, for all env services');
  const json = (await p.api('config', { type: 'json' })).json as Record<string, { Owner: string }>;
  t.is(json['env-a']?.Owner, 'env');
});

test('a restart restores every service before the API answers', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', { serviceName: 'kept', servicePath: '/kept', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await p.api('reconfigure', { serviceName: 'kept-dom', serviceDomain: 'kept.test', port: String(b.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is(await p.stop(), 0);
  const again = await start({ dataDir: p.dataDir, apiPort: p.apiPort, httpPort: p.httpPort });
  t.is(answeredBy(await again.get('/kept/x')), 'a');
  t.is(answeredBy(await again.get('/', { host: 'kept.test' })), 'b');
  const json = (await again.api('config', { type: 'json' })).json;
  t.deepEqual(Object.keys(json).sort(), ['kept', 'kept-dom']);
});

test('SIGTERM stops the API and HAProxy; nothing is left bound', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', { serviceName: 'x', servicePath: '/x', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.true(haproxyPids(p.dataDir).length >= 2);
  t.is(await p.stop(), 0);
  t.false(await isListening(p.apiPort));
  t.false(await isListening(p.httpPort));
  t.deepEqual(haproxyPids(p.dataDir), []);
});

test('SIGTERM right after a reload (HAProxy\'s master still re-executing itself) leaves nothing running or bound', async (t) => {
  for (let i = 0; i < 3; i++) {
    const p = await start();
    // A backend option needs a reload; the 200 comes as soon as the new worker serves, which in
    // HAProxy 2.6 is before the master's own wait-mode re-exec is done.
    const r = await p.api('reconfigure', { serviceName: 'x', servicePath: '/x', port: String(a.port), outboundHostname: '127.0.0.1', timeoutServer: String(10 + i) });
    t.is(r.status, 200);
    t.is((r.json.Applied as { Kind: string }).Kind, 'reload');
    t.is(await p.stop(), 0);
    t.false(await isListening(p.httpPort));
    t.deepEqual(haproxyPids(p.dataDir), []);
  }
});

test('SIGKILL leaves HAProxy serving; the next start adopts it with no failed request', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', { serviceName: 'ha', servicePath: '/ha', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  const master = haproxyPids(p.dataDir);
  await p.kill();
  let served = 0;
  let failed = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      try {
        const res = await request({ port: p.httpPort, path: '/ha' });
        if (res.status === 200) served++;
        else failed++;
      } catch {
        failed++;
      }
    }
  })();
  t.is(answeredBy(await p.get('/ha')), 'a', 'still served with the control plane dead');
  const again = await start({ dataDir: p.dataDir, apiPort: p.apiPort, httpPort: p.httpPort });
  t.regex(again.output(), /adopted running HAProxy/);
  t.is((await again.api('reconfigure', { serviceName: 'ha2', servicePath: '/ha2', port: String(b.port), outboundHostname: '127.0.0.1' })).status, 200);
  running = false;
  await load;
  t.true(served > 10, `served ${served}`);
  t.is(failed, 0);
  t.true(haproxyPids(p.dataDir).includes(master[0] as number), 'the same master was adopted');
  t.is(answeredBy(await again.get('/ha2')), 'b');
});

test('invalid variables are all reported and the process exits non-zero', async (t) => {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: 'eighty', DEFAULT_PORTS: '80x', TIMEOUT_SERVER: '-1', DEBUG: 'maybe', CONNECTION_MODE: 'forceclose', DATA_DIR: tempDir('fp-bad-'), IP: '127.0.0.1', STATS_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.not(code, 0);
  for (const name of ['PORT', 'DEFAULT_PORTS', 'TIMEOUT_SERVER', 'DEBUG', 'CONNECTION_MODE']) t.regex(err, new RegExp(name));
  t.regex(err, /"eighty"/);
});

test('a missing haproxy binary is a clear error', async (t) => {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: '/nonexistent', HAPROXY_BIN: '/nonexistent/haproxy', DATA_DIR: tempDir('fp-bin-') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.not(code, 0);
  t.regex(err, /HAPROXY_BIN.*not found/);
});

test('a damaged state file is restored from its backup, never started empty', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', { serviceName: 's1', servicePath: '/s1', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await p.api('reconfigure', { serviceName: 's2', servicePath: '/s2', port: String(b.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is(await p.stop(), 0);
  const file = path.join(p.dataDir, 'state.json');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 40));
  const again = await start({ dataDir: p.dataDir, apiPort: p.apiPort, httpPort: p.httpPort });
  t.regex(again.output(), /restored the backup/);
  t.is(answeredBy(await again.get('/s1')), 'a', 'the backup holds the state before the last change');
  await again.stop();
  fs.writeFileSync(file, '{"broken');
  fs.writeFileSync(path.join(p.dataDir, 'state.json.bak'), 'garbage');
  const child = spawn(process.execPath, [MAIN], { env: { ...p.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.not(code, 0);
  t.regex(out, /refusing to start with an empty registry/i);
});

test('ROUTE_ORDER=acl restores docker-flow-proxy order: /api captures /api/v2', async (t) => {
  const p = await start({ env: { ROUTE_ORDER: 'acl' } });
  t.is((await p.api('reconfigure', { serviceName: 'api', servicePath: '/api', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await p.api('reconfigure', { serviceName: 'api-v2', servicePath: '/api/v2', port: String(b.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is(answeredBy(await p.get('/api/v2/x')), 'a');
  t.is((await p.api('reconfigure', { serviceName: 'api-v2', aclName: '00-api-v2', servicePath: '/api/v2', port: String(b.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is(answeredBy(await p.get('/api/v2/x')), 'b', 'the docker-flow-proxy workaround, aclName, still works');
  t.is(answeredBy(await p.get('/api/x')), 'a');
});
