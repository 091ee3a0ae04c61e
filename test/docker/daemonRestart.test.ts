import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';
import { runWeb } from '../support/webContainer.js';

let engine: DockerEngine;
let proxy: NsFlowProxy;

test.before(async () => {
  engine = await startDockerEngine({ tag: 'restart' });
  proxy = await startFlowProxyIn(engine);
});

test.after.always(async () => {
  await proxy?.stop();
  await engine?.stop();
});

interface Status { Connected: boolean; Reconnects: number; Services: Array<{ ServiceName: string }> }

async function status(): Promise<Status> {
  return (await proxy.api('discovery')).json as unknown as Status;
}

test.serial('dockerd restarted while the proxy runs is reconnected to, and nothing stays stale', async (t) => {
  // "kept" comes back with dockerd (restart policy); "gone" does not.
  await runWeb(engine, { name: 'kept', port: 18301, path: '/kept', text: 'kept', restart: true });
  await runWeb(engine, { name: 'gone', port: 18302, path: '/gone', text: 'gone' });
  t.is(await eventually(() => proxy.answer('/kept/'), (a) => a === 'kept', 15_000), 'kept');
  t.is(await eventually(() => proxy.answer('/gone/'), (a) => a === 'gone', 15_000), 'gone');
  t.is((await status()).Reconnects, 0);

  await engine.restartDaemon();

  // The proxy lived through it and follows the new dockerd.
  t.is((await proxy.api('ping')).status, 200);
  const after = await eventually(status, (s) => s.Connected && s.Reconnects >= 1, 20_000);
  t.true(after.Connected);
  t.true(after.Reconnects >= 1);
  t.regex(await proxy.metrics(), /flowproxy_docker_reconnects_total [1-9]/, 'counted as a metric');
  t.is(await eventually(() => proxy.answer('/kept/'), (a) => a === 'kept', 20_000), 'kept');
  t.is(await eventually(() => proxy.answer('/gone/'), (a) => a === '503', 20_000), '503');
  t.false((await eventually(status, (s) => !s.Services.some((x) => x.ServiceName === 'gone'), 10_000)).Services.some((s) => s.ServiceName === 'gone'));

  // Events flow again: a container started now is routed.
  await runWeb(engine, { name: 'fresh', port: 18303, path: '/fresh', text: 'fresh' });
  t.is(await eventually(() => proxy.answer('/fresh/'), (a) => a === 'fresh', 15_000), 'fresh');
  const logged = /closed the events stream|events stream unavailable/;
  t.regex(await eventually(async () => proxy.output(), (o) => logged.test(o), 5_000), logged);
});

test.serial('a Docker that cannot be read never empties the proxy', async (t) => {
  // Stop dockerd for good (SIGKILL keeps the container running in its shim) and watch the proxy keep its routes.
  t.is(await proxy.answer('/fresh/'), 'fresh');
  const pid = Number(fs.readFileSync(path.join(engine.dir, 'dockerd.pid'), 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  const down = await eventually(status, (s) => !s.Connected, 10_000);
  t.false(down.Connected);
  // Reconnects fail for a while; the last good services stay routed.
  await new Promise((r) => setTimeout(r, 1500));
  t.is(await proxy.answer('/fresh/'), 'fresh');
  t.true((await status()).Services.some((s) => s.ServiceName === 'fresh'));
});
