import crypto from 'node:crypto';
import { sleepUnlessAborted } from '../../core/backoff.js';
import type { AcmeShared, AcmeSnapshot, SharedChallenge, StoredAccount } from '../../core/acme/acmePorts.js';
import type { DomainStatus, IssuedCert } from '../../core/acme/acmePolicy.js';
import type { Log } from '../../core/log.js';
import type { ConsulKv, KvEntry } from '../store/consulKv.js';
import { DEFAULT_BACKOFF, runBlockingQueries } from '../store/consulWatch.js';

export interface ConsulSharedOptions {
  kv: ConsulKv;
  /** CONSUL_PREFIX; ACME lives under `<prefix>/acme/`. */
  prefix: string;
  log: Log;
  /** How long the orderer waits for every replica to serve a challenge before telling the CA. */
  ackTimeoutMs?: number;
}

const SESSION_TTL_S = 15;
const RENEW_MS = 5_000;

/**
 * ACME between replicas that share Consul: a Consul lock (a session with a
 * TTL, renewed) elects the one that orders; accounts, certificates and
 * statuses are keys under `<prefix>/acme/`, which every replica watches.
 * Each replica publishes its challenges under `challenges/<instance>` and
 * lists what it serves under `serving/<instance>` (held by its session, so
 * a replica that dies drops out); the orderer tells the CA to validate once
 * every live replica serves the token.
 */
export class ConsulShared implements AcmeShared {
  readonly instance = crypto.randomUUID();
  private readonly base: string;
  private session: string | undefined;
  private holdsLock = false;
  private lockLost = 0;
  private readonly indexes = new Map<string, number>();
  private serving = new Map<string, string[]>();
  private othersChallenges = new Map<string, SharedChallenge[]>();
  private readonly waiters = new Set<() => void>();
  private myServing: string[] = [];

  constructor(private readonly o: ConsulSharedOptions) {
    this.base = `${o.prefix.replace(/\/+$/, '')}/acme/`;
  }

  isOrderer(): boolean {
    return this.holdsLock;
  }

  async loadShared(signal: AbortSignal): Promise<AcmeSnapshot | undefined> {
    await this.ensureSession(signal);
    await this.tryLock(signal);
    const read = await this.o.kv.list(this.base, { signal });
    return this.decode(read.entries, true);
  }

  private key(...parts: string[]): string {
    return this.base + parts.join('/');
  }

  async saveAccount(a: StoredAccount): Promise<void> {
    await this.o.kv.put(this.key('accounts', crypto.createHash('sha256').update(a.email).digest('hex').slice(0, 32)), JSON.stringify(a));
  }

  async saveCert(c: IssuedCert): Promise<void> {
    await this.o.kv.put(this.key('certs', c.domain), JSON.stringify(c));
  }

  async saveStatus(s: DomainStatus): Promise<void> {
    await this.o.kv.put(this.key('status', s.domain), JSON.stringify(s));
  }

  async publishChallenges(challenges: readonly SharedChallenge[]): Promise<void> {
    await this.o.kv.put(this.key('challenges', this.instance), JSON.stringify(challenges));
    const tokens = challenges.map((c) => c.token);
    if (tokens.length === 0) return;
    // Wait until every live replica (a serving/<instance> key held by a session) lists the tokens.
    const deadline = Date.now() + (this.o.ackTimeoutMs ?? 10_000);
    const everyone = () => [...this.serving.entries()].filter(([id]) => id !== this.instance).every(([, served]) => tokens.every((t) => served.includes(t)));
    while (!everyone() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(1, Math.min(250, deadline - Date.now())));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
    if (!everyone()) this.o.log.warn({ waitedMs: this.o.ackTimeoutMs ?? 10_000 }, 'not every replica confirmed the ACME challenge in time; asking the CA to validate anyway');
  }

  private async ensureSession(signal: AbortSignal): Promise<void> {
    if (this.session !== undefined) return;
    this.session = await this.o.kv.createSession({ name: `flow-proxy-acme-${this.instance.slice(0, 8)}`, ttlSeconds: SESSION_TTL_S, behavior: 'delete', lockDelaySeconds: 5 }, signal);
    await this.o.kv.acquire(this.key('serving', this.instance), JSON.stringify(this.myServing), this.session, signal);
  }

  private async tryLock(signal: AbortSignal): Promise<void> {
    if (this.session === undefined || this.holdsLock) return;
    const got = await this.o.kv.acquire(this.key('lock'), this.instance, this.session, signal);
    if (got) {
      this.holdsLock = true;
      this.o.log.info({ instance: this.instance }, 'this replica orders ACME certificates (it holds the Consul lock)');
    }
  }

  /** Turns the keys under acme/ into what the manager takes; only keys that changed since the last read unless `all`. */
  private decode(entries: KvEntry[], all: boolean): AcmeSnapshot {
    const snapshot: AcmeSnapshot = { accounts: [], certs: [], statuses: [] };
    const serving = new Map<string, string[]>();
    const challenges = new Map<string, SharedChallenge[]>();
    let lockHolder: string | undefined;
    for (const e of entries) {
      const rest = e.key.slice(this.base.length);
      const [kind, name] = rest.split('/');
      const fresh = all || this.indexes.get(e.key) !== e.modifyIndex;
      this.indexes.set(e.key, e.modifyIndex);
      try {
        if (kind === 'lock') lockHolder = e.session;
        else if (kind === 'serving' && name && e.session !== undefined) serving.set(name, (JSON.parse(e.value) as unknown[]).filter((t): t is string => typeof t === 'string'));
        else if (kind === 'challenges' && name && name !== this.instance) challenges.set(name, JSON.parse(e.value) as SharedChallenge[]);
        else if (!fresh) continue;
        else if (kind === 'accounts') snapshot.accounts.push(JSON.parse(e.value) as StoredAccount);
        else if (kind === 'certs') snapshot.certs.push(JSON.parse(e.value) as IssuedCert);
        else if (kind === 'status') snapshot.statuses.push(JSON.parse(e.value) as DomainStatus);
      } catch {
        this.o.log.warn({ key: e.key }, 'ignoring a Consul ACME key that is not valid JSON');
      }
    }
    this.serving = serving;
    // Challenges of replicas that are gone (no serving key) are dropped: their orders died with them.
    this.othersChallenges = new Map([...challenges].filter(([id]) => serving.has(id)));
    snapshot.challenges = [...this.othersChallenges.values()].flat();
    if (this.holdsLock && lockHolder !== this.session) {
      this.holdsLock = false;
      this.lockLost++;
      this.o.log.warn({ instance: this.instance }, 'this replica lost the ACME lock; another one orders now');
    }
    for (const wake of [...this.waiters]) {
      this.waiters.delete(wake);
      wake();
    }
    return snapshot;
  }

  run(onChange: (snapshot: Partial<AcmeSnapshot>) => Promise<void>, signal: AbortSignal): void {
    // The session: renewed well within its TTL; when it is gone (Consul lost it), a new one, and the lock tried again.
    void (async () => {
      while (!signal.aborted) {
        await sleepUnlessAborted(RENEW_MS, signal);
        if (signal.aborted) return;
        try {
          if (this.session !== undefined && !(await this.o.kv.renewSession(this.session, signal))) {
            this.o.log.warn({}, 'the Consul session of ACME expired; making a new one');
            this.session = undefined;
            this.holdsLock = false;
          }
          const wasOrderer = this.holdsLock;
          await this.ensureSession(signal);
          await this.tryLock(signal);
          if (wasOrderer !== this.holdsLock) await onChange({});
        } catch (e) {
          if (!signal.aborted) this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'Consul session or lock for ACME failed; retrying');
        }
      }
    })();
    void runBlockingQueries({
      kv: this.o.kv,
      key: this.base,
      recurse: true,
      waitMs: 30_000,
      backoff: DEFAULT_BACKOFF,
      signal,
      log: this.o.log,
      onRead: async (read) => {
        const wasOrderer = this.holdsLock;
        const snapshot = this.decode(read.entries, false);
        await onChange(snapshot);
        // What this replica serves now: every challenge it was told about.
        const served = [...new Set([...(snapshot.challenges ?? []).map((c) => c.token)])].sort();
        if (this.session !== undefined && JSON.stringify(served) !== JSON.stringify(this.myServing)) {
          this.myServing = served;
          await this.o.kv.acquire(this.key('serving', this.instance), JSON.stringify(served), this.session, signal).catch(() => undefined);
        }
        if (!this.holdsLock && read.entries.every((e) => !e.key.endsWith('/lock') || e.session === undefined)) await this.tryLock(signal).catch(() => undefined);
        if (wasOrderer !== this.holdsLock) await onChange({});
      },
    });
  }

  async close(): Promise<void> {
    if (this.session === undefined) return;
    const id = this.session;
    this.session = undefined;
    this.holdsLock = false;
    await this.o.kv.destroySession(id, AbortSignal.timeout(2000)).catch(() => undefined);
  }
}
