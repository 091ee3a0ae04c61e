import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { silentLog } from '../../src/core/log.js';
import { FILES_AFTER_MS, FILES_AT_MOST_MS, filesDelayMs, Reconciler } from '../../src/core/reconcile/reconciler.js';
import type { StoredState } from '../../src/core/ports.js';
import { apiEntry, FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings } from '../support/render.js';

/** Writing the files takes WRITE_MS, as rendering 10,000 services does. */
class SlowWrites extends FakeDataPlane {
  static readonly WRITE_MS = 100;
  writeTimes: number[] = [];
  override writeLive(): void {
    super.writeLive();
    this.writeTimes.push(performance.now());
    const until = performance.now() + SlowWrites.WRITE_MS;
    while (performance.now() < until);
  }
}

class SlowStore extends MemoryStore {
  override async save(state: StoredState): Promise<void> {
    await sleep(100);
    return super.save(state);
  }
}

// The live files follow runtime changes within FILES_AFTER_MS (writes are cheap here) even under steady churn, when the reconciler's queue never empties.
test('under steady runtime churn the live files are still written within FILES_AFTER_MS', async (t) => {
  const dataPlane = new FakeDataPlane();
  const r = new Reconciler({ dataPlane, store: new SlowStore(), settings: baseSettings({ spareBackends: 4 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog });
  await r.start([apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1')]);
  dataPlane.calls = [];
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < 30; i++) {
    pending.push(r.submit({ kind: 'upsert', entry: apiEntry(`serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.${(i % 200) + 2}`) }));
    await sleep(50);
  }
  const runtimeApplies = dataPlane.calls.filter((c) => c.startsWith('runtime')).length;
  const writes = dataPlane.calls.filter((c) => c === 'writeLive').length;
  await Promise.all(pending);
  t.true(runtimeApplies > 5, `runtime applies: ${runtimeApplies}`);
  t.true(writes > 0, `1.5 s of runtime changes, files written ${writes} times`);
  await r.close();
});

test('the files are written after FILES_AFTER_MS when writing them is cheap, at most a twentieth of the time when it is not, never later than FILES_AT_MOST_MS', (t) => {
  t.is(filesDelayMs(0), FILES_AFTER_MS);
  t.is(filesDelayMs(2), FILES_AFTER_MS);
  t.is(filesDelayMs(80), 1600);
  t.is(filesDelayMs(10_000), FILES_AT_MOST_MS);
});

// At 10,000 services a write renders every service: under churn it must not take the event loop twice a second.
test('under steady runtime churn, slow file writes are spaced by their cost, and still happen', async (t) => {
  const dataPlane = new SlowWrites();
  const r = new Reconciler({ dataPlane, store: new MemoryStore(), settings: baseSettings({ spareBackends: 4 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog });
  await r.start([apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1')]);
  dataPlane.calls = [];
  const pending: Array<Promise<unknown>> = [];
  const began = performance.now();
  for (let i = 0; i < 60; i++) {
    pending.push(r.submit({ kind: 'upsert', entry: apiEntry(`serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.${(i % 200) + 2}`) }));
    await sleep(50);
  }
  await Promise.all(pending);
  const elapsed = performance.now() - began;
  const times = dataPlane.writeTimes;
  // A fixed 500 ms would write about elapsed / 600 times; 100 ms writes are spaced by at least 2 s.
  t.true(times.length >= 1, `files written ${times.length} times in ${Math.round(elapsed)} ms`);
  t.true(times.length <= Math.ceil(elapsed / 2000) + 1, `files written ${times.length} times in ${Math.round(elapsed)} ms`);
  for (let i = 1; i < times.length; i++) t.true(times[i]! - times[i - 1]! >= 20 * SlowWrites.WRITE_MS, `gap ${Math.round(times[i]! - times[i - 1]!)} ms`);
  // The last change is on disk within the spacing: the files are never left behind.
  await sleep(20 * SlowWrites.WRITE_MS + 500);
  t.true(r.flushFiles());
  t.is(dataPlane.calls.at(-1), 'writeLive', 'the last write came after the last runtime change');
  await r.close();
});
