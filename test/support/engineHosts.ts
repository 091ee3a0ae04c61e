import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { IMAGE, type DockerEngine } from './dockerEngine.js';
import { oneshotScript } from './webContainer.js';

/**
 * "Hosts" for the several-engines tests: each engine's network namespace is
 * joined to the proxy's namespace by a veth pair on a /30 of its own
 * (10.200.<index>.1 on the proxy's side, 10.200.<index>.2 on the engine's),
 * so every engine has an address of its own, as a host on a LAN would. The
 * addresses exist only inside namespaces the test created.
 */
export interface HostLink {
  /** The engine host's address, as the proxy reaches it. */
  hostIp: string;
  /** The proxy's address on this link. */
  proxyIp: string;
  /**
   * The host drops off the network without closing anything (its end of the
   * link goes down): packets to it vanish, open connections go silent.
   */
  cut(): void;
  heal(): void;
}

/** Joins `engine`'s namespace to `proxy`'s; the pair goes away with the namespaces. */
export function linkHost(proxy: DockerEngine, engine: DockerEngine, index: number): HostLink {
  const a = `v${process.pid % 100000}p${index}`;
  const b = `v${process.pid % 100000}e${index}`;
  const proxyIp = `10.200.${index}.1`;
  const hostIp = `10.200.${index}.2`;
  const pns = path.basename(proxy.netns);
  const ens = path.basename(engine.netns);
  execFileSync('ip', ['link', 'add', a, 'netns', pns, 'type', 'veth', 'peer', 'name', b, 'netns', ens]);
  execFileSync('ip', ['-n', pns, 'addr', 'add', `${proxyIp}/30`, 'dev', a]);
  execFileSync('ip', ['-n', ens, 'addr', 'add', `${hostIp}/30`, 'dev', b]);
  execFileSync('ip', ['-n', pns, 'link', 'set', a, 'up']);
  execFileSync('ip', ['-n', ens, 'link', 'set', b, 'up']);
  return {
    hostIp,
    proxyIp,
    cut: () => execFileSync('ip', ['-n', ens, 'link', 'set', b, 'down']),
    heal: () => execFileSync('ip', ['-n', ens, 'link', 'set', b, 'up']),
  };
}

/** A CA, a server certificate for dockerd at `ip`, and a client certificate in DOCKER_CERT_PATH's layout. */
export interface EngineCerts {
  /** For dockerd's --tlscacert, --tlscert, --tlskey. */
  server: { ca: string; cert: string; key: string };
  /** A directory with ca.pem, cert.pem and key.pem, for `certs=` of a DOCKER_HOSTS entry. */
  clientDir: string;
}

export function makeEngineCerts(dir: string, ip: string): EngineCerts {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', timeout: 30_000 });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=flow-proxy test engine CA', '-keyout', f('ca-key.pem'), '-out', f('ca.pem'));
  fs.writeFileSync(f('server.cnf'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`);
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${ip}`, '-keyout', f('server-key.pem'), '-out', f('server.csr'));
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-days', '2', '-extfile', f('server.cnf'), '-out', f('server-cert.pem'));
  fs.writeFileSync(f('client.cnf'), 'extendedKeyUsage=clientAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=flow-proxy', '-keyout', f('client-key.pem'), '-out', f('client.csr'));
  ssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-days', '2', '-extfile', f('client.cnf'), '-out', f('client-cert.pem'));
  const clientDir = f('client');
  fs.mkdirSync(clientDir, { mode: 0o700 });
  fs.copyFileSync(f('ca.pem'), path.join(clientDir, 'ca.pem'));
  fs.copyFileSync(f('client-cert.pem'), path.join(clientDir, 'cert.pem'));
  fs.copyFileSync(f('client-key.pem'), path.join(clientDir, 'key.pem'));
  return { server: { ca: f('ca.pem'), cert: f('server-cert.pem'), key: f('server-key.pem') }, clientDir };
}

export interface OneshotOn {
  name: string;
  service: string;
  path: string;
  port: number;
  /** What it answers (defaults to its name). */
  text?: string;
  /**
   * `host`: on the engine host's network, listening on all its addresses;
   * `published`: on a bridge network of the engine, its port published on
   * the host (`-p <port>:<port>`).
   */
  mode: 'host' | 'published';
}

/** A labelled oneshot-http container on `engine`; returns its id. */
export async function runOneshot(engine: DockerEngine, c: OneshotOn): Promise<string> {
  const labels = { 'com.df.notify': 'true', 'com.df.serviceName': c.service, 'com.df.servicePath': c.path, 'com.df.port': String(c.port) };
  const network = c.mode === 'host' ? ['--network', 'host'] : ['--network', await bridge(engine), '-p', `${c.port}:${c.port}`];
  return engine.docker([
    'run', '-d', ...network, '--name', c.name, '--stop-timeout', '2',
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    IMAGE, 'sh', '-c', oneshotScript(c.port, c.text ?? c.name, '0.0.0.0'),
  ]);
}

/** A user-defined bridge network on the engine (the harness starts dockerd without the default bridge). */
async function bridge(engine: DockerEngine): Promise<string> {
  const name = 'pub';
  const known = await engine.docker(['network', 'ls', '--filter', `name=^${name}$`, '--format', '{{.Name}}']);
  if (known.split('\n').includes(name)) return name;
  await engine.docker(['network', 'create', '--driver', 'bridge', name]);
  return name;
}

export interface LoadResult {
  total: number;
  failed: number;
  failures: Record<string, number>;
  answers: Record<string, number>;
}

const LOADER = path.join(path.dirname(new URL(import.meta.url).pathname), 'loadClient.js');

/**
 * Runs `work` while `keepAlive` keep-alive and `close` Connection: close
 * clients (test/support/loadClient.ts, inside `where`'s namespace) send GETs (or POSTs)
 * for `route` to HAProxy's port; returns their counts.
 */
export async function underLoad(where: DockerEngine, httpPort: number, route: string, work: () => Promise<void>, clients: { keepAlive: number; close: number; method?: 'GET' | 'POST' } = { keepAlive: 2, close: 2 }): Promise<LoadResult> {
  const child = where.spawnInside(process.execPath, [LOADER, String(httpPort), route, String(clients.keepAlive), String(clients.close), clients.method ?? 'GET'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!out.includes('started') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
  if (!out.includes('started')) {
    child.kill('SIGTERM');
    throw new Error(`the load client did not start: ${out}`);
  }
  await new Promise((r) => setTimeout(r, 500));
  try {
    await work();
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`the load client printed no result: ${out}`);
  return JSON.parse(line) as LoadResult;
}
