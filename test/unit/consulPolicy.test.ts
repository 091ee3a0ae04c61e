import test from 'ava';
import { decodeService, encodeService, serviceContent } from '../../src/adapters/store/consulCodec.js';
import { baseUrl } from '../../src/adapters/store/consulKv.js';
import { planWrites, type SeenKey } from '../../src/adapters/store/consulPlan.js';
import { normalizePrefix } from '../../src/adapters/store/consulStore.js';
import { consulKeyOf } from '../../src/adapters/store/consulTemplates.js';
import { backoffDelay } from '../../src/core/backoff.js';
import { nextIndex } from '../../src/adapters/store/consulWatch.js';

// The pure decisions behind the Consul store, as tables.

const seen = (entries: Record<string, [string, number]>): Map<string, SeenKey> => new Map(Object.entries(entries).map(([n, [json, modifyIndex]]) => [n, { json, raw: json, modifyIndex }]));
const map = (entries: Record<string, string>) => new Map(Object.entries(entries));

const planCases: Array<{ name: string; desired: Record<string, string>; seen: Record<string, [string, number]>; base: Record<string, string>; writes: Array<[string, string | undefined, number]> }> = [
  { name: 'nothing changed: no write', desired: { a: 'A' }, seen: { a: ['A', 5] }, base: { a: 'A' }, writes: [] },
  { name: 'a new service is created with cas=0', desired: { a: 'A', b: 'B' }, seen: { a: ['A', 5] }, base: { a: 'A' }, writes: [['b', 'B', 0]] },
  { name: 'a changed service is replaced at the index last seen', desired: { a: 'A2' }, seen: { a: ['A', 5] }, base: { a: 'A' }, writes: [['a', 'A2', 5]] },
  { name: 'a removed service is deleted at the index last seen', desired: {}, seen: { a: ['A', 5] }, base: { a: 'A' }, writes: [['a', undefined, 5]] },
  { name: 'another replica\'s new service is not deleted by an engine that lacks it', desired: { a: 'A' }, seen: { a: ['A', 5], b: ['B', 6] }, base: { a: 'A' }, writes: [] },
  { name: 'another replica\'s change is not reverted by an engine that has not caught up', desired: { a: 'A' }, seen: { a: ['A2', 7] }, base: { a: 'A' }, writes: [] },
  { name: 'another replica\'s removal is not undone by an engine that has not caught up', desired: { a: 'A' }, seen: {}, base: { a: 'A' }, writes: [] },
  { name: 'a value Consul already holds is not written again', desired: { a: 'A2' }, seen: { a: ['A2', 7] }, base: { a: 'A' }, writes: [] },
  { name: 'a removal Consul already has is not sent again', desired: {}, seen: {}, base: { a: 'A' }, writes: [] },
  { name: 'the engine\'s own change wins over what it last saw', desired: { a: 'A3' }, seen: { a: ['A2', 7] }, base: { a: 'A' }, writes: [['a', 'A3', 7]] },
  { name: 'writes come in name order', desired: { c: 'C', a: 'A', b: 'B' }, seen: {}, base: {}, writes: [['a', 'A', 0], ['b', 'B', 0], ['c', 'C', 0]] },
];

for (const c of planCases) {
  test(`planWrites: ${c.name}`, (t) => {
    const plan = planWrites(map(c.desired), seen(c.seen), map(c.base));
    t.deepEqual(plan.map((w) => [w.name, w.json, w.cas]), c.writes);
  });
}

test('planWrites: a write keeps the value it replaces, for undoing it', (t) => {
  const [w] = planWrites(map({ a: 'A2' }), seen({ a: ['A', 5] }), map({ a: 'A' }));
  t.is(w!.previousRaw, 'A');
  const [created] = planWrites(map({ b: 'B' }), seen({}), map({}));
  t.is(created!.previousRaw, undefined);
});

test('encodeService sorts parameters so that equal services are equal text, and keeps the stamp', (t) => {
  const one = encodeService({ owner: 'api', params: { serviceName: 'web', port: '80', servicePath: '/' } });
  const two = encodeService({ owner: 'api', params: { servicePath: '/', port: '80', serviceName: 'web' } });
  t.is(one, two);
  t.deepEqual(JSON.parse(one), { owner: 'api', params: { port: '80', serviceName: 'web', servicePath: '/' } });
  t.deepEqual(JSON.parse(encodeService({ owner: 'env', params: { serviceName: 'web' }, stamp: 7 })), { owner: 'env', params: { serviceName: 'web' }, stamp: 7 });
});

test('serviceContent compares owner and parameters, not the write time', (t) => {
  const a = { owner: 'api' as const, params: { serviceName: 'web', port: '80' } };
  t.is(serviceContent({ ...a, stamp: 1 }), serviceContent({ ...a, stamp: 2 }));
  t.is(serviceContent(a), serviceContent({ owner: 'api', params: { port: '80', serviceName: 'web' } }));
  t.not(serviceContent(a), serviceContent({ ...a, owner: 'env' }));
  t.not(serviceContent(a), serviceContent({ ...a, params: { ...a.params, port: '81' } }));
});

const decodeCases: Array<[string, string, string | { owner: string; params: Record<string, string>; stamp?: number }]> = [
  ['a valid value', '{"owner":"env","params":{"serviceName":"web","port":"80"}}', { owner: 'env', params: { serviceName: 'web', port: '80' } }],
  ['a value with a stamp', '{"owner":"api","params":{"serviceName":"web"},"stamp":12}', { owner: 'api', params: { serviceName: 'web' }, stamp: 12 }],
  ['a stamp that is not a number is dropped', '{"owner":"api","params":{"serviceName":"web"},"stamp":"x"}', { owner: 'api', params: { serviceName: 'web' } }],
  ['serviceName comes from the key when missing', '{"owner":"api","params":{"port":"80"}}', { owner: 'api', params: { port: '80', serviceName: 'web' } }],
  ['not JSON', '{oops', 'not JSON'],
  ['an array', '[]', 'not a JSON object'],
  ['an unknown owner', '{"owner":"docker","params":{}}', 'owner "docker"'],
  ['params not an object', '{"owner":"api","params":"x"}', 'params is not an object'],
  ['a parameter that is not a string', '{"owner":"api","params":{"port":80}}', 'parameter port is not a string'],
  ['a value naming another service', '{"owner":"api","params":{"serviceName":"api"}}', 'holds service "api", not "web"'],
];

for (const [name, raw, expected] of decodeCases) {
  test(`decodeService: ${name}`, (t) => {
    const d = decodeService(raw, 'web');
    if (typeof expected === 'string') {
      t.false(d.ok);
      if (!d.ok) t.true(d.reason.includes(expected), d.reason);
    } else {
      t.true(d.ok);
      if (d.ok) {
        t.deepEqual(d.service, expected);
        t.is(d.json, serviceContent(d.service));
      }
    }
  });
}

test('backoffDelay doubles from the first delay up to the cap, within its jitter band', (t) => {
  const policy = { baseMs: 100, capMs: 1_000 };
  const ceilings = [100, 200, 400, 800, 1_000, 1_000, 1_000];
  ceilings.forEach((ceiling, attempt) => {
    t.is(backoffDelay(attempt, policy, 0), ceiling / 2, `attempt ${attempt}, lowest`);
    t.is(backoffDelay(attempt, policy, 1), ceiling, `attempt ${attempt}, highest`);
  });
  t.is(backoffDelay(10_000, policy, 1), 1_000, 'no overflow on long outages');
});

test('nextIndex follows Consul\'s rules for blocking queries', (t) => {
  t.is(nextIndex(0, 17), 17);
  t.is(nextIndex(17, 17), 17, 'timed out without change: wait on the same index');
  t.is(nextIndex(17, 20), 20);
  t.is(nextIndex(20, 3), 0, 'the index went back: start over');
  t.is(nextIndex(0, 0), 1, 'never block on 0');
});

test('normalizePrefix strips slashes and refuses unusable prefixes', (t) => {
  t.is(normalizePrefix('/flow-proxy/'), 'flow-proxy');
  t.is(normalizePrefix('team/edge'), 'team/edge');
  for (const bad of ['', '/', 'has space', 'tab\there']) t.throws(() => normalizePrefix(bad), { message: /prefix/ }, JSON.stringify(bad));
});

test('consulKeyOf reads consul:// locations', (t) => {
  t.is(consulKeyOf('consul://flow-proxy/templates/fe'), 'flow-proxy/templates/fe');
  t.is(consulKeyOf('consul:///flow-proxy/templates/fe'), 'flow-proxy/templates/fe');
  t.throws(() => consulKeyOf('consul://'), { message: /does not name a Consul key/ });
  t.throws(() => consulKeyOf('consul://dir/'), { message: /does not name a Consul key/ });
  t.throws(() => consulKeyOf('/templates/fe.cfg'), { message: /not a consul:\/\// });
});

test('baseUrl accepts CONSUL_HTTP_ADDR with or without a scheme', (t) => {
  t.is(baseUrl('127.0.0.1:8500'), 'http://127.0.0.1:8500');
  t.is(baseUrl('http://127.0.0.1:8500/'), 'http://127.0.0.1:8500');
  t.is(baseUrl('https://consul.local:8501'), 'https://consul.local:8501');
});
