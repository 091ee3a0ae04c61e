import fs from 'node:fs';
import net from 'node:net';
import { joinSockets } from './pipe.js';

/**
 * Run inside a test network namespace: `node unixForwarder.js SOCKET HOST PORT`
 * forwards every connection on the unix socket to HOST:PORT. Unix sockets are
 * not network-namespaced, so the test process (outside) reaches the proxy's
 * ports (inside) through them.
 */
const [socketPath, host, port] = process.argv.slice(2);
if (!socketPath || !host || !port) {
  process.stderr.write('usage: unixForwarder SOCKET HOST PORT\n');
  process.exit(2);
}
fs.rmSync(socketPath, { force: true });
const server = net.createServer((client) => {
  joinSockets(client, net.connect(Number(port), host));
});
server.listen(socketPath);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
