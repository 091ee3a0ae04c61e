/**
 * Benchmark 7, replicas: how long a change takes to be live through the
 * HAProxy of every one of 3 and 5 replicas, and how long a restarted replica
 * takes to catch up with the changes it missed.
 *
 * Two ways of sharing changes, each with real flow-proxy processes on
 * 127.0.0.1 (own API and HAProxy ports and data directory each):
 * - fan-out: file store, PEERS listing every replica, changes sent with
 *   `distribute=true` (the entry replica applies, then sends to every peer
 *   concurrently; anti-entropy in the background at its default interval);
 * - consul: STORE=consul against the KV emulator of test/support (Consul
 *   cannot be installed here), no PEERS; every replica applies what the
 *   others wrote through its blocking-query watch.
 *
 * For each change the entry replica rotates; every replica's HAProxy is
 * polled concurrently on new connections, BENCH_POLL_GAP_MS (2) apart, from
 * just before the API call. Catch-up: one replica is stopped (SIGTERM, its data directory
 * kept), changes are made on the others, then it is started again and timed
 * from spawning `node dist/src/main.js` to its API answering, to /ready, and
 * to every missed change (adds and removes) being visible through its HAProxy.
 *
 *   node dist/bench/replicas.js
 *   BENCH_REPLICAS=3,5 BENCH_ITER=20 BENCH_SERVICES=100 BENCH_MISSED=20 BENCH_RESTARTS=3 BENCH_MODES=fanout,consul BENCH_POLL_GAP_MS=2 node dist/bench/replicas.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConsulStore } from '../src/adapters/store/consulStore.js';
import { FileStore } from '../src/adapters/store/fileStore.js';
import { ConsulEmulator } from '../test/support/consulEmulator.js';
import { request, type Response } from '../test/support/http.js';
import { freePort } from '../test/support/ports.js';
import { startFastBackend, type FastBackend } from './support/backend.js';
import { progress, runBench, track } from './support/cleanup.js';
import { plainServices, pollUntil, startBenchProxy, type BenchProxy, type Params } from './support/proxy.js';
import { envInt, envInts, summarize, table, type Summary } from './support/stats.js';

const REPLICAS = envInts('BENCH_REPLICAS', [3, 5]);
const ITER = envInt('BENCH_ITER', 20);
const SERVICES = envInt('BENCH_SERVICES', 100);
const MISSED = envInt('BENCH_MISSED', 20);
const RESTARTS = envInt('BENCH_RESTARTS', 3);
const MODES = (process.env.BENCH_MODES ?? 'fanout,consul').split(',').map((m) => m.trim()) as Mode[];
const POLL_TIMEOUT_MS = 30_000;
/** Pause between two polls of one replica: 5 replicas polled back to back would take a core from the replicas themselves. */
const POLL_GAP_MS = envInt('BENCH_POLL_GAP_MS', 2);
const TOKEN = 'bench-replicas-token-0123456789';
const AUTH = { headers: { Authorization: `Bearer ${TOKEN}` } };

type Mode = 'fanout' | 'consul';

interface Slot {
  apiPort: number;
  httpPort: number;
  dataDir: string;
}

interface Cluster {
  mode: Mode;
  slots: Slot[];
  members: Array<BenchProxy | undefined>;
  env: Record<string, string>;
}

interface ChangeRow {
  mode: Mode;
  replicas: number;
  change: string;
  api: Summary;
  entry: Summary;
  others: Summary;
  all: Summary;
}

interface RestartRow {
  mode: Mode;
  replicas: number;
  missed: string;
  ping: Summary;
  ready: Summary;
  caughtUp: Summary;
}

for (const m of MODES) if (m !== 'fanout' && m !== 'consul') throw new Error(`BENCH_MODES: unknown mode "${m}" (fanout, consul)`);

async function startCluster(mode: Mode, n: number, seed: Params[], consul: ConsulEmulator | undefined): Promise<Cluster> {
  const slots: Slot[] = [];
  for (let i = 0; i < n; i++) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `fp-bench-rep${i}-`));
    track(`data dir ${dataDir}`, () => fs.rmSync(dataDir, { recursive: true, force: true }));
    slots.push({ apiPort: await freePort(), httpPort: await freePort(), dataDir });
  }
  const services = seed.map((params) => ({ owner: 'api' as const, params }));
  let env: Record<string, string>;
  if (mode === 'fanout') {
    for (const s of slots) await new FileStore(s.dataDir).save({ version: 1, services });
    env = { PEERS: slots.map((s) => `127.0.0.1:${s.apiPort}`).join(','), API_TOKEN: TOKEN, PEER_TIMEOUT: '1000', PEER_ATTEMPTS: '2' };
  } else {
    const prefix = `bench-${n}-${Date.now()}`;
    const store = new ConsulStore({ address: (consul as ConsulEmulator).address, prefix });
    await store.save({ version: 1, services });
    store.close();
    env = { STORE: 'consul', CONSUL_HTTP_ADDR: (consul as ConsulEmulator).address, CONSUL_PREFIX: prefix, API_TOKEN: TOKEN };
  }
  const members = await Promise.all(slots.map((s) => startBenchProxy({ ...s, env })));
  // Every replica serves the seeded table before anything is measured.
  const probe = seed[seed.length - 1];
  if (probe) for (const m of members) await pollUntil(async () => (await m.get(probe.servicePath as string)).status === 200, POLL_TIMEOUT_MS);
  return { mode, slots, members, env };
}

type Want = (r: Response) => boolean;

function live(members: readonly BenchProxy[], pathname: string, want: Want): Array<Promise<number>> {
  return members.map(async (m) => (await pollUntil(async () => want(await m.get(pathname)), POLL_TIMEOUT_MS, POLL_GAP_MS)).at);
}

interface Sample {
  api: number;
  entry: number;
  others: number[];
  all: number;
}

/** One change on `entry`, timed on every member from just before the call. */
async function change(cluster: Cluster, entry: number, endpoint: string, query: Params, pathname: string, want: Want): Promise<Sample> {
  const members = cluster.members as BenchProxy[];
  const t0 = performance.now();
  const q = cluster.mode === 'fanout' ? { ...query, distribute: 'true' } : query;
  const call = (members[entry] as BenchProxy).api(endpoint, q, AUTH).then((r) => ({ r, at: performance.now() }));
  const seen = await Promise.all(live(members, pathname, want));
  const { r, at } = await call;
  if (r.status !== 200) throw new Error(`${endpoint} ${JSON.stringify(q)} answered ${r.status}: ${r.body}`);
  const times = seen.map((s) => s - t0);
  return { api: at - t0, entry: times[entry] as number, others: times.filter((_, i) => i !== entry), all: Math.max(...times) };
}

function changeRow(mode: Mode, replicas: number, name: string, samples: Sample[]): ChangeRow {
  return {
    mode,
    replicas,
    change: name,
    api: summarize(samples.map((s) => s.api)),
    entry: summarize(samples.map((s) => s.entry)),
    others: summarize(samples.flatMap((s) => s.others)),
    all: summarize(samples.map((s) => s.all)),
  };
}

async function changes(cluster: Cluster, b: FastBackend): Promise<ChangeRow[]> {
  const n = cluster.slots.length;
  const svc = (name: string) => ({ serviceName: name, servicePath: `/${name}`, port: String(b.port), outboundHostname: '127.0.0.1' });
  const isB: Want = (r) => r.status === 200 && r.body === 'b\n';
  const gone: Want = (r) => r.status === 503;
  // Warm-up, not counted.
  await change(cluster, 0, 'reconfigure', svc('warm'), '/warm', isB);
  await change(cluster, 0, 'remove', { serviceName: 'warm' }, '/warm', gone);
  const added: Sample[] = [];
  const removed: Sample[] = [];
  const optioned: Sample[] = [];
  for (let i = 0; i < ITER; i++) {
    const name = `rep${i}`;
    added.push(await change(cluster, i % n, 'reconfigure', svc(name), `/${name}`, isB));
    const gen = `g${i}`;
    optioned.push(await change(cluster, (i + 1) % n, 'reconfigure', { ...svc(name), setResHeader: `X-Gen ${gen}` }, `/${name}`, (r) => isB(r) && r.headers['x-gen'] === gen));
    removed.push(await change(cluster, (i + 2) % n, 'remove', { serviceName: name }, `/${name}`, gone));
  }
  return [
    changeRow(cluster.mode, n, 'new service (runtime)', added),
    changeRow(cluster.mode, n, 'option change (reload)', optioned),
    changeRow(cluster.mode, n, 'remove service (runtime)', removed),
  ];
}

/** Stops the last replica, makes changes it misses, starts it again and times its catch-up. */
async function restart(cluster: Cluster, b: FastBackend, round: number): Promise<{ ping: number; ready: number; caughtUp: number }> {
  const last = cluster.slots.length - 1;
  const slot = cluster.slots[last] as Slot;
  await (cluster.members[last] as BenchProxy).stop();
  cluster.members[last] = undefined;
  const entry = cluster.members[0] as BenchProxy;
  const distribute: Params = cluster.mode === 'fanout' ? { distribute: 'true' } : {};
  const added: string[] = [];
  for (let i = 0; i < MISSED; i++) {
    const name = `missed${round}x${i}`;
    const r = await entry.api('reconfigure', { serviceName: name, servicePath: `/${name}`, port: String(b.port), outboundHostname: '127.0.0.1', ...distribute }, AUTH);
    if (r.status !== 200) throw new Error(`reconfigure ${name} answered ${r.status}: ${r.body}`);
    added.push(name);
  }
  // Removals of seeded services it has: a replica that missed them must not keep serving them.
  const removes = Math.max(1, Math.floor(MISSED / 4));
  if ((round + 1) * removes > SERVICES) throw new Error(`BENCH_SERVICES=${SERVICES} is too few for ${RESTARTS} restarts of ${removes} removes`);
  const removedNames = Array.from({ length: removes }, (_, i) => `seed${String(round * removes + i).padStart(5, '0')}`);
  for (const name of removedNames) {
    const r = await entry.api('remove', { serviceName: name, ...distribute }, AUTH);
    if (r.status !== 200) throw new Error(`remove ${name} answered ${r.status}: ${r.body}`);
  }
  const t0 = performance.now();
  const proxy = await startBenchProxy({ ...slot, env: cluster.env });
  const ping = performance.now() - t0;
  cluster.members[last] = proxy;
  const ready = (await pollUntil(async () => (await request({ port: proxy.apiPort, path: '/ready', timeoutMs: 2000 })).status === 200, POLL_TIMEOUT_MS)).at - t0;
  const caughtUp = (await pollUntil(async () => {
    const got = await Promise.all([
      ...added.map(async (name) => (await proxy.get(`/${name}`)).status === 200),
      ...removedNames.map(async (name) => (await proxy.get(`/${name}`)).status === 503),
    ]);
    return got.every(Boolean);
  }, POLL_TIMEOUT_MS)).at - t0;
  return { ping, ready, caughtUp };
}

runBench('replicas', async () => {
  const b = await startFastBackend('b');
  const seedBackend = await startFastBackend('a');
  const seed = plainServices(SERVICES, seedBackend.port, 'seed');
  const changeRows: ChangeRow[] = [];
  const restartRows: RestartRow[] = [];
  for (const mode of MODES) {
    const consul = mode === 'consul' ? await ConsulEmulator.start() : undefined;
    if (consul) track('consul emulator', () => consul.stop());
    for (const n of REPLICAS) {
      progress(`${mode}, ${n} replicas: starting with ${seed.length} services each`);
      const cluster = await startCluster(mode, n, seed, consul);
      try {
        changeRows.push(...(await changes(cluster, b)));
        progress(`${mode}, ${n} replicas: changes done`);
        const rounds: Array<{ ping: number; ready: number; caughtUp: number }> = [];
        for (let r = 0; r < RESTARTS; r++) rounds.push(await restart(cluster, b, r));
        restartRows.push({
          mode,
          replicas: n,
          missed: `${MISSED} adds, ${Math.max(1, Math.floor(MISSED / 4))} removes`,
          ping: summarize(rounds.map((x) => x.ping)),
          ready: summarize(rounds.map((x) => x.ready)),
          caughtUp: summarize(rounds.map((x) => x.caughtUp)),
        });
        progress(`${mode}, ${n} replicas: restarts done`);
      } finally {
        for (const m of cluster.members.reverse()) await m?.stop();
      }
    }
  }

  console.log(`# Replicas (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  console.log(`${SERVICES} services on every replica; ms from the API call on the entry replica (it rotates) to the first request through each replica's HAProxy that shows the change; ${ITER} changes of each kind; p99 of n < 100 samples is the maximum\n`);
  console.log(table(
    ['mode', 'replicas', 'change', 'n', 'API answer median', 'entry live median', 'each other replica live median', 'other p99', 'all live median', 'all live p99'],
    changeRows.map((r) => [r.mode, r.replicas, r.change, r.all.n, r.api.median, r.entry.median, r.others.median, r.others.p99, r.all.median, r.all.p99]),
  ));
  console.log(`\nRestarted replica (${RESTARTS} restarts each): ms from spawning it to its API answering, to /ready, and to all it missed being live through its HAProxy\n`);
  console.log(table(
    ['mode', 'replicas', 'missed', 'API up median', 'ready median', 'ready max', 'caught up median', 'caught up max'],
    restartRows.map((r) => [r.mode, r.replicas, r.missed, r.ping.median, r.ready.median, r.ready.max, r.caughtUp.median, r.caughtUp.max]),
  ));
  console.log(`\nRESULT ${JSON.stringify({ bench: 'replicas', at: new Date().toISOString(), services: SERVICES, iterations: ITER, changeRows, restartRows })}`);
});
