import { isIP } from 'node:net';
import { cmp } from '../../domain/values.js';

// Swarm services routed to their tasks (com.df.swarmRouting=tasks): which tasks are servers, where, and how
// often to read Docker again while they change (tasks on other nodes change without an event here).

/** A swarm task of a service routed to its tasks, cut down the same way. */
export interface DockerTask {
  id: string;
  /** Swarm's state of the task: new, pending, assigned, accepted, preparing, starting, running, complete, shutdown, failed, ... */
  state: string;
  /** The task's container, once it has one (to follow its container's events on this engine). */
  containerId?: string;
  /** Its address on each network it is attached to (swarm-scoped networks: overlays), the ingress left out. */
  addresses: ReadonlyArray<{ network: string; ip: string }>;
}

/** How swarm services are reached: their virtual IP (Docker balances), or each task's own address. */
export type SwarmRouting = 'vip' | 'tasks';
export const SWARM_ROUTING_LABEL = 'com.df.swarmRouting';

/** A label by name whatever its case, as every `com.df.*` label is read. */
export function labelValue(labels: Readonly<Record<string, string>>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(labels)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** What decides a service's routing, as listed. */
export interface RoutedService {
  labels: Readonly<Record<string, string>>;
  hostNetwork: boolean;
  mode: 'replicated' | 'global';
  replicas?: number;
}

/**
 * Whether a service's tasks are its servers (and so are listed and
 * followed): its `com.df.swarmRouting` label, else SWARM_ROUTING, except on
 * the host network (reached on the engine's address), at 0 replicas
 * (removed), and, under SWARM_ROUTING only, with a host of its own
 * (outboundHostname, discoveryType), which wins.
 */
export function routesToTasks(service: RoutedService, fallback: SwarmRouting): boolean {
  if (service.hostNetwork || (service.mode === 'replicated' && service.replicas === 0)) return false;
  const label = labelValue(service.labels, SWARM_ROUTING_LABEL);
  if (label !== undefined) return label.toLowerCase() === 'tasks';
  return fallback === 'tasks' && !Object.keys(service.labels).some((k) => OWN_HOST.test(k));
}

/** Labels that give a swarm service a host of its own. */
export const OWN_HOST = /^com\.df\.(outboundhostname|discoverytype)(\.\d+)?$/i;

/** A task that is a server: which, and where. */
export interface TaskServer {
  task: string;
  network: string;
  ip: string;
}

/**
 * The servers of a service routed to its tasks: every running task, at its
 * address on the network the proxy shares with it (`com.df.network`, else
 * DOCKER_NETWORK, also as `<stack>_<name>`, else the one network the task is
 * attached to besides the ingress), sorted by task id, which names the
 * server and keeps its slot steady. A task that cannot be reached is left out with its problem; the
 * others still serve (a deploy may attach a network to new tasks only).
 */
export function taskServers(list: readonly DockerTask[], label: string | undefined, dockerNetwork: string | undefined): { tasks: TaskServer[]; problems: string[] } {
  const wanted = label ?? dockerNetwork;
  const running = [...list].filter((t) => t.state === 'running').sort((a, b) => cmp(a.id, b.id));
  const tasks: TaskServer[] = [];
  const problems: string[] = [];
  for (const task of running) {
    const exact = task.addresses.filter((a) => wanted === undefined || a.network === wanted);
    const candidates = exact.length > 0 || wanted === undefined ? exact : task.addresses.filter((a) => a.network.endsWith(`_${wanted}`));
    const networks = [...new Set(candidates.map((a) => a.network))];
    const which = `task ${task.id.slice(0, 25)}`;
    if (networks.length !== 1) {
      const attached = [...new Set(task.addresses.map((a) => a.network))].join(', ') || 'none';
      problems.push(wanted !== undefined
        ? `${which} is not attached to network "${wanted}" (${label !== undefined ? 'com.df.network' : 'DOCKER_NETWORK'}); attached: ${attached}`
        : `${which} is attached to ${networks.length === 0 ? 'no network the proxy can share (the ingress does not count)' : `several networks (${attached})`}; name the proxy's with com.df.network or DOCKER_NETWORK`);
      continue;
    }
    const address = candidates[0] as { network: string; ip: string };
    if (isIP(address.ip) === 0) {
      problems.push(`Docker reported the address "${address.ip.slice(0, 60)}" for ${which}, which is not an IP address`);
      continue;
    }
    tasks.push({ task: task.id, network: address.network, ip: address.ip });
  }
  return { tasks, problems };
}

/** A task as the Docker API lists it, the fields discovery reads. */
export interface RawTask {
  ID?: string;
  ServiceID?: string;
  DesiredState?: string;
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string } };
  NetworksAttachments?: Array<{ Network?: { Spec?: { Name?: string; Ingress?: boolean } }; Addresses?: string[] }>;
}

/** Cuts a listed task down: its state (one whose desired state is not running is on its way out), container, addresses without the ingress. */
export function toTask(t: RawTask): DockerTask {
  const containerId = t.Status?.ContainerStatus?.ContainerID;
  return {
    id: t.ID ?? '',
    // A task listed as running whose desired state is not (the filter raced an update) is on its way out.
    state: t.DesiredState === 'running' ? t.Status?.State ?? 'unknown' : `desired ${t.DesiredState ?? 'unknown'}`,
    ...(containerId !== undefined && containerId !== '' && { containerId }),
    addresses: (t.NetworksAttachments ?? [])
      .filter((n) => n.Network?.Spec?.Ingress !== true)
      .flatMap((n) => (n.Addresses ?? []).map((a) => ({ network: n.Network?.Spec?.Name ?? '', ip: a.replace(/\/\d+$/, '') }))),
  };
}

/** Swarm task states on the way to running. */
const ON_ITS_WAY = new Set(['new', 'pending', 'assigned', 'accepted', 'ready', 'preparing', 'starting']);
/** A task stuck on its way (no node can run it) falls back to the poll after this many quick resyncs. */
const SETTLE_POLLS = 50;

export interface TaskTiming {
  /** The periodic resync without swarm services routed to their tasks. */
  resyncMs: number;
  /** While one is, a resync at least this often. */
  taskPollMs: number;
  /** While one of their tasks is on its way to running, a resync this soon (at most SETTLE_POLLS times in a row). */
  taskSettleMs: number;
}

/**
 * When to read Docker again: `settlePolls` counts the reads in a row that
 * saw a task on its way to running (see onItsWay); none routed to tasks:
 * the plain periodic resync.
 */
export function nextResyncMs(routedServices: number, settlePolls: number, timing: TaskTiming): number {
  if (routedServices === 0) return timing.resyncMs;
  if (settlePolls > 0 && settlePolls <= SETTLE_POLLS) return Math.min(timing.taskSettleMs, timing.resyncMs);
  return Math.min(timing.taskPollMs, timing.resyncMs);
}

/** Whether a task of these is on its way to running. */
export function onItsWay(tasks: readonly DockerTask[]): boolean {
  return tasks.some((t) => ON_ITS_WAY.has(t.state));
}
