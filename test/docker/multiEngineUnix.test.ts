import test from 'ava';
import { startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { runOneshot } from '../support/engineHosts.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';

// Several engines on one host, each followed through its unix socket (DOCKER_HOSTS): two dockerds share one
// network namespace with the proxy, so containers on the host network of either are on 127.0.0.1.
let one: DockerEngine;
let two: DockerEngine;
let proxy: NsFlowProxy;

test.before(async () => {
  one = await startDockerEngine({ tag: 'mu-one' });
  two = await startDockerEngine({ tag: 'mu-two', inside: one, liveRestore: true });
  proxy = await startFlowProxyIn(one, { env: { DOCKER_HOST: '', DOCKER_HOSTS: `one=${one.dockerHost},two=${two.dockerHost}` } });
});

test.after.always(async () => {
  await proxy?.stop();
  await two?.stop();
  await one?.stop();
});

interface Engine { Name: string; State: string; Since: string; Address: string; AddressFrom: string; Containers: number }
interface Server { Host: string; Id: string; Container: string; Engine: string; Rule: string }
interface Discovery { Connected: boolean; Engines: Engine[]; Services: Array<{ ServiceName: string; Servers: Server[] }> }

async function discovery(): Promise<Discovery> {
  return (await proxy.api('discovery')).json as unknown as Discovery;
}

const stateOf = (d: Discovery, name: string) => d.Engines.find((e) => e.Name === name)?.State;
const serversOf = (d: Discovery, service: string) => d.Services.find((s) => s.ServiceName === service)?.Servers ?? [];

async function answers(path: string, n = 10): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await proxy.answer(path));
  return out;
}

test.serial('containers of one service on two engines of one host are its servers, each with its engine in its identity', async (t) => {
  const idOne = await runOneshot(one, { name: 'web-1', service: 'web', path: '/web', port: 18901, mode: 'host', text: 'from-one' });
  // Compose on each engine gives the same container names: the engine tells them apart.
  const idTwo = await runOneshot(two, { name: 'web-1', service: 'web', path: '/web', port: 18902, mode: 'host', text: 'from-two' });
  const d = await eventually(discovery, (x) => serversOf(x, 'web').length === 2, 20_000);
  t.deepEqual(serversOf(d, 'web').map((s) => [s.Id, s.Container, s.Host, s.Rule]).sort(), [
    [`one/${idOne}`, 'web-1', '127.0.0.1', 'host-network'],
    [`two/${idTwo}`, 'web-1', '127.0.0.1', 'host-network'],
  ]);
  t.deepEqual(d.Engines.map((e) => [e.Name, e.State, e.Address, e.AddressFrom]), [['one', 'up', '127.0.0.1', 'local'], ['two', 'up', '127.0.0.1', 'local']]);
  const seen = await eventually(() => answers('/web/'), (x) => x.includes('from-one') && x.includes('from-two'), 15_000);
  t.deepEqual([...new Set(seen)].sort(), ['from-one', 'from-two']);
});

test.serial('one engine stopped: its container keeps serving, the other engine is still followed; restarted, it is up again', async (t) => {
  await two.stopDaemon();
  const down = await eventually(discovery, (x) => stateOf(x, 'two') === 'down', 15_000);
  t.is(stateOf(down, 'two'), 'down');
  t.is(stateOf(down, 'one'), 'up');
  t.false(down.Connected);
  t.is(serversOf(down, 'web').length, 2);
  // A change on the engine that is up is followed: its replica stops, the one on the stopped engine serves alone.
  await one.docker(['stop', 'web-1']);
  const only = await eventually(() => answers('/web/'), (x) => x.every((a) => a === 'from-two'), 15_000);
  t.deepEqual([...new Set(only)], ['from-two']);
  t.deepEqual(serversOf(await discovery(), 'web').map((s) => s.Engine), ['two']);

  await two.startDaemon();
  const back = await eventually(discovery, (x) => stateOf(x, 'two') === 'up', 20_000);
  t.true(back.Connected);
  t.true(Date.parse(back.Engines.find((e) => e.Name === 'two')?.Since ?? '') > Date.parse(down.Engines.find((e) => e.Name === 'two')?.Since ?? ''));
  t.deepEqual([...new Set(await answers('/web/'))], ['from-two']);
});
