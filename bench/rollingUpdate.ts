/**
 * Rolling update under load, on a real dockerd in a network namespace of its
 * own (as the Docker tests), with flow-proxy following Docker inside it.
 * Replicas are oneshot-http (BENCH_SERVER=httpd: busybox httpd) under a shell that exits at once on SIGTERM.
 * Load: 2 keep-alive and 2 `Connection: close` clients in the namespace.
 * Phases, each with its own load run: steady (nothing changes), rolling
 * (every one of 3 replicas replaced one at a time, start new then stop old,
 * BENCH_ROUNDS times), kill (`docker kill` of a replica, then a new one).
 * Prints requests, failures and latency p50/p99/max per phase.
 *
 *   node dist/bench/rollingUpdate.js          (as root; BENCH_ROUNDS=3 BENCH_STEADY_SECONDS=5)
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startDockerEngine, type DockerEngine } from '../test/support/dockerEngine.js';
import { eventually } from '../test/support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../test/support/nsFlowProxy.js';
import { runWeb } from '../test/support/webContainer.js';
import { progress, runBench, track } from './support/cleanup.js';
import { envInt, table } from './support/stats.js';

const ROUNDS = envInt('BENCH_ROUNDS', 3);
const STEADY_SECONDS = envInt('BENCH_STEADY_SECONDS', 5);
const LOADER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'support', 'loadClient.js');

interface LoadResult {
  total: number;
  failed: number;
  failures: Record<string, number>;
  latencyMs: { p50: number; p99: number; max: number };
}

async function underLoad(engine: DockerEngine, work: () => Promise<void>): Promise<LoadResult & { seconds: number }> {
  const child = engine.spawnInside(process.execPath, [LOADER, '18000', '/roll/', '2', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await eventually(async () => out, (o) => o.includes('started'), 10_000);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  child.kill('SIGTERM');
  await exited;
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`the load client printed no result: ${out}`);
  return { ...(JSON.parse(line) as LoadResult), seconds };
}

runBench('rollingUpdate', async () => {
  const engine = await startDockerEngine({ tag: 'benchroll' });
  track('docker engine', () => engine.stop());
  const proxy: NsFlowProxy = await startFlowProxyIn(engine);
  track('flow-proxy', () => proxy.stop());
  const servers = async () => {
    const d = (await proxy.api('discovery')).json as unknown as { Services: Array<{ ServiceName: string; Servers: unknown[] }> };
    return d.Services.find((s) => s.ServiceName === 'roll')?.Servers.length ?? 0;
  };
  const until = async (n: number) => {
    if ((await eventually(servers, (c) => c === n, 20_000)) !== n) throw new Error(`roll did not reach ${n} servers`);
  };
  let port = 18600;
  const start = async () => {
    const p = port++;
    await runWeb(engine, { name: `roll-${p}`, port: p, path: '/roll', text: `roll-${p}`, server: process.env.BENCH_SERVER === 'httpd' ? 'httpd' : 'oneshot', labels: { 'com.df.serviceName': 'roll' } });
    return `roll-${p}`;
  };
  let live = [await start(), await start(), await start()];
  await until(3);
  progress('3 replicas live');

  const rows: Array<[string, LoadResult & { seconds: number }]> = [];
  rows.push(['steady', await underLoad(engine, () => sleep(STEADY_SECONDS * 1000))]);
  progress('steady done');
  rows.push([`rolling (3 replicas x ${ROUNDS})`, await underLoad(engine, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const next: string[] = [];
      for (const old of live) {
        next.push(await start());
        await until(4);
        await engine.docker(['stop', old]);
        await until(3);
        await engine.docker(['rm', old]);
      }
      live = next;
    }
  })]);
  progress('rolling done');
  rows.push(['kill one, start one', await underLoad(engine, async () => {
    const victim = live[0] as string;
    await engine.docker(['kill', victim]);
    await until(2);
    live = [...live.slice(1), await start()];
    await until(3);
    await sleep(1000);
  })]);

  process.stdout.write('Rolling update under load (2 keep-alive + 2 close clients)\n');
  process.stdout.write(`${table(['phase', 'seconds', 'requests', 'failed', 'p50 ms', 'p99 ms', 'max ms'], rows.map(([phase, r]) => [phase, r.seconds.toFixed(1), String(r.total), `${r.failed}${r.failed > 0 ? ` ${JSON.stringify(r.failures)}` : ''}`, r.latencyMs.p50.toFixed(2), r.latencyMs.p99.toFixed(2), r.latencyMs.max.toFixed(1)]))}\n`);
});
