import { GONE, LayeredMap } from '../../domain/layered.js';
import { cmp } from '../../domain/values.js';
import type { BackendView } from '../../render/backend.js';
import type { RenderMemo } from '../../render/memo.js';
import { backendsNamedByFrontends, restructured, sparesFor, SPARE_PREFIX, type Model } from '../../render/model.js';
import { LOOKUPS, type Lookup, type MapEntry } from '../../render/routes.js';
import type { RenderSettings } from '../../render/settings.js';
import type { LiveIndex } from './patch.js';

/**
 * Consolidation without building every service's model. Runtime changes
 * leave the live model with names a fresh render would not give (a spare
 * hosting a service, a backend named after a port its service no longer
 * uses, emptied backends of removed services: layout.ts); the reload that
 * makes them canonical again (consolidation, or the first option change
 * after them) used to build the whole model, about 200 ms at 10,000
 * services. The canonical model differs from the live one only in those
 * names, so it is made from the live model and its patch index.
 */

/**
 * The canonical model of a live model whose names drifted, and its index: the drifted backends a
 * service owns under their canonical names (the name of the view each was renamed from: layout.ts
 * `renamed`), emptied ones dropped, the canonical order and spares, map entries and routes pointing
 * at the new names. Undefined when a name that changes is named by more than map entries (a rule, a
 * default or TCP backend, a custom template), when the names would not be in canonical order (two
 * backends taking one name), or when the index does not account for a backend: the whole model
 * decides those. It costs a pass over the backends and the map entries; the views are shared, and
 * only the map lists with a renamed entry are copied.
 */
export function canonicalized(model: Model, index: LiveIndex, settings: RenderSettings, memo: RenderMemo): { model: Model; index: LiveIndex } | undefined {
  const { view, layout } = model;
  if (view.http.customFrontends.length > 0 || view.customBackends.length > 0) return undefined;
  // Live name -> canonical name of each drifted backend a service owns (the two may be equal).
  const renames = new Map<string, string>();
  const dropped = new Set<string>();
  const placed: Array<{ name: string; key: string; view: BackendView }> = [];
  for (const name of index.drifted) {
    const entry = layout.backends.get(name);
    if (!entry) return undefined;
    if (entry.key === undefined) {
      dropped.add(name);
      continue;
    }
    const own = memo.originals.get(entry.view) ?? entry.view;
    renames.set(name, own.name);
    placed.push({ name: own.name, key: entry.key, view: own.name === name ? entry.view : own });
  }
  placed.sort((a, b) => cmp(a.name, b.name));
  const gone = (name: string) => (renames.has(name) && renames.get(name) !== name) || dropped.has(name);
  const named = [...backendsNamedByFrontends(view), ...model.ruleRoutes.map((r) => r.backend)];
  for (const step of view.http.routing) if (step.rule) named.push(step.rule.backend);
  // Only map entries may point at a name that changes: anything else that names a backend is rendered elsewhere.
  if (named.some(gone)) return undefined;

  // The backends that keep their names are in canonical order already (the layout's order); the placed ones merge in.
  const order: string[] = [];
  const backends: BackendView[] = [];
  const append = (name: string, backend: BackendView) => {
    order.push(name);
    backends.push(backend);
  };
  let next = 0;
  const placeBefore = (name: string | undefined) => {
    for (let p = placed[next]; p !== undefined && (name === undefined || p.name < name); p = placed[++next]) append(p.name, p.view);
  };
  const spares: string[] = [];
  layout.order.forEach((name, i) => {
    if (index.drifted.has(name)) return;
    if (name.startsWith(SPARE_PREFIX)) spares.push(name);
    else {
      placeBefore(name);
      append(name, view.backends[i] as BackendView);
    }
  });
  placeBefore(undefined);
  let httpCount = 0;
  for (let i = 0; i < order.length; i++) {
    if (i > 0 && (order[i] as string) <= (order[i - 1] as string)) return undefined;
    if ((backends[i] as BackendView).mode === 'http') httpCount++;
  }

  const changes = new Map<string, { key?: string; view: BackendView } | typeof GONE>();
  for (const name of [...renames.keys(), ...dropped]) changes.set(name, GONE);
  // Every live spare goes, and the canonical ones come: a spare that hosts a service is a drifted backend.
  for (const name of spares) {
    if (layout.backends.get(name)?.key !== undefined) return undefined;
    changes.set(name, GONE);
  }
  for (const p of placed) changes.set(p.name, { key: p.key, view: p.view });
  const canonicalSpares = sparesFor(httpCount, settings, memo);
  for (const spare of canonicalSpares) {
    changes.set(spare.name, { view: spare });
    append(spare.name, spare);
  }

  const maps = {} as Record<Lookup, MapEntry[]>;
  for (const lookup of LOOKUPS) {
    const entries = model.maps[lookup];
    let copy: MapEntry[] | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as MapEntry;
      if (dropped.has(e.backend)) return undefined;
      const to = renames.get(e.backend);
      if (to === undefined || to === e.backend) continue;
      copy ??= entries.slice();
      copy[i] = { ...e, backend: to };
    }
    maps[lookup] = copy ?? entries;
  }
  const renamedRoute = model.routes.some((r) => gone(r.backend));
  const routes = renamedRoute ? model.routes.map((r) => (renames.has(r.backend) ? { ...r, backend: renames.get(r.backend) as string } : r)) : model.routes;

  // What buildIndex would find in a canonical model: every name its slot's, the spares free, nothing drifted.
  const byKey = new Map<string, string>();
  index.byKey.forEach((name, key) => byKey.set(key, name));
  for (const p of placed) byKey.set(p.key, p.name);
  const position = new Map<string, number>();
  order.forEach((name, i) => position.set(name, i));
  const canonical: Model = {
    ...model,
    view: { ...view, backends },
    layout: { order, backends: LayeredMap.on(layout.backends, changes) },
    maps,
    routes,
  };
  return { model: restructured(canonical, memo), index: { byKey, free: canonicalSpares.map((s) => s.name), position, drifted: new Set(), spare: index.spare } };
}
