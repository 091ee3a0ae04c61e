/**
 * 9. Automatic HTTPS: time from the reconfigure call to the first verified
 * TLS handshake for a new name, against Pebble, beside Caddy's time for the
 * same kind of site against the same Pebble in the same run (from `caddy
 * reload` adding the site).
 *
 *   node dist/bench/acme.js            BENCH_ACME_ROUNDS=5 (names per server)
 *
 * Needs `pebble` (with pebble-challtestsrv) and `caddy` (Debian packages).
 * Pebble validates on one HTTP port, so flow-proxy is measured first and
 * then Caddy on the same ports.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifiedHandshake } from '../test/support/acme.js';
import { startFlowProxy } from '../test/support/flowProxy.js';
import { startPebble } from '../test/support/pebble.js';
import { freePort } from '../test/support/ports.js';
import { tempDir } from '../test/support/tmp.js';
import { progress, runBench, track } from './support/cleanup.js';
import { envInt, fmt, summarize, table } from './support/stats.js';

/** Polls TLS handshakes for `name` every 5 ms until one verifies against `root`; returns ms since `t0`. */
async function firstVerified(port: number, name: string, root: string, t0: number, timeoutMs = 60_000): Promise<number> {
  for (;;) {
    const h = await verifiedHandshake(port, name, root);
    if (h.authorized) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`no verified handshake for ${name} within ${timeoutMs} ms (last: ${h.error})`);
    await sleep(5);
  }
}

runBench('acme', async () => {
  const rounds = envInt('BENCH_ACME_ROUNDS', 5);
  const http = await freePort();
  const https = await freePort();
  const pebble = await startPebble({ httpPort: http, tlsPort: https });
  track('pebble', () => pebble.stop());
  const root = await pebble.root();
  const web = await freePort();

  progress(`flow-proxy: ${rounds} new names`);
  const fp = await startFlowProxy({
    httpPort: http,
    env: { DEFAULT_PORTS: `127.0.0.1:${http},127.0.0.1:${https}:ssl`, DISCOVERY: 'none', ACME_EMAIL: 'bench@example.com', ACME_DIRECTORY: pebble.directory, ACME_CA_FILE: pebble.caFile },
  });
  const stopFp = track('flow-proxy', () => fp.cleanup());
  // The account is registered at start; the first measured name pays only for its order.
  await sleep(1000);
  const flow: number[] = [];
  for (let i = 1; i <= rounds; i++) {
    const name = `fp${i}.bench.test`;
    const t0 = performance.now();
    const res = await fp.api('reconfigure', { serviceName: `fp${i}`, serviceDomain: name, port: String(web), outboundHostname: '127.0.0.1', 'letsencrypt.host': name });
    if (res.status !== 200) throw new Error(`reconfigure failed: ${res.body}`);
    flow.push(await firstVerified(https, name, root, t0));
    progress(`  ${name}: ${fmt(flow[flow.length - 1])} ms`);
  }
  await stopFp();

  progress(`caddy: ${rounds} new names`);
  const dir = tempDir('fp-bench-caddy-');
  const admin = await freePort();
  const caddyfile = path.join(dir, 'Caddyfile');
  const sites: string[] = [];
  const write = () => fs.writeFileSync(caddyfile, [
    '{',
    `  admin 127.0.0.1:${admin}`,
    `  http_port ${http}`,
    `  https_port ${https}`,
    '  default_bind 127.0.0.1',
    '  email bench@example.com',
    `  acme_ca ${pebble.directory}`,
    `  acme_ca_root ${pebble.caFile}`,
    `  storage file_system ${path.join(dir, 'storage')}`,
    '  skip_install_trust',
    '  ocsp_stapling off',
    '}',
    `warmup.bench.test {\n  respond "ok"\n}`,
    ...sites.map((s) => `${s} {\n  respond "ok"\n}`),
    '',
  ].join('\n'));
  write();
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  const caddy = spawn('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let caddyOut = '';
  caddy.stdout.on('data', (d: Buffer) => (caddyOut += d.toString()));
  caddy.stderr.on('data', (d: Buffer) => (caddyOut += d.toString()));
  track('caddy', async () => {
    caddy.kill('SIGTERM');
    await sleep(300);
    if (caddy.exitCode === null) caddy.kill('SIGKILL');
  });
  // Caddy's account is registered with its first (warm-up) certificate, as flow-proxy's is at start.
  await firstVerified(https, 'warmup.bench.test', root, performance.now()).catch((e: unknown) => {
    throw new Error(`caddy: ${e instanceof Error ? e.message : String(e)}\n${caddyOut.slice(-3000)}`);
  });
  const caddyTimes: number[] = [];
  for (let i = 1; i <= rounds; i++) {
    const name = `caddy${i}.bench.test`;
    sites.push(name);
    write();
    const t0 = performance.now();
    const reload = spawnSync('caddy', ['reload', '--config', caddyfile, '--adapter', 'caddyfile', '--address', `127.0.0.1:${admin}`], { env, encoding: 'utf8' });
    if (reload.status !== 0) throw new Error(`caddy reload failed: ${reload.stderr}`);
    caddyTimes.push(await firstVerified(https, name, root, t0));
    progress(`  ${name}: ${fmt(caddyTimes[caddyTimes.length - 1])} ms`);
  }

  const f = summarize(flow);
  const c = summarize(caddyTimes);
  process.stdout.write(`\n## 9. Automatic HTTPS: new name to first verified TLS handshake (Pebble, ${rounds} names each)\n\n`);
  process.stdout.write(table(['server', 'from', 'n', 'median ms', 'min', 'max'], [
    ['flow-proxy', 'reconfigure call', f.n, fmt(f.median), fmt(f.min), fmt(f.max)],
    ['Caddy 2.6.2', '`caddy reload`', c.n, fmt(c.median), fmt(c.min), fmt(c.max)],
  ]));
  process.stdout.write(`\nflow-proxy / Caddy median: ${fmt(f.median / c.median, 2)} (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
  process.stdout.write(`RESULT ${JSON.stringify({ flowProxy: flow, caddy: caddyTimes })}\n`);
});
