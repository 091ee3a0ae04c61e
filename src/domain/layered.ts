/** Marks a key a layer removes. */
export const GONE: unique symbol = Symbol('gone');
export type Layer<K, V> = ReadonlyMap<K, V | typeof GONE>;

/** Layers on top of one plain map before they are flattened into a new one. */
const MAX_DEPTH = 8;

/**
 * A flattened map's last layer: the map it was put on and the keys it changed, so that
 * `changedKeys` goes on through a flattening. The link is weak, so that no map is kept alive
 * for it: it leads on while the map it points to is held elsewhere (the reconciler's last saved
 * snapshot is the map just before); otherwise changedKeys answers undefined: compare them all.
 */
const flattenedOn = new WeakMap<ReadonlyMap<unknown, unknown>, { base: WeakRef<ReadonlyMap<unknown, unknown>>; keys: ReadonlySet<unknown> }>();

/**
 * An immutable map made of a base map and the changes of one batch on top:
 * making the next registry costs the changes, not a copy of every service.
 * After a few layers the result is flattened into a plain Map (one copy per
 * MAX_DEPTH batches), so that reads stay a few lookups. Iteration follows
 * the base's order, then the keys a layer added; unlike a Map, a key removed
 * and set again in one batch keeps its place (nothing that reads these maps
 * depends on their order: they sort).
 */
export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    private readonly over: Layer<K, V>,
    private readonly depth: number,
    readonly size: number,
  ) {}

  /** `base` with `changes` on top (a value, or GONE for a removal). */
  static on<K, V>(base: ReadonlyMap<K, V>, changes: Layer<K, V>): ReadonlyMap<K, V> {
    if (changes.size === 0) return base;
    let size = base.size;
    for (const [k, v] of changes) {
      const had = base.has(k);
      if (v === GONE) size -= had ? 1 : 0;
      else size += had ? 0 : 1;
    }
    const depth = base instanceof LayeredMap ? base.depth + 1 : 1;
    const layered = new LayeredMap(base, new Map(changes), depth, size);
    if (depth < MAX_DEPTH && changes.size * 4 <= size) return layered;
    const flat = layered.flatten();
    flattenedOn.set(flat, { base: new WeakRef(base), keys: new Set(changes.keys()) });
    return flat;
  }

  /**
   * A plain Map of the same entries: a copy of the plain map at the bottom, then each layer's
   * changes from the bottom up, 1-2 ms for 10,000 keys eight layers deep (walking the layers
   * key by key, with a generator per layer, took 13-18 ms; three such maps flatten in one batch).
   */
  private flatten(): Map<K, V> {
    const layers: Array<Layer<K, V>> = [];
    let m: ReadonlyMap<K, V> = this;
    while (m instanceof LayeredMap) {
      layers.push(m.over);
      m = m.base;
    }
    // forEach, not new Map(m): the iterator would allocate a [key, value] pair for every key.
    const flat = new Map<K, V>();
    m.forEach((v, k) => flat.set(k, v));
    for (let i = layers.length - 1; i >= 0; i--) {
      for (const [k, v] of layers[i] as Layer<K, V>) {
        if (v === GONE) flat.delete(k);
        else flat.set(k, v);
      }
    }
    return flat;
  }

  /**
   * The keys that may differ between `map` and `since` when `map` was layered on top of it (a few
   * batches later, flattened or not); undefined when it was not (another map, or one no longer
   * held by anyone): compare them all.
   */
  static changedKeys<K, V>(map: ReadonlyMap<K, V>, since: ReadonlyMap<K, V>): Set<K> | undefined {
    const keys = new Set<K>();
    let m: ReadonlyMap<K, V> | undefined = map;
    while (m !== since) {
      if (m instanceof LayeredMap) {
        for (const k of m.over.keys()) keys.add(k);
        m = m.base;
        continue;
      }
      if (m === undefined) return undefined;
      const last = flattenedOn.get(m);
      if (last === undefined) return undefined;
      for (const k of last.keys) keys.add(k as K);
      m = last.base.deref() as ReadonlyMap<K, V> | undefined;
    }
    return keys;
  }

  get(key: K): V | undefined {
    const o = this.over.get(key);
    if (o !== undefined) return o === GONE ? undefined : o;
    return this.base.get(key);
  }

  has(key: K): boolean {
    const o = this.over.get(key);
    if (o !== undefined) return o !== GONE;
    return this.base.has(key);
  }

  /**
   * Iteration goes through a flattened copy (see flatten): reading the values of 10,000 keys seven
   * layers deep takes 3 ms that way, 5-8 ms walking the layers; every apply iterates the registry
   * a few times.
   */
  entries(): MapIterator<[K, V]> {
    return this.flatten().entries();
  }

  keys(): MapIterator<K> {
    return this.flatten().keys();
  }

  values(): MapIterator<V> {
    return this.flatten().values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    this.flatten().forEach((v, k) => fn(v, k, this));
  }
}
