import type { EngineHost } from './containerAddress.js';
import type { DockerState } from './labels.js';
import type { TlsMode } from './dockerHosts.js';

/** An engine's state: never reached yet, its events stream open (and its last read good), or not. */
export type EngineState = 'connecting' | 'up' | 'down';

/** What `/discovery` shows of one engine. */
export interface EngineStatus {
  name: string;
  url: string;
  tls: TlsMode;
  address: string;
  addressFrom: EngineHost['addressFrom'];
  network?: string;
  state: EngineState;
  /** When it entered that state (ISO time). */
  since: string;
  /** The last full listing that answered (ISO time). */
  lastRead?: string;
  lastError?: string;
  /** Labelled containers and swarm services it listed last (kept, and still routed, while it is down). */
  containers: number;
  services: number;
  reconnects: number;
}

/** The engines discovery follows, as its status shows them (their streams decide "connected"). */
export interface EngineView {
  status(): EngineStatus[];
  /** Every engine's events stream is open. */
  connected(): boolean;
  reconnects(): number;
  /** DOCKER_HOSTS entries skipped at start, and why. */
  problems: readonly string[];
}

/** An engine's listing with its name on every container and service (and, with several engines, in their identities). */
export function tag(state: DockerState, engine: string, prefix: boolean): DockerState {
  const id = (raw: string) => (prefix ? `${engine}/${raw}` : raw);
  return {
    containers: state.containers.map((c) => ({ ...c, id: id(c.id), engine })),
    services: state.services.map((s) => ({ ...s, id: id(s.id), engine })),
  };
}

/** An id without the `<engine>/` that several engines put in front (a task list and Docker's events name raw ids). */
export function rawId(id: string): string {
  const slash = id.lastIndexOf('/');
  return slash < 0 ? id : id.slice(slash + 1);
}

/**
 * The engines' states as one. The same container or swarm service listed by
 * two entries (one engine under two addresses, managers of one swarm) counts
 * once: a container for the first engine that listed it, a service as the
 * first of `servicesFrom` lists it (the engines that answered this read
 * first: a service's tasks change, and a manager that is down lists old ones).
 */
export function merge(states: readonly DockerState[], servicesFrom: readonly DockerState[] = states): DockerState {
  if (states.length === 1 && servicesFrom.length === 1) return states[0] as DockerState;
  const once = <T extends { id: string }>(items: readonly T[]): T[] => {
    const seen = new Set<string>();
    return items.filter((i) => {
      const raw = rawId(i.id);
      if (seen.has(raw)) return false;
      seen.add(raw);
      return true;
    });
  };
  return { containers: once(states.flatMap((s) => s.containers)), services: once(servicesFrom.flatMap((s) => s.services)) };
}
