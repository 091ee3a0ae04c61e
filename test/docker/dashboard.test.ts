import net from 'node:net';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { BrowserContext } from 'playwright-core';
import { launchChromium, waitForText } from '../support/browser.js';
import { startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { eventually } from '../support/flowProxy.js';
import { startFlowProxyIn, type NsFlowProxy } from '../support/nsFlowProxy.js';
import { joinSockets } from '../support/pipe.js';
import { runWeb } from '../support/webContainer.js';

// The dashboard shows what Docker discovery routes and what it skipped: a real dockerd, labelled
// containers, flow-proxy discovering them, and Chromium reading the page.

let engine: DockerEngine;
let proxy: NsFlowProxy;
let bridge: net.Server;
let browser: BrowserContext;

test.before(async () => {
  engine = await startDockerEngine({ tag: 'dashboard' });
  proxy = await startFlowProxyIn(engine);
  // Chromium runs outside the namespace: a TCP port on 127.0.0.1 here carries its requests to the API inside.
  const socket = await engine.forward(18080);
  bridge = net.createServer((client) => joinSockets(client, net.connect(socket)));
  await new Promise<void>((resolve) => bridge.listen(0, '127.0.0.1', () => resolve()));
  browser = await launchChromium();
});

test.after.always(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (bridge ? bridge.close(() => resolve()) : resolve()));
  await proxy?.stop();
  await engine?.stop();
});

test('a service discovered from Docker labels and a skipped container show on the dashboard, with the reason', async (t) => {
  await runWeb(engine, { name: 'dash-web-1', port: 18201, path: '/dash', text: 'dash-web-1', labels: { 'com.df.serviceName': 'dashboard-web' } });
  await runWeb(engine, { name: 'dash-bad', port: 18202, path: '/bad', text: 'bad', labels: { 'com.df.port': 'eighty' } });
  t.is(await eventually(() => proxy.answer('/dash/'), (a) => a === 'dash-web-1', 15_000), 'dash-web-1');
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(bridge.address() as AddressInfo).port}/dashboard`);
  await waitForText(page, (x) => /dashboard-web/.test(x) && /dash-bad/.test(x), 10_000);
  const text = await page.evaluate(() => document.body.innerText);
  t.regex(text, /dashboard-web\s+Docker/, 'the service, owned by Docker');
  t.regex(text, /path prefix \/dash/, 'its route');
  t.regex(text, /127\.0\.0\.1:18201 (UP|no check)/, 'its container as a server');
  t.regex(text, /Skipped by discovery \(\d+\)[\s\S]*dash-bad[\s\S]*port "eighty" is not a port number/, 'the skipped container and why');
  t.regex(text, /connected/);
  // A second container of the service appears without a reload of the page.
  await runWeb(engine, { name: 'dash-web-2', port: 18203, path: '/dash', text: 'dash-web-2', labels: { 'com.df.serviceName': 'dashboard-web' } });
  await eventually(() => proxy.api('discovery'), (r) => JSON.stringify(r.json).includes('18203'), 15_000);
  const ms = await waitForText(page, (x) => x.includes('127.0.0.1:18203'), 3000);
  t.true(ms < 3000);
});
