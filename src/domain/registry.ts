import { GONE, LayeredMap } from './layered.js';
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

/**
 * The entry with this write stamp, as a literal with its fields in one order:
 * every stamped entry shares one hidden class with its fields in the object
 * itself (see withFields for why not `{ ...entry, stamp }`).
 */
export function stamped(entry: Entry, stamp: number): Entry {
  const { name, owner, params, spec, warnings, stamp: _before, ...rest } = entry;
  // A field added to Entry fails to compile here until it is copied above.
  const none: Record<string, never> = rest;
  void none;
  return warnings === undefined ? { name, owner, params, spec, stamp } : { name, owner, params, spec, warnings, stamp };
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
 * A mutable working copy for one batch of changes: the changes are kept on
 * top of the base registry, and `toRegistry()` ends the batch with a new
 * immutable snapshot made of the base and those changes (layered.ts), so
 * that a batch costs what it changes, not a copy of every service. An index
 * of aclNames, kept the same way, answers the clash check.
 */
export class Draft {
  private readonly over = new Map<string, Entry | typeof GONE>();
  private readonly aclOver = new Map<string, string | typeof GONE>();
  private readonly baseAcl: ReadonlyMap<string, string>;

  constructor(private readonly base: Registry) {
    this.baseAcl = aclIndex(base);
  }

  get(name: string): Entry | undefined {
    const o = this.over.get(name);
    if (o !== undefined) return o === GONE ? undefined : o;
    return this.base.entries.get(name);
  }

  /** The entries as they are now (changes of this batch included). */
  values(): IterableIterator<Entry> {
    return LayeredMap.on(this.base.entries, this.over).values();
  }

  /** The service other than `name` that already uses this aclName, if any. */
  aclTakenBy(aclName: string, name: string): string | undefined {
    const owner = this.aclOwner(aclName);
    return owner !== undefined && owner !== name ? owner : undefined;
  }

  set(entry: Entry): void {
    const before = this.get(entry.name);
    if (before && this.aclOwner(before.spec.aclName) === entry.name) this.aclOver.set(before.spec.aclName, GONE);
    this.over.set(entry.name, entry);
    this.aclOver.set(entry.spec.aclName, entry.name);
  }

  delete(name: string): void {
    const before = this.get(name);
    if (!before) return;
    this.over.set(name, GONE);
    if (this.aclOwner(before.spec.aclName) === name) this.aclOver.set(before.spec.aclName, GONE);
  }

  toRegistry(): Registry {
    if (this.over.size === 0) return this.base;
    const acl = LayeredMap.on(this.baseAcl, this.aclOver);
    return withAcl({ version: this.base.version + 1, entries: LayeredMap.on(this.base.entries, this.over) }, acl);
  }

  private aclOwner(aclName: string): string | undefined {
    const o = this.aclOver.get(aclName);
    if (o !== undefined) return o === GONE ? undefined : o;
    return this.baseAcl.get(aclName);
  }
}

/** Which service uses each aclName, kept with the registry it indexes (built once for a registry that has none). */
const ACL = Symbol('acl');
type Indexed = Registry & { [ACL]?: ReadonlyMap<string, string> };

function aclIndex(registry: Registry): ReadonlyMap<string, string> {
  const known = (registry as Indexed)[ACL];
  if (known) return known;
  const acl = new Map<string, string>();
  for (const e of registry.entries.values()) acl.set(e.spec.aclName, e.name);
  Object.defineProperty(registry, ACL, { value: acl, enumerable: false });
  return acl;
}

function withAcl(registry: Registry, acl: ReadonlyMap<string, string>): Registry {
  Object.defineProperty(registry, ACL, { value: acl, enumerable: false });
  return registry;
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
