/**
 * What HAProxy's thread count costs a reload with thousands of services: for
 * each NBTHREAD, a real flow-proxy with BENCH_SIZE stored services is reloaded
 * (`/reload`: the same files again) BENCH_ITER times, and the master's CPU
 * time for each reload is read from /proc (it parses the whole config and
 * builds its Lua tables once per Lua state, one state per thread), with the
 * time to the API's answer. Thread counts are alternated BENCH_PASSES times.
 *
 *   BENCH_SIZE=10000 BENCH_THREADS=1,2,4,8 BENCH_ITER=5 BENCH_PASSES=2 node dist/bench/haproxyThreads.js
 */
import os from 'node:os';
import { runBench, progress } from './support/cleanup.js';
import { startFastBackend } from './support/backend.js';
import { apiAgent, cpuSeconds, plainServices, startBenchProxy } from './support/proxy.js';
import { envInt, envInts, fmt, median, table } from './support/stats.js';

const SIZE = envInt('BENCH_SIZE', 10000);
const THREADS = envInts('BENCH_THREADS', [1, 2, 4, 8]);
const ITER = envInt('BENCH_ITER', 5);
const PASSES = envInt('BENCH_PASSES', 2);

runBench('haproxyThreads', async () => {
  const backend = await startFastBackend('a');
  const samples = new Map<number, { cpu: number[]; wall: number[] }>(THREADS.map((n) => [n, { cpu: [], wall: [] }]));
  for (let pass = 1; pass <= PASSES; pass++) {
    for (const threads of THREADS) {
      const proxy = await startBenchProxy({ services: plainServices(SIZE, backend.port), env: { NBTHREAD: String(threads) } });
      const agent = apiAgent();
      const into = samples.get(threads) as { cpu: number[]; wall: number[] };
      try {
        for (let i = 0; i < ITER; i++) {
          const { masterPid } = await proxy.haproxy();
          const before = cpuSeconds(masterPid);
          const t0 = performance.now();
          const r = await proxy.api('reload', {}, { agent });
          const wall = performance.now() - t0;
          if (r.status !== 200) throw new Error(`reload answered ${r.status}: ${r.body}`);
          const { masterPid: after } = await proxy.haproxy();
          if (after !== masterPid) throw new Error(`the master changed (${masterPid} -> ${after}): not a reload`);
          into.cpu.push(cpuSeconds(masterPid) - before);
          into.wall.push(wall);
        }
        progress(`pass ${pass}, NBTHREAD=${threads}: master CPU ${into.cpu.slice(-ITER).map((s) => s.toFixed(2)).join(' ')} s`);
      } finally {
        agent.destroy();
        await proxy.stop();
      }
    }
  }
  const base = samples.get(THREADS[0] as number) as { cpu: number[]; wall: number[] };
  const rows = THREADS.map((n) => {
    const s = samples.get(n) as { cpu: number[]; wall: number[] };
    return [String(n), fmt(median(s.cpu), 2), `×${fmt(median(s.cpu) / median(base.cpu), 2)}`, fmt(median(s.wall)), `×${fmt(median(s.wall) / median(base.wall), 2)}`];
  });
  console.log(`# HAProxy threads and a reload at ${SIZE} services (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  console.log(`medians of ${ITER * PASSES} reloads per thread count (the same files again), ratios to NBTHREAD=${THREADS[0]}\n`);
  console.log(table(['NBTHREAD', "master's CPU per reload (s)", 'ratio', 'reload answered (ms)', 'ratio'], rows));
  console.log(`RESULT ${JSON.stringify({ bench: 'haproxyThreads', at: new Date().toISOString(), size: SIZE, iterations: ITER, passes: PASSES, results: Object.fromEntries([...samples].map(([n, s]) => [n, { cpuSeconds: s.cpu, wallMs: s.wall }])) })}`);
  await backend.close();
});
