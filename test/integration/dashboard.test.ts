import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import { startBackend, type Backend } from '../support/backend.js';
import { launchChromium, visibleText, waitForText } from '../support/browser.js';
import { ROOT, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { tempDir } from '../support/tmp.js';

// The dashboard in a real (headless) Chromium against a real proxy: what a person sees.

const TOKEN = 'dashboard-token-0123456789abcdef';
const SECRETS = ['UserPassW0rd-xyz', 'StatsPassW0rd-xyz', 'GlobalPassW0rd-xyz', TOKEN];
const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };

let proxy: FlowProxy;
let browser: BrowserContext;
let page: Page;
const backends: Backend[] = [];
const requested: string[] = [];
let navigations = 0;
let key = '';

test.before(async () => {
  for (const name of ['web', 'api', 'shop']) backends.push(await startBackend(name));
  proxy = await startFlowProxy({
    env: {
      DISCOVERY: 'none',
      API_TOKEN: TOKEN,
      STATS_USER: 'stats',
      STATS_PASS: 'StatsPassW0rd-xyz',
      USERS: 'global:GlobalPassW0rd-xyz',
      // HAProxy refuses this one at start: it is quarantined with HAProxy's message.
      DFP_SERVICE_SERVICE_NAME: 'legacy',
      DFP_SERVICE_SERVICE_PATH: '/legacy',
      DFP_SERVICE_PORT: '4000',
      DFP_SERVICE_BACKEND_EXTRA: 'option bogus',
    },
  });
  const [web, api, shop] = backends as [Backend, Backend, Backend];
  const add = async (q: Record<string, string>) => {
    const res = await proxy.api('reconfigure', { outboundHostname: '127.0.0.1', ...q }, auth);
    if (res.status !== 200) throw new Error(res.body);
  };
  await add({ serviceName: 'web', servicePath: '/', serviceDomain: 'example.com', port: String(web.port), users: 'admin:UserPassW0rd-xyz' });
  await add({ serviceName: 'api', servicePath: '/api', port: String(api.port), serviceHeader: 'X-Version:2' });
  await add({ serviceName: 'api-v1', servicePath: '/api', port: String(api.port) });
  await add({ serviceName: 'shop', serviceDomain: 'shop.example.com,*.shop.example.com', port: String(shop.port), servicePath: '/' });
  // A refused call shows with its reason.
  await proxy.api('reconfigure', { serviceName: 'broken', servicePath: '/b', port: 'eighty' }, auth);
  // A certificate, valid for 90 days; its key must never show.
  const dir = tempDir('fp-dash-cert-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '90', '-subj', '/CN=example.com', '-addext', 'subjectAltName=DNS:example.com,DNS:*.example.com', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c')], { stdio: 'ignore' });
  key = fs.readFileSync(path.join(dir, 'k'), 'utf8');
  const put = await proxy.api('cert', { certName: 'example.com' }, { ...auth, method: 'PUT', body: fs.readFileSync(path.join(dir, 'c'), 'utf8') + key });
  if (put.status !== 200) throw new Error(put.body);

  browser = await launchChromium();
  page = await browser.newPage();
  page.on('request', (r) => requested.push(r.url()));
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) navigations++;
  });
  await page.goto(`http://127.0.0.1:${proxy.apiPort}/dashboard`);
});

test.after.always(async () => {
  await browser?.close();
  await proxy?.cleanup();
  for (const b of backends) await b.close();
});

const keyBody = () => key.split('\n').filter((l) => l !== '' && !l.startsWith('-----')).slice(1, 3);

test.serial('shows the services added through the API with their routes, ports and servers, in route order', async (t) => {
  const text = await waitForText(page, (x) => x.includes('shop.example.com') && x.includes('api-v1'), 10_000).then(() => visibleText(page));
  for (const name of ['web', 'api', 'api-v1', 'shop']) t.regex(text, new RegExp(`^${name}$`, 'm'), `service ${name}`);
  t.regex(text, /#1\s+any host, path prefix \/api when \{ req\.hdr\(X-Version\) -m str '2' \}/, 'the conditional route comes first');
  t.regex(text, /#2\s+any host, path prefix \/api →/, 'api-v1 second');
  t.regex(text, /host \*\.shop\.example\.com, path prefix \//);
  t.regex(text, new RegExp(`:${backends[1]?.port}`), 'the service port');
  t.regex(text, new RegExp(`127\\.0\\.0\\.1:${backends[0]?.port} (UP|no check)`), 'a server with its state from HAProxy');
  t.regex(text, /example\.com[\s\S]*days/, 'the certificate with its expiry');
  t.regex(text, /reload|runtime/, 'recent applies');
});

test.serial('shows a quarantined service with its reason, and a refused call with its reason', async (t) => {
  const text = await visibleText(page);
  t.regex(text, /Quarantined services \(1\)/);
  t.regex(text, /legacy[\s\S]*HAProxy refused the configuration of service "legacy": .*unknown option 'bogus'/);
  t.regex(text, /broken[\s\S]*port "eighty" is not a port number/);
});

test.serial('a service added through the API shows within 3 s, without a page reload', async (t) => {
  const before = navigations;
  const res = await proxy.api('reconfigure', { serviceName: 'fresh-service', servicePath: '/fresh', port: String(backends[0]?.port), outboundHostname: '127.0.0.1' }, auth);
  t.is(res.status, 200);
  const ms = await waitForText(page, (x) => x.includes('fresh-service') && x.includes('path prefix /fresh'), 3000);
  t.true(ms < 3000, `${ms} ms`);
  t.is(navigations, before, 'no reload');
  // And a removal disappears the same way.
  await proxy.api('remove', { serviceName: 'fresh-service' }, auth);
  await waitForText(page, (x) => !x.includes('fresh-service'), 3000);
  t.is(navigations, before);
});

test.serial('never shows a password, a key or the token; fetches only its own origin', async (t) => {
  const text = await visibleText(page);
  const html = await page.content();
  const state = (await proxy.api('dashboard/state')).body;
  for (const secret of [...SECRETS, ...keyBody()]) {
    t.false(text.includes(secret), `visible text holds ${secret.slice(0, 6)}…`);
    t.false(html.includes(secret), `HTML holds ${secret.slice(0, 6)}…`);
    t.false(state.includes(secret), `state holds ${secret.slice(0, 6)}…`);
  }
  t.false(/PRIVATE KEY/.test(html));
  const origin = `http://127.0.0.1:${proxy.apiPort}/`;
  t.true(requested.length > 4);
  t.deepEqual(requested.filter((u) => !u.startsWith(origin)), [], 'no request leaves the API origin');
  t.true(requested.some((u) => u.includes('/v1/docker-flow-proxy/dashboard/state')));
  // The read endpoints the page uses work without the token, as every read endpoint does.
  t.is((await proxy.api('dashboard/state')).status, 200);
});

test.serial('usable with the keyboard: / focuses the filter, typing filters, Escape clears; explain answers from the form', async (t) => {
  await page.keyboard.press('/');
  t.is(await page.evaluate(() => document.activeElement?.id), 'filter');
  await page.keyboard.type('shop');
  const rows = await page.$$eval('#services-body tbody tr', (trs) => trs.map((tr) => [tr.querySelector('.name')?.textContent, getComputedStyle(tr).display !== 'none']));
  t.deepEqual(rows.filter(([, shown]) => shown).map(([n]) => n), ['shop']);
  await page.keyboard.press('Escape');
  t.true((await page.$$eval('#services-body tbody tr', (trs) => trs.filter((tr) => getComputedStyle(tr).display !== 'none').length)) >= 5);
  // Tab reaches the section links, then the filter.
  const focusable = await page.$$eval('a[href^="#"], input, button', (els) => els.length);
  t.true(focusable >= 10);
  await page.fill('#explain-form input[name=path]', '/api/users');
  await page.fill('#explain-form input[name=headers]', 'X-Version: 2');
  await page.focus('#explain-form input[name=path]');
  await page.keyboard.press('Enter');
  await waitForText(page, (x) => x.includes('→ service api') && x.includes('api-v1'), 3000);
  t.regex(await visibleText(page), /matched, but route #1 of "api"/);
});

test.serial('screenshot artifact: the whole page, as a person sees it', async (t) => {
  await page.fill('#explain-form input[name=path]', '/api/users');
  await page.evaluate(() => window.scrollTo(0, 0));
  const file = path.join(ROOT, 'dist', 'artifacts', 'dashboard.png');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  const png = fs.readFileSync(file);
  t.is(png.subarray(1, 4).toString(), 'PNG');
  t.true(png.length > 50_000, `${png.length} bytes`);
  t.log(`screenshot: ${file}`);
});
