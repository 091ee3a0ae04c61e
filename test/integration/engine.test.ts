import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { FileStore } from '../../src/adapters/store/fileStore.js';
import { serverName } from '../../src/render/backend.js';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, request } from '../support/http.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { tempDir } from '../support/tmp.js';
import { proxyDataPlaneProblems } from '../support/dataPlaneCheck.js';

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

async function start(options: Parameters<typeof startFlowProxy>[0] = {}) {
  const p = await startFlowProxy(options);
  proxies.push(p);
  return p;
}

interface Apply {
  Id: number;
  Kind: string;
  Reason: string;
}

async function applies(p: FlowProxy): Promise<Apply[]> {
  return (await p.api('services')).json.Applies as Apply[];
}

const svc = (name: string, to: Backend, extra: Record<string, string> = {}) => ({ serviceName: name, port: String(to.port), outboundHostname: '127.0.0.1', ...extra });

test('1,000 concurrent reconfigure calls end in a handful of reloads and few applies, each answered when its change is live', async (t) => {
  const p = await start();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 });
  const before = (await applies(p)).length;
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => p.api('reconfigure', svc(`burst-${i}`, i % 2 ? a : b, { servicePath: `/burst/${i}` }), { agent, timeoutMs: 120_000 })),
  );
  agent.destroy();
  t.true(results.every((r) => r.status === 200), results.find((r) => r.status !== 200)?.body);
  const after = await applies(p);
  const made = after.slice(before);
  // A runtime apply of new plain services takes a millisecond or two (they take free spares): while the calls still
  // arrive, several run between the reloads that make room. Coalescing still holds: tens of applies, not 1,000.
  const kinds = made.map((x) => x.Kind).join(',');
  t.true(made.length <= 60, `${made.length} applies: ${kinds}`);
  t.true(made.filter((x) => x.Kind === 'reload').length <= 10, kinds);
  for (const i of [0, 1, 500, 999]) t.is(answeredBy(await p.get(`/burst/${i}`)), i % 2 ? 'a' : 'b', `burst-${i}`);
  t.deepEqual(await proxyDataPlaneProblems(p), []);
});

test('changes that only touch routes or servers go through the runtime API; others reload and say why', async (t) => {
  const p = await start();
  const first = await p.api('reconfigure', svc('rt', a, { servicePath: '/rt' }));
  t.is((first.json.Applied as { Kind: string }).Kind, 'runtime', 'a plain new service takes a spare backend');
  t.is(answeredBy(await p.get('/rt')), 'a');

  const moved = await p.api('reconfigure', svc('rt', b, { servicePath: '/rt' }));
  t.is((moved.json.Applied as { Kind: string }).Kind, 'runtime', 'a moved server');
  t.is(answeredBy(await p.get('/rt')), 'b');

  const rerouted = await p.api('reconfigure', svc('rt', b, { servicePath: '/rt2,/rt3' }));
  t.is((rerouted.json.Applied as { Kind: string }).Kind, 'runtime', 'new routes to an existing backend');
  t.is((await p.get('/rt')).status, 503);
  t.is(answeredBy(await p.get('/rt3/x')), 'b');

  const optioned = await p.api('reconfigure', svc('rt', b, { servicePath: '/rt2', timeoutServer: '9' }));
  const applied = optioned.json.Applied as { Kind: string; Reason: string };
  t.is(applied.Kind, 'reload');
  t.regex(applied.Reason, /options of rt changed/);

  const removed = await p.api('remove', { serviceName: 'rt' });
  t.is((removed.json.Applied as { Kind: string }).Kind, 'runtime');
  t.is((await p.get('/rt2')).status, 503);

  const same = await p.api('reconfigure', svc('other', a, { servicePath: '/other' }));
  t.is((same.json.Applied as { Kind: string }).Kind, 'runtime');
  const again = await p.api('reconfigure', svc('other', a, { servicePath: '/other' }));
  t.is((again.json.Applied as { Kind: string }).Kind, 'none', 'an identical reconfigure changes nothing');
  t.deepEqual(await proxyDataPlaneProblems(p), []);
});

for (const check of ['false', 'true']) {
  test(`quarantine: in one batch, only the service HAProxy refuses is rejected; the others are applied (CHECK_BEFORE_RELOAD=${check})`, async (t) => {
    const p = await start({ env: { CHECK_BEFORE_RELOAD: check } });
    const calls = [
      ...Array.from({ length: 20 }, (_, i) => p.api('reconfigure', svc(`good-${i}`, a, { servicePath: `/good/${i}`, timeoutServer: '10' }))),
      p.api('reconfigure', svc('bad', b, { servicePath: '/bad', backendExtra: 'option no-such-option' })),
      ...Array.from({ length: 20 }, (_, i) => p.api('reconfigure', svc(`good2-${i}`, a, { servicePath: `/good2/${i}`, timeoutServer: '10' }))),
    ];
    const results = await Promise.all(calls);
    const bad = results[20];
    t.is(bad?.status, 400);
    t.regex(String(bad?.json.Message), /"bad".*no-such-option/);
    t.true(results.filter((_, i) => i !== 20).every((r) => r.status === 200));
    t.is(answeredBy(await p.get('/good/7')), 'a');
    t.is(answeredBy(await p.get('/good2/19')), 'a');
    t.is((await p.get('/bad')).status, 503);
    const json = (await p.api('config', { type: 'json' })).json;
    t.false('bad' in json);
    t.deepEqual(await proxyDataPlaneProblems(p), []);
  });
}

test('reloads HAProxy refuses cost no request: the old workers serve on, the culprit is named with its haproxy.cfg line, the next reload works', async (t) => {
  const { cliCommand } = await import('../../src/adapters/haproxy/cli.js');
  const p = await start();
  t.is((await p.api('reconfigure', svc('steady', a, { servicePath: '/steady', timeoutServer: '20' }))).status, 200);
  let ok = 0;
  const errors: string[] = [];
  let running = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const worker = async (via: http.Agent | false) => {
    while (running) {
      try {
        const r = await request({ port: p.httpPort, path: '/steady', agent: via });
        if (r.status === 200) ok++;
        else errors.push(`status ${r.status}`);
      } catch (e) {
        errors.push((e as NodeJS.ErrnoException).code ?? String(e));
      }
    }
  };
  const workers = [...Array.from({ length: 8 }, () => worker(agent)), ...Array.from({ length: 2 }, () => worker(false))];
  for (let i = 0; i < 8; i++) {
    const refused = await p.api('reconfigure', svc(`broken-${i}`, b, { servicePath: `/broken/${i}`, timeoutServer: '9', backendExtra: 'option no-such-option' }));
    t.is(refused.status, 400);
    t.regex(String(refused.json.Message), new RegExp(`"broken-${i}".*\\[haproxy\\.cfg:\\d+\\].*no-such-option`));
    // The refusal was HAProxy's master's own (it counts failed reloads until one succeeds).
    const proc = await cliCommand(path.join(p.dataDir, 'haproxy', 'run', 'master.sock'), 'show proc');
    t.regex(proc, /master\s+\d+ \[failed: 1\]/, proc);
    const good = await p.api('reconfigure', svc('steady', a, { servicePath: '/steady', timeoutServer: String(21 + i) }));
    t.is((good.json.Applied as { Kind: string }).Kind, 'reload', 'the next reload works');
  }
  running = false;
  await Promise.all(workers);
  agent.destroy();
  t.deepEqual(errors, []);
  t.true(ok > 100, `${ok} requests served`);
  t.regex(fs.readFileSync(path.join(p.dataDir, 'haproxy', 'haproxy.cfg'), 'utf8'), /timeout server 28s/, 'the live files are the last good ones');
  t.notRegex(fs.readFileSync(path.join(p.dataDir, 'haproxy', 'haproxy.cfg'), 'utf8'), /no-such-option/);
  const json = (await p.api('config', { type: 'json' })).json;
  t.deepEqual(Object.keys(json).filter((k) => k.startsWith('broken')), [], 'a refused call stores nothing');
  t.deepEqual(await proxyDataPlaneProblems(p), []);
});

test('a change that passes haproxy -c but cannot start (its port is taken) is a 400 naming the service; HAProxy keeps serving and the next reload works', async (t) => {
  const p = await start();
  // `haproxy -c` binds nothing, so only the reload finds out that another process holds the port.
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const taken = (squatter.address() as net.AddressInfo).port;
  try {
    t.is((await p.api('reconfigure', svc('web', a, { servicePath: '/web' }))).status, 200);
    const refused = await p.api('reconfigure', svc('tcp-squatted', b, { reqMode: 'tcp', srcPort: String(taken) }));
    t.is(refused.status, 400);
    t.regex(String(refused.json.Message), /"tcp-squatted".*Address already in use/);
    t.is(answeredBy(await p.get('/web')), 'a', 'the running HAProxy kept serving');
    t.false('tcp-squatted' in (await p.api('config', { type: 'json' })).json);
    const next = await p.api('reconfigure', svc('web', a, { servicePath: '/web', setResHeader: 'X-After refused' }));
    t.is(next.status, 200);
    t.is((next.json.Applied as { Kind: string }).Kind, 'reload');
    const res = await p.get('/web');
    t.is(answeredBy(res), 'a');
    t.is(res.headers['x-after'], 'refused');
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});

test('quarantine at start: a stored service HAProxy refuses is listed with its reason, the others are live', async (t) => {
  const dataDir = tempDir('fp-quar-');
  await new FileStore(dataDir).save({
    version: 1,
    services: [
      { owner: 'api', params: { serviceName: 'fine', servicePath: '/fine', port: String(a.port), outboundHostname: '127.0.0.1' } },
      { owner: 'api', params: { serviceName: 'broken', servicePath: '/broken', port: String(b.port), outboundHostname: '127.0.0.1', backendExtra: 'option no-such-option' } },
      { owner: 'api', params: { serviceName: 'unparsable', servicePath: 'no-slash', port: 'x' } },
    ],
  });
  const p = await start({ dataDir });
  t.is(answeredBy(await p.get('/fine')), 'a');
  t.is((await p.get('/broken')).status, 503);
  const json = (await p.api('config', { type: 'json' })).json as Record<string, { State: string; Reason?: string }>;
  t.is(json.fine?.State, 'live');
  t.is(json.broken?.State, 'quarantined');
  t.regex(json.broken?.Reason ?? '', /no-such-option/);
  const services = (await p.api('services')).json as { Quarantined: Array<{ ServiceName: string; Reason: string }> };
  t.deepEqual(services.Quarantined.map((q) => q.ServiceName).sort(), ['broken', 'unparsable']);
  // Nothing is lost: both stay in the store until someone fixes or removes them.
  await p.stop();
  const stored = await new FileStore(dataDir).load();
  t.deepEqual(stored?.services.map((s) => s.params.serviceName).sort(), ['broken', 'fine', 'unparsable']);
  // A fixed version applies and leaves quarantine.
  const again = await start({ dataDir, apiPort: p.apiPort, httpPort: p.httpPort });
  t.is((await again.api('reconfigure', svc('broken', b, { servicePath: '/broken' }))).status, 200);
  t.is(answeredBy(await again.get('/broken')), 'b');
});

test('zero failed requests over 60 reloads under keep-alive and new-connection load', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', svc('load', a, { servicePath: '/load' }))).status, 200);
  let ok = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  let running = true;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const worker = async (agent: http.Agent | false) => {
    while (running) {
      try {
        const r = await request({ port: p.httpPort, path: '/load', agent });
        if (r.status === 200) ok++;
        else {
          failed++;
          errors.set(`status ${r.status}`, (errors.get(`status ${r.status}`) ?? 0) + 1);
        }
      } catch (e) {
        failed++;
        const key = (e as NodeJS.ErrnoException).code ?? String(e);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  };
  const workers = [...Array.from({ length: 16 }, () => worker(keepAlive)), ...Array.from({ length: 4 }, () => worker(false))];
  let reloads = 0;
  for (let i = 0; i < 60; i++) {
    // Alternate a timeout so every call changes a backend option: a real reload each time.
    const r = await p.api('reconfigure', svc('load', a, { servicePath: '/load', timeoutServer: String(20 + (i % 2)) }));
    if ((r.json.Applied as { Kind: string } | undefined)?.Kind === 'reload') reloads++;
  }
  running = false;
  await Promise.all(workers);
  keepAlive.destroy();
  t.is(reloads, 60);
  t.true(ok > 500, `${ok} requests served`);
  t.is(failed, 0, `errors: ${JSON.stringify([...errors])}`);
  t.log(`${ok} requests, ${failed} failed, ${reloads} reloads`);
});

test('a reload never restores runtime maintenance, drain or weight onto a server the desired state says serves; health and addresses still carry over', async (t) => {
  const { cliCommand } = await import('../../src/adapters/haproxy/cli.js');
  const p = await start();
  t.is((await p.api('reconfigure', svc('stateful', a, { servicePath: '/stateful', timeoutServer: '11' }))).status, 200);
  const admin = path.join(p.dataDir, 'haproxy', 'run', 'admin.sock');
  const backend = 'stateful-be' + String(a.port) + '_0';
  const server = serverName(`127.0.0.1:${a.port}`);
  t.is((await cliCommand(admin, `set server ${backend}/${server} state drain`)).trim(), '');
  t.is((await cliCommand(admin, `set weight ${backend}/${server} 0`)).trim(), '');
  const reload = await p.api('reload', { recreate: 'true' });
  t.is((reload.json.Applied as { Kind: string }).Kind, 'reload');
  const state = await cliCommand(admin, `show servers state ${backend}`);
  const fields = state.split('\n').find((l) => l.includes(` ${backend} `) && l.includes(` ${server} `))?.trim().split(/\s+/) ?? [];
  // srv_admin_state (field 7) has neither forced maintenance (0x01) nor drain (0x08); srv_uweight (8) is the configured weight.
  t.is(Number(fields[6]) & 0x09, 0, state);
  t.is(fields[7], fields[8], state);
  t.is(answeredBy(await p.get('/stateful')), 'a');
  t.deepEqual(await proxyDataPlaneProblems(p), []);
});
