import test from 'ava';
import { startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';
import { runWeb } from '../support/webContainer.js';

// One real dockerd (in its own network namespace) and one flow-proxy inside
// that namespace for the whole file; tests run in order and use their own paths.
let engine: DockerEngine;
let proxy: NsFlowProxy;

test.before(async () => {
  engine = await startDockerEngine({ tag: 'containers' });
  proxy = await startFlowProxyIn(engine);
});

test.after.always(async () => {
  await proxy?.stop();
  await engine?.stop();
});

/** `n` answers in a row for a path. */
async function answers(path: string, n = 10): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await proxy.answer(path));
  return out;
}

interface DiscoveredService { ServiceName: string; State: string; Servers: unknown[]; Reason?: string }
interface SkippedItem { Name: string; Kind: string; Reason: string }

async function discovery(): Promise<{ Services: DiscoveredService[]; Skipped: SkippedItem[]; Connected: boolean; Reconnects: number }> {
  return (await proxy.api('discovery')).json as never;
}

test.serial('a labelled container becomes routable', async (t) => {
  await runWeb(engine, { name: 'one-1', port: 18101, path: '/one', text: 'one-1', labels: { 'com.df.serviceName': 'one' } });
  t.is(await eventually(() => proxy.answer('/one/'), (a) => a === 'one-1', 15_000), 'one-1');
  const d = await discovery();
  t.true(d.Connected);
  const one = d.Services.find((s) => s.ServiceName === 'one');
  t.is(one?.State, 'live');
  t.is(one?.Servers.length, 1);
  // Metrics and logs follow the event: counted, timed to live, and one change id from event to apply.
  const metrics = await proxy.metrics();
  t.regex(metrics, /flowproxy_docker_events_total\{type="container",action="start"\} [1-9]/);
  t.regex(metrics, /flowproxy_change_to_live_seconds_count\{source="docker"\} [1-9]/);
  const lines = proxy.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; changeId?: string; changeIds?: string[] });
  const event = lines.find((l) => l.msg === 'docker event' && l.changeId?.startsWith('docker-container-start-'));
  t.truthy(event, 'the event has a change id');
  t.true(lines.some((l) => l.msg === 'applied' && (l.changeIds ?? []).some((id) => id.includes(event?.changeId as string))), 'the apply names it');
});

test.serial('a second replica receives traffic: both answer', async (t) => {
  await runWeb(engine, { name: 'one-2', port: 18102, path: '/one', text: 'one-2', labels: { 'com.df.serviceName': 'one' } });
  const seen = await eventually(() => answers('/one/'), (a) => a.includes('one-1') && a.includes('one-2'), 15_000);
  t.deepEqual([...new Set(seen)].sort(), ['one-1', 'one-2']);
});

test.serial('stopping one replica removes only it', async (t) => {
  await engine.docker(['stop', 'one-1']);
  await eventually(() => answers('/one/'), (a) => a.every((x) => x === 'one-2'), 15_000);
  // Once converged, every request reaches the replica that is left; none fails.
  t.deepEqual(new Set(await answers('/one/', 20)), new Set(['one-2']));
  t.is((await discovery()).Services.find((s) => s.ServiceName === 'one')?.Servers.length, 1);
});

test.serial('an unhealthy container gets no traffic', async (t) => {
  await runWeb(engine, { name: 'well', port: 18111, path: '/health', text: 'well', health: 'pass', labels: { 'com.df.serviceName': 'health' } });
  await runWeb(engine, { name: 'sick', port: 18112, path: '/health', text: 'sick', health: 'fail', labels: { 'com.df.serviceName': 'health' } });
  await runWeb(engine, { name: 'lonely', port: 18113, path: '/lonely', text: 'lonely', health: 'fail' });
  const d = await eventually(discovery, (x) => x.Skipped.some((s) => s.Name === 'sick' && /unhealthy/.test(s.Reason)) && x.Skipped.some((s) => s.Name === 'lonely' && /unhealthy/.test(s.Reason)) && x.Services.some((s) => s.ServiceName === 'health'), 15_000);
  t.is(d.Services.find((s) => s.ServiceName === 'health')?.Servers.length, 1, JSON.stringify(d));
  await eventually(() => answers('/health/', 5), (a) => a.every((x) => x === 'well'), 15_000);
  t.deepEqual(new Set(await answers('/health/', 20)), new Set(['well']));
  t.is(await proxy.answer('/lonely/'), '503');
  t.false(d.Services.some((s) => s.ServiceName === 'lonely'));
});

test.serial('bad labels are skipped and reported while others route', async (t) => {
  await runWeb(engine, { name: 'bad', port: 18121, path: '/bad', text: 'bad', labels: { 'com.df.port': 'abc' } });
  await runWeb(engine, { name: 'fine', port: 18122, path: '/fine', text: 'fine' });
  t.is(await eventually(() => proxy.answer('/fine/'), (a) => a === 'fine', 15_000), 'fine');
  const d = await eventually(discovery, (x) => x.Skipped.some((s) => s.Name === 'bad'), 10_000);
  const bad = d.Skipped.find((s) => s.Name === 'bad');
  t.is(bad?.Kind, 'container');
  t.regex(bad?.Reason ?? '', /port "abc" is not a port number/);
  t.is(await proxy.answer('/bad/'), '503');
  const logged = /container skipped.*port \\"abc\\"|port \\"abc\\".*container skipped/;
  t.regex(await eventually(async () => proxy.output(), (o) => logged.test(o), 5_000), logged);
  // The services discovered before are untouched.
  t.is(await proxy.answer('/one/'), 'one-2');
});

test.serial('API services live beside discovered ones; an API service of the same name wins until it is removed', async (t) => {
  const api = await proxy.api('reconfigure', { serviceName: 'one', servicePath: '/api-one', port: '18102', outboundHostname: '127.0.0.1', reqPathSearchReplace: '/api-one,/one' });
  t.is(api.status, 200, api.body);
  t.is(await proxy.answer('/api-one/'), 'one-2');
  t.is(await proxy.answer('/one/'), '503');
  t.is((await discovery()).Services.find((s) => s.ServiceName === 'one')?.State, 'shadowed');
  // A Docker event (and its full resync) leaves the API service alone.
  await engine.docker(['stop', 'fine']);
  t.is(await eventually(() => proxy.answer('/fine/'), (a) => a === '503', 15_000), '503');
  t.is(await proxy.answer('/api-one/'), 'one-2');
  t.is((await proxy.api('remove', { serviceName: 'one' })).status, 200);
  t.is(await proxy.answer('/one/'), 'one-2');
  t.is(await proxy.answer('/api-one/'), '503');
});

test.serial('a proxy restarted while containers run picks them up before its first apply', async (t) => {
  await proxy.stop();
  proxy = await startFlowProxyIn(engine, { dataDir: proxy.dataDir });
  // No waiting: the first answer after start must already be right.
  t.is(await proxy.answer('/one/'), 'one-2');
  t.is(await proxy.answer('/health/'), 'well');
  t.is(await proxy.answer('/lonely/'), '503');
  // And it follows events again.
  await runWeb(engine, { name: 'late', port: 18131, path: '/late', text: 'late' });
  t.is(await eventually(() => proxy.answer('/late/'), (a) => a === 'late', 15_000), 'late');
});
