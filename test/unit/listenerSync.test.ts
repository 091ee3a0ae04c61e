import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { parseListenerAddresses } from '../../src/adapters/listener/swarmListener.js';
import type { Command } from '../../src/core/desired/desired.js';
import type { CommandResult } from '../../src/core/ports.js';
import { silentLog } from '../../src/core/log.js';
import { ListenerSync } from '../../src/core/sources/listenerSync.js';
import type { ListenerApi } from '../../src/core/ports.js';
import { parseCtx } from '../support/render.js';

const addresses: Array<[string, string[] | RegExp]> = [
  ['swarm-listener', ['http://swarm-listener:8080']],
  ['swarm-listener:9090', ['http://swarm-listener:9090']],
  ['http://l1:8081, l2', ['http://l1:8081', 'http://l2:8080']],
  ['https://l.example.com/base/', ['https://l.example.com/base']],
  ['10.0.0.1,10.0.0.1', ['http://10.0.0.1:8080']],
  ['', []],
  ['ftp://x:1/', /"ftp:\/\/x:1\/" is not/],
  ['user:pw@l', /is not/],
  ['l:8080?x=1', /is not/],
];

for (const [text, expected] of addresses) {
  test(`LISTENER_ADDRESS ${JSON.stringify(text)}`, (t) => {
    const got = parseListenerAddresses(text);
    if (expected instanceof RegExp) t.regex(String(got), expected);
    else t.deepEqual(got, expected);
  });
}

/** A listener whose answers the test scripts; fails while `down`. */
function fakeListener(services: Array<Record<string, string>>) {
  const api: ListenerApi & { down: boolean; calls: number; services: Array<Record<string, string>> } = {
    url: 'http://fake:8080',
    down: false,
    calls: 0,
    services,
    async getServices() {
      api.calls++;
      if (api.down) throw new Error('listener http://fake:8080 cannot be reached (ECONNREFUSED)');
      return api.services;
    },
    async notifyServices() {},
  };
  return api;
}

function recorder() {
  const batches: Command[][] = [];
  const submitAll = async (commands: Command[]): Promise<CommandResult[]> => {
    batches.push(commands);
    return commands.map(() => ({ ok: true, status: 200, message: '' }));
  };
  return { batches, submitAll };
}

const base = { parseContext: parseCtx, log: silentLog, intervalMs: 20, repeat: false };

test('a pull applies every listed service in one batch; replicas=0 removes; a refused service does not stop the others', async (t) => {
  const listener = fakeListener([
    { serviceName: 'a', servicePath: '/a', port: '80', replicas: '1' },
    { serviceName: 'gone', servicePath: '/g', port: '80', replicas: '0' },
    { serviceName: 'bad', servicePath: '/b', port: 'abc' },
  ]);
  const { batches, submitAll } = recorder();
  const sync = new ListenerSync({ ...base, listeners: [listener], submitAll, waitMs: 60_000 });
  t.false(sync.ready());
  const stop = new AbortController();
  sync.start(stop.signal);
  await sleep(30);
  stop.abort();
  t.is(batches.length, 1);
  t.deepEqual(batches[0]?.map((c) => (c.kind === 'upsert' ? `upsert ${c.entry.name}` : c.kind === 'remove' ? `remove ${c.name}` : c.kind)), ['upsert a', 'remove gone']);
  t.true(sync.ready());
  const state = sync.status().listeners[0];
  t.is(state?.state, 'live');
  t.is(state?.services, 3);
  t.is(state?.refused, 1);
});

test('a listener that is down is retried with backoff until it answers; readiness waits for it', async (t) => {
  const listener = fakeListener([{ serviceName: 'a', servicePath: '/a', port: '80' }]);
  listener.down = true;
  const { batches, submitAll } = recorder();
  const sync = new ListenerSync({ ...base, listeners: [listener], submitAll, waitMs: 60_000 });
  const stop = new AbortController();
  sync.start(stop.signal);
  // Bounded waits, so a loaded machine does not fail it: at least two attempts while it is down.
  for (let waited = 0; listener.calls < 2 && waited < 5000; waited += 10) await sleep(10);
  t.false(sync.ready());
  t.is(sync.status().listeners[0]?.state, 'unreachable');
  t.regex(sync.status().listeners[0]?.lastError ?? '', /ECONNREFUSED/);
  t.true(listener.calls >= 2, `${listener.calls} attempts`);
  listener.down = false;
  for (let waited = 0; !sync.ready() && waited < 5000; waited += 10) await sleep(10);
  stop.abort();
  t.true(sync.ready());
  t.is(batches.length, 1);
});

test('readiness stops waiting after waitMs, and says so', async (t) => {
  let now = 0;
  const listener = fakeListener([]);
  listener.down = true;
  const sync = new ListenerSync({ ...base, listeners: [listener], submitAll: recorder().submitAll, waitMs: 1000, now: () => now });
  t.false(sync.ready());
  now = 999;
  t.false(sync.ready());
  now = 1000;
  t.true(sync.ready());
  t.true(sync.status().waitedOut);
});

test('with repeat, the pull runs again every interval', async (t) => {
  const listener = fakeListener([{ serviceName: 'a', servicePath: '/a', port: '80' }]);
  const { batches, submitAll } = recorder();
  const sync = new ListenerSync({ ...base, repeat: true, listeners: [listener], submitAll, waitMs: 0 });
  const stop = new AbortController();
  sync.start(stop.signal);
  // Every 20 ms: at least three pulls soon (bounded wait, so a loaded machine does not fail it).
  for (let waited = 0; batches.length < 3 && waited < 3000; waited += 20) await sleep(20);
  stop.abort();
  t.true(batches.length >= 3, `${batches.length} pulls`);
});
