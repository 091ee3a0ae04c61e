import { FlowError } from '../domain/errors.js';
import { Draft, EMPTY_REGISTRY, registryOf, remove, sameEntry, upsert, type Entry, type Owner, type Registry } from '../domain/registry.js';
import type { ServiceSpec } from '../domain/spec.js';
import type { Alert, CheckResult } from '../adapters/haproxy/check.js';
import { buildModel, namesToResolveFor, type Layout, type Model } from '../render/model.js';
import { backendsFor } from '../render/backend.js';
import type { Compiled } from '../render/render.js';
import type { RenderSettings } from '../render/settings.js';
import type { Lookup, MapEntry } from '../render/routes.js';
import { renderFiles, type RenderedFiles } from './files.js';
import type { Log } from './log.js';
import type { ConfigFiles, DataPlane, Store, StoredService, StoredState, Tombstone } from './ports.js';
import { describeOps, runtimeDiff } from './runtimeDiff.js';

/** A change to the desired state, from any source. */
export type Command =
  /** stamp: the write time a peer gave the same change (fan-out), so replicas keep identical versions. */
  | { kind: 'upsert'; entry: Entry; stamp?: number }
  | { kind: 'remove'; name: string; onlyOwner?: Owner; stamp?: number }
  /** Anti-entropy: take every API service and removal a peer has that is newer than ours. */
  | { kind: 'merge'; entries: Entry[]; removed: Tombstone[] }
  /** Replace every entry an owner has (discovery's level-triggered sync). */
  | { kind: 'sync'; owner: Owner; entries: Entry[] }
  /**
   * Replace the stored (API and env) entries with what a shared store holds; nothing is written back.
   * A function is read when the batch is applied, so that it reflects writes this replica made meanwhile.
   */
  | { kind: 'restore'; entries: Entry[] | (() => Entry[]) }
  /** Reload HAProxy; with recreate the config is rendered again first. */
  | { kind: 'reload'; recreate: boolean; reason?: string }
  /** Render again because something outside the registry changed (certificates, templates). */
  | { kind: 'refresh'; reason: string };

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

export interface CommandResult {
  ok: boolean;
  status: number;
  message: string;
  apply?: ApplyRecord;
  /** Accepted, but worth saying: a route of this service and another service's are the same (one never matches). */
  warnings?: string[];
  /** The write time given to an API change; fan-out hands it to peers so they store the same version. */
  stamp?: number;
}

export interface Quarantined {
  name: string;
  reason: string;
  owner: Owner;
}

export interface CustomTemplates {
  /** Renders the frontend/backend snippets of a service with custom templates; throws with a reason. */
  render(spec: ServiceSpec, backendNames: readonly string[]): Promise<{ frontend?: string; backend?: string }>;
}

export interface EngineDeps {
  dataPlane: DataPlane;
  store: Store;
  settings: RenderSettings;
  templates: Compiled;
  custom?: CustomTemplates;
  /** Whether certificates exist, and a key that changes with them. */
  certs: () => { hasCerts: boolean; key: string };
  log: Log;
  /** CONSOLIDATE_AFTER (ms): quiet time after runtime changes before one reload makes backend names canonical; 0 never. */
  consolidateAfterMs?: number;
  /** ROUTE_CONFLICT: `warn` (default) accepts a change whose route another service has too, with a warning; `reject` refuses it (409). */
  routeConflict?: 'warn' | 'reject';
  /** Resolves server names before rendering, so HAProxy never resolves them through libc while it loads. */
  names?: { resolveAll(hosts: Iterable<string>): Promise<ReadonlyMap<string, string | undefined>> };
  /** Called after every apply, for metrics. */
  onApply?: (record: ApplyRecord) => void;
  now?: () => number;
}

/** Inputs of a model besides the registry (see prepare). */
interface Prepared {
  rendered: Map<string, { frontend?: string; backend?: string }>;
  failures: Map<string, string>;
  addresses?: ReadonlyMap<string, string | undefined>;
}

interface Pending {
  command: Command;
  changeId: string;
  resolve: (r: CommandResult) => void;
}

interface LiveState {
  model: Model;
  /** The files on disk; after a runtime change they are rendered and written once the callers have their answer. */
  files: ConfigFiles | undefined;
  layout: Layout;
  maps: Record<Lookup, MapEntry[]>;
}

type Attempt =
  | { ok: true; record: ApplyRecord }
  /** status: what callers whose change is a culprit get (400, or 409 for a route conflict refused by ROUTE_CONFLICT=reject). */
  | { ok: false; culprits: Map<string, string>; status?: 409 }
  | { ok: false; fatal: string; status?: number };

const MAX_ATTEMPTS = 12;

/**
 * The reconciler: one apply at a time, every change that arrives meanwhile is
 * merged into the next apply, and each caller is answered when the apply that
 * holds its change is live (or when its change was rejected).
 */
export class Engine {
  private committed: Registry = EMPTY_REGISTRY;
  private readonly quarantine = new Map<string, Quarantined & { params: string }>();
  private live: LiveState | undefined;
  private queue: Pending[] = [];
  private running = false;
  private applyCount = 0;
  private lastStored = '';
  private readonly records: ApplyRecord[] = [];
  private readonly now: () => number;
  private started = false;
  /** Stored services that no longer parse: kept in the store, shown as quarantined, never dropped silently. */
  private readonly unparsed = new Map<string, StoredService>();
  /** Removals of API services, by name, with their time: replicas must not resurrect them. */
  private readonly tombstones = new Map<string, number>();
  private lastStamp = 0;
  /** What each discovery owner last synced: a discovered service an API one shadowed comes back when that one is removed. */
  private readonly synced = new Map<Owner, Entry[]>();

  constructor(private readonly deps: EngineDeps) {
    this.now = deps.now ?? (() => performance.now());
  }

  /** Replaces the main templates (a consul:// template changed); the next apply renders with them. */
  setTemplates(templates: Compiled): void {
    this.deps.templates = templates;
  }

  /** The registry as last made live. */
  get registry(): Registry {
    return this.committed;
  }

  get quarantined(): Quarantined[] {
    return [...this.quarantine.values()].map(({ name, reason, owner }) => ({ name, reason, owner }));
  }

  /** The backends and servers that serve each service now (from the live model), for health reports. */
  liveServers(): Map<string, Array<{ backend: string; server: string; address: string }>> {
    const byService = new Map<string, Array<{ backend: string; server: string; address: string }>>();
    for (const [backend, { view }] of this.live?.layout.backends ?? []) {
      if (view.owner === undefined) continue;
      const list = byService.get(view.owner) ?? [];
      for (const s of view.servers) list.push({ backend, server: s.name, address: s.address });
      const template = view.serverTemplate;
      if (template) for (let i = 1; i <= template.count; i++) list.push({ backend, server: `${template.prefix}${i}`, address: template.address });
      byService.set(view.owner, list);
    }
    return byService;
  }

  get recentApplies(): readonly ApplyRecord[] {
    return this.records;
  }

  /** The rendered config currently live. */
  get liveConfig(): ConfigFiles | undefined {
    this.flushFiles();
    return this.live?.files;
  }

  /**
   * Writes the files of the live model when a runtime change left them
   * behind, so that any later reload (ours, or the supervisor's after a lost
   * worker) loads exactly what runs.
   */
  flushFiles(): void {
    if (!this.live || this.live.files) return;
    const rendered = renderFiles(this.deps.templates, this.live.model);
    try {
      this.deps.dataPlane.writeLive(rendered.files);
      this.live = { ...this.live, files: rendered.files };
    } catch (e) {
      // HAProxy runs the right config already; the files are written again after the next apply.
      this.deps.log.error({ err: e }, 'could not write the live configuration files');
    }
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** A write time later than any seen, on this replica's wall clock. */
  private nextStamp(): number {
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1);
    return this.lastStamp;
  }

  private seeStamp(stamp: number): void {
    this.lastStamp = Math.max(this.lastStamp, stamp);
  }

  /** What replicas exchange: the API services with their write times, and the removals. */
  replicaState(): { services: Array<{ params: Record<string, string>; stamp: number }>; removed: Tombstone[] } {
    const services = [...this.committed.entries.values()]
      .filter((e) => e.owner === 'api')
      .map((e) => ({ params: { ...e.params }, stamp: e.stamp ?? 0 }))
      .sort((a, b) => (a.params.serviceName as string) < (b.params.serviceName as string) ? -1 : 1);
    const removed = [...this.tombstones].map(([name, stamp]) => ({ name, stamp })).sort((a, b) => (a.name < b.name ? -1 : 1));
    return { services, removed };
  }

  /**
   * First apply: the restored and environment services, rendered and checked,
   * then HAProxy started (or adopted and reloaded) with them.
   */
  async start(entries: Entry[], invalid: Array<Quarantined & { stored: StoredService }> = [], removed: Tombstone[] = []): Promise<ApplyRecord> {
    const registry = registryOf(entries);
    for (const e of entries) if (e.stamp !== undefined) this.seeStamp(e.stamp);
    for (const t of removed) {
      this.tombstones.set(t.name, t.stamp);
      this.seeStamp(t.stamp);
    }
    for (const q of invalid) {
      this.quarantine.set(q.name, { name: q.name, reason: q.reason, owner: q.owner, params: '' });
      this.unparsed.set(q.name, q.stored);
    }
    const started = this.now();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const model = this.model(registry, undefined, await this.prepare(registry));
      if (model.conflicts.size > 0) {
        for (const [name, reason] of model.conflicts) this.quarantineEntry(registry, name, reason);
        continue;
      }
      const rendered = renderFiles(this.deps.templates, model.model);
      const check = await this.deps.dataPlane.check(rendered.files);
      if (!check.ok) {
        const culprits = await this.attribute(check.alerts, rendered, model.model, [...this.active(registry).keys()], registry);
        if (culprits.size === 0) throw new FlowError('CONFIG_INVALID', `the generated configuration is invalid: ${check.alerts.map((a) => a.message).join(' ')}`);
        for (const [name, reason] of culprits) this.quarantineEntry(registry, name, reason);
        continue;
      }
      const how = await this.deps.dataPlane.start(rendered.files);
      if (how === 'adopted') {
        const r = await this.deps.dataPlane.commit(rendered.files);
        if (!r.ok) throw new FlowError('HAPROXY_RELOAD', `could not reload the adopted HAProxy: ${r.message}`);
      }
      this.committed = registry;
      this.live = { model: model.model, files: rendered.files, layout: model.model.layout, maps: model.model.maps };
      // What was just restored is live; if the store cannot take it now (a shared store that is down), it is written with the next change.
      await this.persist(registry, true).catch((e: unknown) => this.deps.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not save the state at start'));
      this.started = true;
      return this.record('reload', how === 'adopted' ? 'first apply (adopted the running HAProxy)' : 'first apply (HAProxy started)', true, started, 0, []);
    }
    throw new FlowError('CONFIG_INVALID', 'could not build a valid configuration at start');
  }

  /** Queues a change; resolves when it is live or rejected. */
  submit(command: Command, changeId = ''): Promise<CommandResult> {
    return this.submitAll([command], changeId).then((results) => results[0] as CommandResult);
  }

  /** Queues changes so that they are applied together (one apply); resolves with each one's result. */
  submitAll(commands: readonly Command[], changeId = ''): Promise<CommandResult[]> {
    const results = commands.map((command) => new Promise<CommandResult>((resolve) => this.queue.push({ command, changeId, resolve })));
    if (!this.running && commands.length > 0) void this.drain();
    return Promise.all(results);
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.process(batch);
          this.flushFiles();
        } catch (e) {
          this.deps.log.error({ err: e }, 'apply failed');
          const message = e instanceof Error ? e.message : String(e);
          for (const p of batch) p.resolve({ ok: false, status: 500, message });
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async process(incoming: Pending[]): Promise<void> {
    const started = this.now();
    // What a shared store says comes first, so that local changes of the same batch apply on top of it.
    const batch = [...incoming.filter((p) => p.command.kind === 'restore'), ...incoming.filter((p) => p.command.kind !== 'restore')];
    const draft = new Draft(this.committed);
    const changedBy = new Map<string, Pending[]>();
    const early = new Map<Pending, CommandResult>();
    let forceReload = false;
    let reloadOnly = false;
    let refresh = '';
    let restored = false;
    let stampsOnly = false;
    const stamps = new Map<Pending, number>();
    const mark = (name: string, p: Pending) => changedBy.set(name, [...(changedBy.get(name) ?? []), p]);

    for (const p of batch) {
      const c = p.command;
      if (c.kind === 'upsert' || c.kind === 'remove') this.unparsed.delete(c.kind === 'upsert' ? c.entry.name : c.name);
      if (c.kind === 'upsert') {
        const clash = draft.aclTakenBy(c.entry.spec.aclName, c.entry.name);
        if (clash !== undefined) {
          early.set(p, { ok: false, status: 400, message: `aclName "${c.entry.spec.aclName}" is already used by service "${clash}".` });
          continue;
        }
        const before = draft.get(c.entry.name);
        const q = this.quarantine.get(c.entry.name);
        if (sameEntry(before, c.entry) && (!q || q.params === paramsKey(c.entry))) continue;
        const stamp = c.stamp !== undefined ? (this.seeStamp(c.stamp), c.stamp) : this.nextStamp();
        stamps.set(p, stamp);
        draft.set(c.entry.owner === 'docker' ? c.entry : { ...c.entry, stamp });
        this.tombstones.delete(c.entry.name);
        this.quarantine.delete(c.entry.name);
        mark(c.entry.name, p);
      } else if (c.kind === 'remove') {
        const before = draft.get(c.name);
        if (!before || (c.onlyOwner !== undefined && before.owner !== c.onlyOwner)) {
          if (this.quarantine.delete(c.name)) mark(c.name, p);
          continue;
        }
        draft.delete(c.name);
        if (before.owner !== 'docker') {
          const stamp = c.stamp !== undefined ? (this.seeStamp(c.stamp), c.stamp) : this.nextStamp();
          stamps.set(p, stamp);
          this.tombstones.set(c.name, stamp);
        }
        const shadowed = [...this.synced].filter(([owner]) => owner !== before.owner).flatMap(([, list]) => list).find((e) => e.name === c.name);
        if (shadowed) draft.set(shadowed);
        this.quarantine.delete(c.name);
        mark(c.name, p);
      } else if (c.kind === 'sync') {
        this.synced.set(c.owner, c.entries);
        const wanted = new Map(c.entries.map((e) => [e.name, e]));
        for (const e of [...draft.values()]) {
          if (e.owner === c.owner && !wanted.has(e.name)) {
            draft.delete(e.name);
            this.quarantine.delete(e.name);
            mark(e.name, p);
          }
        }
        for (const e of c.entries) {
          const before = draft.get(e.name);
          if (before && before.owner !== c.owner) continue; // a service of the same name from the API wins
          const q = this.quarantine.get(e.name);
          if (sameEntry(before, e) && (!q || q.params === paramsKey(e))) continue;
          draft.set(e);
          this.quarantine.delete(e.name);
          mark(e.name, p);
        }
      } else if (c.kind === 'merge') {
        for (const e of c.entries) {
          const local = draft.get(e.name);
          const incoming = e.stamp ?? 0;
          const known = Math.max(local && local.owner !== 'docker' ? local.stamp ?? 0 : -1, this.tombstones.get(e.name) ?? -1);
          if (incoming <= known) continue;
          this.seeStamp(incoming);
          this.tombstones.delete(e.name);
          draft.set(e);
          if (sameEntry(local, e)) continue; // same content, newer time: nothing to apply
          this.quarantine.delete(e.name);
          mark(e.name, p);
        }
        for (const t of c.removed) {
          const local = draft.get(t.name);
          const known = Math.max(local && local.owner !== 'docker' ? local.stamp ?? 0 : -1, this.tombstones.get(t.name) ?? -1);
          if (t.stamp <= known) continue;
          this.seeStamp(t.stamp);
          this.tombstones.set(t.name, t.stamp);
          if (local && local.owner !== 'docker') {
            draft.delete(t.name);
            this.quarantine.delete(t.name);
            mark(t.name, p);
          }
        }
        stampsOnly = true;
      } else if (c.kind === 'restore') {
        const list = typeof c.entries === 'function' ? c.entries() : c.entries;
        const wanted = new Map(list.map((e) => [e.name, e]));
        for (const e of [...draft.values()]) {
          if (e.owner !== 'docker' && !wanted.has(e.name)) {
            draft.delete(e.name);
            this.quarantine.delete(e.name);
            mark(e.name, p);
          }
        }
        for (const e of list) {
          if (sameEntry(draft.get(e.name), e)) continue;
          draft.set(e);
          this.quarantine.delete(e.name);
          mark(e.name, p);
        }
        restored = true;
        // What a shared store just told us is already stored: not written back. Local changes later in
        // this batch (restores come first) still differ from it, so they are saved.
        const state = this.storedState(draft.toRegistry());
        this.lastStored = JSON.stringify([state.services, state.removed]);
      } else if (c.kind === 'reload') {
        if (c.recreate) forceReload = true;
        else reloadOnly = true;
        if (c.reason !== undefined) refresh = c.reason;
      } else {
        refresh = c.reason;
      }
    }

    let registry = draft.toRegistry();
    const rejected = new Map<string, { message: string; status: number }>();
    let outcome: Attempt | undefined;
    const nothingChanged = changedBy.size === 0 && !forceReload && !refresh;
    if (nothingChanged && !reloadOnly) {
      if (stampsOnly && registry !== this.committed) {
        // Newer write times for the same content: keep them so that replicas compare equal.
        this.committed = registry;
        await this.persist(registry, false).catch((e: unknown) => this.deps.log.warn({ err: e }, 'could not save merged write times'));
      }
      outcome = { ok: true, record: this.record('none', 'no change', true, started, 0, ids(batch)) };
    } else if (nothingChanged && reloadOnly) {
      const r = await this.deps.dataPlane.reloadOnly();
      outcome = r.ok
        ? { ok: true, record: this.record('reload', 'reload requested', true, started, 0, ids(batch)) }
        : { ok: false, fatal: `reload failed: ${r.message}` };
    } else {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        outcome = await this.attempt(registry, changedBy, { forceReload: forceReload || reloadOnly, reason: refresh }, started, ids(batch));
        if (outcome.ok || !('culprits' in outcome)) break;
        for (const [name, reason] of outcome.culprits) {
          const by = changedBy.get(name) ?? [];
          const fromCaller = by.some((p) => p.command.kind === 'upsert' || p.command.kind === 'remove');
          if (fromCaller) {
            rejected.set(name, { message: reason, status: outcome.status ?? 400 });
            const previous = this.committed.entries.get(name);
            registry = previous ? upsert(registry, previous) : remove(registry, name);
            changedBy.delete(name);
          } else {
            this.quarantineEntry(registry, name, reason);
          }
        }
        outcome = undefined;
      }
    }

    // The shared store learns that the state it reported is the engine's now.
    if (restored) this.deps.store.applied?.(this.storedState(this.committed));
    for (const p of batch) {
      const pre = early.get(p);
      if (pre) {
        p.resolve(pre);
        continue;
      }
      const target = p.command.kind === 'upsert' ? p.command.entry.name : p.command.kind === 'remove' ? p.command.name : undefined;
      const refusal = target !== undefined ? rejected.get(target) : undefined;
      if (refusal) {
        p.resolve({ ok: false, status: refusal.status, message: refusal.message });
      } else if (!outcome) {
        p.resolve({ ok: false, status: 500, message: 'could not find a valid configuration for this change' });
      } else if (outcome.ok) {
        const stamp = stamps.get(p);
        const warnings = p.command.kind === 'upsert' ? this.routeWarnings(p.command.entry.name) : [];
        p.resolve({ ok: true, status: 200, message: '', apply: outcome.record, ...(stamp !== undefined && { stamp }), ...(warnings.length > 0 && { warnings }) });
      } else if ('fatal' in outcome) {
        p.resolve({ ok: false, status: outcome.status ?? 500, message: outcome.fatal });
      }
    }
  }

  /** Routes of this service that another service's identical route takes, or that it takes from another. */
  routeWarnings(name: string): string[] {
    return (this.live?.model.shadowed ?? []).flatMap((x) => {
      if (x.owner === name) return [`route ${x.route} of service "${name}" is the same as one of service "${x.by}", which comes first in the route order (a lower aclName): "${name}" gets none of those requests.`];
      if (x.by === name) return [`route ${x.route} of service "${x.owner}" is the same as one of this service, which comes first in the route order (a lower aclName): "${x.owner}" gets none of those requests now.`];
      return [];
    });
  }

  /** Services whose routes this view shadows or loses, by name, with the other service. */
  shadowedServices(): Map<string, Array<{ route: string; by: string }>> {
    const out = new Map<string, Array<{ route: string; by: string }>>();
    for (const x of this.live?.model.shadowed ?? []) out.set(x.owner, [...(out.get(x.owner) ?? []), { route: x.route, by: x.by }]);
    return out;
  }

  /**
   * ROUTE_CONFLICT=reject: a change that makes one of its routes and another
   * service's the same is refused (409), whichever of the two would win.
   */
  private newRouteConflicts(model: Model, upserted: ReadonlySet<string>): Map<string, string> {
    const culprits = new Map<string, string>();
    if (this.deps.routeConflict !== 'reject') return culprits;
    const before = new Set((this.live?.model.shadowed ?? []).map((x) => `${x.owner}\u0000${x.by}\u0000${x.route}`));
    for (const x of model.shadowed) {
      if (before.has(`${x.owner}\u0000${x.by}\u0000${x.route}`)) continue;
      for (const [name, other] of [[x.owner, x.by], [x.by, x.owner]] as const) {
        if (upserted.has(name)) culprits.set(name, `route ${x.route} of service "${name}" is the same as one of service "${other}" (ROUTE_CONFLICT=reject): give one of them another path or domain, or remove the other first.`);
      }
    }
    return culprits;
  }

  /** One try at making `registry` live, by the cheapest safe path. */
  private async attempt(registry: Registry, changedBy: Map<string, Pending[]>, opts: { forceReload: boolean; reason: string }, started: number, changeIds: string[]): Promise<Attempt> {
    const custom = await this.prepare(registry);
    if (custom.failures.size > 0) return { ok: false, culprits: custom.failures };
    let reloadReason = opts.reason || (opts.forceReload ? 'reload requested' : '');

    if (this.live && !opts.forceReload) {
      const sticky = this.model(registry, this.live.layout, custom);
      if (sticky.conflicts.size > 0) return { ok: false, culprits: sticky.conflicts };
      const clashes = this.newRouteConflicts(sticky.model, upsertedBy(changedBy));
      if (clashes.size > 0) return { ok: false, culprits: clashes, status: 409 };
      if (sticky.model.structure === this.live.model.structure) {
        const ops = runtimeDiff(this.live, sticky.model);
        const persisted = await this.persistOrFail(registry);
        if (persisted) return persisted;
        if (ops.length === 0) {
          this.commit(registry, sticky.model, this.live.files);
          return { ok: true, record: this.record('none', 'nothing to change in HAProxy', true, started, 0, changeIds) };
        }
        const result = await this.deps.dataPlane.runtime(ops);
        if (result.ok) {
          // Files are written after the callers are answered (flushFiles), before the next apply.
          this.commit(registry, sticky.model, undefined);
          return { ok: true, record: this.record('runtime', describeOps(ops), true, started, result.commands ?? 0, changeIds) };
        }
        reloadReason = `runtime API refused a change (${result.message})`;
        this.deps.log.warn({ message: result.message }, 'runtime update failed; reloading');
      } else {
        reloadReason ||= explainReload(this.live.model, sticky.model);
      }
    }

    const phase = phases(this.now);
    const canonical = this.model(registry, undefined, custom);
    if (canonical.conflicts.size > 0) return { ok: false, culprits: canonical.conflicts };
    const clashes = this.newRouteConflicts(canonical.model, upsertedBy(changedBy));
    if (clashes.size > 0) return { ok: false, culprits: clashes, status: 409 };
    phase('model');
    const rendered = renderFiles(this.deps.templates, canonical.model);
    phase('render');
    let check;
    try {
      check = await this.deps.dataPlane.check(rendered.files);
      phase('check');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { ok: false, fatal: `could not write the candidate configuration, nothing was changed: ${e instanceof Error ? e.message : String(e)}`, status: code === 'ENOSPC' || code === 'EDQUOT' ? 507 : 500 };
    }
    if (!check.ok) {
      const suspects = [...changedBy.keys()].filter((n) => registry.entries.has(n) && !this.quarantine.has(n));
      const culprits = await this.attribute(check.alerts, rendered, canonical.model, suspects.length > 0 ? suspects : [...this.active(registry).keys()], registry);
      if (culprits.size > 0) return { ok: false, culprits };
      return { ok: false, fatal: `HAProxy rejected the configuration: ${check.alerts.map((a) => a.message).join(' ')}`, status: 500 };
    }
    const persisted = await this.persistOrFail(registry);
    if (persisted) return persisted;
    phase('persist');
    let reload;
    try {
      reload = await this.deps.dataPlane.commit(rendered.files);
      phase('reload');
    } catch (e) {
      await this.persist(this.committed, false).catch((err: unknown) => this.deps.log.error({ err }, 'could not restore the saved state after a failed swap'));
      const code = (e as NodeJS.ErrnoException).code;
      return { ok: false, fatal: `could not make the configuration live, nothing was changed: ${e instanceof Error ? e.message : String(e)}`, status: code === 'ENOSPC' || code === 'EDQUOT' ? 507 : 500 };
    }
    if (!reload.ok) {
      await this.persist(this.committed, false).catch(() => undefined);
      const culprits = attributeMessage(reload.message, canonical.model, [...changedBy.keys()]);
      if (culprits.size > 0) return { ok: false, culprits };
      return { ok: false, fatal: `HAProxy reload failed: ${reload.message}` };
    }
    this.commit(registry, canonical.model, rendered.files);
    this.deps.log.debug({ phases: phase.done() }, 'reload phases (ms)');
    return { ok: true, record: this.record('reload', reloadReason || 'configuration structure changed', true, started, 0, changeIds) };
  }

  private commit(registry: Registry, model: Model, files: ConfigFiles | undefined): void {
    this.committed = registry;
    this.live = { model, files, layout: model.layout, maps: model.maps };
  }

  /** The services that render; `revived` ones count even if quarantined (a dry run of their change). */
  private active(registry: Registry, revived?: ReadonlySet<string>): Map<string, ServiceSpec> {
    const specs = new Map<string, ServiceSpec>();
    for (const e of registry.entries.values()) if (!this.quarantine.has(e.name) || revived?.has(e.name)) specs.set(e.name, e.spec);
    return specs;
  }

  private model(registry: Registry, previous: Layout | undefined, inputs: Prepared, without: ReadonlySet<string> = new Set(), preview: PreviewInput = {}) {
    const services = [...this.active(registry, preview.revived).values()].filter((s) => !without.has(s.serviceName));
    const certs = preview.certs ?? this.deps.certs();
    const model = buildModel({ settings: this.deps.settings, services, hasCerts: certs.hasCerts, certsKey: certs.key, custom: inputs.rendered, ...(inputs.addresses && { addresses: inputs.addresses }) }, previous);
    return { model, conflicts: model.conflicts };
  }

  /** What a model needs besides the registry: custom template output and the addresses of server names. */
  private async prepare(registry: Registry, revived?: ReadonlySet<string>): Promise<Prepared> {
    const custom = await this.customFor(registry, revived);
    const names = this.deps.names;
    if (!names) return custom;
    const addresses = await names.resolveAll(namesToResolveFor(this.active(registry, revived).values(), this.deps.settings));
    return { ...custom, addresses };
  }

  private async customFor(registry: Registry, revived?: ReadonlySet<string>): Promise<{ rendered: Map<string, { frontend?: string; backend?: string }>; failures: Map<string, string> }> {
    const rendered = new Map<string, { frontend?: string; backend?: string }>();
    const failures = new Map<string, string>();
    if (!this.deps.custom) return { rendered, failures };
    for (const spec of this.active(registry, revived).values()) {
      if (spec.templateFePath === undefined && spec.templateBePath === undefined) continue;
      try {
        rendered.set(spec.serviceName, await this.deps.custom.render(spec, []));
      } catch (e) {
        failures.set(spec.serviceName, `custom template of service "${spec.serviceName}" failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return { rendered, failures };
  }

  /**
   * Finds the services that make HAProxy refuse a config: first from the
   * lines its errors point at, else by checking halves of the suspects.
   */
  private async attribute(alerts: Alert[], rendered: RenderedFiles, model: Model, suspects: string[], registry: Registry): Promise<Map<string, string>> {
    const culprits = new Map<string, string>();
    const message = (a: Alert) => a.message.replace(/\[[^\]]*candidate\/haproxy\.cfg:(\d+)\]/, '[haproxy.cfg:$1]');
    for (const a of alerts) {
      const owners = a.line !== undefined ? rendered.owners[a.line - 1] : undefined;
      const named = owners ?? namesToOwners(a.names, model);
      for (const o of named ?? []) culprits.set(o, `HAProxy refused the configuration of service "${o}": ${message(a)}`);
    }
    if (culprits.size > 0) return culprits;
    const text = alerts.map((a) => a.message).join(' ');
    const valid = async (without: Set<string>) => {
      const m = this.model(registry, undefined, await this.prepare(registry), without).model;
      return (await this.deps.dataPlane.check(renderFiles(this.deps.templates, m).files)).ok;
    };
    const found = await bisect(suspects, valid);
    for (const name of found) culprits.set(name, `HAProxy refused the configuration of service "${name}": ${text}`);
    return culprits;
  }

  private quarantineEntry(registry: Registry, name: string, reason: string): void {
    const entry = registry.entries.get(name);
    this.deps.log.warn({ service: name, reason }, 'service quarantined');
    this.quarantine.set(name, { name, reason, owner: entry?.owner ?? 'api', params: entry ? paramsKey(entry) : '' });
  }

  private async persistOrFail(registry: Registry): Promise<Attempt | undefined> {
    try {
      await this.persist(registry, false);
      return undefined;
    } catch (e) {
      // A conflict (409) or an unreachable shared store (503) says so; a local disk problem is 507.
      const status = e instanceof FlowError && (e.status === 409 || e.status === 503) ? e.status : 507;
      return { ok: false, fatal: `could not save the state, nothing was changed: ${e instanceof Error ? e.message : String(e)}`, status };
    }
  }

  /** Saves the services the store keeps (API and env ones); discovery rebuilds its own at start. */
  private async persist(registry: Registry, force: boolean): Promise<void> {
    const state = this.storedState(registry);
    const key = JSON.stringify([state.services, state.removed]);
    if (!force && key === this.lastStored) return;
    await this.deps.store.save(state);
    this.lastStored = key;
  }

  private storedState(registry: Registry): StoredState {
    // Removals older than a week are forgotten: a replica that missed them for that long is rebuilt anyway.
    const horizon = Date.now() - 7 * 24 * 3600 * 1000;
    for (const [name, stamp] of this.tombstones) if (stamp < horizon) this.tombstones.delete(name);
    return {
      version: registry.version,
      services: [...registry.entries.values()]
        .filter((e) => e.owner !== 'docker')
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((e): StoredService => ({ owner: e.owner as 'api' | 'env', params: { ...e.params }, ...(e.stamp !== undefined && { stamp: e.stamp }) }))
        .concat([...this.unparsed.entries()].filter(([name]) => !registry.entries.has(name)).map(([, s]) => s)),
      removed: [...this.tombstones].map(([name, stamp]) => ({ name, stamp })).sort((a, b) => (a.name < b.name ? -1 : 1)),
    };
  }

  private record(kind: ApplyKind, reason: string, ok: boolean, started: number, commands: number, changeIds: string[]): ApplyRecord {
    const record: ApplyRecord = { id: ++this.applyCount, kind, reason, ok, durationMs: this.now() - started, commands, changeIds, at: Date.now() };
    this.records.push(record);
    if (this.records.length > 200) this.records.shift();
    this.deps.log.info({ apply: record.id, kind, reason, durationMs: Math.round(record.durationMs * 10) / 10, changeIds }, 'applied');
    this.deps.onApply?.(record);
    this.scheduleConsolidation();
    return record;
  }

  private consolidation: NodeJS.Timeout | undefined;
  private closed = false;

  /** No more scheduled work (the proxy is stopping). */
  close(): void {
    this.closed = true;
    if (this.consolidation) clearTimeout(this.consolidation);
    this.consolidation = undefined;
  }

  /**
   * Runtime changes keep backend names the live config has (a spare hosting a
   * service, a backend named after a port the service no longer uses) and
   * leave emptied backends behind; stats tooling reads those names. Once no
   * change came for `consolidateAfterMs`, one seamless reload renders the
   * canonical config. Every apply pushes it back, so churn never reloads.
   */
  private scheduleConsolidation(): void {
    const delay = this.deps.consolidateAfterMs ?? 0;
    if (this.consolidation) clearTimeout(this.consolidation);
    this.consolidation = undefined;
    if (delay <= 0 || this.closed || !this.started || !this.needsConsolidation()) return;
    this.consolidation = setTimeout(() => {
      this.consolidation = undefined;
      if (!this.closed && this.needsConsolidation()) void this.submit({ kind: 'reload', recreate: true, reason: 'backend names made canonical again after runtime changes (consolidation)' }, 'consolidate');
    }, delay);
    this.consolidation.unref();
  }

  /** The live config has backend names a fresh render would not give (see scheduleConsolidation). */
  private needsConsolidation(): boolean {
    if (!this.live) return false;
    const canonical = new Map<string, string>();
    for (const e of this.committed.entries.values()) {
      if (this.quarantine.has(e.name) || e.spec.templateBePath !== undefined) continue;
      for (const slot of backendsFor(e.spec, this.deps.settings)) canonical.set(slot.key, slot.canonicalName);
    }
    for (const [name, { key, view }] of this.live.layout.backends) {
      if (key !== undefined && canonical.has(key) && canonical.get(key) !== name) return true;
      if (view.owner === undefined && !name.startsWith('_spare_')) return true;
    }
    return false;
  }

  /** The model HAProxy runs now (routes, backends, servers): what explanations and the dashboard read. */
  get liveModel(): Model | undefined {
    return this.live?.model;
  }

  /**
   * A dry run of an upsert or a remove: what the apply would do (runtime,
   * reload or none, decided as `process` and `attempt` decide it) and the
   * files on both sides. Nothing changes: no store write, no HAProxy call
   * (only `options.check`, a `haproxy -c` on files of its own), no engine state.
   */
  async preview(command: PreviewCommand, options: PreviewOptions = {}): Promise<PreviewResult> {
    const live = this.live;
    if (!live) return { ok: false, status: 503, message: 'nothing is live yet: flow-proxy is still starting.' };
    const liveFiles = live.files ?? renderFiles(this.deps.templates, live.model).files;
    const draft = new Draft(this.committed);
    const revived = new Set<string>();
    const name = command.kind === 'upsert' ? command.entry.name : command.name;
    let changed: boolean;
    if (command.kind === 'upsert') {
      const e = command.entry;
      const clash = draft.aclTakenBy(e.spec.aclName, e.name);
      if (clash !== undefined) return { ok: false, status: 400, message: `aclName "${e.spec.aclName}" is already used by service "${clash}".` };
      const q = this.quarantine.get(e.name);
      changed = !(sameEntry(draft.get(e.name), e) && (!q || q.params === paramsKey(e)));
      if (changed) {
        draft.set(e);
        revived.add(e.name);
      }
    } else {
      const before = draft.get(command.name);
      changed = before !== undefined && (command.onlyOwner === undefined || before.owner === command.onlyOwner);
      if (before && changed) {
        draft.delete(command.name);
        const shadowed = [...this.synced].filter(([owner]) => owner !== before.owner).flatMap(([, list]) => list).find((e) => e.name === command.name);
        if (shadowed) draft.set(shadowed);
        revived.add(command.name);
      }
    }
    if (!changed) return { ok: true, kind: 'none', reason: 'no change', live: liveFiles, candidate: liveFiles, checked: false };
    const registry = draft.toRegistry();
    const custom = await this.prepare(registry, revived);
    const without = new Set<string>();
    const input: PreviewInput = { revived, ...(options.certs && { certs: options.certs }) };
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // Services other than this one that cannot render would be quarantined by the apply: left out here.
      const culprits = custom.failures.size > 0 && attempt === 0 ? custom.failures : await this.previewAttempt(registry, live, custom, without, input, options.check);
      if (!(culprits instanceof Map)) return culprits.ok ? { ...culprits, live: liveFiles } : culprits;
      const own = culprits.get(name);
      if (own !== undefined) return { ok: false, status: 400, message: own };
      if (culprits.size === 0) return { ok: false, status: 500, message: 'could not find a valid configuration for this change' };
      for (const n of culprits.keys()) without.add(n);
    }
    return { ok: false, status: 500, message: 'could not find a valid configuration for this change' };
  }

  /** One dry-run attempt: the outcome, or the services that stop it (with their reasons). */
  private async previewAttempt(registry: Registry, live: LiveState, custom: Prepared, without: ReadonlySet<string>, input: PreviewInput, check: PreviewOptions['check']): Promise<Map<string, string> | Omit<PreviewOk, 'live'> | PreviewFailed> {
    const sticky = this.model(registry, live.layout, custom, without, input);
    if (sticky.conflicts.size > 0) return sticky.conflicts;
    const clashes = this.newRouteConflicts(sticky.model, input.revived ?? new Set());
    if (clashes.size > 0) return { ok: false, status: 409, message: [...clashes.values()].join(' ') };
    if (sticky.model.structure === live.model.structure) {
      const ops = runtimeDiff(live, sticky.model);
      const candidate = renderFiles(this.deps.templates, sticky.model).files;
      return ops.length === 0
        ? { ok: true, kind: 'none', reason: 'nothing to change in HAProxy', candidate, checked: false }
        : { ok: true, kind: 'runtime', reason: describeOps(ops), candidate, checked: false };
    }
    const reason = explainReload(live.model, sticky.model);
    const canonical = this.model(registry, undefined, custom, without, input);
    if (canonical.conflicts.size > 0) return canonical.conflicts;
    const rendered = renderFiles(this.deps.templates, canonical.model);
    if (!check) return { ok: true, kind: 'reload', reason, candidate: rendered.files, checked: false };
    const result = await check(rendered.files);
    if (result.ok) return { ok: true, kind: 'reload', reason, candidate: rendered.files, checked: true };
    const culprits = new Map<string, string>();
    for (const a of result.alerts) {
      const owners = (a.line !== undefined ? rendered.owners[a.line - 1] : undefined) ?? namesToOwners(a.names, canonical.model);
      for (const o of owners ?? []) culprits.set(o, `HAProxy refused the configuration of service "${o}": ${candidateMessage(a)}`);
    }
    if (culprits.size > 0) return culprits;
    const text = result.alerts.map((a) => a.message).join(' ');
    // As the apply's bisection would find: the changed service is at fault when the config is valid without it.
    const changed = [...input.revived ?? []].filter((n) => !without.has(n));
    if (changed.length > 0) {
      const rest = this.model(registry, undefined, custom, new Set([...without, ...changed]), input).model;
      if ((await check(renderFiles(this.deps.templates, rest).files)).ok) return new Map(changed.map((n) => [n, `HAProxy refused the configuration of service "${n}": ${text}`]));
    }
    return { ok: false, status: 500, message: `HAProxy rejected the configuration: ${text}` };
  }
}

/** A change a dry run can preview: what reconfigure and remove submit. */
export type PreviewCommand = Extract<Command, { kind: 'upsert' } | { kind: 'remove' }>;

export interface PreviewOptions {
  /** Certificates as they would be after the call (a serviceCert); default: as they are. */
  certs?: { hasCerts: boolean; key: string };
  /** `haproxy -c` on files of its own; without it a reload is not checked. */
  check?: (files: ConfigFiles) => Promise<CheckResult>;
}

interface PreviewOk {
  ok: true;
  kind: ApplyKind;
  reason: string;
  /** The files HAProxy runs now, and the files it would run. */
  live: ConfigFiles;
  candidate: ConfigFiles;
  /** The candidate passed `haproxy -c` (reloads only; a runtime change is never checked by the apply either). */
  checked: boolean;
}

interface PreviewFailed {
  ok: false;
  status: number;
  message: string;
}

export type PreviewResult = PreviewOk | PreviewFailed;

interface PreviewInput {
  revived?: ReadonlySet<string>;
  certs?: { hasCerts: boolean; key: string };
}

/** HAProxy's message with the candidate file's path shortened to haproxy.cfg, as `attribute` shows it to callers. */
function candidateMessage(a: Alert): string {
  return a.message.replace(/\[[^\]]*candidate\/haproxy\.cfg:(\d+)\]/, '[haproxy.cfg:$1]');
}

/** Durations of the named phases of one apply, for the debug log. */
function phases(now: () => number): ((name: string) => void) & { done: () => Record<string, number> } {
  const times: Record<string, number> = {};
  let last = now();
  const mark = (name: string) => {
    const t = now();
    times[name] = Math.round((t - last) * 10) / 10;
    last = t;
  };
  return Object.assign(mark, { done: () => times });
}

/** The services a batch upserts (a route conflict they create is theirs). */
function upsertedBy(changedBy: ReadonlyMap<string, Pending[]>): Set<string> {
  return new Set([...changedBy].filter(([, ps]) => ps.some((p) => p.command.kind === 'upsert')).map(([name]) => name));
}

function ids(batch: Pending[]): string[] {
  return batch.map((p) => p.changeId).filter((id) => id !== '');
}

function paramsKey(entry: Entry): string {
  return JSON.stringify([entry.params, entry.spec.servers ?? []]);
}

function namesToOwners(names: string[], model: Model): string[] | undefined {
  const owners = new Set<string>();
  for (const n of names) {
    const owner = model.layout.backends.get(n)?.view.owner;
    if (owner) owners.add(owner);
    const fe = model.view.tcpFrontends.find((f) => f.name === n) ?? model.view.listens.find((l) => l.name === n);
    for (const o of fe?.owners ?? []) owners.add(o);
  }
  return owners.size > 0 ? [...owners] : undefined;
}

/** Reload failures HAProxy can name, such as a port another process holds. */
function attributeMessage(message: string, model: Model, suspects: string[]): Map<string, string> {
  const culprits = new Map<string, string>();
  const port = /cannot bind socket[^\n]*?:(\d+)\]/i.exec(message) ?? /Starting (?:frontend|proxy) ([^:]+):/i.exec(message);
  if (port) {
    for (const fe of [...model.view.tcpFrontends, ...model.view.listens]) {
      if (String(fe.port) === port[1] || fe.name === port[1]) {
        for (const o of fe.owners) if (suspects.includes(o)) culprits.set(o, `HAProxy could not start what service "${o}" needs: ${message}`);
      }
    }
  }
  return culprits;
}

/** Finds the suspects whose presence makes `valid` false, testing halves (group testing). */
export async function bisect(suspects: readonly string[], valid: (without: Set<string>) => Promise<boolean>): Promise<string[]> {
  if (suspects.length === 0) return [];
  if (!(await valid(new Set(suspects)))) return []; // broken even without them: not their fault
  const culprits = new Set<string>();
  const find = async (candidates: readonly string[], excluded: readonly string[]): Promise<void> => {
    if (candidates.length === 0) return;
    if (await valid(new Set([...excluded, ...culprits]))) return;
    if (candidates.length === 1) {
      culprits.add(candidates[0] as string);
      return;
    }
    const half = Math.ceil(candidates.length / 2);
    const a = candidates.slice(0, half);
    const b = candidates.slice(half);
    await find(a, [...excluded, ...b]);
    await find(b, excluded);
  };
  await find(suspects, []);
  return [...culprits];
}

/** A sentence on why the structure changed, from the live and the next (sticky) model. */
function explainReload(live: Model, next: Model): string {
  const before = new Set(live.layout.order);
  const added = next.layout.order.filter((n) => !before.has(n));
  if (added.length > 0) {
    const owners = added.map((n) => next.layout.backends.get(n)?.view.owner ?? n);
    return `new backend${added.length > 1 ? 's' : ''} for ${[...new Set(owners)].slice(0, 5).join(', ')} (no free spare fits)`;
  }
  for (const name of next.layout.order) {
    const a = live.layout.backends.get(name)?.view;
    const b = next.layout.backends.get(name)?.view;
    if (a && b && JSON.stringify({ ...a, owner: '', servers: [] }) !== JSON.stringify({ ...b, owner: '', servers: [] })) {
      return `options of ${b.owner ?? name} changed (backend ${name})`;
    }
    if (a && b && !b.dynamic && JSON.stringify(a.servers) !== JSON.stringify(b.servers)) return `servers of ${b.owner ?? name} changed (static servers)`;
  }
  if (JSON.stringify(live.view.http.routing) !== JSON.stringify(next.view.http.routing)) return 'routing rules changed';
  return 'frontend or global settings changed';
}
