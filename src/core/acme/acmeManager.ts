// Long on purpose: the lifecycle of a certificate (order, challenge, store, share, renew, retry) is one state machine.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { acmeDomainProblem } from '../../domain/acmeParams.js';
import { newerCert, nextOrderAt, retryDelay, stateOf, daysToExpiry, renewAt, type AcmeState, type DomainStatus, type IssuedCert, type RetryPolicy } from './acmePolicy.js';
import type { AcmeLocal, AcmeShared, AcmeSnapshot, SharedChallenge, StoredAccount } from './acmePorts.js';
import type { Log } from '../log.js';

/** The CA as the manager uses it (acme-client behind it; a fake in unit tests). */
export interface AcmeCaPort {
  account(email: string, existing?: { keyPem: string; url?: string }): Promise<StoredAccount>;
  /** `phases` receives the time (ms) of each step, for the log. */
  order(domain: string, account: StoredAccount, publish: (token: string, keyAuthorization: string) => Promise<void>, withdraw: (token: string) => Promise<void>, phases?: Record<string, number>): Promise<IssuedCert>;
  /** The CA's renewal window for a certificate (ARI), if it has one. */
  renewalInfo?(pem: string): Promise<{ start: number; end: number; retryAfterMs?: number } | undefined>;
}

/** What the manager changes in HAProxy. */
export interface AcmeDataPlane {
  setChallenges(challenges: ReadonlyMap<string, string>): Promise<void>;
  installCert(file: string, pem: string): Promise<void>;
}

/** A name some services want a certificate for. */
export interface WantedDomain {
  email: string;
  services: string[];
}

/** One line of /certs for an ACME name. */
export interface AcmeListing {
  domain: string;
  state: AcmeState;
  services: string[];
  file: string;
  cert?: Omit<IssuedCert, 'pem'>;
  reason?: string;
  nextAttempt?: number;
  renewAt?: number;
}

export interface AcmeMetricsPort {
  certificates: { set(labels: { state: string }, value: number): void };
  expiryDays: { set(labels: { name: string; source: string }, value: number): void; reset(): void };
  orders: { inc(labels: { outcome: string }): void };
}

export interface AcmeManagerDeps {
  defaultEmail: string;
  retry: RetryPolicy;
  ca: AcmeCaPort;
  dataPlane: AcmeDataPlane;
  local: AcmeLocal;
  shared: AcmeShared;
  /** Where the PEM files HAProxy reads go. */
  certDir: string;
  /** Rewrites the crt-list file (uploaded certificates, then crtListEntries()). */
  writeCrtList: () => void;
  /** The names the registry asks for now. */
  wanted: () => ReadonlyMap<string, WantedDomain>;
  metrics?: AcmeMetricsPort;
  /** Uploaded certificates for the expiry gauge. */
  uploaded?: () => Array<{ name: string; notAfter: string }>;
  log: Log;
  maxConcurrent?: number;
  now?: () => number;
  random?: () => number;
}

/** Longest single timer: longer waits are taken in steps (timers are 32-bit). */
const MAX_TIMER_MS = 3_600_000;

/**
 * Automatic HTTPS: orders a certificate for every name the services ask
 * for, once, renews it at a third of its lifetime left, backs off per name
 * on failure (a failing name never holds up another and never turns into a
 * storm), and serves every certificate any replica obtained, through
 * HAProxy's runtime API.
 */
export class AcmeManager {
  private readonly certs = new Map<string, IssuedCert>();
  private readonly statuses = new Map<string, DomainStatus>();
  private readonly accounts = new Map<string, StoredAccount>();
  private readonly accountsPending = new Map<string, Promise<StoredAccount>>();
  /** What HAProxy serves: name -> fingerprint. */
  private readonly served = new Map<string, string>();
  private readonly own = new Map<string, string>();
  private remote = new Map<string, string>();
  private readonly inflight = new Set<string>();
  private readonly installRetries = new Map<string, number>();
  /** ARI: the CA's renewal window per name, and when to ask again. */
  private readonly ari = new Map<string, { fingerprint: string; start: number; end: number }>();
  private readonly ariNext = new Map<string, number>();
  private readonly ariInflight = new Set<string>();
  /** Per-name random in [0, 1): spreads renewals of certificates issued together. */
  private readonly spread = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private started = false;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly d: AcmeManagerDeps) {
    this.now = d.now ?? Date.now;
    this.random = d.random ?? Math.random;
    fs.mkdirSync(d.certDir, { recursive: true, mode: 0o700 });
    this.absorb(d.local.load(), 'local');
    for (const cert of this.certs.values()) this.writeCertFile(cert);
  }

  /** crt-list lines for the issued certificates (HAProxy reads these files at start and at every reload). */
  crtListEntries(): string[] {
    // A certificate no service wants any more stays until it expires (clients may still use the name), then goes at the next reload.
    const now = this.now();
    const wanted = this.started ? this.d.wanted() : undefined;
    return [...this.served.keys()].filter((d) => !wanted || wanted.has(d) || (this.certs.get(d)?.notAfter ?? 0) > now).sort().map((d) => this.fileOf(d));
  }

  /** Starts serving challenges, following the other replicas and ordering what is due. */
  async start(signal: AbortSignal): Promise<void> {
    await this.d.dataPlane.setChallenges(new Map());
    this.d.shared.run((snapshot) => this.receive(snapshot, 'shared'), signal);
    const shared = await this.d.shared.loadShared(AbortSignal.any([signal, AbortSignal.timeout(10_000)])).catch((e: unknown) => {
      this.d.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not read the shared ACME state at start; using the local copy');
      return undefined;
    });
    if (shared) await this.receive(shared, 'shared');
    signal.addEventListener('abort', () => this.stop(), { once: true });
    this.started = true;
    // The account is made before the first name needs it: a new name then costs only its order.
    if (this.d.shared.isOrderer()) void this.accountFor(this.d.defaultEmail).catch((e: unknown) => this.d.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not register the ACME account yet'));
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** The registry changed: order for new names at once. */
  wantedChanged(): void {
    if (this.started) this.schedule();
  }

  /** What another replica or the shared store says: newer certificates and statuses win, challenges are served. */
  async receive(snapshot: Partial<AcmeSnapshot>, from: string): Promise<void> {
    const changed = this.absorb(snapshot, from);
    if (snapshot.challenges) {
      const remote = new Map<string, string>();
      for (const c of snapshot.challenges) if (!this.own.has(c.token)) remote.set(c.token, c.keyAuthorization);
      this.remote = remote;
      await this.syncChallenges();
    }
    if (changed.length > 0) {
      this.persist();
      await this.serve(changed);
    }
    this.updateMetrics();
    if (this.started) this.schedule();
  }

  /** The state replicas share (certificates with keys only for `secrets`). */
  snapshot(secrets: boolean): AcmeSnapshot {
    return {
      accounts: secrets ? [...this.accounts.values()] : [],
      certs: secrets ? [...this.certs.values()] : [],
      statuses: [...this.statuses.values()],
      challenges: [...this.own].map(([token, keyAuthorization]) => ({ token, keyAuthorization })),
    };
  }

  /** Every managed or served name, for /certs; never a key. */
  list(): AcmeListing[] {
    const now = this.now();
    const wanted = this.d.wanted();
    const names = new Set([...wanted.keys(), ...this.certs.keys()]);
    return [...names].sort().map((domain) => {
      const cert = this.withAri(domain);
      const status = this.statuses.get(domain);
      const { pem: _pem, ...meta } = cert ?? ({} as IssuedCert);
      return {
        domain,
        state: stateOf(cert, status && this.inflight.has(domain) ? { ...status, ordering: true } : status, now, this.spreadOf(domain)),
        services: wanted.get(domain)?.services ?? [],
        file: this.fileOf(domain),
        ...(cert && { cert: meta, renewAt: renewAt(cert, this.spreadOf(domain)) }),
        ...(status?.reason !== undefined && { reason: status.reason }),
        ...(status?.reason !== undefined && status.nextAttempt !== undefined && { nextAttempt: status.nextAttempt }),
      };
    });
  }

  /** The certificate of a name with the CA's ARI window, when the CA gave one for this very certificate. */
  private withAri(domain: string): IssuedCert | undefined {
    const cert = this.certs.get(domain);
    const ari = this.ari.get(domain);
    return cert && ari && ari.fingerprint === cert.fingerprint256 ? { ...cert, ari: { start: ari.start, end: ari.end } } : cert;
  }

  /** Asks the CA for its renewal window (ARI), as often as its Retry-After says (6 h without one; 1 min to 1 day). */
  private async checkAri(domain: string): Promise<void> {
    const cert = this.certs.get(domain);
    if (!cert || !this.d.ca.renewalInfo || this.ariInflight.has(domain)) return;
    this.ariInflight.add(domain);
    try {
      const info = await this.d.ca.renewalInfo(cert.pem);
      this.ariNext.set(domain, this.now() + Math.min(86_400_000, Math.max(60_000, info?.retryAfterMs ?? 6 * 3_600_000)));
      if (info) {
        const before = this.ari.get(domain);
        this.ari.set(domain, { fingerprint: cert.fingerprint256, start: info.start, end: info.end });
        if (!before || before.start !== info.start || before.end !== info.end) this.d.log.info({ domain, start: new Date(info.start).toISOString(), end: new Date(info.end).toISOString() }, 'the CA suggests a renewal window (ARI)');
      }
    } catch (e) {
      this.ariNext.set(domain, this.now() + 3_600_000);
      this.d.log.debug({ domain, err: e instanceof Error ? e.message : String(e) }, 'could not read the renewal window (ARI)');
    } finally {
      this.ariInflight.delete(domain);
      this.schedule();
    }
  }

  private spreadOf(domain: string): number {
    let r = this.spread.get(domain);
    if (r === undefined) {
      // Stable per name on every replica: all agree on when a certificate is due.
      r = crypto.createHash('sha256').update(domain).digest().readUInt32BE(0) / 2 ** 32;
      this.spread.set(domain, r);
    }
    return r;
  }

  private fileOf(domain: string): string {
    return path.join(this.d.certDir, `${domain}.pem`);
  }

  /** Takes in certificates, statuses and accounts; returns the names whose certificate changed. */
  private absorb(snapshot: Partial<AcmeSnapshot>, from: string): string[] {
    const changed: string[] = [];
    for (const a of snapshot.accounts ?? []) {
      if (typeof a?.email === 'string' && typeof a.keyPem === 'string' && typeof a.url === 'string' && !this.accounts.has(a.email)) this.accounts.set(a.email, a);
    }
    for (const c of snapshot.certs ?? []) {
      const problem = certProblem(c);
      if (problem) {
        this.d.log.warn({ domain: typeof c?.domain === 'string' ? c.domain.slice(0, 80) : undefined, from, problem }, 'ignoring an unusable ACME certificate');
        continue;
      }
      const mine = this.certs.get(c.domain);
      if (newerCert(mine, c) !== mine) {
        this.certs.set(c.domain, c);
        changed.push(c.domain);
      }
    }
    for (const s of snapshot.statuses ?? []) {
      if (typeof s?.domain !== 'string' || acmeDomainProblem(s.domain) !== undefined || typeof s.updated !== 'number') continue;
      const mine = this.statuses.get(s.domain);
      if (this.inflight.has(s.domain)) continue; // this replica's own order decides
      if (!mine || s.updated > mine.updated) this.statuses.set(s.domain, { domain: s.domain, failures: Number(s.failures) || 0, ordering: s.ordering === true, updated: s.updated, ...(typeof s.reason === 'string' && { reason: s.reason.slice(0, 500) }), ...(typeof s.nextAttempt === 'number' && { nextAttempt: s.nextAttempt }) });
    }
    return changed;
  }

  /** Saves the local copy; `durable` (fsync) for certificates and accounts, not for statuses alone. */
  private persist(durable = true): void {
    try {
      this.d.local.save({ accounts: [...this.accounts.values()], certs: [...this.certs.values()], statuses: [...this.statuses.values()] }, durable);
    } catch (e) {
      this.d.log.error({ err: e instanceof Error ? e.message : String(e) }, 'could not save the ACME state');
    }
  }

  private writeCertFile(cert: IssuedCert): void {
    fs.writeFileSync(`${this.fileOf(cert.domain)}.tmp`, cert.pem, { mode: 0o600 });
    fs.renameSync(`${this.fileOf(cert.domain)}.tmp`, this.fileOf(cert.domain));
    this.served.set(cert.domain, cert.fingerprint256);
  }

  /** Writes the files of these names, then serves them through the runtime API (no reload). */
  private async serve(domains: readonly string[]): Promise<void> {
    for (const domain of domains) {
      const cert = this.certs.get(domain);
      if (!cert) continue;
      try {
        this.writeCertFile(cert);
        this.d.writeCrtList();
        await this.d.dataPlane.installCert(this.fileOf(domain), cert.pem);
        this.d.log.info({ domain, notAfter: new Date(cert.notAfter).toISOString(), issuer: cert.issuer }, 'ACME certificate served');
        this.installRetries.delete(domain);
      } catch (e) {
        // A reload in the middle of the transaction, or HAProxy restarting: the files are written, so the next
        // worker reads them anyway; the runtime install is tried again a few times for the running one.
        const attempt = (this.installRetries.get(domain) ?? 0) + 1;
        this.installRetries.set(domain, attempt);
        this.d.log.warn({ domain, attempt, err: e instanceof Error ? e.message : String(e) }, 'could not serve the ACME certificate through the runtime API yet');
        if (attempt <= 5 && !this.stopped) setTimeout(() => void this.serve([domain]), 250 * 2 ** attempt).unref();
      }
    }
  }

  private async syncChallenges(): Promise<void> {
    await this.d.dataPlane.setChallenges(new Map([...this.remote, ...this.own]));
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.updateMetrics();
    if (!this.d.shared.isOrderer()) return;
    const now = this.now();
    let next = Infinity;
    const max = this.d.maxConcurrent ?? 8;
    for (const domain of [...this.d.wanted().keys()].sort()) {
      if (this.inflight.has(domain)) continue;
      const cert = this.withAri(domain);
      if (cert && this.d.ca.renewalInfo && !this.ariInflight.has(domain)) {
        const ariAt = this.ariNext.get(domain) ?? now;
        if (ariAt <= now) void this.checkAri(domain);
        else next = Math.min(next, ariAt);
      }
      const at = nextOrderAt(cert, this.statuses.get(domain), now, this.spreadOf(domain));
      if (at <= now && this.inflight.size < max) void this.order(domain);
      else next = Math.min(next, Math.max(at, now + 50));
    }
    if (next !== Infinity) {
      this.timer = setTimeout(() => this.schedule(), Math.min(MAX_TIMER_MS, next - now));
      this.timer.unref();
    }
  }

  private async accountFor(email: string): Promise<StoredAccount> {
    const known = this.accounts.get(email);
    if (known) return known;
    let pending = this.accountsPending.get(email);
    if (!pending) {
      pending = this.d.ca.account(email).then(async (account) => {
        this.accounts.set(email, account);
        this.persist();
        await this.d.shared.saveAccount(account).catch((e: unknown) => this.d.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not share the ACME account'));
        return account;
      });
      this.accountsPending.set(email, pending);
      pending.finally(() => this.accountsPending.delete(email)).catch(() => undefined);
    }
    return pending;
  }

  private async setStatus(status: DomainStatus): Promise<void> {
    this.statuses.set(status.domain, status);
    this.persist(false);
    this.updateMetrics();
    await this.d.shared.saveStatus(status).catch((e: unknown) => this.d.log.warn({ domain: status.domain, err: e instanceof Error ? e.message : String(e) }, 'could not share the ACME status'));
  }

  private async order(domain: string): Promise<void> {
    this.inflight.add(domain);
    const before = this.statuses.get(domain);
    const email = this.d.wanted().get(domain)?.email ?? this.d.defaultEmail;
    const started = this.now();
    this.d.log.info({ domain, renewal: this.certs.has(domain), attempt: (before?.failures ?? 0) + 1 }, 'ACME order started');
    void this.setStatus({ domain, failures: before?.failures ?? 0, ordering: true, updated: this.now(), ...(before?.reason !== undefined && { reason: before.reason }) });
    try {
      const account = await this.accountFor(email);
      const phases: Record<string, number> = {};
      const cert = await this.d.ca.order(domain, account, (t, k) => this.publish(t, k), (t) => this.withdraw(t), phases);
      const issuedAt = this.now();
      this.certs.set(domain, cert);
      this.ariNext.delete(domain);
      await this.serve([domain]);
      phases.serve = this.now() - issuedAt;
      this.persist(true);
      await this.d.shared.saveCert(cert).catch((e: unknown) => this.d.log.warn({ domain, err: e instanceof Error ? e.message : String(e) }, 'could not share the ACME certificate; the other replicas get it later'));
      this.d.metrics?.orders.inc({ outcome: 'issued' });
      this.d.log.info({ domain, ms: this.now() - started, phases, notAfter: new Date(cert.notAfter).toISOString() }, 'ACME certificate issued');
      this.inflight.delete(domain);
      await this.setStatus({ domain, failures: 0, ordering: false, updated: this.now() });
    } catch (e) {
      const failures = (before?.failures ?? 0) + 1;
      const err = e as { message?: string; retryAfterMs?: number; rateLimited?: boolean };
      const delay = retryDelay(failures, this.d.retry, this.random(), err.retryAfterMs);
      const reason = (err.message ?? String(e)).slice(0, 500);
      this.d.metrics?.orders.inc({ outcome: err.rateLimited ? 'rate_limited' : 'failed' });
      this.d.log.warn({ domain, reason, failures, retryInMs: delay }, 'ACME order failed');
      this.inflight.delete(domain);
      await this.setStatus({ domain, failures, ordering: false, updated: this.now(), reason, nextAttempt: this.now() + delay });
    } finally {
      this.inflight.delete(domain);
      this.schedule();
    }
  }

  private async publish(token: string, keyAuthorization: string): Promise<void> {
    this.own.set(token, keyAuthorization);
    await this.syncChallenges();
    await this.d.shared.publishChallenges(this.ownChallenges());
  }

  private async withdraw(token: string): Promise<void> {
    this.own.delete(token);
    await this.syncChallenges();
    await this.d.shared.publishChallenges(this.ownChallenges()).catch(() => undefined);
  }

  private ownChallenges(): SharedChallenge[] {
    return [...this.own].map(([token, keyAuthorization]) => ({ token, keyAuthorization }));
  }

  private updateMetrics(): void {
    const m = this.d.metrics;
    if (!m) return;
    const counts: Record<AcmeState, number> = { pending: 0, valid: 0, renewing: 0, failed: 0 };
    const listing = this.list();
    const wanted = this.d.wanted();
    for (const l of listing) if (wanted.has(l.domain)) counts[l.state]++;
    for (const [state, n] of Object.entries(counts)) m.certificates.set({ state }, n);
    m.expiryDays.reset();
    const now = this.now();
    for (const l of listing) if (l.cert) m.expiryDays.set({ name: l.domain, source: 'acme' }, Math.round(daysToExpiry(l.cert.notAfter, now) * 1000) / 1000);
    for (const u of this.d.uploaded?.() ?? []) m.expiryDays.set({ name: u.name, source: 'uploaded' }, Math.round(daysToExpiry(Date.parse(u.notAfter), now) * 1000) / 1000);
  }
}

/** Why a certificate record from a store or a peer cannot be used (its name becomes a file path; its PEM goes to HAProxy). */
function certProblem(c: IssuedCert | undefined): string | undefined {
  if (!c || typeof c.domain !== 'string' || typeof c.pem !== 'string') return 'not a certificate record';
  const domainProblem = acmeDomainProblem(c.domain);
  if (domainProblem) return `its name ${domainProblem}`;
  if (typeof c.notAfter !== 'number' || typeof c.notBefore !== 'number' || typeof c.issuedAt !== 'number') return 'no validity';
  try {
    const leaf = new crypto.X509Certificate(c.pem);
    const key = crypto.createPrivateKey(/-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:EC |RSA )?PRIVATE KEY-----/.exec(c.pem)?.[0] ?? '');
    if (!leaf.checkPrivateKey(key)) return 'its key does not match';
    if (!leaf.checkHost(c.domain)) return 'it does not cover its name';
    if (leaf.fingerprint256 !== c.fingerprint256) return 'its fingerprint does not match';
  } catch {
    return 'its PEM cannot be read';
  }
  return undefined;
}
