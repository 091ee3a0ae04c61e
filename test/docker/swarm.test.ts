import test from 'ava';
import { IMAGE, startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';
import { webScript } from '../support/webContainer.js';

// A real single-node swarm (in its own network namespace) and flow-proxy inside
// that namespace. Services use the host network: the proxy reaches them on
// 127.0.0.1. Each task listens on 127.0.0.<slot>, so replicas never fight over
// a port and task 1 is the one the proxy reaches.
let engine: DockerEngine;
let proxy: NsFlowProxy;

test.before(async () => {
  engine = await startDockerEngine({ tag: 'swarm', swarm: true });
  proxy = await startFlowProxyIn(engine);
});

test.after.always(async () => {
  await proxy?.stop();
  await engine?.stop();
});

async function createService(name: string, port: number, labels: Record<string, string>): Promise<void> {
  await engine.docker([
    'service', 'create', '--detach', '--no-resolve-image', '--name', name, '--network', 'host',
    '--env', 'SLOT={{.Task.Slot}}', '--stop-grace-period', '1s',
    ...Object.entries({ 'com.df.notify': 'true', 'com.df.port': String(port), ...labels }).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    IMAGE, 'sh', '-c', webScript(port, `/${name}`, `${name}-task-$SLOT`, '127.0.0.$SLOT'),
  ]);
}

async function replicasInProxy(name: string): Promise<unknown> {
  const json = (await proxy.api('config', { type: 'json' })).json as Record<string, { Replicas?: number } | undefined>;
  return json[name]?.Replicas;
}

async function discovered(name: string): Promise<boolean> {
  const json = (await proxy.api('discovery')).json as { Services: Array<{ ServiceName: string }> };
  return json.Services.some((s) => s.ServiceName === name);
}

test.serial('a swarm service with labels routes', async (t) => {
  await createService('web', 18201, { 'com.df.servicePath': '/web' });
  t.is(await eventually(() => proxy.answer('/web/'), (a) => a === 'web-task-1', 30_000), 'web-task-1');
  t.is(await replicasInProxy('web'), 1);
});

test.serial('scaling is followed: up keeps routing, 0 removes the service, back up routes again', async (t) => {
  await engine.docker(['service', 'scale', '--detach', 'web=3']);
  t.is(await eventually(() => replicasInProxy('web'), (r) => r === 3, 15_000), 3);
  t.deepEqual(new Set(await Promise.all(Array.from({ length: 10 }, () => proxy.answer('/web/')))), new Set(['web-task-1']));

  await engine.docker(['service', 'scale', '--detach', 'web=0']);
  // The tasks stopping would give 503 anyway; the service must leave the proxy too.
  t.is(await eventually(() => replicasInProxy('web'), (r) => r === undefined, 15_000), undefined);
  t.false(await discovered('web'));
  t.is(await proxy.answer('/web/'), '503');

  await engine.docker(['service', 'scale', '--detach', 'web=1']);
  t.is(await eventually(() => proxy.answer('/web/'), (a) => a === 'web-task-1', 30_000), 'web-task-1');
});

test.serial('a swarm service with bad labels is skipped and reported; the others keep routing', async (t) => {
  await createService('broken', 18202, { 'com.df.servicePath': '/broken', 'com.df.reqMode': 'udp' });
  const json = await eventually(
    async () => (await proxy.api('discovery')).json as { Skipped: Array<{ Name: string; Kind: string; Reason: string }> },
    (j) => j.Skipped.some((s) => s.Name === 'broken'),
    15_000,
  );
  const broken = json.Skipped.find((s) => s.Name === 'broken');
  t.is(broken?.Kind, 'service');
  t.regex(broken?.Reason ?? '', /reqMode "udp"/);
  t.is(await proxy.answer('/web/'), 'web-task-1');
  await engine.docker(['service', 'rm', 'broken']);
});

test.serial('a service removed from the swarm is removed from the proxy', async (t) => {
  await engine.docker(['service', 'rm', 'web']);
  const inProxy = async () => ((await proxy.api('services')).json as { Services: Array<{ ServiceName: string }> }).Services.some((s) => s.ServiceName === 'web');
  t.false(await eventually(inProxy, (present) => !present, 15_000));
  t.false(await discovered('web'));
  t.is(await proxy.answer('/web/'), '503');
});
