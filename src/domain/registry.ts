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
  /** What was accepted with a meaning of its own (tolerated values, unknown parameters), in words. */
  warnings?: readonly string[];
}

/** The desired state: an immutable, versioned snapshot. */
export interface Registry {
  version: number;
  entries: ReadonlyMap<string, Entry>;
}

export const EMPTY_REGISTRY: Registry = { version: 0, entries: new Map() };

/** A registry from entries in one pass (a start with 20,000 services must not copy the map per entry). */
export function registryOf(entries: Iterable<Entry>, version = 1): Registry {
  return { version, entries: new Map([...entries].map((e) => [e.name, e])) };
}

/**
 * A mutable working copy for one batch of changes: one copy of the map per
 * batch instead of one per change, and an index of aclNames for the clash
 * check. `toRegistry()` ends it with a new immutable snapshot.
 */
export class Draft {
  private readonly entries: Map<string, Entry>;
  private readonly acl = new Map<string, string>();
  private changed = false;

  constructor(private readonly base: Registry) {
    this.entries = new Map(base.entries);
    for (const e of this.entries.values()) this.acl.set(e.spec.aclName, e.name);
  }

  get(name: string): Entry | undefined {
    return this.entries.get(name);
  }

  values(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** The service other than `name` that already uses this aclName, if any. */
  aclTakenBy(aclName: string, name: string): string | undefined {
    const owner = this.acl.get(aclName);
    return owner !== undefined && owner !== name ? owner : undefined;
  }

  set(entry: Entry): void {
    const before = this.entries.get(entry.name);
    if (before && this.acl.get(before.spec.aclName) === entry.name) this.acl.delete(before.spec.aclName);
    this.entries.set(entry.name, entry);
    this.acl.set(entry.spec.aclName, entry.name);
    this.changed = true;
  }

  delete(name: string): void {
    const before = this.entries.get(name);
    if (!before) return;
    this.entries.delete(name);
    if (this.acl.get(before.spec.aclName) === name) this.acl.delete(before.spec.aclName);
    this.changed = true;
  }

  toRegistry(): Registry {
    return this.changed ? { version: this.base.version + 1, entries: new Map(this.entries) } : this.base;
  }
}

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
