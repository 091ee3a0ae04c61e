import { backoffDelay, sleepUnlessAborted as sleep, type BackoffPolicy } from '../../core/backoff.js';
import type { Log } from '../../core/log.js';
import type { ConsulKv, KvRead } from './consulKv.js';

/** How the watch retries while Consul is unreachable. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, capMs: 10_000 };

/**
 * The index of the next blocking query, by Consul's rules: an index that
 * went back (a restored snapshot, a new cluster) starts over at 0, and a
 * query never blocks on 0.
 */
export function nextIndex(previous: number, returned: number): number {
  if (returned < previous) return 0;
  return Math.max(returned, 1);
}

export interface BlockingQueryOptions {
  kv: ConsulKv;
  /** A key, or a prefix with `recurse`. */
  key: string;
  recurse: boolean;
  /** How long Consul may hold each query. */
  waitMs: number;
  backoff: BackoffPolicy;
  signal: AbortSignal;
  log: Log;
  /** Called just before each read is sent. */
  beforeRead?: () => void;
  /**
   * Called with every successful read, in order (the loop waits for it).
   * Returning 'again' asks for an immediate non-blocking read, for a caller
   * that knows the read may be older than what it already holds.
   */
  onRead: (read: KvRead) => void | 'again' | Promise<void | 'again'>;
  /** Called with every failed read, before the loop backs off. */
  onError?: (error: unknown) => void;
}

/** Below this, a blocking query that came back with the same index did not block: pause instead of spinning. */
const SPIN_GUARD_MS = 20;

/**
 * Follows a key or prefix with blocking queries until the signal aborts:
 * the first read answers at once, later ones wait for the index to move.
 * While Consul is unreachable it retries with capped exponential backoff.
 */
export async function runBlockingQueries(o: BlockingQueryOptions): Promise<void> {
  let index = 0;
  let failures = 0;
  while (!o.signal.aborted) {
    o.beforeRead?.();
    const started = Date.now();
    const asked = index;
    let read: KvRead;
    try {
      read = await (o.recurse ? o.kv.list(o.key, { index, waitMs: o.waitMs, signal: o.signal }) : o.kv.get(o.key, { index, waitMs: o.waitMs, signal: o.signal }));
    } catch (e) {
      if (o.signal.aborted) return;
      o.onError?.(e);
      const delay = backoffDelay(failures, o.backoff, Math.random());
      const fields = { key: o.key, err: e instanceof Error ? e.message : String(e), retryInMs: delay, failures: failures + 1 };
      if (failures === 0) o.log.warn(fields, 'Consul watch failed; retrying with backoff');
      else o.log.debug(fields, 'Consul watch still failing');
      failures++;
      await sleep(delay, o.signal);
      continue;
    }
    if (failures > 0) o.log.info({ key: o.key, failures }, 'Consul watch resumed');
    failures = 0;
    let verdict: void | 'again' = undefined;
    try {
      verdict = await o.onRead(read);
    } catch (e) {
      // A failing consumer must not end the watch: log it and go on following the key.
      o.log.error({ key: o.key, err: e instanceof Error ? e.message : String(e) }, 'Consul watch consumer failed');
    }
    if (o.signal.aborted) return;
    if (verdict === 'again') {
      index = 0;
      continue;
    }
    index = nextIndex(asked, read.index);
    if (asked > 0 && read.index <= asked && Date.now() - started < SPIN_GUARD_MS) await sleep(o.backoff.baseMs, o.signal);
  }
}
