import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { NameResolver } from '../../src/adapters/dns/nameResolver.js';

/** A lookup whose answers the test controls: each name answers after its delay with its current address. */
function fakeDns(table: Record<string, { address?: string; delayMs?: number }>) {
  const asked: string[] = [];
  const lookup = async (host: string) => {
    asked.push(host);
    const e = table[host];
    await sleep(e?.delayMs ?? 0);
    return e?.address;
  };
  return { asked, lookup, table };
}

test('IP literals are their own address and are never looked up', async (t) => {
  const dns = fakeDns({});
  const r = new NameResolver({ lookup: dns.lookup });
  const got = await r.resolveAll(['127.0.0.1', '[::1]', '::1']);
  t.deepEqual([...got], [['127.0.0.1', '127.0.0.1'], ['[::1]', '::1'], ['::1', '::1']]);
  t.deepEqual(dns.asked, []);
});

test('a name answered within the budget is resolved; answers are cached', async (t) => {
  const dns = fakeDns({ web: { address: '10.0.0.5', delayMs: 5 } });
  const r = new NameResolver({ lookup: dns.lookup, budgetMs: 200 });
  t.is((await r.resolveAll(['web'])).get('web'), '10.0.0.5');
  t.is((await r.resolveAll(['web', 'web'])).get('web'), '10.0.0.5');
  t.deepEqual(dns.asked, ['web']);
});

test('an apply never waits for a slow name longer than the budget; the late answer is reported', async (t) => {
  const dns = fakeDns({ slow: { address: '10.0.0.9', delayMs: 300 } });
  const changed: string[] = [];
  const r = new NameResolver({ lookup: dns.lookup, budgetMs: 30, onChange: (h) => changed.push(h) });
  const started = performance.now();
  const first = await r.resolveAll(['slow']);
  t.true(performance.now() - started < 200, `waited ${performance.now() - started} ms`);
  t.is(first.get('slow'), undefined);
  await sleep(350);
  t.deepEqual(changed, ['slow']);
  t.is((await r.resolveAll(['slow'])).get('slow'), '10.0.0.9');
});

test('"does not resolve" is believed for negativeTtlMs, then asked again', async (t) => {
  let now = 0;
  const dns = fakeDns({});
  const r = new NameResolver({ lookup: dns.lookup, negativeTtlMs: 1000, now: () => now });
  t.is((await r.resolveAll(['nope'])).get('nope'), undefined);
  now = 500;
  await r.resolveAll(['nope']);
  t.is(dns.asked.length, 1);
  now = 1500;
  await r.resolveAll(['nope']);
  t.is(dns.asked.length, 2);
});

test('a stale answer is used at once and refreshed in the background; a new address is reported', async (t) => {
  let now = 0;
  const dns = fakeDns({ vip: { address: '10.0.0.1' } });
  const changed: string[] = [];
  const r = new NameResolver({ lookup: dns.lookup, ttlMs: 1000, now: () => now, onChange: (h) => changed.push(h) });
  t.is((await r.resolveAll(['vip'])).get('vip'), '10.0.0.1');
  dns.table.vip = { address: '10.0.0.2', delayMs: 50 };
  now = 2000;
  const started = performance.now();
  t.is((await r.resolveAll(['vip'])).get('vip'), '10.0.0.1', 'the last address while the refresh runs');
  t.true(performance.now() - started < 40);
  await sleep(80);
  t.deepEqual(changed, ['vip']);
  t.is((await r.resolveAll(['vip'])).get('vip'), '10.0.0.2');
});
