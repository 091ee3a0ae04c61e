import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { IMAGE, startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { underLoad as loadOn, type LoadResult } from '../support/engineHosts.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';
import { oneshotScript, runWeb } from '../support/webContainer.js';

// Deploys, crashes and health under load cost zero requests (issue 14). Replicas run oneshot-http, a small
// keep-alive server that writes each answer in one write, under a shell that exits at once on SIGTERM (the
// kernel kills the server mid-flight), as many real apps do. Load: keep-alive and Connection: close
// clients inside the engine's namespace, counting every answer that is not a 200 from a replica.
let engine: DockerEngine;
let proxy: NsFlowProxy;

test.before(async () => {
  engine = await startDockerEngine({ tag: 'zerodrop' });
  proxy = await startFlowProxyIn(engine);
});

test.after.always(async () => {
  await proxy?.stop();
  await engine?.stop();
});

/** Runs `work` while 2 keep-alive and 2 close clients hit `route` through HAProxy; returns their counts. */
const underLoad = (route: string, work: () => Promise<void>): Promise<LoadResult> => loadOn(engine, 18000, route, work);

interface DiscoveredService { ServiceName: string; Servers: unknown[] }

async function serverCount(service: string): Promise<number> {
  const d = (await proxy.api('discovery')).json as unknown as { Services: DiscoveredService[] };
  return d.Services.find((s) => s.ServiceName === service)?.Servers.length ?? 0;
}

async function untilServers(service: string, n: number): Promise<void> {
  const got = await eventually(() => serverCount(service), (c) => c === n, 20_000);
  if (got !== n) throw new Error(`${service} has ${got} servers, not ${n}`);
}

async function replicas(service: string, route: string, ports: number[]): Promise<string[]> {
  const names: string[] = [];
  for (const port of ports) {
    const name = `${service}-${port}`;
    await runWeb(engine, { name, port, path: route, text: name, server: 'oneshot', labels: { 'com.df.serviceName': service } });
    names.push(name);
  }
  await untilServers(service, ports.length);
  return names;
}

function assertNoFailure(t: import('ava').ExecutionContext, result: LoadResult, minimum: number): void {
  t.log(`${result.total} requests, ${result.failed} failed ${JSON.stringify(result.failures)}; answered by ${JSON.stringify(result.answers)}`);
  t.is(result.failed, 0, JSON.stringify(result.failures));
  t.true(result.total >= minimum, `only ${result.total} requests were sent`);
}

test.serial('(a) every replica of a 3-replica service replaced one at a time, twice (start new, stop old): 0 failed requests', async (t) => {
  let live = await replicas('roll', '/roll', [18201, 18202, 18203]);
  let next = 18211;
  const result = await underLoad('/roll/', async () => {
    for (let round = 0; round < 2; round++) {
      const replaced: string[] = [];
      for (const old of live) {
        const port = next++;
        const name = `roll-${port}`;
        await runWeb(engine, { name, port, path: '/roll', text: name, server: 'oneshot', labels: { 'com.df.serviceName': 'roll' } });
        await untilServers('roll', 4);
        await engine.docker(['stop', old]);
        await untilServers('roll', 3);
        await engine.docker(['rm', old]);
        replaced.push(name);
      }
      live = replaced;
    }
  });
  assertNoFailure(t, result, 1000);
  t.true(Object.keys(result.answers).length >= 6, 'old and new replicas all answered');
});

test.serial('(b) one replica docker kill-ed (no stop event): 0 failed requests, and it leaves rotation at once', async (t) => {
  const names = await replicas('killed', '/killed', [18301, 18302, 18303]);
  const result = await underLoad('/killed/', async () => {
    await engine.docker(['kill', names[1] as string]);
    await untilServers('killed', 2);
    await sleep(1000);
  });
  assertNoFailure(t, result, 300);
  t.is(await serverCount('killed'), 2);
});

test.serial('(c) docker stop of a replica that exits at once on SIGTERM: 0 failed requests', async (t) => {
  const names = await replicas('stopped', '/stopped', [18401, 18402]);
  const result = await underLoad('/stopped/', async () => {
    await engine.docker(['stop', names[0] as string]);
    await untilServers('stopped', 1);
    await sleep(500);
  });
  assertNoFailure(t, result, 300);
});

test.serial('(d) a container going unhealthy is drained: 0 failed requests', async (t) => {
  const port = 18501;
  // Healthy until /tmp/sick exists (the image has busybox's shell, not rm); the test creates it.
  await engine.docker([
    'run', '-d', '--network', 'host', '--name', 'sickly', '--stop-timeout', '2',
    '--label', 'com.df.notify=true', '--label', 'com.df.serviceName=sickly', '--label', 'com.df.servicePath=/sickly', '--label', `com.df.port=${port}`,
    '--health-cmd', '! test -f /tmp/sick', '--health-interval', '250ms', '--health-retries', '1', '--health-timeout', '2s',
    IMAGE, 'sh', '-c', oneshotScript(port, 'sickly'),
  ]);
  await runWeb(engine, { name: 'sturdy', port: 18502, path: '/sickly', text: 'sturdy', server: 'oneshot', labels: { 'com.df.serviceName': 'sickly' } });
  await untilServers('sickly', 2);
  const result = await underLoad('/sickly/', async () => {
    await engine.docker(['exec', 'sickly', 'sh', '-c', 'echo sick > /tmp/sick']);
    await untilServers('sickly', 1);
    await sleep(500);
  });
  assertNoFailure(t, result, 300);
  t.true((result.answers.sturdy ?? 0) > 0);
});
