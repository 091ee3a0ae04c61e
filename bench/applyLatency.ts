/**
 * Benchmark 1, apply latency: from the reconfigure call to the first request
 * routed through HAProxy (polled back to back on new connections), with 10,
 * 1,000 and 10,000 existing services, for runtime-only changes (a new plain
 * service, its removal, a moved server) and for a change that needs a reload
 * (a backend option: a response header, so the new config can be observed).
 *
 *   node dist/bench/applyLatency.js
 *   BENCH_SIZES=10,1000,10000 BENCH_ITER=30 BENCH_RELOAD_ITER=20 node dist/bench/applyLatency.js
 */
import os from 'node:os';
import { runBench, progress } from './support/cleanup.js';
import { startFastBackend, type FastBackend } from './support/backend.js';
import { apiAgent, plainServices, pollUntil, startBenchProxy, type BenchProxy, type Params } from './support/proxy.js';
import { envInt, envInts, summarize, table, type Summary } from './support/stats.js';

const SIZES = envInts('BENCH_SIZES', [10, 1000, 10000]);
const ITER = envInt('BENCH_ITER', 30);
const RELOAD_ITER = envInt('BENCH_RELOAD_ITER', 20);
const POLL_TIMEOUT_MS = 30_000;

interface Row {
  size: number;
  change: string;
  expected: string;
  kinds: Record<string, number>;
  /** Reasons of applies that were not of the expected kind. */
  unexpected: string[];
  routed: Summary;
  /** Routed latency of the samples applied as expected (e.g. runtime changes that did not fall back to a reload). */
  routedAsExpected: Summary;
  api: Summary;
  engine: Summary;
  samples: Array<{ routedMs: number; apiMs: number; kind: string }>;
}

interface Sample {
  routedMs: number;
  apiMs: number;
  engineMs: number;
  kind: string;
  reason: string;
}

/** Sends one change and polls until `live` holds; both times are measured from just before the call. */
async function measure(proxy: BenchProxy, agent: import('node:http').Agent, endpoint: string, query: Params, live: () => Promise<boolean>): Promise<Sample> {
  const t0 = performance.now();
  const call = proxy.api(endpoint, query, { agent }).then((r) => ({ r, at: performance.now() }));
  const seen = await pollUntil(live, POLL_TIMEOUT_MS);
  const { r, at } = await call;
  if (r.status !== 200) throw new Error(`${endpoint} ${JSON.stringify(query)} answered ${r.status}: ${r.body}`);
  const applied = r.json.Applied as { Kind: string; Reason: string; DurationMs: number } | undefined;
  return { routedMs: seen.at - t0, apiMs: at - t0, engineMs: applied?.DurationMs ?? Number.NaN, kind: applied?.Kind ?? '?', reason: applied?.Reason ?? '' };
}

function row(size: number, change: string, expected: string, samples: Sample[]): Row {
  const kinds: Record<string, number> = {};
  for (const s of samples) kinds[s.kind] = (kinds[s.kind] ?? 0) + 1;
  return {
    size,
    change,
    expected,
    kinds,
    unexpected: [...new Set(samples.filter((s) => s.kind !== expected).map((s) => `${s.kind}: ${s.reason}`))],
    routed: summarize(samples.map((s) => s.routedMs)),
    routedAsExpected: summarize(samples.filter((s) => s.kind === expected).map((s) => s.routedMs)),
    samples: samples.map((s) => ({ routedMs: Math.round(s.routedMs * 100) / 100, apiMs: Math.round(s.apiMs * 100) / 100, kind: s.kind })),
    api: summarize(samples.map((s) => s.apiMs)),
    engine: summarize(samples.map((s) => s.engineMs)),
  };
}

async function atSize(size: number, a: FastBackend, b: FastBackend): Promise<Row[]> {
  const filler = plainServices(Math.max(0, size - 2), a.port);
  const fixed: Params[] = [
    { serviceName: 'mv', servicePath: '/mv', port: String(a.port), outboundHostname: '127.0.0.1' },
    { serviceName: 'opt', servicePath: '/opt', port: String(a.port), outboundHostname: '127.0.0.1' },
  ];
  progress(`size ${size}: starting flow-proxy with ${filler.length + fixed.length} stored services`);
  const proxy = await startBenchProxy({ services: [...filler, ...fixed] });
  progress(`size ${size}: started in ${Math.round(proxy.startMs)} ms`);
  const agent = apiAgent(4);
  const body = async (p: string) => (await proxy.get(p)).body;
  const rows: Row[] = [];
  try {
    // Warm-up: one change of each kind, not counted.
    await measure(proxy, agent, 'reconfigure', { serviceName: 'warm', servicePath: '/warm', port: String(b.port), outboundHostname: '127.0.0.1' }, async () => (await body('/warm')) === 'b\n');
    await measure(proxy, agent, 'remove', { serviceName: 'warm' }, async () => (await proxy.get('/warm')).status === 503);

    const added: Sample[] = [];
    const removed: Sample[] = [];
    for (let i = 0; i < ITER; i++) {
      const name = `new${i}`;
      added.push(await measure(proxy, agent, 'reconfigure', { serviceName: name, servicePath: `/${name}`, port: String(b.port), outboundHostname: '127.0.0.1' }, async () => (await body(`/${name}`)) === 'b\n'));
      removed.push(await measure(proxy, agent, 'remove', { serviceName: name }, async () => (await proxy.get(`/${name}`)).status === 503));
    }
    rows.push(row(size, 'new plain service', 'runtime', added));
    rows.push(row(size, 'remove service', 'runtime', removed));
    progress(`size ${size}: new/remove done`);

    const moved: Sample[] = [];
    for (let i = 0; i < ITER; i++) {
      const to = i % 2 === 0 ? b : a;
      moved.push(await measure(proxy, agent, 'reconfigure', { serviceName: 'mv', servicePath: '/mv', port: String(to.port), outboundHostname: '127.0.0.1' }, async () => (await body('/mv')) === `${to.name}\n`));
    }
    rows.push(row(size, 'server moved', 'runtime', moved));
    progress(`size ${size}: moves done`);

    const optioned: Sample[] = [];
    for (let i = 0; i < RELOAD_ITER; i++) {
      const gen = `g${i}`;
      optioned.push(await measure(proxy, agent, 'reconfigure', { serviceName: 'opt', servicePath: '/opt', port: String(a.port), outboundHostname: '127.0.0.1', setResHeader: `X-Gen ${gen}` }, async () => (await proxy.get('/opt')).headers['x-gen'] === gen));
    }
    rows.push(row(size, 'option change', 'reload', optioned));
    progress(`size ${size}: option changes done`);
  } finally {
    agent.destroy();
    await proxy.stop();
  }
  return rows;
}

runBench('applyLatency', async () => {
  const a = await startFastBackend('a');
  const b = await startFastBackend('b');
  const rows: Row[] = [];
  for (const size of SIZES) rows.push(...(await atSize(size, a, b)));

  const kinds = (r: Row) => Object.entries(r.kinds).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`# Apply latency (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  console.log(`ms from the reconfigure/remove call; "routed" = first request through HAProxy that shows the change; p99 of n < 100 samples is the maximum\n`);
  console.log(table(
    ['services', 'change', 'applied as', 'n', 'routed median', 'routed p99', `routed median (${'applied as expected'})`, 'API answer median', 'API answer p99', 'engine apply median'],
    rows.map((r) => [r.size, r.change, kinds(r), r.routed.n, r.routed.median, r.routed.p99, r.routedAsExpected.median, r.api.median, r.api.p99, r.engine.median]),
  ));
  const surprises = rows.filter((r) => r.unexpected.length > 0);
  if (surprises.length > 0) {
    console.log('\nApplies of another kind than expected, with their reasons:');
    for (const r of surprises) for (const u of r.unexpected) console.log(`  ${r.size} services, ${r.change}: ${u}`);
  }
  const smallest = SIZES[0];
  const largest = SIZES[SIZES.length - 1];
  if (smallest !== undefined && largest !== undefined && smallest !== largest) {
    console.log(`\nGrowth of the median (routed) from ${smallest} to ${largest} services:`);
    for (const change of [...new Set(rows.map((r) => r.change))]) {
      const lo = rows.find((r) => r.size === smallest && r.change === change);
      const hi = rows.find((r) => r.size === largest && r.change === change);
      if (lo && hi) console.log(`  ${change}: ×${(hi.routed.median / lo.routed.median).toFixed(2)}`);
    }
  }
  console.log(`\nRESULT ${JSON.stringify({ bench: 'applyLatency', at: new Date().toISOString(), iterations: { runtime: ITER, reload: RELOAD_ITER }, rows })}`);
});
