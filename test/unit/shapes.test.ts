import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';

// Objects kept per service share V8 hidden classes: a spread followed by a new field gave each one a class of its
// own (216 bytes each, and megamorphic reads), found in heap snapshots under churn (docs/benchmarks.md, §13).
// V8's own %HaveSameMap says it, in a child node with natives syntax on.

const DIST = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

function classesIn(script: string): { written: number; restored: number; discovered: number; spread: number } {
  const body = `
    const count = (objs) => { const reps = []; for (const o of objs) if (!reps.some((r) => %HaveSameMap(r, o))) reps.push(o); return reps.length; };
    ${script}`;
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', body], { cwd: DIST, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout) as ReturnType<typeof classesIn>;
}

test('services written through the API, restored from the store or discovered with servers share a few hidden classes', (t) => {
  const got = classesIn(`
    const { applyCommands, EMPTY_DESIRED } = await import('./src/core/desired/desired.js');
    const { fromStored } = await import('./src/core/desired/storedState.js');
    const { withFields } = await import('./src/domain/objects.js');
    const { apiEntry } = await import('./test/support/fakes.js');
    const { parseCtx } = await import('./test/support/render.js');
    const entries = Array.from({ length: 300 }, (_, i) => apiEntry('serviceName=s' + i + '&servicePath=/s' + i + '&port=80&outboundHostname=127.0.0.1'));
    const r = applyCommands(EMPTY_DESIRED, entries.map((entry) => ({ kind: 'upsert', entry })), 1000);
    const written = [...r.next.registry.entries.values()];
    const restored = entries.map((e, i) => fromStored({ owner: 'api', params: e.params, stamp: 1000 + i }, parseCtx).entry);
    const discovered = entries.map((e, i) => withFields(e.spec, { servers: [{ host: '10.0.0.' + (i % 250), port: 80, id: 'c' + i }] }));
    // The spread this replaced, for contrast: it must still show the problem, or this test proves nothing.
    const spread = entries.map((e, i) => ({ ...e, stamp: i }));
    console.log(JSON.stringify({ written: count(written), restored: count(restored), discovered: count(discovered), spread: count(spread) }));
  `);
  t.true(got.spread > 100, `a spread plus a field: ${got.spread} classes for 300 objects (the V8 behaviour this guards against)`);
  t.true(got.written <= 2, `written: ${got.written}`);
  t.true(got.restored <= 2, `restored: ${got.restored}`);
  t.true(got.discovered <= 2, `discovered: ${got.discovered}`);
});
