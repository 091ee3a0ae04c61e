import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { makeCA, makeCert } from '../support/certs.js';
import { answeredBy, request, requestTls } from '../support/http.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

let a: Backend;
let b: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
});

test.after.always(async () => {
  for (const p of [...proxies].reverse()) await p.cleanup();
  await a?.close();
  await b?.close();
});

async function tlsProxy(env: Record<string, string> = {}, prepare?: (dataDir: string) => void) {
  const plain = await freePort();
  const secure = await freePort();
  const dataDir = tempDir('fp-tls-');
  fs.mkdirSync(path.join(dataDir, 'secrets'), { recursive: true });
  prepare?.(dataDir);
  const p = await startFlowProxy({ dataDir, httpPort: plain, env: { DEFAULT_PORTS: `${plain},${secure}:ssl`, ...env } });
  proxies.push(p);
  return { p, plain, secure };
}

function alpn(port: number, protocols: string[]): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ALPNProtocols: protocols, rejectUnauthorized: false }, () => {
      resolve(socket.alpnProtocol ?? false);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

test(':ssl binds are plain until a certificate exists; PUT /cert makes them TLS and GET /certs lists it without its key', async (t) => {
  const { p, secure } = await tlsProxy();
  t.is((await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is(answeredBy(await request({ port: secure, path: '/web' })), 'a', 'plain HTTP on the :ssl port before any certificate');
  const cert = makeCert(['a.test']);
  const put = await p.api('cert', { certName: 'a.test' }, { method: 'PUT', body: cert.pem });
  t.is(put.status, 200, put.body);
  const r = await requestTls({ port: secure, path: '/web', servername: 'a.test' });
  t.is(answeredBy(r), 'a');
  t.is(r.peerCN, 'a.test');
  t.is(seenProto(r.body), 'https', 'X-Forwarded-Proto is https behind TLS');
  const list = await p.api('certs');
  t.is(list.status, 200);
  t.deepEqual((list.json.Certs as Array<{ ProxyServiceName: string }>).map((c) => c.ProxyServiceName), ['a.test']);
  t.false(list.body.includes('PRIVATE KEY'));
  t.false(list.body.includes('BEGIN CERTIFICATE'));
  t.is((await p.api('cert', { certName: 'x' })).status, 405, 'only PUT uploads');
});

function seenProto(body: string): string | undefined {
  return (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-proto'];
}

test('a certificate without its key, or garbage, is a 400 and the running config keeps serving', async (t) => {
  const { p, secure } = await tlsProxy();
  t.is((await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', port: String(a.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await p.api('cert', { certName: 'good' }, { method: 'PUT', body: makeCert(['good.test']).pem })).status, 200);
  const before = (await p.api('config')).body;
  const noKey = await p.api('cert', { certName: 'nokey' }, { method: 'PUT', body: makeCert(['nokey.test']).cert });
  t.is(noKey.status, 400);
  t.regex(String(noKey.json.Message), /no private key/);
  const garbage = await p.api('cert', { certName: 'junk' }, { method: 'PUT', body: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n' });
  t.is(garbage.status, 400);
  const mismatched = makeCert(['m.test']);
  const other = makeCert(['o.test']);
  t.is((await p.api('cert', { certName: 'mismatch' }, { method: 'PUT', body: mismatched.cert + other.key })).status, 400);
  t.is((await p.api('cert', {}, { method: 'PUT', body: makeCert(['x.test']).pem })).status, 400, 'certName is mandatory');
  t.is((await p.api('cert', { certName: '../etc/x' }, { method: 'PUT', body: makeCert(['x.test']).pem })).status, 400);
  t.is((await p.api('config')).body, before);
  t.is(answeredBy(await requestTls({ port: secure, path: '/web', servername: 'good.test' })), 'a');
});

test('serviceCert stores the certificate under the first domain; Docker secrets cert-* count too; PREFERRED_CERTIFICATE picks the default', async (t) => {
  const fromSecret = makeCert(['secret.test']);
  const preferred = makeCert(['zz-default.test']);
  const { p, secure } = await tlsProxy({ PREFERRED_CERTIFICATE: 'zz-*' }, (dataDir) => {
    fs.writeFileSync(path.join(dataDir, 'secrets', 'cert-secret'), fromSecret.pem);
    fs.mkdirSync(path.join(dataDir, 'certs'));
    fs.writeFileSync(path.join(dataDir, 'certs', 'zz-default'), preferred.pem);
  });
  const svcCert = makeCert(['svc.test']);
  const res = await p.api('reconfigure', {
    serviceName: 'svc',
    serviceDomain: 'svc.test',
    port: String(b.port),
    outboundHostname: '127.0.0.1',
    serviceCert: svcCert.pem.replace(/\n/g, '\\n'),
  });
  t.is(res.status, 200, res.body);
  const names = ((await p.api('certs')).json.Certs as Array<{ ProxyServiceName: string }>).map((c) => c.ProxyServiceName);
  t.deepEqual(names, ['zz-default', 'cert-secret', 'svc.test']);
  t.is((await requestTls({ port: secure, path: '/', servername: 'svc.test', host: 'svc.test' })).peerCN, 'svc.test');
  t.is((await requestTls({ port: secure, path: '/', servername: 'secret.test' })).peerCN, 'secret.test');
  t.is((await requestTls({ port: secure, path: '/' })).peerCN, 'zz-default.test', 'clients without SNI get the preferred certificate');
  t.is(answeredBy(await requestTls({ port: secure, path: '/', servername: 'svc.test', host: 'svc.test' })), 'b');
});

test('ENABLE_H2 offers HTTP/2 through ALPN; ENABLE_H2=false does not', async (t) => {
  const cert = makeCert(['a.test']);
  const put = (dataDir: string) => {
    fs.mkdirSync(path.join(dataDir, 'certs'));
    fs.writeFileSync(path.join(dataDir, 'certs', 'a.test'), cert.pem);
  };
  const on = await tlsProxy({}, put);
  t.is(await alpn(on.secure, ['h2', 'http/1.1']), 'h2');
  const off = await tlsProxy({ ENABLE_H2: 'false' }, put);
  t.is(await alpn(off.secure, ['h2', 'http/1.1']), 'http/1.1');
});

test('httpsPort/srcHttpsPort: HTTPS traffic goes to its own backend port', async (t) => {
  const cert = makeCert(['a.test']);
  const { p, plain, secure } = await tlsProxy({}, (dataDir) => {
    fs.mkdirSync(path.join(dataDir, 'certs'));
    fs.writeFileSync(path.join(dataDir, 'certs', 'a.test'), cert.pem);
  });
  const res = await p.api('reconfigure', {
    serviceName: 'split',
    servicePath: '/split',
    port: String(a.port),
    httpsPort: String(b.port),
    srcPort: String(plain),
    srcHttpsPort: String(secure),
    outboundHostname: '127.0.0.1',
  });
  t.is(res.status, 200, res.body);
  t.is(answeredBy(await request({ port: plain, path: '/split' })), 'a');
  t.is(answeredBy(await requestTls({ port: secure, path: '/split', servername: 'a.test' })), 'b');
});

test('verifyClientSsl with CA_FILE: no client certificate or plain HTTP is 403, a certificate from the CA passes', async (t) => {
  const ca = makeCA();
  const server = makeCert(['a.test']);
  const client = makeCert(['client'], ca);
  const { p, plain, secure } = await tlsProxy({ CA_FILE: ca.certFile }, (dataDir) => {
    fs.mkdirSync(path.join(dataDir, 'certs'));
    fs.writeFileSync(path.join(dataDir, 'certs', 'a.test'), server.pem);
  });
  t.is((await p.api('reconfigure', { serviceName: 'mtls', servicePath: '/mtls', port: String(a.port), verifyClientSsl: 'true', outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await requestTls({ port: secure, path: '/mtls', servername: 'a.test' })).status, 403);
  t.is((await request({ port: plain, path: '/mtls' })).status, 403);
  const ok = await requestTls({ port: secure, path: '/mtls', servername: 'a.test', cert: client.cert, key: client.key });
  t.is(answeredBy(ok), 'a');
  const stranger = makeCert(['stranger']);
  t.is((await requestTls({ port: secure, path: '/mtls', servername: 'a.test', cert: stranger.cert, key: stranger.key })).status, 403);
});

test('sslVerifyNone: the service speaks TLS with a certificate nobody verifies', async (t) => {
  const cert = makeCert(['backend.test']);
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (_req, res) => res.end(JSON.stringify({ backend: 'tls-backend' })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  try {
    const { p, plain } = await tlsProxy();
    t.is((await p.api('reconfigure', { serviceName: 'tlsbe', servicePath: '/tlsbe', port: String(port), sslVerifyNone: 'true', outboundHostname: '127.0.0.1' })).status, 200);
    t.is(answeredBy(await request({ port: plain, path: '/tlsbe' })), 'tls-backend');
  } finally {
    server.close();
  }
});
