import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { linkHost, makeEngineCerts, runOneshot, underLoad, type EngineCerts, type HostLink, type LoadResult } from '../support/engineHosts.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';
import { tempDir } from '../support/tmp.js';

// Several hosts without Swarm (issue 20). Three real engines, each in its own network namespace: "a" is the
// proxy's own host (its unix socket), "b" and "c" are other hosts, joined to a's namespace by veth pairs
// (10.200.1.2 and 10.200.2.2) and followed over tcp:// (c with TLS, its certificate verified). One flow-proxy in
// a's namespace follows all three through DOCKER_HOSTS, which also holds one bad entry.
let a: DockerEngine;
let b: DockerEngine;
let c: DockerEngine;
let certs: EngineCerts;
let linkC: HostLink;
let proxy: NsFlowProxy;
const B = '10.200.1.2';
const C = '10.200.2.2';

test.before(async () => {
  certs = makeEngineCerts(tempDir('fp-engine-certs-'), C);
  [a, b, c] = await Promise.all([
    startDockerEngine({ tag: 'mh-a' }),
    startDockerEngine({ tag: 'mh-b', hosts: ['tcp://0.0.0.0:2375'], liveRestore: true }),
    startDockerEngine({ tag: 'mh-c', hosts: ['tcp://0.0.0.0:2376'], tls: certs.server, liveRestore: true }),
  ]);
  linkHost(a, b, 1);
  linkC = linkHost(a, c, 2);
  proxy = await startFlowProxyIn(a, {
    env: {
      DOCKER_HOST: '',
      DOCKER_HOSTS: `a=${a.dockerHost}, b=tcp://${B}:2375, broken=ftp://nowhere, c=tcp://${C}:2376?tls=verify&certs=${certs.clientDir}`,
    },
  });
});

test.after.always(async () => {
  await proxy?.stop();
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
});

interface Engine { Name: string; Url: string; Tls: string; Address: string; AddressFrom: string; State: string; Since: string; Reconnects: number; Containers: number; LastError?: string }
interface Server { Host: string; Port: number | null; Id: string; Container: string; Engine: string; EngineState: string; Rule: string; Why: string }
interface Discovery { Connected: boolean; Engines: Engine[]; BadEngines: string[]; Services: Array<{ ServiceName: string; State: string; Servers: Server[] }>; Skipped: Array<{ Name: string; Engine?: string; Reason: string }> }

async function discovery(): Promise<Discovery> {
  return (await proxy.api('discovery')).json as unknown as Discovery;
}

function engine(d: Discovery, name: string): Engine {
  const found = d.Engines.find((e) => e.Name === name);
  if (!found) throw new Error(`no engine ${name} in ${JSON.stringify(d.Engines)}`);
  return found;
}

function serversOf(d: Discovery, service: string): Server[] {
  return d.Services.find((s) => s.ServiceName === service)?.Servers ?? [];
}

async function untilServers(service: string, n: number): Promise<void> {
  const d = await eventually(discovery, (x) => serversOf(x, service).length === n, 20_000);
  if (serversOf(d, service).length !== n) throw new Error(`${service} has ${serversOf(d, service).length} servers, not ${n}: ${JSON.stringify(d.Skipped)}`);
}

/** `n` answers in a row through HAProxy. */
async function answers(path: string, n = 12): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await proxy.answer(path));
  return out;
}

interface HaproxyServer { Address: string; Health: string }
async function health(service: string): Promise<HaproxyServer[]> {
  const services = (await proxy.api('services')).json.Services as Array<{ ServiceName: string; Servers?: HaproxyServer[] }>;
  return services.find((s) => s.ServiceName === service)?.Servers ?? [];
}

function logged(pattern: RegExp): Array<Record<string, unknown>> {
  return proxy.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => pattern.test(String(l.msg)));
}

function assertNoFailure(t: ExecutionContext, result: LoadResult, minimum: number): void {
  t.log(`${result.total} requests, ${result.failed} failed ${JSON.stringify(result.failures)}; answered by ${JSON.stringify(result.answers)}`);
  t.is(result.failed, 0, JSON.stringify(result.failures));
  t.true(result.total >= minimum, `only ${result.total} requests were sent`);
}

test.serial('a bad DOCKER_HOSTS entry is reported at start and skipped; every other engine is followed, c over verified TLS', async (t) => {
  const warned = logged(/^DOCKER_HOSTS entry "broken=ftp:\/\/nowhere" is not unix:\/\/\/path\/to\/docker.sock or tcp:\/\/host:port/);
  t.is(warned.length, 1, proxy.output().slice(0, 3000));
  t.is(warned[0]?.level, 40, 'a warning');
  const d = await eventually(discovery, (x) => x.Engines.every((e) => e.State === 'up'), 20_000);
  t.true(d.Connected);
  t.deepEqual(d.Engines.map((e) => [e.Name, e.State, e.Tls, e.Address, e.AddressFrom]), [
    ['a', 'up', 'off', '127.0.0.1', 'local'],
    ['b', 'up', 'off', B, 'tcp host'],
    ['c', 'up', 'verify', C, 'tcp host'],
  ]);
  t.is(d.BadEngines.length, 1);
  t.regex(d.BadEngines[0] ?? '', /"broken=ftp:\/\/nowhere".*skipped/);
  // Nothing of the TLS key reaches the API or the log.
  const key = fs.readFileSync(`${certs.clientDir}/key.pem`, 'utf8').split('\n')[1] as string;
  t.false(JSON.stringify(d).includes(key));
  t.false(proxy.output().includes(key));
});

test.serial('containers of one service on three engines are its servers: host network on this host, host network on another, a port published on another', async (t) => {
  await runOneshot(a, { name: 'spread-a', service: 'spread', path: '/spread', port: 18701, mode: 'host' });
  await runOneshot(b, { name: 'spread-b', service: 'spread', path: '/spread', port: 18702, mode: 'host' });
  await runOneshot(c, { name: 'spread-c', service: 'spread', path: '/spread', port: 18703, mode: 'published' });
  await untilServers('spread', 3);
  const seen = await eventually(() => answers('/spread/'), (x) => ['spread-a', 'spread-b', 'spread-c'].every((n) => x.includes(n)), 15_000);
  t.deepEqual([...new Set(seen)].sort(), ['spread-a', 'spread-b', 'spread-c']);
  // /discovery says, for each container, where it is reached and why.
  const servers = serversOf(await discovery(), 'spread').sort((x, y) => (x.Engine < y.Engine ? -1 : 1));
  t.deepEqual(servers.map((s) => [s.Container, s.Engine, s.Host, s.Rule]), [
    ['spread-a', 'a', '127.0.0.1', 'host-network'],
    ['spread-b', 'b', B, 'host-network'],
    ['spread-c', 'c', C, 'published'],
  ]);
  t.regex(servers[1]?.Why ?? '', /host network of engine "b": 10\.200\.1\.2 \(the engine's address, from its tcp:\/\/ host\)/);
  t.regex(servers[2]?.Why ?? '', /port 18703 is published on port 18703 of engine "c"/);
  // Identities carry the engine: a server stays the same server whatever else changes.
  for (const s of servers) t.regex(s.Id, new RegExp(`^${s.Engine}/[0-9a-f]{64}$`));
});

test.serial('an engine that stops: its containers stay routed and serve, /discovery shows it down since then, the others go on; then it is back', async (t) => {
  const stoppedAt = Date.now();
  await b.stopDaemon();
  const down = await eventually(discovery, (x) => engine(x, 'b').State === 'down', 15_000);
  t.is(engine(down, 'b').State, 'down');
  t.true(Date.parse(engine(down, 'b').Since) >= stoppedAt - 1000, engine(down, 'b').Since);
  t.false(down.Connected);
  t.is(engine(down, 'a').State, 'up');
  t.is(engine(down, 'c').State, 'up');
  // Its last known container is still a server, and still answers (live-restore kept it running).
  const kept = serversOf(down, 'spread').find((s) => s.Engine === 'b');
  t.is(kept?.EngineState, 'down');
  t.true((await eventually(() => answers('/spread/'), (x) => x.includes('spread-b'), 10_000)).includes('spread-b'));
  // The other engines are still followed: a change on a goes live while b is down.
  await runOneshot(a, { name: 'while-down', service: 'whiledown', path: '/whiledown', port: 18711, mode: 'host' });
  t.is(await eventually(() => proxy.answer('/whiledown/'), (x) => x === 'while-down', 15_000), 'while-down');

  await b.startDaemon();
  const back = await eventually(discovery, (x) => engine(x, 'b').State === 'up', 20_000);
  t.is(engine(back, 'b').State, 'up');
  t.true(Date.parse(engine(back, 'b').Since) > Date.parse(engine(down, 'b').Since));
  t.true(engine(back, 'b').Reconnects >= 1);
  t.true(back.Connected);
  t.is(serversOf(back, 'spread').length, 3);
  t.true((await answers('/spread/')).includes('spread-b'));
  t.true(logged(/engine "b" is down/).length >= 1);
  t.true(logged(/engine "b" is back/).length >= 1);
});

test.serial('while its engine is down, a container that dies is taken out by HAProxy health checks; when the engine is back it is removed', async (t) => {
  const pid = Number(await b.docker(['inspect', '-f', '{{.State.Pid}}', 'spread-b']));
  t.true(pid > 1);
  await b.stopDaemon();
  await eventually(discovery, (x) => engine(x, 'b').State === 'down', 15_000);
  process.kill(pid, 'SIGKILL');
  // Still a server (its engine cannot say otherwise), but HAProxy stops sending it anything, and no request fails.
  const checked = await eventually(() => health('spread'), (s) => s.some((x) => x.Address.startsWith(`${B}:`) && x.Health.startsWith('DOWN')), 20_000);
  t.regex(checked.find((x) => x.Address.startsWith(`${B}:`))?.Health ?? '', /^DOWN/, JSON.stringify(checked));
  t.is(serversOf(await discovery(), 'spread').length, 3);
  const after = await answers('/spread/', 20);
  t.deepEqual([...new Set(after)].sort(), ['spread-a', 'spread-c']);

  await b.startDaemon();
  await eventually(discovery, (x) => engine(x, 'b').State === 'up', 20_000);
  await untilServers('spread', 2);
  t.deepEqual(serversOf(await discovery(), 'spread').map((s) => s.Engine).sort(), ['a', 'c']);
});

/**
 * Until HAProxy has the server at `address` UP after a passed check ("UP 1/2" is a server added but not
 * checked yet). A container is a server as soon as it starts, but one that is not listening yet when its first
 * request or check reaches it is marked down at once, and is back after two passed checks (1-2 s): the only
 * replica of a service is stopped once its successor is UP, as the README says.
 */
async function untilUp(service: string, address: string): Promise<void> {
  const up = (s: HaproxyServer[]) => s.some((x) => x.Address === address && x.Health === 'UP');
  const servers = await eventually(() => health(service), up, 20_000);
  if (!up(servers)) throw new Error(`${service} has no checked UP server at ${address}: ${JSON.stringify(servers)}`);
}

test.serial('a container moved between hosts under load (start it on the new engine, stop it on the old, once it is UP): 0 failed requests', async (t) => {
  await runOneshot(b, { name: 'moving-b', service: 'moving', path: '/moving', port: 18801, mode: 'host' });
  await untilServers('moving', 1);
  const result = await underLoad(a, 18000, '/moving/', async () => {
    await runOneshot(c, { name: 'moving-c', service: 'moving', path: '/moving', port: 18801, mode: 'host' });
    await untilServers('moving', 2);
    await untilUp('moving', `${C}:18801`);
    await b.docker(['stop', 'moving-b']);
    await untilServers('moving', 1);
    // And on to this host's engine.
    await runOneshot(a, { name: 'moving-a', service: 'moving', path: '/moving', port: 18801, mode: 'host' });
    await untilServers('moving', 2);
    await untilUp('moving', '127.0.0.1:18801');
    await c.docker(['stop', 'moving-c']);
    await untilServers('moving', 1);
  });
  assertNoFailure(t, result, 200);
  t.deepEqual(Object.keys(result.answers).sort(), ['moving-a', 'moving-b', 'moving-c']);
  t.deepEqual(serversOf(await discovery(), 'moving').map((s) => s.Engine), ['a']);
});

test.serial('a host cut off the network (nothing closed, packets vanish): down within seconds by its ping, its containers taken out by HAProxy\'s checks; back with the link', async (t) => {
  t.deepEqual(serversOf(await discovery(), 'spread').map((s) => s.Engine).sort(), ['a', 'c']);
  const cutAt = Date.now();
  linkC.cut();
  try {
    const down = await eventually(discovery, (x) => engine(x, 'c').State === 'down', 20_000);
    t.is(engine(down, 'c').State, 'down', JSON.stringify(down.Engines));
    t.true(Date.now() - cutAt < 16_000, `noticed after ${Date.now() - cutAt} ms`);
    t.regex(engine(down, 'c').LastError ?? '', /ping/);
    t.is(engine(down, 'a').State, 'up');
    // Still a server (its engine cannot be asked), out of rotation by HAProxy's own checks.
    t.deepEqual(serversOf(down, 'spread').map((s) => s.Engine).sort(), ['a', 'c']);
    const checked = await eventually(() => health('spread'), (s) => s.some((x) => x.Address.startsWith(`${C}:`) && x.Health.startsWith('DOWN')), 30_000);
    t.regex(checked.find((x) => x.Address.startsWith(`${C}:`))?.Health ?? '', /^DOWN/, JSON.stringify(checked));
    t.deepEqual([...new Set(await answers('/spread/', 10))], ['spread-a']);
  } finally {
    linkC.heal();
  }
  const back = await eventually(discovery, (x) => engine(x, 'c').State === 'up', 30_000);
  t.is(engine(back, 'c').State, 'up');
  await eventually(() => health('spread'), (s) => s.some((x) => x.Address.startsWith(`${C}:`) && x.Health.startsWith('UP')), 30_000);
  t.true((await eventually(() => answers('/spread/'), (x) => x.includes('spread-c'), 15_000)).includes('spread-c'));
});
