import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { masterShowProc } from '../../src/adapters/haproxy/process.js';
import type { FlowProxy } from './flowProxy.js';
import { request } from './http.js';

/** What /certs says of an ACME name. */
export interface AcmeCertJson {
  ProxyServiceName: string;
  Names: string[];
  Issuer: string | null;
  NotAfter: string | null;
  Fingerprint256?: string;
  Acme: { State: string; Services: string[]; Reason?: string; NextAttempt?: string; RenewAt?: string };
}

export async function acmeCert(p: FlowProxy, domain: string): Promise<AcmeCertJson | undefined> {
  const res = await p.api('certs');
  return (res.json.Certs as AcmeCertJson[]).find((c) => c.Acme !== undefined && c.ProxyServiceName === domain);
}

/** A TLS handshake to 127.0.0.1:port for `servername`, verified against `ca` (the CA's root). */
export function verifiedHandshake(port: number, servername: string, ca: string): Promise<{ authorized: boolean; error?: string; fingerprint256?: string; issuer?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false, timeout: 5000 }, () => {
      const cert = socket.getPeerCertificate();
      const result = { authorized: socket.authorized, ...(socket.authorizationError && { error: String(socket.authorizationError) }), fingerprint256: cert.fingerprint256, issuer: String(cert.issuer?.CN ?? "") };
      socket.end();
      resolve(result);
    });
    socket.on('error', (e) => resolve({ authorized: false, error: e.message }));
    socket.on('timeout', () => {
      socket.destroy();
      resolve({ authorized: false, error: 'timeout' });
    });
  });
}

/** An HTTPS GET through the proxy, trusting only `ca`. */
export function httpsGet(port: number, servername: string, ca: string, pathname = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, timeout: 5000 }, () => {
      socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    let raw = '';
    socket.on('data', (d: Buffer) => (raw += d.toString()));
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
      resolve({ status, body: raw.slice(raw.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('error', reject);
  });
}

/** The worker PIDs and reload count of a flow-proxy's HAProxy (`show proc` on the master). */
export async function haproxyProc(p: FlowProxy): Promise<{ reloads: number; worker: number }> {
  const info = await masterShowProc(path.join(p.dataDir, 'haproxy', 'run', 'master.sock'));
  return { reloads: info.reloads, worker: info.workers[0]?.pid ?? 0 };
}

/** Applies that reloaded HAProxy, from /services. */
export async function reloadCount(p: FlowProxy): Promise<number> {
  const res = await p.api('services');
  return (res.json.Applies as Array<{ Kind: string }>).filter((a) => a.Kind === 'reload').length;
}

/** A raw keep-alive HTTP/1.1 connection: send requests one at a time, see whether it stays open. */
export class KeepAlive {
  private readonly socket: net.Socket;
  private buffer = '';
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => (this.buffer += d.toString()));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => (this.closed = true));
  }

  /** Sends a GET and waits for a complete answer (Content-Length); resolves with status and Connection header. */
  async get(host: string, pathname: string): Promise<{ status: number; connection: string }> {
    this.buffer = '';
    this.socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const deadline = Date.now() + 5000;
    for (;;) {
      const head = this.buffer.indexOf('\r\n\r\n');
      if (head >= 0) {
        const headers = this.buffer.slice(0, head);
        const length = Number(/content-length:\s*(\d+)/i.exec(headers)?.[1] ?? 0);
        if (this.buffer.length >= head + 4 + length) {
          return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0), connection: /connection:\s*(\S+)/i.exec(headers)?.[1]?.toLowerCase() ?? '' };
        }
      }
      if (this.closed || Date.now() > deadline) throw new Error(`no answer on the keep-alive connection (closed: ${this.closed})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The sum of a Prometheus counter or gauge over the label sets matching `labels`. */
export async function metric(p: FlowProxy, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = (await request({ port: p.apiPort, path: '/metrics' })).body;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})?\s+([-0-9.e+]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
