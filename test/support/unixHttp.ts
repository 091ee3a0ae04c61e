import http from 'node:http';
import type { Response } from './http.js';

export interface UnixRequestOptions {
  socketPath: string;
  path?: string;
  method?: string;
  host?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One real HTTP request over a unix socket (a forwarder into a test network namespace), on a new connection. */
export function unixRequest(options: UnixRequestOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: options.socketPath,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: { Host: options.host ?? 'localhost', ...(options.headers ?? {}) },
        agent: false,
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${options.path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
