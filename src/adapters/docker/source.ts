import type { DockerState } from './labels.js';
import type { DockerEvent } from './events.js';

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
