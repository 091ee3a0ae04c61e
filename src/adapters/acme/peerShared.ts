import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { sleepUnlessAborted } from '../../core/backoff.js';
import type { AcmeShared, AcmeSnapshot, SharedChallenge, StoredAccount } from '../../core/acme/acmePorts.js';
import type { DomainStatus, IssuedCert } from '../../core/acme/acmePolicy.js';
import type { Log } from '../../core/log.js';
import { peerRequest } from '../peers/client.js';

/** What a replica answers on GET /v1/docker-flow-proxy/acme (and sends in a push). */
export interface PeerAcmeView extends AcmeSnapshot {
  Instance: string;
}

export interface PeerSharedOptions {
  /** This replica's lasting identity (DATA_DIR/acme/instance): the lowest live one orders. */
  dir: string;
  peers: () => Promise<string[]>;
  apiToken: string;
  timeoutMs: number;
  /** Time between pulls from every peer. */
  intervalMs: number;
  /** This replica's statuses and challenges, for pushes (certificates and accounts go with the push that saves them). */
  view: () => AcmeSnapshot;
  log: Log;
}

const PATH = '/v1/docker-flow-proxy/acme';
/** A peer not heard from for this long no longer counts in the election. */
const PEER_TTL_MS = 15_000;

/**
 * ACME between replicas that share no store (PEERS): the live replica with
 * the lowest instance id orders; it pushes its challenges to every peer and
 * waits for each to serve them before the CA is told to validate, then
 * pushes the certificate; every replica pulls from every peer regularly
 * (and before the first order), so one that joins later gets the
 * certificates instead of ordering again.
 */
export class PeerShared implements AcmeShared {
  readonly instance: string;
  /** Instances heard from (pull or push), with when. */
  private readonly seen = new Map<string, number>();
  private onChange: ((s: Partial<AcmeSnapshot>) => Promise<void>) | undefined;
  private readonly remoteChallenges = new Map<string, { challenges: SharedChallenge[]; at: number }>();

  constructor(private readonly o: PeerSharedOptions) {
    fs.mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const file = path.join(o.dir, 'instance');
    let id = '';
    try {
      id = fs.readFileSync(file, 'utf8').trim();
    } catch {
      // first start
    }
    if (!/^[a-f0-9-]{36}$/.test(id)) {
      id = crypto.randomUUID();
      fs.writeFileSync(file, id, { mode: 0o600 });
    }
    this.instance = id;
  }

  private headers(): Record<string, string> {
    return { Authorization: `Bearer ${this.o.apiToken}`, 'Content-Type': 'application/json' };
  }

  async loadShared(signal: AbortSignal): Promise<AcmeSnapshot | undefined> {
    const views = await this.pullAll(signal);
    if (views.length === 0) return undefined;
    return {
      accounts: views.flatMap((v) => v.accounts ?? []),
      certs: views.flatMap((v) => v.certs ?? []),
      statuses: views.flatMap((v) => v.statuses ?? []),
      challenges: this.challenges(),
    };
  }

  /** A push or a pull from a peer: remember it as live and hand its state over. */
  receive(view: PeerAcmeView): Partial<AcmeSnapshot> {
    if (typeof view.Instance === 'string' && /^[a-f0-9-]{36}$/.test(view.Instance) && view.Instance !== this.instance) {
      this.seen.set(view.Instance, Date.now());
      if (Array.isArray(view.challenges)) this.remoteChallenges.set(view.Instance, { challenges: view.challenges, at: Date.now() });
    }
    return { accounts: view.accounts ?? [], certs: view.certs ?? [], statuses: view.statuses ?? [], challenges: this.challenges() };
  }

  /** Every challenge the live peers published. */
  private challenges(): SharedChallenge[] {
    const now = Date.now();
    const out: SharedChallenge[] = [];
    for (const [instance, entry] of this.remoteChallenges) {
      if (now - entry.at > 10 * 60_000) this.remoteChallenges.delete(instance);
      else out.push(...entry.challenges.filter((c) => typeof c?.token === 'string' && typeof c.keyAuthorization === 'string'));
    }
    return out;
  }

  isOrderer(): boolean {
    const now = Date.now();
    for (const [instance, at] of this.seen) if (now - at < PEER_TTL_MS && instance < this.instance) return false;
    return true;
  }

  saveAccount(account: StoredAccount): Promise<void> {
    return this.pushAll({ accounts: [account] });
  }

  saveCert(cert: IssuedCert): Promise<void> {
    return this.pushAll({ certs: [cert] });
  }

  saveStatus(_status: DomainStatus): Promise<void> {
    return this.pushAll();
  }

  /** Sends the full view to every peer; resolves when each answered (or timed out). */
  async publishChallenges(_challenges: readonly SharedChallenge[]): Promise<void> {
    await this.pushAll();
  }

  /** Sends statuses, challenges and `extra` to every peer; resolves when each answered (or timed out). */
  private async pushAll(extra: Partial<AcmeSnapshot> = {}): Promise<void> {
    const peers = await this.o.peers().catch(() => [] as string[]);
    const { statuses, challenges } = this.o.view();
    const body = JSON.stringify({ accounts: [], certs: [], statuses, challenges, ...extra, Instance: this.instance });
    await Promise.all(peers.map(async (peer) => {
      try {
        const res = await peerRequest(peer, { method: 'POST', path: PATH, headers: this.headers(), body, timeoutMs: this.o.timeoutMs });
        if (res.status !== 200) this.o.log.warn({ peer, status: res.status }, 'a peer refused the ACME state');
      } catch (e) {
        this.o.log.debug({ peer, err: e instanceof Error ? e.message : String(e) }, 'could not push the ACME state to a peer');
      }
    }));
  }

  private async pullAll(signal: AbortSignal): Promise<PeerAcmeView[]> {
    const peers = await this.o.peers().catch(() => [] as string[]);
    const views: PeerAcmeView[] = [];
    await Promise.all(peers.map(async (peer) => {
      try {
        const res = await peerRequest(peer, { method: 'GET', path: PATH, headers: this.headers(), timeoutMs: this.o.timeoutMs, signal });
        if (res.status !== 200) return;
        const view = JSON.parse(res.body) as PeerAcmeView;
        this.receive(view);
        views.push(view);
      } catch {
        // unreachable peers do not vote
      }
    }));
    return views;
  }

  run(onChange: (snapshot: Partial<AcmeSnapshot>) => Promise<void>, signal: AbortSignal): void {
    this.onChange = onChange;
    void (async () => {
      while (!signal.aborted) {
        await sleepUnlessAborted(this.o.intervalMs, signal);
        if (signal.aborted) return;
        const wasOrderer = this.isOrderer();
        const views = await this.pullAll(signal);
        const merged: Partial<AcmeSnapshot> = { accounts: views.flatMap((v) => v.accounts ?? []), certs: views.flatMap((v) => v.certs ?? []), statuses: views.flatMap((v) => v.statuses ?? []), challenges: this.challenges() };
        if (views.length > 0 || wasOrderer !== this.isOrderer()) await this.onChange?.(merged).catch((e: unknown) => this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not take in the ACME state of the peers'));
      }
    })();
  }
}
