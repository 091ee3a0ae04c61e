/**
 * Event-to-traffic latency of Docker discovery, against a real dockerd in a
 * network namespace of its own (test/support/dockerEngine.ts) and flow-proxy
 * running inside it, as the Docker tests do:
 *
 * - new service: `docker run` of a labelled container (a new route), time
 *   from `docker run -d` returning, and from Docker's start event, to the
 *   first request the new container answers through HAProxy;
 * - new replica: the same for a container joining a running service;
 * - scale 1 -> 20: 19 containers started at once (as `docker compose up
 *   --scale` does), time until every one of the 20 has answered.
 *
 * `node dist/bench/docker-latency.js` (as root; BENCH_STARTS=50, BENCH_SCALE_ROUNDS=5).
 */
import Docker from 'dockerode';
import { startDockerEngine } from '../test/support/dockerEngine.js';
import { startFlowProxyIn, type NsFlowProxy } from '../test/support/nsFlowProxy.js';
import { runWeb } from '../test/support/webContainer.js';
import { progress, runBench, track } from './support/cleanup.js';
import { envInt, summarize, table } from './support/stats.js';

const STARTS = envInt('BENCH_STARTS', 50);
const SCALE_ROUNDS = envInt('BENCH_SCALE_ROUNDS', 5);
const DEADLINE_MS = 10_000;

/** Wall-clock now in ms with sub-ms precision, comparable with Docker's event timestamps. */
const now = () => performance.timeOrigin + performance.now();

/** Requests that took longer than this waited HAProxy's 1 s connect retry (the container did not listen yet). */
const STALLED_MS = 500;
let stalled = 0;

/**
 * Sends a request every 2 ms (up to 64 in flight) until one answer
 * satisfies `done`; returns when it arrived. Concurrent probes keep one
 * early request, stuck in HAProxy's 1 s retry because the new container did
 * not listen yet, from hiding when traffic really started to flow.
 */
function pollUntil(proxy: NsFlowProxy, path: string, done: (body: string) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + DEADLINE_MS;
    let finished = false;
    let inflight = 0;
    const tick = () => {
      if (finished) return;
      if (Date.now() > deadline) {
        finished = true;
        reject(new Error(`${path} not answered within ${DEADLINE_MS} ms`));
        return;
      }
      if (inflight < 64) {
        inflight++;
        const sent = now();
        proxy.get(path).then(
          (res) => {
            inflight--;
            const at = now();
            if (at - sent > STALLED_MS) stalled++;
            if (!finished && done(res.status === 200 ? res.body.trim() : '')) {
              finished = true;
              resolve(at);
            }
          },
          () => {
            inflight--;
          },
        );
      }
      setTimeout(tick, 2);
    };
    tick();
  });
}

runBench('docker-latency', async () => {
  progress('starting dockerd in a network namespace');
  const engine = await startDockerEngine({ tag: 'bench' });
  track('docker engine', () => engine.stop());
  const proxy = await startFlowProxyIn(engine, { env: { LOG_LEVEL: 'warn', SPARE_BACKENDS: '32' } });
  track('flow-proxy', () => proxy.stop());

  // Docker's own start events, by container id.
  const docker = new Docker({ socketPath: engine.socket });
  const startEvents = new Map<string, number>();
  const events = new AbortController();
  track('events', () => events.abort());
  const stream = await docker.getEvents({ filters: { type: ['container'], event: ['start'] }, abortSignal: events.signal });
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const ev = JSON.parse(buffered.slice(0, nl)) as { id?: string; Actor?: { ID?: string }; timeNano?: number };
      buffered = buffered.slice(nl + 1);
      const id = ev.Actor?.ID ?? ev.id;
      if (id && ev.timeNano) startEvents.set(id, ev.timeNano / 1e6);
    }
  });
  stream.on('error', () => undefined);

  // Waits on the proxy's own view, not on traffic: a request sent in the few ms between a container's
  // death and its removal would sit in HAProxy's 1 s connect retry and only slow the benchmark down.
  const settle = async (service: string, servers: number) => {
    const deadline = Date.now() + DEADLINE_MS;
    while ((await serverCount(proxy, service)) !== servers) {
      if (Date.now() > deadline) throw new Error(`service ${service} did not settle at ${servers} servers`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const measure = async (label: string, n: number, name: (i: number) => string, service: (i: number) => string, path: (i: number) => string, remaining: number) => {
    const fromRun: number[] = [];
    const answeredAt: Array<[string, number]> = [];
    for (let i = 0; i < n; i++) {
      const text = `${label}-${i}`;
      const id = await runWeb(engine, { name: name(i), port: 18500 + i, path: path(i), text, labels: { 'com.df.serviceName': service(i) } });
      const returned = now();
      const answered = await pollUntil(proxy, `${path(i)}/`, (b) => b === text);
      fromRun.push(answered - returned);
      answeredAt.push([id, answered]);
      await engine.docker(['rm', '-f', name(i)]);
      await settle(service(i), remaining);
    }
    // Looked up at the end: an event may be read from the stream after the first answer arrived.
    const fromEvent = answeredAt.flatMap(([id, at]) => {
      const event = startEvents.get(id);
      return event === undefined ? [] : [at - event];
    });
    return { fromRun, fromEvent };
  };

  progress(`${STARTS} starts of a new labelled container (a new service each)`);
  const fresh = await measure('new', STARTS, (i) => `new-${i}`, (i) => `new${i}`, (i) => `/new${i}`, 0);

  progress(`${STARTS} starts of a second replica of a running service`);
  await runWeb(engine, { name: 'base', port: 18499, path: '/rep', text: 'base', labels: { 'com.df.serviceName': 'rep' } });
  await pollUntil(proxy, '/rep/', (b) => b === 'base');
  const replica = await measure('rep', STARTS, (i) => `rep-${i}`, () => 'rep', () => '/rep', 1);

  progress(`scale 1 -> 20, ${SCALE_ROUNDS} rounds`);
  const scaleFromFirst: number[] = [];
  const scaleFromLast: number[] = [];
  const scaleApplies: number[] = [];
  await runWeb(engine, { name: 'sc-0', port: 18600, path: '/scale', text: 'sc-0', labels: { 'com.df.serviceName': 'scale' } });
  await pollUntil(proxy, '/scale/', (b) => b === 'sc-0');
  for (let round = 0; round < SCALE_ROUNDS; round++) {
    const lastApply = (await applies(proxy)).at(-1)?.Id ?? 0;
    const started = now();
    let lastReturned = 0;
    const seen = new Set<string>(['sc-0']);
    const runs = Promise.all(Array.from({ length: 19 }, async (_, k) => {
      await runWeb(engine, { name: `sc-${k + 1}`, port: 18601 + k, path: '/scale', text: `sc-${k + 1}`, labels: { 'com.df.serviceName': 'scale' } });
      lastReturned = Math.max(lastReturned, now());
    }));
    const all = await pollUntil(proxy, '/scale/', (b) => {
      if (b !== '') seen.add(b);
      return seen.size === 20;
    });
    await runs;
    scaleFromFirst.push(all - started);
    scaleFromLast.push(all - lastReturned);
    // Applies that touched HAProxy while the 19 containers came up.
    scaleApplies.push((await applies(proxy)).filter((a) => a.Id > lastApply && a.Kind !== 'none').length);
    await engine.docker(['rm', '-f', ...Array.from({ length: 19 }, (_, k) => `sc-${k + 1}`)]);
    await settle('scale', 1);
  }

  const row = (name: string, values: number[]) => {
    const s = summarize(values);
    return [name, String(s.n), s.median, s.p99, s.min, s.max];
  };
  process.stdout.write(`\nDocker discovery, event-to-traffic latency (ms), ${new Date().toISOString().slice(0, 10)}\n\n`);
  process.stdout.write(`${table(['measurement', 'n', 'p50', 'p99', 'min', 'max'], [
    row('new service: docker run returned -> first answer', fresh.fromRun),
    row('new service: start event -> first answer', fresh.fromEvent),
    row('new replica: docker run returned -> first answer', replica.fromRun),
    row('new replica: start event -> first answer', replica.fromEvent),
    row('scale 1 -> 20: first docker run issued -> all 20 answered', scaleFromFirst),
    row('scale 1 -> 20: last docker run returned -> all 20 answered', scaleFromLast),
    row('scale 1 -> 20: applies that changed HAProxy', scaleApplies),
  ])}\n`);
  process.stdout.write(`\nProbe requests sent before a new container listened, which waited HAProxy's 1 s connect retry: ${stalled}\n`);
});

/** The engine's recent applies (id and how each was made live). */
async function applies(proxy: NsFlowProxy): Promise<Array<{ Id: number; Kind: string }>> {
  const json = (await proxy.api('services')).json as { Applies?: Array<{ Id: number; Kind: string }> };
  return json.Applies ?? [];
}

async function serverCount(proxy: NsFlowProxy, name: string): Promise<number> {
  const json = (await proxy.api('discovery')).json as { Services: Array<{ ServiceName: string; Servers: unknown[] }> };
  return json.Services.find((s) => s.ServiceName === name)?.Servers.length ?? 0;
}
