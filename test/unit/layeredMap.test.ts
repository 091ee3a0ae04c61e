import v8 from 'node:v8';
import vm from 'node:vm';
import test from 'ava';
import { GONE, LayeredMap, type Layer } from '../../src/domain/layered.js';

// LayeredMap against a plain Map that gets the same changes: the same entries, size and lookups at every step,
// through the layers and through each flattening (every 8 layers, or when a layer changes a quarter of the keys).

function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

const sorted = (m: ReadonlyMap<string, number>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));

test('random layers hold what a plain map with the same changes holds, flattened or not', (t) => {
  let flattenings = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const next = random(seed);
    const model = new Map(Array.from({ length: 200 }, (_, i) => [`k${i}`, i] as [string, number]));
    let layered: ReadonlyMap<string, number> = new Map(model);
    const history: Array<ReadonlyMap<string, number>> = [];
    for (let step = 0; step < 40; step++) {
      const changes = new Map<string, number | typeof GONE>();
      const count = next() < 0.1 ? 80 : 1 + Math.floor(next() * 5);
      for (let c = 0; c < count; c++) {
        const key = `k${Math.floor(next() * 260)}`;
        if (next() < 0.4) changes.set(key, GONE);
        else changes.set(key, step * 1000 + c);
      }
      for (const [k, v] of changes) {
        if (v === GONE) model.delete(k);
        else model.set(k, v);
      }
      const before = layered;
      layered = LayeredMap.on(layered, changes as Layer<string, number>);
      if (!(layered instanceof LayeredMap) && changes.size > 0) flattenings++;
      t.is(layered.size, model.size, `seed ${seed} step ${step}: size`);
      t.deepEqual(sorted(layered), sorted(model), `seed ${seed} step ${step}: entries`);
      for (const k of ['k0', 'k7', 'k199', 'k230', 'k259']) {
        t.is(layered.get(k), model.get(k));
        t.is(layered.has(k), model.has(k));
      }
      // The keys it reports as changed since the previous map (still held here) cover every key that changed,
      // flattened or not, and since the map three steps back too.
      const changed = LayeredMap.changedKeys(layered, before);
      t.truthy(changed, `seed ${seed} step ${step}: changed keys known`);
      for (const [k] of changes) t.true(changed?.has(k));
      if (step >= 3) {
        const since = history[step - 3] as ReadonlyMap<string, number>;
        const changedSince = LayeredMap.changedKeys(layered, since);
        t.truthy(changedSince);
        for (const [k, v] of sorted(since)) if (layered.get(k) !== v) t.true(changedSince?.has(k), `seed ${seed} step ${step}: ${k}`);
        for (const [k] of layered) if (!since.has(k)) t.true(changedSince?.has(k));
      }
      history.push(before);
    }
  }
  t.true(flattenings > 20, `flattened ${flattenings} times`);
});

test('the keys changed since a map layered over: through a flattening; from another map: unknown, compare them all', (t) => {
  const start: ReadonlyMap<string, number> = new Map(Array.from({ length: 100 }, (_, i) => [`base${i}`, i] as [string, number]));
  let m = start;
  for (let i = 0; i < 8; i++) m = LayeredMap.on(m, new Map([[`k${i}`, i]]));
  t.false(m instanceof LayeredMap, 'flattened after 8 layers');
  t.deepEqual([...(LayeredMap.changedKeys(m, start) ?? [])].sort(), ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
  t.is(LayeredMap.changedKeys(m, new Map(start)), undefined, 'another map with the same entries');
});

test('the keys changed since a map no longer held by anyone else are not guessed: the caller compares them all', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const start: ReadonlyMap<string, number> = new Map(Array.from({ length: 100 }, (_, i) => [`base${i}`, i] as [string, number]));
  // Seven layers nobody keeps, then the eighth flattens: only a weak link leads back to them (and to `start`).
  const build = () => {
    let m = start;
    for (let i = 0; i < 8; i++) m = LayeredMap.on(m, new Map([[`k${i}`, i]]));
    return m;
  };
  const flat = build();
  t.false(flat instanceof LayeredMap);
  await new Promise((resolve) => setTimeout(resolve, 0)); // a WeakRef's target lives at least until the end of the job that made it
  gc();
  t.is(LayeredMap.changedKeys(flat, start), undefined);
});
