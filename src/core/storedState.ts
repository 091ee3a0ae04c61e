import { describeIssues } from '../domain/errors.js';
import { fromRecord } from '../domain/params.js';
import type { ParseContext } from '../domain/parse.js';
import type { Entry, Owner, Registry } from '../domain/registry.js';
import type { StoredService, StoredState, Tombstone } from './ports.js';
import { toEntry } from '../domain/entry.js';

/**
 * Stored records and registry entries, both ways: what the store keeps, and
 * what a start, a shared store's watch, a peer's state and the benchmarks
 * read back. One parser (`toEntry`) for all of them.
 */

/** A service as the store keeps it, parsed again; a record that no longer parses says why. */
export function fromStored(stored: StoredService, ctx: ParseContext, owner: Owner = stored.owner): { ok: true; entry: Entry } | { ok: false; reason: string } {
  const parsed = toEntry({ params: fromRecord(stored.params), issues: [] }, ctx, owner);
  if (!parsed.ok) return { ok: false, reason: describeIssues(parsed.issues) };
  return { ok: true, entry: stored.stamp !== undefined ? { ...parsed.entry, stamp: stored.stamp } : parsed.entry };
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
      .map((e): StoredService => ({ owner: e.owner as 'api' | 'env', params: { ...e.params }, ...(e.stamp !== undefined && { stamp: e.stamp }) }))
      .concat([...unparsed.entries()].filter(([name]) => !registry.entries.has(name)).map(([, s]) => s)),
    removed: liveTombstones(tombstones, now),
  };
}

/** Removals newer than the horizon, sorted by name. */
export function liveTombstones(tombstones: ReadonlyMap<string, number>, now: number): Tombstone[] {
  const horizon = now - TOMBSTONE_HORIZON_MS;
  return [...tombstones].filter(([, stamp]) => stamp >= horizon).map(([name, stamp]) => ({ name, stamp })).sort((a, b) => (a.name < b.name ? -1 : 1));
}
