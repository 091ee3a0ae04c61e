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
 * BENCH_MODE=swarm: a single-node swarm instead, an attachable overlay, and
 * flow-proxy in the network namespace of a container on it (as the swarm
 * task tests). Two services of 3 tasks, one routed to its tasks
 * (com.df.swarmRouting=tasks), one to its VIP (the default); for each:
 * steady, rolling (`docker service update --force`, BENCH_ROUNDS times),
 * and `docker kill` of one task container (swarm replaces it).
 *
 *   node dist/bench/rollingUpdate.js          (as root; BENCH_ROUNDS=3 BENCH_STEADY_SECONDS=5 BENCH_MODE=containers|swarm)
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { containerNamespace, IMAGE, startDockerEngine, type DockerEngine } from '../test/support/dockerEngine.js';
import { eventually } from '../test/support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../test/support/nsFlowProxy.js';
import { oneshotScript, runWeb } from '../test/support/webContainer.js';
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

async function underLoad(engine: DockerEngine, work: () => Promise<void>, route = '/roll/'): Promise<LoadResult & { seconds: number }> {
  const child = engine.spawnInside(process.execPath, [LOADER, '18000', route, '2', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
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

type Row = [string, LoadResult & { seconds: number }];

function print(title: string, rows: Row[]): void {
  process.stdout.write(`${title}\n`);
  process.stdout.write(`${table(['phase', 'seconds', 'requests', 'failed', 'p50 ms', 'p99 ms', 'max ms'], rows.map(([phase, r]) => [phase, r.seconds.toFixed(1), String(r.total), `${r.failed}${r.failed > 0 ? ` ${JSON.stringify(r.failures)}` : ''}`, r.latencyMs.p50.toFixed(2), r.latencyMs.p99.toFixed(2), r.latencyMs.max.toFixed(1)]))}\n`);
}

async function swarm(): Promise<void> {
  const engine = await startDockerEngine({ tag: 'benchswarm', swarm: true });
  track('docker engine', () => engine.stop());
  await engine.docker(['network', 'create', '--driver', 'overlay', '--attachable', '--subnet', '10.232.0.0/24', 'edge']);
  const edge = await containerNamespace(engine, 'edge-proxy', 'edge');
  track('edge namespace', () => edge.stop());
  const proxy: NsFlowProxy = await startFlowProxyIn(edge);
  track('flow-proxy', () => proxy.stop());
  const running = async (name: string) => (await engine.docker(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}', name])).split('\n').filter((l) => l.startsWith('Running')).length;
  const answers = async (route: string) => {
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(await proxy.answer(route));
    return seen;
  };
  const rows: Row[] = [];
  // A VIP is balanced by IPVS in the proxy's network namespace; a kernel without it (this sandbox's) cannot route one.
  const ipvs = spawnSync('nsenter', [`--net=${edge.netns}`, 'cat', '/proc/net/ip_vs']).status === 0;
  if (!ipvs) progress('this kernel has no IPVS (/proc/net/ip_vs): VIP routing cannot work here, only tasks are measured');
  for (const routing of ipvs ? ['tasks', 'vip'] as const : ['tasks'] as const) {
    const name = `roll-${routing}`;
    const route = `/${name}/`;
    await engine.docker([
      'service', 'create', '--detach', '--no-resolve-image', '--name', name, '--network', 'edge', '--replicas', '3',
      '--stop-grace-period', '2s', '--update-parallelism', '1', '--update-delay', '500ms', '--update-monitor', '500ms',
      ...Object.entries({ 'com.df.notify': 'true', 'com.df.servicePath': `/${name}`, 'com.df.port': '8080', 'com.df.swarmRouting': routing }).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      IMAGE, 'sh', '-c', oneshotScript(8080, '$HOSTNAME', '0.0.0.0'),
    ]);
    const ready = async () => (await running(name)) === 3 && (await answers(route)).size === 3;
    if (!(await eventually(ready, (ok) => ok, 60_000))) throw new Error(`${name}: 3 tasks did not all answer through the proxy (${[...(await answers(route))].join(', ')})`);
    progress(`${name}: 3 tasks answer`);
    rows.push([`${routing}: steady`, await underLoad(edge, () => sleep(STEADY_SECONDS * 1000), route)]);
    rows.push([`${routing}: rolling (3 tasks x ${ROUNDS})`, await underLoad(edge, async () => {
      for (let round = 0; round < ROUNDS; round++) await engine.docker(['service', 'update', '--force', '--detach=false', '--quiet', name], 180_000);
      await eventually(ready, (ok) => ok, 30_000);
    }, route)]);
    rows.push([`${routing}: docker kill of a task`, await underLoad(edge, async () => {
      const ids = (await engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${name}`])).split('\n');
      await engine.docker(['kill', ids[0] as string]);
      await sleep(1000);
      await eventually(ready, (ok) => ok, 30_000);
    }, route)]);
    progress(`${name} done`);
  }
  print(`Swarm rolling update under load (2 keep-alive + 2 close clients), ${ipvs ? 'tasks vs VIP routing' : 'tasks routing (no IPVS in this kernel: the VIP is not measured)'}`, rows);
}

runBench('rollingUpdate', async () => {
  if (process.env.BENCH_MODE === 'swarm') return swarm();
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

  const rows: Row[] = [];
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

  print('Rolling update under load (2 keep-alive + 2 close clients)', rows);
});
