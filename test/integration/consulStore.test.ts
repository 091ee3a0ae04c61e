import test, { type ExecutionContext } from 'ava';
import { ConsulStore, StoreConflictError } from '../../src/adapters/store/consulStore.js';
import { ConsulTemplates } from '../../src/adapters/store/consulTemplates.js';
import type { StoredService, StoredState } from '../../src/core/ports.js';
import { FlowError } from '../../src/domain/errors.js';
import { consulBackendKinds, type ConsulBackend } from '../support/consulBackends.js';
import { ConsulEmulator } from '../support/consulEmulator.js';
import { errorStatus } from '../../src/http/errors.js';

// Short timings so that outages and watches resolve in test time; the defaults are for production.
// Requests get a generous limit: these machines run other suites at the same time.
const TIMINGS = { waitMs: 1_000, timeoutMs: 3_000, backoff: { baseMs: 50, capMs: 250 } };

function svc(name: string, extra: Record<string, string> = {}, owner: 'api' | 'env' = 'api'): StoredService {
  return { owner, params: { serviceName: name, servicePath: `/${name}`, port: '8080', ...extra } };
}

function state(...services: StoredService[]): StoredState {
  return { version: services.length, services };
}

function names(s: StoredState | undefined): string[] {
  return (s?.services ?? []).map((x) => x.params.serviceName!);
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A stand-in for one replica's engine, with the same contract: changes and
 * reports from the watch run one at a time, a change is kept only when
 * its save succeeded, and a report replaces the state without a save.
 */
class Replica {
  state: StoredService[] = [];
  private queue: Promise<void> = Promise.resolve();
  constructor(readonly store: ConsulStore) {}

  async start(signal: AbortSignal): Promise<void> {
    this.state = (await this.store.load())?.services ?? [];
    this.store.watch((s) => void this.run(async () => (this.state = s.services)), signal);
  }

  change(fn: (s: StoredService[]) => StoredService[]): Promise<void> {
    return this.run(async () => {
      const next = fn(this.state);
      await this.store.save({ version: 0, services: next });
      this.state = next;
    });
  }

  private run(job: () => Promise<unknown>): Promise<void> {
    const run = this.queue.then(job).then(() => undefined);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function canonical(services: StoredService[]): string {
  return JSON.stringify(
    services
      .map((s) => [s.params.serviceName, s.owner, Object.entries(s.params).sort()])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
}

for (const kind of consulBackendKinds()) {
  const title = (t: string) => `${kind.label}: ${t}`;

  async function setup(t: ExecutionContext): Promise<{ b: ConsulBackend; store: (extra?: Partial<ConstructorParameters<typeof ConsulStore>[0]>) => ConsulStore; signal: AbortSignal }> {
    const b = await kind.start();
    const stop = new AbortController();
    const stores: ConsulStore[] = [];
    t.teardown(async () => {
      stop.abort();
      for (const s of stores) s.close();
      await b.close();
    });
    const store = (extra = {}) => {
      const s = new ConsulStore({ address: b.address, prefix: b.prefix, ...(b.token !== undefined && { token: b.token }), ...TIMINGS, ...extra });
      stores.push(s);
      return s;
    };
    return { b, store, signal: stop.signal };
  }

  test(title('save then load returns every service, stored as one JSON key per service'), async (t) => {
    const { b, store } = await setup(t);
    const s1 = store();
    t.is(await s1.load(), undefined, 'nothing stored yet');
    const web = { ...svc('web', { serviceDomain: 'example.com,www.example.com', note: 'é ü = & ?' }), stamp: 1_700_000_000_123 };
    const env = svc('env-svc', {}, 'env');
    await s1.save(state(web, env));

    const loaded = await store().load();
    t.truthy(loaded);
    t.true(loaded!.version > 0);
    t.deepEqual(names(loaded), ['env-svc', 'web']);
    t.deepEqual(loaded!.services.find((s) => s.params.serviceName === 'web'), web);
    t.deepEqual(loaded!.services.find((s) => s.params.serviceName === 'env-svc'), env);

    const values = await b.http.values(b.prefix);
    t.deepEqual(Object.keys(values).sort(), [`${b.prefix}/services/env-svc`, `${b.prefix}/services/web`]);
    t.deepEqual(JSON.parse(values[`${b.prefix}/services/web`]!), { owner: 'api', params: web.params, stamp: web.stamp });
    t.deepEqual(JSON.parse(values[`${b.prefix}/services/env-svc`]!), { owner: 'env', params: env.params });
    t.true(s1.healthy());
  });

  test(title('a save writes only the services that changed, and nothing when nothing changed'), async (t) => {
    const { b, store } = await setup(t);
    const s1 = store();
    await s1.load();
    await s1.save(state(svc('a'), svc('b'), svc('c')));
    const before = await b.http.dump(b.prefix);

    await s1.save(state(svc('a'), svc('b'), svc('c')));
    t.deepEqual(await b.http.dump(b.prefix), before, 'the same state again: no write at all');
    await s1.save(state({ ...svc('a'), stamp: 42 }, svc('b'), svc('c')));
    t.deepEqual(await b.http.dump(b.prefix), before, 'a new write time alone is not a change');

    await s1.save(state(svc('a'), svc('b', { port: '9090' })));
    const after = await b.http.dump(b.prefix);
    const key = (n: string) => `${b.prefix}/services/${n}`;
    t.is(after[key('a')]!.modifyIndex, before[key('a')]!.modifyIndex, 'a untouched');
    t.true(after[key('b')]!.modifyIndex > before[key('b')]!.modifyIndex, 'b rewritten');
    t.is(JSON.parse(after[key('b')]!.value).params.port, '9090');
    t.false(key('c') in after, 'c deleted');
  });

  test(title('a CAS conflict on the same service throws StoreConflictError and changes nothing'), async (t) => {
    const { b, store } = await setup(t);
    const s1 = store();
    const s2 = store();
    await s1.load();
    await s2.load();
    await s1.save(state(svc('web', { port: '1111' })));
    const before = await b.http.values(b.prefix);

    // s2 has not seen s1's write: its create of "web" must lose, and its new "api" must not stay behind.
    const error = await t.throwsAsync(s2.save(state(svc('api'), svc('web', { port: '2222' }))));
    t.true(error instanceof StoreConflictError);
    t.true(error instanceof FlowError);
    const conflict = error as StoreConflictError;
    t.is(conflict.code, 'STORE_CONFLICT');
    t.is(errorStatus(conflict), 409, 'a conflict is a 409 for the caller');
    t.deepEqual(conflict.services, ['web']);
    t.regex(conflict.message, /"web"/);
    t.deepEqual(await b.http.values(b.prefix), before, 'Consul holds exactly what it held before');

    // The loser has now seen the winner: the same change, retried, is a plain update.
    await s2.save(state(svc('api'), svc('web', { port: '2222' })));
    const values = await b.http.values(b.prefix);
    t.is(JSON.parse(values[`${b.prefix}/services/web`]!).params.port, '2222');
    t.truthy(values[`${b.prefix}/services/api`]);
  });

  test(title('two replicas writing different services at the same time keep both, round after round'), async (t) => {
    const { b, store } = await setup(t);
    const s1 = store();
    const s2 = store();
    await s1.load();
    await s2.load();
    // Neither replica's state ever holds the other's services, as with engines that have not caught up.
    const mine1: StoredService[] = [];
    const mine2: StoredService[] = [];
    for (let round = 0; round < 15; round++) {
      mine1.push(svc(`one-${round}`));
      mine2.push(svc(`two-${round}`));
      await Promise.all([s1.save(state(...mine1)), s2.save(state(...mine2))]);
    }
    const stored = names(await store().load());
    t.is(stored.length, 30);
    for (let round = 0; round < 15; round++) t.true(stored.includes(`one-${round}`) && stored.includes(`two-${round}`), `round ${round}`);

    // A removal by one replica removes its service only.
    await s2.save(state(...mine2.slice(1)));
    const after = names(await store().load());
    t.is(after.length, 29);
    t.false(after.includes('two-0'));
    t.true(after.includes('one-0'));
  });

  test(title('a replica that has not caught up never writes back a service another replica changed or removed'), async (t) => {
    const { store, signal } = await setup(t);
    const s1 = store();
    await s1.load();
    await s1.save(state(svc('a'), svc('b'), svc('c')));
    // s1's store follows Consul, but its engine has not applied the report yet.
    const reports: StoredState[] = [];
    s1.watch((s) => reports.push(s), signal);
    await pause(100);
    const s2 = store();
    await s2.load();
    await s2.save(state(svc('a', { port: '7' }), svc('c'))); // s2 changes a and removes b
    await waitFor('s1 to see both changes', () => reports.some((r) => names(r).join() === 'a,c' && r.services[0]!.params.port === '7'), 3_000);

    // s1's engine still holds the old a and b; it only adds d.
    await s1.save(state(svc('a'), svc('b'), svc('c'), svc('d')));
    const stored = await store().load();
    t.deepEqual(names(stored), ['a', 'c', 'd']);
    t.is(stored!.services[0]!.params.port, '7');
  });

  test(title('after a save by an engine that missed a report, the merged state is reported again'), async (t) => {
    const { store, signal } = await setup(t);
    const s1 = store();
    const s2 = store();
    await s1.load();
    await s2.load();
    const reports: StoredState[] = [];
    s1.watch((s) => reports.push(s), signal);
    await pause(100);
    await s2.save(state(svc('theirs')));
    await waitFor('the report of theirs', () => reports.length === 1, 3_000);

    // The engine saves before applying that report: once it applies it, it would lack its own service
    // unless the store reports what Consul now holds.
    await s1.save(state(svc('mine')));
    await waitFor('the report of the merged state', () => reports.length === 2, 3_000);
    t.deepEqual(names(reports[1]), ['mine', 'theirs']);
  });

  test(title('replicas that send the same change at the same time both succeed'), async (t) => {
    const { store } = await setup(t);
    const s1 = store();
    const s2 = store();
    await s1.load();
    await s2.load();
    // Each replica stamps the change with its own write time: still the same service.
    await t.notThrowsAsync(Promise.all([s1.save(state({ ...svc('same', {}, 'env'), stamp: 1 })), s2.save(state({ ...svc('same', {}, 'env'), stamp: 2 }))]));
    t.deepEqual(names(await store().load()), ['same']);
    // The loser has taken the winner's version as its own: its next change is a plain update.
    await t.notThrowsAsync(s1.save(state({ ...svc('same', { port: '1' }, 'env'), stamp: 3 })));
    await t.notThrowsAsync(s2.save(state({ ...svc('same', { port: '1' }, 'env'), stamp: 4 }, svc('more'))));
    t.deepEqual(names(await store().load()), ['more', 'same']);
  });

  test(title('the watch reports another replica\'s write within a second, and stays quiet on no-op wake-ups and own writes'), async (t) => {
    const { b, store, signal } = await setup(t);
    const s1 = store();
    const s2 = store();
    await s1.load();
    await s2.load();
    const reports: StoredState[] = [];
    s1.watch((s) => reports.push(s), signal);
    await pause(200); // the watch has made its first read and is waiting

    const started = Date.now();
    await s2.save(state(svc('from-s2')));
    const elapsed = await waitFor('the report of s2\'s write', () => reports.length === 1, 1_000);
    t.true(Date.now() - started < 1_000, `reported after ${elapsed} ms`);
    t.deepEqual(names(reports[0]), ['from-s2']);

    // Wake-ups that change nothing: the same value written again, a key outside the services, a wait that runs out.
    const key = `${b.prefix}/services/from-s2`;
    const same = (await b.http.values(b.prefix))[key]!;
    const blockingBefore = b.emulator?.requests.filter((r) => r.method === 'GET' && r.query.index !== undefined).length ?? 0;
    await b.http.put(key, same);
    await b.http.put(`${b.prefix}/templates/unrelated`, 'x');
    // An own write is not a change from another replica either.
    await s1.save(state(svc('from-s2'), svc('from-s1')));
    await pause(TIMINGS.waitMs + 600);
    t.is(reports.length, 1, 'no report without a change from another replica');
    if (b.emulator) {
      const blockingAfter = b.emulator.requests.filter((r) => r.method === 'GET' && r.query.index !== undefined).length;
      t.true(blockingAfter - blockingBefore >= 2, 'the watch did wake up meanwhile');
    }

    await s2.save(state(svc('from-s2'), svc('from-s1'), svc('second')));
    await waitFor('the second report', () => reports.length === 2, 3_000);
    t.deepEqual(names(reports[1]), ['from-s1', 'from-s2', 'second']);
  });

  test(title('the watch stops when its signal aborts'), async (t) => {
    const { b, store } = await setup(t);
    const s1 = store();
    await s1.load();
    const stop = new AbortController();
    const reports: StoredState[] = [];
    s1.watch((s) => reports.push(s), stop.signal);
    await pause(200);
    stop.abort();
    if (b.emulator) await waitFor('the blocking query to be dropped', () => b.emulator!.pendingBlockingQueries === 0, 3_000);
    await store().save(state(svc('late')));
    await pause(500);
    t.is(reports.length, 0);
    // Once stopped, the store can be watched again.
    s1.watch((s) => reports.push(s), AbortSignal.timeout(3_000));
    await waitFor('a report to the new watch', () => reports.length === 1, 3_000);
    t.deepEqual(names(reports[0]), ['late']);
  });

  test(title('with Consul unreachable saves and loads fail, healthy() is false, and the watch resumes when it is back'), async (t) => {
    const { b, store, signal } = await setup(t);
    const s1 = store();
    const s2 = store();
    await s1.load();
    await s2.load();
    await s1.save(state(svc('kept')));
    const reports: StoredState[] = [];
    s1.watch((s) => reports.push(s), signal);
    await pause(200);
    t.true(s1.healthy());

    await b.down();
    await waitFor('the watch to notice the outage', () => !s1.healthy(), 3_000);
    const saveError = await t.throwsAsync(s1.save(state(svc('kept'), svc('lost'))));
    t.true(saveError instanceof FlowError);
    t.is((saveError as FlowError).code, 'STORE_UNAVAILABLE');
    t.is(errorStatus(saveError), 503);
    t.regex(saveError!.message, /Consul at .* (is unreachable|did not answer)/);
    t.regex(saveError!.message, /not saved/);
    const loadError = await t.throwsAsync(s2.load());
    t.is((loadError as FlowError).code, 'STORE_UNAVAILABLE');
    t.false(s1.healthy());

    await b.up();
    t.deepEqual(names(await store().load()), ['kept'], 'the refused write is not in Consul');
    await s2.save(state(svc('kept'), svc('after-outage')));
    await waitFor('the watch to report the write made after the outage', () => reports.some((r) => names(r).includes('after-outage')), 3_000);
    t.true(s1.healthy());
    await t.notThrowsAsync(s1.save(state(svc('kept'), svc('after-outage'), svc('retried'))));
    t.deepEqual(names(await store().load()), ['after-outage', 'kept', 'retried']);
  });

  test(title('a Consul that never answers fails a save within the time limit'), async (t) => {
    const { b, store } = await setup(t);
    const s1 = store({ timeoutMs: 300 });
    await b.hang();
    const started = Date.now();
    const error = await t.throwsAsync(s1.save(state(svc('slow'))));
    t.true(Date.now() - started < 3_000, `failed after ${Date.now() - started} ms`);
    t.is((error as FlowError).code, 'STORE_UNAVAILABLE');
    t.regex(error!.message, /did not answer within 300 ms/);
    t.false(s1.healthy());
    await b.up();
    t.deepEqual(await b.http.values(b.prefix), {}, 'nothing was written');
  });

  test(title('two replicas that apply each other\'s reports converge after concurrent writes, with no lost update'), async (t) => {
    const { store, signal } = await setup(t);
    const r1 = new Replica(store());
    const r2 = new Replica(store());
    await r1.start(signal);
    await r2.start(signal);
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < 12; i++) {
      writes.push(r1.change((s) => [...s.filter((x) => x.params.serviceName !== `r1-${i}`), svc(`r1-${i}`)]));
      writes.push(r2.change((s) => [...s.filter((x) => x.params.serviceName !== `r2-${i}`), svc(`r2-${i}`)]));
      if (i % 3 === 0) await pause(5);
    }
    const results = await Promise.allSettled(writes);
    // Different services never conflict.
    t.deepEqual(results.filter((r) => r.status === 'rejected'), []);
    const expected = Array.from({ length: 12 }, (_, i) => [svc(`r1-${i}`), svc(`r2-${i}`)]).flat();
    await waitFor('both replicas to hold all 24 services', () => canonical(r1.state) === canonical(expected) && canonical(r2.state) === canonical(expected), 5_000);
    t.is(canonical((await store().load())!.services), canonical(expected));
  });

  test(title('templates: read a consul:// key, and get called back when it changes or disappears'), async (t) => {
    const { b, signal } = await setup(t);
    const templates = new ConsulTemplates({ address: b.address, ...(b.token !== undefined && { token: b.token }), ...TIMINGS });
    t.teardown(() => templates.close());
    const key = `${b.prefix}/templates/web-fe`;
    const location = `consul://${key}`;
    await b.http.put(key, 'acl url_web path_beg /web');

    t.is(await templates.readConsulTemplate(location), 'acl url_web path_beg /web');
    t.is(await templates.readConsulTemplate(`consul:///${key}`), 'acl url_web path_beg /web');
    const missing = await t.throwsAsync(templates.readConsulTemplate(`consul://${b.prefix}/templates/none`));
    t.is((missing as FlowError).code, 'TEMPLATE_NOT_FOUND');
    t.regex(missing!.message, /templates\/none/);
    await t.throwsAsync(templates.readConsulTemplate('/templates/web-fe.cfg'), { message: /not a consul:\/\// });

    const changed: string[] = [];
    templates.watch((l) => changed.push(l), signal);
    await pause(200);
    await b.http.put(key, 'acl url_web path_beg /web /v2');
    // Once for each spelling of the key that was read.
    await waitFor('the change callback', () => changed.length === 2, 1_000);
    t.deepEqual(changed.sort(), [`consul:///${key}`, location]);
    const plainReads = () => b.emulator?.requests.filter((r) => r.method === 'GET' && r.key === key && r.query.index === undefined).length ?? 0;
    const readsBefore = plainReads();
    t.is(await templates.readConsulTemplate(location), 'acl url_web path_beg /web /v2');
    t.is(plainReads(), readsBefore, 'a followed key is served from the watch, not fetched at every render');
    changed.length = 0;

    await b.http.put(key, 'acl url_web path_beg /web /v2'); // same value: no callback
    await b.http.put(`${b.prefix}/templates/other`, 'x'); // another key: no callback
    await pause(300);
    t.deepEqual(changed, []);

    await b.http.delete(key);
    await waitFor('the callback for the deletion', () => changed.length === 2, 3_000);
    await t.throwsAsync(templates.readConsulTemplate(location), { message: /no such key/ });

    // A key first read after the watch started is followed too.
    const be = `${b.prefix}/templates/web-be`;
    await b.http.put(be, 'backend one');
    t.is(await templates.readConsulTemplate(`consul://${be}`), 'backend one');
    await pause(200);
    await b.http.put(be, 'backend two');
    await waitFor('the callback for the key read later', () => changed.includes(`consul://${be}`), 3_000);
  });

  test(title('templates: while Consul is unreachable a key read before keeps its value, and the watch resumes'), async (t) => {
    const { b, signal } = await setup(t);
    const templates = new ConsulTemplates({ address: b.address, ...(b.token !== undefined && { token: b.token }), ...TIMINGS });
    t.teardown(() => templates.close());
    const key = `${b.prefix}/templates/main`;
    await b.http.put(key, 'global v1');
    t.is(await templates.readConsulTemplate(`consul://${key}`), 'global v1');

    await b.down();
    t.is(await templates.readConsulTemplate(`consul://${key}`), 'global v1', 'last value kept');
    const never = await t.throwsAsync(templates.readConsulTemplate(`consul://${b.prefix}/templates/never-read`));
    t.is((never as FlowError).code, 'STORE_UNAVAILABLE');

    const changed: string[] = [];
    templates.watch((l) => changed.push(l), signal);
    await pause(300);
    await b.up();
    await b.http.put(key, 'global v2');
    await waitFor('the callback after the outage', () => changed.length >= 1, 3_000);
    t.is(await templates.readConsulTemplate(`consul://${key}`), 'global v2');
  });
}

test('emulator: a watch read that overlaps a save is read again, never reported without the saved service', async (t) => {
  const emulator = await ConsulEmulator.start();
  t.teardown(() => emulator.stop());
  const s1 = new ConsulStore({ address: emulator.address, prefix: 'p', ...TIMINGS });
  t.teardown(() => s1.close());
  await s1.load();
  const reports: StoredState[] = [];
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  s1.watch((s) => reports.push(s), stop.signal);
  await pause(100);

  // s1's write is slow; meanwhile another client writes, which answers s1's watch with content that predates s1's write.
  emulator.delayWrites(200);
  const saving = s1.save(state(svc('mine')));
  await pause(50);
  emulator.put('p/services/theirs', JSON.stringify({ owner: 'api', params: svc('theirs').params }));
  await saving;
  emulator.delayWrites(0);
  await waitFor('a report with both services', () => reports.some((r) => names(r).length === 2), 3_000);
  for (const r of reports) t.true(names(r).includes('mine'), `report ${JSON.stringify(names(r))} lacks the service just saved`);
});

test('emulator: the store sends the token, and a refused token is a clear error', async (t) => {
  const emulator = await ConsulEmulator.start({ token: 'secret-token' });
  t.teardown(() => emulator.stop());
  const denied = new ConsulStore({ address: emulator.address, prefix: 'p', ...TIMINGS });
  const allowed = new ConsulStore({ address: emulator.address, prefix: 'p', token: 'secret-token', ...TIMINGS });
  t.teardown(() => {
    denied.close();
    allowed.close();
  });
  const error = await t.throwsAsync(denied.load());
  t.is((error as FlowError).code, 'STORE_DENIED');
  t.regex(error!.message, /403.*token/);
  t.false(denied.healthy());
  await allowed.save(state(svc('web')));
  t.deepEqual(names(await allowed.load()), ['web']);
  t.true(allowed.healthy());
});

test('emulator: a key that is not a flow-proxy service is ignored, never deleted, and does not block its name', async (t) => {
  const emulator = await ConsulEmulator.start();
  t.teardown(() => emulator.stop());
  emulator.put('p/services/broken', '{not json');
  emulator.put('p/services/other-name', JSON.stringify({ owner: 'api', params: { serviceName: 'elsewhere' } }));
  emulator.put('p/services/no-name', JSON.stringify({ owner: 'env', params: { port: '1' } }));
  const warnings: object[] = [];
  const log = { debug() {}, info() {}, error() {}, warn: (o: object) => void warnings.push(o), child: () => log };
  const s = new ConsulStore({ address: emulator.address, prefix: 'p', log, ...TIMINGS });
  t.teardown(() => s.close());
  const loaded = await s.load();
  t.deepEqual(loaded!.services, [{ owner: 'env', params: { port: '1', serviceName: 'no-name' } }], 'the name comes from the key');
  t.is(warnings.length, 2);
  await s.save(state());
  t.truthy(emulator.value('p/services/broken'), 'a bad value is not the engine\'s to delete');
  await s.save(state(svc('broken')));
  t.deepEqual(JSON.parse(emulator.value('p/services/broken')!), { owner: 'api', params: svc('broken').params });
});

test('emulator: a save writes each changed service with check-and-set', async (t) => {
  const emulator = await ConsulEmulator.start();
  t.teardown(() => emulator.stop());
  const s = new ConsulStore({ address: emulator.address, prefix: 'p', ...TIMINGS });
  t.teardown(() => s.close());
  await s.load();
  await s.save(state(svc('a'), svc('b')));
  const aIndex = emulator.entry('p/services/a')!.modifyIndex;
  const bIndex = emulator.entry('p/services/b')!.modifyIndex;
  t.not(aIndex, bIndex);
  emulator.requests.length = 0;
  await s.save(state(svc('a', { port: '1' }), svc('c')));
  const writes = emulator.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, r.key, r.query.cas]);
  t.deepEqual(writes, [
    ['PUT', 'p/services/a', String(aIndex)],
    ['DELETE', 'p/services/b', String(bIndex)],
    ['PUT', 'p/services/c', '0'],
  ]);
});
