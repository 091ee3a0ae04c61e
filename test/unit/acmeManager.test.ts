import { execFileSync } from 'node:child_process';
import test from 'ava';
import { AcmeOrderError, ariCertId, ariCertIdFrom } from '../../src/adapters/acme/acmeCa.js';
import { soloShared } from '../../src/adapters/acme/soloShared.js';
import { AcmeManager, type AcmeCaPort } from '../../src/core/acme/acmeManager.js';
import type { IssuedCert } from '../../src/core/acme/acmePolicy.js';
import { silentLog } from '../../src/core/log.js';
import { tempDir } from '../support/tmp.js';
import { makeCA, makeCert } from '../support/certs.js';

// The scheduler against a fake CA: what is ordered, when, and how often.

const day = 86_400_000;

function manager(ca: AcmeCaPort, names: string[], retry = { baseMs: 20, capMs: 80 }) {
  const installed: string[] = [];
  const m = new AcmeManager({
    defaultEmail: 'ops@example.com',
    retry,
    ca,
    dataPlane: { setChallenges: async () => undefined, installCert: async (file) => void installed.push(file) },
    local: { load: () => ({ accounts: [], certs: [], statuses: [] }), save: () => undefined },
    shared: soloShared,
    certDir: tempDir('fp-acme-unit-'),
    writeCrtList: () => undefined,
    wanted: () => new Map(names.map((n) => [n, { email: 'ops@example.com', services: ['s'] }])),
    log: silentLog,
  });
  return { m, installed };
}

const fakeCert = (domain: string, n: number): IssuedCert => ({ domain, pem: `cert ${domain} ${n}`, names: [domain], issuer: 'Fake CA', notBefore: Date.now(), notAfter: Date.now() + 90 * day, fingerprint256: `${domain}-${n}`, issuedAt: Date.now() });

test('a failing name backs off (no storm) and is reported, while another name is issued at once and ordered only once', async (t) => {
  const orders = new Map<string, number>();
  const ca: AcmeCaPort = {
    account: async (email) => ({ email, keyPem: 'key', url: 'https://ca.example/acct/1' }),
    order: async (domain) => {
      orders.set(domain, (orders.get(domain) ?? 0) + 1);
      if (domain === 'bad.example.com') throw new Error('connection refused');
      return fakeCert(domain, orders.get(domain) as number);
    },
  };
  const { m, installed } = manager(ca, ['bad.example.com', 'good.example.com']);
  const stop = new AbortController();
  await m.start(stop.signal);
  await new Promise((r) => setTimeout(r, 600));
  stop.abort();
  t.is(orders.get('good.example.com'), 1);
  t.deepEqual(installed.map((f) => f.split('/').pop()), ['good.example.com.pem']);
  // 20 ms base doubling to an 80 ms cap over 600 ms: about 9 attempts, never a tight loop.
  const bad = orders.get('bad.example.com') ?? 0;
  t.true(bad >= 3 && bad <= 14, `${bad} attempts in 600 ms`);
  const listing = m.list();
  const failed = listing.find((l) => l.domain === 'bad.example.com');
  t.is(failed?.state, 'failed');
  t.is(failed?.reason, 'connection refused');
  t.true((failed?.nextAttempt ?? 0) > Date.now() - 100);
  t.is(listing.find((l) => l.domain === 'good.example.com')?.state, 'valid');
});

test('a CA\'s ARI window in the past renews at once, though a third of the lifetime is far away', async (t) => {
  let orders = 0;
  let asked = 0;
  const ca: AcmeCaPort = {
    account: async (email) => ({ email, keyPem: 'key', url: 'u' }),
    order: async (domain) => fakeCert(domain, ++orders),
    renewalInfo: async (pem) => {
      asked++;
      // The first certificate is to be replaced now (say, it will be revoked); the next one is fine.
      return pem.endsWith(' 1') ? { start: Date.now() - 2000, end: Date.now() - 1000 } : { start: Date.now() + 60 * day, end: Date.now() + 61 * day };
    },
  };
  const { m } = manager(ca, ['ari.example.com']);
  const stop = new AbortController();
  await m.start(stop.signal);
  await new Promise((r) => setTimeout(r, 400));
  stop.abort();
  t.is(orders, 2, 'ordered, then renewed once on the CA\'s word');
  t.true(asked >= 2);
  const l = m.list()[0];
  t.is(l?.state, 'valid');
  t.true((l?.renewAt ?? 0) > Date.now() + 59 * day, 'the second certificate follows its own ARI window');
});

test('ARI certificate identifiers: RFC 9773\'s example, and one read from a real certificate', (t) => {
  t.is(ariCertIdFrom('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', '0087654321'), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  const ca = makeCA('ARI test CA');
  const leaf = makeCert(['ari.example.com'], ca);
  // What openssl reads from the same certificate: the AKI keyid and the serial.
  const text = execFileSync('openssl', ['x509', '-noout', '-serial', '-ext', 'authorityKeyIdentifier', '-in', leaf.certFile], { encoding: 'utf8' });
  const keyId = (/keyid:([0-9A-F:]+)|\n\s+([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)?.slice(1).find(Boolean) ?? '').replace(/:/g, '');
  let serial = /serial=([0-9A-F]+)/.exec(text)?.[1] ?? '';
  if (serial.length % 2 === 1) serial = `0${serial}`;
  if (/^[89A-F]/.test(serial)) serial = `00${serial}`;
  t.true(keyId.length >= 40, text);
  t.is(ariCertId(leaf.pem), ariCertIdFrom(keyId, serial));
  t.is(ariCertId('garbage'), undefined);
});

test('a rate limit is waited out: no attempt before the CA\'s Retry-After, whatever the backoff', async (t) => {
  const at: number[] = [];
  const ca: AcmeCaPort = {
    account: async (email) => ({ email, keyPem: 'key', url: 'u' }),
    order: async (domain) => {
      at.push(Date.now());
      if (at.length === 1) throw new AcmeOrderError('rate limited by the CA: too many new orders', 400, true);
      return fakeCert(domain, at.length);
    },
  };
  const { m } = manager(ca, ['limited.example.com']);
  const stop = new AbortController();
  await m.start(stop.signal);
  await new Promise((r) => setTimeout(r, 150));
  t.is(at.length, 1, 'a 20 ms backoff does not beat a 400 ms Retry-After');
  t.is(m.list()[0]?.state, 'failed');
  t.regex(m.list()[0]?.reason ?? '', /rate limited/);
  await new Promise((r) => setTimeout(r, 500));
  stop.abort();
  t.is(at.length, 2);
  t.true((at[1] as number) - (at[0] as number) >= 390);
  t.is(m.list()[0]?.state, 'valid');
});
