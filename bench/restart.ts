/**
 * A restart with stored services: flow-proxy stopped cleanly (SIGTERM), then
 * started again on the same data directory and ports, as an upgrade or a
 * host reboot does. Measures, from the spawn, when the first route is served
 * through HAProxy (polled every 5 ms) and when the API answers `/ping`
 * (ready: every stored service live). The first start on a new data
 * directory (no files of an earlier run) is measured beside it.
 *
 *   BENCH_SIZES=10,10000 BENCH_REPEAT=3 node dist/bench/restart.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runBench, progress, track } from './support/cleanup.js';
import { startFastBackend } from './support/backend.js';
import { plainServices, startBenchProxy } from './support/proxy.js';
import { request } from '../test/support/http.js';
import { envInt, envInts, summarize, table } from './support/stats.js';

const SIZES = envInts('BENCH_SIZES', [10, 10000]);
const REPEAT = envInt('BENCH_REPEAT', 3);

/** A start on this data directory: ms to the API answering and, with httpPort, to the first routed answer. */
async function timedStart(options: Parameters<typeof startBenchProxy>[0], route: string, httpPort?: number) {
  const t0 = performance.now();
  let servedMs = Number.NaN;
  const deadline = Date.now() + 600_000;
  const poll = (async () => {
    while (httpPort !== undefined && Date.now() < deadline) {
      const res = await request({ port: httpPort, path: route, timeoutMs: 1000 }).catch(() => undefined);
      if (res?.status === 200) {
        servedMs = performance.now() - t0;
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const proxy = await startBenchProxy(options);
  const readyMs = performance.now() - t0;
  await poll; // once the API answers, the route is served: the poll ends at its next try
  return { proxy, readyMs, servedMs };
}

runBench('restart', async () => {
  const backend = await startFastBackend('a');
  const rows: Array<{ size: number; firstStartMs: number; readyMs: number[]; servedMs: number[]; reloadsAtRestart: number[] }> = [];
  for (const size of SIZES) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fp-restart-'));
    const forget = track(`data dir ${dataDir}`, () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const services = plainServices(size, backend.port);
    const route = `${services[0]?.servicePath as string}/x`;
    const first = await timedStart({ services, dataDir }, route);
    const ports = { apiPort: first.proxy.apiPort, httpPort: first.proxy.httpPort };
    await first.proxy.stop();
    const readyMs: number[] = [];
    const servedMs: number[] = [];
    const reloadsAtRestart: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const again = await timedStart({ dataDir, ...ports }, route, ports.httpPort);
      readyMs.push(again.readyMs);
      servedMs.push(again.servedMs);
      reloadsAtRestart.push((await again.proxy.haproxy()).reloads);
      await again.proxy.stop();
    }
    rows.push({ size, firstStartMs: first.readyMs, readyMs, servedMs, reloadsAtRestart });
    progress(`size ${size}: first start ${first.readyMs.toFixed(0)} ms; restarts ready ${readyMs.map((x) => x.toFixed(0)).join(', ')} ms, first route served ${servedMs.map((x) => x.toFixed(0)).join(', ')} ms`);
    await forget();
  }
  console.log(`# Restart with stored services (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
  console.log(table(
    ['services', 'first start, ready', 'restart, first route served (median)', 'restart, ready (median)', 'restart, ready (max)', 'HAProxy reloads at a restart'],
    rows.map((r) => [r.size, r.firstStartMs, summarize(r.servedMs).median, summarize(r.readyMs).median, summarize(r.readyMs).max, r.reloadsAtRestart.join(', ')]),
  ));
  console.log(`\nRESULT ${JSON.stringify({ bench: 'restart', at: new Date().toISOString(), repeat: REPEAT, rows })}`);
});
