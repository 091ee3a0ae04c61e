import type { ServerAddr } from '../../domain/spec.js';
import type { EngineStatus } from './engineStates.js';
import type { Origin, Skipped } from './labels.js';

// What Docker discovery reports about itself, for `/discovery` and the insight pages.

export interface LastSync {
  at: string;
  durationMs: number;
  services: number;
  servers: number;
  /** How the engine made it live (runtime, reload, none), or why it failed. */
  applied: string;
}

/** What the discovery endpoint shows. */
export interface DiscoveryStatus {
  dockerHost: string;
  notifyLabel: string;
  /** The events stream is open. */
  connected: boolean;
  reconnects: number;
  events: number;
  syncs: number;
  lastSync?: LastSync;
  lastError?: string;
  services: Array<Origin & { servers: ServerAddr[] }>;
  skipped: Skipped[];
  engines?: EngineStatus[];
  badEngines?: string[];
}
