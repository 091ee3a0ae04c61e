import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { request, type RequestOptions, type Response } from './http.js';
import { tempDir } from './tmp.js';
import { isLiveHaproxy, readPidFile, signal, waitGone } from '../../src/adapters/haproxy/pids.js';
import { NODE_ARGS } from '../../src/nodeArgs.js';

/** The build the tests run from (dist/ for a developer's build, .test-build/ under `npm test`). */
export const BUILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The repository root. */
export const ROOT = path.resolve(BUILD, '..');
/** flow-proxy's entry point in the same build as the tests. */
export const MAIN = path.join(BUILD, 'src', 'main.js');

export interface FlowProxy {
  apiPort: number;
  httpPort: number;
  dataDir: string;
  env: Record<string, string>;
  child: ChildProcess;
  output(): string;
  /** Calls an API endpoint with query parameters; `path` is relative to /v1/docker-flow-proxy. */
  api(endpoint: string, query?: Record<string, string> | string, init?: Partial<RequestOptions>): Promise<Response & { json: Record<string, unknown> }>;
  /** A request through HAProxy's HTTP frontend. */
  get(pathname: string, options?: Partial<RequestOptions>): Promise<Response>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL the control plane only (HAProxy keeps running). */
  kill(): Promise<void>;
  /** Stops HAProxy left behind by kill() (tests clean up after themselves). */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  dataDir?: string;
  httpPort?: number;
  apiPort?: number;
  /** Wait for the API (default true). */
  wait?: boolean;
  /** Start it through this command (e.g. nsenter into a network namespace). */
  wrap?: string[];
  /** Address the test reaches it at (default 127.0.0.1). */
  address?: string;
}

/** Starts `node dist/src/main.js` as `npm start` would, on free ports, with its own data directory. */
export async function startFlowProxy(options: StartOptions = {}): Promise<FlowProxy> {
  const dataDir = options.dataDir ?? tempDir('fp-test-');
  const apiPort = options.apiPort ?? (await freePort());
  const httpPort = options.httpPort ?? (await freePort());
  const env = { ...flowProxyEnv({ apiPort, httpPort, dataDir }), LOG_LEVEL: 'info', SPARE_BACKENDS: '8', ...options.env };
  const [command, ...prefix] = options.wrap ?? [];
  const child = command
    ? spawn(command, [...prefix, process.execPath, ...NODE_ARGS, MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [...NODE_ARGS, MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const address = options.address ?? '127.0.0.1';
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const proxy: FlowProxy = {
    apiPort,
    httpPort,
    dataDir,
    env,
    child,
    output: () => out,
    async api(endpoint, query = {}, init = {}) {
      const qs = typeof query === 'string' ? query : new URLSearchParams(query).toString();
      const res = await request({ port: apiPort, address, path: `/v1/docker-flow-proxy/${endpoint}${qs ? `?${qs}` : ''}`, ...init });
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(res.body) as Record<string, unknown>;
      } catch {
        // text endpoints
      }
      return { ...res, json };
    },
    get(pathname, opts = {}) {
      return request({ port: httpPort, address, path: pathname, ...opts });
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async cleanup() {
      // A live proxy stops its HAProxy itself (SIGTERM); a proxy killed earlier left HAProxy to the pid file.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const stopped = await Promise.race([exited.then(() => true), sleep(8000).then(() => false)]);
        if (!stopped) child.kill('SIGKILL');
      }
      await exited;
      const pid = masterPid(dataDir);
      if (pid !== undefined && isLiveHaproxy(pid)) {
        signal(pid, 'SIGTERM');
        await waitGone([pid], 2000);
      }
      started.delete(proxy);
    },
  };

  started.add(proxy);
  if (options.wait !== false) {
    await waitForApi(child, () => out, () => request({ port: apiPort, address, path: '/v1/docker-flow-proxy/ping', timeoutMs: 1000 }));
  }
  return proxy;
}

/** What every harness starts flow-proxy with: its ports on 127.0.0.1, its own data directory, quick stops. */
export function flowProxyEnv(o: { apiPort: number; httpPort: number; dataDir: string }): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    PORT: String(o.apiPort),
    IP: '127.0.0.1',
    DATA_DIR: o.dataDir,
    DEFAULT_PORTS: String(o.httpPort),
    SECRETS_DIR: path.join(o.dataDir, 'secrets'),
    STOP_GRACE: '1',
  };
}

/** Waits until `ping` answers 200; a process that exits, or is not up in time, fails with its output. */
export async function waitForApi(child: ChildProcess, output: () => string, ping: () => Promise<Response>, options: { timeoutMs?: number; gapMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`flow-proxy exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await ping()).status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`flow-proxy did not start:\n${output()}`);
    }
    await sleep(options.gapMs ?? 25);
  }
}

/** Every proxy this test process started and has not cleaned up. */
const started = new Set<FlowProxy>();

function masterPid(dataDir: string): number | undefined {
  return readPidFile(path.join(dataDir, 'haproxy', 'run', 'haproxy.pid'));
}

function stopHaproxy(dataDir: string): void {
  const pid = masterPid(dataDir);
  if (pid !== undefined && isLiveHaproxy(pid)) signal(pid, 'SIGTERM');
}

// If a test worker ends without its cleanup (a crash, a timeout), nothing it started is left running.
process.once('exit', () => {
  for (const p of started) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }
  for (const p of started) stopHaproxy(p.dataDir);
});

/** Waits for a condition; returns the last value for the assertion message. */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last) && Date.now() < deadline) {
    await sleep(25);
    last = await probe();
  }
  return last;
}
