import fs from 'node:fs';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, request } from '../support/http.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';

let a: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  a = await startBackend('a');
});

test.after.always(async () => {
  for (const p of [...proxies].reverse()) await p.cleanup();
  await a?.close();
});

async function start(env: Record<string, string> = {}, dataDir?: string) {
  const p = await startFlowProxy({ env, ...(dataDir && { dataDir }) });
  proxies.push(p);
  return p;
}

const svc = (name: string, extra: Record<string, string> = {}) => ({ serviceName: name, port: String(a.port), outboundHostname: '127.0.0.1', ...extra });

/** The value of one sample in Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries((m[2] ?? '').split(',').filter(Boolean).map((kv) => {
      const [k, v] = kv.split('=');
      return [k, (v ?? '').replace(/^"|"$/g, '')];
    }));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

async function metrics(p: FlowProxy): Promise<string> {
  const r = await request({ port: p.apiPort, path: '/metrics' });
  return r.body;
}

test('metric families move with real operations', async (t) => {
  const p = await start();
  const before = await metrics(p);
  t.is((await p.api('reconfigure', svc('m1', { servicePath: '/m1' }))).status, 200);
  t.is((await p.api('reconfigure', svc('m2', { servicePath: '/m2', timeoutServer: '5' }))).status, 200);
  t.is((await p.api('reconfigure', { serviceName: 'bad', servicePath: '/b', port: 'x' })).status, 400);
  t.is((await p.api('remove', { serviceName: 'm1' })).status, 200);
  const after = await metrics(p);
  t.is(sample(after, 'flowproxy_api_requests_total', { endpoint: 'reconfigure', outcome: 'ok' }) - sample(before, 'flowproxy_api_requests_total', { endpoint: 'reconfigure', outcome: 'ok' }), 2);
  t.is(sample(after, 'flowproxy_api_requests_total', { endpoint: 'reconfigure', outcome: 'rejected' }), 1);
  t.is(sample(after, 'flowproxy_api_requests_total', { endpoint: 'remove', outcome: 'ok' }), 1);
  t.is(sample(after, 'flowproxy_applies_total', { kind: 'runtime', ok: 'true' }) - sample(before, 'flowproxy_applies_total', { kind: 'runtime', ok: 'true' }), 2, 'm1 added and removed at run time');
  t.is(sample(after, 'flowproxy_applies_total', { kind: 'reload', ok: 'true' }) - sample(before, 'flowproxy_applies_total', { kind: 'reload', ok: 'true' }), 1, 'm2 needs its own backend');
  t.is(sample(after, 'flowproxy_apply_duration_seconds_count', { kind: 'reload' }) - sample(before, 'flowproxy_apply_duration_seconds_count', { kind: 'reload' }), 1);
  t.is(sample(after, 'flowproxy_change_to_live_seconds_count', { source: 'api' }), 3);
  t.is(sample(after, 'flowproxy_services', { owner: 'api' }), 1);
  t.is(sample(after, 'flowproxy_services_quarantined'), 0);
  t.is(sample(after, 'flowproxy_ready'), 1);
  t.true(sample(after, 'flowproxy_process_resident_memory_bytes') > 0);
  const csv = (await p.api('metrics')).body;
  t.regex(csv, /^# pxname,svname,/);
  t.regex(csv, /\nservices,FRONTEND,/);
});

test('a killed HAProxy worker is brought back and counted', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', svc('w', { servicePath: '/w' }))).status, 200);
  const master = Number(fs.readFileSync(`${p.dataDir}/haproxy/run/haproxy.pid`, 'utf8'));
  const worker = fs.readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).map(Number)[0] as number;
  process.kill(worker, 'SIGKILL');
  const r = await eventually(() => p.get('/w').catch(() => ({ status: 0, body: '', headers: {} })), (x) => x.status === 200, 15_000);
  t.is(answeredBy(r), 'a');
  const m = await eventually(() => metrics(p), (text) => sample(text, 'flowproxy_haproxy_recoveries_total', { what: 'no worker' }) + sample(text, 'flowproxy_haproxy_recoveries_total', { what: 'master exited' }) + sample(text, 'flowproxy_haproxy_recoveries_total', { what: 'master gone' }) >= 1, 15_000);
  t.true(m.includes('flowproxy_haproxy_recoveries_total'));
});

test('one change id follows a change from the request to the apply that made it live', async (t) => {
  const p = await start();
  const r = await p.api('reconfigure', svc('traced', { servicePath: '/traced' }), { headers: { 'X-Change-Id': 'chg-12345' } });
  t.is(r.status, 200);
  t.is(r.headers['x-change-id'], 'chg-12345');
  const parse = (out: string) => out.split('\n').filter((l) => l.includes('chg-12345')).map((l) => JSON.parse(l) as Record<string, unknown>);
  // Log lines arrive through a pipe: wait until both are in.
  const lines = parse(await eventually(async () => p.output(), (o) => parse(o).length >= 2, 5000));
  t.true(lines.some((l) => l.msg === 'reconfigure' && l.changeId === 'chg-12345' && l.service === 'traced'), 'the request log line');
  t.true(lines.some((l) => l.msg === 'applied' && (l.changeIds as string[]).includes('chg-12345') && l.kind === 'runtime'), 'the apply log line');
});

test('readiness: the first time /ready answers 200 the stored routes already answer', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', svc('stored', { servicePath: '/stored' }))).status, 200);
  await p.stop();
  const again = await startFlowProxy({ dataDir: p.dataDir, apiPort: p.apiPort, httpPort: p.httpPort, wait: false });
  proxies.push(again);
  let ready;
  for (let i = 0; i < 400; i++) {
    ready = await request({ port: again.apiPort, path: '/ready', timeoutMs: 500 }).catch(() => undefined);
    if (ready?.status === 200) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  t.is(ready?.status, 200);
  t.is(answeredBy(await again.get('/stored')), 'a');
  t.is((await request({ port: again.apiPort, path: '/ping' })).status, 200);
});

test('API_TOKEN guards every mutating endpoint; read-only ones stay open and show no secrets', async (t) => {
  const token = 'tok-0123456789abcdef';
  const p = await start({ API_TOKEN: token });
  const denied = await p.api('reconfigure', svc('guarded', { servicePath: '/g', users: 'u:topsecret' }));
  t.is(denied.status, 401);
  t.regex(String(denied.json.Message), /API token/);
  t.is((await p.api('reconfigure', svc('guarded', { servicePath: '/g' }), { headers: { Authorization: 'Bearer wrong-token-000000' } })).status, 401);
  t.is((await p.api('reconfigure', svc('guarded', { servicePath: '/g', users: 'u:topsecret' }), { headers: { Authorization: `Bearer ${token}` } })).status, 200);
  const basic = `Basic ${Buffer.from(`listener:${token}`).toString('base64')}`;
  t.is((await p.api('reconfigure', svc('viabasic', { servicePath: '/vb' }), { headers: { Authorization: basic } })).status, 200);
  t.is((await p.api('reload', {}, { headers: { 'X-Api-Token': token } })).status, 200);
  for (const ep of ['remove', 'reload']) t.is((await p.api(ep, { serviceName: 'guarded' })).status, 401, ep);
  t.is((await p.api('cert', { certName: 'x' }, { method: 'PUT', body: 'x' })).status, 401);
  for (const ep of ['config', 'certs', 'services', 'ping']) {
    const r = await p.api(ep);
    t.is(r.status, 200, ep);
    t.false(r.body.includes('topsecret'), ep);
  }
  t.false((await p.api('config', { type: 'json' })).body.includes('topsecret'));
  t.is(sample(await metrics(p), 'flowproxy_api_requests_total', { endpoint: 'reconfigure', outcome: 'unauthorized' }), 2);
  t.false(p.output().includes(token));
  const master = Number(fs.readFileSync(`${p.dataDir}/haproxy/run/haproxy.pid`, 'utf8'));
  t.false(fs.readFileSync(`/proc/${master}/environ`, 'utf8').includes(token), 'HAProxy does not get the token in its environment');
});

test('size limits: a huge query is 414 and a huge body 413, with a clear message', async (t) => {
  const p = await start();
  const long = await p.api('reconfigure', { serviceName: 'x', servicePath: `/${'a'.repeat(40_000)}`, port: '80' });
  t.is(long.status, 414);
  t.regex(String(long.json.Message), /query string is \d+ bytes; the limit is 32768/);
  const big = await request({ port: p.apiPort, path: '/v1/docker-flow-proxy/cert?certName=big', method: 'PUT', body: 'x'.repeat(1024 * 1024 + 10) }).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
  t.is(big.status, 413);
  t.regex(big.body, /limit of 1048576 bytes/);
  t.is((await p.api('ping')).status, 200, 'still answering');
});

test('HAProxy\'s messages join the log, with an old worker\'s per-proxy stop lines collapsed into a count', async (t) => {
  const p = await start();
  for (let i = 0; i < 5; i++) t.is((await p.api('reconfigure', svc(`quiet-${i}`, { servicePath: `/quiet/${i}` }))).status, 200);
  t.is((await p.api('reload')).status, 200);
  // The old worker stops its proxies once the new one serves; the log tail reads every 200 ms.
  const text = await eventually(async () => p.output(), (o) => /proxies stopped \(old worker finishing after a reload\)/.test(o), 10_000);
  const haproxyLines = text.split('\n').filter((l) => l.includes('"msg":"haproxy"'));
  t.true(haproxyLines.some((l) => /Reloading HAProxy/.test(l)), 'the master\'s own messages are kept');
  t.true(haproxyLines.some((l) => /\d+ proxies stopped/.test(l)), haproxyLines.join('\n'));
  t.false(haproxyLines.some((l) => /Proxy \S+ stopped \(cumulated/.test(l)), 'no line per proxy');
});
