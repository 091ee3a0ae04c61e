// Long on purpose: the safe apply (runtime or reload, save, swap, restore on failure, check and attribution) reads as one sequence.
import type { Registry } from '../../domain/registry.js';
import { renderMemo } from '../../render/memo.js';
import { backendsNamedByFrontends, buildModel, namesToResolveFor, restructured, type Layout, type Model } from '../../render/model.js';
import { keepLiveNames } from './layout.js';
import type { Compiled } from '../../render/render.js';
import type { BackendView } from '../../render/backend.js';
import type { RenderSettings } from '../../render/settings.js';
import type { Lookup, MapEntry } from '../../render/routes.js';
import { attribute, attributeReloadFailure } from './attribution.js';
import { activeSpecs, quarantineService, type DesiredState } from '../desired/desired.js';
import { renderFiles, type RenderedFiles } from './files.js';
import { explainReload, newRouteConflicts } from './liveView.js';
import type { Log } from '../log.js';
import type { ApplyKind, CheckResult, ConfigFiles, CustomTemplates, DataPlane } from '../ports.js';
import type { ResultCode } from '../results.js';
import { describeOps, runtimeDiff } from './runtimeDiff.js';
import { canonicalized } from './canonical.js';
import { buildIndex, commitPatch, planPatch, type LiveIndex, type PatchChange, type PatchContext } from './patch.js';
import { backendsFor } from '../../render/backend.js';
import type { ServiceSpec } from '../../domain/spec.js';
import { cmp } from '../../domain/values.js';

/**
 * The apply side of the reconciler: the model HAProxy runs, and how a new
 * desired state becomes live by the cheapest safe path. A change local to
 * plain services, patched into the live model (patch.ts) and sent through
 * HAProxy's runtime API; else, if only map entries and dynamic servers
 * differ from the live layout, the runtime API too; else a fresh render,
 * the state saved, the files swapped and a seamless reload, which HAProxy's
 * master refuses whole if it cannot load the files. A refused config never
 * goes live, and `haproxy -c` of what HAProxy has not read yet names its
 * culprits (before the reload with CHECK_BEFORE_RELOAD, or without a live HAProxy).
 */

export type { ApplyKind };

export interface ApplierDeps {
  dataPlane: DataPlane;
  settings: RenderSettings;
  templates: Compiled;
  custom?: CustomTemplates;
  /** Whether certificates exist, and a key that changes with them. */
  certs: () => { hasCerts: boolean; key: string };
  /** Resolves server names before rendering, so HAProxy never resolves them through libc while it loads. */
  names?: { resolveAll(hosts: Iterable<string>): Promise<ReadonlyMap<string, string | undefined>> };
  /** ROUTE_CONFLICT=reject: a change that makes one of its routes another service's is refused. */
  routeConflict?: 'warn' | 'reject';
  /** CHECK_BEFORE_RELOAD: `haproxy -c` before every reload, not only to explain a refused one. */
  checkBeforeReload?: boolean;
  /** false: every change builds the whole model (no runtime patches); for tests that compare both paths. */
  incremental?: boolean;
  log: Log;
  now: () => number;
}

export interface LiveState {
  model: Model;
  /** The files on disk; after a runtime change they are rendered and written once the callers have their answer. */
  files: ConfigFiles | undefined;
  layout: Layout;
  maps: Record<Lookup, MapEntry[]>;
  /** The templates its files were rendered with. */
  templates: Compiled;
  /** The backend views HAProxy read from a config file (at the last start or reload); runtime changes add none. */
  parsed: ReadonlySet<BackendView>;
  /** Made live by a start or a reload (rendered whole, or patched from a canonical model): every backend has its canonical name. */
  canonical: boolean;
}

/** Inputs of a model besides the desired state: custom template output and the addresses of server names. */
export interface Prepared {
  rendered: Map<string, { frontend?: string; backend?: string }>;
  failures: Map<string, string>;
  addresses?: ReadonlyMap<string, string | undefined>;
}

/** For dry runs: services to render although quarantined (the one being previewed), and certificates as they would be. */
export interface ModelOverrides {
  revived?: ReadonlySet<string>;
  certs?: { hasCerts: boolean; key: string };
}

/** Saving the desired state at the right moment of an apply; a failure says why nothing changed. */
export interface Persistence {
  save(registry: Registry): Promise<{ code: ResultCode; message: string } | undefined>;
  /** Puts back what was saved before (the swap failed after the save). */
  restore(): Promise<void>;
}

export type Attempt =
  | { ok: true; kind: ApplyKind; reason: string; commands: number }
  /** The services that stop this state, with HAProxy's reason; code: what a caller whose change it is gets. */
  | { ok: false; culprits: Map<string, string>; code: 'REJECTED' | 'ROUTE_CONFLICT' }
  | { ok: false; fatal: string; code: ResultCode };

export class Applier {
  private current: LiveState | undefined;
  /** What render remembers between applies: an unchanged service is not rebuilt. */
  readonly memo = renderMemo();
  /** What runtime patches keep about the live model (patch.ts); built when first needed after a full apply. */
  private index: LiveIndex | undefined;
  /** Commits (and starts) writing the live files right now. */
  private committing = 0;

  constructor(private readonly deps: ApplierDeps) {}

  get live(): LiveState | undefined {
    return this.current;
  }

  /** Replaces the main templates (a consul:// template changed); the next apply renders with them. */
  setTemplates(templates: Compiled): void {
    this.deps.templates = templates;
  }

  get templates(): Compiled {
    return this.deps.templates;
  }

  /** The model of a desired state; with `previous`, backends keep their live names and new services take spares. */
  model(state: DesiredState, previous: Layout | undefined, inputs: Prepared, without: ReadonlySet<string> = new Set(), overrides: ModelOverrides = {}): { model: Model; conflicts: Map<string, string> } {
    const services = [...activeSpecs(state, overrides.revived).values()].filter((s) => !without.has(s.serviceName));
    const certs = overrides.certs ?? this.deps.certs();
    const model = buildModel({ settings: this.deps.settings, services, hasCerts: certs.hasCerts, certsKey: certs.key, custom: inputs.rendered, memo: this.memo, ...(inputs.addresses && { addresses: inputs.addresses }) }, previous && keepLiveNames(previous));
    return { model, conflicts: model.conflicts };
  }

  /** What a model of this state needs besides it: custom template output and the addresses of server names. */
  async prepare(state: DesiredState, revived?: ReadonlySet<string>): Promise<Prepared> {
    const specs = activeSpecs(state, revived);
    const rendered = new Map<string, { frontend?: string; backend?: string }>();
    const failures = new Map<string, string>();
    const custom = this.deps.custom;
    if (custom) {
      for (const spec of specs.values()) {
        if (spec.templateFePath === undefined && spec.templateBePath === undefined) continue;
        try {
          rendered.set(spec.serviceName, await custom.render(spec));
        } catch (e) {
          failures.set(spec.serviceName, `custom template of service "${spec.serviceName}" failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    if (!this.deps.names) return { rendered, failures };
    return { rendered, failures, addresses: await this.deps.names.resolveAll(namesToResolveFor(specs.values(), this.deps.settings, this.memo)) };
  }

  /**
   * The first apply: this state rendered and checked, then HAProxy started
   * (or adopted and reloaded) with it. A service that cannot render or that
   * HAProxy refuses is quarantined (and reported through `onQuarantine`).
   */
  async start(state: DesiredState, onQuarantine: (name: string, reason: string) => void): Promise<{ state: DesiredState; how: 'started' | 'adopted' } | { error: string }> {
    let s = state;
    const quarantine = (name: string, reason: string) => {
      onQuarantine(name, reason);
      return quarantineService(s, name, reason);
    };
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const phase = phases(this.deps.now);
      const inputs = await this.prepare(s);
      phase('prepare');
      const { model, conflicts } = this.model(s, undefined, inputs);
      phase('model');
      if (conflicts.size > 0) {
        for (const [name, reason] of conflicts) s = quarantine(name, reason);
        continue;
      }
      const rendered = renderFiles(this.deps.templates, model);
      phase('render');
      // With no HAProxy running there is no live config to protect: HAProxy's own start reads the
      // config, and `haproxy -c` (a quarter of a second at 10,000 services) runs only when it refuses,
      // to find the services to quarantine.
      let refused: unknown;
      if (this.deps.dataPlane.startsFresh?.()) {
        try {
          const how = await this.writing(() => this.deps.dataPlane.start(rendered.files));
          phase('haproxy');
          this.commit(model, rendered.files, true);
          this.deps.log.debug({ phases: phase.done() }, 'start phases (ms)');
          return { state: s, how };
        } catch (e) {
          refused = e;
        }
      }
      const check = await this.deps.dataPlane.check(rendered.files);
      if (!check.ok) {
        const culprits = await attribute(check.alerts, rendered, model, [...activeSpecs(s).keys()], (without) => this.valid(s, without));
        if (culprits.size === 0) return { error: `the generated configuration is invalid: ${check.alerts.map((a) => a.message).join(' ')}` };
        for (const [name, reason] of culprits) s = quarantine(name, reason);
        continue;
      }
      // HAProxy accepts the config but could not start with it (a port taken, a file it cannot read): a start-up error.
      if (refused !== undefined) throw refused;
      phase('check');
      const how = await this.writing(() => this.deps.dataPlane.start(rendered.files));
      if (how === 'adopted') {
        const r = await this.writing(() => this.deps.dataPlane.commit(rendered.files));
        if (!r.ok) return { error: `could not reload the adopted HAProxy: ${r.message}` };
      }
      phase('haproxy');
      this.commit(model, rendered.files, true);
      this.deps.log.debug({ phases: phase.done() }, 'start phases (ms)');
      return { state: s, how };
    }
    return { error: 'could not build a valid configuration at start' };
  }

  /**
   * One try at making a state live, by the cheapest safe path. `changed`: the services this batch changed;
   * `previous`: the state live now, when the change may be patched into the live model (patch.ts).
   */
  async attempt(state: DesiredState, changed: ReadonlySet<string>, upserted: ReadonlySet<string>, opts: { rerender: boolean; consolidate?: boolean; reason: string; previous?: DesiredState }, persistence: Persistence): Promise<Attempt> {
    let reason = opts.reason || (opts.rerender ? 'reload requested' : '');
    const live = this.current;
    const phase = phases(this.deps.now);
    // Consolidation is a reload to the canonical model (made from the live one when it can be); a
    // patch that cannot be made says why a reload is needed (HAProxy refused its operations, or the
    // structure certainly changes): either way the sticky model below would only say the same.
    let reloadNeeded = opts.consolidate === true;
    let prebuilt: { model: Model; index: LiveIndex } | undefined;
    if (live && !opts.rerender && opts.previous && this.deps.incremental !== false) {
      const patched = await this.patch(live, opts.previous, state, changed, persistence, reloadNeeded);
      if (patched && 'reload' in patched) {
        reason ||= patched.reload;
        reloadNeeded = true;
        prebuilt = patched.canonical;
      } else if (patched) return patched;
      phase('patch');
    }
    // A reload is certain: HAProxy's server state is read while the model is made and rendered.
    const readingAhead = opts.rerender || reloadNeeded;
    if (readingAhead) this.deps.dataPlane.prepareCommit?.();
    const inputs = prebuilt ? undefined : await this.prepare(state);
    if (inputs) phase('prepare');
    if (inputs && inputs.failures.size > 0) return { ok: false, culprits: inputs.failures, code: 'REJECTED' };

    if (live && inputs && !opts.rerender && !reloadNeeded) {
      const sticky = this.model(state, live.layout, inputs);
      if (sticky.conflicts.size > 0) return { ok: false, culprits: sticky.conflicts, code: 'REJECTED' };
      const clashes = this.routeConflicts(sticky.model, upserted);
      if (clashes.size > 0) return { ok: false, culprits: clashes, code: 'ROUTE_CONFLICT' };
      if (sticky.model.structure.value === live.model.structure.value) {
        const ops = runtimeDiff(live, sticky.model);
        const failed = await persistence.save(state.registry);
        if (failed) return { ok: false, fatal: failed.message, code: failed.code };
        if (ops.length === 0) {
          this.commit(sticky.model, live.files);
          return { ok: true, kind: 'none', reason: 'nothing to change in HAProxy', commands: 0 };
        }
        const result = await this.deps.dataPlane.runtime(ops);
        if (result.ok) {
          // The files follow within FILES_AFTER_MS (reconciler.ts), and before anything reads them.
          this.commit(sticky.model, undefined);
          return { ok: true, kind: 'runtime', reason: describeOps(ops), commands: result.commands ?? 0 };
        }
        reason = `runtime API refused a change (${result.message})`;
        this.deps.log.warn({ message: result.message }, 'runtime update failed; reloading');
      } else {
        reason ||= explainReload(live.model, sticky.model);
      }
      phase('sticky');
    }

    const canonical = prebuilt ? { model: prebuilt.model, conflicts: new Map<string, string>() } : this.model(state, undefined, inputs as Prepared);
    if (canonical.conflicts.size > 0) return { ok: false, culprits: canonical.conflicts, code: 'REJECTED' };
    const clashes = this.routeConflicts(canonical.model, upserted);
    if (clashes.size > 0) return { ok: false, culprits: clashes, code: 'ROUTE_CONFLICT' };
    phase('model');
    if (!readingAhead) this.deps.dataPlane.prepareCommit?.();
    // What HAProxy checks: everything but the backends it runs already, unchanged (see checkedPart).
    const checked = live && live.templates === this.deps.templates ? checkedPart(canonical.model, live.parsed) : canonical.model;
    // A running master keeps its workers when it cannot load a config, so a reload is checked by the reload
    // itself, and `haproxy -c` runs only to say why one was refused. Without a live HAProxy, or with
    // CHECK_BEFORE_RELOAD, it runs first, while the whole config is rendered.
    const checkFirst = !live || this.deps.checkBeforeReload === true;
    const candidate = checkFirst && checked !== canonical.model ? renderFiles(this.deps.templates, checked) : undefined;
    const early = candidate && this.checkOf(candidate.files);
    const rendered = renderFiles(this.deps.templates, canonical.model, checkFirst && candidate === undefined);
    this.deps.dataPlane.prepareFiles?.(rendered.files);
    phase('render');
    if (checkFirst) {
      const refused = await this.refusal(await (early ?? this.checkOf(rendered.files)), candidate ?? rendered, checked, state, changed);
      phase('check');
      if (refused) return refused;
    }
    const failed = await persistence.save(state.registry);
    if (failed) return { ok: false, fatal: failed.message, code: failed.code };
    phase('persist');
    let reload;
    try {
      reload = await this.writing(() => this.deps.dataPlane.commit(rendered.files));
      phase('reload');
    } catch (e) {
      await persistence.restore();
      return { ok: false, fatal: `could not make the configuration live, nothing was changed: ${messageOf(e)}`, code: diskCode(e) };
    }
    if (!reload.ok) {
      await persistence.restore();
      if (!checkFirst) {
        // HAProxy kept the live config; its check names the culprits in the part that changed.
        const diagnosis = renderFiles(this.deps.templates, checked);
        const refused = await this.refusal(await this.checkOf(diagnosis.files), diagnosis, checked, state, changed);
        if (refused) return refused;
      }
      const culprits = attributeReloadFailure(reload.message, canonical.model, [...changed]);
      if (culprits.size > 0) return { ok: false, culprits, code: 'REJECTED' };
      return { ok: false, fatal: `HAProxy reload failed: ${reload.message}`, code: 'HAPROXY' };
    }
    // A reload patch comes with the patch index of its model.
    this.commit(canonical.model, rendered.files, true);
    this.index = prebuilt?.index;
    this.deps.log.debug({ phases: phase.done(), model: prebuilt ? 'patched' : 'built' }, 'reload phases (ms)');
    return { ok: true, kind: 'reload', reason: reason || 'configuration structure changed', commands: 0 };
  }

  /**
   * A change local to a few plain services, made to the live model directly (patch.ts): the state
   * saved, then HAProxy's runtime API. Undefined when the change needs the whole model; `reload`
   * with why when it certainly needs a reload, or HAProxy refused the operations, and with the
   * canonical model to reload with (and its index) when only backends' options change.
   * `consolidate`: a reload comes whatever the change; only its model is looked for.
   */
  private async patch(live: LiveState, previous: DesiredState, state: DesiredState, changed: ReadonlySet<string>, persistence: Persistence, consolidate = false): Promise<Attempt | { reload: string; canonical?: { model: Model; index: LiveIndex } } | undefined> {
    // New certificates are loaded by a reload only.
    if (this.deps.certs().key !== live.model.certsKey) return undefined;
    const specOf = (s: DesiredState, name: string) => (s.quarantine.has(name) ? undefined : s.registry.entries.get(name)?.spec);
    const changes: PatchChange[] = [...changed].map((name) => ({ name, before: specOf(previous, name), after: specOf(state, name) }));
    // In the order the whole model assigns spares in, so that both give the same layout.
    changes.sort((a, b) => order(a.after ?? a.before, b.after ?? b.before));
    const wanted = changes.flatMap((c) => (c.after ? [c.after] : []));
    const addresses = this.deps.names && wanted.length > 0 ? await this.deps.names.resolveAll(namesToResolveFor(wanted, this.deps.settings, this.memo)) : undefined;
    const index = this.liveIndex(previous);
    const ctx = { settings: this.deps.settings, memo: this.memo, routeOrder: this.deps.settings.routeOrder, ...(addresses && { addresses }) };
    // A consolidation's reason is the caller's (attempt's opts.reason).
    const patch = consolidate ? { reload: '' } : planPatch(live.model, index, changes, ctx);
    if (!patch) return undefined;
    if ('reload' in patch) {
      const canonical = await this.canonicalModel(live, index, previous, changes, ctx);
      return canonical ? { ...patch, canonical } : patch;
    }
    const failed = await persistence.save(state.registry);
    if (failed) return { ok: false, fatal: failed.message, code: failed.code };
    if (patch.ops.length === 0) {
      this.commitPatched(live, commitPatch(live.model, index, patch), live.files);
      return { ok: true, kind: 'none', reason: 'nothing to change in HAProxy', commands: 0 };
    }
    const result = await this.deps.dataPlane.runtime(patch.ops);
    if (!result.ok) {
      this.deps.log.warn({ message: result.message }, 'runtime update failed; reloading');
      return { reload: `runtime API refused a change (${result.message})` };
    }
    // The files follow within FILES_AFTER_MS (reconciler.ts), and before anything reads them.
    this.commitPatched(live, commitPatch(live.model, index, patch), undefined);
    return { ok: true, kind: 'runtime', reason: describeOps(patch.ops), commands: result.commands ?? 0 };
  }

  /**
   * The canonical model a reload of these changes makes live, made from the live model: the live one,
   * made canonical first (canonical.ts) when runtime changes left names behind, with the changed
   * backends replaced (planPatch with `reload`). Undefined when only the whole model can tell. In place
   * of a whole model after runtime changes (consolidation), every service's server names are looked up
   * as the whole model looked them up: the lookups that are due, and the `refresh` an address that
   * changed brings (NameResolver's onChange), keep coming with consolidations.
   */
  private async canonicalModel(live: LiveState, index: LiveIndex, previous: DesiredState, changes: PatchChange[], ctx: PatchContext): Promise<{ model: Model; index: LiveIndex } | undefined> {
    const view = live.model.view;
    if (view.http.customFrontends.length > 0 || view.customBackends.length > 0) return undefined;
    if (this.deps.names && !live.canonical) await this.deps.names.resolveAll(namesToResolveFor(activeSpecs(previous).values(), this.deps.settings, this.memo));
    // A canonical live model is its own base, and commitPatch updates the live index in place before
    // the reload is made: harmless, as a reload patch renames no backend and empties none.
    const base = live.canonical ? { model: live.model, index } : canonicalized(live.model, index, this.deps.settings, this.memo);
    const replaced = base && planPatch(base.model, base.index, changes, { ...ctx, reload: true });
    if (!base || !replaced || 'reload' in replaced) return undefined;
    return { model: restructured(commitPatch(base.model, base.index, replaced), this.memo), index: base.index };
  }

  /** The patch index of the live model, built from the state it was made from when first needed. */
  private liveIndex(state: DesiredState): LiveIndex {
    const live = this.current as LiveState;
    if (this.index) return this.index;
    const canonicalOf = (key: string) => {
      const name = key.slice(0, key.indexOf('\u0000'));
      const spec = state.quarantine.has(name) ? undefined : state.registry.entries.get(name)?.spec;
      return spec && spec.templateBePath === undefined ? backendsFor(spec, this.deps.settings, this.memo).find((s) => s.key === key)?.canonicalName : undefined;
    };
    this.index = buildIndex(live.model, canonicalOf, this.deps.settings, this.memo);
    return this.index;
  }

  /**
   * Whether the live backend names are ones a fresh render would not give (a spare hosting a service,
   * a backend named after a port its service no longer uses, an emptied backend): consolidation's question.
   */
  namesDrifted(state: DesiredState): boolean {
    const live = this.current;
    // A canonical render gives every backend its canonical name: nothing to look at until a change.
    if (!live || (live.canonical && !this.index)) return false;
    return this.liveIndex(state).drifted.size > 0;
  }

  /** Reloads HAProxy with the files it has (the /reload endpoint without recreate): they are written first if a runtime change left them behind. */
  async reloadOnly(): ReturnType<DataPlane['reloadOnly']> {
    if (!this.flushFiles()) return { ok: false, message: 'the live configuration files could not be written; HAProxy was not reloaded', durationMs: 0 };
    return this.deps.dataPlane.reloadOnly();
  }

  /** ROUTE_CONFLICT=reject: the services whose change makes one of their routes another service's. */
  routeConflicts(model: Model, upserted: ReadonlySet<string>): Map<string, string> {
    return this.deps.routeConflict === 'reject' ? newRouteConflicts(this.current?.model.shadowed ?? [], model.shadowed, upserted) : new Map();
  }

  /**
   * Writes the files of the live model when a runtime change left them
   * behind, so that any later reload (ours, or the supervisor's after a lost
   * worker) loads exactly what runs. True when the files on disk are the live ones.
   */
  flushFiles(): boolean {
    const live = this.current;
    if (!live || live.files) return true;
    // A commit in flight writes its own files (and copies these as the previous ones): not now.
    if (this.committing > 0) return false;
    const rendered = renderFiles(this.deps.templates, live.model, false);
    try {
      this.deps.dataPlane.writeLive(rendered.files);
      this.current = { ...live, files: rendered.files };
      return true;
    } catch (e) {
      // HAProxy runs the right config already; the files are written again after the next apply.
      this.deps.log.error({ err: e }, 'could not write the live configuration files');
      return false;
    }
  }

  /** The files HAProxy runs (rendered now if a runtime change left them behind). */
  liveFiles(): ConfigFiles | undefined {
    const live = this.current;
    if (!live) return undefined;
    return live.files ?? renderFiles(this.deps.templates, live.model, false).files;
  }

  private checkOf(files: ConfigFiles): Promise<{ result: CheckResult } | { error: unknown }> {
    return this.deps.dataPlane.check(files).then((result) => ({ result }), (error: unknown) => ({ error }));
  }

  /** What an apply answers when `haproxy -c` refused the files rendered from `checked` (undefined: it accepted them). */
  private async refusal(outcome: { result: CheckResult } | { error: unknown }, rendered: RenderedFiles, checked: Model, state: DesiredState, changed: ReadonlySet<string>): Promise<Attempt | undefined> {
    if ('error' in outcome) return { ok: false, fatal: `could not write the candidate configuration, nothing was changed: ${messageOf(outcome.error)}`, code: diskCode(outcome.error) };
    const check = outcome.result;
    if (check.ok) return undefined;
    const suspects = [...changed].filter((n) => state.registry.entries.has(n) && !state.quarantine.has(n));
    const culprits = await attribute(check.alerts, rendered, checked, suspects.length > 0 ? suspects : [...activeSpecs(state).keys()], (without) => this.valid(state, without));
    if (culprits.size > 0) return { ok: false, culprits, code: 'REJECTED' };
    return { ok: false, fatal: `HAProxy rejected the configuration: ${check.alerts.map((a) => a.message).join(' ')}`, code: 'HAPROXY' };
  }

  /** Does HAProxy accept the config of this state without these services? (for group testing) */
  private async valid(state: DesiredState, without: Set<string>): Promise<boolean> {
    const m = this.model(state, undefined, await this.prepare(state), without).model;
    return (await this.deps.dataPlane.check(renderFiles(this.deps.templates, m).files)).ok;
  }

  /** Runs a data-plane call that writes the live files; flushFiles waits for the next chance meanwhile. */
  private async writing<T>(call: () => Promise<T>): Promise<T> {
    this.committing++;
    try {
      return await call();
    } finally {
      this.committing--;
    }
  }

  /** Makes a patched model live; the patch index goes on with it. */
  private commitPatched(live: LiveState, model: Model, files: ConfigFiles | undefined): void {
    this.current = { ...live, model, files, layout: model.layout, maps: model.maps, canonical: false };
  }

  /** Makes a model live; `parsed`: HAProxy read its files (a start or a reload), not runtime commands. */
  private commit(model: Model, files: ConfigFiles | undefined, parsed = false): void {
    const read = parsed ? new Set(model.view.backends) : this.current?.parsed ?? new Set<BackendView>();
    this.current = { model, files, layout: model.layout, maps: model.maps, templates: this.deps.templates, parsed: read, canonical: parsed };
    this.index = undefined;
  }
}

export const MAX_ATTEMPTS = 12;

/**
 * The part of a new model `haproxy -c` must see: every section but the
 * backends HAProxy read already in exactly this form (the same view, so the
 * same text, under the same templates), except those a frontend names
 * (default_backend, TCP use_backend); with a custom template anywhere, the
 * whole config. HAProxy parsing its whole config twice
 * per reload (check, then reload) was most of a reload's cost at 10,000
 * services; the reload itself still reads the whole file, and a failure
 * there leaves the old workers serving and the previous files restored.
 */
export function checkedPart(next: Model, running: ReadonlySet<BackendView>): Model {
  // A custom template (templateFePath, templateBePath) may name any backend, or be named by any: all of it.
  if (next.view.http.customFrontends.length > 0 || next.view.customBackends.length > 0) return next;
  const named = new Set(backendsNamedByFrontends(next.view));
  const backends = next.view.backends.filter((b) => !running.has(b) || named.has(b.name));
  return backends.length === next.view.backends.length ? next : { ...next, view: { ...next.view, backends } };
}

/** The order buildModel sorts services in (aclName, then name). */
function order(a: ServiceSpec | undefined, b: ServiceSpec | undefined): number {
  return cmp(a?.aclName ?? '', b?.aclName ?? '') || cmp(a?.serviceName ?? '', b?.serviceName ?? '');
}


function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A full disk is a 507 for the caller; other write failures are internal. */
function diskCode(e: unknown): ResultCode {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? 'DISK_FULL' : 'INTERNAL';
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
