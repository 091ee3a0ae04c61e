import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { track } from './cleanup.js';

/** A minimal HTTP backend on 127.0.0.1 answering every request with its name (keep-alive, no bookkeeping). */
export interface FastBackend {
  name: string;
  port: number;
  /** Requests answered so far (in-process backends only). */
  count(): number;
  close(): Promise<void>;
}

/** Starts a backend in this process: fine for latency probes, not for load (it would share our event loop). */
export async function startFastBackend(name: string, port = 0): Promise<FastBackend> {
  const body = `${name}\n`;
  let answered = 0;
  const server = http.createServer((req, res) => {
    answered++;
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  track(`backend ${name}`, close);
  return { name, port: (server.address() as AddressInfo).port, count: () => answered, close };
}

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'backendMain.js');

/** Starts a backend in its own Node process (one core of its own, as a real service would have). */
export async function spawnBackend(name: string): Promise<FastBackend & { child: ChildProcess }> {
  // stdin is a pipe only so that the backend notices when we are gone (even after SIGKILL) and exits.
  const child = spawn(process.execPath, [MAIN, name], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`backend ${name} exited with ${code}`)));
  });
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  track(`backend process ${name}`, close);
  return { name, port, child, count: () => Number.NaN, close };
}
