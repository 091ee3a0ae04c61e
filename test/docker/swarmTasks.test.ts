import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { containerNamespace, IMAGE, startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { underLoad as loadOn, type LoadResult } from '../support/engineHosts.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';
import { oneshotScript } from '../support/webContainer.js';

// Swarm services routed to their tasks (com.df.swarmRouting=tasks, issue 14): a real single-node swarm, an
// attachable overlay network, and flow-proxy in the network namespace of a container on that overlay, as a
// proxy deployed on the tasks' network is. Tasks run oneshot-http under a shell that exits at once on SIGTERM.
// Load: keep-alive and Connection: close clients beside the proxy, counting every answer that is not a 200.
let engine: DockerEngine;
let edge: DockerEngine;
let proxy: NsFlowProxy;

test.before(async () => {
  engine = await startDockerEngine({ tag: 'swarmtasks', swarm: true });
  await engine.docker(['network', 'create', '--driver', 'overlay', '--attachable', '--subnet', '10.231.0.0/24', 'edge']);
  edge = await containerNamespace(engine, 'edge-proxy', 'edge');
  proxy = await startFlowProxyIn(edge);
});

test.after.always(async () => {
  await proxy?.stop();
  await edge?.stop();
  await engine?.stop();
});

const underLoad = (route: string, work: () => Promise<void>): Promise<LoadResult> => loadOn(edge, 18000, route, work);

interface DiscoveredService { ServiceName: string; Routing?: string; Servers: Array<{ Host: string; Id: string | null; Task?: string; Rule?: string }> }

async function servers(service: string): Promise<DiscoveredService['Servers']> {
  const d = (await proxy.api('discovery')).json as unknown as { Services: DiscoveredService[] };
  return d.Services.find((s) => s.ServiceName === service)?.Servers ?? [];
}

/** Waits until the service has `n` servers, all of them tasks swarm runs now. */
async function untilTasks(service: string, n: number): Promise<void> {
  const running = async () => new Set((await engine.docker(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.ID}} {{.CurrentState}}', '--no-trunc', service]))
    .split('\n').filter((l) => /\bRunning\b/.test(l)).map((l) => l.split(' ')[0] as string));
  const ok = await eventually(async () => {
    const [got, want] = await Promise.all([servers(service), running()]);
    return got.length === n && want.size === n && got.every((s) => want.has(s.Task ?? ''));
  }, (done) => done, 30_000);
  if (!ok) throw new Error(`${service}: servers ${JSON.stringify(await servers(service))} are not its ${n} running tasks`);
}

/** oneshot-http under a shell that, on SIGTERM, keeps serving for a second before it exits: a graceful shutdown. */
const graceful = (text: string) => `trap 'sleep 1; exit 0' TERM; oneshot-http 0.0.0.0 8080 ${text} & wait`;

async function createService(name: string, replicas: number, script = oneshotScript(8080, '$HOSTNAME', '0.0.0.0')): Promise<void> {
  await engine.docker([
    'service', 'create', '--detach', '--no-resolve-image', '--name', name, '--network', 'edge', '--replicas', String(replicas),
    '--stop-grace-period', '2s', '--update-parallelism', '1', '--update-delay', '500ms', '--update-monitor', '500ms',
    ...Object.entries({ 'com.df.notify': 'true', 'com.df.servicePath': `/${name}`, 'com.df.port': '8080', 'com.df.swarmRouting': 'tasks' })
      .flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    // Each task answers with its container's host name, so that the test can tell old tasks from new ones.
    IMAGE, 'sh', '-c', script,
  ]);
  await untilTasks(name, replicas);
}

function assertNoFailure(t: import('ava').ExecutionContext, result: LoadResult, minimum: number): void {
  t.log(`${result.total} requests, ${result.failed} failed ${JSON.stringify(result.failures)}; answered by ${JSON.stringify(result.answers)}`);
  t.is(result.failed, 0, JSON.stringify(result.failures));
  t.true(result.total >= minimum, `only ${result.total} requests were sent`);
}

test.serial('tasks are the servers, at their overlay addresses; the proxy reaches each of them', async (t) => {
  await createService('web', 2);
  const list = await servers('web');
  t.is(list.length, 2);
  for (const s of list) {
    t.regex(s.Host, /^10\.231\.0\.\d+$/);
    t.is(s.Rule, 'swarm-task');
  }
  const answers = new Set<string>();
  for (let i = 0; i < 20 && answers.size < 2; i++) answers.add(await proxy.answer('/web/'));
  t.is(answers.size, 2, `answers: ${[...answers].join(', ')}`);
  const discovery = (await proxy.api('discovery')).json as unknown as { Services: DiscoveredService[] };
  t.is(discovery.Services.find((s) => s.ServiceName === 'web')?.Routing, 'tasks');
});

test.serial('a rolling update of every task, twice (docker service update --force): 0 failed requests', async (t) => {
  await createService('roll', 3);
  const result = await underLoad('/roll/', async () => {
    for (let round = 0; round < 2; round++) {
      await engine.docker(['service', 'update', '--force', '--detach=false', '--quiet', 'roll'], 120_000);
      await untilTasks('roll', 3);
    }
  });
  assertNoFailure(t, result, 1000);
  t.true(Object.keys(result.answers).length >= 9, `old and new tasks all answered: ${Object.keys(result.answers).length}`);
});

test.serial('POSTs (never replayed) during a rolling update of tasks that shut down gracefully: 0 failed: each task leaves rotation before its process stops', async (t) => {
  await createService('orders', 3, graceful('$HOSTNAME'));
  const result = await loadOn(edge, 18000, '/orders/', async () => {
    await engine.docker(['service', 'update', '--force', '--detach=false', '--quiet', 'orders'], 120_000);
    await untilTasks('orders', 3);
  }, { keepAlive: 2, close: 2, method: 'POST' });
  assertNoFailure(t, result, 1000);
  t.true(Object.keys(result.answers).length >= 6, `old and new tasks all answered: ${Object.keys(result.answers).length}`);
});

test.serial('a task container docker kill-ed: 0 failed requests, and swarm\'s replacement joins', async (t) => {
  await createService('killed', 3);
  const before = new Set((await servers('killed')).map((s) => s.Task));
  const result = await underLoad('/killed/', async () => {
    const ids = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=killed'])).split('\n');
    await engine.docker(['kill', ids[0] as string]);
    await sleep(500);
    await untilTasks('killed', 3);
  });
  assertNoFailure(t, result, 300);
  const after = (await servers('killed')).map((s) => s.Task);
  t.is(after.filter((id) => !before.has(id)).length, 1, 'one new task replaced the killed one');
});

test.serial('scaling down and up: 0 failed requests', async (t) => {
  await createService('scaled', 3);
  const result = await underLoad('/scaled/', async () => {
    await engine.docker(['service', 'scale', '--detach', 'scaled=1']);
    await untilTasks('scaled', 1);
    await sleep(300);
    await engine.docker(['service', 'scale', '--detach', 'scaled=3']);
    await untilTasks('scaled', 3);
  });
  assertNoFailure(t, result, 300);
});

test.serial('a service left on its VIP beside them keeps its VIP name (the default routing)', async (t) => {
  await engine.docker([
    'service', 'create', '--detach', '--no-resolve-image', '--name', 'onvip', '--network', 'edge',
    '--label', 'com.df.notify=true', '--label', 'com.df.servicePath=/onvip', '--label', 'com.df.port=8080',
    IMAGE, 'sh', '-c', oneshotScript(8080, 'onvip', '0.0.0.0'),
  ]);
  const json = await eventually(async () => (await proxy.api('config', { type: 'json' })).json as Record<string, { OutboundHostname?: string; ServiceName?: string } | undefined>, (j) => j.onvip !== undefined, 20_000);
  t.truthy(json.onvip);
  t.deepEqual(await servers('onvip'), [], 'no task servers: HAProxy resolves the VIP name');
  const discovery = (await proxy.api('discovery')).json as unknown as { Services: DiscoveredService[] };
  t.is(discovery.Services.find((s) => s.ServiceName === 'onvip')?.Routing, 'vip');
});
