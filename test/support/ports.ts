import net from 'node:net';

const taken = new Set<number>();

/**
 * A TCP port that was free on every address a moment ago. It is picked at
 * random below Linux's ephemeral range (32768+), so that outgoing
 * connections of the many processes a test run starts never take it in the
 * meantime, and never handed out twice by this process.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (taken.has(port)) continue;
    if (await bindable(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port found');
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/** Is anything listening on this port (IPv4, any address)? */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
