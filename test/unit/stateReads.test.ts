import test from 'ava';
import { ServerStateReads } from '../../src/adapters/haproxy/stateReads.js';

// The server state read ahead of a reload is used only while it still says what HAProxy runs.
function reads() {
  let n = 0;
  let clock = 0;
  const r = new ServerStateReads(async () => `read ${++n}`, () => clock);
  return { r, count: () => n, advance: (ms: number) => (clock += ms) };
}

test('a read ahead is what the reload uses, once', async (t) => {
  const { r, count, advance } = reads();
  r.readAhead();
  advance(100);
  t.is(await r.current(), 'read 1');
  t.is(count(), 1, 'no second read');
  t.is(await r.current(), 'read 2', 'used once: the next reload reads again');
});

test('a runtime command after the read ahead makes it stale: the state is read again', async (t) => {
  const { r } = reads();
  r.readAhead();
  r.commandSent();
  t.is(await r.current(), 'read 2');
});

test('a read ahead older than 3 s is not used', async (t) => {
  const { r, advance } = reads();
  r.readAhead();
  advance(3_000);
  t.is(await r.current(), 'read 2');
});

test('without a read ahead, the state is read when the reload starts', async (t) => {
  const { r } = reads();
  r.commandSent();
  t.is(await r.current(), 'read 1');
});

test('a read ahead that fails is no unhandled rejection, and the reload reads again only if it is stale', async (t) => {
  let n = 0;
  const r = new ServerStateReads(async () => {
    n++;
    throw new Error('socket gone');
  }, () => 0);
  r.readAhead();
  await new Promise((resolve) => setTimeout(resolve, 10));
  await t.throwsAsync(r.current(), { message: 'socket gone' });
  t.is(n, 1);
});
