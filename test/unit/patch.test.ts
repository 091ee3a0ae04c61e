import test from 'ava';
import fc from 'fast-check';
import { silentLog, type Log } from '../../src/core/log.js';
import { Reconciler, type Command } from '../../src/core/reconcile/reconciler.js';
import type { RuntimeOp } from '../../src/core/apply/runtimeDiff.js';
import type { ConfigFiles, RuntimeResult } from '../../src/core/ports.js';
import { apiEntry, FakeDataPlane, MemoryStore, templates } from '../support/fakes.js';
import { baseSettings } from '../support/render.js';

// Runtime patches (src/core/apply/patch.ts) against the whole model: the same commands, sent to a reconciler that
// patches the live model and to one that builds every service's model each time, must give the same kind of
// apply, the same runtime operations, the same files and the same consolidation decision, at every step.

class RecordingDataPlane extends FakeDataPlane {
  ops: RuntimeOp[][] = [];
  override async runtime(ops: readonly RuntimeOp[]): Promise<RuntimeResult> {
    this.ops.push([...ops]);
    return super.runtime(ops);
  }
}

/** A log that counts the reloads whose canonical model was made from the live one (applier.ts `model: 'patched'`). */
function countingLog(): Log & { patchedReloads: number } {
  const log = { ...silentLog, patchedReloads: 0, child: () => log };
  log.debug = (obj: object) => {
    if ((obj as { model?: string }).model === 'patched') log.patchedReloads++;
  };
  return log;
}

async function reconciler(incremental: boolean, certs = { key: '' }) {
  const dataPlane = new RecordingDataPlane();
  const log = countingLog();
  const r = new Reconciler({ dataPlane, store: new MemoryStore(), settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: certs.key !== '', key: certs.key }), log, incremental });
  await r.start([]);
  return { r, dataPlane, log };
}

const NAMES = ['a', 'b', 'c', 'd', 'e'];
/** Service shapes: plain ones the patch takes, and ones that share keys, need rules or change the structure. */
const SHAPES: Array<(n: string) => string> = [
  (n) => `servicePath=/${n}&port=80&outboundHostname=127.0.0.1`,
  (n) => `servicePath=/${n}&port=80&outboundHostname=127.0.0.2`,
  (n) => `servicePath=/${n},/${n}-alt&port=81&outboundHostname=127.0.0.1`,
  (n) => `servicePath=/&serviceDomain=${n}.example.com&port=80&outboundHostname=127.0.0.1`,
  (n) => `servicePath=/${n}&serviceDomain=${n}.example.com,www.${n}.example.com&port=80&outboundHostname=127.0.0.3`,
  (n) => `servicePath=/${n}/exact&pathType=path&port=80&outboundHostname=127.0.0.1`,
  () => 'servicePath=/shared&port=80&outboundHostname=127.0.0.1',
  () => 'servicePath=/&port=80&outboundHostname=127.0.0.1',
  (n) => `servicePath=/${n}&serviceHeader=X-V:1&port=80&outboundHostname=127.0.0.1`,
  (n) => `servicePath=/.well-known/${n}&port=80&outboundHostname=127.0.0.1`,
  (n) => `servicePath=/${n}&port=80&outboundHostname=127.0.0.1&timeoutServer=9`,
  (n) => `servicePath=/${n}&port=80&outboundHostname=127.0.0.1&users=u:p`,
  (n) => `servicePath=/${n}&port=80&outboundHostname=127.0.0.1&aclName=0${n}`,
  // Backends named outside the maps: a default backend, a TCP frontend's.
  (n) => `servicePath=/${n}&port=82&outboundHostname=127.0.0.1&isDefaultBackend=true`,
  (n) => `reqMode=tcp&srcPort=${30000 + NAMES.indexOf(n)}&port=83&outboundHostname=127.0.0.1`,
];

type Step = { kind: 'upsert'; name: string; shape: number; cert?: boolean } | { kind: 'remove'; name: string } | { kind: 'batch'; steps: Array<{ name: string; shape: number; remove?: boolean }> } | { kind: 'consolidate'; with?: { name: string; shape: number }; reloadFails?: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('upsert' as const), name: fc.constantFrom(...NAMES), shape: fc.nat({ max: SHAPES.length - 1 }) }) },
  // A service that brings a certificate (serviceCert): new certificates are loaded by a reload only.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('upsert' as const), name: fc.constantFrom(...NAMES), shape: fc.nat({ max: 2 }), cert: fc.constant(true) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), name: fc.constantFrom(...NAMES) }) },
  // Batches mix removals and upserts: a spare one service leaves can be taken by another in the same apply.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('batch' as const), steps: fc.array(fc.record({ name: fc.constantFrom(...NAMES), shape: fc.nat({ max: 7 }), remove: fc.boolean() }), { minLength: 2, maxLength: 4 }) }) },
  // What the consolidation timer submits (reconciler.ts): the canonical config, from the live model when it can be.
  { weight: 1, arbitrary: fc.constant({ kind: 'consolidate' as const }) },
  // A consolidation in one batch with a change, and one whose reload HAProxy refuses (the live model and its index stay).
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('consolidate' as const), with: fc.record({ name: fc.constantFrom(...NAMES), shape: fc.nat({ max: SHAPES.length - 1 }) }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('consolidate' as const), reloadFails: fc.constant(true) }) },
);

function commandsOf(step: Step): Command[] {
  const upsert = (name: string, shape: number): Command => ({ kind: 'upsert', entry: apiEntry(`serviceName=${name}&${(SHAPES[shape] as (n: string) => string)(name)}`) });
  if (step.kind === 'upsert') return [upsert(step.name, step.shape)];
  if (step.kind === 'remove') return [{ kind: 'remove', name: step.name }];
  if (step.kind === 'consolidate') {
    const consolidate: Command = { kind: 'reload', recreate: true, consolidate: true, reason: 'consolidation' };
    return step.with ? [consolidate, upsert(step.with.name, step.with.shape)] : [consolidate];
  }
  return step.steps.map((s): Command => (s.remove ? { kind: 'remove', name: s.name } : upsert(s.name, s.shape)));
}

/** Operations as a set per phase, the phases in order (within a phase the order carries no meaning). */
function normalized(ops: readonly RuntimeOp[]): string[][] {
  const phase = (o: RuntimeOp) => (o.kind === 'addServer' ? 0 : o.kind === 'moveServer' ? 1 : o.kind === 'setMap' ? 2 : o.kind === 'delMap' ? 3 : 4);
  const phases: string[][] = [[], [], [], [], []];
  let last = 0;
  for (const o of ops) {
    if (phase(o) < last) throw new Error(`operations out of order: ${JSON.stringify(ops)}`);
    last = phase(o);
    (phases[phase(o)] as string[]).push(JSON.stringify(o));
  }
  return phases.map((p) => p.sort());
}

function filesOf(files: ConfigFiles | undefined): { config: string; maps: Record<string, string> } {
  return { config: files?.config ?? '', maps: { ...files?.maps } };
}

test('a patched live model gives the same applies, operations, files and consolidation as building the whole model, for any sequence', async (t) => {
  let patched = 0;
  let madeCanonical = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (steps) => {
      const certs = { key: '' };
      const inc = await reconciler(true, certs);
      const full = await reconciler(false, certs);
      for (const step of steps) {
        if (step.kind === 'upsert' && step.cert) certs.key = `${certs.key}+`;
        const commands = commandsOf(step);
        const drifted = inc.r.namesDrifted();
        const patchedReloads = inc.log.patchedReloads;
        const reloadFails = step.kind === 'consolidate' && step.reloadFails === true;
        if (reloadFails) inc.dataPlane.failReload = full.dataPlane.failReload = 'refused for the test';
        const [a, b] = await Promise.all([inc.r.submitAll(commands), full.r.submitAll(commands)]);
        if (reloadFails) inc.dataPlane.failReload = full.dataPlane.failReload = undefined;
        const kinds = (rs: typeof a) => rs.map((x) => (x.ok ? x.apply?.kind : x.code));
        if (JSON.stringify(kinds(a)) !== JSON.stringify(kinds(b))) throw new Error(`${JSON.stringify(step)}: ${JSON.stringify(kinds(a))} patched, ${JSON.stringify(kinds(b))} whole`);
        const opsA = inc.dataPlane.ops.splice(0);
        const opsB = full.dataPlane.ops.splice(0);
        if (JSON.stringify(opsA.map(normalized)) !== JSON.stringify(opsB.map(normalized))) throw new Error(`${JSON.stringify(step)}: operations differ\n${JSON.stringify(opsA)}\n${JSON.stringify(opsB)}`);
        if (a.some((x) => x.ok && x.apply?.kind === 'runtime')) patched++;
        if (drifted && inc.log.patchedReloads > patchedReloads) madeCanonical++;
        const fa = filesOf(inc.r.liveConfig);
        const fb = filesOf(full.r.liveConfig);
        if (fa.config !== fb.config) throw new Error(`${JSON.stringify(step)}: haproxy.cfg differs`);
        if (JSON.stringify(fa.maps) !== JSON.stringify(fb.maps)) throw new Error(`${JSON.stringify(step)}: maps differ\n${JSON.stringify(fa.maps)}\n${JSON.stringify(fb.maps)}`);
        if (inc.r.namesDrifted() !== full.r.namesDrifted()) throw new Error(`${JSON.stringify(step)}: consolidation differs`);
      }
      await inc.r.close();
      await full.r.close();
    }),
    { numRuns: 250, seed: 17 },
  );
  t.true(patched > 100, `runtime applies were made by both paths (${patched})`);
  t.true(madeCanonical > 20, `drifted live models were made canonical without building every service (${madeCanonical})`);
});

test('a spare one service leaves and another takes in the same batch: its server is kept, as the whole model keeps it', async (t) => {
  const inc = await reconciler(true);
  const full = await reconciler(false);
  const a = apiEntry('serviceName=a&servicePath=/a&port=80&outboundHostname=127.0.0.1');
  const b = apiEntry('serviceName=b&servicePath=/b&port=80&outboundHostname=127.0.0.1');
  for (const commands of [[{ kind: 'upsert', entry: a }], [{ kind: 'remove', name: 'a' }, { kind: 'upsert', entry: b }]] as Command[][]) {
    const [x, y] = await Promise.all([inc.r.submitAll(commands), full.r.submitAll(commands)]);
    t.deepEqual(x.map((o) => o.apply?.kind), y.map((o) => o.apply?.kind));
  }
  const last = (ops: RuntimeOp[][]) => (ops.at(-1) ?? []).map((o) => JSON.stringify(o)).sort();
  t.deepEqual(last(inc.dataPlane.ops), last(full.dataPlane.ops));
  t.false((inc.dataPlane.ops.at(-1) ?? []).some((o) => o.kind === 'delServer'), 'the server b needs is not deleted');
  await inc.r.close();
  await full.r.close();
});

test('a plain service added at 2,000 services is patched: the runtime API gets its server and its route, nothing else', async (t) => {
  const { r, dataPlane } = await reconciler(true);
  await r.submitAll(Array.from({ length: 2000 }, (_, i) => ({ kind: 'upsert', entry: apiEntry(`serviceName=s${i}&servicePath=/s${i}&port=80&outboundHostname=127.0.0.1`) }) as Command));
  dataPlane.ops = [];
  const result = await r.submit({ kind: 'upsert', entry: apiEntry('serviceName=fresh&servicePath=/fresh&port=80&outboundHostname=127.0.0.1') });
  t.is(result.apply?.kind, 'runtime');
  t.deepEqual(dataPlane.ops.flat().map((o) => o.kind), ['addServer', 'setMap']);
  t.true(r.liveConfig?.maps['path_prefix.map']?.includes('/fresh '), 'the map file written from the patched model has the route');
  await r.close();
});

test('consolidation at 400 services is made from the live model: the files of a whole build, more spares than SPARE_BACKENDS, and patches after it agree too', async (t) => {
  const inc = await reconciler(true);
  const full = await reconciler(false);
  const plain = (name: string, port = 80, host = '127.0.0.1') => ({ kind: 'upsert', entry: apiEntry(`serviceName=${name}&servicePath=/${name}&port=${port}&outboundHostname=${host}`) }) as Command;
  const consolidate: Command = { kind: 'reload', recreate: true, consolidate: true, reason: 'consolidation' };
  const rounds: Command[][] = [
    Array.from({ length: 400 }, (_, i) => plain(`s${String(i).padStart(3, '0')}`)),
    // Drift: a port another backend name goes with, removals that leave emptied backends, new services on spares.
    [plain('s010', 81)], [{ kind: 'remove', name: 's020' }], [{ kind: 'remove', name: 's399' }], [plain('new1')], [plain('a-first')], [plain('s030', 82, '127.0.0.2')],
    [consolidate],
    // After it: the index it came with must serve the next patches (a spare taken, a removal), then a second one.
    [plain('new2')], [{ kind: 'remove', name: 's000' }], [plain('s040', 83)],
    [consolidate],
    [plain('z-last')], [consolidate],
  ];
  const kinds: string[] = [];
  for (const commands of rounds) {
    const before = inc.log.patchedReloads;
    const [a, b] = await Promise.all([inc.r.submitAll(commands), full.r.submitAll(commands)]);
    t.deepEqual(a.map((x) => x.apply?.kind), b.map((x) => x.apply?.kind));
    const fa = filesOf(inc.r.liveConfig);
    const fb = filesOf(full.r.liveConfig);
    t.is(fa.config, fb.config);
    t.deepEqual(fa.maps, fb.maps);
    t.is(inc.r.namesDrifted(), full.r.namesDrifted());
    kinds.push(commands[0] === consolidate ? `consolidate:${inc.log.patchedReloads - before}` : a[0]?.apply?.kind ?? '');
  }
  t.deepEqual(kinds, ['reload', 'runtime', 'runtime', 'runtime', 'runtime', 'runtime', 'runtime', 'consolidate:1', 'runtime', 'runtime', 'runtime', 'consolidate:1', 'runtime', 'consolidate:1']);
  const spares = (inc.r.liveConfig?.config.match(/^backend _spare_\d+\b/gm) ?? []).length;
  t.is(spares, 21, 'ceil(5% of the 401 HTTP backends), more than SPARE_BACKENDS=2');
  t.false(inc.r.namesDrifted());
  await inc.r.close();
  await full.r.close();
});

test('a consolidation made from the live model still looks up every server name, so that a changed address brings its refresh', async (t) => {
  const asked: string[][] = [];
  const names = { resolveAll: async (hosts: Iterable<string>) => {
    const list = [...hosts];
    asked.push(list);
    return new Map(list.map((h) => [h, '127.0.0.9']));
  } };
  const log = countingLog();
  const r = new Reconciler({ dataPlane: new RecordingDataPlane(), store: new MemoryStore(), settings: baseSettings({ spareBackends: 2 }), templates, certs: () => ({ hasCerts: false, key: '' }), log, names });
  await r.start([apiEntry('serviceName=db&servicePath=/db&port=80&outboundHostname=db.internal')]);
  const added = await r.submit({ kind: 'upsert', entry: apiEntry('serviceName=web&servicePath=/web&port=80&outboundHostname=127.0.0.1') });
  t.is(added.apply?.kind, 'runtime');
  t.true(r.namesDrifted(), 'web went live on a spare');
  asked.length = 0;
  const consolidated = await r.submit({ kind: 'reload', recreate: true, consolidate: true, reason: 'consolidation' });
  t.is(consolidated.apply?.kind, 'reload');
  t.is(log.patchedReloads, 1, 'the canonical model was made from the live one');
  t.true(asked.some((hosts) => hosts.includes('db.internal')), 'the name of a service the consolidation did not change was looked up');
  t.false(r.namesDrifted());
  t.regex(r.liveConfig?.config ?? '', /127\.0\.0\.9:80/);
  await r.close();
});
