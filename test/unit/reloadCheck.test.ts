import test from 'ava';
import { silentLog } from '../../src/core/log.js';
import { Reconciler, type Command } from '../../src/core/reconcile/reconciler.js';
import type { ConfigFiles } from '../../src/core/ports.js';
import { apiEntry, FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings } from '../support/render.js';

// What `haproxy -c` is given at a reload (before it with CHECK_BEFORE_RELOAD, else after a refused one to name
// the culprits): the whole config but the backends HAProxy read already, unchanged.

class CheckingDataPlane extends FakeDataPlane {
  checked: ConfigFiles[] = [];
  override async check(files: ConfigFiles) {
    this.checked.push(files);
    return super.check(files);
  }
}

const plain = (name: string, extra = '') => apiEntry(`serviceName=${name}&servicePath=/${name}&port=80&outboundHostname=127.0.0.1${extra}`);
const backends = (files: ConfigFiles) => [...files.config.matchAll(/^backend (\S+)/gm)].map((m) => m[1]);

async function withServices(count: number, checkBeforeReload = true) {
  const dataPlane = new CheckingDataPlane();
  const r = new Reconciler({ dataPlane, store: new MemoryStore(), settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog, checkBeforeReload });
  await r.start(Array.from({ length: count }, (_, i) => plain(`s${i}`)));
  dataPlane.checked = [];
  return { r, dataPlane };
}

test('an option change is checked with the frontends and its own backend, not the backends HAProxy runs unchanged', async (t) => {
  const { r, dataPlane } = await withServices(50);
  const result = await r.submit({ kind: 'upsert', entry: plain('s7', '&timeoutServer=9') });
  t.is(result.apply?.kind, 'reload');
  t.is(dataPlane.checked.length, 1);
  const checked = dataPlane.checked[0] as ConfigFiles;
  t.deepEqual(backends(checked), ['_fp_no_route', 's7-be80_0'], 'only the changed backend besides the built-in one');
  t.regex(checked.config, /frontend /, 'the frontends are checked every time');
  t.true(backends(dataPlane.committed as ConfigFiles).length > 50, 'the reload gets the whole config');
  await r.close();
});

const refuseTimeout9 = (files: ConfigFiles) => (/timeout server 9s/.test(files.config) ? { ok: false, alerts: [{ message: 'refused for the test', names: [], line: files.config.split('\n').findIndex((l) => l.includes('timeout server 9s')) + 1 }], output: '' } : undefined);

for (const checkBeforeReload of [true, false]) {
  test(`a backend HAProxy refuses is still found by the check, and the change refused with nothing live changed (CHECK_BEFORE_RELOAD=${checkBeforeReload})`, async (t) => {
    const { r, dataPlane } = await withServices(50, checkBeforeReload);
    const before = dataPlane.committed;
    dataPlane.refuse = refuseTimeout9;
    const result = await r.submit({ kind: 'upsert', entry: plain('s7', '&timeoutServer=9') });
    t.false(result.ok);
    t.is(result.ok ? '' : result.code, 'REJECTED');
    t.regex(result.message, /"s7".*refused for the test/);
    t.is(dataPlane.committed, before, 'nothing was reloaded');
    t.deepEqual(backends(dataPlane.checked[0] as ConfigFiles), ['_fp_no_route', 's7-be80_0'], 'the check that named it read the changed part only');
    await r.close();
  });
}

test('by default a reload HAProxy accepts runs no haproxy -c; one it refuses is followed by the check that names the culprit', async (t) => {
  const { r, dataPlane } = await withServices(50, false);
  t.is((await r.submit({ kind: 'upsert', entry: plain('s7', '&timeoutServer=8') })).apply?.kind, 'reload');
  t.deepEqual(dataPlane.calls.slice(-1), ['commit']);
  t.is(dataPlane.checked.length, 0);
  dataPlane.calls = [];
  dataPlane.refuse = refuseTimeout9;
  const result = await r.submit({ kind: 'upsert', entry: plain('s9', '&timeoutServer=9') });
  t.false(result.ok);
  t.deepEqual(dataPlane.calls.slice(0, 2), ['commit', 'check'], 'the reload first, refused; then the check');
  t.regex(dataPlane.committed?.config ?? '', /timeout server 8s/, 'the earlier change stays live');
  t.notRegex(dataPlane.committed?.config ?? '', /timeout server 9s/);
  await r.close();
});

test('after runtime changes, the backends they touched are checked at the next reload: HAProxy has not read them from a file', async (t) => {
  const { r, dataPlane } = await withServices(20);
  t.is((await r.submit({ kind: 'upsert', entry: plain('fresh') })).apply?.kind, 'runtime');
  const commands: Command[] = [{ kind: 'upsert', entry: plain('s3', '&timeoutServer=9') }];
  t.is((await r.submitAll(commands))[0]?.apply?.kind, 'reload');
  const checked = backends(dataPlane.checked[0] as ConfigFiles);
  t.true(checked.includes('s3-be80_0'));
  t.true(checked.includes('fresh-be80_0'), 'the service added at run time is in the check');
  t.false(checked.includes('s4-be80_0'));
  await r.close();
});
