/**
 * A load generator run as its own process (inside a test's network
 * namespace): keep-alive clients and `Connection: close` clients send GETs
 * to one URL until SIGTERM, then print one JSON line with the counts.
 *
 *   node loadClient.js <port> <path> <keepAliveClients> <closeClients>
 */
import http from 'node:http';

const [portArg, path = '/', keepArg = '2', closeArg = '2'] = process.argv.slice(2);
const port = Number(portArg);
let running = true;
const counts = { total: 0, failed: 0, failures: {} as Record<string, number>, answers: {} as Record<string, number> };

function fail(kind: string): void {
  counts.failed++;
  counts.failures[kind] = (counts.failures[kind] ?? 0) + 1;
}

function once(agent: http.Agent | false): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers: agent ? {} : { Connection: 'close' }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        counts.total++;
        if (res.statusCode !== 200) fail(`status ${res.statusCode}`);
        else counts.answers[body.trim()] = (counts.answers[body.trim()] ?? 0) + 1;
        resolve();
      });
      res.on('error', (e: NodeJS.ErrnoException) => {
        counts.total++;
        fail(e.code ?? 'response error');
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      counts.total++;
      fail(e.code ?? e.message);
      resolve();
    });
  });
}

async function client(agent: http.Agent | false): Promise<void> {
  while (running) await once(agent);
}

const clients = [
  ...Array.from({ length: Number(keepArg) }, () => client(new http.Agent({ keepAlive: true, maxSockets: 1 }))),
  ...Array.from({ length: Number(closeArg) }, () => client(false)),
];
process.on('SIGTERM', () => {
  running = false;
});
process.stdout.write('started\n');
await Promise.all(clients);
process.stdout.write(`${JSON.stringify(counts)}\n`);
