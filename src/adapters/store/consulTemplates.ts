import { silentLog, type Log } from '../../core/log.js';
import { FlowError } from '../../domain/errors.js';
import { ConsulKv } from './consulKv.js';
import type { BackoffPolicy } from '../../core/backoff.js';
import { DEFAULT_BACKOFF, runBlockingQueries } from './consulWatch.js';

/** The scheme of template locations kept in Consul KV. */
export const CONSUL_SCHEME = 'consul://';

/** Is this template location a Consul key (`consul://<key>`)? */
export function isConsulLocation(location: string): boolean {
  return location.startsWith(CONSUL_SCHEME);
}

/** The Consul key of a `consul://<key>` location (`consul:///a/b` and `consul://a/b` are the same key). */
export function consulKeyOf(location: string): string {
  if (!isConsulLocation(location)) throw new FlowError('TEMPLATE_LOCATION', `${location} is not a consul:// location`);
  const key = location.slice(CONSUL_SCHEME.length).replace(/^\/+/, '');
  if (key === '' || key.endsWith('/')) throw new FlowError('TEMPLATE_LOCATION', `${location} does not name a Consul key`);
  return key;
}

export interface ConsulTemplatesOptions {
  /** `host:port` or `http(s)://host:port` (CONSUL_HTTP_ADDR). */
  address: string;
  token?: string;
  log?: Log;
  timeoutMs?: number;
  /** How long Consul may hold a blocking query of the watch. */
  waitMs?: number;
  backoff?: BackoffPolicy;
}

interface Followed {
  /** The value last read; undefined when the key does not exist. */
  value: string | undefined;
  /** The value was learnt at least once (a key that does not exist counts). */
  known: boolean;
  /** The watch's last read of this key succeeded: the value is current. */
  live: boolean;
  /** Locations that name this key, as callers wrote them. */
  locations: Set<string>;
  looping: boolean;
}

const DEFAULT_WAIT_MS = 30_000;

/**
 * Templates kept in Consul KV, for `templateFePath`/`templateBePath` and
 * the main template (`consul://<key>`): reads them, and once watched,
 * follows every key read so far (and any read later) with blocking queries
 * and calls back when one changes, so that the engine renders again. While
 * Consul is unreachable a key read before keeps its last value: a template
 * that cannot be fetched is no reason to drop a service that is serving.
 */
export class ConsulTemplates {
  private readonly kv: ConsulKv;
  private readonly log: Log;
  private readonly waitMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly followed = new Map<string, Followed>();
  private readonly closed = new AbortController();
  private watcher: { onChange: (location: string) => void; signal: AbortSignal } | undefined;

  constructor(options: ConsulTemplatesOptions) {
    this.kv = new ConsulKv({ address: options.address, ...(options.token !== undefined && { token: options.token }), ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) });
    this.log = options.log ?? silentLog;
    this.waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  /**
   * The value of a `consul://<key>` location (a TemplateReader). Throws
   * TEMPLATE_NOT_FOUND for a missing key, and STORE_UNAVAILABLE when Consul
   * cannot be reached and the key was never read.
   */
  readonly readConsulTemplate = async (location: string): Promise<string> => {
    const key = consulKeyOf(location);
    const known = this.follow(key, location);
    if (!(known.live && this.watcher)) {
      try {
        const read = await this.kv.get(key, { signal: this.closed.signal });
        known.value = read.entries[0]?.value;
        known.known = true;
      } catch (e) {
        if (!(e instanceof FlowError) || known.value === undefined) throw e;
        this.log.warn({ location, err: e.message }, 'Consul unreachable; using the template as last read');
      }
    }
    if (known.value === undefined) throw new FlowError('TEMPLATE_NOT_FOUND', `${location}: no such key in Consul`);
    return known.value;
  };

  /**
   * Follows every key read through this instance (and `locations`) until
   * the signal aborts; onChange gets the location of a key whose value
   * changed, appeared or disappeared.
   */
  watch(onChange: (location: string) => void, signal: AbortSignal, locations: Iterable<string> = []): void {
    if (this.watcher) throw new FlowError('TEMPLATE_WATCH_ACTIVE', 'the Consul templates are already being watched');
    const stop = AbortSignal.any([signal, this.closed.signal]);
    if (stop.aborted) return;
    this.watcher = { onChange, signal: stop };
    stop.addEventListener(
      'abort',
      () => {
        this.watcher = undefined;
        for (const f of this.followed.values()) f.live = false;
      },
      { once: true },
    );
    for (const location of locations) this.follow(consulKeyOf(location), location);
    for (const key of this.followed.keys()) this.startLoop(key);
  }

  /** Stops the watch and closes connections. */
  close(): void {
    this.closed.abort();
    this.kv.close();
  }

  private follow(key: string, location: string): Followed {
    let f = this.followed.get(key);
    if (!f) {
      f = { value: undefined, known: false, live: false, locations: new Set(), looping: false };
      this.followed.set(key, f);
    }
    f.locations.add(location);
    if (this.watcher) this.startLoop(key);
    return f;
  }

  private startLoop(key: string): void {
    const f = this.followed.get(key)!;
    const watcher = this.watcher;
    if (f.looping || !watcher) return;
    f.looping = true;
    void runBlockingQueries({
      kv: this.kv,
      key,
      recurse: false,
      waitMs: this.waitMs,
      backoff: this.backoff,
      signal: watcher.signal,
      log: this.log,
      onError: () => {
        f.live = false;
      },
      onRead: (read) => {
        const value = read.entries[0]?.value;
        // A key nobody read yet is only learnt; a difference from what was read is a change.
        const report = f.known && value !== f.value;
        f.value = value;
        f.known = true;
        f.live = true;
        if (!report) return;
        for (const location of f.locations) {
          try {
            watcher.onChange(location);
          } catch (e) {
            this.log.error({ location, err: e instanceof Error ? e.message : String(e) }, 'the Consul template listener failed');
          }
        }
      },
    })
      .catch((e: unknown) => this.log.error({ key, err: e instanceof Error ? e.message : String(e) }, 'the Consul template watch stopped'))
      .finally(() => {
        f.looping = false;
        f.live = false;
      });
  }
}
