import type Docker from 'dockerode';
import type { DockerState } from '../../core/dockerSync.js';
import { watchEvents, type DockerEvent } from './events.js';
import { readDockerState } from './readState.js';

/** What a source tells the discovery loop while it follows Docker. */
export interface WatchCallbacks {
  signal: AbortSignal;
  /** An events stream opened; with several engines, which one, and whether it had been open before. */
  onOpen: (info?: { engine: string; reconnect: boolean }) => void;
  onEvent: (event: DockerEvent) => void;
  /** Something changed outside any event (an engine answered late): resync. */
  onResync?: () => void;
}

/** The two things discovery asks of Docker; a narrow seam between the loop and dockerode. */
export interface DockerSource {
  /** Everything that carries the notify label, now. */
  read(signal: AbortSignal): Promise<DockerState>;
  /** Follows the events stream until it ends (resolves) or breaks (rejects). */
  watch(options: WatchCallbacks): Promise<void>;
}

export interface SourceTimeouts {
  /** Longest a full listing may take. */
  readMs: number;
  /** Longest opening the events stream may take. */
  connectMs: number;
}

/** A DockerSource backed by a dockerode client. */
export function dockerSource(docker: Docker, notifyLabel: string, timeouts: SourceTimeouts): DockerSource {
  return {
    read: (signal) => readDockerState(docker, { notifyLabel, signal, timeoutMs: timeouts.readMs }),
    watch: (options) => watchEvents(docker, { ...options, connectTimeoutMs: timeouts.connectMs }),
  };
}
