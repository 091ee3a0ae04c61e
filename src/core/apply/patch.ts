// Long on purpose: planning a patch and committing it must agree on every index they share; they read best side by side.
import { LayeredMap } from '../../domain/layered.js';
import type { ServiceSpec } from '../../domain/spec.js';
import { spareView, structureOf, withAddresses, type BackendView } from '../../render/backend.js';
import type { RenderMemo } from '../../render/memo.js';
import { plainParts, SPARE_PREFIX, type Model } from '../../render/model.js';
import { mapKeysOf, overlaps, type Lookup, type MapEntry, type RouteInput, type RouteOrder } from '../../render/routes.js';
import type { RenderSettings } from '../../render/settings.js';
import { emptied, freeOrder, renamed } from './layout.js';
import { orderOps, serverOps, type RuntimeOp } from './runtimeDiff.js';

/**
 * A change local to a few plain services, made to the live model without
 * building the model of every service again: the cost of a runtime change
 * follows the services it changes, not the services there are.
 *
 * A service is local when all it adds to a model is plain HTTP backends and
 * map routes (render/model.ts `plainParts`). A batch is patched when every
 * service it changes is local before and after, none of its routes shares a
 * key with another service's or overlaps a rule, and each new backend finds
 * its live backend (same structure) or a free spare. Then the patch gives
 * exactly the backends, map entries and runtime operations that building
 * the whole model against the live layout (layout.ts `keepLiveNames`) and
 * diffing it (runtimeDiff.ts) give; test/unit/patch.test.ts checks that on
 * random sequences. Anything else returns undefined and takes that path.
 */

/** What the patch path keeps about the live model; built once per full apply, then kept up to date by each patch. */
export interface LiveIndex {
  /** The backend that serves each backend slot key (`service\0index\0variant`). */
  byKey: Map<string, string>;
  /** Empty backends a new plain service can take, in the order keepLiveNames takes them. */
  free: string[];
  /** Where each backend is in the model's backends (the layout's order). */
  position: Map<string, number>;
  /** Backends whose name a fresh render would not give (a spare hosting a service, an emptied backend). */
  drifted: Set<string>;
  /** The structure of an empty spare backend. */
  spare: string;
}

/** One service of a batch: its spec as live (absent: not rendered) and as wanted (absent: removed or quarantined). */
export interface PatchChange {
  name: string;
  before?: ServiceSpec;
  after?: ServiceSpec;
}

/** What a patch changes: the runtime operations, then what the live model and its index become once HAProxy took them. */
export interface Patch {
  ops: RuntimeOp[];
  backends: Array<{ name: string; key?: string; view: BackendView; canonical?: string; oldKey?: string }>;
  free: string[];
  sets: Array<{ lookup: Lookup; entry: MapEntry }>;
  dels: Array<{ lookup: Lookup; key: string }>;
  owners: Set<string>;
  routes: RouteInput[];
}

/** What planning a patch reads besides the live model: the settings and memo render uses, resolved names, the route order. */
export interface PatchContext {
  settings: RenderSettings;
  memo: RenderMemo;
  /** Addresses of server names, when flow-proxy resolves them. */
  addresses?: ReadonlyMap<string, string | undefined>;
  routeOrder: RouteOrder;
  /**
   * The live model is canonical and a reload follows: backends may change their options, as long as
   * every backend keeps its (canonical) name and none comes or goes; the result is the canonical model.
   */
  reload?: boolean;
}

/** The index of a model just made live; `canonicalOf` gives the name a fresh render gives a slot key. */
export function buildIndex(model: Model, canonicalOf: (key: string) => string | undefined, settings: RenderSettings, memo: RenderMemo): LiveIndex {
  const spare = structureOf(spareView('', settings), memo);
  const index: LiveIndex = { byKey: new Map(), free: [], position: new Map(), drifted: new Set(), spare };
  model.layout.order.forEach((name, i) => {
    index.position.set(name, i);
    const entry = model.layout.backends.get(name);
    if (!entry) return;
    if (entry.key !== undefined) index.byKey.set(entry.key, name);
    else if (structureOf(entry.view, memo) === spare) index.free.push(name);
    if (drifts(name, entry.view, entry.key !== undefined ? canonicalOf(entry.key) : undefined)) index.drifted.add(name);
  });
  index.free.sort(freeOrder);
  return index;
}

/**
 * The patch that makes these changes live; `reload` when they certainly change the structure (a
 * backend's options, or a new backend and no free spare), with why; undefined when the whole model
 * must decide.
 */
export function planPatch(model: Model, index: LiveIndex, changes: readonly PatchChange[], ctx: PatchContext): Patch | { reload: string } | undefined {
  const { memo } = ctx;
  const free = [...index.free];
  const patch: Patch = { ops: [], backends: [], free, sets: [], dels: [], owners: new Set(), routes: [] };
  const adds: RuntimeOp[] = [];
  const moves: RuntimeOp[] = [];
  const serverDels: RuntimeOp[] = [];
  const oldEntries = new Map<string, { lookup: Lookup; key: string; backend: string; owner: string }>();
  const newEntries = new Map<string, { lookup: Lookup; key: string; backend: string; owner: string }>();
  const assigned: Array<NonNullable<ReturnType<typeof plainParts>>> = [];

  for (const change of changes) {
    const { name } = change;
    if (model.conflicts.has(name) || model.shadowed.some((x) => x.owner === name || x.by === name)) return undefined;
    const before = change.before && plainParts(change.before, ctx.settings, memo);
    const after = change.after && plainParts(change.after, ctx.settings, memo);
    if ((change.before && !before) || (change.after && !after)) return undefined;
    patch.owners.add(name);
    if (before) {
      for (const slot of before.slots) if (!index.byKey.has(slot.key)) return undefined;
      for (const route of before.routes((key) => index.byKey.get(key))) {
        if (!collect(route, oldEntries, ctx.routeOrder, model.ruleRoutes)) return undefined;
      }
      // A backend the service no longer has is emptied until the next reload; a plain one is free again at once.
      const kept = new Set(after?.slots.map((s) => s.key) ?? []);
      for (const slot of before.slots) {
        if (kept.has(slot.key)) continue;
        if (ctx.reload) return undefined; // a backend that goes changes the canonical order and spares
        const backend = index.byKey.get(slot.key) as string;
        const live = model.layout.backends.get(backend)?.view as BackendView;
        const view = emptied(live, memo);
        patch.backends.push({ name: backend, view, oldKey: slot.key });
        if (structureOf(view, memo) === index.spare) insertFree(free, backend);
      }
    }
    if (after) assigned.push(after);
  }

  const names = new Map<string, string>();
  for (const parts of assigned) {
    for (const slot of parts.slots) {
      const view = ctx.addresses ? withAddresses(slot.view, ctx.addresses, memo) : slot.view;
      const known = index.byKey.get(slot.key);
      if (ctx.reload && known !== slot.canonicalName) return undefined; // a new backend, or one under another name
      const name = known ?? (structureOf(view, memo) === index.spare ? free.shift() : undefined);
      if (name === undefined) return { reload: `new backend for ${view.owner ?? slot.key} (no free spare fits)` };
      const live = model.layout.backends.get(name)?.view;
      const next = name === view.name ? view : renamed(view, name, memo);
      if (!live) return undefined;
      if (!ctx.reload && structureOf(next, memo) !== structureOf(live, memo)) return { reload: `options of ${view.owner ?? name} changed (backend ${name})` };
      names.set(slot.key, name);
      // A backend emptied by this batch and taken again by it is one change: from its live view to the new one.
      const emptiedHere = patch.backends.findIndex((b) => b.name === name);
      const oldKey = emptiedHere >= 0 ? patch.backends.splice(emptiedHere, 1)[0]?.oldKey : undefined;
      patch.backends.push({ name, key: slot.key, view: next, canonical: slot.canonicalName, ...(oldKey !== undefined && { oldKey }) });
    }
    for (const route of parts.routes((key) => names.get(key))) {
      if (!collect(route, newEntries, ctx.routeOrder, model.ruleRoutes)) return undefined;
      patch.routes.push(route);
    }
  }

  for (const b of patch.backends) {
    const live = model.layout.backends.get(b.name)?.view;
    if (b.view.dynamic) serverOps(b.name, live, b.view, adds, moves, serverDels);
  }
  const mapSets: RuntimeOp[] = [];
  const mapDels: RuntimeOp[] = [];
  for (const [id, e] of newEntries) {
    const holder = find(model.maps[e.lookup], e.key);
    if (holder !== undefined && !patch.owners.has(holder.owner)) return undefined; // another service's route: the order decides
    const old = oldEntries.get(id);
    if (holder !== undefined && old === undefined) return undefined; // held by another changed service: the whole model sorts it out
    if (old?.backend !== e.backend) mapSets.push({ kind: 'setMap', lookup: e.lookup, key: e.key, value: e.backend, exists: old !== undefined });
    patch.sets.push({ lookup: e.lookup, entry: { key: e.key, backend: e.backend, owner: e.owner } });
  }
  for (const [id, e] of oldEntries) {
    if (newEntries.has(id)) continue;
    mapDels.push({ kind: 'delMap', lookup: e.lookup, key: e.key });
    patch.dels.push({ lookup: e.lookup, key: e.key });
  }
  patch.ops = orderOps(adds, moves, mapSets, mapDels, serverDels);
  return patch;
}

/**
 * The live model with a patch made part of it (after HAProxy took its operations), and the index
 * kept up to date. The model given is left as it is: a dry run or an explanation that read it keeps
 * a consistent view. The layout is layered (layered.ts) and only the map lists the patch touches
 * are copied, so this costs the patch, not the services.
 */
export function commitPatch(model: Model, index: LiveIndex, patch: Patch): Model {
  // A batch with nothing to patch (a consolidation alone): not even a copy of the backends.
  if (patch.owners.size === 0) return model;
  for (const b of patch.backends) {
    if (b.oldKey !== undefined && index.byKey.get(b.oldKey) === b.name) index.byKey.delete(b.oldKey);
  }
  const layout = new Map<string, { key?: string; view: BackendView }>();
  const backends = [...model.view.backends];
  for (const b of patch.backends) {
    layout.set(b.name, { ...(b.key !== undefined && { key: b.key }), view: b.view });
    backends[index.position.get(b.name) as number] = b.view;
    if (b.key !== undefined) index.byKey.set(b.key, b.name);
    if (drifts(b.name, b.view, b.canonical)) index.drifted.add(b.name);
    else index.drifted.delete(b.name);
  }
  index.free = patch.free;
  const maps = { ...model.maps };
  const touched = new Set<Lookup>([...patch.dels.map((d) => d.lookup), ...patch.sets.map((x) => x.lookup)]);
  for (const lookup of touched) maps[lookup] = [...model.maps[lookup]];
  for (const d of patch.dels) remove(maps[d.lookup], d.key);
  for (const x of patch.sets) put(maps[x.lookup], x.entry);
  return {
    ...model,
    view: { ...model.view, backends },
    layout: { order: model.layout.order, backends: LayeredMap.on(model.layout.backends, layout) },
    maps,
    routes: [...model.routes.filter((r) => !patch.owners.has(r.owner)), ...patch.routes],
  };
}

/** The map entries of a route, unless it needs a rule, overlaps one, or repeats a key of the same batch. */
function collect(route: RouteInput, into: Map<string, { lookup: Lookup; key: string; backend: string; owner: string }>, order: RouteOrder, rules: readonly RouteInput[]): boolean {
  const keys = mapKeysOf(route, order);
  if (!keys) return false;
  if (rules.some((r) => overlaps(route.host, route.path, r.host, r.path))) return false;
  for (const { lookup, key } of keys) {
    const id = `${lookup}\u0000${key}`;
    if (into.has(id)) return false;
    into.set(id, { lookup, key, backend: route.backend, owner: route.owner });
  }
  return true;
}

function drifts(name: string, view: BackendView, canonical: string | undefined): boolean {
  return (canonical !== undefined && canonical !== name) || (view.owner === undefined && !name.startsWith(SPARE_PREFIX));
}

function insertFree(free: string[], name: string): void {
  if (free.includes(name)) return;
  let i = 0;
  while (i < free.length && freeOrder(free[i] as string, name) < 0) i++;
  free.splice(i, 0, name);
}

/** Position of the first entry whose key is not below `key` (map entries are sorted by key). */
function lowerBound(entries: readonly MapEntry[], key: string): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((entries[mid] as MapEntry).key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function find(entries: readonly MapEntry[], key: string): MapEntry | undefined {
  const e = entries[lowerBound(entries, key)];
  return e?.key === key ? e : undefined;
}

function remove(entries: MapEntry[], key: string): void {
  const i = lowerBound(entries, key);
  if (entries[i]?.key === key) entries.splice(i, 1);
}

function put(entries: MapEntry[], entry: MapEntry): void {
  const i = lowerBound(entries, entry.key);
  if (entries[i]?.key === entry.key) entries[i] = entry;
  else entries.splice(i, 0, entry);
}

