/**
 * Benchmark 4, scale: what 1,000, 10,000 and 20,000 services cost.
 *  - in this process, with flow-proxy's own code: parsing the stored
 *    services, building the registry as Engine.start does, building the
 *    model and rendering (cold and warm), `haproxy -c` of the result, and
 *    the fixed cost every runtime apply pays (model against the live
 *    layout, runtime diff, state file save);
 *  - in a real flow-proxy (`node dist/src/main.js`): cold start, a reload of
 *    the live files (`/reload`), a full apply (`/reload?recreate=true`:
 *    render + check + save + reload, the path every option change takes),
 *    the control plane's RSS and the HAProxy master and worker RSS.
 *
 *   node dist/bench/scale.js
 *   BENCH_SIZES=1000,10000,20000 BENCH_REPEAT=5 node dist/bench/scale.js
 */
import { NameResolver } from '../src/adapters/dns/nameResolver.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HaproxyDataPlane } from '../src/adapters/haproxy/dataPlane.js';
import { loadTemplateSources } from '../src/adapters/templates.js';
import { renderFiles } from '../src/core/apply/files.js';
import { silentLog } from '../src/core/log.js';
import { runtimeDiff } from '../src/core/apply/runtimeDiff.js';
import { fromStored } from '../src/core/desired/storedState.js';
import { FileStore } from '../src/adapters/store/fileStore.js';
import { registryOf, type Entry } from '../src/domain/registry.js';
import { parseContext, renderSettings } from '../src/proxy.js';
import { buildModel } from '../src/render/model.js';
import { keepLiveNames } from '../src/core/apply/layout.js';
import { buildIndex, planPatch } from '../src/core/apply/patch.js';
import { backendsFor } from '../src/render/backend.js';
import type { ServiceSpec } from '../src/domain/spec.js';
import { renderMemo } from '../src/render/memo.js';
import { compileTemplates } from '../src/render/render.js';
import { loadSettings } from '../src/settings.js';
import { runBench, progress, track } from './support/cleanup.js';
import { startFastBackend } from './support/backend.js';
import { apiAgent, plainServices, startBenchProxy, type Params } from './support/proxy.js';
import { envInt, envInts, median, quantile, table } from './support/stats.js';

const SIZES = envInts('BENCH_SIZES', [1000, 10000, 20000]);
const REPEAT = envInt('BENCH_REPEAT', 5);

interface Pieces {
  parseMs: number;
  /** Building the registry the way Engine.start does (`registryOf`: one Map, one aclName index). */
  registryMs: number;
  /** Per-apply costs of a runtime change (one new plain service): the patch of the live model and the journal line. */
  patchMs: number;
  journalMs: number;
  /** What a change that is not local pays instead: the whole model with the live layout, the diff, the whole state file. */
  stickyModelMs: number;
  diffMs: number;
  saveMs: number;
  renderColdMs: number;
  renderWarmMs: number;
  checkMs: number;
  configKb: number;
}

interface Live {
  startMs: number;
  reloadMs: number[];
  recreateMs: number[];
  recreateWallMs: number[];
  cpRssMb: number;
  cpPeakMb: number;
  masterRssMb: number;
  workerRssMb: number;
  workersAfter: number;
  /** Highest sum of HAProxy RSS (master + all workers) seen right after a reload. */
  haproxyPeakMb: number;
}

/** Parse, model, render and check with flow-proxy's own functions, timed one by one. */
async function pieces(services: Params[]): Promise<Pieces> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fp-bench-render-'));
  const forget = track(`render dir ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    const loaded = loadSettings({ DATA_DIR: dir, DEFAULT_PORTS: '18080', DISCOVERY: 'none', SECRETS_DIR: path.join(dir, 'secrets') });
    if (!loaded.ok) throw new Error(loaded.errors.join('; '));
    const settings = loaded.settings;
    const dataPlane = new HaproxyDataPlane({ haproxyBin: settings.haproxyBin, dir: path.join(dir, 'haproxy'), log: silentLog, names: new NameResolver() });
    const rs = renderSettings(settings, dataPlane.files);
    const templates = compileTemplates(loadTemplateSources(settings.templatesDir, undefined, settings.mainTemplatePath));
    const ctx = parseContext(settings);

    let t = performance.now();
    const entries: Entry[] = services.map((p) => {
      const parsed = fromStored({ owner: 'api', params: p }, ctx);
      if (!parsed.ok) throw new Error(`service ${p.serviceName} does not parse`);
      return parsed.entry;
    });
    const specs = entries.map((e) => e.spec);
    const parseMs = performance.now() - t;
    t = performance.now();
    const registry = registryOf(entries);
    const registryMs = performance.now() - t;
    // The apply side keeps one memo for its lifetime; so does this benchmark.
    const memo = renderMemo();
    const render = () => renderFiles(templates, buildModel({ settings: rs, services: specs, hasCerts: false, certsKey: '', custom: new Map(), memo }));
    t = performance.now();
    const files = render().files;
    const renderColdMs = performance.now() - t;
    const warm: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      t = performance.now();
      render();
      warm.push(performance.now() - t);
    }
    // A runtime change (one more plain service) as the engine computes it: model against the live layout, then the diff.
    const liveModel = buildModel({ settings: rs, services: specs, hasCerts: false, certsKey: '', custom: new Map(), memo });
    const extra = fromStored({ owner: 'api', params: { serviceName: 'extra', servicePath: '/extra', port: '9', outboundHostname: '127.0.0.1' } }, ctx);
    if (!extra.ok) throw new Error('extra service does not parse');
    const sticky: number[] = [];
    const diffs: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      t = performance.now();
      const next = buildModel({ settings: rs, services: [...specs, extra.entry.spec], hasCerts: false, certsKey: '', custom: new Map(), memo }, keepLiveNames(liveModel.layout));
      sticky.push(performance.now() - t);
      t = performance.now();
      runtimeDiff({ layout: liveModel.layout, maps: liveModel.maps }, next);
      diffs.push(performance.now() - t);
    }
    const store = new FileStore(path.join(dir, 'store'));
    const state = { version: 1, services: services.map((params) => ({ owner: 'api' as const, params })) };
    const saves: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      t = performance.now();
      await store.save({ ...state, version: i + 1 });
      saves.push(performance.now() - t);
    }
    // The same change as the apply side makes it: a patch of the live model (core/apply/patch.ts), and one journal line.
    const canonicalOf = (key: string) => backendsFor(registry.entries.get(key.slice(0, key.indexOf('\u0000')))?.spec as ServiceSpec, rs, memo).find((b) => b.key === key)?.canonicalName;
    const index = buildIndex(liveModel, canonicalOf, rs, memo);
    const patches: number[] = [];
    const journal: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      t = performance.now();
      const patch = planPatch(liveModel, index, [{ name: 'extra', after: extra.entry.spec }], { settings: rs, memo, routeOrder: rs.routeOrder });
      patches.push(performance.now() - t);
      if (!patch || 'reload' in patch) throw new Error('the new plain service was not patched');
      t = performance.now();
      await store.saveChanges({ version: i + 2, set: [{ owner: 'api', params: { ...extra.entry.params } }], del: [], removed: [], forgotten: [] }, () => state);
      journal.push(performance.now() - t);
    }
    const checks: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      t = performance.now();
      const result = await dataPlane.check(files);
      checks.push(performance.now() - t);
      if (!result.ok) throw new Error(`haproxy -c failed: ${result.output.slice(0, 500)}`);
    }
    return { parseMs, registryMs, patchMs: median(patches), journalMs: median(journal), stickyModelMs: median(sticky), diffMs: median(diffs), saveMs: median(saves), renderColdMs, renderWarmMs: median(warm), checkMs: median(checks), configKb: Buffer.byteLength(files.config) / 1024 };
  } finally {
    await forget();
  }
}

async function live(services: Params[]): Promise<Live> {
  const proxy = await startBenchProxy({ services });
  const agent = apiAgent(2);
  try {
    const reloadMs: number[] = [];
    const recreateMs: number[] = [];
    const recreateWallMs: number[] = [];
    let haproxyPeakMb = 0;
    const haproxyTotal = async () => {
      const h = await proxy.haproxy();
      return [h.master, ...h.workers].reduce((sum, m) => sum + (m?.rssMb ?? 0), 0);
    };
    for (let i = 0; i < REPEAT; i++) {
      const r = await proxy.api('reload', {}, { agent });
      if (r.status !== 200) throw new Error(`reload answered ${r.status}: ${r.body}`);
      haproxyPeakMb = Math.max(haproxyPeakMb, await haproxyTotal());
      reloadMs.push((await proxy.applies()).at(-1)?.DurationMs ?? Number.NaN);
    }
    for (let i = 0; i < REPEAT; i++) {
      const t = performance.now();
      const r = await proxy.api('reload', { recreate: 'true' }, { agent });
      recreateWallMs.push(performance.now() - t);
      if (r.status !== 200) throw new Error(`reload?recreate answered ${r.status}: ${r.body}`);
      haproxyPeakMb = Math.max(haproxyPeakMb, await haproxyTotal());
      recreateMs.push((await proxy.applies()).at(-1)?.DurationMs ?? Number.NaN);
    }
    const cp = proxy.memory();
    const h = await proxy.haproxy();
    return {
      startMs: proxy.startMs,
      reloadMs,
      recreateMs,
      recreateWallMs,
      cpRssMb: cp?.rssMb ?? Number.NaN,
      cpPeakMb: cp?.peakMb ?? Number.NaN,
      masterRssMb: h.master?.rssMb ?? Number.NaN,
      workerRssMb: h.workers[0]?.rssMb ?? Number.NaN,
      workersAfter: h.workers.length,
      haproxyPeakMb,
    };
  } finally {
    agent.destroy();
    await proxy.stop();
  }
}

runBench('scale', async () => {
  const backend = await startFastBackend('a');
  const rows: Array<{ size: number; pieces: Pieces; live: Live }> = [];
  for (const size of SIZES) {
    const services = plainServices(size, backend.port);
    progress(`${size} services: parse, render, check in this process`);
    const p = await pieces(services);
    progress(`${size} services: real flow-proxy (start, ${REPEAT} reloads, ${REPEAT} recreate applies)`);
    const l = await live(services);
    rows.push({ size, pieces: p, live: l });
  }

  console.log(`# Scale (${new Date().toISOString()}, ${os.cpus().length} vCPU, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`plain HTTP services (path → one server), medians of ${REPEAT}; ms unless noted\n`);
  console.log('## Pieces (flow-proxy code in this process)\n');
  console.log(table(
    ['services', 'parse', 'registry (start)', 'model+render cold', 'model+render warm', 'haproxy -c', 'haproxy.cfg (KB)'],
    rows.map((r) => [r.size, r.pieces.parseMs, r.pieces.registryMs, r.pieces.renderColdMs, r.pieces.renderWarmMs, r.pieces.checkMs, r.pieces.configKb]),
  ));
  console.log('\nFixed cost of a runtime apply (one new plain service), before any HAProxy command: the patch and the journal line;');
  console.log('beside it, what a change that is not local pays (the whole model with the live layout, the diff, the whole state file):\n');
  console.log(table(
    ['services', 'patch of the live model', 'journal line', 'sum', 'whole model with live layout', 'runtime diff', 'whole state file', 'sum (not local)'],
    rows.map((r) => [r.size, r.pieces.patchMs, r.pieces.journalMs, r.pieces.patchMs + r.pieces.journalMs, r.pieces.stickyModelMs, r.pieces.diffMs, r.pieces.saveMs, r.pieces.stickyModelMs + r.pieces.diffMs + r.pieces.saveMs]),
  ));
  console.log('\n## A real flow-proxy\n');
  console.log(table(
    ['services', 'cold start', 'reload (live files)', 'full apply: render+check+save+reload', 'full apply p99', 'full apply, API wall', 'control plane RSS (MB)', 'control plane peak RSS (MB)', 'HAProxy worker RSS (MB)', 'HAProxy master RSS (MB)', 'HAProxy total after a reload (MB)'],
    rows.map((r) => [
      r.size,
      r.live.startMs,
      median(r.live.reloadMs),
      median(r.live.recreateMs),
      quantile(r.live.recreateMs, 0.99),
      median(r.live.recreateWallMs),
      r.live.cpRssMb,
      r.live.cpPeakMb,
      r.live.workerRssMb,
      r.live.masterRssMb,
      r.live.haproxyPeakMb,
    ]),
  ));
  if (rows.length > 1) {
    console.log('\n## Growth between sizes (cost ratio ÷ size ratio; 1.0 = linear)\n');
    const growth: Array<Array<string | number>> = [];
    for (let i = 1; i < rows.length; i++) {
      const a = rows[i - 1] as (typeof rows)[number];
      const b = rows[i] as (typeof rows)[number];
      const k = b.size / a.size;
      const g = (x: number, y: number) => ((y / x) / k).toFixed(2);
      growth.push([
        `${a.size} → ${b.size} (×${k})`,
        g(a.pieces.registryMs, b.pieces.registryMs),
        g(a.pieces.patchMs + a.pieces.journalMs, b.pieces.patchMs + b.pieces.journalMs),
        g(a.pieces.renderWarmMs, b.pieces.renderWarmMs),
        g(a.pieces.checkMs, b.pieces.checkMs),
        g(median(a.live.reloadMs), median(b.live.reloadMs)),
        g(median(a.live.recreateMs), median(b.live.recreateMs)),
        g(a.live.cpRssMb, b.live.cpRssMb),
        g(a.live.workerRssMb, b.live.workerRssMb),
      ]);
    }
    console.log(table(['sizes', 'registry (start)', 'runtime apply fixed cost', 'render', 'haproxy -c', 'reload', 'full apply', 'control plane RSS', 'worker RSS'], growth));
  }
  console.log(`\nRESULT ${JSON.stringify({ bench: 'scale', at: new Date().toISOString(), repeat: REPEAT, rows })}`);
});
