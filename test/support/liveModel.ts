/**
 * Model-based testing of "a change is live when the API answers, and stays
 * live": random sequences of API changes and discovery syncs, sent back to
 * back (or with short waits), each followed by a check through a real
 * HAProxy that every service answers from exactly its current servers,
 * removed services answer 503, `/config?type=json` agrees and HAProxy runs
 * exactly the servers of the live config. Used by the test in
 * test/integration/staysLive.test.ts and by bench/liveModel.ts (long runs).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { dockerSync, type DockerContainer } from '../../src/adapters/docker/labels.js';
import { silentLog } from '../../src/core/log.js';
import { parseContext, startProxy, type Proxy } from '../../src/proxy.js';
import { loadSettings } from '../../src/settings.js';
import { dataPlaneProblems } from './dataPlaneCheck.js';
import { answeredBy, request } from './http.js';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

export const API_SERVICES = ['a0', 'a1'] as const;
export const DOCKER_SERVICES = ['d0', 'd1'] as const;
export const HOSTS = ['127.0.0.1', '127.0.0.2'] as const;
const POOL_SIZE = 5;
const AUTH = `Basic ${Buffer.from('u:p').toString('base64')}`;

/** A backend that answers with its name on the same port of 127.0.0.1 and 127.0.0.2 (so host changes are real). */
interface PoolBackend {
  name: string;
  port: number;
  close(): Promise<void>;
}

async function startPoolBackend(name: string): Promise<PoolBackend> {
  const handler: http.RequestListener = (req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ backend: name, url: req.url });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  };
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const servers = HOSTS.map(() => http.createServer(handler));
    try {
      await Promise.all(servers.map((s, i) => new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, HOSTS[i], () => resolve());
      })));
      for (const s of servers) s.keepAliveTimeout = 60_000;
      return {
        name,
        port,
        close: async () => {
          await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          })));
        },
      };
    } catch (e) {
      for (const s of servers) s.close();
      if (attempt > 20) throw e;
    }
  }
}

/** Options that change a service's backend (so they need a reload) but not what a GET with credentials gets. */
export const OPTIONS: ReadonlyArray<Record<string, string>> = [
  {},
  { timeoutServer: '17' },
  { timeoutServer: '23' },
  { users: 'u:p' },
  { allowedMethods: 'GET,POST' },
  { deniedMethods: 'DELETE' },
  { connectionMode: 'http-server-close' },
  { addResHeader: 'X-Model yes' },
];

export interface ApiService {
  backend: number;
  host: (typeof HOSTS)[number];
  indexed: boolean;
  option: number;
}

export interface Container {
  id: string;
  backend: number;
}

export interface DockerService {
  containers: Container[];
  option: number;
}

/** What the desired state is, as the test's model keeps it. */
export interface ModelState {
  api: Map<string, ApiService>;
  docker: Map<string, DockerService>;
  /** Containers that were stopped and may start again (same id, as `docker start` does). */
  stopped: Container[];
  steps: number;
}

/** The system under test: a flow-proxy in this process (its engine's sync is how discovery scales), a pool of backends. */
export interface Rig {
  proxy: Proxy;
  httpPort: number;
  pool: PoolBackend[];
  api(endpoint: string, query: Record<string, string>): Promise<{ status: number; body: string }>;
  syncDocker(model: ModelState): Promise<{ ok: boolean; message: string }>;
  stop(): Promise<void>;
}

export async function startRig(pool?: PoolBackend[]): Promise<Rig> {
  const backends = pool ?? (await Promise.all(Array.from({ length: POOL_SIZE }, (_, i) => startPoolBackend(`b${i}`))));
  const dataDir = tempDir('fp-model-');
  const httpPort = await freePort();
  const env = { DATA_DIR: dataDir, PORT: '0', IP: '127.0.0.1', DEFAULT_PORTS: String(httpPort), DISCOVERY: 'none', SECRETS_DIR: path.join(dataDir, 'secrets'), STOP_GRACE: '1', SPARE_BACKENDS: '4' };
  const loaded = loadSettings(env);
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  const proxy = await startProxy({ settings: loaded.settings, env, log: silentLog });
  const ctx = parseContext(loaded.settings);
  const agent = new http.Agent({ keepAlive: false });
  return {
    proxy,
    httpPort,
    pool: backends,
    async api(endpoint, query) {
      const r = await request({ port: proxy.port, path: `/v1/docker-flow-proxy/${endpoint}?${new URLSearchParams(query).toString()}`, agent, timeoutMs: 60_000 });
      return { status: r.status, body: r.body };
    },
    async syncDocker(model) {
      const containers: DockerContainer[] = [];
      for (const [name, d] of model.docker) {
        for (const c of d.containers) {
          containers.push({
            id: c.id,
            name: `${name}-${c.id}`,
            labels: { 'com.df.notify': 'true', 'com.df.serviceName': name, 'com.df.servicePath': `/${name}`, 'com.df.port': String(backends[c.backend]?.port), ...labelsOf(OPTIONS[d.option] ?? {}) },
            state: 'running',
            health: 'none',
            networkMode: 'host',
            networks: [],
            ports: [],
            created: Number(c.id.slice(1)),
          });
        }
      }
      const { entries } = dockerSync({ containers, services: [] }, { notifyLabel: 'com.df.notify', parseContext: ctx });
      return proxy.engine.submit({ kind: 'sync', owner: 'docker', entries }, 'model');
    },
    async stop() {
      await proxy.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (!pool) await Promise.all(backends.map((b) => b.close()));
    },
  };
}

export function startPool(): Promise<PoolBackend[]> {
  return Promise.all(Array.from({ length: POOL_SIZE }, (_, i) => startPoolBackend(`b${i}`)));
}

function labelsOf(option: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(option).map(([k, v]) => [`com.df.${k}`, v]));
}

export function emptyModel(): ModelState {
  return { api: new Map(), docker: new Map(), stopped: [], steps: 0 };
}

/** The query a reconfigure of this API service sends. */
export function reconfigureQuery(name: string, s: ApiService, pool: readonly PoolBackend[]): Record<string, string> {
  const port = String(pool[s.backend]?.port);
  const dest: Record<string, string> = s.indexed ? { 'servicePath.1': `/${name}`, 'port.1': port } : { servicePath: `/${name}`, port };
  return { serviceName: name, outboundHostname: s.host, ...dest, ...(OPTIONS[s.option] ?? {}) };
}

/**
 * Checks the invariant against the model: every live service answers from
 * exactly its servers, every other one 503, `/config?type=json` lists the
 * live ones, and HAProxy runs exactly the servers of the live config.
 */
export async function checkInvariant(rig: Rig, model: ModelState): Promise<string[]> {
  const problems: string[] = [];
  const get = (p: string) => request({ port: rig.httpPort, path: p, headers: { Authorization: AUTH } });
  for (const name of API_SERVICES) {
    const s = model.api.get(name);
    for (let i = 0; i < 2; i++) {
      const r = await get(`/${name}/x`);
      if (!s) {
        if (r.status !== 503) problems.push(`${name} was removed but answered ${r.status} ${answeredBy(r) ?? ''}`);
        break;
      }
      const want = rig.pool[s.backend]?.name;
      if (r.status !== 200 || answeredBy(r) !== want) problems.push(`${name} should answer from ${want} but answered ${r.status} ${answeredBy(r) ?? r.body.slice(0, 80)}`);
    }
  }
  for (const name of DOCKER_SERVICES) {
    const d = model.docker.get(name);
    const want = new Set((d?.containers ?? []).map((c) => rig.pool[c.backend]?.name as string));
    if (want.size === 0) {
      const r = await get(`/${name}/x`);
      if (r.status !== 503) problems.push(`${name} has no container but answered ${r.status} ${answeredBy(r) ?? ''}`);
      continue;
    }
    const seen = new Set<string>();
    const servers = d?.containers.length ?? 0;
    for (let i = 0; i < 3 * servers + 2 && seen.size < want.size; i++) {
      const r = await get(`/${name}/x`);
      const by = answeredBy(r);
      if (r.status !== 200 || by === undefined) {
        problems.push(`${name} answered ${r.status} ${r.body.slice(0, 80)}`);
        break;
      }
      if (!want.has(by)) problems.push(`${name} answered from ${by}, which is not one of its servers (${[...want].join(', ')})`);
      seen.add(by);
    }
    if (seen.size < want.size) problems.push(`${name} never answered from ${[...want].filter((w) => !seen.has(w)).join(', ')}`);
  }
  const json = JSON.parse((await rig.api('config', { type: 'json' })).body) as Record<string, { State: string; ServiceDest: Array<{ Port: string }> }>;
  const live = [...model.api.keys(), ...[...model.docker].filter(([, d]) => d.containers.length > 0).map(([n]) => n)].sort();
  if (JSON.stringify(Object.keys(json).sort()) !== JSON.stringify(live)) problems.push(`/config?type=json lists ${Object.keys(json).sort().join(',')} instead of ${live.join(',')}`);
  for (const [name, s] of model.api) {
    const port = json[name]?.ServiceDest[0]?.Port;
    if (port !== String(rig.pool[s.backend]?.port)) problems.push(`/config?type=json gives ${name} port ${port}`);
    if (json[name] && json[name].State !== 'live') problems.push(`/config?type=json: ${name} is ${json[name].State}`);
  }
  const engine = rig.proxy.engine;
  const config = engine.liveConfig?.config ?? '';
  problems.push(...(await dataPlaneProblems(config.split('\u0001MAPS\u0001').join('maps'), rig.proxy.dataPlane.files.adminSocket)));
  return problems;
}

type Cmd = fc.AsyncCommand<ModelState, Rig, false>;

async function verify(model: ModelState, rig: Rig, what: string): Promise<void> {
  model.steps++;
  const problems = await checkInvariant(rig, model);
  if (problems.length > 0) throw new Error(`after ${what}: ${problems.join('; ')}`);
}

async function expectOk(r: { status: number; body: string }, what: string): Promise<void> {
  if (r.status !== 200) throw new Error(`${what} answered ${r.status}: ${r.body}`);
}

class Reconfigure implements Cmd {
  constructor(readonly name: string, readonly service: ApiService) {}
  check() {
    return true;
  }
  async run(model: ModelState, rig: Rig) {
    await expectOk(await rig.api('reconfigure', reconfigureQuery(this.name, this.service, rig.pool)), this.toString());
    model.api.set(this.name, this.service);
    await verify(model, rig, this.toString());
  }
  toString() {
    const s = this.service;
    return `reconfigure(${this.name} -> b${s.backend}@${s.host}${s.indexed ? ' indexed' : ''}${s.option ? ` ${JSON.stringify(OPTIONS[s.option])}` : ''})`;
  }
}

class Remove implements Cmd {
  constructor(readonly name: string, readonly viaReplicas: boolean) {}
  check() {
    return true;
  }
  async run(model: ModelState, rig: Rig) {
    const query: Record<string, string> = this.viaReplicas ? { serviceName: this.name, servicePath: `/${this.name}`, port: '1', replicas: '0' } : { serviceName: this.name };
    await expectOk(await rig.api(this.viaReplicas ? 'reconfigure' : 'remove', query), this.toString());
    model.api.delete(this.name);
    await verify(model, rig, this.toString());
  }
  toString() {
    return `${this.viaReplicas ? 'replicas=0' : 'remove'}(${this.name})`;
  }
}

/** Two changes of different services at once (their order does not matter). */
class Together implements Cmd {
  constructor(readonly a: Reconfigure, readonly b: Reconfigure | Remove) {}
  check() {
    return this.a.name !== this.b.name;
  }
  async run(model: ModelState, rig: Rig) {
    const send = (c: Reconfigure | Remove) => (c instanceof Reconfigure
      ? rig.api('reconfigure', reconfigureQuery(c.name, c.service, rig.pool))
      : rig.api('remove', { serviceName: c.name }));
    const [ra, rb] = await Promise.all([send(this.a), send(this.b)]);
    await expectOk(ra, this.a.toString());
    await expectOk(rb, this.b.toString());
    model.api.set(this.a.name, this.a.service);
    if (this.b instanceof Reconfigure) model.api.set(this.b.name, this.b.service);
    else model.api.delete(this.b.name);
    await verify(model, rig, this.toString());
  }
  toString() {
    return `together(${this.a}, ${this.b})`;
  }
}

type DockerChange =
  | { kind: 'scaleUp'; backend: number }
  | { kind: 'scaleDown'; pick: number }
  | { kind: 'restart'; pick: number }
  | { kind: 'option'; option: number }
  | { kind: 'removeAll' };

let containerSeq = 1;

class Docker implements Cmd {
  constructor(readonly name: string, readonly change: DockerChange) {}
  check() {
    return true;
  }
  async run(model: ModelState, rig: Rig) {
    const d = model.docker.get(this.name) ?? { containers: [], option: 0 };
    const c = this.change;
    let next: DockerService = d;
    if (c.kind === 'scaleUp') next = { ...d, containers: [...d.containers, { id: `c${containerSeq++}`, backend: c.backend }] };
    else if (c.kind === 'scaleDown' && d.containers.length > 0) {
      const gone = d.containers[c.pick % d.containers.length] as Container;
      next = { ...d, containers: d.containers.filter((x) => x !== gone) };
      model.stopped.push(gone);
    } else if (c.kind === 'restart' && model.stopped.length > 0) {
      // A stopped container starts again with its id (and so its server name); it joins the service it had.
      const back = model.stopped.splice(c.pick % model.stopped.length, 1)[0] as Container;
      next = { ...d, containers: [...d.containers, back] };
    } else if (c.kind === 'option') next = { ...d, option: c.option };
    else if (c.kind === 'removeAll') next = { containers: [], option: d.option };
    model.docker.set(this.name, next);
    const r = await rig.syncDocker(model);
    if (!r.ok) throw new Error(`${this} failed: ${r.message}`);
    await verify(model, rig, this.toString());
  }
  toString() {
    const c = this.change;
    const detail = c.kind === 'scaleUp' ? ` b${c.backend}` : c.kind === 'option' ? ` ${JSON.stringify(OPTIONS[c.option])}` : c.kind === 'removeAll' ? '' : ` #${c.pick}`;
    return `docker ${c.kind}(${this.name}${detail})`;
  }
}

class Wait implements Cmd {
  constructor(readonly ms: number) {}
  check() {
    return true;
  }
  async run(model: ModelState, rig: Rig) {
    await sleep(this.ms);
    await verify(model, rig, this.toString());
  }
  toString() {
    return `wait(${this.ms} ms)`;
  }
}

const apiService = fc.record({
  backend: fc.integer({ min: 0, max: POOL_SIZE - 1 }),
  host: fc.constantFrom(...HOSTS),
  indexed: fc.boolean(),
  option: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: OPTIONS.length - 1 }) }),
});
const reconfigure = fc.tuple(fc.constantFrom(...API_SERVICES), apiService).map(([n, s]) => new Reconfigure(n, s));
const removal = fc.tuple(fc.constantFrom(...API_SERVICES), fc.boolean()).map(([n, r]) => new Remove(n, r));
const dockerChange: fc.Arbitrary<DockerChange> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: POOL_SIZE - 1 }).map((backend) => ({ kind: 'scaleUp' as const, backend })) },
  { weight: 3, arbitrary: fc.nat(9).map((pick) => ({ kind: 'scaleDown' as const, pick })) },
  { weight: 2, arbitrary: fc.nat(9).map((pick) => ({ kind: 'restart' as const, pick })) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: OPTIONS.length - 1 }).map((option) => ({ kind: 'option' as const, option })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'removeAll' as const }) },
);

/** The commands of a sequence, weighted towards the changes that interleave runtime and reload paths. */
export const commandArbitraries: Array<fc.Arbitrary<Cmd>> = [
  reconfigure,
  reconfigure,
  reconfigure,
  removal,
  fc.tuple(reconfigure, fc.oneof(reconfigure, removal)).map(([a, b]) => new Together(a, b)),
  fc.tuple(fc.constantFrom(...DOCKER_SERVICES), dockerChange).map(([n, c]) => new Docker(n, c)),
  fc.tuple(fc.constantFrom(...DOCKER_SERVICES), dockerChange).map(([n, c]) => new Docker(n, c)),
  fc.constantFrom(0, 5, 30, 120, 1100).map((ms) => new Wait(ms)),
];

export interface RunFigures {
  sequences: number;
  steps: number;
  failure?: string;
  seed: number;
}

/**
 * Runs `runs` random sequences of up to `maxCommands` steps, each against a
 * fresh flow-proxy (the backends are shared). A failure is shrunk and
 * reported with the minimal sequence fast-check found.
 */
export async function runModel(options: { seed: number; runs: number; maxCommands: number; pool: PoolBackend[]; path?: string }): Promise<RunFigures> {
  let sequences = 0;
  let steps = 0;
  const property = fc.asyncProperty(fc.commands(commandArbitraries, { maxCommands: options.maxCommands, size: 'max' }), async (cmds) => {
    const rig = await startRig(options.pool);
    const model = emptyModel();
    try {
      await fc.asyncModelRun(() => ({ model, real: rig }), cmds);
    } finally {
      sequences++;
      steps += model.steps;
      await rig.stop();
    }
  });
  const details = await fc.check(property, { seed: options.seed, numRuns: options.runs, endOnFailure: false, ...(options.path !== undefined && { path: options.path }) });
  const figures: RunFigures = { sequences, steps, seed: options.seed };
  if (details.failed) {
    figures.failure = `${details.counterexample ? details.counterexample.map(String).join(' ') : ''}\n${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}\n(seed ${options.seed}, path "${details.counterexamplePath}", after ${details.numShrinks} shrinks)`;
  }
  return figures;
}
