// Long on purpose: Consul's store: CAS writes, the per-service layout, the watch and the outage cache must agree on one index.
import { silentLog, type Log } from '../../core/log.js';
import type { Store, StoredService, StoredState } from '../../core/ports.js';
import { FlowError } from '../../domain/errors.js';
import { decodeService, encodeService, serviceContent } from './consulCodec.js';
import { ConsulKv, type KvEntry, type KvRead } from './consulKv.js';
import { planWrites, type PlannedWrite, type SeenKey } from './consulPlan.js';
import type { BackoffPolicy } from '../../core/backoff.js';
import { DEFAULT_BACKOFF, runBlockingQueries } from './consulWatch.js';

/** Another replica changed the same service between this replica's last look and its write: nothing was saved. */
export class StoreConflictError extends FlowError {
  readonly services: readonly string[];
  constructor(services: readonly string[]) {
    const names = services.map((s) => `"${s}"`).join(', ');
    const verb = services.length > 1 ? 'were' : 'was';
    super('STORE_CONFLICT', `service ${names} ${verb} changed by another replica meanwhile; this change was not saved. Retry it.`);
    this.name = 'StoreConflictError';
    this.services = services;
  }
}

export interface ConsulStoreOptions {
  /** `host:port` or `http(s)://host:port` (CONSUL_HTTP_ADDR). */
  address: string;
  /** Key prefix (CONSUL_PREFIX); services live under `<prefix>/services/`. */
  prefix?: string;
  /** ACL token (CONSUL_HTTP_TOKEN). */
  token?: string;
  log?: Log;
  /** Time limit of each non-blocking request. */
  timeoutMs?: number;
  /** How long Consul may hold a blocking query of the watch. */
  waitMs?: number;
  /** Retry policy of the watch while Consul is unreachable. */
  backoff?: BackoffPolicy;
}

export const DEFAULT_CONSUL_PREFIX = 'flow-proxy';
const DEFAULT_WAIT_MS = 30_000;
/** Writes of one save run this many at a time: a first start with many services should not take one round trip each. */
const WRITE_CONCURRENCY = 8;
/** ModifyIndex of a key whose content is unknown: a write whose outcome could not be learnt. */
const DOUBTFUL = -1;

/** A key as this replica knows it, with the service when the value is one. */
type Known = SeenKey & { service?: StoredService };

type Outcome =
  | { kind: 'written'; write: PlannedWrite }
  | { kind: 'same'; write: PlannedWrite }
  | { kind: 'conflict'; write: PlannedWrite }
  | { kind: 'failed'; write: PlannedWrite; error: unknown };

/**
 * The shared store for clusters: one Consul key per service,
 * `<prefix>/services/<serviceName>` = JSON `{owner, params}`. A save writes
 * only the services this replica's engine changed, each with check-and-set
 * against the ModifyIndex this replica last saw, so replicas writing
 * different services never overwrite each other, and a write that lost a
 * race on the same service is refused (and the save undone). The watch
 * follows the prefix with blocking queries and reports other replicas'
 * changes; Consul being unreachable fails loads and saves, never silently.
 */
export class ConsulStore implements Store {
  readonly prefix: string;
  readonly address: string;
  private readonly servicesPrefix: string;
  private readonly kv: ConsulKv;
  private readonly log: Log;
  private readonly waitMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly closed = new AbortController();
  /** Consul's content under the services prefix as this replica last saw it (load, watch, own writes). */
  private seen = new Map<string, Known>();
  private seenIndex = 0;
  private loaded = false;
  /** The engine's state at its last save or load (content key by name): what it has not changed itself. */
  private base = new Map<string, string>();
  /** Bumped when a load or save starts and ends: a watch read that overlapped one may be older than `seen`. */
  private generation = 0;
  private tail: Promise<void> = Promise.resolve();
  private listener: ((state: StoredState) => void) | undefined;
  /** Values already reported as invalid, so that a bad key is logged once, not at every read. */
  private readonly reportedInvalid = new Map<string, string>();

  constructor(options: ConsulStoreOptions) {
    this.prefix = normalizePrefix(options.prefix ?? DEFAULT_CONSUL_PREFIX);
    this.servicesPrefix = `${this.prefix}/services/`;
    this.address = options.address;
    this.kv = new ConsulKv({ address: options.address, ...(options.token !== undefined && { token: options.token }), ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) });
    this.log = options.log ?? silentLog;
    this.waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  /** The Consul key of a service. */
  keyOf(serviceName: string): string {
    return `${this.servicesPrefix}${serviceName}`;
  }

  async load(): Promise<StoredState | undefined> {
    return this.exclusive(async () => {
      const read = await this.readAll('load the services');
      this.base = contents(this.seen);
      return read.entries.length === 0 ? undefined : this.state();
    });
  }

  /**
   * Writes the services the engine changed since its last save or load.
   * Tombstones (`removed`) are not kept: with Consul a delete is final, and
   * a replica that has not caught up never writes a service back.
   */
  async save(state: StoredState): Promise<void> {
    const desired = new Map<string, string>();
    const values = new Map<string, string>();
    for (const s of state.services) {
      const name = s.params.serviceName;
      if (name === undefined || name === '') throw new FlowError('STORE_INVALID', 'a service without serviceName cannot be stored in Consul');
      desired.set(name, serviceContent(s));
      values.set(name, encodeService(s));
    }
    return this.exclusive(async () => {
      if (!this.loaded) await this.readAll('read the stored services');
      await this.resolveDoubtful([...desired.keys(), ...this.base.keys()]);
      const plan = planWrites(desired, this.seen, this.base);
      const error = plan.length === 0 ? undefined : await this.apply(plan, values);
      if (error === undefined) this.base = desired;
      this.redeliverIfBehind(error === undefined ? desired : this.base);
      if (error !== undefined) throw error;
    });
  }

  /** Reports Consul's state when another replica changed it (own writes are not reported); one watch at a time. */
  watch(onChange: (state: StoredState) => void, signal: AbortSignal): void {
    if (this.listener) throw new FlowError('STORE_WATCH_ACTIVE', `the Consul store ${this.prefix} is already being watched`);
    this.listener = onChange;
    const stop = AbortSignal.any([signal, this.closed.signal]);
    let generation = -1;
    void runBlockingQueries({
      kv: this.kv,
      key: this.servicesPrefix,
      recurse: true,
      waitMs: this.waitMs,
      backoff: this.backoff,
      signal: stop,
      log: this.log,
      beforeRead: () => {
        generation = this.generation;
      },
      onRead: async (read) => {
        await this.tail;
        // A load or save that overlapped this read may have seen newer content: read again rather than go back.
        if (this.generation !== generation) return 'again';
        if (stop.aborted) return;
        const before = this.contentKey();
        const hadDoubt = [...this.seen.values()].some((k) => k.modifyIndex === DOUBTFUL);
        this.absorb(read);
        if (hadDoubt || this.contentKey() !== before) this.deliver(this.state());
      },
    })
      .catch((e: unknown) => this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'the Consul watch stopped'))
      .finally(() => {
        if (this.listener === onChange) this.listener = undefined;
      });
  }

  /**
   * Consul's content as this replica knows it right now, its own writes
   * included. The engine reads it when it applies a report (not the report
   * itself, which may predate a save made meanwhile).
   */
  current(): StoredState {
    return this.state();
  }

  /**
   * The engine applied a reported state: from now on it is the engine's, so
   * a later removal of one of these services by this replica is a change it
   * made (and is written), not one it missed.
   */
  applied(state: StoredState): void {
    this.base = new Map(state.services.map((s) => [s.params.serviceName as string, serviceContent(s)]));
  }

  /** False while Consul cannot be reached (the last call failed), true after a call succeeded. */
  healthy(): boolean {
    return this.kv.reachable;
  }

  /** Stops the watch and closes connections. */
  close(): void {
    this.closed.abort();
    this.kv.close();
  }

  /** Runs loads and saves one at a time, marking the generation before and after. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      this.generation++;
      try {
        return await fn();
      } finally {
        this.generation++;
      }
    });
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async readAll(what: string): Promise<KvRead> {
    let read: KvRead;
    try {
      read = await this.kv.list(this.servicesPrefix, { signal: this.closed.signal });
    } catch (e) {
      throw withContext(e, `could not ${what}: `);
    }
    this.absorb(read);
    return read;
  }

  /** Replaces what this replica knows with a full read of the prefix. */
  private absorb(read: KvRead): void {
    const seen = new Map<string, Known>();
    for (const entry of read.entries) {
      const name = entry.key.slice(this.servicesPrefix.length);
      if (name === '' || !entry.key.startsWith(this.servicesPrefix)) continue;
      seen.set(name, this.known(name, entry));
    }
    this.seen = seen;
    this.seenIndex = read.index;
    this.loaded = true;
  }

  private known(name: string, entry: KvEntry): Known {
    const decoded = decodeService(entry.value, name);
    if (decoded.ok) return { json: decoded.json, raw: entry.value, modifyIndex: entry.modifyIndex, service: decoded.service };
    if (this.reportedInvalid.get(entry.key) !== entry.value) {
      this.reportedInvalid.set(entry.key, entry.value);
      this.log.warn({ key: entry.key, reason: decoded.reason }, 'ignoring a Consul key that is not a flow-proxy service');
    }
    return { json: undefined, raw: entry.value, modifyIndex: entry.modifyIndex };
  }

  /** Reads one key again; returns what Consul holds now (undefined when it is gone). */
  private async refresh(name: string): Promise<SeenKey | undefined> {
    const read = await this.kv.get(this.keyOf(name), { signal: this.closed.signal });
    const entry = read.entries[0];
    if (!entry) {
      this.seen.delete(name);
      return undefined;
    }
    const known = this.known(name, entry);
    this.seen.set(name, known);
    return known;
  }

  /** Keys whose last write had an unknown outcome are read again before anything is decided about them. */
  private async resolveDoubtful(names: string[]): Promise<void> {
    for (const name of new Set(names)) {
      if (this.seen.get(name)?.modifyIndex !== DOUBTFUL) continue;
      try {
        await this.refresh(name);
      } catch (e) {
        throw withContext(e, `could not read service "${name}": `, '; the change was not saved');
      }
    }
  }

  /** Runs the writes; when one lost or failed, undoes the others and returns the error to throw. */
  private async apply(plan: PlannedWrite[], values: ReadonlyMap<string, string>): Promise<FlowError | undefined> {
    const outcomes = await mapLimit(plan, WRITE_CONCURRENCY, (w) => this.write(w, values.get(w.name)));
    const failed = outcomes.filter((o): o is Extract<Outcome, { kind: 'failed' }> => o.kind === 'failed');
    const conflicts = outcomes.filter((o) => o.kind === 'conflict');
    if (failed.length === 0 && conflicts.length === 0) return undefined;
    await this.undo(outcomes.filter((o) => o.kind === 'written').map((o) => o.write));
    if (failed.length > 0) return withContext(failed[0]!.error, '', '; the change was not saved');
    return new StoreConflictError(conflicts.map((o) => o.write.name));
  }

  private async write(w: PlannedWrite, value: string | undefined): Promise<Outcome> {
    const key = this.keyOf(w.name);
    let ok: boolean;
    try {
      ok = value === undefined ? await this.kv.delete(key, w.cas, this.closed.signal) : await this.kv.put(key, value, w.cas, this.closed.signal);
    } catch (error) {
      // The write may or may not have happened (a timeout after Consul committed it): find out before the next decision.
      this.markDoubtful(w.name);
      return { kind: 'failed', write: w, error };
    }
    if (ok && w.json === undefined) {
      this.seen.delete(w.name);
      return { kind: 'written', write: w };
    }
    // A CAS answer is only true or false: read the key for its new ModifyIndex, or to see who won.
    let now: SeenKey | undefined;
    try {
      now = await this.refresh(w.name);
    } catch {
      this.markDoubtful(w.name);
      if (ok) return { kind: 'written', write: w };
      return { kind: 'conflict', write: w };
    }
    if (ok) return { kind: 'written', write: w };
    // Another replica wrote the same service (the same change sent to every replica, or the same DFP_SERVICE_*): no conflict.
    if (now?.json === w.json) return { kind: 'same', write: w };
    return { kind: 'conflict', write: w };
  }

  /** Puts back what this save replaced, each only if it still holds this save's value. */
  private async undo(writes: PlannedWrite[]): Promise<void> {
    for (const w of writes) {
      const key = this.keyOf(w.name);
      const current = this.seen.get(w.name);
      try {
        if (w.json === undefined) {
          if (w.previousRaw !== undefined) await this.kv.put(key, w.previousRaw, 0, this.closed.signal);
        } else {
          if (!current || current.json !== w.json || current.modifyIndex === DOUBTFUL) continue;
          if (w.previousRaw === undefined) await this.kv.delete(key, current.modifyIndex, this.closed.signal);
          else await this.kv.put(key, w.previousRaw, current.modifyIndex, this.closed.signal);
        }
        await this.refresh(w.name);
      } catch (e) {
        this.markDoubtful(w.name);
        this.log.error({ key, err: e instanceof Error ? e.message : String(e) }, 'could not undo a partial save in Consul; the watch will report what Consul holds');
      }
    }
  }

  private markDoubtful(name: string): void {
    this.seen.set(name, { json: undefined, raw: '', modifyIndex: DOUBTFUL });
  }

  /**
   * After a save, Consul may hold changes of other replicas that the engine
   * did not have (its save ran before it applied the watch's report, or the
   * report came while it was saving): report Consul's state again so that
   * the engine converges on it. Never with a key in doubt, whose absence
   * would read as a removal.
   */
  private redeliverIfBehind(engineState: ReadonlyMap<string, string>): void {
    if (!this.listener) return;
    if ([...this.seen.values()].some((k) => k.modifyIndex === DOUBTFUL)) return;
    if (this.contentKey() === mapKey(engineState)) return;
    const state = this.state();
    // After the saving caller has carried on: its own bookkeeping of the save must not land on top of this report.
    setImmediate(() => {
      if (!this.closed.signal.aborted) this.deliver(state);
    });
  }

  private deliver(state: StoredState): void {
    if (!this.listener) return;
    try {
      this.listener(state);
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'the Consul watch listener failed');
    }
  }

  /** The valid services this replica sees, as one comparable string. */
  private contentKey(): string {
    return mapKey(contents(this.seen));
  }

  private state(): StoredState {
    let version = this.seenIndex;
    const services: StoredService[] = [];
    for (const name of [...this.seen.keys()].sort()) {
      const k = this.seen.get(name)!;
      version = Math.max(version, k.modifyIndex);
      if (k.service) services.push({ ...k.service, params: { ...k.service.params } });
    }
    return { version, services };
  }
}

/** The content key of every valid service, by name. */
function contents(seen: ReadonlyMap<string, SeenKey>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, k] of seen) if (k.json !== undefined) out.set(name, k.json);
  return out;
}

function mapKey(map: ReadonlyMap<string, string>): string {
  return JSON.stringify([...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** The same failure with what it means for the caller around its message; keeps the code of a FlowError. */
function withContext(e: unknown, before: string, after = ''): FlowError {
  const message = `${before}${e instanceof Error ? e.message : String(e)}${after}`;
  if (e instanceof FlowError) return new FlowError(e.code, message, { cause: e });
  return new FlowError('STORE_UNAVAILABLE', message, { cause: e });
}

/** Strips slashes around the prefix and refuses one that could not be a Consul key. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.trim().replace(/^\/+|\/+$/g, '');
  if (trimmed === '' || /[\s\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new FlowError('BAD_CONSUL_PREFIX', `Consul key prefix ${JSON.stringify(prefix)} must be a non-empty key without spaces or control characters`);
  }
  return trimmed;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
