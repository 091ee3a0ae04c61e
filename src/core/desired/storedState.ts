import { describeIssues } from '../../domain/errors.js';
import { fromRecord } from '../../domain/params.js';
import type { ParseContext } from '../../domain/parse.js';
import { stamped, type Entry, type Owner, type Registry } from '../../domain/registry.js';
import type { StoredChanges, StoredService, StoredState, Tombstone } from '../ports.js';
import { toEntry } from '../../domain/entry.js';
import { LayeredMap } from '../../domain/layered.js';
import { cmp } from '../../domain/values.js';

/**
 * Stored records and registry entries, both ways: what the store keeps, and
 * what a start, a shared store's watch, a peer's state and the benchmarks
 * read back. One parser (`toEntry`) for all of them.
 */

/** A service as the store keeps it, parsed again; a record that no longer parses says why. */
export function fromStored(stored: StoredService, ctx: ParseContext, owner: Owner = stored.owner): { ok: true; entry: Entry } | { ok: false; reason: string } {
  const parsed = toEntry({ params: fromRecord(stored.params), issues: [] }, ctx, owner);
  if (!parsed.ok) return { ok: false, reason: describeIssues(parsed.issues) };
  return { ok: true, entry: stored.stamp !== undefined ? stamped(parsed.entry, stored.stamp) : parsed.entry };
}

/** Every record of a stored state: the entries that parse, and those that do not (kept, never dropped silently). */
export function entriesFromStored(services: readonly StoredService[], ctx: ParseContext): { entries: Entry[]; invalid: Array<{ stored: StoredService; reason: string }> } {
  const entries: Entry[] = [];
  const invalid: Array<{ stored: StoredService; reason: string }> = [];
  for (const s of services) {
    const r = fromStored(s, ctx);
    if (r.ok) entries.push(r.entry);
    else invalid.push({ stored: s, reason: r.reason });
  }
  return { entries, invalid };
}

/** Removals older than this are forgotten: a replica that missed them for that long is rebuilt anyway. */
export const TOMBSTONE_HORIZON_MS = 7 * 24 * 3600 * 1000;

/**
 * Removals of new names (previews, CI stacks) would otherwise grow memory, the state file and
 * every replica's full sync for the whole horizon: once more than TOMBSTONE_LIMIT × 1.25 are
 * held, only the newest TOMBSTONE_LIMIT (by stamp, then name) are kept. A replica shows, stores
 * and decides with every removal it holds, and the cut depends only on that set, so replicas
 * that hold the same removals cut the same ones. A replica away for more removals than this
 * can bring back a service removed while it was away, as one away past the horizon can.
 */
export const TOMBSTONE_LIMIT = 10_000;

/** Newer first; the same stamp by name, so that every replica keeps the same ones. */
const newerFirst = (a: [string, number], b: [string, number]) => b[1] - a[1] || cmp(a[0], b[0]);

/** `tombstones`, or the newest TOMBSTONE_LIMIT of them as a new map once it holds a quarter more (a sort every 2,500 removals). */
export function trimTombstones(tombstones: ReadonlyMap<string, number>): ReadonlyMap<string, number> {
  if (tombstones.size <= TOMBSTONE_LIMIT * 1.25) return tombstones;
  return new Map([...tombstones].sort(newerFirst).slice(0, TOMBSTONE_LIMIT));
}

/**
 * What the store keeps of a registry: the API and environment services
 * (discovery rebuilds its own at start), sorted, with the records that no
 * longer parse, and the removals newer than the horizon.
 */
export function toStored(registry: Registry, tombstones: ReadonlyMap<string, number>, unparsed: ReadonlyMap<string, StoredService>, now: number): StoredState {
  return {
    version: registry.version,
    services: [...registry.entries.values()]
      .filter((e) => e.owner !== 'docker')
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map(recordOf)
      .concat([...unparsed.entries()].filter(([name]) => !registry.entries.has(name)).map(([, s]) => s)),
    removed: liveTombstones(tombstones, now),
  };
}

function recordOf(e: Entry): StoredService {
  return { owner: e.owner as 'api' | 'env', params: { ...e.params }, ...(e.stamp !== undefined && { stamp: e.stamp }) };
}

/** What a store holds, as last saved: the entries, removals and unparsed records it was saved from. */
export interface StoredSnapshot {
  entries: ReadonlyMap<string, Entry>;
  tombstones: ReadonlyMap<string, number>;
  unparsed: ReadonlyMap<string, StoredService>;
}

/**
 * What changed in the stored state since `before`, found by identity (entries are immutable), so
 * that saving one change costs a pass over the names and the encoding of that change only.
 */
export function storedChanges(before: StoredSnapshot, registry: Registry, tombstones: ReadonlyMap<string, number>, unparsed: ReadonlyMap<string, StoredService>, now: number): StoredChanges {
  const stored = (s: StoredSnapshot, name: string): Entry | StoredService | undefined => {
    const e = s.entries.get(name);
    return e && e.owner !== 'docker' ? e : e ? undefined : s.unparsed.get(name);
  };
  const after: StoredSnapshot = { entries: registry.entries, tombstones, unparsed };
  const changes: StoredChanges = { version: registry.version, set: [], del: [], removed: [], forgotten: [] };
  const visit = (name: string) => {
    const was = stored(before, name);
    const is = stored(after, name);
    if (was === is) return;
    if (is === undefined) changes.del.push(name);
    else changes.set.push('spec' in is ? recordOf(is) : is);
  };
  const changed = before.unparsed === unparsed ? LayeredMap.changedKeys(registry.entries, before.entries) : undefined;
  if (changed) {
    for (const name of changed) visit(name);
  } else if (before.entries !== registry.entries || before.unparsed !== unparsed) {
    const present = (name: string) => registry.entries.has(name) || unparsed.has(name);
    for (const name of registry.entries.keys()) visit(name);
    for (const name of unparsed.keys()) if (!registry.entries.has(name)) visit(name);
    for (const name of before.entries.keys()) if (!present(name)) visit(name);
    for (const name of before.unparsed.keys()) if (!present(name) && !before.entries.has(name)) visit(name);
  }
  const horizon = now - TOMBSTONE_HORIZON_MS;
  const removal = (name: string) => {
    const was = before.tombstones.get(name);
    const is = tombstones.get(name);
    const live = (stamp: number | undefined) => stamp !== undefined && stamp >= horizon;
    if (live(is) && is !== was) changes.removed.push({ name, stamp: is as number });
    else if (!live(is) && live(was)) changes.forgotten.push(name);
  };
  const removals = LayeredMap.changedKeys(tombstones, before.tombstones);
  if (removals) for (const name of removals) removal(name);
  else if (tombstones !== before.tombstones) for (const name of new Set([...tombstones.keys(), ...before.tombstones.keys()])) removal(name);
  return changes;
}

/** Nothing to write. */
export function noStoredChanges(c: StoredChanges): boolean {
  return c.set.length === 0 && c.del.length === 0 && c.removed.length === 0 && c.forgotten.length === 0;
}

/** Removals newer than the horizon, sorted by name. */
export function liveTombstones(tombstones: ReadonlyMap<string, number>, now: number): Tombstone[] {
  const horizon = now - TOMBSTONE_HORIZON_MS;
  return [...tombstones].filter(([, stamp]) => stamp >= horizon).map(([name, stamp]) => ({ name, stamp })).sort((a, b) => (a.name < b.name ? -1 : 1));
}
