import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { silentLog } from '../../src/core/log.js';
import { Reconciler } from '../../src/core/reconcile/reconciler.js';
import type { StoredState } from '../../src/core/ports.js';
import { apiEntry, FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings } from '../support/render.js';

class SlowStore extends MemoryStore {
  override async save(state: StoredState): Promise<void> {
    await sleep(100);
    return super.save(state);
  }
}

// The live files follow runtime changes within FILES_AFTER_MS even under steady churn, when the reconciler's queue never empties.
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
