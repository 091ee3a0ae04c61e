import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

// Objects kept per service share V8 hidden classes: a spread followed by a new field gave each one a class of its
// own (216 bytes each, and megamorphic reads), found in heap snapshots under churn (docs/benchmarks.md §13,
// session of 2026-12-03). V8's own %HaveSameMap says it, in a child node with natives syntax on.

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Classes { written: number; restored: number; discovered: number; resolved: number; spread: number }

function classesIn(script: string): Classes {
  const body = `
    const count = (objs) => { const reps = []; for (const o of objs) if (!reps.some((r) => %HaveSameMap(r, o))) reps.push(o); return reps.length; };
    ${script}`;
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', body], { cwd: DIST, encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(run.stderr || `exit ${String(run.status ?? run.signal)}`);
  return JSON.parse(run.stdout) as Classes;
}

test('services written through the API, restored from the store, discovered with servers, and their resolved servers share a few hidden classes', (t) => {
  const got = classesIn(`
    const { applyCommands, EMPTY_DESIRED } = await import('./src/core/desired/desired.js');
    const { fromStored } = await import('./src/core/desired/storedState.js');
    const { dockerSync } = await import('./src/adapters/docker/labels.js');
    const { backendsFor, withAddresses } = await import('./src/render/backend.js');
    const { apiEntry } = await import('./test/support/fakes.js');
    const { parseCtx, baseSettings } = await import('./test/support/render.js');
    const N = 300;
    const entries = Array.from({ length: N }, (_, i) => apiEntry('serviceName=s' + i + '&servicePath=/s' + i + '&port=80&outboundHostname=127.0.0.1'));
    const r = applyCommands(EMPTY_DESIRED, entries.map((entry) => ({ kind: 'upsert', entry })), 1000);
    const written = [...r.next.registry.entries.values()];
    const restored = entries.map((e, i) => fromStored({ owner: 'api', params: e.params, stamp: 1000 + i }, parseCtx).entry);
    const containers = Array.from({ length: N }, (_, i) => ({
      id: 'c' + i, name: 'c' + i, created: i, state: 'running', health: 'none', networkMode: 'host', networks: [], ports: [],
      labels: { 'com.df.notify': 'true', 'com.df.servicePath': '/c' + i, 'com.df.port': '8080' },
    }));
    const synced = dockerSync({ containers, services: [] }, { notifyLabel: 'com.df.notify', parseContext: parseCtx });
    const discovered = synced.entries.map((e) => e.spec);
    // Servers reached by a name flow-proxy resolved: their views get the address.
    const named = entries.map((_, i) => apiEntry('serviceName=n' + i + '&servicePath=/n' + i + '&port=80&outboundHostname=app' + i));
    const addresses = new Map(named.map((_, i) => ['app' + i, '10.0.' + Math.floor(i / 250) + '.' + (i % 250)]));
    const resolved = named.flatMap((e) => backendsFor(e.spec, baseSettings()).flatMap((slot) => withAddresses(slot.view, addresses).servers));
    // The spread this replaced, for contrast: if V8 stops giving these a class each, this test has nothing left to guard.
    const spread = entries.map((e, i) => ({ ...e, stamp: i }));
    console.log(JSON.stringify({ written: count(written), restored: count(restored), discovered: discovered.length === N ? count(discovered) : -1, resolved: resolved.length === N ? count(resolved) : -1, spread: count(spread) }));
  `);
  t.true(got.spread > 100, `a spread plus a field: ${got.spread} classes for 300 objects (the V8 behaviour this guards against)`);
  t.true(got.written <= 2, `written: ${got.written}`);
  t.true(got.restored <= 2, `restored: ${got.restored}`);
  t.true(got.discovered >= 1 && got.discovered <= 2, `discovered: ${got.discovered}`);
  t.true(got.resolved >= 1 && got.resolved <= 2, `resolved: ${got.resolved}`);
});
