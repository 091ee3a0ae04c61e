import type Docker from 'dockerode';
import type { DockerState } from '../../core/dockerSync.js';
import { watchEvents, type DockerEvent } from './events.js';
import { readDockerState } from './readState.js';

/** The two things discovery asks of Docker; a narrow seam between the loop and dockerode. */
export interface DockerSource {
  /** Everything that carries the notify label, now. */
  read(signal: AbortSignal): Promise<DockerState>;
  /** Follows the events stream until it ends (resolves) or breaks (rejects). */
  watch(options: { signal: AbortSignal; onOpen: () => void; onEvent: (event: DockerEvent) => void }): Promise<void>;
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
