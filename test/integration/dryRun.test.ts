import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { applyPatch, parsePatch } from 'diff';
import { startBackend, type Backend } from '../support/backend.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { makeCert } from '../support/certs.js';
import { answeredBy } from '../support/http.js';

let a: Backend;
let b: Backend;
const proxies: FlowProxy[] = [];

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
});

test.after.always(async () => {
  for (const p of proxies) await p.cleanup();
  await a?.close();
  await b?.close();
});

async function start(env: Record<string, string> = {}): Promise<FlowProxy> {
  const p = await startFlowProxy({ env: { DISCOVERY: 'none', ...env } });
  proxies.push(p);
  return p;
}

const to = (backend: Backend) => ({ port: String(backend.port), outboundHostname: '127.0.0.1' });

/** Everything a dry run must leave as it is: the live config, the maps, the stored state, the apply records, the traffic. */
async function observe(p: FlowProxy) {
  const mapDir = path.join(p.dataDir, 'haproxy', 'maps');
  return {
    config: (await p.api('config')).body,
    maps: Object.fromEntries(fs.readdirSync(mapDir).sort().map((f) => [f, fs.readFileSync(path.join(mapDir, f), 'utf8')])),
    state: fs.readFileSync(path.join(p.dataDir, 'state.json'), 'utf8'),
    applies: ((await p.api('services')).json.Applies as unknown[]).length,
    traffic: [answeredBy(await p.get('/web/x')) ?? String((await p.get('/web/x')).status), String((await p.get('/api/x')).status)],
  };
}

interface DryRun {
  Status: string;
  DryRun: boolean;
  Kind: string;
  Reason: string;
  Diff: string;
  ServiceName: string;
  Message: string;
}

test('a dry run answers Kind and a unified diff, and changes nothing: /config, maps, stored state, applies and traffic stay', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', ...to(a) })).status, 200);
  const before = await observe(p);
  t.deepEqual(before.traffic, ['a', '503']);

  const runs: Array<[Record<string, string>, string, RegExp]> = [
    [{ serviceName: 'api', servicePath: '/api', ...to(b) }, 'runtime', /^\+\/api _spare_\d+$/m],
    [{ serviceName: 'web', servicePath: '/web', ...to(b) }, 'runtime', new RegExp(`^\\+    server \\S+ 127\\.0\\.0\\.1:${b.port}( .*)?$`, 'm')],
    [{ serviceName: 'web', servicePath: '/web', ...to(a), timeoutServer: '9' }, 'reload', /^\+    timeout server 9s$/m],
    [{ serviceName: 'web', servicePath: '/web', ...to(a) }, 'none', /^$/],
    [{ serviceName: 'web', servicePath: '/web', ...to(a), replicas: '0' }, 'runtime', /^-\/web _spare_\d+$/m],
    [{ serviceName: 'secret', servicePath: '/s', ...to(a), users: 'bob:Hunter2Secret' }, 'reload', /^\+    user bob insecure-password <redacted>$/m],
  ];
  for (const [query, kind, line] of runs) {
    for (const flag of ['true', 'TRUE', '1']) {
      const res = await p.api('reconfigure', { ...query, dryRun: flag });
      const body = res.json as unknown as DryRun;
      t.is(res.status, 200, res.body);
      t.true(body.DryRun);
      t.is(body.Kind, kind, JSON.stringify(query));
      t.regex(body.Diff, line, JSON.stringify(query));
      if (kind !== 'none') t.regex(body.Diff, /^--- a\/(haproxy\.cfg|maps\/\w+\.map)\n\+\+\+ b\//m);
      t.false(res.body.includes('Hunter2Secret'), 'passwords never appear in a diff');
    }
  }
  const removal = (await p.api('remove', { serviceName: 'web', dryRun: 'true' })).json as unknown as DryRun;
  t.is(removal.Kind, 'runtime');
  t.regex(removal.Diff, /^-\/web _spare_\d+$/m);
  t.is(((await p.api('remove', { serviceName: 'nobody', dryRun: 'true' })).json as unknown as DryRun).Kind, 'none');
  t.deepEqual(await observe(p), before, 'nothing changed');
  // dryRun=false is the real call.
  const real = await p.api('reconfigure', { serviceName: 'api', servicePath: '/api', ...to(b), dryRun: 'false' });
  t.is((real.json.Applied as { Kind: string }).Kind, 'runtime');
  t.is(answeredBy(await p.get('/api/x')), 'b');
});

test("the dry run's diff is what the real call does: same Kind, and the diff turns the old files into the new ones", async (t) => {
  const p = await start();
  const mapDir = path.join(p.dataDir, 'haproxy', 'maps');
  const files = async () => ({
    'haproxy.cfg': (await p.api('config', { maps: 'false' })).body,
    ...Object.fromEntries(fs.readdirSync(mapDir).sort().map((f) => [`maps/${f}`, fs.readFileSync(path.join(mapDir, f), 'utf8')])),
  }) as Record<string, string>;
  const changes: Array<Record<string, string>> = [
    { serviceName: 'one', servicePath: '/one', ...to(a) },
    { serviceName: 'two', servicePath: '/two', serviceDomain: 'two.com', ...to(b) },
    { serviceName: 'one', servicePath: '/one,/uno', ...to(b) },
    { serviceName: 'three', servicePath: '/three', ...to(a), serviceHeader: 'X-V:3' },
    { serviceName: 'two', servicePath: '/two', ...to(b), timeoutServer: '7' },
    { serviceName: 'one', servicePath: '/one', ...to(b), replicas: '0' },
  ];
  for (const change of changes) {
    const before = await files();
    const dry = (await p.api('reconfigure', { ...change, dryRun: 'true' })).json as unknown as DryRun;
    const real = await p.api('reconfigure', change);
    t.is(real.status, 200, real.body);
    t.is((real.json.Applied as { Kind: string }).Kind, dry.Kind, JSON.stringify(change));
    const after = await files();
    const patched = { ...before };
    for (const patch of parsePatch(dry.Diff)) {
      const name = (patch.newFileName as string).replace(/^b\//, '');
      const result = applyPatch(before[name] ?? '', patch);
      t.not(result, false, `the diff of ${name} applies to the live file`);
      patched[name] = result as string;
    }
    t.deepEqual(patched, after, JSON.stringify(change));
  }
});

test('bad input: the dry run gives the status and message the real call gives, and the real call changes nothing either', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', ...to(a) })).status, 200);
  const cases: Array<[string, Record<string, string>, number]> = [
    ['reconfigure', { serviceName: 'x', servicePath: '/x', port: 'abc' }, 400],
    ['reconfigure', { servicePath: '/x', port: '1' }, 400],
    ['reconfigure', { serviceName: 'x', port: '1' }, 409],
    ['reconfigure', { serviceName: 'x', servicePath: '/x', port: '1', aclName: 'web' }, 400],
    ['reconfigure', { serviceName: 'x', servicePath: '/x', ...to(a), backendExtra: 'option bogus' }, 400],
    ['reconfigure', { serviceName: 'x', servicePath: '/x', ...to(a), reqMode: 'udp' }, 400],
    ['reconfigure', { serviceName: 'x', servicePath: '/x', ...to(a), serviceCert: 'not a certificate' }, 400],
    ['remove', {}, 400],
  ];
  for (const [endpoint, query, status] of cases) {
    const before = await observe(p);
    const dry = await p.api(endpoint, { ...query, dryRun: 'true' });
    t.deepEqual(await observe(p), before, 'the dry run changed nothing');
    const real = await p.api(endpoint, query);
    t.is(real.status, status, `${endpoint} ${JSON.stringify(query)}: ${real.body}`);
    t.is(dry.status, real.status, JSON.stringify(query));
    const { DryRun, ...rest } = dry.json;
    t.true(DryRun);
    t.deepEqual(rest, real.json, JSON.stringify(query));
    // The refused real call may leave an apply record ("no change"), nothing else.
    t.deepEqual({ ...(await observe(p)), applies: 0 }, { ...before, applies: 0 });
  }
  const refused = (await p.api('reconfigure', { serviceName: 'x', servicePath: '/x', ...to(a), backendExtra: 'option bogus', dryRun: 'true' })).json;
  t.regex(String(refused.Message), /HAProxy refused the configuration of service "x": .*unknown option 'bogus'/);
  const bad = await p.api('reconfigure', { serviceName: 'x', servicePath: '/x', port: '1', dryRun: 'maybe' });
  t.is(bad.status, 400);
  t.regex(String(bad.json.Message), /dryRun "maybe"/);
});

test('with API_TOKEN a dry run needs the token, as the real call does', async (t) => {
  const token = 'dry-run-token-0123456789';
  const p = await start({ API_TOKEN: token });
  const query = { serviceName: 'web', servicePath: '/web', ...to(a), dryRun: 'true' };
  t.is((await p.api('reconfigure', query)).status, 401);
  t.is((await p.api('remove', { serviceName: 'web', dryRun: 'true' })).status, 401);
  const ok = await p.api('reconfigure', query, { headers: { Authorization: `Bearer ${token}` } });
  t.is(ok.status, 200);
  t.is(ok.json.Kind, 'runtime');
  t.false(ok.body.includes(token));
});

test('a serviceCert in a dry run is checked but not stored; a new certificate means a reload, as the real call then does', async (t) => {
  const p = await start();
  t.is((await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', ...to(a) })).status, 200);
  const cert = makeCert(['web.example.com']);
  const query = { serviceName: 'web', servicePath: '/web', serviceDomain: 'web.example.com', ...to(a), serviceCert: cert.pem.replace(/\n/g, '\\n') };
  const dry = await p.api('reconfigure', { ...query, dryRun: 'true' });
  t.is(dry.status, 200, dry.body);
  t.is(dry.json.Kind, 'reload');
  t.false(dry.body.includes('PRIVATE KEY'));
  t.deepEqual((await p.api('certs')).json.Certs, [], 'nothing stored');
  const real = await p.api('reconfigure', query);
  t.is((real.json.Applied as { Kind: string }).Kind, 'reload');
  t.deepEqual(((await p.api('certs')).json.Certs as Array<{ ProxyServiceName: string }>).map((c) => c.ProxyServiceName), ['web.example.com']);
  // The same certificate again changes nothing.
  t.is((await p.api('reconfigure', { ...query, dryRun: 'true' })).json.Kind, 'none');
});
