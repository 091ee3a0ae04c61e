import test from 'ava';
import { loadAcmeSettings, LETS_ENCRYPT_PRODUCTION } from '../../src/acmeSettings.js';
import { wantedDomains } from '../../src/acme.js';
import { validChallenge } from '../../src/adapters/acme/haproxyAcme.js';
import { nextOrderAt, renewAt, retryDelay, stateOf, type DomainStatus, type IssuedCert } from '../../src/core/acme/acmePolicy.js';
import { fromEntries, fromLabels, servicesFromEnv } from '../../src/domain/params.js';
import { parseService } from '../../src/domain/parse.js';
import { toEntry } from '../../src/domain/entry.js';
import { baseSettings, parseCtx, render, svc } from '../support/render.js';

test('docker-flow-letsencrypt labels go through the same parser as the query: com.df.letsencrypt.host, com.df.letsencrypt.email, com.df.acme', (t) => {
  const raw = fromLabels({
    'com.df.notify': 'true',
    'com.df.serviceName': 'shop',
    'com.df.serviceDomain': 'shop.example.com,www.shop.example.com',
    'com.df.port': '80',
    'com.df.letsencrypt.host': 'shop.example.com,Static.Shop.example.com',
    'com.df.letsencrypt.email': 'admin@shop.example.com',
  });
  const parsed = parseService(raw.params, parseCtx);
  t.true(parsed.ok);
  if (!parsed.ok) return;
  t.deepEqual(parsed.spec.acme, { domains: ['shop.example.com', 'static.shop.example.com'], email: 'admin@shop.example.com' });
  // Stored and parsed again on restore: the canonical parameters keep them.
  t.is(parsed.spec.params['letsencrypt.host'], 'shop.example.com,Static.Shop.example.com');
  t.is(parsed.spec.params['letsencrypt.email'], 'admin@shop.example.com');

  const acme = parseService(fromLabels({ 'com.df.serviceName': 'a', 'com.df.serviceDomain.1': 'a.example.com', 'com.df.serviceDomain.2': 'b.example.com', 'com.df.port': '80', 'com.df.acme': 'true' }).params, parseCtx);
  t.true(acme.ok && acme.spec.acme !== undefined);
  if (acme.ok) t.deepEqual(acme.spec.acme?.domains, ['a.example.com', 'b.example.com']);
});

test('DFP_SERVICE_LETSENCRYPT_HOST and DFP_SERVICE_ACME are read from the environment', (t) => {
  const [env] = servicesFromEnv({ DFP_SERVICE_SERVICE_NAME: 'e', DFP_SERVICE_SERVICE_DOMAIN: 'e.example.com', DFP_SERVICE_PORT: '80', DFP_SERVICE_LETSENCRYPT_HOST: 'e.example.com', DFP_SERVICE_ACME: 'false' });
  t.truthy(env);
  const parsed = parseService(env!.params, parseCtx);
  t.true(parsed.ok);
  if (parsed.ok) t.deepEqual(parsed.spec.acme, { domains: ['e.example.com'] });
});

const refused: Array<[string, RegExp]> = [
  ['letsencrypt.host=*.example.com', /letsencrypt\.host "\*\.example\.com" is a wildcard, which the HTTP-01 challenge cannot validate/],
  ['letsencrypt.host=example', /letsencrypt\.host "example" is not a DNS name/],
  ['letsencrypt.host=a..example.com', /is not a DNS name/],
  ['letsencrypt.host=-a.example.com', /is not a DNS name/],
  ['letsencrypt.host=a.example.com%0abackend x', /contains a newline or control character/],
  ['letsencrypt.host=a.example.com%20ssl', /is not a DNS name/],
  ['letsencrypt.host=10.0.0.1', /is an IP address/],
  [`letsencrypt.host=${'a'.repeat(64)}.com`, /is not a DNS name/],
  ['letsencrypt.host=,', /names no domain/],
  ['letsencrypt.email=x@example.com', /letsencrypt\.email needs letsencrypt\.host or acme=true/],
  ['letsencrypt.host=a.example.com&letsencrypt.email=x@', /letsencrypt\.email "x@" is not an e-mail address/],
  ['acme=maybe', /acme "maybe" is not a boolean/],
  ['acme=true&serviceDomain=*.example.com', /serviceDomain "\*\.example\.com" is a wildcard/],
];

for (const [query, message] of refused) {
  test(`refused: ${query.slice(0, 60)}`, (t) => {
    const base = query.includes('serviceDomain') ? 'serviceName=s&port=80&' : 'serviceName=s&servicePath=/s&port=80&';
    const r = parseService(fromEntries(new URLSearchParams(base + query)).params, parseCtx);
    t.false(r.ok);
    if (!r.ok) t.regex(r.issues.map((i) => i.message).join(' '), message);
  });
}

test('acme=true without a serviceDomain is refused (it means every serviceDomain)', (t) => {
  const r = parseService(fromEntries(new URLSearchParams('serviceName=s&servicePath=/s&port=80&acme=true')).params, parseCtx);
  t.false(r.ok);
  if (!r.ok) t.regex(r.issues[0]?.message ?? '', /acme=true needs a serviceDomain/);
});

test('with ACME the :ssl binds are TLS from the start (strict-sni on the empty crt-list) and HTTP-01 is answered before every other rule', (t) => {
  const settings = baseSettings({ defaultPorts: [{ address: '*', port: 80, ssl: false, options: '' }, { address: '*', port: 443, ssl: true, options: '' }], acme: { challengeMap: '/data/acme/challenges.map' } });
  const services = [svc('serviceName=web&serviceDomain=web.example.com&port=80&httpsOnly=true&redirectFromDomain=old.example.com')];
  const text = render(services, settings, false).files.config;
  t.regex(text, /bind \*:443 ssl crt-list \S+ strict-sni alpn/);
  t.regex(text, /bind \*:80\n/);
  const lines: string[] = text.split('\n');
  const challenge = lines.findIndex((l) => l.includes('http-request return status 200 content-type text/plain lf-string "%[path,map_str(/data/acme/challenges.map)]" if { path_beg /.well-known/acme-challenge/ }'));
  t.true(challenge > 0);
  const firstOther = lines.findIndex((l) => /http-request (redirect|set-var|add-header|deny)/.test(l));
  t.true(challenge < firstOther, 'the challenge rule comes before every other http-request rule');
  // With an uploaded certificate, strict-sni goes: that certificate is the default.
  t.notRegex(render(services, settings, true).files.config, /strict-sni/);
  // Without ACME nothing changes: plain until a certificate exists, and no challenge rule.
  const off = render(services, baseSettings({ defaultPorts: settings.defaultPorts }), false).files.config;
  t.regex(off, /bind \*:443\n/);
  t.notRegex(off, /acme-challenge/);
});

test('only base64url tokens and their key authorizations reach the challenge map', (t) => {
  t.true(validChallenge('abc-_DEF123', 'abc-_DEF123.thumb_print-1'));
  t.false(validChallenge('abc def', 'abc def.x'));
  t.false(validChallenge('abc', 'abd.x'));
  t.false(validChallenge('abc', 'abc.x y'));
  t.false(validChallenge('abc\nadd map x', 'abc.x'));
  t.false(validChallenge('', '.x'));
});

const cert = (notBefore: number, notAfter: number): IssuedCert => ({ domain: 'a.example.com', pem: '', names: ['a.example.com'], issuer: 'CA', notBefore, notAfter, fingerprint256: 'x', issuedAt: notBefore });
const day = 86_400_000;

test('renewal is due at a third of the lifetime left, or inside the CA\'s ARI window', (t) => {
  t.is(renewAt(cert(0, 90 * day), 0.5), 60 * day);
  t.is(renewAt({ ...cert(0, 90 * day), ari: { start: 70 * day, end: 72 * day } }, 0.5), 71 * day);
  t.is(nextOrderAt(undefined, undefined, 1000, 0.5), 1000, 'no certificate: now');
  t.is(nextOrderAt(cert(0, 90 * day), undefined, 1000, 0.5), 60 * day);
  const failed: DomainStatus = { domain: 'a.example.com', failures: 2, reason: 'x', nextAttempt: 5000, ordering: false, updated: 1 };
  t.is(nextOrderAt(undefined, failed, 1000, 0.5), 5000, 'never before the backoff');
});

test('failed orders back off exponentially with jitter, capped, and never before Retry-After', (t) => {
  const policy = { baseMs: 1000, capMs: 60_000 };
  const delays = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => retryDelay(n, policy, 1));
  t.deepEqual(delays.slice(0, 4), [1000, 2000, 4000, 8000]);
  t.is(Math.max(...delays), 60_000);
  t.is(retryDelay(1, policy, 0), 500, 'jitter: half fixed, half random');
  t.is(retryDelay(1, policy, 0.5, 3_600_000), 3_600_000, 'a rate limit\'s Retry-After wins');
});

test('the ACME state of a name: pending, valid, renewing, failed', (t) => {
  const now = 10 * day;
  t.is(stateOf(undefined, undefined, now), 'pending');
  t.is(stateOf(cert(0, 90 * day), undefined, now), 'valid');
  t.is(stateOf(cert(0, 12 * day), undefined, now), 'renewing');
  t.is(stateOf(cert(0, 90 * day), { domain: 'a', failures: 1, reason: 'timeout', ordering: false, updated: 1 }, now), 'failed');
  t.is(stateOf(cert(0, 5 * day), undefined, now), 'pending', 'an expired certificate is no certificate');
});

test('every live service asking for a name counts; quarantined ones do not; the first service\'s e-mail wins', (t) => {
  const entry = (query: string) => {
    const r = toEntry(fromEntries(new URLSearchParams(query)), parseCtx, 'api');
    if (!r.ok) throw new Error(r.issues.map((i) => i.message).join(' '));
    return r.entry;
  };
  const wanted = wantedDomains([
    entry('serviceName=b&servicePath=/b&port=80&letsencrypt.host=x.example.com,y.example.com'),
    entry('serviceName=a&servicePath=/a&port=80&letsencrypt.host=x.example.com&letsencrypt.email=a@example.com'),
    entry('serviceName=q&servicePath=/q&port=80&letsencrypt.host=q.example.com'),
  ], new Set(['q']), 'ops@example.com');
  t.deepEqual([...wanted.keys()].sort(), ['x.example.com', 'y.example.com']);
  t.deepEqual(wanted.get('x.example.com'), { email: 'a@example.com', services: ['a', 'b'] });
  t.is(wanted.get('y.example.com')?.email, 'ops@example.com');
});

test('ACME settings: on with ACME_EMAIL, Let\'s Encrypt production by default, secrets files, every bad value reported', (t) => {
  const others = { peers: 0, cwd: '/' };
  t.deepEqual(loadAcmeSettings({}, () => undefined, others), { ok: true });
  const on = loadAcmeSettings({ ACME_EMAIL: 'ops@example.com' }, () => undefined, others);
  t.true(on.ok && on.acme?.directory === LETS_ENCRYPT_PRODUCTION);
  const secret = loadAcmeSettings({ ACME_EMAIL: 'env@example.com' }, (n) => (n === 'dfp_acme_email' ? 'secret@example.com\n' : undefined), others);
  t.true(secret.ok && secret.acme?.email === 'secret@example.com', 'the secret wins');
  const bad = loadAcmeSettings({ ACME_EMAIL: 'nope', ACME_DIRECTORY: 'http://insecure.example/dir', ACME_CA_FILE: '/does/not/exist.pem', ACME_RETRY_BASE: 'soon' }, () => undefined, { ...others, crtListPath: '/x', peers: 2 });
  t.false(bad.ok);
  if (!bad.ok) {
    const text = bad.errors.join('\n');
    for (const re of [/ACME_EMAIL "nope" is not an e-mail address/, /ACME_DIRECTORY "http:\/\/insecure\.example\/dir" must be an https:\/\/ URL/, /ACME_CA_FILE "\/does\/not\/exist\.pem" cannot be read/, /ACME_RETRY_BASE "soon"/, /CRT_LIST_PATH/, /PEERS needs API_TOKEN/]) t.regex(text, re);
  }
  const stray = loadAcmeSettings({ ACME_DIRECTORY: 'https://x.example/dir' }, () => undefined, others);
  t.false(stray.ok);
});
