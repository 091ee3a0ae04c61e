import type Docker from 'dockerode';
import type { DockerContainer, DockerState, DockerSwarmService } from './labels.js';
import { routesToTasks, toTask, type DockerTask, type RawTask, type SwarmRouting } from './swarmTasks.js';
import { FlowError } from '../../domain/errors.js';

export interface ReadOptions {
  /** DF_NOTIFY_LABEL: only containers and services with `<label>=true` are listed. */
  notifyLabel: string;
  signal: AbortSignal;
  timeoutMs: number;
  /** SWARM_ROUTING: services routed to their tasks (by it or by their label) get their tasks listed. */
  swarmRouting?: SwarmRouting;
}

/**
 * Lists everything that carries the notify label and cuts it down to the
 * small types the pure mapping works on. A failure is a typed error; the
 * caller keeps the last good state (an unreachable Docker must never look
 * like "no containers").
 */
export async function readDockerState(docker: Docker, options: ReadOptions): Promise<DockerState> {
  // One controller per read, unlinked when done: the stop signal lives as long as the process and
  // must not collect a listener per event.
  const read = new AbortController();
  const abort = () => read.abort();
  options.signal.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(abort, options.timeoutMs);
  const signal = read.signal;
  const label = [`${options.notifyLabel}=true`];
  try {
    const [containers, notHealthy, services] = await Promise.all([
      docker.listContainers({ filters: { label }, abortSignal: signal }),
      // The container list has no structured health field; Docker's health filter gives it exactly.
      docker.listContainers({ filters: { label, health: ['starting', 'unhealthy'] }, abortSignal: signal }),
      listServices(docker, label, signal),
    ]);
    const hostNetworks = await hostNetworkIds([...new Set(services.flatMap(taskNetworks))], docker, signal);
    const cut = services.map((s) => toService(s, hostNetworks));
    const routed = new Set(cut.filter((s) => routesToTasks(s, options.swarmRouting ?? 'vip')));
    const tasks = await listTasks(docker, [...routed].map((s) => s.id), signal);
    const unhealthy = new Set(notHealthy.map((c) => c.Id));
    return {
      containers: containers.map((c) => toContainer(c, unhealthy.has(c.Id))),
      services: cut.map((s) => (routed.has(s) ? { ...s, tasks: tasks.get(s.id) ?? [] } : s)),
    };
  } catch (e) {
    if (options.signal.aborted) throw new FlowError('ABORTED', 'discovery stopped', { cause: e });
    const message = signal.aborted ? `Docker did not answer within ${options.timeoutMs} ms` : `could not list containers and services: ${errorText(e)}`;
    throw new FlowError('DOCKER_UNAVAILABLE', message, { cause: e });
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', abort);
  }
}

/** Swarm services, or none when this engine is not a swarm manager. */
async function listServices(docker: Docker, label: string[], signal: AbortSignal): Promise<Docker.Service[]> {
  try {
    return await docker.listServices({ filters: { label }, abortSignal: signal });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 503) return [];
    throw e;
  }
}

/**
 * The tasks that should run of these services, by service, in one call
 * (a task that is shutting down has left already: its desired state is
 * no longer running).
 */
async function listTasks(docker: Docker, services: string[], signal: AbortSignal): Promise<Map<string, DockerTask[]>> {
  const byService = new Map<string, DockerTask[]>();
  if (services.length === 0) return byService;
  const tasks = await docker.listTasks({ filters: { service: services, 'desired-state': ['running'] }, abortSignal: signal });
  for (const t of tasks as RawTask[]) {
    if (t.ServiceID === undefined || t.ID === undefined || t.ID === '') continue;
    const list = byService.get(t.ServiceID) ?? [];
    list.push(toTask(t));
    byService.set(t.ServiceID, list);
  }
  return byService;
}

/**
 * Which of these network ids are the host network. Services name networks
 * by their swarm-scoped id, which `GET /networks` does not list, so each
 * distinct id is inspected (a service list rarely names more than a few).
 */
async function hostNetworkIds(ids: string[], docker: Docker, signal: AbortSignal): Promise<Set<string>> {
  const drivers = await Promise.all(ids.map(async (id) => {
    try {
      // dockerode's Network.inspect takes no AbortSignal; the modem does.
      const info = await new Promise<{ Driver?: string }>((resolve, reject) => {
        docker.modem.dial({ path: `/networks/${encodeURIComponent(id)}?`, method: 'GET', abortSignal: signal, statusCodes: { 200: true, 404: 'no such network', 500: 'server error' }, options: {} } as never, (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as { Driver?: string })));
      });
      return info.Driver;
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }));
  return new Set(ids.filter((_, i) => drivers[i] === 'host'));
}

function toContainer(c: Docker.ContainerInfo, notHealthy: boolean): DockerContainer {
  return {
    id: c.Id,
    name: (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''),
    labels: c.Labels ?? {},
    state: c.State,
    // The status text only tells "starting" from "unhealthy" and "healthy" from "no check"; the filter decided the rest.
    health: notHealthy ? (/health: starting/.test(c.Status) ? 'starting' : 'unhealthy') : /\(healthy\)/.test(c.Status) ? 'healthy' : 'none',
    networkMode: c.HostConfig?.NetworkMode ?? '',
    networks: Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, n]) => ({ name, ip: n.IPAddress || n.GlobalIPv6Address || '' })),
    ports: (c.Ports ?? []).map((p) => ({
      privatePort: p.PrivatePort,
      ...(p.PublicPort !== undefined && p.PublicPort !== 0 && { publicPort: p.PublicPort }),
      ...(p.IP !== undefined && { ip: p.IP }),
      type: p.Type,
    })),
    created: c.Created,
  };
}

function toService(s: Docker.Service, hostNetworks: ReadonlySet<string>): DockerSwarmService {
  const spec = s.Spec ?? {};
  const replicated = spec.Mode?.Replicated;
  return {
    id: s.ID,
    name: spec.Name ?? s.ID,
    labels: spec.Labels ?? {},
    mode: replicated ? 'replicated' : 'global',
    ...(replicated && { replicas: replicated.Replicas ?? 1 }),
    hostNetwork: taskNetworks(s).some((n) => hostNetworks.has(n)),
  };
}

function taskNetworks(s: Docker.Service): string[] {
  const spec = s.Spec as { TaskTemplate?: { Networks?: Array<{ Target?: string }> }; Networks?: Array<{ Target?: string }> } | undefined;
  return [...(spec?.TaskTemplate?.Networks ?? []), ...(spec?.Networks ?? [])].map((n) => n.Target ?? '').filter((t) => t !== '');
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
