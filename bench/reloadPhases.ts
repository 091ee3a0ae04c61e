/**
 * Where the time of a change that needs a reload goes, at a given size: the
 * applier's phases (model, render, check, persist, reload) and the data
 * plane's (server state, files, HAProxy reload), from flow-proxy's debug log,
 * for a few option changes on a real flow-proxy and HAProxy, and the CPU
 * the control plane spent per change (from /proc). Then the same change as
 * the first reload after runtime changes (a service moved to another port,
 * one added on a spare): the live names drifted, and the reload gives every
 * backend its canonical name again (`afterRuntime.*`; CONSOLIDATE_AFTER=0
 * so that no consolidation comes in between).
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
  const other = await startFastBackend('b');
  const results: Record<string, Record<string, number>> = {};
  for (const size of SIZES) {
    const proxy = await startBenchProxy({ services: [...plainServices(size - 2, backend.port), { serviceName: 'opt', servicePath: '/opt', port: String(backend.port), outboundHostname: '127.0.0.1' }, { serviceName: 'mv', servicePath: '/mv', port: String(backend.port), outboundHostname: '127.0.0.1' }], env: { LOG_LEVEL: 'debug', LOG_FORMAT: 'json', CONSOLIDATE_AFTER: '0' } });
    const agent = apiAgent();
    const totals: number[] = [];
    const afterRuntime: number[] = [];
    const pid = proxy.child.pid as number;
    const change = async (query: Record<string, string>, into?: number[]) => {
      const t0 = performance.now();
      const r = await proxy.api('reconfigure', query, { agent });
      into?.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(r.body);
      return r;
    };
    const optionChange = (i: number, into: number[]) => change({ serviceName: 'opt', servicePath: '/opt', port: String(backend.port), outboundHostname: '127.0.0.1', setResHeader: `X-Gen g${i}` }, into);
    try {
      const cpuBefore = cpuSeconds(pid);
      for (let i = 0; i < ITER; i++) await optionChange(i, totals);
      const cpuMs = ((cpuSeconds(pid) - cpuBefore) * 1000) / ITER;
      const plain = phasesOf(proxy.output());
      for (let i = 0; i < ITER; i++) {
        // Runtime changes that leave names a fresh render would not give, then the reload.
        await change({ serviceName: 'mv', servicePath: '/mv', port: String((i % 2 === 0 ? other : backend).port), outboundHostname: '127.0.0.1' });
        const added = await change({ serviceName: `new${i}`, servicePath: `/new${i}`, port: String(backend.port), outboundHostname: '127.0.0.1' });
        if (!/runtime/.test(added.body)) throw new Error(`a new plain service was not a runtime change: ${added.body}`);
        await optionChange(ITER + i, afterRuntime);
      }
      const after = phasesOf(proxy.output());
      // The last ITER of each: the start's reload and the runtime changes come before.
      const medians = (phases: Record<string, number[]>, prefix: string) => Object.fromEntries(Object.entries(phases).map(([k, v]) => [`${prefix}${k}`, summarize(v.slice(-ITER)).median]));
      results[String(size)] = { total: summarize(totals).median, flowProxyCpuPerChange: Math.round(cpuMs), ...medians(plain, ''), afterRuntimeTotal: summarize(afterRuntime).median, ...medians(after, 'afterRuntime.') };
      progress(`size ${size}: ${JSON.stringify(results[String(size)])}`);
    } finally {
      agent.destroy();
      await proxy.stop();
    }
  }
  console.log('median ms per phase of an option change (a reload):');
  // A phase per row, a size per column: the phases are many, the sizes few.
  const keys = [...new Set(Object.values(results).flatMap((r) => Object.keys(r)))];
  console.table(Object.fromEntries(keys.map((k) => [k, Object.fromEntries(Object.entries(results).map(([size, r]) => [size, r[k] === undefined ? '' : Math.round(r[k] * 10) / 10]))])));
  console.log(`RESULT ${JSON.stringify({ bench: 'reloadPhases', at: new Date().toISOString(), iterations: ITER, results })}`);
  await backend.close();
  await other.close();
});

/** The phases of each reload in flow-proxy's debug log, in order, by name. */
function phasesOf(output: string): Record<string, number[]> {
  const phases: Record<string, number[]> = {};
  const add = (k: string, v: number | undefined) => v !== undefined && (phases[k] ??= []).push(v);
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const o = JSON.parse(line) as { msg?: string; phases?: Record<string, number>; model?: string; stateMs?: number; stateWaitMs?: number; filesMs?: number; reloadMs?: number; forkedMs?: number; servingMs?: number; oldStoppedMs?: number };
    if (o.msg === 'reload phases (ms)' && o.phases) {
      for (const [k, v] of Object.entries(o.phases)) add(`applier.${k}`, v);
      // 1: the canonical model was made from the live one (patch.ts), 0: built from every service.
      add('applier.modelFromLive', o.model === 'patched' ? 1 : 0);
    }
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
  return phases;
}
