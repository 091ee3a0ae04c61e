/**
 * A load generator run as its own process (inside a test's network
 * namespace): keep-alive clients and `Connection: close` clients send GETs
 * (or POSTs with a small body, which a proxy must not replay) to one URL
 * until SIGTERM, then print one JSON line with the counts.
 *
 *   node loadClient.js <port> <path> <keepAliveClients> <closeClients> [GET|POST]
 */
import http from 'node:http';

const [portArg, path = '/', keepArg = '2', closeArg = '2', method = 'GET'] = process.argv.slice(2);
const BODY = 'order=1';
const port = Number(portArg);
let running = true;
const counts = { total: 0, failed: 0, failures: {} as Record<string, number>, answers: {} as Record<string, number> };
const latencies: number[] = [];

function fail(kind: string): void {
  counts.failed++;
  counts.failures[kind] = (counts.failures[kind] ?? 0) + 1;
}

function once(agent: http.Agent | false): Promise<void> {
  const started = performance.now();
  return new Promise<void>((resolve) => {
    const headers: http.OutgoingHttpHeaders = { ...(agent ? {} : { Connection: 'close' }), ...(method === 'POST' && { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': BODY.length }) };
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers, timeout: 10_000 }, (res) => {
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
    req.end(method === 'POST' ? BODY : undefined);
  }).then(() => void latencies.push(performance.now() - started));
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number);
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
const sorted = latencies.sort((a, b) => a - b);
const round = (ms: number) => Math.round(ms * 100) / 100;
process.stdout.write(`${JSON.stringify({ ...counts, latencyMs: { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1] ?? 0) } })}\n`);
