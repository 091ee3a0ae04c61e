import type { ServiceSpec } from './spec.js';

/** Who put a service in the registry: discovery removes only what it owns. */
export type Owner = 'api' | 'env' | 'docker';

export interface Entry {
  name: string;
  owner: Owner;
  /** Canonical parameters; stored, and parsed again on restore. */
  params: Readonly<Record<string, string>>;
  spec: ServiceSpec;
  /** When this version was written (ms, last writer wins between replicas); API and env entries only. */
  stamp?: number;
}

/** The desired state: an immutable, versioned snapshot. */
export interface Registry {
  version: number;
  entries: ReadonlyMap<string, Entry>;
}

export const EMPTY_REGISTRY: Registry = { version: 0, entries: new Map() };

export function upsert(registry: Registry, entry: Entry): Registry {
  const entries = new Map(registry.entries);
  entries.set(entry.name, entry);
  return { version: registry.version + 1, entries };
}

export function remove(registry: Registry, name: string): Registry {
  if (!registry.entries.has(name)) return registry;
  const entries = new Map(registry.entries);
  entries.delete(name);
  return { version: registry.version + 1, entries };
}

/** Two entries describe the same service the same way. */
export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (!a || !b) return a === b;
  return a.owner === b.owner && sameParams(a.params, b.params) && JSON.stringify(a.spec.servers ?? []) === JSON.stringify(b.spec.servers ?? []);
}

function sameParams(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
