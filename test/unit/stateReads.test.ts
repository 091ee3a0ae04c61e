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

test('a read ahead a second old or more is not used (health may have changed)', async (t) => {
  const { r, advance } = reads();
  r.readAhead();
  advance(1_000);
  t.is(await r.current(), 'read 2');
});

test('without a read ahead, the state is read when the reload starts', async (t) => {
  const { r } = reads();
  r.commandSent();
  t.is(await r.current(), 'read 1');
});

test('a read ahead that failed is no unhandled rejection: the reload reads again', async (t) => {
  let n = 0;
  const r = new ServerStateReads(async () => {
    n++;
    if (n === 1) throw new Error('socket gone');
    return `read ${n}`;
  }, () => 0);
  r.readAhead();
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(await r.current(), 'read 2');
});

test('what is derived from the read ahead for a reload is handed to that reload only, with that read', async (t) => {
  const { r } = reads();
  const files = {};
  r.readAhead();
  r.deriveAhead(files, (state) => `filtered ${state}`);
  const now = r.currentFor(files);
  t.is(await now.state, 'read 1');
  t.is(await now.derived, 'filtered read 1');
  r.readAhead();
  r.deriveAhead(files, (state) => `filtered ${state}`);
  t.is(r.currentFor({}).derived, undefined, 'another reload (other files) filters for itself');
});

test('a runtime command after the read ahead makes what was derived from it stale too', async (t) => {
  const { r } = reads();
  const files = {};
  r.readAhead();
  r.deriveAhead(files, (state) => `filtered ${state}`);
  r.commandSent();
  const now = r.currentFor(files);
  t.is(await now.state, 'read 2');
  t.is(now.derived, undefined);
});

test('without a read ahead there is nothing to derive from: the reload filters the state it reads', async (t) => {
  const { r } = reads();
  const files = {};
  r.deriveAhead(files, () => 'never');
  const now = r.currentFor(files);
  t.is(await now.state, 'read 1');
  t.is(now.derived, undefined);
});
