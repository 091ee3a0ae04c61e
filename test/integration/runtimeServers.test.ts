import path from 'node:path';
import test from 'ava';
import { cliCommand } from '../../src/adapters/haproxy/cli.js';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy } from '../support/http.js';
import { eventually, startFlowProxy, type FlowProxy } from '../support/flowProxy.js';

let backend: Backend;
let proxy: FlowProxy;

test.before(async () => {
  backend = await startBackend('b');
  proxy = await startFlowProxy();
});

test.after.always(async () => {
  await proxy?.cleanup();
  await backend?.close();
});

/** Rows of a HAProxy table (`show stat` CSV or a space separated `show servers ...`), keyed by backend/server. */
function rows(text: string, separator: string | RegExp): Map<string, Record<string, string>> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const headerLine = lines.find((l) => l.startsWith('#')) ?? '';
  const header = headerLine.replace(/^#\s*/, '').split(separator);
  const out = new Map<string, Record<string, string>>();
  for (const line of lines.filter((l) => !l.startsWith('#') && l.trim() !== '1')) {
    const f = line.trim().split(separator);
    const row = Object.fromEntries(header.map((h, i) => [h, f[i] ?? '']));
    const key = row.pxname !== undefined ? `${row.pxname}/${row.svname}` : row.be_name !== undefined ? `${row.be_name}/${row.srv_name}` : row['bkname/svname'] ?? '';
    out.set(key, row);
  }
  return out;
}

/** The settings of a server as HAProxy runs it: everything but names, ids, counters and timings. */
async function settingsOf(backendName: string, server: string): Promise<Record<string, string>> {
  const admin = path.join(proxy.dataDir, 'haproxy', 'run', 'admin.sock');
  const stat = rows(await cliCommand(admin, 'show stat'), ',').get(`${backendName}/${server}`);
  const state = rows(await cliCommand(admin, 'show servers state'), ' ').get(`${backendName}/${server}`);
  const conn = rows(await cliCommand(admin, 'show servers conn'), ' ').get(`${backendName}/${server}`);
  if (!stat || !state || !conn) throw new Error(`${backendName}/${server} not found`);
  const pick = (row: Record<string, string>, fields: string[]) => Object.fromEntries(fields.map((f) => [f, row[f] ?? '(absent)']));
  return {
    ...pick(stat, ['status', 'weight', 'slim', 'qlimit', 'throttle', 'tracked', 'type', 'check_status', 'mode', 'uweight', 'addr', 'cookie']),
    ...pick(state, ['srv_op_state', 'srv_admin_state', 'srv_uweight', 'srv_iweight', 'srv_check_state', 'srv_agent_state', 'srv_use_ssl', 'srv_check_port']),
    ...pick(conn, ['purge_delay', 'idle_lim']),
  };
}

test('a server added through the runtime API runs with exactly the settings of a server rendered in the config', async (t) => {
  // /stat has its own backend (timeoutServer): rendered at a reload. /dyn is a plain service: a spare backend and `add server`.
  const stat = await proxy.api('reconfigure', { serviceName: 'stat', servicePath: '/stat', port: String(backend.port), outboundHostname: '127.0.0.1', timeoutServer: '25' });
  const dyn = await proxy.api('reconfigure', { serviceName: 'dyn', servicePath: '/dyn', port: String(backend.port), outboundHostname: '127.0.0.1' });
  t.is((stat.json.Applied as { Kind: string }).Kind, 'reload');
  t.is((dyn.json.Applied as { Kind: string }).Kind, 'runtime');
  t.is(answeredBy(await proxy.get('/stat/x')), 'b');
  t.is(answeredBy(await proxy.get('/dyn/x')), 'b');
  const servers = (await proxy.api('services')).json.Services as Array<{ ServiceName: string; Servers: Array<{ Backend: string; Server: string }> }>;
  const of = (name: string) => servers.find((s) => s.ServiceName === name)?.Servers[0] as { Backend: string; Server: string };
  const rendered = of('stat');
  const added = of('dyn');
  t.regex(added.Backend, /^_spare_/, 'the runtime service sits in a spare backend');
  // Wait until both have been checked, so the comparison is of settled servers.
  const both = await eventually(async () => [await settingsOf(rendered.Backend, rendered.Server), await settingsOf(added.Backend, added.Server)] as const, ([a, b]) => a.check_status === b.check_status && a.status === b.status, 15_000);
  t.deepEqual(both[1], both[0]);
  // The idle connection pool (what made runtime-added services 2-4x slower) is on for both.
  t.is(both[1].idle_lim, '-1');
  t.not(both[1].purge_delay, '0');
});

test('runtime changes leave backend names a reload would not give; once changes settle, one reload makes them canonical', async (t) => {
  const p = await startFlowProxy({ env: { CONSOLIDATE_AFTER: '1' } });
  try {
    const first = await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', port: String(backend.port), outboundHostname: '127.0.0.1' });
    t.is((first.json.Applied as { Kind: string }).Kind, 'runtime');
    const backendOf = async () => ((await p.api('services')).json.Services as Array<{ ServiceName: string; Servers: Array<{ Backend: string }> }>).find((s) => s.ServiceName === 'web')?.Servers[0]?.Backend;
    t.regex((await backendOf()) ?? '', /^_spare_/, 'a plain new service first lives in a spare');
    const canonical = `web-be${backend.port}_0`;
    t.is(await eventually(backendOf, (b) => b === canonical, 10_000), canonical);
    const applies = (await p.api('services')).json.Applies as Array<{ Kind: string; Reason: string }>;
    t.true(applies.some((a) => a.Kind === 'reload' && /consolidation/.test(a.Reason)));
    t.is(answeredBy(await p.get('/web/x')), 'b');
    // A port change at run time keeps the old name until the next consolidation (docker-flow-swarm-listener's web-be80_0 case).
    const other = await startBackend('c');
    try {
      const moved = await p.api('reconfigure', { serviceName: 'web', servicePath: '/web', port: String(other.port), outboundHostname: '127.0.0.1' });
      t.is((moved.json.Applied as { Kind: string }).Kind, 'runtime');
      t.is(answeredBy(await p.get('/web/x')), 'c');
      t.is(await eventually(backendOf, (b) => b === `web-be${other.port}_0`, 10_000), `web-be${other.port}_0`);
      t.is(answeredBy(await p.get('/web/x')), 'c');
    } finally {
      await other.close();
    }
    // Settled: no more consolidation reloads.
    const count = ((await p.api('services')).json.Applies as unknown[]).length;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    t.is(((await p.api('services')).json.Applies as unknown[]).length, count);
  } finally {
    await p.cleanup();
  }
});
