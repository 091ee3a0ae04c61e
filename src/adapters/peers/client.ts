import http from 'node:http';
import { FlowError } from '../../domain/errors.js';

export interface PeerRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface PeerResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP call to a peer's API (`host:port`), with a hard timeout. */
export function peerRequest(peer: string, req: PeerRequest): Promise<PeerResponse> {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(peer);
  if (!m) return Promise.reject(new FlowError('BAD_PEER', `bad peer address ${peer}`));
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: m[1],
        port: Number(m[2]),
        method: req.method,
        path: req.path,
        headers: { ...req.headers, ...(req.body !== undefined && { 'Content-Length': String(Buffer.byteLength(req.body)) }) },
        agent: false,
        timeout: req.timeoutMs,
        ...(req.signal && { signal: req.signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new FlowError('PEER_TIMEOUT', `peer ${peer} did not answer within ${req.timeoutMs} ms`)));
    r.on('error', (e) => reject(e));
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}
