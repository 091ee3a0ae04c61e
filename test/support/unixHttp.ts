import { send, type Response } from './http.js';

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
  return send({
    socketPath: options.socketPath,
    path: options.path ?? '/',
    method: options.method ?? 'GET',
    headers: { Host: options.host ?? 'localhost', ...(options.headers ?? {}) },
    agent: false,
    timeout: options.timeoutMs ?? 10_000,
  });
}
