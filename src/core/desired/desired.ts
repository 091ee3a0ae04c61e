import { GONE, LayeredMap } from '../../domain/layered.js';
import { Draft, EMPTY_REGISTRY, registryOf, remove, sameEntry, stamped, upsert, type Entry, type Owner, type Registry } from '../../domain/registry.js';
import type { ServiceSpec } from '../../domain/spec.js';
import type { StoredService, Tombstone } from '../ports.js';
import { liveTombstones, TOMBSTONE_HORIZON_MS, trimTombstones } from './storedState.js';

/**
 * The desired state and the rules that change it, as a pure reducer:
 * commands from every source (API, Docker, store, peers, environment) in,
 * the next state out. Last writer wins between replicas (write stamps and
 * tombstones), an API service wins over a discovered one of the same name
 * (which comes back when the API one goes), and a service HAProxy refused is
 * quarantined until it changes. No I/O, no clock: `now` is passed in.
 */

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
  /**
   * Reload HAProxy; with recreate the config is rendered again first. `consolidate`: a reload to give
   * drifted backend names their canonical ones (the config may be made from the live one).
   */
  | { kind: 'reload'; recreate: boolean; reason?: string; consolidate?: boolean }
  /** Render again because something outside the registry changed (certificates, templates). */
  | { kind: 'refresh'; reason: string };

/** A command as the reducer takes it: a restore's entries already read. */
export type ReducibleCommand = Exclude<Command, { kind: 'restore' }> | { kind: 'restore'; entries: Entry[] };

export interface Quarantined {
  name: string;
  reason: string;
  owner: Owner;
}

/** A quarantined service and the parameters it had then: the same parameters stay quarantined. */
export interface QuarantineRecord extends Quarantined {
  params: string;
}

export interface DesiredState {
  readonly registry: Registry;
  readonly quarantine: ReadonlyMap<string, QuarantineRecord>;
  /** Removals of API services, by name, with their time: replicas must not resurrect them (for the horizon; up to TOMBSTONE_LIMIT × 1.25, storedState.ts). */
  readonly tombstones: ReadonlyMap<string, number>;
  /** Stored services that no longer parse: kept in the store, shown as quarantined, never dropped silently. */
  readonly unparsed: ReadonlyMap<string, StoredService>;
  /** What each discovery owner last synced: a discovered service an API one shadowed comes back when that one is removed. */
  readonly synced: ReadonlyMap<Owner, readonly Entry[]>;
  /** The latest write stamp seen or given. */
  readonly lastStamp: number;
  /** When removals past the horizon were last dropped (once per SWEEP_EVERY_MS: a pass over all of them). */
  readonly swept: number;
}

/** How often removals past the horizon are looked for; in between, a batch costs only the removals it changes. */
export const SWEEP_EVERY_MS = 3600 * 1000;

export const EMPTY_DESIRED: DesiredState = { registry: EMPTY_REGISTRY, quarantine: new Map(), tombstones: new Map(), unparsed: new Map(), synced: new Map(), lastStamp: 0, swept: Number.NEGATIVE_INFINITY };

/** The state a start restores: stored and environment entries, records that no longer parse, remembered removals. */
export function initialDesired(entries: readonly Entry[], invalid: ReadonlyArray<Quarantined & { stored: StoredService }>, removed: readonly Tombstone[]): DesiredState {
  // A loop, not Math.max(...stamps): a store of a few hundred thousand stamps is more arguments than a call takes.
  let lastStamp = 0;
  for (const e of entries) lastStamp = Math.max(lastStamp, e.stamp ?? 0);
  for (const t of removed) lastStamp = Math.max(lastStamp, t.stamp);
  return {
    registry: registryOf(entries),
    quarantine: new Map(invalid.map((q) => [q.name, { name: q.name, reason: q.reason, owner: q.owner, params: '' }])),
    tombstones: trimTombstones(new Map(removed.map((t) => [t.name, t.stamp]))),
    unparsed: new Map(invalid.map((q) => [q.name, q.stored])),
    synced: new Map(),
    lastStamp,
    swept: Number.NEGATIVE_INFINITY,
  };
}

/** What one batch of commands did. Indexes are positions in the batch given to applyCommands. */
export interface Reduction {
  next: DesiredState;
  /** Services the batch changed, with the commands that changed them. */
  changed: Map<string, number[]>;
  /** Commands refused without an apply (an aclName another service uses), with the reason. */
  refused: Map<number, string>;
  /** The write stamp given to each API change. */
  stamps: Map<number, number>;
  /** reload with recreate, or a refresh: render again. */
  rerender: boolean;
  /** A consolidation reload is in the batch: the canonical config, made from the live one when it can be (rerender beside it builds it whole). */
  consolidate: boolean;
  /** reload without recreate: only reload HAProxy with its files. */
  reloadOnly: boolean;
  /** Why, when the batch asks to render again. */
  reason: string;
  /** The registry right after the batch's restores: what the shared store holds already (not written back). */
  restored?: Registry;
  /** Only write stamps changed (anti-entropy learnt newer times for the same content). */
  stampsOnly: boolean;
}

/** Applies a batch: restores first (so local changes of the same batch go on top of what the shared store says), then in order. */
export function applyCommands(state: DesiredState, batch: readonly ReducibleCommand[], now: number): Reduction {
  const order = [...batch.keys()].sort((a, b) => Number(batch[b]?.kind === 'restore') - Number(batch[a]?.kind === 'restore') || a - b);
  const draft = new Draft(state.registry);
  const quarantine = new Map(state.quarantine);
  const horizon = now - TOMBSTONE_HORIZON_MS;
  const sweep = now - state.swept >= SWEEP_EVERY_MS;
  const removals = sweep ? new Map([...state.tombstones].filter(([, stamp]) => stamp >= horizon)) : state.tombstones;
  // This batch's removals on top of the others (layered.ts), so that a batch costs what it changes.
  const layer = new Map<string, number | typeof GONE>();
  const tombstones = {
    get: (name: string) => {
      const o = layer.get(name);
      return o === undefined ? removals.get(name) : o === GONE ? undefined : o;
    },
    set: (name: string, stamp: number) => void layer.set(name, stamp),
    delete: (name: string) => {
      if (tombstones.get(name) !== undefined) layer.set(name, GONE);
    },
  };
  // Copied on the first change only: an unchanged map keeps its identity (the store diff relies on it).
  let unparsed = state.unparsed as Map<string, StoredService>;
  const dropUnparsed = (name: string) => {
    if (!unparsed.has(name)) return;
    if (unparsed === state.unparsed) unparsed = new Map(state.unparsed);
    unparsed.delete(name);
  };
  const synced = new Map(state.synced);
  let lastStamp = state.lastStamp;
  const see = (stamp: number) => (lastStamp = Math.max(lastStamp, stamp));
  const give = () => (lastStamp = Math.max(now, lastStamp + 1));
  const r: Reduction = { next: state, changed: new Map(), refused: new Map(), stamps: new Map(), rerender: false, consolidate: false, reloadOnly: false, reason: '', stampsOnly: false };
  const mark = (name: string, i: number) => r.changed.set(name, [...(r.changed.get(name) ?? []), i]);
  const unchanged = (before: Entry | undefined, e: Entry) => {
    const q = quarantine.get(e.name);
    return sameEntry(before, e) && (!q || q.params === paramsKey(e));
  };
  const stampOf = (given: number | undefined) => (given !== undefined ? see(given) : give());
  // An API service's removal stamp, or its write stamp (discovered services have neither).
  const known = (name: string) => {
    const local = draft.get(name);
    return Math.max(local && local.owner !== 'docker' ? local.stamp ?? 0 : -1, tombstones.get(name) ?? -1);
  };

  for (const i of order) {
    const c = batch[i] as ReducibleCommand;
    if (c.kind === 'upsert' || c.kind === 'remove') dropUnparsed(c.kind === 'upsert' ? c.entry.name : c.name);
    if (c.kind === 'upsert') {
      const clash = draft.aclTakenBy(c.entry.spec.aclName, c.entry.name);
      if (clash !== undefined) {
        r.refused.set(i, `aclName "${c.entry.spec.aclName}" is already used by service "${clash}".`);
        continue;
      }
      if (unchanged(draft.get(c.entry.name), c.entry)) continue;
      const stamp = stampOf(c.stamp);
      r.stamps.set(i, stamp);
      draft.set(c.entry.owner === 'docker' ? c.entry : stamped(c.entry, stamp));
      tombstones.delete(c.entry.name);
      quarantine.delete(c.entry.name);
      mark(c.entry.name, i);
    } else if (c.kind === 'remove') {
      const before = draft.get(c.name);
      if (!before || (c.onlyOwner !== undefined && before.owner !== c.onlyOwner)) {
        if (quarantine.delete(c.name)) mark(c.name, i);
        continue;
      }
      draft.delete(c.name);
      if (before.owner !== 'docker') {
        const stamp = stampOf(c.stamp);
        r.stamps.set(i, stamp);
        tombstones.set(c.name, stamp);
      }
      // A discovered service this API one shadowed comes back.
      const shadowed = [...synced].filter(([owner]) => owner !== before.owner).flatMap(([, list]) => list).find((e) => e.name === c.name);
      if (shadowed) draft.set(shadowed);
      quarantine.delete(c.name);
      mark(c.name, i);
    } else if (c.kind === 'sync') {
      synced.set(c.owner, c.entries);
      const wanted = new Set(c.entries.map((e) => e.name));
      for (const e of [...draft.values()]) {
        if (e.owner === c.owner && !wanted.has(e.name)) {
          draft.delete(e.name);
          quarantine.delete(e.name);
          mark(e.name, i);
        }
      }
      for (const e of c.entries) {
        const before = draft.get(e.name);
        if (before && before.owner !== c.owner) continue; // a service of the same name from the API wins
        if (unchanged(before, e)) continue;
        draft.set(e);
        quarantine.delete(e.name);
        mark(e.name, i);
      }
    } else if (c.kind === 'merge') {
      for (const e of c.entries) {
        const incoming = e.stamp ?? 0;
        if (incoming <= known(e.name)) continue;
        see(incoming);
        const local = draft.get(e.name);
        tombstones.delete(e.name);
        draft.set(e);
        if (sameEntry(local, e)) continue; // same content, newer time: nothing to apply
        quarantine.delete(e.name);
        mark(e.name, i);
      }
      for (const t of c.removed) {
        if (t.stamp <= known(t.name)) continue;
        see(t.stamp);
        tombstones.set(t.name, t.stamp);
        const local = draft.get(t.name);
        if (local && local.owner !== 'docker') {
          draft.delete(t.name);
          quarantine.delete(t.name);
          mark(t.name, i);
        }
      }
      r.stampsOnly = true;
    } else if (c.kind === 'restore') {
      const wanted = new Set(c.entries.map((e) => e.name));
      for (const e of [...draft.values()]) {
        if (e.owner !== 'docker' && !wanted.has(e.name)) {
          draft.delete(e.name);
          quarantine.delete(e.name);
          mark(e.name, i);
        }
      }
      for (const e of c.entries) {
        if (sameEntry(draft.get(e.name), e)) continue;
        draft.set(e);
        quarantine.delete(e.name);
        mark(e.name, i);
      }
      r.restored = draft.toRegistry();
    } else if (c.kind === 'reload') {
      if (c.consolidate) r.consolidate = true;
      else if (c.recreate) r.rerender = true;
      else r.reloadOnly = true;
      if (c.reason !== undefined) r.reason = c.reason;
    } else {
      r.rerender = true;
      r.reason = c.reason;
    }
  }
  r.next = { registry: draft.toRegistry(), quarantine, tombstones: trimTombstones(LayeredMap.on(removals, layer)), unparsed, synced, lastStamp, swept: sweep ? now : state.swept };
  return r;
}

/** The state with a service quarantined (HAProxy refused it, or it cannot render), with the reason. */
export function quarantineService(state: DesiredState, name: string, reason: string): DesiredState {
  const entry = state.registry.entries.get(name);
  const quarantine = new Map(state.quarantine);
  quarantine.set(name, { name, reason, owner: entry?.owner ?? 'api', params: entry ? paramsKey(entry) : '' });
  return { ...state, quarantine };
}

/** The state with a caller's change of one service undone: the version live before, or none. */
export function revertService(state: DesiredState, name: string, live: Registry): DesiredState {
  const previous = live.entries.get(name);
  return { ...state, registry: previous ? upsert(state.registry, previous) : remove(state.registry, name) };
}

/** The specs that render: every service but the quarantined ones (and those a preview revives). */
export function activeSpecs(state: DesiredState, revived?: ReadonlySet<string>): Map<string, ServiceSpec> {
  const specs = new Map<string, ServiceSpec>();
  for (const e of state.registry.entries.values()) if (!state.quarantine.has(e.name) || revived?.has(e.name)) specs.set(e.name, e.spec);
  return specs;
}

/** What replicas exchange: the API services with their write times, and the removals. */
export function replicaStateOf(state: DesiredState, now: number): { services: Array<{ params: Record<string, string>; stamp: number }>; removed: Tombstone[] } {
  const services = [...state.registry.entries.values()]
    .filter((e) => e.owner === 'api')
    .map((e) => ({ params: { ...e.params }, stamp: e.stamp ?? 0 }))
    .sort((a, b) => ((a.params.serviceName as string) < (b.params.serviceName as string) ? -1 : 1));
  return { services, removed: liveTombstones(state.tombstones, now) };
}

/** The quarantine, without the parameter keys. */
export function quarantinedList(state: DesiredState): Quarantined[] {
  return [...state.quarantine.values()].map(({ name, reason, owner }) => ({ name, reason, owner }));
}

function paramsKey(entry: Entry): string {
  return JSON.stringify([entry.params, entry.spec.servers ?? []]);
}
