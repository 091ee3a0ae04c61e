// Long on purpose: the events loop, the sync loop and the drain share one state (the last read, the lifecycle, what is live); the decisions live in labels.ts, lifecycle.ts and swarmTasks.ts.
import { backoffDelay, sleepUnlessAborted as sleep, type BackoffPolicy } from '../../core/backoff.js';
import type { DockerState, DockerSyncResult } from './labels.js';
import type { CommandResult } from '../../core/ports.js';
import type { Log } from '../../core/log.js';
import type { Entry } from '../../domain/registry.js';
import { ContainerLifecycle } from './lifecycle.js';
import { rawId, type EngineView } from './engineStates.js';
import type { DiscoveryStatus, LastSync } from './discoveryStatus.js';
import { isRelevant, type DockerEvent } from './events.js';
import { nextResyncMs, onItsWay } from './swarmTasks.js';
import type { DockerSource } from './source.js';

export interface DiscoveryTiming {
  /** Events closer together than this share one resync (a stack deploy, a scale to 20). */
  debounceMs: number;
  /** A full resync at least this often, in case the stream silently stalls. */
  resyncMs: number;
  /** Reconnects and failed resyncs back off like this. */
  backoff: BackoffPolicy;
  /**
   * While a swarm service is routed to its tasks, a resync at least this
   * often: tasks on other nodes change without an event on this engine.
   */
  taskPollMs: number;
  /** While such a task is on its way to running, a resync this soon (for a while: see swarmTasks.ts). */
  taskSettleMs: number;
}

export const DEFAULT_TIMING: DiscoveryTiming = { debounceMs: 3, resyncMs: 60_000, backoff: { baseMs: 100, capMs: 3_000 }, taskPollMs: 2_000, taskSettleMs: 100 };

export interface DiscoveryDeps {
  source: DockerSource;
  /** The pure mapping, with its options bound. */
  map: (state: DockerState) => DockerSyncResult;
  /** Replaces every docker-owned service; resolves when the change is live. changeIds name the events it answers. */
  apply: (entries: Entry[], changeIds: string[]) => Promise<CommandResult>;
  /** A relevant Docker event arrived (for metrics). */
  onEvent?: (event: DockerEvent) => void;
  /** The events stream (re)opened; reconnect is false for the first time. */
  onConnect?: (reconnect: boolean) => void;
  /** Events became live in HAProxy this long after the first of them arrived. */
  onLive?: (ms: number) => void;
  log: Log;
  notifyLabel: string;
  /** Shown in the status only. */
  dockerHost: string;
  engines?: EngineView;
  timing?: Partial<DiscoveryTiming>;
  random?: () => number;
}

/**
 * Docker discovery: a full sync before the first apply, then every relevant
 * event (or a reconnect, or a quiet minute) asks for a resync of everything
 * that carries the notify label. Level-triggered: a missed or duplicated
 * event changes nothing, and a Docker that cannot be read never empties the
 * proxy (the last good set stays until Docker answers again).
 */
export class DockerDiscovery {
  private readonly timing: DiscoveryTiming;
  private readonly random: () => number;
  private readonly stopping = new AbortController();
  private current: DockerSyncResult = { entries: [], origins: [], skipped: [] };
  private dirty = false;
  private wake: (() => void) | undefined;
  private loops: Promise<void> | undefined;
  private connected = false;
  private connects = 0;
  private events = 0;
  /** Events since the last sync: their change ids and when the first arrived. */
  private pending: { ids: string[]; since?: number } = { ids: [] };
  private syncs = 0;
  private lastSync: LastSync | undefined;
  private lastError: string | undefined;
  private readonly logged = new Map<string, string>();
  /** What events said about containers; it wins over a list that has not caught up. */
  private readonly lifecycle = new ContainerLifecycle();
  /** The Docker state of the last sync, so that a container that ends leaves rotation without waiting for a read. */
  private lastState: DockerState | undefined;
  /** Ids of the swarm services routed to their tasks, whose task containers' events count. */
  private taskServices: ReadonlySet<string> = new Set();
  /** Quick resyncs in a row while a task was on its way to running. */
  private settlePolls = 0;
  /** What the last sync made live (see syncKey), while no event has come since. */
  private appliedKey: string | undefined;

  constructor(private readonly deps: DiscoveryDeps) {
    this.timing = { ...DEFAULT_TIMING, ...deps.timing };
    this.random = deps.random ?? Math.random;
  }

  /**
   * Reads Docker once, for the first apply. When Docker cannot be read the
   * proxy still starts (with no discovered services) and the loop keeps
   * trying; the failure shows in the log and the status.
   */
  async initialSync(signal: AbortSignal): Promise<Entry[]> {
    const started = performance.now();
    try {
      const state = await this.deps.source.read(AbortSignal.any([signal, this.stopping.signal]));
      this.rememberState(state);
      const result = this.deps.map(state);
      this.remember(result);
      this.lastSync = this.summary(started, result, 'first apply');
      this.lastError = undefined;
      this.deps.log.info({ services: result.entries.length, skipped: result.skipped.length }, 'docker discovery: initial sync');
      return result.entries;
    } catch (e) {
      this.lastError = message(e);
      this.deps.log.error({ err: this.lastError }, 'docker discovery: Docker could not be read at start; starting without discovered services and retrying');
      return [];
    }
  }

  /** Starts following Docker; stops when `signal` aborts or stop() is called. */
  start(signal: AbortSignal): void {
    if (this.loops) return;
    const stop = AbortSignal.any([signal, this.stopping.signal]);
    this.loops = Promise.all([this.syncLoop(stop), this.eventLoop(stop)]).then(() => undefined);
  }

  /** Stops both loops and waits for them. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loops;
  }

  status(): DiscoveryStatus {
    const origins = new Map(this.current.origins.map((o) => [o.name, o]));
    return {
      dockerHost: this.deps.dockerHost,
      notifyLabel: this.deps.notifyLabel,
      connected: this.deps.engines?.connected() ?? this.connected,
      reconnects: this.deps.engines?.reconnects() ?? Math.max(0, this.connects - 1),
      events: this.events,
      syncs: this.syncs,
      ...(this.lastSync && { lastSync: this.lastSync }),
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      services: this.current.entries.map((e) => ({ ...(origins.get(e.name) ?? { name: e.name, kind: 'service' as const, from: [] }), servers: e.spec.servers ?? [] })),
      skipped: this.current.skipped,
      ...(this.deps.engines && { engines: this.deps.engines.status(), badEngines: [...this.deps.engines.problems] }),
    };
  }

  private requestSync(): void {
    this.dirty = true;
    this.wake?.();
  }

  private async syncLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      if (!this.dirty) await this.waitForWork(signal);
      if (signal.aborted) break;
      await sleep(this.timing.debounceMs, signal);
      this.dirty = false;
      try {
        await this.syncOnce(signal);
        failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        this.lastError = message(e);
        this.deps.log.warn({ err: this.lastError, attempt: failures + 1 }, 'docker discovery: resync failed; keeping the last good services');
        await sleep(backoffDelay(failures++, this.timing.backoff, this.random()), signal);
        this.dirty = true;
      }
    }
  }

  private async syncOnce(signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const events = this.pending;
    this.pending = { ids: [] };
    const state = await this.deps.source.read(signal);
    this.rememberState(state);
    // Events that arrived before or during the read are applied over it.
    const result = this.deps.map(this.lifecycle.apply(state));
    this.remember(result);
    // A poll that finds what was last made live, with no event since, changes nothing: not applied again
    // (swarm task routing polls every 2 s; each would be an apply record and a log line).
    const key = syncKey(result.entries);
    if (events.ids.length === 0 && key === this.appliedKey) {
      this.syncs++;
      this.lastSync = this.summary(started, result, 'none');
      return;
    }
    const eventsBefore = this.events;
    const applied = await this.deps.apply(result.entries, events.ids.slice(0, 20));
    // What is live is known only if no event (and so no drain) came in meanwhile.
    this.appliedKey = applied.ok && this.events === eventsBefore ? key : undefined;
    if (applied.ok && events.since !== undefined) this.deps.onLive?.(performance.now() - events.since);
    this.syncs++;
    this.lastSync = this.summary(started, result, applied.ok ? applied.apply?.kind ?? 'none' : `failed: ${applied.message}`);
    this.lastError = applied.ok ? undefined : `the sync was not applied: ${applied.message}`;
    if (!applied.ok) this.deps.log.warn({ message: applied.message }, 'docker discovery: sync not applied');
    else if (applied.apply && applied.apply.kind !== 'none') {
      this.deps.log.info({ services: result.entries.length, servers: this.lastSync.servers, applied: applied.apply.kind, reason: applied.apply.reason, ms: this.lastSync.durationMs }, 'docker discovery: sync applied');
    }
  }

  private async eventLoop(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      let openedAt: number | undefined;
      try {
        await this.deps.source.watch({
          signal,
          onOpen: (info) => {
            openedAt = performance.now();
            this.connected = true;
            this.connects++;
            this.deps.log.info({ reconnects: this.connects - 1, ...(info && { engine: info.engine }) }, 'docker discovery: following Docker events');
            this.deps.onConnect?.(info?.reconnect ?? this.connects > 1);
            // Whatever happened while we were not listening is picked up by a full resync.
            this.requestSync();
          },
          onEvent: (event: DockerEvent) => {
            if (!isRelevant(event, this.deps.notifyLabel, this.taskServices)) return;
            this.events++;
            this.appliedKey = undefined;
            // A change id follows the event from here to the apply that makes it live.
            const changeId = `docker-${event.type}-${event.action}-${event.id.slice(0, 12)}`.replace(/[^A-Za-z0-9_.:-]/g, '_');
            this.pending.ids.push(changeId);
            this.pending.since ??= performance.now();
            this.deps.log.info({ changeId, type: event.type, action: event.action, name: event.attributes.name }, 'docker event');
            this.deps.onEvent?.(event);
            if (this.lifecycle.note(event)) void this.drainNow(changeId);
            this.requestSync();
          },
          onResync: () => this.requestSync(),
        });
        if (!signal.aborted) this.deps.log.warn({}, 'docker discovery: Docker closed the events stream; reconnecting');
      } catch (e) {
        if (signal.aborted) break;
        this.lastError = message(e);
        this.deps.log.warn({ err: this.lastError, attempt: attempt + 1 }, 'docker discovery: events stream unavailable; reconnecting');
      }
      this.connected = false;
      // A stream that stayed up a while resets the backoff; one that breaks at once keeps backing off.
      if (openedAt !== undefined && performance.now() - openedAt > 1000) attempt = 0;
      await sleep(backoffDelay(attempt++, this.timing.backoff, this.random()), signal);
    }
    this.connected = false;
  }

  /**
   * A container is ending (killed, died, unhealthy): the last known state,
   * with that applied, goes to the engine at once, without waiting for a
   * Docker read, so that no new request goes to it. The full resync follows.
   */
  private async drainNow(changeId: string): Promise<void> {
    if (!this.lastState) return;
    const result = this.deps.map(this.lifecycle.apply(this.lastState));
    const applied = await this.deps.apply(result.entries, [changeId]);
    if (!applied.ok) this.deps.log.warn({ message: applied.message }, 'docker discovery: could not take an ending container out of rotation');
  }

  /** Resolves on a sync request, on the periodic resync, or on abort. */
  private waitForWork(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(() => {
        this.dirty = true;
        done();
      }, nextResyncMs(this.taskServices.size, this.settlePolls, this.timing));
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private rememberState(state: DockerState): void {
    this.lastState = state;
    const routed = state.services.filter((s) => s.tasks !== undefined);
    this.taskServices = new Set(routed.map((s) => rawId(s.id)));
    this.settlePolls = routed.some((s) => onItsWay(s.tasks ?? [])) ? this.settlePolls + 1 : 0;
  }

  private remember(result: DockerSyncResult): void {
    this.current = result;
    const now = new Map(result.skipped.map((s) => [`${s.kind} ${s.name}`, s]));
    for (const [key, s] of now) {
      if (this.logged.get(key) === s.reason) continue;
      this.logged.set(key, s.reason);
      this.deps.log.warn({ [s.kind]: s.name, reason: s.reason }, `docker discovery: ${s.kind} skipped`);
    }
    for (const key of [...this.logged.keys()]) if (!now.has(key)) this.logged.delete(key);
  }

  private summary(started: number, result: DockerSyncResult, applied: string): LastSync {
    return {
      at: new Date().toISOString(),
      durationMs: Math.round((performance.now() - started) * 100) / 100,
      services: result.entries.length,
      servers: result.entries.reduce((n, e) => n + (e.spec.servers?.length ?? 0), 0),
      applied,
    };
  }
}

/** The docker-owned services as the engine gets them: names, parameters and servers. */
function syncKey(entries: readonly Entry[]): string {
  return JSON.stringify(entries.map((e) => [e.name, e.params, e.spec.servers ?? null]));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
