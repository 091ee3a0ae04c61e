import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import Consul from 'consul';
import { FlowError } from '../../domain/errors.js';

export interface ConsulKvOptions {
  /** `host:port` or `http(s)://host:port`, as in CONSUL_HTTP_ADDR. */
  address: string;
  /** ACL token, sent as X-Consul-Token. */
  token?: string;
  /** Time limit of a non-blocking request; a blocking one gets its wait on top. */
  timeoutMs?: number;
}

/** One key as Consul returns it, with its value decoded as UTF-8 (empty values are ''). */
export interface KvEntry {
  key: string;
  value: string;
  modifyIndex: number;
  /** The session holding the key's lock, if any. */
  session?: string;
}

/** A read: the entries (none for a missing key or prefix) and X-Consul-Index. */
export interface KvRead {
  entries: KvEntry[];
  index: number;
}

export interface ReadOptions {
  /** Blocking query: wait until the index moves past this one (0 answers at once). */
  index?: number;
  /** How long Consul may hold a blocking query. */
  waitMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * The four KV calls flow-proxy makes, on the `consul` client, typed, each
 * with an AbortSignal and a time limit, and every failure turned into a
 * FlowError that names the Consul address. It remembers whether its last
 * call reached Consul, which is what `healthy()` reports.
 */
export class ConsulKv {
  readonly address: string;
  private readonly client: Consul;
  private readonly raw: RawKv;
  private readonly timeoutMs: number;
  private lastCallOk = false;

  constructor(options: ConsulKvOptions) {
    this.address = options.address;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // The typings lack baseUrl, which is the only way to pass an http(s):// address through unchanged.
    const clientOptions: Record<string, unknown> = { baseUrl: `${baseUrl(options.address)}/v1` };
    if (options.token) clientOptions.defaults = { token: options.token };
    this.client = new Consul(clientOptions as ConstructorParameters<typeof Consul>[0]);
    this.raw = this.client.kv as unknown as RawKv;
  }

  /** Did the last call reach Consul (and was it accepted)? False before the first call. */
  get reachable(): boolean {
    return this.lastCallOk;
  }

  /** Every key under a prefix. */
  list(prefix: string, options: ReadOptions = {}): Promise<KvRead> {
    return this.read(prefix, true, options);
  }

  /** One key (no entries when it does not exist). */
  get(key: string, options: ReadOptions = {}): Promise<KvRead> {
    return this.read(key, false, options);
  }

  /** Writes a key; with `cas` only if its ModifyIndex is still `cas` (0: only if it does not exist). False when the CAS lost. */
  async put(key: string, value: string, cas?: number, signal?: AbortSignal): Promise<boolean> {
    const [, body] = await this.call('write', key, signal, this.timeoutMs, (ctx, timeout) =>
      this.raw.set({ key, value, ctx, timeout, ...(cas !== undefined && { cas }) }),
    );
    return body === true;
  }

  /** Deletes a key; with `cas` only if its ModifyIndex is still `cas`. False when the CAS lost. */
  async delete(key: string, cas?: number, signal?: AbortSignal): Promise<boolean> {
    const [, body] = await this.call('delete', key, signal, this.timeoutMs, (ctx, timeout) =>
      this.raw.del({ key, ctx, timeout, ...(cas !== undefined && { cas }) }),
    );
    return body === true;
  }

  /** Takes the lock on a key for a session (writing the value); false when another session holds it or its lock-delay runs. */
  async acquire(key: string, value: string, session: string, signal?: AbortSignal): Promise<boolean> {
    const [, body] = await this.call('lock', key, signal, this.timeoutMs, (ctx, timeout) => this.raw.set({ key, value, ctx, timeout, acquire: session }));
    return body === true;
  }

  /** Gives up a session's lock on a key. */
  async release(key: string, value: string, session: string, signal?: AbortSignal): Promise<boolean> {
    const [, body] = await this.call('unlock', key, signal, this.timeoutMs, (ctx, timeout) => this.raw.set({ key, value, ctx, timeout, release: session }));
    return body === true;
  }

  /** Creates a session with a TTL (renew it well within); returns its id. */
  async createSession(o: { name: string; ttlSeconds: number; behavior: 'release' | 'delete'; lockDelaySeconds: number }, signal?: AbortSignal): Promise<string> {
    const session = this.client.session as unknown as RawSession;
    const [, body] = await this.call('create a session for', o.name, signal, this.timeoutMs, (ctx, timeout) =>
      session.create({ name: o.name, ttl: `${o.ttlSeconds}s`, behavior: o.behavior, lockdelay: `${o.lockDelaySeconds}s`, ctx, timeout }),
    );
    const id = (body as { ID?: unknown } | undefined)?.ID;
    if (typeof id !== 'string') throw new FlowError('STORE_REQUEST', `Consul at ${this.address} answered a session create without an ID`);
    return id;
  }

  /** Renews a session; false when Consul no longer has it (it expired: create another). */
  async renewSession(id: string, signal?: AbortSignal): Promise<boolean> {
    const session = this.client.session as unknown as RawSession;
    try {
      await this.call('renew session', id, signal, this.timeoutMs, (ctx, timeout) => session.renew({ id, ctx, timeout }));
      return true;
    } catch (e) {
      if (e instanceof FlowError && (e.cause as { statusCode?: number } | undefined)?.statusCode === 404) return false;
      throw e;
    }
  }

  /** Ends a session: its locks are released (or their keys deleted, by its behavior). */
  async destroySession(id: string, signal?: AbortSignal): Promise<void> {
    const session = this.client.session as unknown as RawSession;
    await this.call('destroy session', id, signal, this.timeoutMs, (ctx, timeout) => session.destroy({ id, ctx, timeout }));
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.client.destroy();
  }

  private async read(key: string, recurse: boolean, options: ReadOptions): Promise<KvRead> {
    const blocking = (options.index ?? 0) > 0;
    const waitMs = options.waitMs ?? 0;
    // Consul may hold a query for wait + wait/16 (its jitter): the time limit covers that and a slow answer.
    const timeout = blocking ? waitMs + Math.ceil(waitMs / 16) + this.timeoutMs : this.timeoutMs;
    const [res, body] = await this.call('read', key, options.signal, timeout, (ctx, t) =>
      this.raw.get({
        key,
        ctx,
        timeout: t,
        ...(recurse && { recurse: true }),
        ...(blocking && { index: String(options.index), wait: `${Math.max(1, Math.round(waitMs))}ms` }),
      }),
    );
    const index = Number(res?.headers['x-consul-index'] ?? '0');
    const items = body === undefined || body === null ? [] : Array.isArray(body) ? body : [body];
    return {
      index: Number.isFinite(index) ? index : 0,
      entries: (items as RawItem[]).map((i) => ({ key: i.Key, value: typeof i.Value === 'string' ? i.Value : '', modifyIndex: i.ModifyIndex, ...(typeof i.Session === 'string' && { session: i.Session }) })),
    };
  }

  /**
   * Runs one client call with includeResponse (for X-Consul-Index), the
   * signal wired to the client's cancel event, and failures classified.
   */
  private async call(what: string, key: string, signal: AbortSignal | undefined, timeout: number, run: (ctx: EventEmitter, timeout: number) => Promise<unknown>): Promise<[IncomingMessage | undefined, unknown]> {
    signal?.throwIfAborted();
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    const cancel = () => ctx.emit('cancel');
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const result = (await run(ctx, timeout)) as [IncomingMessage, unknown?];
      this.lastCallOk = true;
      return [result[0], result[1]];
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      this.lastCallOk = false;
      throw this.failure(what, key, e, timeout);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  private failure(what: string, key: string, e: unknown, timeout: number): FlowError {
    const err = e as { isTimeout?: boolean; statusCode?: number; code?: string; message?: string; response?: { body?: unknown } };
    const where = `Consul at ${this.address}`;
    if (err.isTimeout) return new FlowError('STORE_UNAVAILABLE', `${where} did not answer within ${timeout} ms (${what} ${key})`, { cause: e });
    const status = typeof err.statusCode === 'number' ? err.statusCode : undefined;
    const said = typeof err.response?.body === 'string' && err.response.body.trim() !== '' ? `: ${err.response.body.trim().slice(0, 200)}` : '';
    if (status === 401 || status === 403) return new FlowError('STORE_DENIED', `${where} refused to ${what} ${key} (HTTP ${status}${said}); check the Consul token`, { cause: e });
    if (status !== undefined && status >= 500) return new FlowError('STORE_UNAVAILABLE', `${where} failed to ${what} ${key} (HTTP ${status}${said})`, { cause: e });
    if (status !== undefined) return new FlowError('STORE_REQUEST', `${where} rejected the ${what} of ${key} (HTTP ${status}${said})`, { cause: e });
    const reason = (err.message ?? String(e)).replace(/^consul: (kv\.\w+: )?/, '');
    return new FlowError('STORE_UNAVAILABLE', `${where} is unreachable (${reason})`, { cause: e });
  }
}

/**
 * The kv calls as they behave at run time (the typings omit it): they take
 * papi's `ctx` (cancel event, includeResponse), `timeout`, `index` and
 * `wait`, and with includeResponse resolve to [response, body].
 */
interface RawKv {
  get(options: Record<string, unknown>): Promise<unknown>;
  set(options: Record<string, unknown>): Promise<unknown>;
  del(options: Record<string, unknown>): Promise<unknown>;
}

interface RawSession {
  create(options: Record<string, unknown>): Promise<unknown>;
  renew(options: Record<string, unknown>): Promise<unknown>;
  destroy(options: Record<string, unknown>): Promise<unknown>;
}

interface RawItem {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
  Session?: string;
}

/** CONSUL_HTTP_ADDR is `host:port` or a URL; the client wants a URL. */
export function baseUrl(address: string): string {
  const trimmed = address.trim().replace(/\/+$/, '');
  if (/^https?:\/\//i.test(trimmed)) return trimmed;
  return `http://${trimmed}`;
}
