import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { FileStore } from '../../src/adapters/store/fileStore.js';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, request } from '../support/http.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { recordFigure } from '../support/figures.js';
import { tempDir } from '../support/tmp.js';

let a: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  a = await startBackend('a');
});

test.after.always(async () => {
  for (const p of [...proxies].reverse()) await p.cleanup();
  await a?.close();
});

async function start(options: Parameters<typeof startFlowProxy>[0] = {}) {
  const p = await startFlowProxy(options);
  proxies.push(p);
  return p;
}

const svc = (name: string, extra: Record<string, string> = {}) => ({ serviceName: name, port: String(a.port), outboundHostname: '127.0.0.1', ...extra });

/** Requests to one route in a loop until stopped; counts what was served and what failed. */
function load(port: number, route: string, keepAlive = true) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 4 }) : false;
  const counts = { served: 0, failed: 0 };
  let running = true;
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      try {
        const r = await request({ port, path: route, agent, timeoutMs: 5000 });
        if (r.status === 200) counts.served++;
        else counts.failed++;
      } catch {
        counts.failed++;
      }
    }
  });
  return {
    counts,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      if (agent) agent.destroy();
      return counts;
    },
  };
}

test.serial('SIGKILL of the control plane during applies: HAProxy keeps serving, no acknowledged route is lost, none is duplicated', async (t) => {
  const dataDir = tempDir('fp-kill-');
  // Enough services that a reload takes a while, so kills land inside applies.
  await new FileStore(dataDir).save({
    version: 1,
    services: Array.from({ length: 300 }, (_, i) => ({ owner: 'api' as const, params: { serviceName: `base-${i}`, servicePath: `/base/${i}`, port: String(a.port), outboundHostname: '127.0.0.1', timeoutServer: '30' } })),
  });
  let p = await start({ dataDir });
  const traffic = load(p.httpPort, '/base/7');
  const acknowledged = new Set<string>();
  const kills = 8;
  for (let k = 0; k < kills; k++) {
    // One change that is acknowledged, then one in flight when the kill comes.
    const done = await p.api('reconfigure', svc(`kept-${k}`, { servicePath: `/kept/${k}`, timeoutServer: String(10 + k) }));
    if (done.status === 200) acknowledged.add(`kept-${k}`);
    void p.api('reconfigure', svc(`inflight-${k}`, { servicePath: `/inflight/${k}`, timeoutServer: '5' })).catch(() => undefined);
    await sleep(5 + Math.floor(Math.random() * 120));
    await p.kill();
    p = await start({ dataDir, apiPort: p.apiPort, httpPort: p.httpPort });
  }
  const counts = await traffic.stop();
  const stored = await new FileStore(dataDir).load();
  const names = stored?.services.map((s) => s.params.serviceName as string) ?? [];
  const lost = [...acknowledged].filter((n) => !names.includes(n)).length + Array.from({ length: 300 }, (_, i) => `base-${i}`).filter((n) => !names.includes(n)).length;
  const duplicates = names.length - new Set(names).size;
  const json = (await p.api('config', { type: 'json' })).json;
  let unrouted = 0;
  for (const n of acknowledged) if (answeredBy(await p.get(`/kept/${n.split('-')[1]}`)) !== 'a') unrouted++;
  t.is(acknowledged.size, kills);
  t.is(lost, 0);
  t.is(duplicates, 0);
  t.is(unrouted, 0);
  t.is(Object.keys(json).length, names.length, 'what is stored is what is live');
  t.is(counts.failed, 0, `${counts.failed} failed of ${counts.served + counts.failed}`);
  t.true(counts.served > 100);
  recordFigure('sigkill-during-apply', { kills, acknowledgedChanges: acknowledged.size, routesLost: lost, duplicates, requestsServed: counts.served, requestsFailed: counts.failed });
});

test.serial('a killed HAProxy worker is brought back by the control plane; the loss is bounded and reported', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', svc('w', { servicePath: '/w' }))).status, 200);
  const before = load(p.httpPort, '/w', false);
  await sleep(300);
  const master = Number(fs.readFileSync(`${p.dataDir}/haproxy/run/haproxy.pid`, 'utf8'));
  const worker = Number(fs.readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/)[0]);
  const killedAt = Date.now();
  process.kill(worker, 'SIGKILL');
  await eventually(() => p.get('/w').catch(() => ({ status: 0, body: '', headers: {} })), (r) => r.status === 200, 15_000);
  const recoveredMs = Date.now() - killedAt;
  const during = await before.stop();
  // Once back, nothing fails.
  const after = load(p.httpPort, '/w', false);
  await sleep(1000);
  const afterCounts = await after.stop();
  const metrics = (await request({ port: p.apiPort, path: '/metrics' })).body;
  t.regex(metrics, /flowproxy_haproxy_recoveries_total\{what="[^"]+"\} [1-9]/, 'reported as a metric');
  t.true(recoveredMs < 3000, `recovered in ${recoveredMs} ms`);
  t.is(afterCounts.failed, 0);
  t.true(afterCounts.served > 50);
  recordFigure('haproxy-worker-killed', { recoveredMs, requestsServedAroundKill: during.served, requestsFailedAroundKill: during.failed, requestsServedAfter: afterCounts.served, requestsFailedAfter: afterCounts.failed });
});

test.serial('a truncated or garbage state file is restored from the backup, or start is refused; never an empty start', async (t) => {
  const p = await start();
  for (let i = 0; i < 5; i++) t.is((await p.api('reconfigure', svc(`s${i}`, { servicePath: `/s${i}` }))).status, 200);
  await p.stop();
  const file = path.join(p.dataDir, 'state.json');
  const good = fs.readFileSync(file, 'utf8');
  let restored = 0;
  let refused = 0;
  for (const damage of [good.slice(0, good.length / 2), '', 'garbage', good.replace('"s1"', '"sX"')]) {
    fs.writeFileSync(file, damage);
    const again = await start({ dataDir: p.dataDir });
    const names = Object.keys((await again.api('config', { type: 'json' })).json);
    t.true(names.length >= 4, `restored ${names.join(',')}`);
    restored++;
    await again.stop();
  }
  fs.writeFileSync(file, 'garbage');
  fs.writeFileSync(`${file}.bak`, 'garbage too');
  await t.throwsAsync(() => startFlowProxy({ dataDir: p.dataDir }), { message: /refusing to start with an empty registry/i });
  refused++;
  recordFigure('damaged-state-file', { damagesInjected: 5, restoredFromBackup: restored, refusedToStart: refused, startedEmpty: 0 });
});

test.serial('disk full while persisting: a change that cannot be stored is refused (507) with nothing changed; stored and live state stay equal', async (t) => {
  const mount = tempDir('fp-full-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
  try {
    const dataDir = path.join(mount, 'data');
    const p = await start({ dataDir });
    t.is((await p.api('reconfigure', svc('before', { servicePath: '/before' }))).status, 200);
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${path.join(mount, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // dd stops with ENOSPC: that is the point
    }
    let refused = 0;
    let accepted = 0;
    let inconsistent = 0;
    const changes = [
      svc('reload-new', { servicePath: '/reload-new', timeoutServer: '7' }),
      svc('plain-new', { servicePath: '/plain-new' }),
      svc('reload-new-2', { servicePath: '/reload-new-2', timeoutServer: '8' }),
    ];
    for (const change of changes) {
      const stateBefore = fs.existsSync(path.join(dataDir, 'state.json')) ? fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8') : '';
      const configBefore = (await p.api('config')).body;
      const r = await p.api('reconfigure', change);
      const live = (await p.get(String((change as Record<string, string>).servicePath))).status;
      if (r.status === 507) {
        refused++;
        t.regex(String(r.json.Message), /nothing was changed/);
        if (live !== 503) inconsistent++;
        if (fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8') !== stateBefore) inconsistent++;
        if ((await p.api('config')).body !== configBefore) inconsistent++;
      } else {
        // The store may find room by replacing its backup: then the change is stored and live.
        t.is(r.status, 200, r.body);
        accepted++;
        if (live !== 200) inconsistent++;
      }
      const stored = (await new FileStore(dataDir).load())?.services.map((x) => x.params.serviceName).sort();
      const json = Object.keys((await p.api('config', { type: 'json' })).json).sort();
      if (JSON.stringify(stored) !== JSON.stringify(json)) inconsistent++;
    }
    t.true(refused >= 1, `${refused} refused, ${accepted} accepted`);
    t.is(inconsistent, 0);
    t.is(answeredBy(await p.get('/before')), 'a');
    fs.rmSync(path.join(mount, 'filler'));
    t.is((await p.api('reconfigure', svc('after', { servicePath: '/after', timeoutServer: '7' }))).status, 200);
    t.is(answeredBy(await p.get('/after')), 'a');
    recordFigure('disk-full', { changesTried: changes.length, changesRefused: refused, changesAccepted: accepted, inconsistencies: inconsistent });
    await p.stop();
  } finally {
    execFileSync('umount', ['-l', mount]);
  }
});
