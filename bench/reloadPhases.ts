/**
 * Where the time of a change that needs a reload goes, at a given size: the
 * applier's phases (model, render, check, persist, reload) and the data
 * plane's (server state, files, HAProxy reload), from flow-proxy's debug log,
 * for a few option changes on a real flow-proxy and HAProxy, and the CPU
 * the control plane spent per change (from /proc).
 *
 *   BENCH_SIZES=1000,10000 BENCH_ITER=5 node dist/bench/reloadPhases.js
 */
import { runBench, progress } from './support/cleanup.js';
import { startFastBackend } from './support/backend.js';
import { apiAgent, cpuSeconds, plainServices, startBenchProxy } from './support/proxy.js';
import { envInt, envInts, summarize } from './support/stats.js';

const SIZES = envInts('BENCH_SIZES', [1000, 10000]);
const ITER = envInt('BENCH_ITER', 5);

runBench('reloadPhases', async () => {
  const backend = await startFastBackend('a');
  const results: Record<string, Record<string, number>> = {};
  for (const size of SIZES) {
    const proxy = await startBenchProxy({ services: [...plainServices(size - 1, backend.port), { serviceName: 'opt', servicePath: '/opt', port: String(backend.port), outboundHostname: '127.0.0.1' }], env: { LOG_LEVEL: 'debug', LOG_FORMAT: 'json' } });
    const agent = apiAgent();
    const totals: number[] = [];
    const pid = proxy.child.pid as number;
    try {
      const cpuBefore = cpuSeconds(pid);
      for (let i = 0; i < ITER; i++) {
        const t0 = performance.now();
        const r = await proxy.api('reconfigure', { serviceName: 'opt', servicePath: '/opt', port: String(backend.port), outboundHostname: '127.0.0.1', setResHeader: `X-Gen g${i}` }, { agent });
        totals.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(r.body);
      }
      const cpuMs = ((cpuSeconds(pid) - cpuBefore) * 1000) / ITER;
      const phases: Record<string, number[]> = {};
      for (const line of proxy.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        const o = JSON.parse(line) as { msg?: string; phases?: Record<string, number>; stateMs?: number; stateWaitMs?: number; filesMs?: number; reloadMs?: number; forkedMs?: number; servingMs?: number; oldStoppedMs?: number };
        const add = (k: string, v: number | undefined) => v !== undefined && (phases[k] ??= []).push(v);
        if (o.msg === 'reload phases (ms)' && o.phases) for (const [k, v] of Object.entries(o.phases)) add(`applier.${k}`, v);
        if (o.msg === 'reload timing') {
          add('haproxy.newWorkerForked', o.forkedMs);
          add('haproxy.newWorkerServing', o.servingMs);
          add('haproxy.oldWorkersStopping', o.oldStoppedMs);
        }
        // The part of the server state phase spent waiting for HAProxy's answer (read ahead during render and check).
        if (o.msg === 'server state read') add('commit.serverStateWait', o.stateWaitMs);
        if (o.msg === 'commit phases') {
          add('commit.serverState', o.stateMs);
          add('commit.files', o.filesMs);
          add('commit.haproxyReload', o.reloadMs);
        }
      }
      results[String(size)] = { total: summarize(totals).median, flowProxyCpuPerChange: Math.round(cpuMs), ...Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, summarize(v.slice(-ITER)).median])) };
      progress(`size ${size}: ${JSON.stringify(results[String(size)])}`);
    } finally {
      agent.destroy();
      await proxy.stop();
    }
  }
  console.log('median ms per phase of an option change (a reload):');
  console.table(results);
  console.log(`RESULT ${JSON.stringify({ bench: 'reloadPhases', at: new Date().toISOString(), iterations: ITER, results })}`);
  await backend.close();
});
