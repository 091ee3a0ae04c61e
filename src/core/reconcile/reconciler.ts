// Long on purpose: queue, coalescing, persistence and consolidation share one lock and one clock; the decisions themselves live in desired.ts and applier.ts.
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { FlowError } from '../../domain/errors.js';
import type { Entry, Registry } from '../../domain/registry.js';
import type { Compiled } from '../../render/render.js';
import { Applier, MAX_ATTEMPTS, type ApplierDeps, type Attempt, type Persistence } from '../apply/applier.js';
import { activeSpecs, applyCommands, EMPTY_DESIRED, initialDesired, quarantinedList, quarantineService, replicaStateOf, revertService, type Command, type DesiredState, type Quarantined, type ReducibleCommand } from '../desired/desired.js';
import { routeWarnings, serversByService, shadowedServices } from '../apply/liveView.js';
import { preview, type PreviewCommand, type PreviewOptions, type PreviewResult } from '../apply/preview.js';
import type { ApplyKind, ApplyRecord, CommandResult, ConfigFiles, Store, StoredService, Tombstone } from '../ports.js';
import type { ResultCode } from '../results.js';
import { noStoredChanges, storedChanges, toStored, type StoredSnapshot } from '../desired/storedState.js';
import type { Model } from '../../render/model.js';

/**
 * The reconciler: one apply at a time; every change that arrives meanwhile
 * joins the next batch; the batch goes through the desired-state reducer and
 * then the applier; the state is saved at the applier's say (before HAProxy
 * changes) or nothing changes; each caller is answered when the apply that
 * holds its change is live, or when its change was refused.
 */

export type { ApplyKind, ApplyRecord, Command, CommandResult, Quarantined };

/** Under constant churn, consolidation comes at the latest this many CONSOLIDATE_AFTER after the drift began. */
export const CONSOLIDATION_CAP = 20;

export interface ReconcilerDeps extends Omit<ApplierDeps, 'now'> {
  store: Store;
  /** CONSOLIDATE_AFTER (ms): quiet time after runtime changes before one reload makes backend names canonical; 0 never. */
  consolidateAfterMs?: number;
  /** Called after every apply, for metrics. */
  onApply?: (record: ApplyRecord) => void;
  /** Monotonic milliseconds, for durations. */
  now?: () => number;
  /** Wall-clock milliseconds, for write stamps and removal horizons. */
  wallClock?: () => number;
}

/** The longest the files on disk stay behind runtime changes. */
export const FILES_AFTER_MS = 500;
/** How long at most a batch waits for the rest of a burst that is still arriving (see gather). */
const GATHER_MS = 50;

interface Pending {
  command: Command;
  changeId: string;
  resolve: (r: CommandResult) => void;
}

export class Reconciler {
  private desired: DesiredState = EMPTY_DESIRED;
  private readonly applier: Applier;
  private queue: Pending[] = [];
  private running = false;
  private applyCount = 0;
  private lastStored = '';
  /** What the store holds, as last saved (for stores that take changes). */
  private saved: StoredSnapshot | undefined;
  private readonly records: ApplyRecord[] = [];
  private readonly now: () => number;
  private readonly wallClock: () => number;
  private started = false;
  private closed = false;
  private consolidation: NodeJS.Timeout | undefined;
  /** When live names first differed from canonical ones since the last consolidation. */
  private driftSince: number | undefined;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.wallClock = deps.wallClock ?? Date.now;
    this.applier = new Applier({ ...deps, now: this.now });
  }

  /** Replaces the main templates (a consul:// template changed); the next apply renders with them. */
  setTemplates(templates: Compiled): void {
    this.applier.setTemplates(templates);
  }

  /** The registry as last made live. */
  get registry(): Registry {
    return this.desired.registry;
  }

  get quarantined(): Quarantined[] {
    return quarantinedList(this.desired);
  }

  get recentApplies(): readonly ApplyRecord[] {
    return this.records;
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** The model HAProxy runs now (routes, backends, servers): what explanations and the dashboard read. */
  get liveModel(): Model | undefined {
    return this.applier.live?.model;
  }

  /** The rendered config currently live. */
  get liveConfig(): ConfigFiles | undefined {
    return this.applier.liveFiles();
  }

  /**
   * Writes the live model's files when runtime changes left them behind (they are written at the
   * latest FILES_AFTER_MS after such a change; anything that reads them calls this first). True
   * when the files on disk are the live ones; false while a reload writes its own, or on a failure.
   */
  flushFiles(): boolean {
    return this.applier.flushFiles();
  }

  /** The backends and servers that serve each service now, for health reports. */
  liveServers(): Map<string, Array<{ backend: string; server: string; address: string }>> {
    const live = this.applier.live;
    return live ? serversByService(live.layout) : new Map();
  }

  /** Routes of this service another service's identical route takes, or that it takes, in words. */
  routeWarnings(name: string): string[] {
    return routeWarnings(this.applier.live?.model.shadowed ?? [], name);
  }

  /** Services whose routes another service takes, with the route and the winner. */
  shadowedServices(): Map<string, Array<{ route: string; by: string }>> {
    return shadowedServices(this.applier.live?.model.shadowed ?? []);
  }

  /** What replicas exchange: the API services with their write times, and the removals. */
  replicaState(): ReturnType<typeof replicaStateOf> {
    return replicaStateOf(this.desired, this.wallClock());
  }

  /** A dry run of an upsert or a remove (see preview.ts); nothing changes. */
  preview(command: PreviewCommand, options: PreviewOptions = {}): Promise<PreviewResult> {
    return preview({ applier: this.applier, desired: this.desired, now: this.wallClock() }, command, options);
  }

  /**
   * No more scheduled work (the proxy is stopping). The live files are written if they are behind,
   * and a store that takes changes (a journal) gets the whole state once: a clean stop leaves one
   * self-contained state file.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.consolidation) clearTimeout(this.consolidation);
    this.consolidation = undefined;
    this.flushFiles();
    if (this.started && !this.running && this.deps.store.saveChanges) {
      await this.persist(this.desired, this.desired.registry, true).catch((e: unknown) => this.deps.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not write the whole state at stop; the journal holds it'));
    }
  }

  /**
   * First apply: the restored and environment services, rendered, then HAProxy started with them
   * (checked only if it refuses them), or checked and the running HAProxy adopted and reloaded.
   */
  async start(entries: Entry[], invalid: Array<Quarantined & { stored: StoredService }> = [], removed: Tombstone[] = []): Promise<ApplyRecord> {
    const started = this.now();
    const result = await this.applier.start(initialDesired(entries, invalid, removed), (name, reason) => this.deps.log.warn({ service: name, reason }, 'service quarantined'));
    if ('error' in result) throw new FlowError('CONFIG_INVALID', result.error);
    this.desired = result.state;
    // What was just restored is live; if the store cannot take it now (a shared store that is down), it is written with the next change.
    await this.persist(this.desired, this.desired.registry, true).catch((e: unknown) => this.deps.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not save the state at start'));
    this.started = true;
    return this.record('reload', result.how === 'adopted' ? 'first apply (adopted the running HAProxy)' : 'first apply (HAProxy started)', true, started, 0, []);
  }

  /** Queues a change; resolves when it is live or refused. */
  submit(command: Command, changeId = ''): Promise<CommandResult> {
    return this.submitAll([command], changeId).then((results) => results[0] as CommandResult);
  }

  /** Queues changes so that they are applied together (one apply); resolves with each one's result. */
  submitAll(commands: readonly Command[], changeId = ''): Promise<CommandResult[]> {
    const results = commands.map((command) => new Promise<CommandResult>((resolve) => this.queue.push({ command, changeId, resolve })));
    if (!this.running && commands.length > 0) void this.drain();
    return Promise.all(results);
  }

  /**
   * Calls that arrived while the last apply rendered (which holds the event loop) are still unread on their
   * sockets: one turn of the loop reads them. While a burst is arriving (several calls wait and more come),
   * the batch waits for them, up to GATHER_MS: a burst of new services goes in a few reloads, not one per apply.
   */
  private async gather(): Promise<void> {
    await setImmediate();
    for (let waited = 0; this.queue.length > 1 && waited < GATHER_MS; waited += 2) {
      const waiting = this.queue.length;
      await sleep(2);
      if (this.queue.length === waiting) return;
    }
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        await this.gather();
        const batch = this.queue;
        this.queue = [];
        try {
          await this.process(batch);
          // Under steady churn the queue never empties: the files follow each batch, not the end of the churn.
          this.scheduleFlush();
        } catch (e) {
          this.deps.log.error({ err: e }, 'apply failed');
          const message = e instanceof Error ? e.message : String(e);
          for (const p of batch) p.resolve({ ok: false, code: 'INTERNAL', message });
        }
      }
    } finally {
      this.running = false;
    }
    this.scheduleFlush();
  }

  /**
   * Runtime changes leave the files behind: rendering every service's config after each change
   * would make its cost grow with the number of services. They are written FILES_AFTER_MS after
   * the change that left them behind, once for all the changes made meanwhile.
   */
  private scheduleFlush(): void {
    if (this.flushTimer || this.applier.live?.files !== undefined || !this.applier.live) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      // Between two steps of an apply the live model is whole; a reload writing its own files makes this wait.
      if (!this.applier.flushFiles()) this.scheduleFlush();
    }, FILES_AFTER_MS);
    this.flushTimer.unref();
  }

  private async process(batch: Pending[]): Promise<void> {
    const started = this.now();
    const changeIds = batch.map((p) => p.changeId).filter((id) => id !== '');
    // A restore's entries are read now: what the shared store holds, this replica's own writes included.
    const commands: ReducibleCommand[] = batch.map((p) => (p.command.kind === 'restore' && typeof p.command.entries === 'function' ? { kind: 'restore', entries: p.command.entries() } : p.command as ReducibleCommand));
    const r = applyCommands(this.desired, commands, this.wallClock());
    let state = r.next;
    // What a shared store just told us is already stored: not written back.
    if (r.restored) {
      this.lastStored = storedKey(toStored(r.restored, state.tombstones, state.unparsed, this.wallClock()));
      this.saved = { entries: r.restored.entries, tombstones: state.tombstones, unparsed: state.unparsed };
    }
    const changed = new Map(r.changed);
    const fromCaller = (name: string) => (changed.get(name) ?? []).some((i) => commands[i]?.kind === 'upsert' || commands[i]?.kind === 'remove');
    const refused = new Map<string, { code: ResultCode; message: string }>();
    let outcome: Attempt | undefined;
    if (changed.size === 0 && !r.rerender && !r.consolidate) {
      this.desired = state;
      if (r.reloadOnly) {
        const reload = await this.applier.reloadOnly();
        outcome = reload.ok ? { ok: true, kind: 'reload', reason: 'reload requested', commands: 0 } : { ok: false, fatal: `reload failed: ${reload.message}`, code: 'HAPROXY' };
      } else {
        // Newer write times for the same content are kept, so that replicas compare equal.
        if (r.stampsOnly) await this.persist(state, state.registry, false).catch((e: unknown) => this.deps.log.warn({ err: e }, 'could not save merged write times'));
        outcome = { ok: true, kind: 'none', reason: 'no change', commands: 0 };
      }
    } else {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const upserted = new Set([...changed].filter(([, is]) => is.some((i) => commands[i]?.kind === 'upsert')).map(([name]) => name));
        outcome = await this.applier.attempt(state, new Set(changed.keys()), upserted, { rerender: r.rerender || r.reloadOnly, consolidate: r.consolidate, reason: r.reason, previous: this.desired }, this.persistenceFor(state));
        if (outcome.ok || !('culprits' in outcome)) break;
        for (const [name, reason] of outcome.culprits) {
          if (fromCaller(name)) {
            refused.set(name, { code: outcome.code, message: reason });
            state = revertService(state, name, this.desired.registry);
            changed.delete(name);
          } else {
            this.deps.log.warn({ service: name, reason }, 'service quarantined');
            state = quarantineService(state, name, reason);
          }
        }
        outcome = undefined;
      }
      if (outcome?.ok) this.desired = state;
    }
    const record = outcome?.ok ? this.record(outcome.kind, outcome.reason, true, started, outcome.commands, changeIds) : undefined;

    // The shared store learns that the state it reported is the reconciler's now.
    if (r.restored) this.deps.store.applied?.(toStored(this.desired.registry, this.desired.tombstones, this.desired.unparsed, this.wallClock()));
    batch.forEach((p, i) => {
      const early = r.refused.get(i);
      const target = p.command.kind === 'upsert' ? p.command.entry.name : p.command.kind === 'remove' ? p.command.name : undefined;
      const refusal = target !== undefined ? refused.get(target) : undefined;
      if (early !== undefined) p.resolve({ ok: false, code: 'ACL_TAKEN', message: early });
      else if (refusal) p.resolve({ ok: false, ...refusal });
      else if (!outcome) p.resolve({ ok: false, code: 'INTERNAL', message: 'could not find a valid configuration for this change' });
      else if (record) {
        const stamp = r.stamps.get(i);
        const warnings = p.command.kind === 'upsert' ? this.routeWarnings(p.command.entry.name) : [];
        p.resolve({ ok: true, message: '', apply: record, ...(stamp !== undefined && { stamp }), ...(warnings.length > 0 && { warnings }) });
      } else if ('fatal' in outcome) p.resolve({ ok: false, code: outcome.code, message: outcome.fatal });
    });
  }

  /** Saving a candidate state (its removals and unparsed records with it); restore puts the live one back. */
  private persistenceFor(state: DesiredState): Persistence {
    return {
      save: async (registry) => {
        try {
          await this.persist(state, registry, false);
          return undefined;
        } catch (e) {
          const code = (e as { code?: string }).code;
          const result: ResultCode = code === 'STORE_CONFLICT' ? 'STORE_CONFLICT' : code === 'STORE_UNAVAILABLE' || code === 'STORE_DENIED' ? 'STORE_DOWN' : code === 'ENOSPC' || code === 'EDQUOT' ? 'DISK_FULL' : 'STORE_WRITE';
          return { code: result, message: `could not save the state, nothing was changed: ${e instanceof Error ? e.message : String(e)}` };
        }
      },
      restore: () => this.persist(this.desired, this.desired.registry, false).catch((err: unknown) => this.deps.log.error({ err }, 'could not restore the saved state after a failed swap')),
    };
  }

  /**
   * Saves the services the store keeps (API and env ones); discovery rebuilds its own at start.
   * A store that takes changes gets what changed since the last save (its cost follows the change,
   * not the number of services); others get the whole state when it differs from the last one saved.
   */
  private async persist(state: DesiredState, registry: Registry, force: boolean): Promise<void> {
    const now = this.wallClock();
    const store = this.deps.store;
    const snapshot: StoredSnapshot = { entries: registry.entries, tombstones: state.tombstones, unparsed: state.unparsed };
    if (store.saveChanges && this.saved && !force) {
      const changes = storedChanges(this.saved, registry, state.tombstones, state.unparsed, now);
      if (noStoredChanges(changes)) return;
      await store.saveChanges(changes, () => toStored(registry, state.tombstones, state.unparsed, now));
      this.saved = snapshot;
      return;
    }
    const stored = toStored(registry, state.tombstones, state.unparsed, now);
    // Only a store written whole compares keys (a JSON text of every service); a journal finds what changed above.
    const key = store.saveChanges ? undefined : storedKey(stored);
    if (!force && key !== undefined && key === this.lastStored) return;
    await store.save(stored);
    if (key !== undefined) this.lastStored = key;
    this.saved = snapshot;
  }

  private record(kind: ApplyKind, reason: string, ok: boolean, started: number, commands: number, changeIds: string[]): ApplyRecord {
    const record: ApplyRecord = { id: ++this.applyCount, kind, reason, ok, durationMs: this.now() - started, commands, changeIds, at: this.wallClock() };
    this.records.push(record);
    if (this.records.length > 200) this.records.shift();
    this.deps.log.info({ apply: record.id, kind, reason, durationMs: Math.round(record.durationMs * 10) / 10, changeIds }, 'applied');
    this.deps.onApply?.(record);
    this.scheduleConsolidation();
    return record;
  }

  /**
   * Runtime changes keep backend names the live config has (a spare hosting a
   * service, a backend named after a port the service no longer uses) and
   * leave emptied backends behind; stats tooling reads those names. Once no
   * change came for `consolidateAfterMs`, one seamless reload renders the
   * canonical config. Every apply pushes it back, but not forever: under
   * constant churn it comes at the latest CONSOLIDATION_CAP times that delay
   * after the names began to drift (drifted backends keep a second view
   * each, so memory would grow for as long as the churn lasts).
   */
  private scheduleConsolidation(): void {
    const quiet = this.deps.consolidateAfterMs ?? 0;
    if (this.consolidation) clearTimeout(this.consolidation);
    this.consolidation = undefined;
    if (quiet <= 0 || this.closed || !this.started) return;
    if (!this.namesDrifted()) {
      this.driftSince = undefined;
      return;
    }
    const now = this.now();
    this.driftSince ??= now;
    const delay = Math.max(0, Math.min(quiet, this.driftSince + CONSOLIDATION_CAP * quiet - now));
    this.consolidation = setTimeout(() => {
      this.consolidation = undefined;
      if (!this.closed && this.namesDrifted()) void this.submit({ kind: 'reload', recreate: true, consolidate: true, reason: 'backend names made canonical again after runtime changes (consolidation)' }, 'consolidate');
    }, delay);
    this.consolidation.unref();
  }

  /** Whether live backend names are ones a fresh render would not give: what consolidation waits for. */
  namesDrifted(): boolean {
    return this.applier.namesDrifted(this.desired);
  }

  /** The specs that render now (for tests and tools). */
  activeSpecs(): ReturnType<typeof activeSpecs> {
    return activeSpecs(this.desired);
  }
}

/** The stored form of a state, and the key that tells whether it differs from the last one saved. */
function storedKey(stored: ReturnType<typeof toStored>): string {
  return JSON.stringify([stored.services, stored.removed]);
}
