import { spareView, structureOf, type BackendView } from '../../render/backend.js';
import type { RenderMemo } from '../../render/memo.js';
import { SPARE_PREFIX, type AssignBackends, type Layout } from '../../render/model.js';
import { cmp } from '../../domain/values.js';

/**
 * The runtime side of backend naming. With the live layout, known backends
 * keep their live names and a new plain HTTP backend takes a free spare (or
 * the emptied backend of a removed plain service), so the change can go
 * live through the runtime API without a reload; anything else gets its
 * canonical name, and the structure changes (a reload). Consolidation later
 * gives every backend its canonical name again with one reload.
 */
export function keepLiveNames(previous: Layout): AssignBackends {
  return (slots, settings, memo) => {
    const names = new Map<string, string>();
    const backends = new Map<string, BackendView>();
    const spareStructure = structureOf(spareView('', settings), memo);
    const byKey = new Map<string, string>();
    const free: string[] = [];
    for (const name of previous.order) {
      const entry = previous.backends.get(name);
      if (!entry) continue;
      if (entry.key !== undefined) byKey.set(entry.key, name);
      else if (structureOf(entry.view, memo) === spareStructure) free.push(name);
    }
    const wanted = new Set(slots.map((s) => s.key));
    // A plain backend whose service went away is free again, whatever its name: until the next
    // reload renames everything, it can host a new plain service without a reload.
    for (const [key, name] of byKey) {
      if (!wanted.has(key) && structureOf(previous.backends.get(name)?.view as BackendView, memo) === spareStructure) {
        free.push(name);
        byKey.delete(key);
      }
    }
    free.sort(freeOrder);
    const order = [...previous.order];
    const known = new Set(order);
    const taken = new Set<string>(byKey.values());
    for (const s of slots) {
      let name = byKey.get(s.key);
      if (name === undefined && s.view.mode === 'http' && structureOf(s.view, memo) === spareStructure) name = free.shift();
      if (name === undefined) {
        name = s.canonicalName;
        // The canonical name may host another service since a recycle: this layout needs a reload anyway.
        while (taken.has(name)) name = `${name}.dup`;
        if (!known.has(name)) {
          order.push(name);
          known.add(name);
        }
      }
      taken.add(name);
      names.set(s.key, name);
      backends.set(name, name === s.view.name ? s.view : renamed(s.view, name, memo));
    }
    const used = new Set(names.values());
    for (const name of order) {
      if (used.has(name)) continue;
      const before = previous.backends.get(name)?.view;
      if (!before) continue;
      // Orphans and free spares stay in the structure, empty, until the next reload.
      backends.set(name, emptied(before, memo));
    }
    return { names, backends, order: order.filter((n) => backends.has(n)) };
  };
}

/** The order free backends are taken in: spares by number, then any other emptied backend by name. */
export function freeOrder(a: string, b: string): number {
  return spareNumber(a) - spareNumber(b) || cmp(a, b);
}

function spareNumber(name: string): number {
  return name.startsWith(SPARE_PREFIX) ? Number(name.slice(SPARE_PREFIX.length)) : Number.MAX_SAFE_INTEGER;
}

/**
 * The same backend under another name (a spare hosting a service), the same object across applies
 * (a view is renamed to one name at a time). It shares the original's structure text: a name is
 * not part of the structure.
 */
export function renamed(view: BackendView, name: string, memo: RenderMemo): BackendView {
  const hit = memo.renamed.get(view);
  if (hit?.name === name) return hit;
  const copy = { ...view, name };
  memo.renamed.set(view, copy);
  memo.originals.set(copy, memo.originals.get(view) ?? view);
  memo.structure.set(copy, structureOf(view, memo));
  return copy;
}

/** The backend without its owner and its dynamic servers: a removal waiting for the next reload. */
export function emptied(view: BackendView, memo: RenderMemo): BackendView {
  if (view.owner === undefined && (!view.dynamic || view.servers.length === 0)) return view;
  const hit = memo.emptied.get(view);
  if (hit) return hit;
  const { owner: _owner, ...rest } = view;
  const copy = { ...rest, servers: view.dynamic ? [] : view.servers };
  memo.emptied.set(view, copy);
  // Neither the owner nor dynamic servers are part of the structure.
  memo.structure.set(copy, structureOf(view, memo));
  return copy;
}
