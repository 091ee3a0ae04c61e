import test from 'ava';
import { applyCommands, EMPTY_DESIRED, initialDesired, quarantineService, replicaStateOf, revertService, SWEEP_EVERY_MS, type DesiredState, type ReducibleCommand } from '../../src/core/desired/desired.js';
import { storedChanges, TOMBSTONE_HORIZON_MS, TOMBSTONE_LIMIT } from '../../src/core/desired/storedState.js';
import type { Entry } from '../../src/domain/registry.js';
import { apiEntry } from '../support/fakes.js';

// The desired-state rules, as a reducer: commands in, next state out, in milliseconds.

const NOW = 1_000_000;
const web = (port = 80, extra = '') => apiEntry(`serviceName=web&servicePath=/web&port=${port}&outboundHostname=127.0.0.1${extra}`);
const docker = (name: string, port = 80): Entry => ({ ...apiEntry(`serviceName=${name}&servicePath=/${name}&port=${port}`), owner: 'docker' });
const stamped = (e: Entry, stamp: number): Entry => ({ ...e, stamp });
const names = (s: DesiredState) => [...s.registry.entries.keys()].sort();

function reduce(state: DesiredState, ...commands: ReducibleCommand[]) {
  return applyCommands(state, commands, NOW);
}

test('an upsert adds the service with a write stamp from the clock; the same upsert again changes nothing', (t) => {
  const r = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: web() });
  t.deepEqual(names(r.next), ['web']);
  t.deepEqual([...r.changed], [['web', [0]]]);
  t.is(r.stamps.get(0), NOW);
  t.is(r.next.registry.entries.get('web')?.stamp, NOW);
  const again = reduce(r.next, { kind: 'upsert', entry: web() });
  t.is(again.changed.size, 0);
  t.is(again.next.registry, r.next.registry, 'the same snapshot when nothing changed');
});

test('stamps only grow: two writes in the same millisecond get increasing stamps; a peer\'s stamp is kept', (t) => {
  const r = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: web(80) }, { kind: 'upsert', entry: web(81) });
  t.is(r.stamps.get(0), NOW);
  t.is(r.stamps.get(1), NOW + 1);
  const fromPeer = reduce(r.next, { kind: 'upsert', entry: web(82), stamp: NOW + 500 });
  t.is(fromPeer.stamps.get(0), NOW + 500);
  t.is(fromPeer.next.lastStamp, NOW + 500);
});

test('an aclName another service uses is refused, and only that command', (t) => {
  const first = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: apiEntry('serviceName=a&aclName=shared&servicePath=/a&port=1') });
  const r = reduce(first.next, { kind: 'upsert', entry: apiEntry('serviceName=b&aclName=shared&servicePath=/b&port=1') }, { kind: 'upsert', entry: web() });
  t.regex(r.refused.get(0) ?? '', /aclName "shared" is already used by service "a"/);
  t.deepEqual(names(r.next), ['a', 'web']);
});

test('a remove leaves a tombstone with its stamp; a discovered service the API one shadowed comes back', (t) => {
  const synced = reduce(EMPTY_DESIRED, { kind: 'sync', owner: 'docker', entries: [docker('web', 9000)] });
  const api = reduce(synced.next, { kind: 'upsert', entry: web() });
  t.is(api.next.registry.entries.get('web')?.owner, 'api', 'the API service wins over the discovered one');
  const removed = reduce(api.next, { kind: 'remove', name: 'web' });
  t.is(removed.next.tombstones.get('web'), removed.stamps.get(0));
  t.is(removed.next.registry.entries.get('web')?.owner, 'docker', 'the discovered one is back');
});

test('removing an unknown service changes nothing, unless it clears a quarantine', (t) => {
  t.is(reduce(EMPTY_DESIRED, { kind: 'remove', name: 'ghost' }).changed.size, 0);
  const q = quarantineService(EMPTY_DESIRED, 'ghost', 'broken');
  const r = reduce(q, { kind: 'remove', name: 'ghost' });
  t.deepEqual([...r.changed.keys()], ['ghost']);
  t.false(r.next.quarantine.has('ghost'));
});

test('a sync replaces what its owner has and leaves the API services alone', (t) => {
  const api = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: web() });
  const first = reduce(api.next, { kind: 'sync', owner: 'docker', entries: [docker('a'), docker('web')] });
  t.deepEqual(names(first.next), ['a', 'web']);
  t.is(first.next.registry.entries.get('web')?.owner, 'api');
  const second = reduce(first.next, { kind: 'sync', owner: 'docker', entries: [docker('b')] });
  t.deepEqual(names(second.next), ['b', 'web']);
  t.deepEqual([...second.changed.keys()].sort(), ['a', 'b']);
});

test('anti-entropy: a newer remote write wins, an older one does not, a newer removal removes; a newer stamp of the same content is kept quietly', (t) => {
  const local = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: web(80), stamp: 100 }).next;
  t.is(reduce(local, { kind: 'merge', entries: [stamped(web(81), 50)], removed: [] }).changed.size, 0, 'older');
  const newer = reduce(local, { kind: 'merge', entries: [stamped(web(81), 200)], removed: [] });
  t.is(newer.next.registry.entries.get('web')?.spec.destinations[0]?.port, 81);
  const same = reduce(local, { kind: 'merge', entries: [stamped(web(80), 300)], removed: [] });
  t.is(same.changed.size, 0);
  t.true(same.stampsOnly);
  t.is(same.next.registry.entries.get('web')?.stamp, 300);
  const gone = reduce(local, { kind: 'merge', entries: [], removed: [{ name: 'web', stamp: 150 }] });
  t.deepEqual(names(gone.next), []);
  t.is(reduce(local, { kind: 'merge', entries: [], removed: [{ name: 'web', stamp: 99 }] }).changed.size, 0, 'an older removal');
  // A tombstone stops an older write from coming back.
  t.is(reduce(gone.next, { kind: 'merge', entries: [stamped(web(80), 120)], removed: [] }).changed.size, 0);
});

test('a restore replaces the stored services with the shared store\'s, keeps discovered ones, and goes first in its batch', (t) => {
  const start = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: web() }, { kind: 'sync', owner: 'docker', entries: [docker('d')] }).next;
  const other = apiEntry('serviceName=other&servicePath=/o&port=1');
  const local = apiEntry('serviceName=local&servicePath=/l&port=1');
  // The local change comes first in the batch, the restore is applied before it anyway.
  const r = reduce(start, { kind: 'upsert', entry: local }, { kind: 'restore', entries: [other] });
  t.deepEqual(names(r.next), ['d', 'local', 'other']);
  t.deepEqual([...(r.restored?.entries.keys() ?? [])].sort(), ['d', 'other'], 'what the store holds, before the local change');
});

test('reload and refresh ask to render again, with their reason', (t) => {
  t.true(reduce(EMPTY_DESIRED, { kind: 'reload', recreate: false }).reloadOnly);
  const recreate = reduce(EMPTY_DESIRED, { kind: 'reload', recreate: true, reason: 'consolidation' });
  t.true(recreate.rerender);
  t.is(recreate.reason, 'consolidation');
  const refresh = reduce(EMPTY_DESIRED, { kind: 'refresh', reason: 'certificates changed' });
  t.true(refresh.rerender);
  t.is(refresh.reason, 'certificates changed');
});

test('a quarantined service stays out until its parameters change; the same parameters again change nothing', (t) => {
  const live = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: web(80, '&timeoutServer=5') }).next;
  const q = quarantineService(live, 'web', 'HAProxy refused it');
  t.is(reduce(q, { kind: 'upsert', entry: web(80, '&timeoutServer=5') }).changed.size, 0);
  const fixed = reduce(q, { kind: 'upsert', entry: web(80) });
  t.deepEqual([...fixed.changed.keys()], ['web']);
  t.false(fixed.next.quarantine.has('web'));
});

test('a caller\'s refused change is reverted to the live version, or removed when it was new', (t) => {
  const live = reduce(EMPTY_DESIRED, { kind: 'upsert', entry: web(80) }).next;
  const changed = reduce(live, { kind: 'upsert', entry: web(81) }, { kind: 'upsert', entry: apiEntry('serviceName=new&servicePath=/n&port=1') }).next;
  const reverted = revertService(revertService(changed, 'web', live.registry), 'new', live.registry);
  t.is(reverted.registry.entries.get('web')?.spec.destinations[0]?.port, 80);
  t.false(reverted.registry.entries.has('new'));
});

test('removals older than the horizon are forgotten; replicas exchange the rest', (t) => {
  const s = initialDesired([], [], [{ name: 'old', stamp: NOW - TOMBSTONE_HORIZON_MS - 1 }, { name: 'recent', stamp: NOW - 10 }]);
  t.is(s.lastStamp, NOW - 10);
  const r = reduce(s, { kind: 'reload', recreate: false });
  t.deepEqual([...r.next.tombstones.keys()], ['recent']);
  t.deepEqual(replicaStateOf(r.next, NOW).removed, [{ name: 'recent', stamp: NOW - 10 }]);
});

test('removals past the horizon are dropped by an hourly sweep, not at every batch; replicas never get them', (t) => {
  const at = NOW + TOMBSTONE_HORIZON_MS;
  const state: DesiredState = { ...EMPTY_DESIRED, tombstones: new Map([['old', at - TOMBSTONE_HORIZON_MS - 1], ['recent', at - 10]]), swept: at - 60_000 };
  const soon = applyCommands(state, [{ kind: 'reload', recreate: false }], at).next;
  t.deepEqual([...soon.tombstones.keys()], ['old', 'recent'], 'kept until the next sweep');
  t.deepEqual(replicaStateOf(soon, at).removed, [{ name: 'recent', stamp: at - 10 }]);
  const hourLater = applyCommands(soon, [{ kind: 'reload', recreate: false }], at + SWEEP_EVERY_MS).next;
  t.deepEqual([...hourLater.tombstones.keys()], ['recent']);
  t.is(hourLater.swept, at + SWEEP_EVERY_MS);
});

// Removals of ever new names (previews, CI stacks): `count` of them, the oldest first, all inside the horizon.
const manyRemovals = (count: number) => new Map(Array.from({ length: count }, (_, i) => [`gone-${String(i).padStart(6, '0')}`, NOW - 100_000 + 1 + i] as [string, number]));

test('at most the newest TOMBSTONE_LIMIT removals are kept: the oldest are forgotten in one cut, and the store is told', (t) => {
  const full = manyRemovals(TOMBSTONE_LIMIT * 1.25);
  const live = reduce({ ...EMPTY_DESIRED, tombstones: full, swept: NOW }, { kind: 'upsert', entry: web() }).next;
  t.is(live.tombstones.size, TOMBSTONE_LIMIT * 1.25, 'a quarter over the limit is held until one more removal');
  t.is(replicaStateOf(live, NOW).removed.length, TOMBSTONE_LIMIT * 1.25, 'replicas see every removal held');

  const r = reduce(live, { kind: 'remove', name: 'web' });
  t.is(r.next.tombstones.size, TOMBSTONE_LIMIT);
  t.is(replicaStateOf(r.next, NOW).removed.length, TOMBSTONE_LIMIT);
  t.is(r.next.tombstones.get('web'), r.stamps.get(0), 'the new removal is kept');
  const kept = [...r.next.tombstones.keys()].filter((n) => n !== 'web').sort();
  t.is(kept[0], `gone-${String(TOMBSTONE_LIMIT * 0.25 + 1).padStart(6, '0')}`, 'the oldest went first');
  t.false(r.next.tombstones.has('gone-000000'));

  const changes = storedChanges({ entries: live.registry.entries, tombstones: live.tombstones, unparsed: live.unparsed }, r.next.registry, r.next.tombstones, r.next.unparsed, NOW);
  t.deepEqual(changes.removed, [{ name: 'web', stamp: r.stamps.get(0) as number }]);
  t.is(changes.forgotten.length, TOMBSTONE_LIMIT * 0.25 + 1);
  t.true(changes.forgotten.includes('gone-000000'));
});

test('replicas that cut their removals at different moments end up with the same ones, and refuse the same old writes', (t) => {
  const removal = (s: DesiredState) => [...s.tombstones].map(([name, stamp]) => ({ name, stamp }));
  const view = (s: DesiredState) => replicaStateOf(s, NOW);
  // B holds a quarter over the limit; A got one older removal more (of `x`) and has cut to the limit already.
  const b: DesiredState = { ...EMPTY_DESIRED, tombstones: manyRemovals(TOMBSTONE_LIMIT * 1.25), swept: NOW };
  const a = reduce({ ...b, tombstones: new Map([...b.tombstones, ['x', NOW - 200_000]]) }, { kind: 'reload', recreate: false }).next;
  t.is(a.tombstones.size, TOMBSTONE_LIMIT);
  t.notDeepEqual(view(a), view(b), 'their digests differ: anti-entropy exchanges their views');

  // Each merges the other's view: both hold what B held (x's removal is past the cut of that set).
  const a2 = reduce(a, { kind: 'merge', entries: [], removed: view(b).removed }).next;
  const b2 = reduce(b, { kind: 'merge', entries: [], removed: view(a).removed }).next;
  t.deepEqual(view(a2), view(b2));
  t.deepEqual(removal(a2).sort((p, q) => (p.name < q.name ? -1 : 1)), view(b2).removed);

  // A write of a removed service older than its removal is refused by both.
  const old = stamped(apiEntry('serviceName=gone-012000&servicePath=/g&port=80'), NOW - 100_000);
  t.is(reduce(a2, { kind: 'merge', entries: [old], removed: [] }).changed.size, 0);
  t.is(reduce(b2, { kind: 'merge', entries: [old], removed: [] }).changed.size, 0);

  // The next removal takes both over the cut: they keep the same newest TOMBSTONE_LIMIT.
  const next = { kind: 'merge' as const, entries: [], removed: [{ name: 'last', stamp: NOW }] };
  const a3 = reduce(a2, next).next;
  const b3 = reduce(b2, next).next;
  t.is(a3.tombstones.size, TOMBSTONE_LIMIT);
  t.deepEqual(view(a3), view(b3));
});

test('a store with hundreds of thousands of removals starts, keeping the newest', (t) => {
  const removed = [...manyRemovals(300_000)].map(([name, stamp]) => ({ name, stamp }));
  const s = initialDesired([], [], removed);
  t.is(s.lastStamp, NOW - 100_000 + 300_000);
  t.false(s.tombstones.has('gone-289999'), 'the oldest are not');
  t.is(s.tombstones.size, TOMBSTONE_LIMIT);
  t.true(s.tombstones.has('gone-299999'));
});
