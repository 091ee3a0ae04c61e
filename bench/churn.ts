/**
 * Benchmark 6, churn: a realistic mix of changes applied one at a time to a
 * flow-proxy running in this process (the engine's `sync` command is how
 * Docker discovery scales services, so it is driven directly). Two phases
 * with the same changes: "checks only" (the only requests are the checks
 * made through HAProxy after each change) and "with traffic" (four
 * keep-alive clients also hit the docker services all the time). Reports
 * the share of changes made live without a reload, per kind and overall,
 * the requests that failed, and audits at the end that every docker
 * service is served by exactly its current servers.
 *
 * Mix (weights): scale up 25, scale down 25, rolling update (one container
 * replaced) 15, new plain service 10, remove 10, route change 10, option
 * change 5.
 *
 *   node dist/bench/churn.js
 *   BENCH_CHANGES=300 BENCH_API_SERVICES=200 BENCH_DOCKER_SERVICES=50 BENCH_SEED=42 node dist/bench/churn.js
 *
 * Long mode (BENCH_LONG_MINUTES): the control plane's memory under churn for
 * that long, on a real flow-proxy (`node dist/src/main.js`) started with
 * BENCH_LONG_SERVICES (10,000) stored services. Changes go through the API at
 * BENCH_LONG_RATE a second (new plain services, removals, route changes,
 * server moves, and 1% option changes, which reload); the control plane's RSS
 * is sampled every 5 s. Reports RSS when ready, after the first 5 minutes, at
 * the end and at most, and its trend (MB per hour, least squares after the
 * first 5 minutes). Anonymous RSS, the V8 heap (committed, used, large
 * objects) and external memory (from the control plane's /metrics) are
 * sampled beside it, to tell a JS leak from pages V8 keeps or native growth;
 * BENCH_HEAP_SNAPSHOTS=<dir> writes a heap snapshot there after the first 5
 * minutes and at the end (compare them in Chrome's DevTools, Memory,
 * Comparison). Taking a snapshot raises RSS for the rest of the run: read
 * the RSS figures of a run without snapshots.
 *
 *   BENCH_LONG_MINUTES=60 node dist/bench/churn.js
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileStore } from '../src/adapters/store/fileStore.js';
import type { Reconciler } from '../src/core/reconcile/reconciler.js';
import { silentLog } from '../src/core/log.js';
import { fromStored } from '../src/core/desired/storedState.js';
import type { ParseContext } from '../src/domain/parse.js';
import type { Entry } from '../src/domain/registry.js';
import type { ServerAddr } from '../src/domain/spec.js';
import { parseContext, startProxy } from '../src/proxy.js';
import { loadSettings } from '../src/settings.js';
import { freePort } from '../test/support/ports.js';
import { request } from '../test/support/http.js';
import { runBench, progress, track } from './support/cleanup.js';
import { startFastBackend, type FastBackend } from './support/backend.js';
import { apiAgent, plainServices, startBenchProxy, type Params } from './support/proxy.js';
import { envInt, median, prng, table } from './support/stats.js';

const CHANGES = envInt('BENCH_CHANGES', 300);
const API_SERVICES = envInt('BENCH_API_SERVICES', 200);
const DOCKER_SERVICES = envInt('BENCH_DOCKER_SERVICES', 50);
const SEED = envInt('BENCH_SEED', 42);
const POOL = 6;

const MIX = [
  ['scale up', 25],
  ['scale down', 25],
  ['rolling update', 15],
  ['new plain service', 10],
  ['remove', 10],
  ['route change', 10],
  ['option change', 5],
] as const;
type ChangeKind = (typeof MIX)[number][0];

interface Outcome {
  change: ChangeKind;
  kind: string;
  reason: string;
  durationMs: number;
  verified: boolean;
  /** What HAProxy answered when the check failed. */
  seen?: string;
}

interface DockerService {
  name: string;
  servers: ServerAddr[];
}

interface PhaseResult {
  phase: string;
  outcomes: Outcome[];
  trafficRequests: number;
  trafficFailures: number;
  failureKinds: Record<string, number>;
  /** Docker services not served by exactly their current servers at the end (server state gone wrong). */
  audit: string[];
}

async function phase(name: string, withTraffic: boolean, pool: FastBackend[]): Promise<PhaseResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fp-bench-churn-'));
  const forgetDir = track(`data dir ${dataDir}`, () => fs.rmSync(dataDir, { recursive: true, force: true }));
  const portOf = (i: number) => (pool[i % POOL] as FastBackend).port;
  const nameOf = (port: number) => pool.find((b) => b.port === port)?.name;
  const api: Params[] = plainServices(API_SERVICES, portOf(0), 'api');
  await new FileStore(dataDir).save({ version: 1, services: api.map((params) => ({ owner: 'api' as const, params })) });
  const httpPort = await freePort();
  const env = { DATA_DIR: dataDir, PORT: String(await freePort()), IP: '127.0.0.1', DEFAULT_PORTS: String(httpPort), DISCOVERY: 'none', SECRETS_DIR: path.join(dataDir, 'secrets'), STOP_GRACE: '1' };
  const loaded = loadSettings(env);
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  const proxy = await startProxy({ settings: loaded.settings, env, log: silentLog });
  const forgetProxy = track(`flow-proxy ${dataDir}`, () => proxy.stop());
  const engine: Reconciler = proxy.engine;
  const ctx: ParseContext = parseContext(loaded.settings);
  const random = prng(SEED);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;

  const entry = (params: Params, owner: 'api' | 'docker', servers?: ServerAddr[]): Entry => {
    const parsed = fromStored({ owner: 'api', params }, ctx, owner);
    if (!parsed.ok) throw new Error(`${params.serviceName} does not parse: ${parsed.reason}`);
    return servers ? { ...parsed.entry, spec: { ...parsed.entry.spec, servers } } : parsed.entry;
  };
  let containerSeq = 0;
  const container = (): ServerAddr => {
    const n = containerSeq++;
    return { host: '127.0.0.1', port: portOf(n), id: `c${n}` };
  };
  const docker: DockerService[] = Array.from({ length: DOCKER_SERVICES }, (_, i) => ({
    name: `dk${String(i).padStart(4, '0')}`,
    servers: Array.from({ length: 1 + (i % 3) }, container),
  }));
  const dockerParams = (d: DockerService): Params => ({ serviceName: d.name, servicePath: `/${d.name}`, port: '80' });
  const sync = () => engine.submit({ kind: 'sync', owner: 'docker', entries: docker.map((d) => entry(dockerParams(d), 'docker', d.servers.map((s) => ({ ...s })))) });
  const first = await sync();
  if (!first.ok) throw new Error(`initial sync failed: ${first.message}`);

  // Live API services and their current paths.
  const apiLive = new Map<string, Params>(api.map((p) => [p.serviceName as string, p]));
  let newSeq = 0;

  let lastSeen = '';
  const ok = async (p: string, expect: (status: number, body: string) => boolean) => {
    const r = await request({ port: httpPort, path: p });
    const good = expect(r.status, r.body);
    if (!good) lastSeen += `${p} → ${r.status}${r.status === 200 ? ` ${r.body.trim()}` : ""}; `;
    return good;
  };
  const servedByPool = (status: number, body: string) => status === 200 && pool.some((b) => body === `${b.name}\n`);

  // Background traffic: a few clients on keep-alive connections hitting the docker services, which always
  // keep at least one server, so every failure is a dropped request.
  let trafficRequests = 0;
  let trafficFailures = 0;
  const failureKinds = new Map<string, number>();
  const failed = (key: string) => {
    trafficFailures++;
    failureKinds.set(key, (failureKinds.get(key) ?? 0) + 1);
  };
  let running = withTraffic;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const client = async () => {
    const r = prng(SEED + 1);
    while (running) {
      try {
        const d = docker[Math.floor(r() * docker.length)] as DockerService;
        const res = await request({ port: httpPort, path: `/${d.name}/x`, agent });
        trafficRequests++;
        if (res.status !== 200) failed(`status ${res.status}`);
      } catch (e) {
        trafficRequests++;
        failed((e as NodeJS.ErrnoException).code ?? String(e));
      }
      await sleep(1);
    }
  };
  const clients = withTraffic ? Array.from({ length: 4 }, client) : [];
  if (withTraffic) await sleep(1000);

  const outcomes: Outcome[] = [];
  const audit: string[] = [];
  const total = MIX.reduce((s, [, w]) => s + w, 0);
  try {
    for (let i = 0; i < CHANGES; i++) {
      let roll = random() * total;
      let change: ChangeKind = MIX[0][0];
      for (const [k, w] of MIX) {
        if (roll < w) {
          change = k;
          break;
        }
        roll -= w;
      }
      let result;
      let verify: () => Promise<boolean>;
      if (change === 'scale up' || change === 'scale down' || change === 'rolling update') {
        const candidates = docker.filter((d) => (change === 'scale up' ? d.servers.length < POOL : change === 'scale down' ? d.servers.length > 1 : true));
        const d = pick(candidates.length > 0 ? candidates : docker);
        if (change === 'scale up') d.servers.push(container());
        else if (change === 'scale down' && d.servers.length > 1) d.servers.pop();
        else d.servers.splice(Math.floor(random() * d.servers.length), 1, container());
        result = await sync();
        const names = new Set(d.servers.map((s) => nameOf(s.port as number)));
        // Round robin: 2 requests per server must all come from the service's current servers.
        verify = async () => {
          for (let k = 0; k < 2 * d.servers.length; k++) if (!(await ok(`/${d.name}/x`, (s, b) => s === 200 && names.has(b.trim())))) return false;
          return true;
        };
      } else if (change === 'new plain service') {
        // Fixed-width names: no path is a prefix of another (path_beg would route /new14 to /new1).
        const id = String(newSeq).padStart(5, '0');
        const params = { serviceName: `new${id}`, servicePath: `/new${id}`, port: String(portOf(newSeq)), outboundHostname: '127.0.0.1' };
        newSeq++;
        apiLive.set(params.serviceName, params);
        result = await engine.submit({ kind: 'upsert', entry: entry(params, 'api') });
        verify = () => ok(`${params.servicePath}/x`, servedByPool);
      } else if (change === 'remove') {
        const name = pick([...apiLive.keys()]);
        const p = apiLive.get(name) as Params;
        apiLive.delete(name);
        result = await engine.submit({ kind: 'remove', name });
        verify = () => ok(`${(p.servicePath as string).split(',')[0]}/x`, (s) => s === 503);
      } else if (change === 'route change') {
        const name = pick([...apiLive.keys()]);
        const p = apiLive.get(name) as Params;
        const next = { ...p, servicePath: `/${name}-v${String(i).padStart(5, '0')}` };
        apiLive.set(name, next);
        result = await engine.submit({ kind: 'upsert', entry: entry(next, 'api') });
        verify = async () => (await ok(`${next.servicePath}/x`, servedByPool)) && (await ok(`${(p.servicePath as string).split(',')[0]}/x`, (s) => s === 503));
      } else {
        const name = pick([...apiLive.keys()]);
        const p = apiLive.get(name) as Params;
        const next = { ...p, timeoutServer: p.timeoutServer === '30' ? '31' : '30' };
        apiLive.set(name, next);
        result = await engine.submit({ kind: 'upsert', entry: entry(next, 'api') });
        verify = () => ok(`${(p.servicePath as string).split(',')[0]}/x`, servedByPool);
      }
      if (!result.ok) throw new Error(`${change} failed: ${result.code} ${result.message}`);
      lastSeen = '';
      const verified = await verify().catch((e: unknown) => {
        lastSeen += String(e);
        return false;
      });
      outcomes.push({
        change,
        kind: result.apply?.kind ?? '?',
        reason: result.apply?.reason ?? '',
        durationMs: result.apply?.durationMs ?? Number.NaN,
        verified,
        ...(!verified && { seen: `${lastSeen}(${result.apply?.kind}: ${result.apply?.reason})` }),
      });
      if (i % 100 === 99) progress(`${name}: ${i + 1} changes`);
    }
    running = false;
    await Promise.all(clients);
    // Audit: every docker service must be served by exactly its current servers, each of them.
    for (const d of docker) {
      const expected = new Set(d.servers.map((x) => nameOf(x.port as number) as string));
      const seen = new Map<string, number>();
      for (let k = 0; k < 3 * d.servers.length; k++) {
        const r = await request({ port: httpPort, path: `/${d.name}/x` });
        const key = r.status === 200 ? r.body.trim() : `status ${r.status}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      const wrong = [...seen.keys()].filter((k) => !expected.has(k));
      const missing = [...expected].filter((k) => !seen.has(k));
      if (wrong.length > 0 || missing.length > 0) audit.push(`${d.name}: expected ${[...expected].sort().join(',')}; got ${[...seen].map(([k, n]) => `${k}×${n}`).join(', ')}`);
    }
  } finally {
    running = false;
    await Promise.all(clients);
    agent.destroy();
    await forgetProxy();
    await forgetDir();
  }
  return { phase: name, outcomes, trafficRequests, trafficFailures, failureKinds: Object.fromEntries(failureKinds), audit };
}

const LONG_MINUTES = envInt('BENCH_LONG_MINUTES', 0);

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<[number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

interface HeapSample {
  at: number;
  anonMb: number;
  heapTotalMb: number;
  heapUsedMb: number;
  externalMb: number;
  largeObjectsMb: number;
}

/** The V8 heap in use and the memory outside it, from the control plane's own /metrics (prom-client's default metrics). */
async function heapFigures(apiPort: number): Promise<Omit<HeapSample, 'at' | 'anonMb'> | undefined> {
  try {
    const res = await request({ port: apiPort, path: '/metrics', timeoutMs: 5000 });
    const mb = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(res.body)?.[1] ?? Number.NaN) / 2 ** 20;
    return { heapTotalMb: mb('flowproxy_nodejs_heap_size_total_bytes'), heapUsedMb: mb('flowproxy_nodejs_heap_size_used_bytes'), externalMb: mb('flowproxy_nodejs_external_memory_bytes'), largeObjectsMb: mb('flowproxy_nodejs_heap_space_size_used_bytes\\{space="large_object"\\}') };
  } catch {
    return undefined;
  }
}

function heapSummary(heap: readonly HeapSample[], afterMinutes: number) {
  const series = [
    ['RSS in anonymous pages', (h: HeapSample) => h.anonMb],
    ['V8 heap committed', (h: HeapSample) => h.heapTotalMb],
    ['V8 heap used', (h: HeapSample) => h.heapUsedMb],
    ['of it large objects', (h: HeapSample) => h.largeObjectsMb],
    ['external (buffers, native)', (h: HeapSample) => h.externalMb],
  ] as const;
  const later = heap.filter((h) => h.at >= afterMinutes);
  const [first, after5, last] = [heap[0], later[0], heap.at(-1)];
  const round = (x: number | undefined) => (x === undefined ? Number.NaN : Number(x.toFixed(1)));
  return series.map(([what, pick]) => {
    return {
      what,
      ready: round(first && pick(first)),
      after5: round(after5 && pick(after5)),
      end: round(last && pick(last)),
      max: round(Math.max(...heap.map(pick))),
      trendMbPerHour: round(slope(later.map((h) => [h.at, pick(h)])) * 60),
    };
  });
}

/** Has the control plane write a heap snapshot (--heapsnapshot-signal) and waits until the file is complete; returns its path. */
async function heapSnapshot(child: import('node:child_process').ChildProcess, dir: string): Promise<string> {
  const before = new Set(fs.readdirSync(dir));
  child.kill('SIGUSR2');
  const deadline = performance.now() + 120_000;
  let last = -1;
  while (performance.now() < deadline) {
    await sleep(1000);
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = fs.statSync(path.join(dir, file)).size;
    if (size > 0 && size === last) return path.join(dir, file);
    last = size;
  }
  throw new Error(`no complete heap snapshot in ${dir} after 120 s`);
}

async function longChurn(): Promise<void> {
  const services = envInt('BENCH_LONG_SERVICES', 10_000);
  const rate = envInt('BENCH_LONG_RATE', 10);
  const backends = await Promise.all([startFastBackend('a'), startFastBackend('b')]);
  const [a, b] = backends as [FastBackend, FastBackend];
  const snapshotDir = process.env.BENCH_HEAP_SNAPSHOTS;
  if (snapshotDir) fs.mkdirSync(snapshotDir, { recursive: true });
  const nodeArgs = snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : [];
  const proxy = await startBenchProxy({ services: plainServices(services, a.port), env: { LOG_LEVEL: 'warn' }, nodeArgs });
  const agent = apiAgent();
  const random = prng(SEED);
  const rssNow = () => proxy.memory()?.rssMb ?? Number.NaN;
  const samples: Array<[number, number]> = [[0, rssNow()]];
  const started = performance.now();
  const minutes = () => (performance.now() - started) / 60_000;
  const heap: HeapSample[] = [];
  const sampleHeap = async () => {
    const at = minutes();
    const m = await heapFigures(proxy.apiPort);
    const anonMb = proxy.memory()?.anonMb ?? Number.NaN;
    if (m) heap.push({ at, anonMb, ...m });
  };
  await sampleHeap();
  let snapshotted = false;
  const added: string[] = [];
  const kinds = new Map<string, number>();
  let failed = 0;
  let changes = 0;
  let seq = 0;
  progress(`long churn: ${services} services, ${rate} changes/s for ${LONG_MINUTES} min; ready in ${proxy.startMs.toFixed(0)} ms at ${samples[0]?.[1].toFixed(0)} MB`);
  const sampler = setInterval(() => {
    samples.push([minutes(), rssNow()]);
    void sampleHeap();
  }, 5000);
  const reporter = setInterval(() => progress(`${minutes().toFixed(1)} min: ${changes} changes, ${failed} failed, RSS ${rssNow().toFixed(0)} MB`), 60_000);
  try {
    while (minutes() < LONG_MINUTES) {
      if (snapshotDir && !snapshotted && minutes() >= Math.min(5, LONG_MINUTES / 2)) {
        snapshotted = true;
        progress(`heap snapshot: ${await heapSnapshot(proxy.child, snapshotDir)}`);
      }
      const tick = performance.now();
      const roll = random();
      const svc = `svc${String(Math.floor(random() * services)).padStart(Math.max(5, String(services).length), '0')}`;
      const port = String((random() < 0.5 ? a : b).port);
      let r;
      if (roll < 0.3 || added.length === 0) {
        const name = `new${seq++}`;
        added.push(name);
        r = await proxy.api('reconfigure', { serviceName: name, servicePath: `/${name}`, port, outboundHostname: '127.0.0.1' }, { agent });
        kinds.set('new plain service', (kinds.get('new plain service') ?? 0) + 1);
      } else if (roll < 0.6) {
        const name = added.splice(Math.floor(random() * added.length), 1)[0] as string;
        r = await proxy.api('remove', { serviceName: name }, { agent });
        kinds.set('remove', (kinds.get('remove') ?? 0) + 1);
      } else if (roll < 0.8) {
        r = await proxy.api('reconfigure', { serviceName: svc, servicePath: `/${svc}`, port, outboundHostname: '127.0.0.1' }, { agent });
        kinds.set('server moved', (kinds.get('server moved') ?? 0) + 1);
      } else if (roll < 0.99) {
        r = await proxy.api('reconfigure', { serviceName: svc, servicePath: `/${svc},/${svc}-v${seq++ % 3}`, port: String(a.port), outboundHostname: '127.0.0.1' }, { agent });
        kinds.set('route change', (kinds.get('route change') ?? 0) + 1);
      } else {
        r = await proxy.api('reconfigure', { serviceName: svc, servicePath: `/${svc}`, port: String(a.port), outboundHostname: '127.0.0.1', timeoutServer: String(10 + (seq++ % 20)) }, { agent });
        kinds.set('option change', (kinds.get('option change') ?? 0) + 1);
      }
      changes++;
      if (r.status !== 200) failed++;
      const wait = 1000 / rate - (performance.now() - tick);
      if (wait > 0) await sleep(wait);
    }
  } finally {
    clearInterval(sampler);
    clearInterval(reporter);
    samples.push([minutes(), rssNow()]);
    await sampleHeap();
    if (snapshotDir) progress(`heap snapshot: ${await heapSnapshot(proxy.child, snapshotDir)}`);
    agent.destroy();
    await proxy.stop();
    await Promise.all(backends.map((x) => x.close()));
  }
  const after5 = samples.filter(([m]) => m >= Math.min(5, LONG_MINUTES / 2));
  const figures = {
    services,
    minutes: Number(minutes().toFixed(1)),
    changes,
    failed,
    kinds: Object.fromEntries(kinds),
    readyRssMb: Number(samples[0]?.[1].toFixed(1)),
    rssAfter5MinMb: Number(after5[0]?.[1].toFixed(1)),
    endRssMb: Number(samples[samples.length - 1]?.[1].toFixed(1)),
    maxRssMb: Number(Math.max(...samples.map(([, y]) => y)).toFixed(1)),
    trendMbPerHour: Number((slope(after5) * 60).toFixed(1)),
    heap: heapSummary(heap, Math.min(5, LONG_MINUTES / 2)),
  };
  console.log(`# Long churn (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  console.log(table(['services', 'minutes', 'changes', 'failed', 'RSS ready (MB)', 'RSS after 5 min', 'RSS at end', 'RSS max', 'trend after 5 min (MB/h)'], [[figures.services, figures.minutes, figures.changes, figures.failed, figures.readyRssMb, figures.rssAfter5MinMb, figures.endRssMb, figures.maxRssMb, figures.trendMbPerHour]]));
  console.log(`changes by kind: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(table(['memory (MB)', 'ready', 'after 5 min', 'at end', 'max', 'trend after 5 min (MB/h)'], figures.heap.map((h) => [h.what, h.ready, h.after5, h.end, h.max, h.trendMbPerHour])));
  console.log(`\nRESULT ${JSON.stringify({ bench: 'churn-long', at: new Date().toISOString(), seed: SEED, ...figures, samples: samples.map(([m, y]) => [Number(m.toFixed(2)), Number(y.toFixed(1))]) })}`);
}

runBench('churn', async () => {
  if (LONG_MINUTES > 0) {
    await longChurn();
    return;
  }
  const pool = await Promise.all(Array.from({ length: POOL }, (_, i) => startFastBackend(`b${i}`)));
  const phases: PhaseResult[] = [];
  progress(`checks only: ${CHANGES} changes on ${API_SERVICES} API + ${DOCKER_SERVICES} docker services`);
  phases.push(await phase('checks only', false, pool));
  progress(`with traffic: the same ${CHANGES} changes`);
  phases.push(await phase('with traffic', true, pool));

  console.log(`# Churn (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`${CHANGES} changes one at a time (seed ${SEED}) on ${API_SERVICES} API services + ${DOCKER_SERVICES} docker services of 1-3 servers; mix ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')}\n`);
  const rows: Array<Array<string | number>> = [];
  for (const p of phases) {
    for (const [change] of MIX) {
      const os_ = p.outcomes.filter((o) => o.change === change);
      if (os_.length === 0) continue;
      const noReload = os_.filter((o) => o.kind !== 'reload').length;
      rows.push([p.phase, change, os_.length, `${noReload}/${os_.length}`, `${((100 * noReload) / os_.length).toFixed(0)}%`, median(os_.filter((o) => o.kind !== 'reload').map((o) => o.durationMs)), median(os_.filter((o) => o.kind === 'reload').map((o) => o.durationMs)), os_.filter((o) => !o.verified).length]);
    }
    const noReload = p.outcomes.filter((o) => o.kind !== 'reload').length;
    rows.push([p.phase, '**all**', p.outcomes.length, `${noReload}/${p.outcomes.length}`, `**${((100 * noReload) / p.outcomes.length).toFixed(1)}%**`, median(p.outcomes.filter((o) => o.kind !== 'reload').map((o) => o.durationMs)), median(p.outcomes.filter((o) => o.kind === 'reload').map((o) => o.durationMs)), p.outcomes.filter((o) => !o.verified).length]);
  }
  console.log(table(['traffic', 'change', 'n', 'without reload', 'share', 'runtime apply median (ms)', 'reload apply median (ms)', 'not verified'], rows));
  for (const p of phases) {
    const reasons = new Map<string, number>();
    for (const o of p.outcomes.filter((x) => x.kind === 'reload' && x.change !== 'option change')) {
      const key = `${o.change}: ${o.reason.replace(/[a-z0-9]+-be\d+_\d+|_spare_\d+/g, '<backend>').replace(/\/s\d+/g, '/<server>').replace(/dk\d{4}|api\d{5}|new\d+/g, '<service>')}`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
    if (reasons.size > 0) {
      console.log(`\n${p.phase}: reloads that a runtime change could have avoided:`);
      for (const [r, n] of reasons) console.log(`  ${n}× ${r}`);
    }
    const wrong = p.outcomes.filter((o) => !o.verified);
    if (wrong.length > 0) {
      console.log(`\n${p.phase}: changes not seen through HAProxy right after they were applied:`);
      for (const o of wrong) console.log(`  ${o.change}: ${o.seen}`);
    }
    console.log(`\n${p.phase}: end audit of ${DOCKER_SERVICES} docker services (each served by exactly its current servers): ${p.audit.length === 0 ? 'all correct' : `${p.audit.length} WRONG`}`);
    for (const a of p.audit.slice(0, 10)) console.log(`  ${a}`);
    if (p.trafficRequests > 0) console.log(`\n${p.phase}: background traffic to the docker services: ${p.trafficRequests} requests, ${p.trafficFailures} failed${p.trafficFailures > 0 ? ` (${Object.entries(p.failureKinds).map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}`);
  }
  const share = (p: PhaseResult) => p.outcomes.filter((o) => o.kind !== 'reload').length / p.outcomes.length;
  console.log(`\ntarget ≥ 90% without reload: ${phases.map((p) => `${p.phase} ${(100 * share(p)).toFixed(1)}% (${share(p) >= 0.9 ? 'met' : 'MISSED'})`).join(', ')}`);
  console.log(`\nRESULT ${JSON.stringify({ bench: 'churn', at: new Date().toISOString(), seed: SEED, changes: CHANGES, phases: phases.map((p) => ({ ...p, share: share(p) })) })}`);
});
