import type { DockerContainer, DockerState, DockerSwarmService } from './labels.js';
import type { DockerTask } from './swarmTasks.js';
import { rawId } from './engineStates.js';

/** A Docker event as lifecycle tracking needs it. */
export interface LifecycleEvent {
  type: string;
  action: string;
  id: string;
  attributes: Readonly<Record<string, string>>;
}

/** Signals that end a process (docker stop sends the stop signal, TERM by default; docker kill KILL). */
const ENDING = new Set(['2', '3', '9', '15', 'SIGINT', 'SIGQUIT', 'SIGKILL', 'SIGTERM', 'INT', 'QUIT', 'KILL', 'TERM']);

/**
 * What Docker's events said about containers, applied over what a later
 * container list says. Docker lists a container as running for a while
 * after its `die` event, and a resync right after the event saw "no
 * change"; after `docker kill` there is no later event, so the dead server
 * stayed routed. The event's own state wins:
 * - a `kill` with a signal that ends the process (the signal is sent, the
 *   process may still be finishing requests) and `die`, `stop`, `destroy`,
 *   `pause` take the container out of rotation at once (its server goes to
 *   maintenance and is deleted once its requests are done), until a `start`
 *   or `unpause` says it runs again;
 * - `health_status: unhealthy` takes it out until `health_status: healthy`.
 * The same holds for the swarm tasks these containers run (services routed
 * to their tasks). What the lists no longer show is forgotten, so memory
 * stays bounded.
 */
export class ContainerLifecycle {
  private readonly ending = new Map<string, string>();
  private readonly unhealthy = new Set<string>();

  /** Takes note of one event; true when it changes what should be routed. */
  note(event: LifecycleEvent): boolean {
    if (event.type !== 'container' || event.id === '') return false;
    const action = event.action.split(':')[0]?.trim() ?? '';
    const id = event.id;
    if (action === 'kill') {
      const signal = event.attributes.signal;
      if (signal !== undefined && !ENDING.has(signal.toUpperCase())) return false;
      return this.markEnding(id, `killed with signal ${signal ?? 'KILL'}`);
    }
    if (action === 'die' || action === 'stop' || action === 'destroy' || action === 'pause') return this.markEnding(id, action);
    if (action === 'start' || action === 'unpause' || action === 'restart') {
      const changed = this.ending.delete(id);
      return this.unhealthy.delete(id) || changed;
    }
    if (action === 'health_status') {
      const status = event.action.split(':')[1]?.trim();
      if (status === 'unhealthy') {
        const had = this.unhealthy.has(id);
        this.unhealthy.add(id);
        return !had;
      }
      if (status === 'healthy') return this.unhealthy.delete(id);
    }
    return false;
  }

  /**
   * The list with what the events said applied: ending containers are not
   * running, unhealthy ones unhealthy; so are the swarm tasks they run.
   */
  apply(state: DockerState): DockerState {
    const listed = new Set(state.containers.map((c) => rawId(c.id)));
    for (const s of state.services) for (const t of s.tasks ?? []) if (t.containerId !== undefined) listed.add(t.containerId);
    for (const id of [...this.ending.keys()]) if (!listed.has(rawId(id))) this.ending.delete(id);
    for (const id of [...this.unhealthy]) if (!listed.has(rawId(id))) this.unhealthy.delete(id);
    if (this.ending.size === 0 && this.unhealthy.size === 0) return state;
    const containers = state.containers.map((c): DockerContainer => {
      if (this.ending.has(c.id)) return { ...c, state: 'exiting' };
      if (this.unhealthy.has(c.id) && c.health !== 'unhealthy') return { ...c, health: 'unhealthy' };
      return c;
    });
    // Task containers are known by their raw id (a task list names no engine); events may carry `<engine>/<id>`.
    const ending = new Set([...this.ending.keys()].map(rawId));
    const unhealthy = new Set([...this.unhealthy].map(rawId));
    const services = state.services.map((s): DockerSwarmService => {
      if (s.tasks === undefined || !s.tasks.some((t) => t.containerId !== undefined && (ending.has(t.containerId) || unhealthy.has(t.containerId)))) return s;
      const tasks = s.tasks.map((t): DockerTask => {
        if (t.containerId === undefined) return t;
        if (ending.has(t.containerId)) return { ...t, state: 'exiting' };
        return unhealthy.has(t.containerId) ? { ...t, state: 'unhealthy' } : t;
      });
      return { ...s, tasks };
    });
    return { containers, services };
  }

  /** Containers taken out by an event, and why (for the discovery status). */
  endingContainers(): Array<{ id: string; why: string }> {
    return [...this.ending].map(([id, why]) => ({ id, why }));
  }

  private markEnding(id: string, why: string): boolean {
    const had = this.ending.has(id);
    this.ending.set(id, why);
    return !had;
  }
}
