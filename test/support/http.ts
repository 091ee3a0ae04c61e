import http from 'node:http';

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  port: number;
  /** Address to connect to (default 127.0.0.1). */
  address?: string;
  path?: string;
  method?: string;
  host?: string;
  headers?: Record<string, string>;
  body?: string;
  agent?: http.Agent | false;
  timeoutMs?: number;
}

/** One real HTTP request to 127.0.0.1, on a new connection unless an agent is given. */
export function request(options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.host !== undefined) headers.Host = options.host;
  return send(
    {
      host: options.address ?? '127.0.0.1',
      port: options.port,
      path: options.path ?? '/',
      method: options.method ?? 'GET',
      headers,
      agent: options.agent ?? false,
      timeout: options.timeoutMs ?? 10_000,
    },
    options.body,
  );
}

/** Sends one request as `http.request` options describe it and reads the whole answer. */
export function send(init: http.RequestOptions, body?: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(init, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${init.path} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Which test backend answered, from the JSON body the backends send. */
export function answeredBy(res: Response): string | undefined {
  try {
    return (JSON.parse(res.body) as { backend?: string }).backend;
  } catch {
    return undefined;
  }
}

export interface TlsRequestOptions extends RequestOptions {
  servername?: string;
  /** Client certificate and key (PEM), for client certificate tests. */
  cert?: string;
  key?: string;
}

/** One HTTPS request to 127.0.0.1 (certificate not verified); also returns the server certificate's subject CN. */
export async function requestTls(options: TlsRequestOptions): Promise<Response & { peerCN?: string }> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.host !== undefined) headers.Host = options.host;
    const req = https.request(
      {
        host: '127.0.0.1',
        port: options.port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers,
        agent: false,
        rejectUnauthorized: false,
        ...(options.servername !== undefined && { servername: options.servername }),
        ...(options.cert !== undefined && { cert: options.cert, key: options.key }),
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ...(peer?.subject?.CN && { peerCN: String(peer.subject.CN) }) }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('TLS request timed out')));
    req.on('error', reject);
    req.end();
  });
}
