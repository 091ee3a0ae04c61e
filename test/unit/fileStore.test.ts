import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COMPACT_AFTER, FileStore } from '../../src/adapters/store/fileStore.js';
import type { StoredChanges, StoredService, StoredState } from '../../src/core/ports.js';

// The file store's journal: each apply appends what it changed; a load gives the state file plus the journal,
// a line cut short is dropped, and the whole state is written again every COMPACT_AFTER lines.

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fp-store-'));
const record = (name: string, port = '80'): StoredService => ({ owner: 'api', params: { serviceName: name, servicePath: `/${name}`, port } });
const change = (over: Partial<StoredChanges>): StoredChanges => ({ version: 2, set: [], del: [], removed: [], forgotten: [], ...over });
const names = (s: StoredState | undefined) => s?.services.map((x) => `${x.params.serviceName}:${x.params.port}`);
const never = (): StoredState => {
  throw new Error('no full write expected');
};

test('changes are appended to the journal, not to the state file, and a load replays them in order', async (t) => {
  const d = dir();
  const store = new FileStore(d);
  await store.save({ version: 1, services: [record('a'), record('b')] });
  const main = fs.readFileSync(path.join(d, 'state.json'), 'utf8');
  await store.saveChanges(change({ set: [record('c')], version: 2 }), never);
  await store.saveChanges(change({ set: [record('a', '81')], del: ['b'], removed: [{ name: 'b', stamp: 5 }], version: 3 }), never);
  t.is(fs.readFileSync(path.join(d, 'state.json'), 'utf8'), main, 'the state file is not rewritten');
  const loaded = await new FileStore(d).load();
  t.deepEqual(names(loaded), ['a:81', 'c:80']);
  t.deepEqual(loaded?.removed, [{ name: 'b', stamp: 5 }]);
  t.is(loaded?.version, 3);
  await store.saveChanges(change({ set: [record('b')], forgotten: ['b'], version: 4 }), never);
  const again = await new FileStore(d).load();
  t.deepEqual(names(again), ['a:81', 'b:80', 'c:80']);
  t.is(again?.removed, undefined);
});

test('a journal line cut short is dropped with the lines after it; the next change follows the last good line', async (t) => {
  const d = dir();
  const store = new FileStore(d);
  await store.save({ version: 1, services: [record('a')] });
  await store.saveChanges(change({ set: [record('b')] }), never);
  await store.saveChanges(change({ set: [record('c')] }), never);
  const journal = path.join(d, 'state.journal');
  const text = fs.readFileSync(journal, 'utf8');
  fs.writeFileSync(journal, text.slice(0, text.length - 20));
  const reader = new FileStore(d);
  t.deepEqual(names(await reader.load()), ['a:80', 'b:80'], 'the damaged last line is not applied');
  await reader.saveChanges(change({ set: [record('d')] }), never);
  t.deepEqual(names(await new FileStore(d).load()), ['a:80', 'b:80', 'd:80']);
});

test('a damaged state file: the backup (a copy of it) is restored and the journal applied on top, nothing lost', async (t) => {
  const d = dir();
  const store = new FileStore(d);
  await store.save({ version: 1, services: [record('a')] });
  await store.saveChanges(change({ set: [record('b')] }), never);
  fs.writeFileSync(path.join(d, 'state.json'), '{"broken');
  const warnings: string[] = [];
  const loaded = await new FileStore(d, { warn: (_o, m) => warnings.push(String(m)) }).load();
  t.deepEqual(names(loaded), ['a:80', 'b:80']);
  t.true(warnings.some((w) => /restored the backup/.test(w)));
});

test('a journal written on top of another state file is ignored, with a warning', async (t) => {
  const d = dir();
  const store = new FileStore(d);
  await store.save({ version: 1, services: [record('a')] });
  await store.saveChanges(change({ set: [record('b')] }), never);
  const journal = fs.readFileSync(path.join(d, 'state.journal'));
  await store.save({ version: 2, services: [record('x')] });
  t.false(fs.existsSync(path.join(d, 'state.journal')), 'a full write starts the journal over');
  fs.writeFileSync(path.join(d, 'state.journal'), journal);
  const warnings: string[] = [];
  t.deepEqual(names(await new FileStore(d, { warn: (_o, m) => warnings.push(String(m)) }).load()), ['x:80']);
  t.true(warnings.some((w) => /another state file/.test(w)));
});

test(`after ${COMPACT_AFTER} journal lines the whole state is written again`, async (t) => {
  const d = dir();
  const store = new FileStore(d);
  await store.save({ version: 1, services: [] });
  for (let i = 0; i < COMPACT_AFTER; i++) await store.saveChanges(change({ set: [record(`s${i % 10}`, String(i))] }), never);
  let full = 0;
  await store.saveChanges(change({ set: [record('last')] }), () => {
    full++;
    return { version: 9, services: [record('whole')] };
  });
  t.is(full, 1);
  t.false(fs.existsSync(path.join(d, 'state.journal')));
  t.deepEqual(names(await new FileStore(d).load()), ['whole:80']);
});

test('the reconciler saves one change as one journal line holding that service alone, and a load gives the registry back', async (t) => {
  const { Reconciler } = await import('../../src/core/reconcile/reconciler.js');
  const { silentLog } = await import('../../src/core/log.js');
  const { apiEntry, FakeDataPlane, templates } = await import('../support/fakes.js');
  const { baseSettings } = await import('../support/render.js');
  const d = dir();
  const r = new Reconciler({ dataPlane: new FakeDataPlane(), store: new FileStore(d), settings: baseSettings(), templates, certs: () => ({ hasCerts: false, key: '' }), log: silentLog });
  const entry = (name: string) => apiEntry(`serviceName=${name}&servicePath=/${name}&port=80&outboundHostname=127.0.0.1`);
  await r.start(Array.from({ length: 500 }, (_, i) => entry(`s${i}`)));
  t.is((await r.submit({ kind: 'upsert', entry: entry('fresh') })).apply?.kind, 'runtime');
  t.is((await r.submit({ kind: 'remove', name: 's7' })).apply?.kind, 'runtime');
  const lines = fs.readFileSync(path.join(d, 'state.journal'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { change: StoredChanges });
  t.deepEqual(lines.map((l) => [l.change.set.map((s) => s.params.serviceName), l.change.del, l.change.removed.map((x) => x.name)]), [[['fresh'], [], []], [[], ['s7'], ['s7']]]);
  const loaded = await new FileStore(d).load();
  t.deepEqual(loaded?.services.map((s) => s.params.serviceName).sort(), [...r.registry.entries.keys()].sort());
  await r.close();
});

test('a damaged first journal line is cut (kept aside), so the changes appended after it survive the next load', async (t) => {
  const d = dir();
  const store = new FileStore(d);
  await store.save({ version: 1, services: [record('a')] });
  fs.writeFileSync(path.join(d, 'state.journal'), '{"base":"torn');
  const reader = new FileStore(d);
  t.deepEqual(names(await reader.load()), ['a:80']);
  await reader.saveChanges(change({ set: [record('b')] }), never);
  t.deepEqual(names(await new FileStore(d).load()), ['a:80', 'b:80']);
  t.true(fs.readdirSync(d).some((f) => f.startsWith('state.journal.cut-')), 'the damaged journal is kept aside');
});

test('a journal line the file size limit cuts short is refused, not acknowledged, and leaves no trace', async (t) => {
  const d = dir();
  await new FileStore(d).save({ version: 1, services: [record('a')] });
  const module = new URL('../../src/adapters/store/fileStore.js', import.meta.url).pathname;
  // In a child limited to 8 KiB files: a small change fits, a 20 KB one does not.
  const script = `
    const { FileStore } = await import(${JSON.stringify(module)});
    const s = new FileStore(${JSON.stringify(d)}); await s.load();
    const rec = (n, extra) => ({ owner: 'api', params: { serviceName: n, servicePath: '/' + n, port: '80', ...extra } });
    const ch = (r) => ({ version: 2, set: [r], del: [], removed: [], forgotten: [] });
    await s.saveChanges(ch(rec('b')), () => { throw new Error('no full write'); });
    let refused = false;
    try { await s.saveChanges(ch(rec('big', { userDef: 'x'.repeat(20000) })), () => { throw new Error('no full write'); }); } catch { refused = true; }
    console.log(JSON.stringify({ refused }));`;
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync('bash', ['-c', `ulimit -f 8; exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  t.deepEqual(JSON.parse(out.trim()), { refused: true });
  const store = new FileStore(d);
  t.deepEqual(names(await store.load()), ['a:80', 'b:80'], 'the refused change is not in the state');
  await store.saveChanges(change({ set: [record('c')] }), never);
  t.deepEqual(names(await new FileStore(d).load()), ['a:80', 'b:80', 'c:80'], 'a later change follows the last good line');
});
