/**
 * Benchmark 5, data plane: wrk req/s straight to one Node backend, through
 * HAProxy with 10 routes, for a service rendered at a reload beside one added
 * at run time (spare backend, `add server`), and through HAProxy with 10,000
 * routes (restored from a state file, and registered through the API) for the
 * first and the last route of the path map. Rounds are interleaved so that
 * noise from other jobs spreads over every case.
 *
 *   node dist/bench/dataPlane.js
 *   BENCH_ROUTES=10000 BENCH_ROUNDS=3 BENCH_DURATION=8 node dist/bench/dataPlane.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runBench, progress } from './support/cleanup.js';
import { spawnBackend } from './support/backend.js';
import { plainServices, startBenchProxy, type BenchProxy, type Params } from './support/proxy.js';
import { envInt, median, table } from './support/stats.js';
import { socketErrors, wrk, type WrkResult } from './support/wrk.js';

const ROUTES = envInt('BENCH_ROUTES', 10000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const DURATION = envInt('BENCH_DURATION', 8);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 50);
const THREADS = envInt('BENCH_THREADS', 2);

/** The first and last keys of a map file as HAProxy loaded it. */
function mapEnds(file: string): { first: string; last: string; entries: number } {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const key = (l: string | undefined) => (l ?? '').split(/\s+/)[0] as string;
  return { first: key(lines[0]), last: key(lines[lines.length - 1]), entries: lines.length };
}

/** Registers services through the API, `concurrency` calls at a time (as a listener's burst would). */
async function registerThroughApi(proxy: BenchProxy, services: Params[], concurrency = 64): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < services.length) {
      const params = services[next++] as Params;
      const r = await proxy.api('reconfigure', params, { timeoutMs: 600_000 });
      if (r.status !== 200) throw new Error(`reconfigure ${params.serviceName}: ${r.status} ${r.body}`);
    }
  }));
}

runBench('dataPlane', async () => {
  const backend = await spawnBackend('a');
  // 10,000 health-checked servers would send the one bench backend 2,000 checks a second; routing is measured here.
  const quiet = { HEALTH_CHECKS: 'false' };
  progress(`starting flow-proxy with ${ROUTES} services restored from a state file, and one with 10`);
  const big = await startBenchProxy({ services: plainServices(ROUTES, backend.port), env: quiet });
  const small = await startBenchProxy({});
  await registerThroughApi(small, plainServices(10, backend.port));
  // The same service made live two ways: rendered at a reload (its own backend: timeoutServer), and added
  // without a reload (a plain service: a spare backend and a server added through the runtime API).
  const stat = await small.api('reconfigure', { serviceName: 'stat', servicePath: '/stat', port: String(backend.port), outboundHostname: '127.0.0.1', timeoutServer: '25' });
  const dyn = await small.api('reconfigure', { serviceName: 'dyn', servicePath: '/dyn', port: String(backend.port), outboundHostname: '127.0.0.1' });
  const kinds = [stat, dyn].map((r) => (r.json.Applied as { Kind?: string } | undefined)?.Kind);
  if (kinds[0] !== 'reload' || kinds[1] !== 'runtime') throw new Error(`expected /stat by reload and /dyn at run time, got ${kinds.join(', ')}`);
  progress(`starting flow-proxy and registering ${ROUTES} services through the API`);
  const viaApi = await startBenchProxy({ env: quiet });
  const registered = performance.now();
  await registerThroughApi(viaApi, plainServices(ROUTES, backend.port, 'api'));
  progress(`${ROUTES} services registered through the API in ${((performance.now() - registered) / 1000).toFixed(1)} s`);
  const ends = mapEnds(path.join(big.dataDir, 'haproxy', 'maps', 'path_prefix.map'));
  const smallEnds = mapEnds(path.join(small.dataDir, 'haproxy', 'maps', 'path_prefix.map'));
  const apiEnds = mapEnds(path.join(viaApi.dataDir, 'haproxy', 'maps', 'path_prefix.map'));
  const cases = [
    { name: 'direct to the backend', url: `http://127.0.0.1:${backend.port}/x` },
    { name: `HAProxy, 10 routes, last route (${smallEnds.last})`, url: `http://127.0.0.1:${small.httpPort}${smallEnds.last}/x` },
    { name: 'HAProxy, rendered at a reload (/stat)', url: `http://127.0.0.1:${small.httpPort}/stat/x` },
    { name: 'HAProxy, added at run time (/dyn)', url: `http://127.0.0.1:${small.httpPort}/dyn/x` },
    { name: `HAProxy, ${ends.entries} routes restored, first route (${ends.first})`, url: `http://127.0.0.1:${big.httpPort}${ends.first}/x` },
    { name: `HAProxy, ${ends.entries} routes restored, last route (${ends.last})`, url: `http://127.0.0.1:${big.httpPort}${ends.last}/x` },
    { name: `HAProxy, ${apiEnds.entries} routes via the API, first route (${apiEnds.first})`, url: `http://127.0.0.1:${viaApi.httpPort}${apiEnds.first}/x` },
    { name: `HAProxy, ${apiEnds.entries} routes via the API, last route (${apiEnds.last})`, url: `http://127.0.0.1:${viaApi.httpPort}${apiEnds.last}/x` },
  ];
  for (const c of cases.slice(1)) {
    const r = await fetch(c.url);
    if ((await r.text()) !== 'a\n') throw new Error(`${c.url} is not routed to the backend (${r.status})`);
  }
  const results = new Map<string, WrkResult[]>(cases.map((c) => [c.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of cases) {
      progress(`round ${round}/${ROUNDS}: ${c.name}`);
      results.get(c.name)?.push(await wrk({ url: c.url, threads: THREADS, connections: CONNECTIONS, durationS: DURATION }));
    }
  }
  const med = (name: string, f: (r: WrkResult) => number) => median((results.get(name) ?? []).map(f));
  const [direct, smallLast, rendered, runtime, first, last, apiFirst, apiLast] = cases.map((c) => c.name) as [string, string, string, string, string, string, string, string];
  console.log(`# Data plane (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}s, keep-alive, ${ROUNDS} interleaved rounds, median (min–max); wrk, HAProxy and the backend share the machine\n`);
  console.log(table(
    ['case', 'req/s median', 'req/s range', 'p50 (ms)', 'p99 (ms)', 'errors'],
    cases.map((c) => {
      const rs = results.get(c.name) ?? [];
      const rps = rs.map((r) => r.reqPerSec);
      return [c.name, med(c.name, (r) => r.reqPerSec), `${Math.round(Math.min(...rps))}–${Math.round(Math.max(...rps))}`, med(c.name, (r) => r.p50Ms), med(c.name, (r) => r.p99Ms), rs.reduce((s, r) => s + socketErrors(r) + r.non2xx3xx, 0)];
    }),
  ));
  const ratio = (a: string, b: string) => med(a, (r) => r.reqPerSec) / med(b, (r) => r.reqPerSec);
  const lastFirst = ratio(last, first);
  const runtimeRendered = ratio(runtime, rendered);
  const apiLastFirst = ratio(apiLast, apiFirst);
  // Per round, so that a noisy round shows: each ratio compares two cases measured back to back.
  const perRound = (a: string, b: string) => (results.get(a) ?? []).map((r, i) => (r.reqPerSec / ((results.get(b) ?? [])[i]?.reqPerSec ?? 1)).toFixed(2)).join(' ');
  console.log(`\nadded at run time ÷ rendered at a reload: ${runtimeRendered.toFixed(2)} (rounds ${perRound(runtime, rendered)}; target ≥ 0.9: ${runtimeRendered >= 0.9 ? 'met' : 'MISSED'})`);
  console.log(`last ÷ first route, ${apiEnds.entries} routes registered through the API: ${apiLastFirst.toFixed(2)} (rounds ${perRound(apiLast, apiFirst)}; target ≥ 0.9: ${apiLastFirst >= 0.9 ? 'met' : 'MISSED'})`);
  console.log(`last ÷ first route, ${ends.entries} routes restored from the state file: ${lastFirst.toFixed(2)} (target ≥ 0.9: ${lastFirst >= 0.9 ? 'met' : 'MISSED'})`);
  console.log(`last route at ${ends.entries} routes ÷ 10 routes: ${ratio(last, smallLast).toFixed(2)}`);
  console.log(`proxied (first route, ${ends.entries} routes) ÷ direct: ${ratio(first, direct).toFixed(2)}; proxied (10 routes) ÷ direct: ${ratio(smallLast, direct).toFixed(2)}`);
  console.log(`\nRESULT ${JSON.stringify({
    bench: 'dataPlane',
    at: new Date().toISOString(),
    routes: ends.entries,
    cases: cases.map((c) => ({ name: c.name, url: c.url, runs: (results.get(c.name) ?? []).map((r) => ({ ...r, raw: undefined })) })),
    lastOverFirst: lastFirst,
    runtimeOverRendered: runtimeRendered,
    apiLastOverFirst: apiLastFirst,
  })}`);
  await big.stop();
  await small.stop();
  await viaApi.stop();
});
