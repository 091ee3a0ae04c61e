import test from 'ava';
import { ConsulKv } from '../../src/adapters/store/consulKv.js';
import { ConsulEmulator } from '../support/consulEmulator.js';

// Consul's sessions and locks as ACME's orderer election uses them, through flow-proxy's own client
// (ConsulKv), against the emulator: acquire and release, one holder at a time, renew, destroy, the
// release and delete behaviors, lock-delay after an expiry, and Consul's TTL range.

async function setup() {
  const emulator = await ConsulEmulator.start();
  const kv = new ConsulKv({ address: emulator.address });
  return { emulator, kv, close: async () => { kv.close(); await emulator.stop(); } };
}

test('one session holds a lock at a time; release lets another take it; the holder is shown on the key', async (t) => {
  const { emulator, kv, close } = await setup();
  t.teardown(close);
  const a = await kv.createSession({ name: 'a', ttlSeconds: 15, behavior: 'release', lockDelaySeconds: 0 });
  const b = await kv.createSession({ name: 'b', ttlSeconds: 15, behavior: 'release', lockDelaySeconds: 0 });
  t.not(a, b);
  t.true(await kv.acquire('p/lock', 'a', a));
  t.true(await kv.acquire('p/lock', 'a2', a), 'the holder may acquire again (and write)');
  t.false(await kv.acquire('p/lock', 'b', b));
  const read = await kv.get('p/lock');
  t.is(read.entries[0]?.session, a);
  t.is(read.entries[0]?.value, 'a2');
  t.is(emulator.entry('p/lock')?.lockIndex, 1, 'LockIndex counts acquisitions, not writes');
  t.false(await kv.release('p/lock', 'x', b), 'only the holder releases');
  t.true(await kv.release('p/lock', 'free', a));
  t.is((await kv.get('p/lock')).entries[0]?.session, undefined);
  t.true(await kv.acquire('p/lock', 'b', b));
  t.is(emulator.entry('p/lock')?.lockIndex, 2);
});

test('a destroyed session frees its locks (release behavior) or deletes its keys (delete behavior); renew of a gone session is false', async (t) => {
  const { emulator, kv, close } = await setup();
  t.teardown(close);
  const keep = await kv.createSession({ name: 'keep', ttlSeconds: 15, behavior: 'release', lockDelaySeconds: 0 });
  const drop = await kv.createSession({ name: 'drop', ttlSeconds: 15, behavior: 'delete', lockDelaySeconds: 0 });
  t.true(await kv.acquire('p/kept', 'v', keep));
  t.true(await kv.acquire('p/dropped', 'v', drop));
  t.true(await kv.renewSession(keep));
  await kv.destroySession(keep);
  await kv.destroySession(drop);
  t.is(emulator.value('p/kept'), 'v');
  t.is(emulator.entry('p/kept')?.session, undefined);
  t.is(emulator.value('p/dropped'), undefined);
  t.false(await kv.renewSession(keep));
  await t.throwsAsync(() => kv.acquire('p/kept', 'v', keep), { message: /invalid session|HTTP 500/ });
  t.is(emulator.liveSessions.length, 0);
});

test('after a session expires its lock cannot be taken during the lock-delay; Consul refuses a TTL below 10 s', async (t) => {
  const { emulator, kv, close } = await setup();
  t.teardown(close);
  const a = await kv.createSession({ name: 'a', ttlSeconds: 10, behavior: 'release', lockDelaySeconds: 1 });
  const b = await kv.createSession({ name: 'b', ttlSeconds: 10, behavior: 'release', lockDelaySeconds: 1 });
  t.true(await kv.acquire('p/lock', 'a', a));
  emulator.expireSession(a);
  t.false(await kv.acquire('p/lock', 'b', b), 'lock-delay');
  await new Promise((r) => setTimeout(r, 1100));
  t.true(await kv.acquire('p/lock', 'b', b));
  await t.throwsAsync(() => kv.createSession({ name: 'short', ttlSeconds: 5, behavior: 'release', lockDelaySeconds: 0 }), { message: /TTL|HTTP 400/ });
});
