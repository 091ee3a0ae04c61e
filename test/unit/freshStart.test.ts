import test from 'ava';
import { silentLog } from '../../src/core/log.js';
import type { CheckResult, ConfigFiles } from '../../src/core/ports.js';
import { Reconciler } from '../../src/core/reconcile/reconciler.js';
import { FlowError } from '../../src/domain/errors.js';
import { apiEntry, FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings } from '../support/render.js';

/** Nothing runs yet: start launches HAProxy, which refuses what `refuse` refuses, as a real one exits at start. */
class FreshDataPlane extends FakeDataPlane {
  startsFresh(): boolean {
    return true;
  }
  override async start(files: ConfigFiles): Promise<'started'> {
    this.calls.push('start');
    if (this.refuse(files)) throw new FlowError('HAPROXY_START', 'HAProxy exited at start (code 1): refused for the test');
    this.committed = files;
    return 'started';
  }
}

const bogus = (files: ConfigFiles): CheckResult | undefined => {
  const line = files.config.split('\n').findIndex((l) => l.includes('option bogus'));
  return line < 0 ? undefined : { ok: false, output: '', alerts: [{ line: line + 1, message: `[haproxy.cfg:${line + 1}] : unknown option 'bogus'.`, names: [] }] };
};

const reconciler = (dataPlane: FakeDataPlane) => new Reconciler({ dataPlane, store: new MemoryStore(), settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog });

test('a first start with nothing to adopt lets HAProxy read the config: no separate haproxy -c', async (t) => {
  const dataPlane = new FreshDataPlane();
  const r = reconciler(dataPlane);
  await r.start([apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1')]);
  t.deepEqual(dataPlane.calls, ['start']);
  t.regex(dataPlane.committed?.config ?? '', /backend a/);
  await r.close();
});

test('a first start HAProxy refuses is checked, the service it names quarantined, and the rest started', async (t) => {
  const dataPlane = new FreshDataPlane();
  dataPlane.refuse = bogus;
  const r = reconciler(dataPlane);
  await r.start([apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1'), apiEntry('serviceName=bad&servicePath=/bad&port=80&outboundHostname=127.0.0.1&backendExtra=option bogus')]);
  t.deepEqual(dataPlane.calls.filter((c) => c === 'start' || c === 'check').slice(0, 2), ['start', 'check']);
  t.is(dataPlane.calls.at(-1), 'start');
  t.deepEqual(r.quarantined.map((q) => q.name), ['bad']);
  t.notRegex(dataPlane.committed?.config ?? '', /option bogus/);
  t.regex(dataPlane.committed?.config ?? '', /backend a/);
  await r.close();
});

test('a first start HAProxy refuses although haproxy -c accepts it (a port taken) fails with HAProxy\'s reason', async (t) => {
  const dataPlane = new FreshDataPlane();
  dataPlane.start = async () => {
    dataPlane.calls.push('start');
    throw new FlowError('HAPROXY_START', 'HAProxy exited at start (code 1): cannot bind socket');
  };
  const r = reconciler(dataPlane);
  await t.throwsAsync(r.start([apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1')]), { message: /cannot bind socket/ });
  t.deepEqual(dataPlane.calls, ['start', 'check']);
});

test('with an earlier HAProxy to adopt, the config is checked before anything starts', async (t) => {
  const dataPlane = new FakeDataPlane();
  const r = reconciler(dataPlane);
  await r.start([apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1')]);
  t.deepEqual(dataPlane.calls, ['check', 'start']);
  await r.close();
});
