import type { DomainStatus, IssuedCert } from './acmePolicy.js';

/** An ACME account (its key is a secret). */
export interface StoredAccount {
  email: string;
  keyPem: string;
  url: string;
}

/** An HTTP-01 answer some replica published; every replica serves every one. */
export interface SharedChallenge {
  token: string;
  keyAuthorization: string;
}

/** ACME's state as a store holds it or a replica shares it. */
export interface AcmeSnapshot {
  accounts: StoredAccount[];
  certs: IssuedCert[];
  statuses: DomainStatus[];
  /** Challenges published by other replicas (all of them: a full set, not a change). */
  challenges?: SharedChallenge[];
}

/** The local copy of ACME's state (DATA_DIR): read at start with no network, so a restart serves and does not order again. */
export interface AcmeLocal {
  load(): AcmeSnapshot;
  /** `durable`: fsync (certificates, accounts); statuses alone may skip it. */
  save(snapshot: AcmeSnapshot, durable?: boolean): void;
}

/**
 * Where ACME state lives and how replicas share it: a local file, peers
 * (PEERS) or Consul. One replica orders (isOrderer); every replica serves
 * every certificate and answers every challenge.
 */
export interface AcmeShared {
  /** What the shared store or the peers know, before the first order. */
  loadShared(signal: AbortSignal): Promise<AcmeSnapshot | undefined>;
  saveAccount(account: StoredAccount): Promise<void>;
  saveCert(cert: IssuedCert): Promise<void>;
  saveStatus(status: DomainStatus): Promise<void>;
  /** Shares this replica's challenges (the full set) and resolves once every replica serves them, or after a bounded wait. */
  publishChallenges(challenges: readonly SharedChallenge[]): Promise<void>;
  /** Whether this replica is the one that orders right now. */
  isOrderer(): boolean;
  /** Follows the others until the signal aborts: what they share arrives through onChange (also when the orderer changes). */
  run(onChange: (snapshot: Partial<AcmeSnapshot>) => Promise<void>, signal: AbortSignal): void;
  /** Gives up what this replica holds (a lock) before it stops. */
  close?(): Promise<void>;
}
