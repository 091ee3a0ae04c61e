/** What a replica knows of one service key in Consul: its content key (undefined when not a valid service), raw value and ModifyIndex. */
export interface SeenKey {
  json: string | undefined;
  raw: string;
  modifyIndex: number;
}

/** One check-and-set write: a put of the service whose content is `json`, or a delete when `json` is undefined. */
export interface PlannedWrite {
  name: string;
  json: string | undefined;
  /** ModifyIndex the key must still have; 0 creates a key that must not exist. */
  cas: number;
  /** The value replaced, to put back if the save has to be undone. */
  previousRaw: string | undefined;
}

/**
 * The writes a save needs, by service name (content keys each):
 * `desired` is the state the engine saves, `seen` what Consul held when
 * this replica last looked, `base` the state the engine had at its previous
 * save or load. A service is written only when the engine changed it
 * (desired differs from base) and Consul does not already hold that value.
 * A service another replica changed and this engine has not caught up
 * with yet (desired equals base, seen differs) is left alone: writing it
 * back would undo the other replica's change.
 */
export function planWrites(desired: ReadonlyMap<string, string>, seen: ReadonlyMap<string, SeenKey>, base: ReadonlyMap<string, string>): PlannedWrite[] {
  const names = [...new Set([...desired.keys(), ...base.keys()])].sort();
  const writes: PlannedWrite[] = [];
  for (const name of names) {
    const want = desired.get(name);
    const have = seen.get(name);
    if (want === have?.json) continue;
    if (want === base.get(name)) continue;
    writes.push({ name, json: want, cas: have?.modifyIndex ?? 0, previousRaw: have?.raw });
  }
  return writes;
}
