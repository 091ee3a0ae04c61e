import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { checkConfig } from '../../src/adapters/haproxy/check.js';
import type { PreviewResult } from '../../src/core/apply/preview.js';
import { Reconciler } from '../../src/core/reconcile/reconciler.js';
import { silentLog } from '../../src/core/log.js';
import type { ConfigFiles } from '../../src/core/ports.js';
import type { Entry } from '../../src/domain/registry.js';
import { apiEntry, FakeDataPlane, MemoryStore, sameFiles, templates } from '../support/fakes.js';
import { baseSettings, writeConfig } from '../support/render.js';

const entry = (query: string) => apiEntry(query);

async function engine(entries: Entry[] = []) {
  const dataPlane = new FakeDataPlane();
  const store = new MemoryStore();
  const e = new Reconciler({ dataPlane, store, settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog });
  await e.start(entries);
  return { e, dataPlane, store };
}

/** Everything a dry run must leave alone. */
function snapshot(x: Awaited<ReturnType<typeof engine>>) {
  return { calls: [...x.dataPlane.calls], saves: x.store.saves, registry: x.e.registry, applies: x.e.recentApplies.length, quarantined: JSON.stringify(x.e.quarantined), model: x.e.liveModel };
}

function assertUnchanged(t: import('ava').ExecutionContext, x: Awaited<ReturnType<typeof engine>>, before: ReturnType<typeof snapshot>): void {
  const after = snapshot(x);
  t.deepEqual(after.calls, before.calls, 'no data plane call');
  t.is(after.saves, before.saves, 'no store write');
  t.is(after.registry, before.registry, 'the registry is the same snapshot');
  t.is(after.applies, before.applies, 'no apply recorded');
  t.is(after.quarantined, before.quarantined);
  t.is(after.model, before.model, 'the live model is untouched');
}

function ok(t: import('ava').ExecutionContext, r: PreviewResult): Extract<PreviewResult, { ok: true }> {
  if (!r.ok) t.fail(`preview failed: ${r.code} ${r.message}`);
  return r as Extract<PreviewResult, { ok: true }>;
}

test('a plain new service previews as runtime, a new service with options as reload, an unchanged one as none; nothing changes', async (t) => {
  const x = await engine([entry('serviceName=web&servicePath=/web&port=3000&outboundHostname=127.0.0.1')]);
  const before = snapshot(x);
  const plain = ok(t, await x.e.preview({ kind: 'upsert', entry: entry('serviceName=api&servicePath=/api&port=3001&outboundHostname=127.0.0.1') }));
  t.is(plain.kind, 'runtime');
  t.regex(plain.reason, /1 server added, 1 route set/);
  t.true(plain.candidate.maps['path_prefix.map']?.includes('/api '));
  t.false(plain.live.maps['path_prefix.map']?.includes('/api '));
  const optioned = ok(t, await x.e.preview({ kind: 'upsert', entry: entry('serviceName=api&servicePath=/api&port=3001&outboundHostname=127.0.0.1&timeoutServer=9') }));
  t.is(optioned.kind, 'reload');
  t.false(optioned.checked, 'no check function was given');
  t.regex(optioned.candidate.config, /timeout server 9s/);
  const same = ok(t, await x.e.preview({ kind: 'upsert', entry: entry('serviceName=web&servicePath=/web&port=3000&outboundHostname=127.0.0.1') }));
  t.is(same.kind, 'none');
  t.true(sameFiles(same.live, same.candidate));
  const unknown = ok(t, await x.e.preview({ kind: 'remove', name: 'nope' }));
  t.is(unknown.kind, 'none');
  const removal = ok(t, await x.e.preview({ kind: 'remove', name: 'web' }));
  t.is(removal.kind, 'runtime');
  t.false(removal.candidate.maps['path_prefix.map']?.includes('/web '));
  assertUnchanged(t, x, before);
});

test('a preview answers the 400 the apply would: aclName taken, HAProxy refusing the service', async (t) => {
  const x = await engine([entry('serviceName=web&servicePath=/web&port=3000&outboundHostname=127.0.0.1')]);
  const before = snapshot(x);
  const clash = await x.e.preview({ kind: 'upsert', entry: entry('serviceName=other&aclName=web&servicePath=/o&port=3000') });
  t.deepEqual(clash, { ok: false, code: 'ACL_TAKEN', message: 'aclName "web" is already used by service "web".' });
  // A real haproxy -c refuses the candidate; the line it names belongs to the new service.
  const check = async (files: ConfigFiles) => checkConfig('haproxy', writeConfig(files));
  const refused = await x.e.preview({ kind: 'upsert', entry: entry('serviceName=bad&servicePath=/bad&port=3000&backendExtra=option%20bogus') }, { check });
  t.false(refused.ok);
  if (!refused.ok) {
    t.is(refused.code, 'REJECTED');
    t.regex(refused.message, /^HAProxy refused the configuration of service "bad": .*unknown option 'bogus'/);
  }
  const good = ok(t, await x.e.preview({ kind: 'upsert', entry: entry('serviceName=fine&servicePath=/f&port=3000&timeoutServer=7') }, { check }));
  t.is(good.kind, 'reload');
  t.true(good.checked);
  assertUnchanged(t, x, before);
});

test('a certificate a serviceCert would add turns a runtime change into a reload with TLS binds', async (t) => {
  const x = await engine();
  const e = entry('serviceName=api&servicePath=/api&port=3001&outboundHostname=127.0.0.1');
  t.is(ok(t, await x.e.preview({ kind: 'upsert', entry: e })).kind, 'runtime');
  const withCert = ok(t, await x.e.preview({ kind: 'upsert', entry: e }, { certs: { hasCerts: true, key: 'new' } }));
  t.is(withCert.kind, 'reload');
  t.regex(withCert.candidate.config, /bind \*:443 ssl crt-list/);
});

// Any sequence of changes: what the dry run says is what the apply then does, and the files it
// shows are the files that go live.
const name = fc.constantFrom('a', 'b', 'c', 'd');
const change = fc.oneof(
  fc.record({
    kind: fc.constant('upsert' as const),
    name,
    path: fc.constantFrom('/x', '/y', '/x/y', '/'),
    domain: fc.constantFrom('', 'a.com', '*.b.com'),
    port: fc.constantFrom(3000, 3001),
    host: fc.constantFrom('127.0.0.1', '127.0.0.2'),
    option: fc.constantFrom('', '&timeoutServer=9', '&serviceHeader=X-V:1'),
  }),
  fc.record({ kind: fc.constant('remove' as const), name }),
);

test('property: the dry run predicts the apply (kind and resulting files) for any sequence of changes', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(change, { minLength: 1, maxLength: 8 }), async (changes) => {
      const x = await engine();
      for (const c of changes) {
        const command = c.kind === 'remove'
          ? { kind: 'remove' as const, name: c.name }
          : { kind: 'upsert' as const, entry: entry(`serviceName=${c.name}&servicePath=${c.path}&port=${c.port}&outboundHostname=${c.host}${c.domain ? `&serviceDomain=${c.domain}` : ''}${c.option}`) };
        const before = snapshot(x);
        const preview = await x.e.preview(command);
        assertUnchanged(t, x, before);
        const result = await x.e.submit(command);
        if (!preview.ok) {
          t.false(result.ok);
          t.is(result.code, preview.code);
          continue;
        }
        t.true(result.ok, result.message);
        t.is(result.apply?.kind, preview.kind, JSON.stringify(c));
        const live = x.e.liveConfig as ConfigFiles;
        t.true(sameFiles(live, preview.candidate), `the files that went live are the candidate shown for ${JSON.stringify(c)}`);
      }
    }),
    { seed: 19, numRuns: 40 },
  );
});
