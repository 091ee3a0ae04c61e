import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { DockerDiscovery } from '../../src/adapters/docker/discovery.js';
import { dockerSync, type DockerState } from '../../src/adapters/docker/labels.js';
import type { DockerTask } from '../../src/adapters/docker/swarmTasks.js';
import type { DockerSource } from '../../src/adapters/docker/source.js';
import { silentLog } from '../../src/core/log.js';
import type { Entry } from '../../src/domain/registry.js';
import { parseCtx } from '../support/render.js';

// The discovery loop with a scripted Docker: swarm tasks on other nodes change without an event here, so a
// service routed to its tasks is read again on its own, soon while a task is starting; without one, nothing
// is read until an event (or the minute's resync).
function swarmState(tasks: DockerTask[] | undefined): DockerState {
  return {
    containers: [],
    services: [{
      id: 'sid', name: 'api', mode: 'replicated', replicas: 1, hostNetwork: false,
      labels: { 'com.df.notify': 'true', 'com.df.servicePath': '/api', 'com.df.port': '80', ...(tasks && { 'com.df.swarmRouting': 'tasks' }) },
      ...(tasks && { tasks }),
    }],
  };
}

function harness(states: () => DockerState, taskPollMs = 150) {
  let reads = 0;
  const applied: Entry[][] = [];
  const source: DockerSource = {
    read: async () => {
      reads++;
      return states();
    },
    // No events at all: whatever the loop learns, it learns by reading on its own.
    watch: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
  };
  const discovery = new DockerDiscovery({
    source,
    map: (state) => dockerSync(state, { notifyLabel: 'com.df.notify', parseContext: parseCtx }),
    apply: async (entries) => {
      applied.push(entries);
      return { ok: true, message: 'applied' };
    },
    log: silentLog,
    notifyLabel: 'com.df.notify',
    dockerHost: 'fake',
    timing: { debounceMs: 1, resyncMs: 60_000, taskPollMs, taskSettleMs: 20 },
  });
  return { discovery, reads: () => reads, applied };
}

/** Waits for `done` (polling), at most `ms`; the tests wait on what happens, not on how fast. */
async function until(done: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(5);
  return done();
}

const servers = (entries: Entry[] | undefined) => (entries?.find((e) => e.name === 'api')?.spec.servers ?? []).map((s) => s.id);

test('a task that is starting joins without any event: the loop reads again every taskSettleMs until it runs', async (t) => {
  let state: DockerTask['state'] = 'starting';
  // A poll every 10 s would not read again within this test: the reads are the quick ones.
  const h = harness(() => swarmState([{ id: 't1', state, addresses: [{ network: 'edge', ip: '10.0.1.5' }] }]), 10_000);
  const stop = new AbortController();
  await h.discovery.initialSync(stop.signal);
  h.discovery.start(stop.signal);
  t.true(await until(() => h.reads() >= 4), `quick resyncs while the task starts: ${h.reads()} reads`);
  t.deepEqual(servers(h.applied.at(-1)), [], 'not a server while starting');
  state = 'running';
  t.true(await until(() => servers(h.applied.at(-1)).length === 1), 'the running task becomes a server, with no event');
  t.deepEqual(servers(h.applied.at(-1)), ['t1']);
  // Settled: back to taskPollMs (10 s), so no more quick reads.
  await sleep(50);
  const settled = h.reads();
  await sleep(200);
  t.is(h.reads(), settled, 'no quick reads once the task runs');
  stop.abort();
  await h.discovery.stop();
});

test('a task gone on another node (no event here) leaves within taskPollMs', async (t) => {
  let tasks: DockerTask[] = [{ id: 't1', state: 'running', addresses: [{ network: 'edge', ip: '10.0.1.5' }] }, { id: 't2', state: 'running', addresses: [{ network: 'edge', ip: '10.0.1.6' }] }];
  const h = harness(() => swarmState(tasks));
  const stop = new AbortController();
  await h.discovery.initialSync(stop.signal);
  h.discovery.start(stop.signal);
  // No event, so the first apply is the first poll, taskPollMs after the initial read.
  t.true(await until(() => servers(h.applied.at(-1)).length === 2));
  t.deepEqual(servers(h.applied.at(-1)), ['t1', 't2']);
  tasks = tasks.slice(1);
  t.true(await until(() => servers(h.applied.at(-1)).length === 1));
  t.deepEqual(servers(h.applied.at(-1)), ['t2']);
  stop.abort();
  await h.discovery.stop();
});

test('without a service routed to its tasks, nothing is read again until an event or the periodic resync', async (t) => {
  const h = harness(() => swarmState(undefined));
  const stop = new AbortController();
  await h.discovery.initialSync(stop.signal);
  h.discovery.start(stop.signal);
  await sleep(400);
  t.is(h.reads(), 1, 'only the initial read');
  stop.abort();
  await h.discovery.stop();
});

test('polls that find nothing new apply nothing: no apply record or log line every 2 s', async (t) => {
  const h = harness(() => swarmState([{ id: 't1', state: 'running', addresses: [{ network: 'edge', ip: '10.0.1.5' }] }]), 20);
  const stop = new AbortController();
  await h.discovery.initialSync(stop.signal);
  h.discovery.start(stop.signal);
  t.true(await until(() => h.reads() >= 10), `polled: ${h.reads()} reads`);
  t.is(h.applied.length, 1, 'the first poll applies; the same state again is not applied');
  t.deepEqual(servers(h.applied[0]), ['t1']);
  stop.abort();
  await h.discovery.stop();
});
