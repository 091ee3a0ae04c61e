/**
 * Benchmark 5, data plane: wrk req/s straight to one Node backend, through
 * HAProxy with 10 routes, and through HAProxy with 10,000 routes for the
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
import { plainServices, startBenchProxy } from './support/proxy.js';
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

runBench('dataPlane', async () => {
  const backend = await spawnBackend('a');
  progress(`starting flow-proxy with ${ROUTES} services and one with 10`);
  const big = await startBenchProxy({ services: plainServices(ROUTES, backend.port) });
  const small = await startBenchProxy({ services: plainServices(10, backend.port) });
  const ends = mapEnds(path.join(big.dataDir, 'haproxy', 'maps', 'path_prefix.map'));
  const smallEnds = mapEnds(path.join(small.dataDir, 'haproxy', 'maps', 'path_prefix.map'));
  const cases = [
    { name: 'direct to the backend', url: `http://127.0.0.1:${backend.port}/x` },
    { name: `HAProxy, 10 routes, last route (${smallEnds.last})`, url: `http://127.0.0.1:${small.httpPort}${smallEnds.last}/x` },
    { name: `HAProxy, ${ends.entries} routes, first route (${ends.first})`, url: `http://127.0.0.1:${big.httpPort}${ends.first}/x` },
    { name: `HAProxy, ${ends.entries} routes, last route (${ends.last})`, url: `http://127.0.0.1:${big.httpPort}${ends.last}/x` },
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
  const [direct, smallLast, first, last] = cases.map((c) => c.name) as [string, string, string, string];
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
  console.log(`\nlast ÷ first route at ${ends.entries} routes: ${lastFirst.toFixed(2)} (target ≥ 0.9: ${lastFirst >= 0.9 ? 'met' : 'MISSED'})`);
  console.log(`last route at ${ends.entries} routes ÷ 10 routes: ${ratio(last, smallLast).toFixed(2)}`);
  console.log(`proxied (first route, ${ends.entries} routes) ÷ direct: ${ratio(first, direct).toFixed(2)}; proxied (10 routes) ÷ direct: ${ratio(smallLast, direct).toFixed(2)}`);
  console.log(`\nRESULT ${JSON.stringify({
    bench: 'dataPlane',
    at: new Date().toISOString(),
    routes: ends.entries,
    cases: cases.map((c) => ({ name: c.name, url: c.url, runs: (results.get(c.name) ?? []).map((r) => ({ ...r, raw: undefined })) })),
    lastOverFirst: lastFirst,
  })}`);
  await big.stop();
  await small.stop();
});
