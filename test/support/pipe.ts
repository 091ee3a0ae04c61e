import type net from 'node:net';

/** Joins two sockets both ways: ends travel through the pipes (answers are never cut short); an error on either tears both down. */
export function joinSockets(client: net.Socket, upstream: net.Socket): void {
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.pipe(upstream);
  upstream.pipe(client);
}
