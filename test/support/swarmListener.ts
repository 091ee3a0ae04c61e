import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for docker-flow-swarm-listener's API on 127.0.0.1: `get-services`
 * answers the services the test sets (parameter maps, as the real listener
 * sends them) and `notify-services` is counted.
 */
export interface FakeListener {
  port: number;
  /** host:port, as LISTENER_ADDRESS takes it. */
  address: string;
  services: Array<Record<string, string>>;
  getServicesCalls: number;
  notifyCalls: number;
  close(): Promise<void>;
}

export async function startListener(services: Array<Record<string, string>> = [], port = 0): Promise<FakeListener> {
  const listener: FakeListener = {
    port: 0,
    address: '',
    services,
    getServicesCalls: 0,
    notifyCalls: 0,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/v1/docker-flow-swarm-listener/get-services')) {
      listener.getServicesCalls++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(listener.services));
    } else if (url.startsWith('/v1/docker-flow-swarm-listener/notify-services')) {
      listener.notifyCalls++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ Status: 'OK' }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  listener.port = (server.address() as AddressInfo).port;
  listener.address = `127.0.0.1:${listener.port}`;
  return listener;
}
