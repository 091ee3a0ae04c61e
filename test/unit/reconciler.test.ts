import test from 'ava';
import { silentLog } from '../../src/core/log.js';
import { CONSOLIDATION_CAP, Reconciler } from '../../src/core/reconcile/reconciler.js';
import { FlowError } from '../../src/domain/errors.js';
import { apiEntry, FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings } from '../support/render.js';

// The reconciler with a fake data plane: batching, the cheapest path, persist-or-fail, refusals.

async function reconciler(opts: { checkBeforeReload?: boolean } = {}) {
  const dataPlane = new FakeDataPlane();
  const store = new MemoryStore();
  const r = new Reconciler({ dataPlane, store, settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog, ...opts });
  await r.start([]);
  dataPlane.calls = [];
  return { r, dataPlane, store };
}

const plain = (name: string, port = 80) => apiEntry(`serviceName=${name}&servicePath=/${name}&port=${port}&outboundHostname=127.0.0.1`);
const withOption = (name: string) => apiEntry(`serviceName=${name}&servicePath=/${name}&port=80&outboundHostname=127.0.0.1&timeoutServer=9`);

test('changes that arrive during an apply join the next batch: one apply for them all, each caller answered', async (t) => {
  const { r } = await reconciler();
  const first = r.submit({ kind: 'upsert', entry: withOption('a') });
  // Calls of the same turn of the event loop go with it (see gather); these come once its apply has begun.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const rest = Array.from({ length: 20 }, (_, i) => r.submit({ kind: 'upsert', entry: withOption(`s${i}`) }));
  const results = await Promise.all([first, ...rest]);
  t.true(results.every((x) => x.ok));
  const ids = new Set(results.map((x) => x.apply?.id));
  t.is(ids.size, 2, 'the first change alone, then the 20 that queued behind it together');
  t.deepEqual(results.slice(1).map((x) => x.apply?.kind), Array(20).fill('reload'));
});

test('a plain new service goes through the runtime API; an option change saves, then reloads (the reload is its own check)', async (t) => {
  const { r, dataPlane, store } = await reconciler();
  const runtime = await r.submit({ kind: 'upsert', entry: plain('web') });
  t.is(runtime.apply?.kind, 'runtime');
  t.deepEqual(dataPlane.calls.filter((c) => c !== 'writeLive'), ['runtime:2'], 'a server and a route, no check, no reload');
  t.is(store.saves, 2, 'saved before HAProxy changed');
  dataPlane.calls = [];
  const reload = await r.submit({ kind: 'upsert', entry: withOption('web') });
  t.is(reload.apply?.kind, 'reload');
  t.regex(reload.apply?.reason ?? '', /options of web changed/);
  t.deepEqual(dataPlane.calls, ['commit'], 'HAProxy running keeps its workers if it cannot load the files: no haproxy -c first');
  t.is(store.saves, 3);
});

test('CHECK_BEFORE_RELOAD: an option change is checked, then saved, then reloaded', async (t) => {
  const { r, dataPlane, store } = await reconciler({ checkBeforeReload: true });
  dataPlane.refuse = (files) => (/timeout server 9s/.test(files.config) ? { ok: false, alerts: [{ message: 'refused for the test', names: [] }], output: '' } : undefined);
  const refused = await r.submit({ kind: 'upsert', entry: withOption('web') });
  t.false(refused.ok);
  t.is(dataPlane.calls[0], 'check');
  t.false(dataPlane.calls.includes('commit'), `no reload: ${dataPlane.calls.join(',')}`);
  t.is(store.saves, 1, 'nothing saved');
  dataPlane.refuse = () => undefined;
  dataPlane.calls = [];
  t.is((await r.submit({ kind: 'upsert', entry: withOption('web') })).apply?.kind, 'reload');
  t.deepEqual(dataPlane.calls, ['check', 'commit']);
  t.is(store.saves, 2);
});

test('when the state cannot be saved nothing changes, and the code says why', async (t) => {
  const { r, dataPlane, store } = await reconciler();
  for (const [error, code] of [
    [Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }), 'DISK_FULL'],
    [new FlowError('STORE_UNAVAILABLE', 'Consul at x is unreachable'), 'STORE_DOWN'],
    [new FlowError('STORE_CONFLICT', 'changed by another replica'), 'STORE_CONFLICT'],
  ] as const) {
    store.fail = error;
    dataPlane.calls = [];
    const result = await r.submit({ kind: 'upsert', entry: plain(`web-${code.toLowerCase()}`) });
    t.false(result.ok);
    t.is(result.code, code);
    t.regex(result.message, /could not save the state, nothing was changed/);
    t.deepEqual(dataPlane.calls.filter((c) => c.startsWith('runtime') || c === 'commit'), [], 'HAProxy untouched');
    t.false(r.registry.entries.has(`web-${code.toLowerCase()}`));
  }
});

test('a service HAProxy refuses is refused alone (its line named by the check); the rest of the batch goes live', async (t) => {
  const { r, dataPlane } = await reconciler();
  dataPlane.refuse = (files) => {
    const line = files.config.split('\n').findIndex((l) => l.includes('option bogus'));
    return line < 0 ? undefined : { ok: false, output: '', alerts: [{ line: line + 1, message: `[haproxy.cfg:${line + 1}] : unknown option 'bogus'.`, names: [] }] };
  };
  const [bad, good] = await Promise.all([
    r.submit({ kind: 'upsert', entry: apiEntry('serviceName=bad&servicePath=/bad&port=80&outboundHostname=127.0.0.1&backendExtra=option bogus') }),
    r.submit({ kind: 'upsert', entry: withOption('good') }),
  ]);
  t.false(bad?.ok);
  t.is(bad?.code, 'REJECTED');
  t.regex(bad?.message ?? '', /HAProxy refused the configuration of service "bad": .*unknown option 'bogus'/);
  t.true(good?.ok);
  t.deepEqual([...r.registry.entries.keys()], ['good']);
});

test('a failed reload puts the saved state back and keeps what was live', async (t) => {
  const { r, dataPlane, store } = await reconciler();
  await r.submit({ kind: 'upsert', entry: withOption('a') });
  const saved = JSON.stringify(store.saved);
  dataPlane.failReload = 'HAProxy refused the new configuration';
  const result = await r.submit({ kind: 'upsert', entry: withOption('b') });
  t.false(result.ok);
  t.is(result.code, 'HAPROXY');
  t.is(JSON.stringify(store.saved), saved, 'the store holds what is live again');
  t.deepEqual([...r.registry.entries.keys()], ['a']);
});

test('a runtime change HAProxy refuses falls back to a reload', async (t) => {
  const { r, dataPlane } = await reconciler();
  dataPlane.failRuntime = 'Server already exists';
  const result = await r.submit({ kind: 'upsert', entry: plain('web') });
  t.is(result.apply?.kind, 'reload');
  t.regex(result.apply?.reason ?? '', /runtime API refused a change \(Server already exists\)/);
  t.true(dataPlane.calls.includes('commit'));
});

test('every apply is recorded with its kind, reason, duration and change ids', async (t) => {
  const { r } = await reconciler();
  await r.submit({ kind: 'upsert', entry: plain('web') }, 'change-1');
  await r.submit({ kind: 'upsert', entry: plain('web') }, 'change-2');
  const [, runtime, none] = r.recentApplies;
  t.is(runtime?.kind, 'runtime');
  t.deepEqual(runtime?.changeIds, ['change-1']);
  t.is(none?.kind, 'none');
  t.is(none?.reason, 'no change');
  t.true((runtime?.durationMs ?? -1) >= 0);
});

test('consolidation waits for a quiet moment, but constant churn gets it at the latest CONSOLIDATION_CAP quiet periods after the drift began', async (t) => {
  const quiet = 30;
  const dataPlane = new FakeDataPlane();
  const r = new Reconciler({ dataPlane, store: new MemoryStore(), settings: baseSettings({ spareBackends: 4 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog, consolidateAfterMs: quiet });
  await r.start([]);
  const consolidations = () => r.recentApplies.filter((a) => a.kind === 'reload' && /consolidation/.test(a.reason)).length;
  // A change every third of the quiet period: never quiet. Plain new services take spares, so names drift.
  const started = performance.now();
  let n = 0;
  while (consolidations() === 0 && performance.now() - started < CONSOLIDATION_CAP * quiet * 4) {
    const result = await r.submit({ kind: 'upsert', entry: plain(`s${n++ % 3}`, 80 + (n % 7)) });
    t.true(result.ok);
    await new Promise((resolve) => setTimeout(resolve, quiet / 3));
  }
  const waited = performance.now() - started;
  t.is(consolidations(), 1, `consolidated once under churn (after ${Math.round(waited)} ms, ${n} changes)`);
  t.true(waited >= quiet * 2, 'not at the first quiet period: there was none');
  await r.close();
});

test('a burst still arriving is gathered into one batch: calls that come while others wait join them', async (t) => {
  const { r } = await reconciler();
  const calls: Array<Promise<{ ok: boolean; apply?: { id: number } }>> = [];
  // Two calls wait; more come 1 ms apart (as a burst is read off its sockets), all before the batch is taken.
  calls.push(r.submit({ kind: 'upsert', entry: plain('b0') }), r.submit({ kind: 'upsert', entry: plain('b1') }));
  for (let i = 2; i < 12; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    calls.push(r.submit({ kind: 'upsert', entry: plain(`b${i}`) }));
  }
  const results = await Promise.all(calls);
  t.true(results.every((x) => x.ok));
  t.is(new Set(results.map((x) => x.apply?.id)).size, 1, 'one apply for the whole burst');
});

test('when a reload is certain, HAProxy\'s server state is read ahead before the model is built, not after', async (t) => {
  const dataPlane = new (class extends FakeDataPlane {
    prepareCommit = () => void this.calls.push('prepareCommit');
  })();
  // Name lookups are part of building the model (prepare): where they come in the calls shows when it was built.
  const names = { resolveAll: async (hosts: Iterable<string>) => (dataPlane.calls.push('resolve'), new Map([...hosts].map((h) => [h, '127.0.0.1']))) };
  const r = new Reconciler({ dataPlane, store: new MemoryStore(), settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog, names });
  await r.start([apiEntry('serviceName=web&servicePath=/web&port=80&outboundHostname=web.local')]);
  dataPlane.calls = [];
  t.is((await r.submit({ kind: 'reload', recreate: true })).apply?.kind, 'reload');
  const order = dataPlane.calls.filter((c) => c !== 'writeLive');
  t.deepEqual(order, ['prepareCommit', 'resolve', 'commit'], order.join(','));
  // Whether a change reloads is known only once its model is built: the read comes after it, once.
  dataPlane.calls = [];
  t.is((await r.submit({ kind: 'upsert', entry: apiEntry('serviceName=web&servicePath=/web&port=80&outboundHostname=web.local&timeoutServer=9') })).apply?.kind, 'reload');
  t.is(dataPlane.calls.filter((c) => c === 'prepareCommit').length, 1, dataPlane.calls.join(','));
  t.true(dataPlane.calls.indexOf('prepareCommit') < dataPlane.calls.indexOf('commit'));
});
