/**
 * Benchmark 2, burst: 1,000 concurrent reconfigure calls (new plain
 * services) against a running flow-proxy. Measures the time until every call
 * has answered (an answer means live), checks every route through HAProxy,
 * and counts applies and HAProxy reloads (from the master's `show proc`, not
 * from flow-proxy's own records).
 *
 *   node dist/bench/burst.js
 *   BENCH_BURST=1000 BENCH_RUNS=3 BENCH_EXISTING=10 node dist/bench/burst.js
 */
import os from 'node:os';
import { runBench, progress } from './support/cleanup.js';
import { startFastBackend, type FastBackend } from './support/backend.js';
import { apiAgent, plainServices, startBenchProxy } from './support/proxy.js';
import { envInt, median, summarize, table } from './support/stats.js';

const BURST = envInt('BENCH_BURST', 1000);
const RUNS = envInt('BENCH_RUNS', 3);
const EXISTING = envInt('BENCH_EXISTING', 10);

interface Run {
  run: number;
  allLiveMs: number;
  answerMedianMs: number;
  answerP99Ms: number;
  failedCalls: number;
  applies: number;
  runtimeApplies: number;
  reloadApplies: number;
  haproxyReloads: number;
  routedOk: number;
  checkMs: number;
  firstAnswerMs: number;
  /** The applies of the burst: kind, engine duration and reason. */
  detail: string[];
}

async function once(run: number, a: FastBackend, b: FastBackend): Promise<Run> {
  const proxy = await startBenchProxy({ services: plainServices(EXISTING, a.port, 'old') });
  const agent = apiAgent(BURST);
  try {
    const before = await proxy.haproxy();
    const appliesBefore = (await proxy.applies()).at(-1)?.Id ?? 0;
    const t0 = performance.now();
    const answers = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        proxy
          .api('reconfigure', { serviceName: `burst${i}`, servicePath: `/burst/${i}`, port: String(i % 2 ? a.port : b.port), outboundHostname: '127.0.0.1' }, { agent })
          .then((r) => ({ status: r.status, ms: performance.now() - t0, apply: (r.json.Applied as { Apply?: number } | undefined)?.Apply })),
      ),
    );
    const allLiveMs = performance.now() - t0;
    const after = await proxy.haproxy();
    const applies = (await proxy.applies()).filter((x) => x.Id > appliesBefore);
    // Every route must answer from its own backend.
    const c0 = performance.now();
    let routedOk = 0;
    for (let i = 0; i < BURST; i += 50) {
      const chunk = await Promise.all(
        Array.from({ length: Math.min(50, BURST - i) }, (_, k) => proxy.get(`/burst/${i + k}`).then((r) => r.body === ((i + k) % 2 ? 'a\n' : 'b\n'))),
      );
      routedOk += chunk.filter(Boolean).length;
    }
    const times = answers.map((x) => x.ms);
    const s = summarize(times);
    return {
      run,
      allLiveMs,
      answerMedianMs: s.median,
      answerP99Ms: s.p99,
      failedCalls: answers.filter((x) => x.status !== 200).length,
      applies: new Set(answers.map((x) => x.apply)).size,
      runtimeApplies: applies.filter((x) => x.Kind === 'runtime').length,
      reloadApplies: applies.filter((x) => x.Kind === 'reload').length,
      haproxyReloads: after.reloads - before.reloads,
      routedOk,
      checkMs: performance.now() - c0,
      firstAnswerMs: s.min,
      detail: applies.map((x) => `${x.Kind} ${Math.round(x.DurationMs)} ms (${x.Reason})`),
    };
  } finally {
    agent.destroy();
    await proxy.stop();
  }
}

runBench('burst', async () => {
  const a = await startFastBackend('a');
  const b = await startFastBackend('b');
  const runs: Run[] = [];
  for (let i = 1; i <= RUNS; i++) {
    progress(`run ${i}/${RUNS}: ${BURST} concurrent reconfigure calls on ${EXISTING} existing services`);
    runs.push(await once(i, a, b));
  }
  console.log(`# Burst of ${BURST} concurrent reconfigure calls (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  console.log(`${EXISTING} services existed before; each run uses a fresh flow-proxy (default SPARE_BACKENDS=32)\n`);
  console.log(table(
    ['run', 'all live (ms)', 'answer median (ms)', 'answer p99 (ms)', 'failed calls', 'applies', 'runtime / reload applies', 'HAProxy reloads (show proc)', 'routes answering'],
    runs.map((r) => [r.run, r.allLiveMs, r.answerMedianMs, r.answerP99Ms, r.failedCalls, r.applies, `${r.runtimeApplies} / ${r.reloadApplies}`, r.haproxyReloads, `${r.routedOk}/${BURST}`]),
  ));
  console.log('\nApplies of each run (engine duration, reason):');
  for (const r of runs) console.log(`  run ${r.run}: first answer after ${Math.round(r.firstAnswerMs)} ms; ${r.detail.join('; ')}`);
  console.log(`\nmedian over runs: all live ${Math.round(median(runs.map((r) => r.allLiveMs)))} ms, ${median(runs.map((r) => r.haproxyReloads))} HAProxy reloads, ${median(runs.map((r) => r.applies))} applies`);
  console.log(`\nRESULT ${JSON.stringify({ bench: 'burst', at: new Date().toISOString(), burst: BURST, existing: EXISTING, runs })}`);
});
