import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface Backend {
  name: string;
  port: number;
  /** Requests this backend received, in order. */
  seen: Seen[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that answers every request with JSON naming itself and echoing the request. */
export async function startBackend(name: string, port = 0): Promise<Backend> {
  const seen: Seen[] = [];
  // Answers requests without a Host header too (Node refuses HTTP/1.1 ones by default), as a proxied service may get them.
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(entry);
    req.resume();
    req.on('end', async () => {
      const delay = /[?&]delay=(\d+)/.exec(entry.url);
      if (delay) await new Promise((r) => setTimeout(r, Number(delay[1])));
      const pad = /[?&]pad=(\d+)/.exec(entry.url);
      const body = JSON.stringify({ backend: name, ...entry, ...(pad && { pad: 'x'.repeat(Number(pad[1])) }) });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
