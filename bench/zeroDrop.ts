/**
 * Benchmark 3, zero drop: two wrk clients push load through HAProxy at the
 * same time, one on keep-alive connections and one opening a new connection
 * per request (`Connection: close`), while 200 changes that force a reload
 * (a backend option toggled) are applied one after the other. Counts failed
 * requests (non-2xx/3xx) and socket errors, which must all be 0, and
 * watches how many HAProxy workers coexist.
 *
 *   node dist/bench/zeroDrop.js
 *   BENCH_RELOADS=200 BENCH_CONNECTIONS=50 BENCH_THREADS=2 node dist/bench/zeroDrop.js
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { runBench, progress } from './support/cleanup.js';
import { spawnBackend } from './support/backend.js';
import { apiAgent, plainServices, startBenchProxy } from './support/proxy.js';
import { envInt, summarize, table } from './support/stats.js';
import { socketErrors, wrk, type WrkResult } from './support/wrk.js';

const RELOADS = envInt('BENCH_RELOADS', 200);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 50);
const THREADS = envInt('BENCH_THREADS', 2);
const EXISTING = envInt('BENCH_EXISTING', 10);

runBench('zeroDrop', async () => {
  const backend = await spawnBackend('load');
  const svc = (timeout: number) => ({ serviceName: 'load', servicePath: '/load', port: String(backend.port), outboundHostname: '127.0.0.1', timeoutServer: String(timeout) });
  const proxy = await startBenchProxy({ services: [...plainServices(EXISTING, backend.port), svc(20)] });
  const agent = apiAgent(2);
  const url = `http://127.0.0.1:${proxy.httpPort}/load`;
  const sanity = await proxy.get('/load');
  if (sanity.body !== 'load\n') throw new Error(`/load is not routed: ${sanity.status} ${sanity.body}`);

  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const longest = 900; // seconds; the runs are stopped with SIGINT when the changes are done
  const clients: Array<Promise<WrkResult>> = [
    wrk({ url, threads: THREADS, connections: CONNECTIONS, durationS: longest, until: done }),
    wrk({ url, threads: THREADS, connections: CONNECTIONS, durationS: longest, headers: ['Connection: close'], until: done }),
  ];
  // Their failures are reported where they are awaited; this keeps an early one from going unhandled.
  for (const c of clients) c.catch(() => undefined);
  try {
    await sleep(2000);
    const before = await proxy.haproxy();
    progress(`load running; applying ${RELOADS} changes that need a reload`);
    const durations: number[] = [];
    const kinds = new Map<string, number>();
    let failedCalls = 0;
    let maxWorkers = before.workers.length;
    let maxHaproxyRssMb = 0;
    const t0 = performance.now();
    for (let i = 0; i < RELOADS; i++) {
      const s = performance.now();
      const r = await proxy.api('reconfigure', svc(21 + (i % 2)), { agent });
      durations.push(performance.now() - s);
      if (r.status !== 200) failedCalls++;
      const kind = (r.json.Applied as { Kind?: string } | undefined)?.Kind ?? `status ${r.status}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      if (i % 10 === 9) {
        const h = await proxy.haproxy();
        maxWorkers = Math.max(maxWorkers, h.workers.length);
        maxHaproxyRssMb = Math.max(maxHaproxyRssMb, [h.master, ...h.workers].reduce((sum, m) => sum + (m?.rssMb ?? 0), 0));
      }
      if (i % 50 === 49) progress(`${i + 1} changes applied`);
    }
    const changesS = (performance.now() - t0) / 1000;
    const after = await proxy.haproxy();
    await sleep(2000);
    finish();
    const [ka, close] = (await Promise.all(clients)) as [WrkResult, WrkResult];
    const d = summarize(durations);

    console.log(`# Zero drop under ${RELOADS} reloads (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    console.log(`two wrk clients at once (-t${THREADS} -c${CONNECTIONS} each) through HAProxy to one Node backend process; ${RELOADS} reconfigure calls toggling timeoutServer, one after the other, over ${changesS.toFixed(1)} s\n`);
    console.log(table(
      ['client', 'requests', 'req/s', 'p50 (ms)', 'p99 (ms)', 'non-2xx/3xx', 'socket errors (connect/read/write/timeout)'],
      [ka, close].map((r, i) => [i === 0 ? 'keep-alive' : 'Connection: close', r.requests, r.reqPerSec, r.p50Ms, r.p99Ms, r.non2xx3xx, `${socketErrors(r)} (${r.errors.connect}/${r.errors.read}/${r.errors.write}/${r.errors.timeout})`]),
    ));
    const failed = ka.non2xx3xx + close.non2xx3xx + socketErrors(ka) + socketErrors(close);
    console.log(`\napplies: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}; HAProxy reloads (show proc): ${after.reloads - before.reloads}; failed reconfigure calls: ${failedCalls}`);
    console.log(`reconfigure call (change live) under load: median ${d.median.toFixed(0)} ms, p99 ${d.p99.toFixed(0)} ms`);
    console.log(`HAProxy workers alive at once (sampled every 10 changes): max ${maxWorkers}; HAProxy RSS (master + workers): max ${maxHaproxyRssMb.toFixed(0)} MB`);
    console.log(`failed requests + socket errors: ${failed} ${failed === 0 ? '(target 0: met)' : '(target 0: MISSED)'}`);
    console.log(`\nRESULT ${JSON.stringify({
      bench: 'zeroDrop',
      at: new Date().toISOString(),
      reloads: RELOADS,
      haproxyReloads: after.reloads - before.reloads,
      kinds: Object.fromEntries(kinds),
      failedCalls,
      changeSeconds: changesS,
      reconfigureMs: d,
      maxWorkers,
      maxHaproxyRssMb,
      keepAlive: { ...ka, raw: undefined },
      close: { ...close, raw: undefined },
      failed,
    })}`);
  } finally {
    finish();
    await Promise.allSettled(clients);
  }
});
