import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { silentLog } from '../../src/core/log.js';
import { Reconciler } from '../../src/core/reconcile/reconciler.js';
import { apiEntry, FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings } from '../support/render.js';

// A dry run reads the live model across awaits: a runtime patch committed meanwhile makes a new model and leaves that one as it was.
test('a dry run is not changed by a runtime patch committed while it waits for name resolution', async (t) => {
  let slow = false;
  const names = {
    async resolveAll(hosts: Iterable<string>) {
      if (slow) {
        slow = false;
        await sleep(200);
      }
      return new Map([...hosts].map((h) => [h, h === 'localhost' ? '127.0.0.1' : h]));
    },
  };
  const r = new Reconciler({ dataPlane: new FakeDataPlane(), store: new MemoryStore(), settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog, names });
  await r.start([apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1')]);
  const command = { kind: 'upsert' as const, entry: apiEntry('serviceName=p&servicePath=/p&port=80&outboundHostname=127.0.0.9') };
  const alone = await r.preview(command);
  slow = true;
  const during = r.preview(command);
  const x = await r.submit({ kind: 'upsert', entry: apiEntry('serviceName=x&servicePath=/x&port=80&outboundHostname=127.0.0.5') });
  t.is(x.apply?.kind, 'runtime');
  const res = await during;
  t.true(alone.ok && res.ok);
  if (alone.ok && res.ok) t.is(res.reason, alone.reason, 'the preview reports operations for service x, which the previewed command does not touch');
  await r.close();
});
