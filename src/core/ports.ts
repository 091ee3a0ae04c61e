import type { ServiceSpec } from '../domain/spec.js';
import type { ResultCode } from './results.js';
import type { RuntimeOp } from './apply/runtimeDiff.js';

export type ApplyKind = 'runtime' | 'reload' | 'none';

/** How one apply was made live, and why. */
export interface ApplyRecord {
  id: number;
  kind: ApplyKind;
  reason: string;
  ok: boolean;
  durationMs: number;
  commands: number;
  changeIds: string[];
  at: number;
}

/** The answer to a submitted change. */
export interface CommandResult {
  ok: boolean;
  /** Why not, when not ok (http/errors.ts gives the status). */
  code?: ResultCode;
  message: string;
  apply?: ApplyRecord;
  /** Accepted, but worth saying: a route of this service and another service's are the same (one never matches). */
  warnings?: string[];
  /** The write time given to an API change; fan-out hands it to peers so they store the same version. */
  stamp?: number;
}

/** Custom templates (templateFePath/templateBePath) of a service, rendered; throws with a reason. */
export interface CustomTemplates {
  render(spec: ServiceSpec): Promise<{ frontend?: string; backend?: string }>;
}

/** One ALERT of `haproxy -c` or of a reload. */
export interface Alert {
  file?: string;
  line?: number;
  message: string;
  /** Backend, proxy or server names the message mentions. */
  names: string[];
}

export interface CheckResult {
  ok: boolean;
  alerts: Alert[];
  output: string;
}

export interface ReloadResult {
  ok: boolean;
  workerPid?: number;
  message: string;
  durationMs: number;
}

/** Stands for the map directory in rendered text; the data plane puts the real (candidate or live) path in. */
export const MAP_DIR_TOKEN = '\u0001MAPS\u0001';

/** A rendered configuration: haproxy.cfg (with MAP_DIR_TOKEN) and the map files by name. */
export interface ConfigFiles {
  config: string;
  maps: Readonly<Record<string, string>>;
  /**
   * The servers the config renders, by backend: what a reload may restore saved server state onto.
   * Computed when first asked (only a reload needs them), then remembered.
   */
  servers: () => ReadonlyMap<string, ReadonlyMap<string, { host: string; port: number; checked: boolean }>>;
}

export interface RuntimeResult {
  ok: boolean;
  message: string;
  commands?: number;
}

/** What the engine needs from HAProxy. */
export interface DataPlane {
  start(files: ConfigFiles): Promise<'started' | 'adopted'>;
  /** No HAProxy of an earlier run is there to adopt: start would launch a new one (nothing serves yet). */
  startsFresh?(): boolean;
  check(files: ConfigFiles): Promise<CheckResult>;
  commit(files: ConfigFiles): Promise<ReloadResult>;
  /** Optional: a commit is likely soon (its model, render or check are under way); work it would do first may start now. */
  prepareCommit?(): void;
  /** The files that reload will commit, rendered: what it carries over of the server state is prepared for them meanwhile. */
  prepareFiles?(files: ConfigFiles): void;
  reloadOnly(): Promise<ReloadResult>;
  writeLive(files: ConfigFiles): void;
  runtime(ops: readonly RuntimeOp[]): Promise<RuntimeResult>;
  stop(graceMs?: number): Promise<void>;
}

/** One stored service: owner and canonical parameters. */
export interface StoredService {
  owner: 'api' | 'env';
  params: Record<string, string>;
  /** Write time, for last-writer-wins between replicas. */
  stamp?: number;
}

/** A removal remembered so that replicas which missed it do not bring the service back. */
export interface Tombstone {
  name: string;
  stamp: number;
}

export interface StoredState {
  version: number;
  services: StoredService[];
  removed?: Tombstone[];
}

/** What one apply changed in a stored state: the records written and dropped, the removals remembered and forgotten. */
export interface StoredChanges {
  version: number;
  set: StoredService[];
  /** Names of the records no longer stored. */
  del: string[];
  removed: Tombstone[];
  /** Names of removals forgotten (past the horizon, or the service is back). */
  forgotten: string[];
}

/** Where the registry survives restarts: a local file by default, Consul for clusters. */
export interface Store {
  load(): Promise<StoredState | undefined>;
  /**
   * Saves only what changed since the last save, at a cost that does not grow with the number of
   * services; `full` gives the whole state when the store wants it instead (compaction). Stores
   * without it get the whole state through `save`.
   */
  saveChanges?(changes: StoredChanges, full: () => StoredState): Promise<void>;
  /**
   * Saves the full state. A shared store writes only what changed, with
   * check-and-set, and throws StoreConflictError when another replica
   * changed the same service meanwhile (the caller rejects the change).
   */
  save(state: StoredState): Promise<void>;
  /**
   * Shared stores only: calls onChange with the whole state whenever another
   * replica changed it, until the signal aborts. Local stores omit it.
   */
  watch?(onChange: (state: StoredState) => void, signal: AbortSignal): void;
  /** Shared stores only: is the store reachable right now (for health and metrics). */
  healthy?(): boolean;
  /** Shared stores only: the engine has applied a state the watch reported; it is the engine's own now. */
  applied?(state: StoredState): void;
  /** Shared stores only: the freshest state known, this replica's own writes included. */
  current?(): StoredState;
}

/**
 * docker-flow-swarm-listener's API, as docker-flow-proxy used it with
 * LISTENER_ADDRESS: `get-services` returns every service as a map of
 * reconfigure parameters, `notify-services` makes the listener send every
 * service again as reconfigure calls.
 */
export interface ListenerApi {
  /** The listener's base URL, for logs and status. */
  readonly url: string;
  getServices(signal?: AbortSignal): Promise<Array<Record<string, string>>>;
  notifyServices(signal?: AbortSignal): Promise<void>;
}
