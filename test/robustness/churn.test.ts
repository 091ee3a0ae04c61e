import fs from 'node:fs';
import http from 'node:http';
import test from 'ava';
import { FileStore } from '../../src/adapters/store/fileStore.js';
import { startBackend, type Backend } from '../support/backend.js';
import { request } from '../support/http.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { recordFigure } from '../support/figures.js';
import { haproxyWorkers } from '../support/processes.js';
import { proxyDataPlaneProblems } from '../support/dataPlaneCheck.js';

// Sustained reconfigure/remove churn from many clients while traffic flows to
// routes that are never changed. Bounded: CHURN_SECONDS (default 150).
const SECONDS = Number(process.env.CHURN_SECONDS ?? 150);
const CLIENTS = 16;
const SERVICES_PER_CLIENT = 6;
const STABLE = 20;

let a: Backend;
let b: Backend;
let proxy: FlowProxy;

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
  proxy = await startFlowProxy({ env: { SPARE_BACKENDS: '16' } });
});

test.after.always(async () => {
  await proxy?.cleanup();
  await a?.close();
  await b?.close();
});

function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}


test('churn for minutes: unchanged routes never fail, the final state is the last write, memory stays flat, no workers pile up', async (t) => {
  t.timeout((SECONDS + 120) * 1000);
  for (let i = 0; i < STABLE; i++) {
    const r = await proxy.api('reconfigure', { serviceName: `stable-${i}`, servicePath: `/stable/${i}`, port: String(a.port), outboundHostname: '127.0.0.1' });
    t.is(r.status, 200);
  }
  const deadline = Date.now() + SECONDS * 1000;
  let running = true;

  // Traffic to the stable routes: keep-alive and new connections.
  const traffic = { served: 0, failed: 0 };
  const failures = new Map<string, number>();
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const loaders = Array.from({ length: 10 }, async (_, i) => {
    while (running) {
      try {
        const r = await request({ port: proxy.httpPort, path: `/stable/${(i * 7 + traffic.served) % STABLE}/x`, agent: i < 6 ? keepAlive : false, timeoutMs: 10_000 });
        if (r.status === 200) traffic.served++;
        else {
          traffic.failed++;
          failures.set(`status ${r.status}`, (failures.get(`status ${r.status}`) ?? 0) + 1);
        }
      } catch (e) {
        traffic.failed++;
        const key = (e as NodeJS.ErrnoException).code ?? String(e);
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
    }
  });

  // Churners: each owns its services, so the last write of a service is well defined.
  const last = new Map<string, { op: 'upsert' | 'remove'; params?: Record<string, string> }>();
  const ops = { upserts: 0, removes: 0, rejected: 0, runtime: 0, reload: 0, none: 0 };
  const churners = Array.from({ length: CLIENTS }, async (_, c) => {
    let n = 0;
    while (Date.now() < deadline) {
      const name = `churn-${c}-${n % SERVICES_PER_CLIENT}`;
      const roll = (n * 7919 + c * 104729) % 10;
      n++;
      if (roll < 3) {
        const r = await proxy.api('remove', { serviceName: name });
        if (r.status === 200) {
          last.set(name, { op: 'remove' });
          ops.removes++;
        } else ops.rejected++;
        continue;
      }
      const params: Record<string, string> = {
        serviceName: name,
        servicePath: `/churn/${c}/${n % 3}`,
        port: String(roll % 2 ? a.port : b.port),
        outboundHostname: '127.0.0.1',
        ...(roll >= 8 && { timeoutServer: String(10 + (n % 5)) }),
      };
      const r = await proxy.api('reconfigure', params);
      if (r.status === 200) {
        last.set(name, { op: 'upsert', params });
        ops.upserts++;
        const kind = (r.json.Applied as { Kind?: 'runtime' | 'reload' | 'none' } | undefined)?.Kind;
        if (kind) ops[kind]++;
      } else ops.rejected++;
    }
  });

  // Samples: control-plane memory and HAProxy workers.
  const rss: number[] = [];
  let maxWorkers = 0;
  const sampler = (async () => {
    while (running) {
      rss.push(Math.round(rssOf(proxy.child.pid as number) / (1024 * 1024)));
      maxWorkers = Math.max(maxWorkers, haproxyWorkers(proxy.dataDir));
      await new Promise((r) => setTimeout(r, 5000));
    }
  })();

  await Promise.all(churners);
  running = false;
  await Promise.all([...loaders, sampler]);
  keepAlive.destroy();

  // The final state is the last write of every service, stored and live.
  const stored = await new FileStore(proxy.dataDir).load();
  const storedBy = new Map((stored?.services ?? []).map((s) => [s.params.serviceName as string, s.params]));
  let mismatched = 0;
  for (const [name, w] of last) {
    const s = storedBy.get(name);
    if (w.op === 'remove' ? s !== undefined : JSON.stringify(s) !== JSON.stringify(Object.fromEntries(Object.entries(w.params ?? {}).sort()))) mismatched++;
  }
  const live = (await proxy.api('config', { type: 'json' })).json;
  const liveMismatch = [...last].filter(([name, w]) => (w.op === 'remove') === name in live).length;
  await new Promise((r) => setTimeout(r, 1000));
  const workersAtEnd = haproxyWorkers(proxy.dataDir);
  const third = Math.max(1, Math.floor(rss.length / 3));
  const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const early = avg(rss.slice(1, 1 + third));
  const late = avg(rss.slice(-third));

  t.log(`churn ${SECONDS}s: ${ops.upserts} upserts, ${ops.removes} removes (${ops.runtime} runtime, ${ops.reload} reload), traffic ${traffic.served} ok / ${traffic.failed} failed, RSS MB ${rss.join(' ')}, workers max ${maxWorkers} end ${workersAtEnd}`);
  recordFigure('churn', {
    seconds: SECONDS, clients: CLIENTS, upserts: ops.upserts, removes: ops.removes, rejected: ops.rejected, appliedRuntime: ops.runtime, appliedReload: ops.reload,
    requestsServed: traffic.served, requestsFailed: traffic.failed, stateMismatches: mismatched, liveMismatches: liveMismatch,
    rssMbSamples: rss, maxOldWorkers: maxWorkers, workersAtEnd,
  });
  t.is(traffic.failed, 0, JSON.stringify([...failures]));
  t.true(traffic.served > 1000);
  t.is(ops.rejected, 0);
  t.is(mismatched, 0, 'stored state = last write');
  t.is(liveMismatch, 0, 'live state = last write');
  t.deepEqual(await proxyDataPlaneProblems(proxy), [], 'HAProxy runs exactly the servers of the live config');
  t.true(late <= early * 1.5 + 20, `RSS early ${early} MB, late ${late} MB`);
  t.true(maxWorkers <= 12, `at most ${maxWorkers} workers at once`);
  t.true(workersAtEnd <= 3, `${workersAtEnd} workers after the churn`);
});
