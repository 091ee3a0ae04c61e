import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '../backoff.js';

export interface PeerOutcome {
  Peer: string;
  Status: 'ok' | 'failed';
  Code?: number;
  Attempts: number;
  Error?: string;
  DurationMs: number;
}

export interface FanoutPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Sends to one peer; resolves with the HTTP status, rejects on network errors and timeouts. */
export type PeerCall = (peer: string, attempt: number) => Promise<{ status: number; message?: string }>;

/**
 * Sends one change to every peer at once, each with its own retries; a peer
 * that stays down is reported, never allowed to undo what the others applied.
 */
export async function fanOut(peers: readonly string[], call: PeerCall, policy: FanoutPolicy): Promise<PeerOutcome[]> {
  return Promise.all(peers.map((peer) => toPeer(peer, call, policy)));
}

async function toPeer(peer: string, call: PeerCall, policy: FanoutPolicy): Promise<PeerOutcome> {
  const started = performance.now();
  let last = '';
  let code: number | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    const delay = attempt === 1 ? 0 : backoffDelay(attempt - 2, { baseMs: policy.baseDelayMs, capMs: policy.maxDelayMs }, Math.random());
    if (delay > 0) await sleep(delay);
    try {
      const r = await call(peer, attempt);
      code = r.status;
      if (r.status >= 200 && r.status < 300) {
        return { Peer: peer, Status: 'ok', Code: r.status, Attempts: attempt, DurationMs: Math.round(performance.now() - started) };
      }
      last = r.message ?? `HTTP ${r.status}`;
      // A 4xx will not change on retry: the peer refused the change itself.
      if (r.status >= 400 && r.status < 500) {
        return { Peer: peer, Status: 'failed', Code: r.status, Attempts: attempt, Error: last, DurationMs: Math.round(performance.now() - started) };
      }
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
  }
  return { Peer: peer, Status: 'failed', ...(code !== undefined && { Code: code }), Attempts: policy.attempts, Error: last, DurationMs: Math.round(performance.now() - started) };
}
