import { backoffDelay } from '../backoff.js';

/** What /certs shows for a name ACME manages. */
export type AcmeState = 'pending' | 'valid' | 'renewing' | 'failed';

/** A certificate an ACME CA issued, with its key: what the store keeps and replicas share. */
export interface IssuedCert {
  domain: string;
  /** Certificate, chain and private key (PEM): secret, never in a response or a log. */
  pem: string;
  names: string[];
  issuer: string;
  notBefore: number;
  notAfter: number;
  fingerprint256: string;
  /** When it was issued here (ms); the newer of two certificates for a name wins. */
  issuedAt: number;
  /** The CA's suggested renewal window (ARI), when it gave one. */
  ari?: { start: number; end: number };
}

/** Where the orders of one name stand; shared between replicas so every one shows the same. */
export interface DomainStatus {
  domain: string;
  /** The last attempt failed: why, and when the next one is due. */
  failures: number;
  reason?: string;
  nextAttempt?: number;
  /** An order is running. */
  ordering: boolean;
  /** Last change of this status (ms); the newer wins between replicas. */
  updated: number;
}

export interface RetryPolicy {
  baseMs: number;
  capMs: number;
}

/**
 * When a certificate is renewed: at a third of its lifetime left, or at a
 * point of the CA's ARI window (`random` in [0, 1) picks it, spreading
 * renewals), whichever the CA gave.
 */
export function renewAt(cert: Pick<IssuedCert, 'notBefore' | 'notAfter' | 'ari'>, random: number): number {
  if (cert.ari && cert.ari.end > cert.ari.start) return Math.round(cert.ari.start + (cert.ari.end - cert.ari.start) * random);
  return Math.round(cert.notAfter - (cert.notAfter - cert.notBefore) / 3);
}

/**
 * Delay before the next attempt after `failures` failed ones (1 or more):
 * capped exponential backoff with jitter, and never before the CA's
 * Retry-After.
 */
export function retryDelay(failures: number, policy: RetryPolicy, random: number, retryAfterMs?: number): number {
  const delay = backoffDelay(Math.max(0, failures - 1), policy, random);
  return Math.max(delay, retryAfterMs ?? 0);
}

/** The state of a managed name, from its certificate and status at `now`. */
export function stateOf(cert: IssuedCert | undefined, status: DomainStatus | undefined, now: number, random = 0.5): AcmeState {
  if (status?.reason !== undefined && !status.ordering) return 'failed';
  if (!cert || cert.notAfter <= now) return 'pending';
  if (status?.ordering || now >= renewAt(cert, random)) return 'renewing';
  return 'valid';
}

/**
 * When the next order for a name is due: now when it has no certificate,
 * at its renewal time when it has one, and never before the backoff of a
 * failed attempt.
 */
export function nextOrderAt(cert: IssuedCert | undefined, status: DomainStatus | undefined, now: number, random: number): number {
  const wanted = cert && cert.notAfter > now ? renewAt(cert, random) : now;
  const notBefore = status?.reason !== undefined && status.nextAttempt !== undefined ? status.nextAttempt : 0;
  return Math.max(wanted, notBefore);
}

/** The newer of two certificates for one name (a later expiry, then a later issue). */
export function newerCert(a: IssuedCert | undefined, b: IssuedCert | undefined): IssuedCert | undefined {
  if (!a) return b;
  if (!b) return a;
  if (a.notAfter !== b.notAfter) return a.notAfter > b.notAfter ? a : b;
  return a.issuedAt >= b.issuedAt ? a : b;
}

/** Days until a certificate expires (negative once expired). */
export function daysToExpiry(notAfter: number, now: number): number {
  return (notAfter - now) / 86_400_000;
}
