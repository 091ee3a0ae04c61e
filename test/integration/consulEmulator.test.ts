import test, { type ExecutionContext } from 'ava';
import { consulBackendKinds, type ConsulBackend } from '../support/consulBackends.js';
import { ConsulEmulator } from '../support/consulEmulator.js';
import { ConsulHttp } from '../support/consulHttp.js';

/**
 * Consul's KV semantics as flow-proxy relies on them. Run against the
 * emulator always and against a real Consul when CONSUL_HTTP_ADDR is set,
 * so that the emulator is held to what Consul really does.
 */

interface RawItem {
  Key: string;
  Value: string | null;
  Flags: number;
  LockIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
}

const index = (res: Response) => Number(res.headers.get('x-consul-index'));

for (const kind of consulBackendKinds()) {
  const title = (t: string) => `${kind.label}: ${t}`;

  async function setup(t: ExecutionContext): Promise<{ b: ConsulBackend; kv: ConsulHttp; key: (k: string) => string }> {
    const b = await kind.start();
    t.teardown(() => b.close());
    return { b, kv: b.http, key: (k) => `${b.prefix}/${k}` };
  }

  test(title('PUT answers true, GET answers Consul\'s JSON shape with base64 values and X-Consul-Index'), async (t) => {
    const { kv, key } = await setup(t);
    const put = await kv.request('PUT', key('a'), 'flags=42', 'héllo');
    t.is(put.status, 200);
    t.is(await put.json(), true);
    const res = await kv.request('GET', key('a'));
    t.is(res.status, 200);
    t.regex(res.headers.get('content-type') ?? '', /application\/json/);
    const [item] = (await res.json()) as RawItem[];
    t.is(item!.Key, key('a'));
    t.is(Buffer.from(item!.Value!, 'base64').toString('utf8'), 'héllo');
    t.is(item!.Flags, 42);
    t.is(item!.LockIndex, 0);
    t.true(item!.CreateIndex > 0);
    t.is(item!.ModifyIndex, item!.CreateIndex);
    t.is(index(res), item!.ModifyIndex);

    await kv.request('PUT', key('a'), '', 'again');
    const [again] = (await (await kv.request('GET', key('a'))).json()) as RawItem[];
    t.is(again!.CreateIndex, item!.CreateIndex);
    t.true(again!.ModifyIndex > item!.ModifyIndex);

    await kv.request('PUT', key('empty'), '', '');
    const [empty] = (await (await kv.request('GET', key('empty'))).json()) as RawItem[];
    t.is(empty!.Value, null);

    const raw = await kv.request('GET', key('a'), 'raw');
    t.is(await raw.text(), 'again');
  });

  test(title('a missing key or prefix is a 404 that still carries X-Consul-Index'), async (t) => {
    const { kv, key } = await setup(t);
    await kv.put(key('present'), 'x');
    const missing = await kv.request('GET', key('absent'));
    t.is(missing.status, 404);
    t.true(index(missing) > 0);
    const prefix = await kv.request('GET', key('nothing-here/'), 'recurse=true');
    t.is(prefix.status, 404);
    t.true(index(prefix) > 0);
  });

  test(title('check-and-set: cas=0 only creates, cas=N only replaces version N, and deletes follow the same rule'), async (t) => {
    const { kv, key } = await setup(t);
    const body = async (res: Response) => (await res.text()).trim();
    t.is(await body(await kv.request('PUT', key('k'), 'cas=0', 'one')), 'true');
    t.is(await body(await kv.request('PUT', key('k'), 'cas=0', 'two')), 'false', 'cas=0 on an existing key');
    const [item] = (await (await kv.request('GET', key('k'))).json()) as RawItem[];
    t.is(await body(await kv.request('PUT', key('k'), `cas=${item!.ModifyIndex + 1000}`, 'two')), 'false', 'wrong index');
    t.is(await body(await kv.request('PUT', key('k'), `cas=${item!.ModifyIndex}`, 'two')), 'true');
    t.is(await body(await kv.request('PUT', key('k'), `cas=${item!.ModifyIndex}`, 'three')), 'false', 'the index moved on');
    t.is(Buffer.from(((await (await kv.request('GET', key('k'))).json()) as RawItem[])[0]!.Value!, 'base64').toString(), 'two');
    t.is(await body(await kv.request('PUT', key('never'), 'cas=5', 'x')), 'false', 'cas=N on a missing key');

    const [now] = (await (await kv.request('GET', key('k'))).json()) as RawItem[];
    t.is(await body(await kv.request('DELETE', key('k'), `cas=${now!.ModifyIndex - 1}`)), 'false');
    t.is((await kv.request('GET', key('k'))).status, 200, 'a refused delete keeps the key');
    t.is(await body(await kv.request('DELETE', key('k'), `cas=${now!.ModifyIndex}`)), 'true');
    t.is((await kv.request('GET', key('k'))).status, 404);
    t.is(await body(await kv.request('DELETE', key('k'), `cas=${now!.ModifyIndex}`)), 'true', 'a CAS delete of a key already gone succeeds');
  });

  test(title('recurse lists the keys under a prefix in order; the prefix\'s index never goes back, even after a delete'), async (t) => {
    const { kv, key } = await setup(t);
    await kv.put(key('dir/b'), '2');
    await kv.put(key('dir/a'), '1');
    await kv.put(key('dir-sibling'), 'x');
    await kv.put(key('other/c'), '3');
    const res = await kv.request('GET', key('dir/'), 'recurse=true');
    const items = (await res.json()) as RawItem[];
    t.deepEqual(items.map((i) => i.Key), [key('dir/a'), key('dir/b')]);
    t.is(index(res), Math.max(...items.map((i) => i.ModifyIndex)));

    await kv.put(key('other/d'), '4'); // outside the prefix: its index does not move
    t.is(index(await kv.request('GET', key('dir/'), 'recurse=true')), index(res));

    await kv.delete(key('dir/b'));
    const after = await kv.request('GET', key('dir/'), 'recurse=true');
    t.true(index(after) > index(res), 'the tombstone moves the index');
    t.deepEqual(((await after.json()) as RawItem[]).map((i) => i.Key), [key('dir/a')]);
  });

  test(title('a blocking query waits for a change under its prefix and answers with the new index'), async (t) => {
    const { kv, key } = await setup(t);
    await kv.put(key('w/a'), '1');
    const first = await kv.request('GET', key('w/'), 'recurse=true');
    const at = index(first);
    let answeredAt = 0;
    const blocked = kv.request('GET', key('w/'), `recurse=true&index=${at}&wait=10s`).then((r) => {
      answeredAt = Date.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    t.is(answeredAt, 0, 'still waiting without a change');
    await kv.put(key('elsewhere'), 'x'); // outside the prefix: no answer yet
    await new Promise((r) => setTimeout(r, 200));
    t.is(answeredAt, 0, 'a write outside the prefix does not answer it');
    const wrote = Date.now();
    await kv.put(key('w/b'), '2');
    const res = await blocked;
    // Well before the 10 s wait: the write answered it (the margin is for loaded machines).
    t.true(answeredAt - wrote < 2_000, `answered ${answeredAt - wrote} ms after the write`);
    t.true(index(res) > at);
    t.deepEqual(((await res.json()) as RawItem[]).map((i) => i.Key), [key('w/a'), key('w/b')]);
  });

  test(title('a blocking query with nothing changing answers after its wait with the same index; an old index answers at once'), async (t) => {
    const { kv, key } = await setup(t);
    await kv.put(key('q/a'), '1');
    const at = index(await kv.request('GET', key('q/'), 'recurse=true'));
    const started = Date.now();
    const res = await kv.request('GET', key('q/'), `recurse=true&index=${at}&wait=400ms`);
    const took = Date.now() - started;
    t.true(took >= 350 && took < 4_000, `answered after ${took} ms`);
    t.is(res.status, 200);
    t.is(index(res), at);

    const quick = Date.now();
    const old = await kv.request('GET', key('q/'), `recurse=true&index=${at - 1}&wait=10s`);
    t.true(Date.now() - quick < 2_000, 'well before the 10 s wait');
    t.is(index(old), at);
  });

  test(title('blocking queries on a single key see it created and deleted'), async (t) => {
    const { kv, key } = await setup(t);
    // A missing key carries the whole table's index, so other writers may answer a query early: follow it as a client does.
    const follow = async (from: number, until: number, deadline: number) => {
      const seen: number[] = [];
      let at = from;
      while (Date.now() < deadline) {
        const res = await kv.request('GET', key('single'), `index=${at}&wait=10s`);
        seen.push(res.status);
        await res.arrayBuffer();
        at = index(res);
        if (res.status === until) return { seen, at, answeredAt: Date.now() };
      }
      return { seen, at, answeredAt: Date.now() };
    };
    const missing = await kv.request('GET', key('single'));
    t.is(missing.status, 404);
    const created = follow(index(missing), 200, Date.now() + 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const wrote = Date.now();
    await kv.put(key('single'), 'here');
    const c = await created;
    t.deepEqual(c.seen.filter((s) => s !== 404), [200], 'never present before the write');
    t.true(c.answeredAt - wrote < 2_000, `seen ${c.answeredAt - wrote} ms after the write`);

    const deleted = follow(c.at, 404, Date.now() + 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const removed = Date.now();
    await kv.delete(key('single'));
    const d = await deleted;
    t.deepEqual(d.seen.filter((s) => s !== 200), [404], 'never gone before the delete');
    t.true(d.answeredAt - removed < 2_000, `seen ${d.answeredAt - removed} ms after the delete`);
  });
}

test('emulator: stop makes it unreachable, start brings it back on the same port with its data', async (t) => {
  const emulator = await ConsulEmulator.start();
  t.teardown(() => emulator.stop());
  const kv = new ConsulHttp(emulator.address);
  await kv.put('k', 'v');
  const port = emulator.port;
  // Settled into a value at once: it fails while stop() runs, before anything awaits it.
  const waiting = kv.request('GET', 'k', `index=${emulator.entry('k')!.modifyIndex}&wait=10s`).then(
    () => 'answered',
    () => 'cut',
  );
  for (let i = 0; i < 300 && emulator.pendingBlockingQueries === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(emulator.pendingBlockingQueries, 1);
  await emulator.stop();
  t.false(emulator.running);
  t.is(await waiting, 'cut', 'a pending blocking query is cut');
  await t.throwsAsync(kv.request('GET', 'k'));
  await emulator.start();
  t.is(emulator.port, port);
  t.deepEqual(await kv.values(''), { k: 'v' });
  t.is(emulator.pendingBlockingQueries, 0);
});

test('emulator: when stalled it accepts requests and never answers', async (t) => {
  const emulator = await ConsulEmulator.start();
  t.teardown(() => emulator.stop());
  const kv = new ConsulHttp(emulator.address);
  emulator.stall(true);
  const started = Date.now();
  const error = await kv.request('GET', 'k', '', undefined, 300).then(
    () => undefined,
    (e: unknown) => e as { name?: string },
  );
  t.is(error?.name, 'TimeoutError', 'no answer before the client gave up');
  t.true(Date.now() - started >= 250);
  emulator.stall(false);
  t.is((await kv.request('GET', 'k')).status, 404);
});

test('emulator: a required token is enforced with 403', async (t) => {
  const emulator = await ConsulEmulator.start({ token: 't0k3n' });
  t.teardown(() => emulator.stop());
  t.is((await new ConsulHttp(emulator.address).request('GET', 'k')).status, 403);
  t.is((await new ConsulHttp(emulator.address, 't0k3n').request('GET', 'k')).status, 404);
});

test('emulator: keys arrive decoded whether the client escapes slashes or not', async (t) => {
  const emulator = await ConsulEmulator.start();
  t.teardown(() => emulator.stop());
  const res = await fetch(`http://${emulator.address}/v1/kv/${encodeURIComponent('a/b c')}`, { method: 'PUT', body: 'x' });
  t.is(await res.text(), 'true');
  t.is(emulator.value('a/b c'), 'x');
  t.deepEqual(await new ConsulHttp(emulator.address).values('a/'), { 'a/b c': 'x' });
});
