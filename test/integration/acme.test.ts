import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { acmeCert, haproxyProc, httpsGet, KeepAlive, metric, reloadCount, verifiedHandshake } from '../support/acme.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { havePebble, startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

// Automatic HTTPS against a real ACME server (Pebble) on 127.0.0.1: issuance, serving without a reload,
// restart, renewal, failures and backoff. Replicas are in acmeReplicas.test.ts.

const ready = havePebble();
const it = ready ? test.serial : test.skip;
let web: Backend;
const proxies: FlowProxy[] = [];
const pebbles: Pebble[] = [];

test.before(async () => {
  web = await startBackend('web');
});

test.after.always(async () => {
  for (const p of proxies) await p.cleanup();
  for (const p of pebbles) await p.stop();
  await web?.close();
});

async function setup(o: { validitySeconds?: number; env?: Record<string, string> } = {}) {
  const http = await freePort();
  const https = await freePort();
  const pebble = await startPebble({ httpPort: http, ...(o.validitySeconds !== undefined && { validitySeconds: o.validitySeconds }) });
  pebbles.push(pebble);
  const dataDir = tempDir('fp-acme-');
  const env = {
    // Loopback only: a name the test DNS points at 127.0.0.2 finds nothing listening (an unreachable challenge).
    DEFAULT_PORTS: `127.0.0.1:${http},127.0.0.1:${https}:ssl`,
    ACME_EMAIL: 'ops@example.com',
    ACME_DIRECTORY: pebble.directory,
    ACME_CA_FILE: pebble.caFile,
    ...o.env,
  };
  const start = async () => {
    const p = await startFlowProxy({ dataDir, httpPort: http, env });
    proxies.push(p);
    return p;
  };
  return { pebble, http, https, dataDir, start };
}

const service = (name: string, domain: string, extra: Record<string, string> = {}) => ({
  serviceName: name,
  serviceDomain: domain,
  port: String(web.port),
  outboundHostname: '127.0.0.1',
  ...extra,
});

it('issues a certificate through the API and serves it on the :ssl bind at run time: verified against the CA root, no reload, keep-alive kept, answered by the service', async (t) => {
  const { pebble, http, https, start } = await setup();
  const p = await start();
  const root = await pebble.root();
  // The :ssl bind is TLS from the start (empty crt-list, strict-sni): a name without a certificate fails the handshake.
  t.false((await verifiedHandshake(https, 'site1.test', root)).authorized);
  const answered = await p.api('reconfigure', service('site1', 'site1.test', { 'letsencrypt.host': 'site1.test', httpsOnly: 'true' }));
  t.is(answered.status, 200, answered.body);
  const before = { reloads: await reloadCount(p), proc: await haproxyProc(p) };
  // A keep-alive connection opened right after the reconfigure answered must survive the certificate going in.
  const keepAlive = new KeepAlive(http);
  t.is((await keepAlive.get('site1.test', '/before')).status, 302, 'httpsOnly redirects plain HTTP');
  const issued = await eventually(() => acmeCert(p, 'site1.test'), (c) => c?.Acme.State === 'valid', 30_000);
  t.is(issued?.Acme.State, 'valid', JSON.stringify(issued));
  t.deepEqual(issued?.Names, ['site1.test']);
  t.regex(issued?.Issuer ?? '', /Pebble Intermediate CA/);
  t.truthy(issued?.NotAfter && Date.parse(issued.NotAfter) > Date.now());
  t.deepEqual(issued?.Acme.Services, ['site1']);
  const handshake = await eventually(() => verifiedHandshake(https, 'site1.test', root), (h) => h.authorized, 5000);
  t.true(handshake.authorized, handshake.error);
  t.is(handshake.fingerprint256, issued?.Fingerprint256);
  const site = await httpsGet(https, 'site1.test', root, '/hello');
  t.is(site.status, 200);
  t.is(JSON.parse(site.body).backend, 'web');
  // Served without a reload: the same HAProxy worker, no reload in the apply records, the keep-alive connection still open.
  t.is(await reloadCount(p), before.reloads);
  t.deepEqual(await haproxyProc(p), before.proc);
  const again = await keepAlive.get('site1.test', '/after');
  t.is(again.status, 302);
  t.not(again.connection, 'close');
  t.false(keepAlive.closed);
  keepAlive.close();
  // /certs never shows a key; the metrics count the order and the certificate.
  const certs = await p.api('certs');
  t.false(/PRIVATE KEY/.test(certs.body));
  t.is(await metric(p, 'flowproxy_acme_orders_total', { outcome: 'issued' }), 1);
  t.is(await metric(p, 'flowproxy_acme_certificates', { state: 'valid' }), 1);
  t.true((await metric(p, 'flowproxy_certificate_expiry_days', { name: 'site1.test', source: 'acme' })) > 1);
  t.false(/PRIVATE KEY/.test(p.output()), 'no key in the logs');

  // A restart serves the stored certificate and orders nothing: the CA is not even running.
  await p.stop();
  await pebble.stop();
  const restarted = await start();
  const after = await eventually(() => verifiedHandshake(https, 'site1.test', root), (h) => h.authorized, 10_000);
  t.true(after.authorized, after.error);
  t.is(after.fingerprint256, issued?.Fingerprint256);
  t.is((await acmeCert(restarted, 'site1.test'))?.Acme.State, 'valid');
  await new Promise((r) => setTimeout(r, 500));
  t.false(/ACME order started/.test(restarted.output()), 'no order after a restart');
  t.is(await metric(restarted, 'flowproxy_acme_orders_total'), 0);
});

it('renews a short-lived certificate at a third of its lifetime left, at run time, without a reload', async (t) => {
  const { pebble, https, start } = await setup({ validitySeconds: 9 });
  const p = await start();
  const root = await pebble.root();
  t.is((await p.api('reconfigure', service('short', 'short.test', { acme: 'true' }))).status, 200);
  const first = await eventually(() => acmeCert(p, 'short.test'), (c) => c?.Acme.State === 'valid', 30_000);
  t.truthy(first?.Fingerprint256);
  const reloads = await reloadCount(p);
  const proc = await haproxyProc(p);
  // Renewal is due 6 s after issuance (9 s lifetime, a third left).
  const renewAt = Date.parse(first?.Acme.RenewAt ?? '');
  t.true(renewAt < Date.parse(first?.NotAfter ?? '') && renewAt > Date.now() - 2000, JSON.stringify(first));
  const renewed = await eventually(() => acmeCert(p, 'short.test'), (c) => c?.Fingerprint256 !== undefined && c.Fingerprint256 !== first?.Fingerprint256 && c.Acme.State === 'valid', 20_000);
  t.not(renewed?.Fingerprint256, first?.Fingerprint256);
  t.true(Date.parse(renewed?.NotAfter ?? '') > Date.parse(first?.NotAfter ?? ''));
  const served = await eventually(() => verifiedHandshake(https, 'short.test', root), (h) => h.fingerprint256 === renewed?.Fingerprint256, 5000);
  t.true(served.authorized, served.error);
  t.is(await reloadCount(p), reloads);
  t.deepEqual(await haproxyProc(p), proc);
  t.true((await metric(p, 'flowproxy_acme_orders_total', { outcome: 'issued' })) >= 2);
});

it('a domain whose challenge is unreachable is reported with its reason and next attempt, retried with backoff, and never holds up the others', async (t) => {
  const { pebble, https, start } = await setup({ env: { ACME_RETRY_BASE: '1', ACME_RETRY_MAX: '2' } });
  await pebble.setAddress('broken.test', '127.0.0.2');
  const p = await start();
  const root = await pebble.root();
  t.is((await p.api('reconfigure', service('broken', 'broken.test', { 'letsencrypt.host': 'broken.test' }))).status, 200);
  t.is((await p.api('reconfigure', service('fine', 'fine.test', { 'letsencrypt.host': 'fine.test' }))).status, 200);
  const fine = await eventually(() => acmeCert(p, 'fine.test'), (c) => c?.Acme.State === 'valid', 30_000);
  t.is(fine?.Acme.State, 'valid');
  t.true((await verifiedHandshake(https, 'fine.test', root)).authorized);
  const broken = await eventually(() => acmeCert(p, 'broken.test'), (c) => c?.Acme.State === 'failed', 30_000);
  t.is(broken?.Acme.State, 'failed');
  t.truthy(broken?.Acme.Reason, JSON.stringify(broken));
  t.regex(broken?.Acme.Reason ?? '', /127\.0\.0\.2|connect|refused/i);
  // The CA quotes the URL it fetched; the challenge token is cut out of the reason and the logs.
  t.notRegex(broken?.Acme.Reason ?? '', /acme-challenge\/[A-Za-z0-9_-]{8,}/);
  t.notRegex(p.output(), /acme-challenge\/[A-Za-z0-9_-]{8,}/);
  t.true(Date.parse(broken?.Acme.NextAttempt ?? '') > Date.now() - 1000, JSON.stringify(broken));
  t.is(broken?.Issuer, null);
  // Backoff, not a storm: over 4 s with a 1 s base capped at 2 s, a handful of attempts at most.
  const failedBefore = await metric(p, 'flowproxy_acme_orders_total', { outcome: 'failed' });
  t.true(failedBefore >= 1);
  await new Promise((r) => setTimeout(r, 4000));
  const failedAfter = await metric(p, 'flowproxy_acme_orders_total', { outcome: 'failed' });
  t.true(failedAfter > failedBefore, 'it is retried');
  t.true(failedAfter - failedBefore <= 5, `${failedAfter - failedBefore} attempts in 4 s`);
  // While a retry orders, the name counts as pending: the gauge is read between two attempts.
  t.is(await eventually(() => metric(p, 'flowproxy_acme_certificates', { state: 'failed' }), (n) => n === 1, 10_000), 1);
  // Once the name reaches the proxy, the next attempt succeeds.
  await pebble.setAddress('broken.test', '127.0.0.1');
  const healed = await eventually(() => acmeCert(p, 'broken.test'), (c) => c?.Acme.State === 'valid', 20_000);
  t.is(healed?.Acme.State, 'valid', JSON.stringify(healed));
  t.true((await verifiedHandshake(https, 'broken.test', root)).authorized);
  t.is((await acmeCert(p, 'fine.test'))?.Fingerprint256, fine?.Fingerprint256, 'the other name was not ordered again');
});

it('refuses bad names and injection attempts in the ACME parameters with a 400 naming them, before anything reaches HAProxy', async (t) => {
  const { start, dataDir } = await setup();
  const p = await start();
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'letsencrypt.host': '*.wild.test' }, /letsencrypt\.host "\*\.wild\.test" is a wildcard/],
    [{ 'letsencrypt.host': 'ok.test,bad_name.test' }, /letsencrypt\.host "bad_name\.test" is not a DNS name/],
    [{ 'letsencrypt.host': 'a.test\nglobal' }, /letsencrypt\.host .*newline or control/],
    [{ 'letsencrypt.host': "a.test' ssl crt /etc/passwd" }, /letsencrypt\.host "a\.test' ssl crt \/etc\/passwd" is not a DNS name/],
    [{ 'letsencrypt.host': '../../etc/passwd' }, /is not a DNS name/],
    [{ 'letsencrypt.host': '127.0.0.1' }, /is an IP address/],
    [{ 'letsencrypt.host': 'a.test;reload' }, /is not a DNS name/],
    [{ 'letsencrypt.host': 'a.test', 'letsencrypt.email': 'x@y.test\r\nBcc: z@w.test' }, /letsencrypt\.email .*newline or control/],
    [{ 'letsencrypt.host': 'a.test', 'letsencrypt.email': 'not-an-address' }, /letsencrypt\.email "not-an-address" is not an e-mail address/],
    [{ acme: 'yes' }, /acme "yes" is not a boolean/],
    [{ acme: 'true', serviceDomain: '*.wild.test' }, /serviceDomain "\*\.wild\.test" is a wildcard/],
  ];
  const before = fs.readFileSync(path.join(dataDir, 'haproxy', 'haproxy.cfg'), 'utf8');
  for (const [params, message] of cases) {
    const res = await p.api('reconfigure', { serviceName: 'evil', servicePath: '/evil', port: String(web.port), ...params });
    t.is(res.status, 400, JSON.stringify(params));
    t.regex(String(res.json.Message), message, JSON.stringify(params));
  }
  t.is(fs.readFileSync(path.join(dataDir, 'haproxy', 'haproxy.cfg'), 'utf8'), before);
  t.is((await acmeCert(p, 'a.test')), undefined);
  // The peer endpoint takes nothing without the API token.
  const push = await p.api('acme', '', { method: 'POST', body: JSON.stringify({ Instance: '00000000-0000-4000-8000-000000000000', challenges: [{ token: 'x', keyAuthorization: 'x.y' }] }) });
  t.is(push.status, 401);
});
