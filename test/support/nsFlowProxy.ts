import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { DockerEngine } from './dockerEngine.js';
import { flowProxyEnv, MAIN, waitForApi } from './flowProxy.js';
import type { Response } from './http.js';
import { unixRequest } from './unixHttp.js';

/** flow-proxy running inside a Docker test namespace, reached through unix-socket forwarders. */
export interface NsFlowProxy {
  dataDir: string;
  child: ChildProcess;
  output(): string;
  /** An API endpoint, relative to /v1/docker-flow-proxy. */
  api(endpoint: string, query?: Record<string, string>): Promise<Response & { json: Record<string, unknown> }>;
  /** The Prometheus text of GET /metrics. */
  metrics(): Promise<string>;
  /** A request through HAProxy's HTTP frontend; rejects when nothing answers. */
  get(pathname: string, host?: string): Promise<Response>;
  /** The body, or the status code (or the error) when no backend answered. */
  answer(pathname: string, host?: string): Promise<string>;
  /** SIGTERM and wait (HAProxy stops with it). */
  stop(): Promise<void>;
}

export interface NsStartOptions {
  env?: Record<string, string>;
  /** Reuse a data directory (a restart). */
  dataDir?: string;
  apiPort?: number;
  httpPort?: number;
}

/** Starts `node dist/src/main.js` inside the engine's namespace with Docker discovery on. */
export async function startFlowProxyIn(engine: DockerEngine, options: NsStartOptions = {}): Promise<NsFlowProxy> {
  const apiPort = options.apiPort ?? 18080;
  const httpPort = options.httpPort ?? 18000;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(engine.dir, 'proxy-'));
  const env = { ...flowProxyEnv({ apiPort, httpPort, dataDir }), LOG_LEVEL: 'info', SPARE_BACKENDS: '8', DISCOVERY: 'docker', DOCKER_HOST: engine.dockerHost, ...options.env };
  const child = engine.spawnInside(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const apiSocket = await engine.forward(apiPort);
  const httpSocket = await engine.forward(httpPort);

  const proxy: NsFlowProxy = {
    dataDir,
    child,
    output: () => out,
    async metrics() {
      return (await unixRequest({ socketPath: apiSocket, path: '/metrics' })).body;
    },
    async api(endpoint, query = {}) {
      const qs = new URLSearchParams(query).toString();
      const res = await unixRequest({ socketPath: apiSocket, path: `/v1/docker-flow-proxy/${endpoint}${qs ? `?${qs}` : ''}` });
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(res.body) as Record<string, unknown>;
      } catch {
        // text endpoints
      }
      return { ...res, json };
    },
    get(pathname, host = 'any.test') {
      return unixRequest({ socketPath: httpSocket, path: pathname, host, timeoutMs: 5000 });
    },
    async answer(pathname, host) {
      try {
        const res = await proxy.get(pathname, host);
        return res.status === 200 ? res.body.trim() : String(res.status);
      } catch (e) {
        return `error: ${(e as Error).message}`;
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };

  await waitForApi(child, () => out, () => unixRequest({ socketPath: apiSocket, path: '/v1/docker-flow-proxy/ping', timeoutMs: 1000 }));
  return proxy;
}
