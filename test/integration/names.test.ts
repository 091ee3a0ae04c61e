import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy } from '../support/http.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';

let backend: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  backend = await startBackend('named');
});

test.after.always(async () => {
  for (const p of proxies) await p.cleanup();
  await backend?.close();
});

test('changes that need a reload, sent back to back, each stay near the normal apply time, with and without server names that do not resolve', async (t) => {
  // HAProxy resolving names through libc while it loads held one reload in a few for the resolver's 5 s timeout
  // (a lost answer to glibc's parallel A/AAAA queries). flow-proxy resolves names itself now.
  const p = await startFlowProxy();
  proxies.push(p);
  const durations: number[] = [];
  for (let i = 0; i < 45; i++) {
    const host = i % 3 === 0 ? `nores-${i}.invalid` : i % 3 === 1 ? 'localhost' : '127.0.0.1';
    const r = await p.api('reconfigure', { serviceName: `svc${i % 5}`, servicePath: `/svc${i % 5}`, port: String(backend.port), outboundHostname: host, timeoutServer: String(10 + i) });
    t.is(r.status, 200, r.body);
    const applied = r.json.Applied as { Kind: string; DurationMs: number };
    t.is(applied.Kind, 'reload');
    durations.push(applied.DurationMs);
    if (host !== `nores-${i}.invalid`) t.is(answeredBy(await p.get(`/svc${i % 5}/x`)), 'named', `${host} routes`);
    else t.is((await p.get(`/svc${i % 5}/x`)).status, 503, 'a name that does not resolve has no server');
  }
  const sorted = [...durations].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  const slowest = sorted[sorted.length - 1] as number;
  t.log(`apply ms: median ${median.toFixed(0)}, slowest ${slowest.toFixed(0)}`);
  t.true(slowest < Math.max(1500, 8 * median), `slowest apply ${slowest.toFixed(0)} ms, median ${median.toFixed(0)} ms: ${durations.map((d) => d.toFixed(0)).join(' ')}`);
});

test('a server name is rendered at the address flow-proxy resolved, so HAProxy never looks names up while it loads', async (t) => {
  const p = await startFlowProxy();
  proxies.push(p);
  t.is((await p.api('reconfigure', { serviceName: 'lh', servicePath: '/lh', port: String(backend.port), outboundHostname: 'localhost', timeoutServer: '7' })).status, 200);
  t.is(answeredBy(await p.get('/lh/x')), 'named');
  const config = (await p.api('config')).body;
  const server = config.split('\n').find((l) => /^\s+server s-/.test(l) && l.includes(String(backend.port)));
  t.regex(server ?? '', new RegExp(`127\\.0\\.0\\.1:${backend.port}`), 'rendered at the address flow-proxy resolved');
});
