import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One key as the emulator stores it (Consul's DirEntry). */
export interface EmulatorEntry {
  key: string;
  value: Buffer;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  flags: number;
  /** The session holding the key's lock. */
  session?: string;
}

/** A session as the emulator keeps it (Consul's session API: TTL, behavior, lock-delay). */
export interface EmulatorSession {
  id: string;
  name: string;
  ttlMs: number;
  behavior: 'release' | 'delete';
  lockDelayMs: number;
  createIndex: number;
}

/** A request the emulator received, for tests that check what a client sent. */
export interface EmulatorRequest {
  method: string;
  key: string;
  query: Record<string, string>;
}

export interface ConsulEmulatorOptions {
  /** When set, requests must carry this X-Consul-Token (else 403, as Consul's ACLs answer). */
  token?: string;
}

interface Waiter {
  key: string;
  recurse: boolean;
  wake: () => void;
}

interface ReadResult {
  status: number;
  index: number;
  body: string;
  contentType: string;
}

/** Consul's maximum blocking wait; its default is 5 minutes. */
const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 5 * 60_000;

/**
 * The part of Consul's KV HTTP API that flow-proxy uses, on 127.0.0.1: GET
 * (single key, `recurse`, `raw`), PUT and DELETE (`cas`, `flags`,
 * `recurse`), blocking queries (`index` + `wait`) and X-Consul-Index with
 * Consul's rules (a prefix's index is the highest index of its keys and
 * tombstones, a missing key answers 404 with the table's index), and
 * sessions for locks (create, renew, destroy, info; TTL expiry; `acquire`
 * and `release` on PUT; release or delete behavior; lock-delay). It can be
 * stopped and started again on the same port to play an outage, or stalled
 * to play a Consul that accepts connections but never answers.
 */
export class ConsulEmulator {
  private readonly kv = new Map<string, EmulatorEntry>();
  /** Index at which a key was deleted: Consul keeps tombstones so that a prefix's index never goes back. */
  private readonly tombstones = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private readonly sessions = new Map<string, EmulatorSession & { timer: NodeJS.Timeout }>();
  /** Keys whose lock holder's session was invalidated: no acquire before this time (lock-delay). */
  private readonly lockDelays = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  /** Raft index: every write request takes one. Consul never hands out index 1. */
  private raftIndex = 1;
  /** Highest index of an effective change (the KV table's index). */
  private tableIndex = 0;
  private server: http.Server | undefined;
  private stalled = false;
  private writeDelayMs = 0;
  private chosenPort = 0;
  /** Every request received, oldest first. */
  readonly requests: EmulatorRequest[] = [];

  private constructor(private readonly options: ConsulEmulatorOptions) {}

  /** Starts an emulator on a random free port of 127.0.0.1. */
  static async start(options: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> {
    const emulator = new ConsulEmulator(options);
    await emulator.start();
    return emulator;
  }

  get port(): number {
    return this.chosenPort;
  }

  /** `127.0.0.1:<port>`, the form of CONSUL_HTTP_ADDR. */
  get address(): string {
    return `127.0.0.1:${this.chosenPort}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Blocking queries waiting for a change right now. */
  get pendingBlockingQueries(): number {
    return this.waiters.size;
  }

  /** Listens again, on the same port after the first start: clients see Consul come back. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.chosenPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.chosenPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port and every connection, pending blocking queries included: clients see Consul unreachable. Keeps the data. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.waiters.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** While stalled, requests are accepted and never answered (a hung Consul, for timeouts). */
  stall(on: boolean): void {
    this.stalled = on;
  }

  /** Writes (PUT, DELETE) are applied this long after they arrive: a slow Consul, to overlap a write with other calls. */
  delayWrites(ms: number): void {
    this.writeDelayMs = ms;
  }

  /** The raw entry of a key, for inspection. */
  entry(key: string): EmulatorEntry | undefined {
    const e = this.kv.get(key);
    return e && { ...e, value: Buffer.from(e.value) };
  }

  /** The value of a key as text, or undefined when it does not exist. */
  value(key: string): string | undefined {
    return this.kv.get(key)?.value.toString('utf8');
  }

  /** Every key under a prefix with its value as text, sorted by key. */
  dump(prefix = ''): Record<string, string> {
    const out: Record<string, string> = {};
    for (const key of this.keysUnder(prefix)) out[key] = this.kv.get(key)!.value.toString('utf8');
    return out;
  }

  /** Writes a key as another Consul client would (it wakes blocking queries); returns its ModifyIndex. */
  put(key: string, value: string): number {
    return this.set(key, Buffer.from(value, 'utf8'), 0);
  }

  /** Deletes a key as another Consul client would. */
  delete(key: string): void {
    this.remove(key);
  }

  /** Sessions alive now. */
  get liveSessions(): EmulatorSession[] {
    return [...this.sessions.values()].map(({ timer: _t, ...s }) => s);
  }

  /** Invalidates a session as a failed health check or an expired TTL would. */
  expireSession(id: string): void {
    this.invalidate(id, true);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams);
    if (url.pathname.startsWith('/v1/session/')) {
      this.requests.push({ method: req.method ?? '', key: url.pathname, query });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.stalled) return;
        if (this.options.token !== undefined && req.headers['x-consul-token'] !== this.options.token) return void reply(res, 403, 'text/plain; charset=utf-8', 'Permission denied', 0);
        this.session(req.method ?? '', url.pathname.slice('/v1/session/'.length), Buffer.concat(chunks).toString('utf8'), res);
      });
      return;
    }
    if (!url.pathname.startsWith('/v1/kv/')) {
      this.requests.push({ method: req.method ?? '', key: '', query });
      req.resume();
      return void reply(res, 404, 'text/plain; charset=utf-8', '', 0);
    }
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice('/v1/kv/'.length));
    } catch {
      req.resume();
      return void reply(res, 400, 'text/plain; charset=utf-8', 'Invalid URL path encoding', 0);
    }
    this.requests.push({ method: req.method ?? '', key, query });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.stalled) return; // never answered; the client's timeout must fire
      if (this.options.token !== undefined && req.headers['x-consul-token'] !== this.options.token) {
        return void reply(res, 403, 'text/plain; charset=utf-8', 'Permission denied', 0);
      }
      const params = url.searchParams;
      if (req.method === 'GET') return this.get(req, res, key, params);
      const body = Buffer.concat(chunks);
      const apply = () => {
        if (req.method === 'PUT') return this.write(res, key, params, body);
        if (req.method === 'DELETE') return this.del(res, key, params);
        reply(res, 405, 'text/plain; charset=utf-8', `method ${req.method} not allowed`, 0);
      };
      if (this.writeDelayMs > 0) setTimeout(apply, this.writeDelayMs);
      else apply();
    });
  }

  private get(req: http.IncomingMessage, res: http.ServerResponse, key: string, params: URLSearchParams): void {
    if (params.has('keys') || params.has('separator')) {
      return void reply(res, 400, 'text/plain; charset=utf-8', 'the emulator does not implement ?keys', 0);
    }
    const recurse = params.has('recurse');
    const raw = params.has('raw');
    const run = () => this.read(key, recurse, raw);
    const minIndex = Number(params.get('index') ?? '0');
    if (!Number.isSafeInteger(minIndex) || minIndex < 0) {
      return void reply(res, 400, 'text/plain; charset=utf-8', `Invalid index: ${params.get('index')}`, 0);
    }
    const first = run();
    // A blocking query answers at once when the index already moved past the caller's (or no index was given).
    if (minIndex === 0 || first.index > minIndex) return void reply(res, first.status, first.contentType, first.body, first.index);
    const waitMs = parseWait(params.get('wait'));
    if (waitMs === undefined) return void reply(res, 400, 'text/plain; charset=utf-8', `Invalid wait: ${params.get('wait')}`, 0);
    let timer: NodeJS.Timeout | undefined;
    const waiter: Waiter = {
      key,
      recurse,
      wake: () => {
        const now = run();
        if (now.index <= minIndex) return; // a change that did not move this query's index: keep waiting, as Consul does
        finish(now);
      },
    };
    // The client went away while waiting. Removed when the query answers: a keep-alive socket carries many queries.
    const abandoned = () => {
      this.waiters.delete(waiter);
      clearTimeout(timer);
    };
    const finish = (result: ReadResult) => {
      this.waiters.delete(waiter);
      clearTimeout(timer);
      req.socket.off('close', abandoned);
      reply(res, result.status, result.contentType, result.body, result.index);
    };
    timer = setTimeout(() => finish(run()), Math.min(waitMs, MAX_WAIT_MS));
    this.waiters.add(waiter);
    req.socket.once('close', abandoned);
  }

  private read(key: string, recurse: boolean, raw: boolean): ReadResult {
    if (recurse) {
      const keys = this.keysUnder(key);
      let index = 0;
      for (const k of keys) index = Math.max(index, this.kv.get(k)!.modifyIndex);
      // Deleted keys keep the prefix's index from going back; an empty prefix means the whole table.
      if (key === '') index = this.tableIndex;
      else for (const [k, at] of this.tombstones) if (k.startsWith(key)) index = Math.max(index, at);
      if (index === 0) index = Math.max(this.tableIndex, 1);
      if (keys.length === 0) return { status: 404, index, body: '', contentType: 'text/plain; charset=utf-8' };
      return { status: 200, index, body: JSON.stringify(keys.map((k) => shape(this.kv.get(k)!))), contentType: 'application/json' };
    }
    const entry = this.kv.get(key);
    if (!entry) return { status: 404, index: Math.max(this.tableIndex, 1), body: '', contentType: 'text/plain; charset=utf-8' };
    if (raw) return { status: 200, index: entry.modifyIndex, body: entry.value.toString('latin1'), contentType: 'text/plain; charset=utf-8' };
    return { status: 200, index: entry.modifyIndex, body: JSON.stringify([shape(entry)]), contentType: 'application/json' };
  }

  /** PUT /v1/session/create, renew/<id>, destroy/<id>; GET info/<id>. */
  private session(method: string, rest: string, body: string, res: http.ServerResponse): void {
    const [verb, id] = rest.split('/');
    if (verb === 'create' && method === 'PUT') {
      let spec: Record<string, unknown> = {};
      try {
        spec = body.trim() === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
      } catch {
        return void reply(res, 400, 'text/plain; charset=utf-8', 'Request decode failed', 0);
      }
      const ttlMs = spec.TTL === undefined ? 0 : parseWait(String(spec.TTL));
      // Consul: the TTL must be between 10s and 24h (0 means none).
      if (ttlMs === undefined || (ttlMs !== 0 && (ttlMs < 10_000 || ttlMs > 86_400_000))) return void reply(res, 400, 'text/plain; charset=utf-8', `Invalid Session TTL '${String(spec.TTL)}', must be between [10s=24h0m0s]`, 0);
      const behavior = spec.Behavior === undefined ? 'release' : spec.Behavior;
      if (behavior !== 'release' && behavior !== 'delete') return void reply(res, 400, 'text/plain; charset=utf-8', `Invalid Behavior setting '${String(behavior)}'`, 0);
      const lockDelayMs = spec.LockDelay === undefined ? 15_000 : parseWait(String(spec.LockDelay)) ?? 15_000;
      this.raftIndex++;
      const created = { id: randomUUID(), name: typeof spec.Name === 'string' ? spec.Name : '', ttlMs, behavior, lockDelayMs, createIndex: this.raftIndex } as EmulatorSession;
      this.sessions.set(created.id, { ...created, timer: this.ttlTimer(created.id, ttlMs) });
      return void reply(res, 200, 'application/json', JSON.stringify({ ID: created.id }), this.raftIndex);
    }
    const known = id !== undefined ? this.sessions.get(id) : undefined;
    if (verb === 'renew' && method === 'PUT') {
      if (!known) return void reply(res, 404, 'text/plain; charset=utf-8', `Session id '${id ?? ''}' not found`, 0);
      clearTimeout(known.timer);
      known.timer = this.ttlTimer(known.id, known.ttlMs);
      return void reply(res, 200, 'application/json', JSON.stringify([sessionShape(known)]), this.raftIndex);
    }
    if (verb === 'destroy' && method === 'PUT') {
      if (id !== undefined) this.invalidate(id, false);
      return void reply(res, 200, 'application/json', 'true', this.raftIndex);
    }
    if (verb === 'info' && method === 'GET') return void reply(res, 200, 'application/json', JSON.stringify(known ? [sessionShape(known)] : []), this.raftIndex);
    reply(res, 405, 'text/plain; charset=utf-8', `method ${method} not allowed`, 0);
  }

  private ttlTimer(id: string, ttlMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.invalidate(id, true), ttlMs === 0 ? 2 ** 31 - 1 : ttlMs);
    timer.unref();
    return timer;
  }

  /** Ends a session: its locks are released or their keys deleted; an expiry (not a destroy or release) starts the lock-delay. */
  private invalidate(id: string, expired: boolean): void {
    const s = this.sessions.get(id);
    if (!s) return;
    clearTimeout(s.timer);
    this.sessions.delete(id);
    for (const [key, entry] of [...this.kv]) {
      if (entry.session !== id) continue;
      if (expired && s.lockDelayMs > 0) this.lockDelays.set(key, Date.now() + s.lockDelayMs);
      if (s.behavior === 'delete') this.remove(key);
      else {
        const { session: _s, ...rest } = entry;
        this.raftIndex++;
        this.kv.set(key, { ...rest, modifyIndex: this.raftIndex });
        this.tableIndex = this.raftIndex;
        this.notify(key);
      }
    }
  }

  private lock(res: http.ServerResponse, key: string, params: URLSearchParams, body: Buffer): void {
    const acquire = params.get('acquire');
    const id = acquire ?? params.get('release') ?? '';
    this.raftIndex++;
    if (!this.sessions.has(id)) return void reply(res, 500, 'text/plain; charset=utf-8', `invalid session "${id}"`, 0);
    const existing = this.kv.get(key);
    if (acquire !== null) {
      if (existing?.session !== undefined && existing.session !== id) return void reply(res, 200, 'application/json', 'false', this.raftIndex);
      if ((this.lockDelays.get(key) ?? 0) > Date.now() && existing?.session !== id) return void reply(res, 200, 'application/json', 'false', this.raftIndex);
      const lockIndex = (existing?.lockIndex ?? 0) + (existing?.session === id ? 0 : 1);
      this.kv.set(key, { key, value: Buffer.from(body), createIndex: existing?.createIndex ?? this.raftIndex, modifyIndex: this.raftIndex, lockIndex, flags: existing?.flags ?? 0, session: id });
    } else {
      if (existing?.session !== id) return void reply(res, 200, 'application/json', 'false', this.raftIndex);
      const { session: _s, ...rest } = existing;
      this.kv.set(key, { ...rest, value: Buffer.from(body), modifyIndex: this.raftIndex });
    }
    this.tombstones.delete(key);
    this.tableIndex = this.raftIndex;
    this.notify(key);
    reply(res, 200, 'application/json', 'true', this.raftIndex);
  }

  private write(res: http.ServerResponse, key: string, params: URLSearchParams, body: Buffer): void {
    if (key === '') return void reply(res, 400, 'text/plain; charset=utf-8', 'Missing key name', 0);
    if (params.has('acquire') || params.has('release')) return this.lock(res, key, params, body);
    const flags = Number(params.get('flags') ?? '0');
    const casText = params.get('cas');
    this.raftIndex++;
    if (casText !== null) {
      const cas = Number(casText);
      if (!Number.isSafeInteger(cas) || cas < 0) return void reply(res, 400, 'text/plain; charset=utf-8', `Invalid cas: ${casText}`, 0);
      const existing = this.kv.get(key);
      // cas=0 creates only; cas=N replaces only the version with ModifyIndex N.
      const ok = cas === 0 ? existing === undefined : existing !== undefined && existing.modifyIndex === cas;
      if (!ok) return void reply(res, 200, 'application/json', 'false', this.raftIndex);
    }
    this.set(key, body, flags, true);
    reply(res, 200, 'application/json', 'true', this.raftIndex);
  }

  private del(res: http.ServerResponse, key: string, params: URLSearchParams): void {
    this.raftIndex++;
    if (params.has('recurse')) {
      for (const k of this.keysUnder(key)) this.remove(k, true);
      return void reply(res, 200, 'application/json', 'true', this.raftIndex);
    }
    const casText = params.get('cas');
    if (casText !== null) {
      const cas = Number(casText);
      if (!Number.isSafeInteger(cas) || cas < 0) return void reply(res, 400, 'text/plain; charset=utf-8', `Invalid cas: ${casText}`, 0);
      const existing = this.kv.get(key);
      // Consul: a CAS delete of a key that is already gone succeeds.
      if (existing && existing.modifyIndex !== cas) return void reply(res, 200, 'application/json', 'false', this.raftIndex);
    }
    this.remove(key, true);
    reply(res, 200, 'application/json', 'true', this.raftIndex);
  }

  private set(key: string, value: Buffer, flags: number, indexTaken = false): number {
    if (!indexTaken) this.raftIndex++;
    const index = this.raftIndex;
    const existing = this.kv.get(key);
    this.kv.set(key, { key, value: Buffer.from(value), createIndex: existing?.createIndex ?? index, modifyIndex: index, lockIndex: existing?.lockIndex ?? 0, flags, ...(existing?.session !== undefined && { session: existing.session }) });
    this.tombstones.delete(key);
    this.tableIndex = index;
    this.notify(key);
    return index;
  }

  private remove(key: string, indexTaken = false): void {
    if (!indexTaken) this.raftIndex++;
    if (!this.kv.delete(key)) return;
    this.tombstones.set(key, this.raftIndex);
    this.tableIndex = this.raftIndex;
    this.notify(key);
  }

  private notify(key: string): void {
    for (const w of [...this.waiters]) {
      if (w.recurse ? key.startsWith(w.key) : key === w.key) w.wake();
    }
  }

  private keysUnder(prefix: string): string[] {
    return [...this.kv.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** Consul's JSON shape of a key: base64 Value, null when empty. */
function shape(e: EmulatorEntry): Record<string, unknown> {
  return {
    LockIndex: e.lockIndex,
    Key: e.key,
    Flags: e.flags,
    Value: e.value.length === 0 ? null : e.value.toString('base64'),
    ...(e.session !== undefined && { Session: e.session }),
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex,
  };
}

/** Consul's JSON shape of a session. */
function sessionShape(s: EmulatorSession): Record<string, unknown> {
  return { ID: s.id, Name: s.name, Node: 'emulator', LockDelay: s.lockDelayMs * 1_000_000, Behavior: s.behavior, TTL: s.ttlMs === 0 ? '' : `${s.ttlMs / 1000}s`, NodeChecks: ['serfHealth'], ServiceChecks: null, CreateIndex: s.createIndex, ModifyIndex: s.createIndex };
}

function reply(res: http.ServerResponse, status: number, contentType: string, body: string, index: number): void {
  if (res.writableEnded || res.destroyed) return;
  const headers: http.OutgoingHttpHeaders = { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body, contentType.startsWith('text/plain') ? 'latin1' : 'utf8') };
  if (index > 0) {
    headers['X-Consul-Index'] = String(index);
    headers['X-Consul-Knownleader'] = 'true';
    headers['X-Consul-Lastcontact'] = '0';
  }
  res.writeHead(status, headers);
  res.end(body, contentType.startsWith('text/plain') ? 'latin1' : 'utf8');
}

/** Go durations as Consul accepts them for `wait` ("10s", "500ms", "1m"); none means Consul's default. */
function parseWait(text: string | null): number | undefined {
  if (text === null || text === '') return DEFAULT_WAIT_MS;
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)?$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ns'];
  return n * ms;
}
