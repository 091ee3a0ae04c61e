import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

/** A Pebble ACME server and its DNS (pebble-challtestsrv) on 127.0.0.1, for tests and benchmarks. */
export interface Pebble {
  /** ACME_DIRECTORY. */
  directory: string;
  /** ACME_CA_FILE: the throwaway CA of Pebble's own HTTPS listener. */
  caFile: string;
  /** Pebble's root for the certificates it issues (management /roots/0). */
  root(): Promise<string>;
  /** Makes a name resolve to this address in the test DNS (127.0.0.1 by default). */
  setAddress(host: string, address: string): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Where Pebble validates HTTP-01: flow-proxy's HTTP port. */
  httpPort: number;
  /** certificateValidityPeriod in seconds (short-lived certificates for renewal tests). */
  validitySeconds?: number;
  /** Where Pebble validates TLS-ALPN-01 (default: a port nothing listens on). */
  tlsPort?: number;
  /** PEBBLE_AUTHZREUSE (percent); 0 makes every order validate again. */
  authzReuse?: number;
}

const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Whether the machine has Pebble (Debian's pebble package brings both binaries). */
export function havePebble(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v pebble && command -v pebble-challtestsrv'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A CA and a certificate for 127.0.0.1/localhost signed by it, made with openssl. */
function throwawayTls(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => path.join(dir, n);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=flow-proxy test CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run('x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('tls.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return { ca: f('ca.pem'), cert: f('tls.pem'), key: f('tls.key') };
}

export async function startPebble(o: PebbleOptions): Promise<Pebble> {
  const dir = tempDir('fp-pebble-');
  const tls = throwawayTls(dir);
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort, tlsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: tls.cert,
      privateKey: tls.key,
      httpPort: o.httpPort,
      tlsPort: o.tlsPort ?? tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(o.validitySeconds !== undefined && { certificateValidityPeriod: o.validitySeconds }),
    },
  };
  fs.writeFileSync(path.join(dir, 'pebble.json'), JSON.stringify(config));
  let out = '';
  const dns = spawn('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsMgmtPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pebble = spawn('pebble', ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: String(o.authzReuse ?? 0) },
  });
  for (const c of [dns, pebble]) {
    started.add(c);
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  }
  const ca = fs.readFileSync(tls.ca, 'utf8');
  const get = (port: number, p: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: p, ca, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
  const post = (p: string, body: unknown) => new Promise<number>((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port: dnsMgmtPort, path: p, method: 'POST', headers: { 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data);
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await get(acmePort, '/dir').then((r) => r.status === 200, () => false);
    const dnsUp = await post('/clear-a', { host: 'probe.test' }).then((s) => s === 200, () => false);
    if (up && dnsUp) break;
    if (Date.now() > deadline || pebble.exitCode !== null || dns.exitCode !== null) throw new Error(`pebble did not start:\n${out}`);
    await sleep(50);
  }
  return {
    directory: `https://127.0.0.1:${acmePort}/dir`,
    caFile: tls.ca,
    root: async () => (await get(mgmtPort, '/roots/0')).body,
    setAddress: async (host, address) => {
      await post('/clear-a', { host });
      const status = await post('/add-a', { host, addresses: [address] });
      if (status !== 200) throw new Error(`challtestsrv refused add-a ${host}: ${status}`);
    },
    output: () => out,
    stop: async () => {
      for (const c of [pebble, dns]) {
        if (c.exitCode === null && c.signalCode === null) {
          const exited = new Promise((resolve) => c.once('exit', resolve));
          c.kill('SIGTERM');
          await Promise.race([exited, sleep(3000)]);
          if (c.exitCode === null) c.kill('SIGKILL');
        }
        started.delete(c);
      }
    },
  };
}
