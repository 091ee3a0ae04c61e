import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isLiveHaproxy, readPidFile, signal, waitGone } from '../../src/adapters/haproxy/pids.js';
import { masterShowProc } from '../../src/adapters/haproxy/process.js';
import { NODE_ARGS } from '../../src/nodeArgs.js';
import { FileStore } from '../../src/adapters/store/fileStore.js';
import { request, type RequestOptions, type Response } from '../../test/support/http.js';
import { flowProxyEnv, waitForApi } from '../../test/support/flowProxy.js';
import { freePort } from '../../test/support/ports.js';
import { track } from './cleanup.js';

export const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main.js');

/** A service as stored by the API: its canonical reconfigure parameters. */
export type Params = Record<string, string>;

export interface ProcMemory {
  pid: number;
  rssMb: number;
  /** Peak RSS of the process so far (VmHWM). */
  peakMb: number;
  /** RSS in anonymous pages (heap, malloc), without the file pages of the node binary and libraries. */
  anonMb: number;
}

export interface HaproxyInfo {
  masterPid: number;
  reloads: number;
  failed: number;
  master: ProcMemory | undefined;
  /** Current worker first, then old ones still finishing. */
  workers: ProcMemory[];
}

export interface ApiResponse extends Response {
  json: Record<string, unknown>;
}

export interface BenchProxy {
  apiPort: number;
  httpPort: number;
  dataDir: string;
  child: ChildProcess;
  /** Milliseconds from spawning `node dist/src/main.js` to the API answering (stored services live). */
  startMs: number;
  api(endpoint: string, query?: Params, init?: Partial<RequestOptions>): Promise<ApiResponse>;
  /** One request through HAProxy on a new connection. */
  get(pathname: string, options?: Partial<RequestOptions>): Promise<Response>;
  /** Control-plane (Node) memory. */
  memory(): ProcMemory | undefined;
  haproxy(): Promise<HaproxyInfo>;
  /** Applies recorded by the engine (GET /services, last 50). */
  applies(): Promise<Array<{ Id: number; Kind: string; Reason: string; DurationMs: number }>>;
  output(): string;
  stop(): Promise<void>;
}

export interface ProxyOptions {
  /** Services stored before the start (restored with one apply, much faster than API calls). */
  services?: Params[];
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /** Extra node arguments; BENCH_CPU_PROF=<dir> adds `--cpu-prof --cpu-prof-dir <dir>` to every flow-proxy started. */
  nodeArgs?: string[];
  /** Fixed ports (replicas must know each other's API port before they start); free ones otherwise. */
  apiPort?: number;
  httpPort?: number;
  /** A data directory the caller owns (kept when this proxy stops, so that it can be started again on it). */
  dataDir?: string;
}

/** Plain HTTP services `/<prefix>NNNNN` → 127.0.0.1:port, the shape most docker-flow-proxy services have. */
export function plainServices(count: number, port: number, prefix = 'svc'): Params[] {
  const width = Math.max(5, String(count).length);
  return Array.from({ length: count }, (_, i) => {
    const name = `${prefix}${String(i).padStart(width, '0')}`;
    return { serviceName: name, servicePath: `/${name}`, port: String(port), outboundHostname: '127.0.0.1' };
  });
}

/**
 * Starts flow-proxy as `npm start` runs it (`node dist/src/main.js`), on
 * free 127.0.0.1 ports, with its own DATA_DIR holding `services`.
 */
export async function startBenchProxy(options: ProxyOptions = {}): Promise<BenchProxy> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fp-bench-'));
  const forgetDir = options.dataDir === undefined ? track(`data dir ${dataDir}`, () => fs.rmSync(dataDir, { recursive: true, force: true })) : async () => {};
  if (options.services && options.services.length > 0) {
    await new FileStore(dataDir).save({ version: 1, services: options.services.map((params) => ({ owner: 'api' as const, params })) });
  }
  const apiPort = options.apiPort ?? (await freePort());
  const httpPort = options.httpPort ?? (await freePort());
  const env = { ...flowProxyEnv({ apiPort, httpPort, dataDir }), DISCOVERY: 'none', LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', ...options.env, ...extraEnv() };
  const started = performance.now();
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  // BENCH_NODE_ARGS="--flag --other": node options to try beside flow-proxy's own (NODE_ARGS).
  const tried = words('BENCH_NODE_ARGS');
  const child = spawn(process.execPath, [...NODE_ARGS, ...tried, ...profile, ...(options.nodeArgs ?? []), MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // Keep only the tail of the output: long runs log a lot.
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 256 * 1024) out = out.slice(-128 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const files = { masterSocket: path.join(dataDir, 'haproxy', 'run', 'master.sock'), pidFile: path.join(dataDir, 'haproxy', 'run', 'haproxy.pid') };

  let stopped = false;
  const stopNow = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    // If the control plane could not stop HAProxy, stop the master ourselves (it takes its workers along).
    const master = readPidFile(files.pidFile);
    if (master !== undefined && isLiveHaproxy(master)) {
      signal(master, 'SIGTERM');
      if (!(await waitGone([master], 5000, isLiveHaproxy))) signal(master, 'SIGKILL');
      await waitGone([master], 2000, isLiveHaproxy);
    }
  };
  const forgetProcess = track(`flow-proxy ${dataDir}`, stopNow);

  await waitForApi(child, () => out.slice(-4000), () => request({ port: apiPort, path: '/v1/docker-flow-proxy/ping', timeoutMs: 1000 }), { timeoutMs: options.startTimeoutMs ?? 600_000, gapMs: 20 });
  const startMs = performance.now() - started;

  const proxy: BenchProxy = {
    apiPort,
    httpPort,
    dataDir,
    child,
    startMs,
    async api(endpoint, query = {}, init = {}) {
      const qs = new URLSearchParams(query).toString();
      const res = await request({ port: apiPort, path: `/v1/docker-flow-proxy/${endpoint}${qs ? `?${qs}` : ''}`, timeoutMs: 300_000, ...init });
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(res.body) as Record<string, unknown>;
      } catch {
        // text endpoints
      }
      return { ...res, json };
    },
    get: (pathname, opts = {}) => request({ port: httpPort, path: pathname, ...opts }),
    memory: () => (child.pid === undefined ? undefined : procMemory(child.pid)),
    async haproxy() {
      const info = await masterShowProc(files.masterSocket);
      return {
        masterPid: info.masterPid,
        reloads: info.reloads,
        failed: info.failed,
        master: procMemory(info.masterPid),
        workers: info.workers.map((w) => procMemory(w.pid)).filter((m): m is ProcMemory => m !== undefined),
      };
    },
    async applies() {
      return ((await proxy.api('services')).json.Applies ?? []) as Array<{ Id: number; Kind: string; Reason: string; DurationMs: number }>;
    },
    output: () => out,
    async stop() {
      await forgetProcess();
      await forgetDir();
    },
  };
  return proxy;
}

/** The space-separated words of an environment variable (none when unset). */
function words(name: string): string[] {
  return (process.env[name] ?? '').split(/\s+/).filter((w) => w !== '');
}

/** BENCH_PROXY_ENV="NAME=value NAME2=value2": more environment for every flow-proxy a benchmark starts (MALLOC_ARENA_MAX=2, say). */
function extraEnv(): Record<string, string> {
  return Object.fromEntries(words('BENCH_PROXY_ENV').map((p) => {
    const at = p.indexOf('=');
    if (at <= 0) throw new Error(`BENCH_PROXY_ENV: "${p}" is not NAME=value`);
    return [p.slice(0, at), p.slice(at + 1)];
  }));
}

/** A keep-alive agent for API calls (one per benchmark; destroyed by cleanup). */
export function apiAgent(maxSockets = 1000): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  track('api agent', () => agent.destroy());
  return agent;
}

let ticksPerSecond: number | undefined;

/** User + system CPU seconds of a process so far (/proc/<pid>/stat fields 14 and 15; an exec keeps them). */
export function cpuSeconds(pid: number): number {
  ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

export function procMemory(pid: number): ProcMemory | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    const rss = kb('VmRSS');
    // A process that is exiting (or a zombie) has no VmRSS line any more.
    return Number.isNaN(rss) ? undefined : { pid, rssMb: rss / 1024, peakMb: kb('VmHWM') / 1024, anonMb: kb('RssAnon') / 1024 };
  } catch {
    return undefined;
  }
}

/** Polls `probe` on new connections back to back (or `gapMs` apart) until it returns true; resolves with the time it did (performance.now()). */
export async function pollUntil(probe: () => Promise<boolean>, timeoutMs: number, gapMs = 0): Promise<{ at: number; polls: number; errors: number }> {
  const deadline = performance.now() + timeoutMs;
  let polls = 0;
  let errors = 0;
  while (performance.now() < deadline) {
    polls++;
    try {
      if (await probe()) return { at: performance.now(), polls, errors };
    } catch {
      errors++;
    }
    if (gapMs > 0) await sleep(gapMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms (${polls} polls, ${errors} errors)`);
}
