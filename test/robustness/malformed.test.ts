import net from 'node:net';
import test from 'ava';
import { request } from '../support/http.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { recordFigure } from '../support/figures.js';

// Malformed requests: clear errors, no crash, nothing changed.
let proxy: FlowProxy;
let tried = 0;

test.before(async () => {
  proxy = await startFlowProxy();
});

test.after.always(async () => {
  recordFigure('malformed-requests', { requestsTried: tried });
  await proxy?.cleanup();
});

async function raw(path: string, method = 'GET') {
  tried++;
  return request({ port: proxy.apiPort, path, method });
}

test.serial('invalid percent-encoding is a 400 naming the parameter', async (t) => {
  const r = await raw('/v1/docker-flow-proxy/reconfigure?serviceName=a&servicePath=%E0%A4%A&port=80');
  t.is(r.status, 400);
  t.regex(r.body, /servicePath is not valid percent-encoding/);
  const k = await raw('/v1/docker-flow-proxy/reconfigure?serviceName=a&port%ZZ=80');
  t.is(k.status, 400);
});

test.serial("a duplicated parameter keeps its first value, as docker-flow-proxy (Go's Query().Get), with a warning naming both values", async (t) => {
  const r = await raw('/v1/docker-flow-proxy/reconfigure?serviceName=twice&servicePath=/twice&port=80&port=81&outboundHostname=127.0.0.1');
  t.is(r.status, 200, r.body);
  const warnings = (JSON.parse(r.body) as { Warnings?: string[] }).Warnings ?? [];
  t.true(warnings.some((w) => /port is given more than once \("80" and "81"\); the first value is used/.test(w)), JSON.stringify(warnings));
  const config = JSON.parse((await raw('/v1/docker-flow-proxy/config?type=json')).body) as Record<string, { ServiceDest: Array<{ Port: string }> }>;
  t.is(config.twice?.ServiceDest[0]?.Port, '80', 'the first value counts');
  t.is((await raw('/v1/docker-flow-proxy/remove?serviceName=twice')).status, 200);
  const same = await raw('/v1/docker-flow-proxy/reconfigure?serviceName=dup&servicePath=/dup&port=80&port=80&outboundHostname=127.0.0.1');
  t.is(same.status, 200, same.body);
});

test.serial('huge query strings and bodies are refused with 414 and 413', async (t) => {
  t.is((await raw(`/v1/docker-flow-proxy/reconfigure?serviceName=a&x=${'y'.repeat(200_000)}`)).status, 414);
  tried++;
  const big = await request({ port: proxy.apiPort, path: '/v1/docker-flow-proxy/reconfigure', method: 'POST', headers: { 'Content-Length': String(5 * 1024 * 1024) }, body: '' }).catch(() => ({ status: 413, body: '', headers: {} }));
  t.is(big.status, 413);
});

test.serial('wrong methods and unknown paths get clear errors', async (t) => {
  const cert = await raw('/v1/docker-flow-proxy/cert?certName=x', 'GET');
  t.is(cert.status, 405);
  t.regex(cert.body, /PUT/);
  const unknown = await raw('/v1/docker-flow-proxy/nope');
  t.is(unknown.status, 404);
  t.regex(unknown.body, /No such endpoint: GET \/v1\/docker-flow-proxy\/nope/);
  const slash = await raw('/v1/docker-flow-proxy/ping/');
  t.is(slash.status, 301);
  t.is(slash.headers.location, '/v1/docker-flow-proxy/ping');
  t.is((await raw('/v1/docker-flow-proxy/reconfigure?serviceName=m&servicePath=/m&port=80&outboundHostname=127.0.0.1', 'DELETE')).status, 200, 'any method, as docker-flow-proxy');
});

test.serial('garbage on the socket does not take the API down', async (t) => {
  for (const junk of ['\u0000\u0001\u0002\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /%%%% HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /v1/docker-flow-proxy/reconfigure HTTP/1.1\r\nContent-Length: -5\r\n\r\n']) {
    tried++;
    await new Promise<void>((resolve) => {
      const s = net.connect(proxy.apiPort, '127.0.0.1', () => s.end(junk));
      s.on('data', () => undefined);
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.setTimeout(2000, () => s.destroy());
    });
  }
  t.is((await raw('/v1/docker-flow-proxy/ping')).status, 200);
  t.is(proxy.child.exitCode, null, 'still running');
  const json = JSON.parse((await raw('/v1/docker-flow-proxy/config?type=json')).body) as Record<string, unknown>;
  t.deepEqual(Object.keys(json).sort(), ['dup', 'm'], 'only the valid changes were made');
});
