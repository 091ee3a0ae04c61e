import test from 'ava';
import { attributeReloadFailure, bisect, culpritsFromAlerts } from '../../src/core/apply/attribution.js';
import { fanOut } from '../../src/core/sources/fanout.js';
import { silentLog } from '../../src/core/log.js';
import { AntiEntropy, type ReplicaView } from '../../src/core/sources/replication.js';
import { describeOps, runtimeDiff } from '../../src/core/apply/runtimeDiff.js';
import { renderFiles } from '../../src/core/apply/files.js';
import { buildModel } from '../../src/render/model.js';
import { keepLiveNames } from '../../src/core/apply/layout.js';
import { templates } from '../support/fakes.js';
import { baseSettings, svc } from '../support/render.js';

// The pure parts of applying: who broke a config, which runtime commands turn one model into the next,
// and the replica loops' policies.

const settings = baseSettings({ spareBackends: 2 });
const model = (queries: string[], previous?: ReturnType<typeof buildModel>) =>
  buildModel({ settings, services: queries.map((q) => svc(q)), hasCerts: false, custom: new Map() }, previous && keepLiveNames(previous.layout));

test('bisect finds exactly the culprits among many suspects, and none when the config is broken without them', async (t) => {
  const suspects = Array.from({ length: 40 }, (_, i) => `s${i}`);
  const bad = new Set(['s3', 's17', 's31']);
  let checks = 0;
  const valid = async (without: Set<string>) => {
    checks++;
    return [...bad].every((b) => without.has(b));
  };
  t.deepEqual((await bisect(suspects, valid)).sort(), ['s17', 's3', 's31']);
  t.true(checks < 40, `${checks} checks for 40 suspects`);
  t.deepEqual(await bisect(suspects, async () => false), [], 'broken even without them: not theirs');
  t.deepEqual(await bisect([], valid), []);
});

test('culprits come from the line HAProxy names, with its message (candidate path shortened)', (t) => {
  const m = model(['serviceName=a&servicePath=/a&port=1&outboundHostname=127.0.0.1&timeoutServer=5', 'serviceName=b&servicePath=/b&port=2&outboundHostname=127.0.0.1&timeoutServer=5']);
  const rendered = renderFiles(templates, m);
  const line = rendered.files.config.split('\n').findIndex((l) => /^backend b-be2_0/.test(l)) + 2;
  const culprits = culpritsFromAlerts([{ line, message: `[/data/haproxy/candidate/haproxy.cfg:${line}] : unknown keyword.`, names: [] }], rendered, m);
  t.deepEqual([...culprits.keys()], ['b']);
  t.is(culprits.get('b'), `HAProxy refused the configuration of service "b": [haproxy.cfg:${line}] : unknown keyword.`);
  const byName = culpritsFromAlerts([{ message: "proxy 'a-be1_0': no server available", names: ['a-be1_0'] }], rendered, m);
  t.deepEqual([...byName.keys()], ['a']);
});

test('a reload that cannot bind a TCP service\'s port names that service', (t) => {
  const m = model(['serviceName=redis&reqMode=tcp&srcPort=16379&port=6379&outboundHostname=127.0.0.1']);
  const culprits = attributeReloadFailure('[ALERT] Starting proxy tcpFE_16379: cannot bind socket (Address in use) [0.0.0.0:16379]', m, ['redis']);
  t.deepEqual([...culprits.keys()], ['redis']);
  t.deepEqual([...attributeReloadFailure('something else', m, ['redis']).keys()], []);
});

test('runtime diff: servers are added first, routes change next, old servers go last; a new address moves a server', (t) => {
  const live = model(['serviceName=a&servicePath=/a&port=1&outboundHostname=127.0.0.1']);
  const next = model(['serviceName=a&servicePath=/a2&port=1&outboundHostname=127.0.0.1', 'serviceName=b&servicePath=/b&port=2&outboundHostname=127.0.0.1'], live);
  const ops = runtimeDiff(live, next);
  t.deepEqual(ops.map((o) => o.kind), ['addServer', 'setMap', 'setMap', 'delMap']);
  t.is(describeOps(ops), '1 server added, 2 routes set, 1 route removed');
  const gone = model(['serviceName=b&servicePath=/b&port=2&outboundHostname=127.0.0.1'], next);
  const removal = runtimeDiff(next, gone);
  t.is(removal.at(-1)?.kind, 'delServer', 'the old server goes after its route');
  const moved = model(['serviceName=b&servicePath=/b&port=3&outboundHostname=127.0.0.1'], gone);
  t.deepEqual(runtimeDiff(gone, moved).map((o) => o.kind).sort(), ['addServer', 'delServer'], 'another port is another server identity');
  t.deepEqual(runtimeDiff(live, live), [], 'nothing to do');
});

test('fan-out: every peer at once, retried on failure, a 4xx not retried, each outcome reported', async (t) => {
  const calls: string[] = [];
  const outcomes = await fanOut(['up', 'flaky', 'refuses', 'down'], async (peer, attempt) => {
    calls.push(`${peer}:${attempt}`);
    if (peer === 'up') return { status: 200 };
    if (peer === 'flaky') return attempt < 2 ? { status: 503 } : { status: 200 };
    if (peer === 'refuses') return { status: 400, message: 'bad' };
    throw new Error('ECONNREFUSED');
  }, { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 });
  t.deepEqual(outcomes.map((o) => [o.Peer, o.Status, o.Attempts]), [['up', 'ok', 1], ['flaky', 'ok', 2], ['refuses', 'failed', 1], ['down', 'failed', 3]]);
  t.is(outcomes.find((o) => o.Peer === 'down')?.Error, 'ECONNREFUSED');
});

test('anti-entropy pulls a full view only from peers whose digest differs, and survives one that is down', async (t) => {
  const merged: string[] = [];
  const full: string[] = [];
  const ae = new AntiEntropy({
    peers: async () => ['same', 'differs', 'down'],
    fetch: async (peer, isFull): Promise<ReplicaView> => {
      if (peer === 'down') throw new Error('unreachable');
      if (isFull) full.push(peer);
      return { Instance: peer, Digest: peer === 'same' ? 'D' : 'X' };
    },
    localDigest: () => 'D',
    merge: async (view) => void merged.push(view.Instance),
    intervalMs: 10,
    timeoutMs: 100,
    log: silentLog,
  });
  t.is(await ae.round(new AbortController().signal), 1);
  t.deepEqual(full, ['differs']);
  t.deepEqual(merged, ['differs']);
  t.is(ae.completedRounds, 1);
});
