import { isIP } from 'node:net';
import type { ServerAddr } from '../../domain/spec.js';
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

/** Whether a service's tasks are its servers: its `com.df.swarmRouting` label, else SWARM_ROUTING. */
export function routedToTasks(labels: Readonly<Record<string, string>>, fallback: SwarmRouting): boolean {
  return (labels[SWARM_ROUTING_LABEL] ?? fallback) === 'tasks';
}

/** A task that is a server: which, and where. */
export interface TaskServer {
  task: string;
  network: string;
  ip: string;
}

/**
 * The servers of a service routed to its tasks: every running task, at its
 * address on the network the proxy shares with it (`com.df.network`, else
 * DOCKER_NETWORK, else the one network the tasks are attached to besides
 * the ingress). The task id keeps each server's slot steady.
 */
export function taskServers(list: readonly DockerTask[], label: string | undefined, dockerNetwork: string | undefined): { servers: ServerAddr[]; tasks: TaskServer[] } | { reason: string } {
  const wanted = label ?? dockerNetwork;
  const running = [...list].filter((t) => t.state === 'running').sort((a, b) => cmp(a.id, b.id));
  const servers: ServerAddr[] = [];
  const tasks: TaskServer[] = [];
  for (const task of running) {
    const candidates = task.addresses.filter((a) => wanted === undefined || a.network === wanted);
    const networks = [...new Set(candidates.map((a) => a.network))];
    if (networks.length !== 1) {
      const attached = [...new Set(task.addresses.map((a) => a.network))].join(', ') || 'none';
      return {
        reason: wanted !== undefined
          ? `its tasks are not attached to network "${wanted}" (${label !== undefined ? 'com.df.network' : 'DOCKER_NETWORK'}); attached: ${attached}`
          : `its tasks are attached to ${networks.length === 0 ? 'no network the proxy can share (the ingress does not count)' : `several networks (${attached})`}; name the proxy's with com.df.network or DOCKER_NETWORK`,
      };
    }
    const address = candidates[0] as { network: string; ip: string };
    if (isIP(address.ip) === 0) return { reason: `Docker reported the address "${address.ip.slice(0, 60)}" for task ${task.id.slice(0, 25)}, which is not an IP address` };
    servers.push({ host: address.ip, id: task.id });
    tasks.push({ task: task.id, network: address.network, ip: address.ip });
  }
  return { servers, tasks };
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
